"""Run by tests/test_extraction.py in its own process: Trainer.predict with the ContactWriter on 2 CPU
processes (ddp_spawn, gloo) over a FASTA file; argv: fasta, output folder, method."""

from __future__ import annotations

import sys

import lightning.pytorch as pl

from interp.callbacks import ContactWriter
from interp.callbacks.extraction import ExplainerModule, FastaDataModule
from interp.testing.stand_ins import esm_model

if __name__ == "__main__":
    fasta, out, method = sys.argv[1:4]
    model, tokenizer = esm_model("tiny", seed=3)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[ContactWriter(out)],
    )  # fmt: skip
    trainer.predict(
        ExplainerModule(model, tokenizer, method=method), datamodule=FastaDataModule(fasta, skip_done=out),
        return_predictions=False,
    )  # fmt: skip
    print("done")
