"""Distributed extraction with Lightning: `ExplainerModule` runs an explainer in `predict_step`, and
`FastaDataModule` feeds it FASTA records, skipping those a `ContactWriter` already finished.

    trainer = Trainer(accelerator="gpu", devices=8, num_nodes=4, strategy="ddp",
                      callbacks=[ContactWriter("out")])
    trainer.predict(ExplainerModule(model, tokenizer), datamodule=FastaDataModule("proteome.fa", skip_done="out"))
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, cast

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from interp.callbacks.contact_writer import read_index
from interp.errors import FastaFormatError, InterpError
from interp.explainers import make_explainer
from interp.files.io import read_fasta
from interp.methods import check_method

__all__ = ["ExplainerModule", "FastaDataModule"]


class ExplainerModule(pl.LightningModule):
    """Wrap a model and an explainer for `Trainer.predict`; each record gives {id, prediction, seconds} or
    {id, error}: one bad record (unknown letters, too long) is reported and the rest go on.

    `predict_step` takes a batch of (id, sequence) records (from `FastaDataModule`) and returns one dict per
    record: {"id", "prediction": ContactPrediction, "seconds"} or, where the explainer raised an
    `InterpError`, {"id", "error": "ErrorClass: message"}; a `ContactWriter` writes both. The explainer
    is built in each process on first use (after Lightning has moved the model to its device) and runs
    under `torch.inference_mode`, except "gradient".

    Args:
        model: the model to explain.
        tokenizer: the model's tokenizer.
        method: "jacobian", "fast-jacobian", "attention" or "gradient" (see `make_explainer`).
        **options: keyword arguments of the explainer's constructor (batch_size, memory_limit, ...).

    Raises:
        InterpError: an unknown method name.
    """

    def __init__(self, model: nn.Module, tokenizer: Any = None, *, method: str = "jacobian", **options: Any) -> None:
        super().__init__()
        check_method(method)
        self.model = model
        self.tokenizer = tokenizer
        self.method = method
        self.options = options
        self._explainer: Any = None

    def explainer(self) -> Any:
        """Built on first use, after Lightning has moved the model to its device.

        Returns:
            The explainer `make_explainer(method, model, tokenizer, **options)` builds, the same one on
            every later call in this process.
        """
        if self._explainer is None:
            self._explainer = make_explainer(self.method, self.model, self.tokenizer, **self.options)
        return self._explainer

    def predict_step(self, batch: Sequence[tuple[str, str]], batch_idx: int, dataloader_idx: int = 0) -> list[dict]:
        """Explain each (id, sequence) record of the batch: {id, prediction, seconds}, or {id, error}."""
        out: list[dict[str, Any]] = []
        for record_id, sequence in batch:
            start = time.perf_counter()
            try:
                with torch.inference_mode(self.method != "gradient"):
                    prediction = self.explainer().attribute(sequence, names=[record_id])
            except InterpError as error:
                out.append({"id": record_id, "error": f"{type(error).__name__}: {error}"})
                continue
            out.append({"id": record_id, "prediction": prediction, "seconds": time.perf_counter() - start})
        return out

    def __getstate__(self) -> dict[str, Any]:  # the explainer is rebuilt in each process
        state = self.__dict__.copy()
        state["_explainer"] = None
        return state


class FastaDataModule(pl.LightningDataModule):
    """Records of one or more FASTA files as (id, sequence), in file order; ids must be unique.

    The files are read at `setup` (on every process); Lightning's sampler then splits the records across
    ranks. Empty records are kept, so they fail alone and are reported by the `ContactWriter`. After
    `setup`, `records` holds what will be predicted and `skipped` how many finished records were left out.

    Args:
        fasta: a FASTA file, or a sequence of them (read in order).
        skip_done: an extraction folder; records its ContactWriter already finished are left out (resume).
        batch_size: records per predict batch.
        num_workers: DataLoader worker processes.

    Raises:
        FastaFormatError: at `setup`, a malformed file or an id that appears twice (outputs are keyed by id).
    """

    def __init__(
        self,
        fasta: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        skip_done: str | os.PathLike | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.paths = [fasta] if isinstance(fasta, (str, os.PathLike)) else list(fasta)
        self.skip_done, self.batch_size, self.num_workers = skip_done, batch_size, num_workers
        self.records: list[tuple[str, str]] = []
        self.skipped = 0

    def setup(self, stage: str | None = None) -> None:
        """Read the FASTA records, refuse duplicate ids, and leave out those `skip_done` has finished."""
        records: list[tuple[str, str]] = []
        seen: dict[str, str] = {}
        for path in self.paths:
            for record in read_fasta(path, allow_empty=True):  # empty ones fail alone, reported
                if record.name in seen:
                    raise FastaFormatError(
                        f"{path}: record id {record.name!r} appears twice (first in {seen[record.name]}); "
                        "extraction outputs are keyed by id"
                    )
                seen[record.name] = str(path)
                records.append((record.name, record.sequence))
        done = set(read_index(self.skip_done)) if self.skip_done is not None else set()
        self.records = [r for r in records if r[0] not in done]
        self.skipped = len(records) - len(self.records)

    def predict_dataloader(self) -> DataLoader:
        """The records as batches of `batch_size` (id, sequence) tuples, in file order."""
        return DataLoader(cast(Dataset[Any], self.records), batch_size=self.batch_size, num_workers=self.num_workers, collate_fn=list)
