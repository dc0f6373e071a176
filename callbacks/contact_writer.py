"""`ContactWriter`: a Lightning prediction writer for proteome-scale extraction with `Trainer.predict`.

Each rank writes its own shard folder (`rank00000/`, ...): one .npz per record (written atomically) and an
append-only `index.jsonl` whose line for a record is written, flushed and fsynced only after its .npz is in
place; a record that fails (an unknown letter, an empty sequence) gets a line in `failed.jsonl` instead. A record is done exactly when its index line exists, so a run killed at any point and started again
(`FastaDataModule(..., skip_done=output_dir)`) redoes nothing that was finished and loses nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter

from interp.files.io import safe_file_name, save_contacts
from interp.maps.prediction import ContactPrediction

INDEX = "index.jsonl"
FAILED = "failed.jsonl"
__all__ = ["FAILED", "INDEX", "ContactWriter", "read_failures", "read_index", "safe_file_name", "shard_entries"]


def _append_line(path: Path, line: str) -> None:
    """Append one JSON line, flushed and fsynced; a torn last line (a killed run) does not swallow it."""
    with open(path, "a+b") as handle:
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode("ascii"))
        handle.flush()
        os.fsync(handle.fileno())


def shard_entries(output_dir: str | os.PathLike, file_name: str = INDEX) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(shard folder, entry) for every JSON object line of `file_name` in every rank's shard, in order; a
    torn line (left by a killed process) is skipped."""
    for path in sorted(Path(output_dir).glob(f"rank*/{file_name}")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and "id" in entry:
                    yield path.parent, entry


def read_failures(output_dir: str | os.PathLike) -> dict[str, str]:
    """Records that failed (id -> error), across every rank's `failed.jsonl`; a later success supersedes one.

    Args:
        output_dir: the extraction folder a `ContactWriter` wrote.

    Returns:
        The error message ("InvalidSequenceError: ...") of every failed record by id, leaving out records
        that have since finished; empty when none failed.
    """
    done = read_index(output_dir)
    return {entry["id"]: str(entry.get("error", "")) for _, entry in shard_entries(output_dir, FAILED)
            if entry["id"] not in done}  # fmt: skip


def read_index(output_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """All finished records of an extraction, by id, across every rank's shard (a torn last line, left by a
    killed process, is ignored: that record is not done).

    Args:
        output_dir: the extraction folder a `ContactWriter` wrote (a missing or empty folder has no records).

    Returns:
        The index entry of every finished record by id: a dict with "id", "file" (the .npz name in its shard),
        "length", "method", "seconds" (time spent on it) and "path" (the .npz file's full path). Where an id
        was written twice, its last entry.
    """
    entries: dict[str, dict[str, Any]] = {}
    for shard, entry in shard_entries(output_dir):
        if "file" in entry:
            entry["path"] = str(shard / entry["file"])
            entries[entry["id"]] = entry
    return entries


class ContactWriter(BasePredictionWriter):
    """Write each predicted contact map as it comes out of `predict_step` (records from `ExplainerModule`).

    After every predict batch, each rank writes into its own shard folder `output_dir/rank{rank:05d}/`:

    - one `{id}.npz` per record (the id made file-safe by `safe_file_name`), written atomically, holding
      "contacts" [L, L], "sequence", "method", "name" and, with `top`, "top_pairs" [top, 3] rows (i, j, score);
      `interp.load_contacts` or `ContactPrediction.load` reads it;
    - a line in the append-only `index.jsonl` ({"id", "file", "length", "method", "seconds"}), written,
      flushed and fsynced only after the record's .npz is in place: a record is finished exactly when its
      line exists;
    - for a record that failed ({id, error} from `ExplainerModule`), a line {"id", "error"} in
      `failed.jsonl` instead (also kept in `failed` on that rank).

    `read_index`, `read_failures` and `records` read the folder back; `FastaDataModule(skip_done=...)`
    resumes a run without redoing finished records.

    Args:
        output_dir: the extraction folder (created as needed).
        top: also store this many top-scoring pairs per record (None: the map only).
    """

    def __init__(self, output_dir: str | os.PathLike, *, top: int | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.top = top
        self.written = 0
        self.failed: list[dict[str, Any]] = []

    def shard(self, rank: int) -> Path:
        """The shard folder of one rank.

        Args:
            rank: the global rank.

        Returns:
            `output_dir/rank{rank:05d}` (created by `write_on_batch_end` when that rank writes its first batch).
        """
        return self.output_dir / f"rank{rank:05d}"

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Sequence[dict[str, Any]],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Write this batch's records into this rank's shard: an .npz and an index line each, or a failure line."""
        folder = self.shard(trainer.global_rank)
        folder.mkdir(parents=True, exist_ok=True)
        for record in prediction:
            if record.get("error"):
                failure = {"id": record["id"], "error": record["error"]}
                self.failed.append(failure)
                _append_line(folder / FAILED, json.dumps(failure, ensure_ascii=True) + "\n")
                continue
            self._write(folder, record)

    def _write(self, folder: Path, record: dict[str, Any]) -> None:
        result = record["prediction"]
        file_name = safe_file_name(record["id"])
        extra: dict[str, Any] = {"method": result.method, "name": record["id"]}
        if self.top:
            pairs = result.top(self.top)
            extra["top_pairs"] = [[p.i, p.j, p.score] for p in pairs]
        save_contacts(folder / file_name, result.contacts, sequence=result.sequence, **extra)
        entry = {"id": record["id"], "file": file_name, "length": len(result.sequence), "method": result.method,
                 "seconds": round(float(record.get("seconds", 0.0)), 4)}  # fmt: skip
        _append_line(folder / INDEX, json.dumps(entry, ensure_ascii=True) + "\n")
        self.written += 1

    @staticmethod
    def records(output_dir: str | os.PathLike) -> Iterator[tuple[str, Any]]:
        """(id, ContactPrediction) for every finished record of an extraction folder.

        Args:
            output_dir: the extraction folder a `ContactWriter` wrote.

        Yields:
            The record id and its `ContactPrediction` (the map loaded from its .npz, named by the id), one
            record at a time, in index order.
        """
        for record_id, entry in read_index(output_dir).items():
            prediction = ContactPrediction.load(entry["path"])
            prediction.name = record_id
            yield record_id, prediction
