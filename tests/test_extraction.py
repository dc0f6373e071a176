"""Distributed extraction: ExplainerModule + FastaDataModule + ContactWriter under Trainer.predict."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from interp.callbacks import ContactWriter, read_failures, read_index
from interp.callbacks.contact_writer import safe_file_name
from interp.callbacks.extraction import ExplainerModule, FastaDataModule
from interp.errors import FastaFormatError
from interp.explainers import AttentionReadout, CategoricalJacobian
from interp.testing.stand_ins import esm_model

HERE = Path(__file__).resolve().parent


def write_fasta(path: Path, n: int, *, seed: int = 0, bad: dict[int, str] | None = None) -> dict[str, str]:
    rng = random.Random(seed)
    records = {f"prot{i}|sp/x y": "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(12, 30)))
               for i in range(n)}  # fmt: skip
    for index, sequence in (bad or {}).items():
        records[f"prot{index}|sp/x y"] = sequence
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return records


def predict(fasta: Path, out: Path, method: str = "attention", callbacks: list | None = None) -> ContactWriter:
    model, tokenizer = esm_model("tiny", seed=3)
    writer = ContactWriter(out, top=5)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[writer, *(callbacks or [])])  # fmt: skip
    trainer.predict(ExplainerModule(model, tokenizer, method=method), datamodule=FastaDataModule(fasta, skip_done=out),
                    return_predictions=False)  # fmt: skip
    return writer


def test_every_record_is_written_once_and_equals_the_explainer(tmp_path):
    records = write_fasta(tmp_path / "in.fa", 6)
    writer = predict(tmp_path / "in.fa", tmp_path / "out", method="jacobian")
    index = read_index(tmp_path / "out")
    assert set(index) == set(records) and writer.written == 6
    model, tokenizer = esm_model("tiny", seed=3)
    explainer = CategoricalJacobian(model, tokenizer)
    for record_id, prediction in ContactWriter.records(tmp_path / "out"):
        assert prediction.sequence == records[record_id]
        expected = explainer.attribute(records[record_id]).contacts
        torch.testing.assert_close(prediction.contacts, expected, rtol=1e-5, atol=1e-6)
    lines = (tmp_path / "out" / "rank00000" / "index.jsonl").read_text().splitlines()
    assert len(lines) == 6  # once each
    assert all("/" not in json.loads(line)["file"] for line in lines)


def test_a_second_run_skips_finished_records_and_a_torn_index_line_is_redone(tmp_path):
    records = write_fasta(tmp_path / "in.fa", 5)
    predict(tmp_path / "in.fa", tmp_path / "out")
    index_file = tmp_path / "out" / "rank00000" / "index.jsonl"
    lines = index_file.read_text().splitlines()
    # as if killed while appending the last line: the record it names is not finished
    index_file.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    lost = json.loads(lines[-1])["id"]
    writer = predict(tmp_path / "in.fa", tmp_path / "out")
    assert writer.written == 1
    index = read_index(tmp_path / "out")
    assert set(index) == set(records) and lost in index
    writer = predict(tmp_path / "in.fa", tmp_path / "out")
    assert writer.written == 0


class StopAfter(pl.Callback):
    """Raise after n predict batches: a run that dies half-way."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if batch_idx + 1 == self.n:
            raise RuntimeError("killed")


def test_a_run_killed_half_way_finishes_the_rest_on_restart(tmp_path):
    records = write_fasta(tmp_path / "in.fa", 8)
    with pytest.raises(RuntimeError, match="killed"):
        predict(tmp_path / "in.fa", tmp_path / "out", callbacks=[StopAfter(3)])
    assert len(read_index(tmp_path / "out")) == 3
    writer = predict(tmp_path / "in.fa", tmp_path / "out")
    assert writer.written == 5 and set(read_index(tmp_path / "out")) == set(records)


def test_a_bad_record_is_reported_and_the_rest_go_on(tmp_path):
    records = write_fasta(tmp_path / "in.fa", 4, bad={2: "ACDE1FGH"})
    writer = predict(tmp_path / "in.fa", tmp_path / "out")
    assert len(read_index(tmp_path / "out")) == 3
    assert len(writer.failed) == 1 and writer.failed[0]["id"] == "prot2|sp/x y"
    assert "InvalidSequence" in writer.failed[0]["error"] and "'1'" in writer.failed[0]["error"]
    assert set(records) - set(read_index(tmp_path / "out")) == {"prot2|sp/x y"}
    on_disk = read_failures(tmp_path / "out")  # what a user of a multi-node run reads back
    assert list(on_disk) == ["prot2|sp/x y"] and "'1'" in on_disk["prot2|sp/x y"]


def test_an_empty_record_fails_alone_and_the_rest_are_written(tmp_path):
    (tmp_path / "in.fa").write_text(">a\nMKTAYIAKQR\n>empty\n>b\nGSHMLEDPVA\n")
    writer = predict(tmp_path / "in.fa", tmp_path / "out")
    assert set(read_index(tmp_path / "out")) == {"a", "b"} and writer.written == 2
    assert list(read_failures(tmp_path / "out")) == ["empty"]
    assert "EmptySequenceError" in read_failures(tmp_path / "out")["empty"]


def test_duplicate_ids_are_refused_and_file_names_stay_inside(tmp_path):
    (tmp_path / "dup.fa").write_text(">a\nACDE\n>a\nACDE\n")
    with pytest.raises(FastaFormatError, match="appears twice"):
        FastaDataModule(tmp_path / "dup.fa").setup("predict")
    for hostile in ("../../x", "a/b", "..", "x\x00y", "é" * 300, ".hidden"):
        name = safe_file_name(hostile)
        assert "/" not in name and not name.startswith(".") and len(name) <= 100 and "\x00" not in name
    assert safe_file_name("a/b") != safe_file_name("a_b") and safe_file_name("sp_P1.x") == "sp_P1.x.npz"


def test_attention_records_match_the_readout(tmp_path):
    records = write_fasta(tmp_path / "in.fa", 3, seed=5)
    predict(tmp_path / "in.fa", tmp_path / "out", method="attention")
    model, tokenizer = esm_model("tiny", seed=3)
    readout = AttentionReadout(model, tokenizer)
    for record_id, prediction in ContactWriter.records(tmp_path / "out"):
        torch.testing.assert_close(prediction.contacts, readout.attribute(records[record_id]).contacts)


def test_ddp_two_processes_write_each_record_exactly_once(tmp_path):
    records = write_fasta(tmp_path / "in.fa", 7, seed=2)  # odd: the ranks get 4 and 3, nothing padded
    script = HERE / "ddp_extraction.py"
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "in.fa"), str(tmp_path / "out"), "jacobian"],
                            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for f in sorted((tmp_path / "out").glob("rank*/index.jsonl")) for line in open(f)]
    assert sorted(entry["id"] for entry in lines) == sorted(records)  # every record, none twice
    assert len(list((tmp_path / "out").glob("rank*"))) == 2
    model, tokenizer = esm_model("tiny", seed=3)
    explainer = CategoricalJacobian(model, tokenizer)
    for record_id, prediction in ContactWriter.records(tmp_path / "out"):
        torch.testing.assert_close(prediction.contacts, explainer.attribute(records[record_id]).contacts,
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
