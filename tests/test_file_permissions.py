"""Every file the project writes gets the permissions of the user's umask (0666 less the umask), as a plain `open`
would give it: the CLI's outputs, the prediction writer's shards, the logger's images, the benchmark results and
the panel file. Atomic writes go through private temporary files (0600), which must not leak into the result."""

from __future__ import annotations

import os
import stat

import lightning.pytorch as pl
import pytest
import torch
from test_callbacks import TinyMLM
from typer.testing import CliRunner

from interp.callbacks import ContactMapLogger, ContactPrecisionMonitor, ContactWriter
from interp.callbacks.extraction import ExplainerModule, FastaDataModule
from interp.cli import app
from interp.testing.stand_ins import esm_model

UMASK = 0o027  # group may read, others nothing: a cluster's shared result folder
EXPECTED = 0o666 & ~UMASK


@pytest.fixture
def shared_umask():
    previous = os.umask(UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def modes(folder) -> dict[str, int]:
    return {str(path.relative_to(folder)): stat.S_IMODE(path.stat().st_mode) for path in folder.rglob("*") if path.is_file()}


def test_everything_written_follows_the_umask(tmp_path, shared_umask):
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--out", str(tmp_path / "demo")]).exit_code == 0

    model, tokenizer = esm_model("tiny")
    (tmp_path / "in.fa").write_text(">a\nMKTAYIAKQRQISFVK\n>b\nGLIEVQAPILSRVGDG\n")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         callbacks=[ContactWriter(tmp_path / "shards", top=5)])  # fmt: skip
    trainer.predict(ExplainerModule(model, tokenizer, method="attention"),
                    datamodule=FastaDataModule(tmp_path / "in.fa"), return_predictions=False)  # fmt: skip

    from lightning.pytorch.loggers import CSVLogger

    panel = [("MKTAYIAKQRQISFVKSHFSRQLEERLGLI", torch.rand(30, 30) < 0.1)]
    images = pl.Trainer(max_steps=1, accelerator="cpu", logger=CSVLogger(tmp_path / "logs"), enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[ContactPrecisionMonitor(panel, tokenizer=tokenizer, every_n_steps=1),
                                   ContactMapLogger(every_n_evaluations=1)])  # fmt: skip
    images.fit(TinyMLM())

    from interp.benchmarks.contacts import main as contact_benchmark

    contact_benchmark(["--model", "default", "--limit", "2", "--calibration", "1", "--methods", "attention-mean",
                       "--out", str(tmp_path / "bench"), "--no-progress"])  # fmt: skip

    written = modes(tmp_path)
    kinds = {name.rsplit(".", 1)[-1] for name in written}
    assert {"npz", "csv", "rr", "png", "jsonl", "json", "md"} <= kinds, kinds
    wrong = {name: oct(mode) for name, mode in written.items() if mode != EXPECTED}
    assert not wrong, f"expected {oct(EXPECTED)} everywhere: {wrong}"
