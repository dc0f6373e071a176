"""Reliability suite: hostile inputs fuzzed through the real API (how each case ended), the prediction writer
killed half-way and restarted, and the contact-precision callback and the writer under DDP (2 CPU processes).

    python benchmarks/reliability.py            # 200 cases per target
    python benchmarks/reliability.py --quick    # 25 cases per target, no DDP
Needs hypothesis (`pip install ".[test]"`). tests/test_fuzz.py runs the same targets under pytest; a case
that ends in anything but a correct result or a typed `InterpError` is a bug, counted here and failed there.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning.pytorch as pl
import torch

from interp.benchmarks.common import add_out_argument, machine, markdown_table, write_results
from interp.errors import InterpError

CANONICAL = "ACDEFGHIKLMNPQRSTVWY"
HOSTILE_LETTERS = "acdxXBZUOJ*-.0123456789 \t\n\r\x00é漢\u200b>"
HOSTILE_IDS = ["../../x", "a/b", "..", ".", "x\x00y", "é" * 300, ".hidden", "con", "a" * 5000, "/etc/passwd", "-"]


class FuzzBugError(AssertionError):
    """A case ended in something other than a correct result or a typed InterpError."""


class RecordsRefusedError(InterpError):
    """`interp contacts` reported failing records (exit code 1) and wrote the others."""


# ---------- strategies: what hostile input looks like (hypothesis, the test extra, imported on use) ----------
def rr_text(draw_length: int, pairs: list[tuple[int, int, float]], header: bool) -> str:
    lines = ["PFRMAT RR", "A" * draw_length] if header else []
    lines += [f"{i} {j} 0 8 {p}" for i, j, p in pairs]
    return "\n".join(lines) + "\n"


def _strategies() -> SimpleNamespace:
    """The hypothesis strategies of the fuzz targets (built on use: hypothesis is a test extra)."""
    from hypothesis import strategies as st

    letters = st.sampled_from(list(CANONICAL) * 3 + list(HOSTILE_LETTERS))
    sequences = st.one_of(
        st.text(st.sampled_from(CANONICAL), min_size=1, max_size=48),  # valid: must give a correct map
        st.text(letters, max_size=48),
        st.text(max_size=24),  # any unicode
        st.integers(1025, 1300).map(lambda n: "ACDEFGHIKL"[n % 10] * n),  # longer than the model's window
    )
    rr_cases = st.integers(1, 40).flatmap(  # residues mostly in range, the edges (0, L + 1) and bad scores often
        lambda length: st.tuples(
            st.just(length),
            st.lists(
                st.tuples(
                    st.integers(-1, length + 1),
                    st.integers(-1, length + 1),
                    st.one_of(st.floats(0, 1), st.floats(allow_nan=True)),
                ),
                max_size=8,
            ),
            st.booleans(),
        )
    )
    return SimpleNamespace(
        st=st,
        sequences=sequences,
        structure_suffixes=st.sampled_from([".pdb", ".cif", ".pdb.gz", ".ent", ".mmcif", ""]),
        alignment_rows=st.lists(st.text(st.sampled_from(list(CANONICAL + "-.acx*\n ")), max_size=30), max_size=6),
        record_ids=st.one_of(st.sampled_from(HOSTILE_IDS), st.text(min_size=1, max_size=60)),
        rr_cases=rr_cases,
    )


# ---------- targets: one hostile input through the real code a user runs ----------
class Targets:
    """The fuzz targets; each returns normally on a correct result and raises on refusal (checked by `run`)."""

    def __init__(self, workdir: Path, structure_sample: Path | None = None) -> None:
        from interp.explainers import AttentionReadout, CategoricalJacobian
        from interp.testing.stand_ins import esm_model

        self.workdir = workdir
        model, tokenizer = esm_model("tiny", seed=0)
        self.model, self.tokenizer = model, tokenizer
        self.readout = AttentionReadout(model, tokenizer)
        self.jacobian = CategoricalJacobian(model, tokenizer, fast=True)
        self.strict = AttentionReadout(model, tokenizer, long_sequences="error")
        self.structure_sample = structure_sample.read_bytes() if structure_sample else None
        self.counter = 0

    def _fresh(self, name: str) -> Path:
        self.counter += 1
        folder = self.workdir / f"{name}-{self.counter}"
        folder.mkdir(parents=True)
        return folder

    def sequence(self, text: str) -> None:
        """Explainers on any string. The expected ending is worked out here, independently: EmptySequenceError,
        SequenceTooLongError (only where windows are off), InvalidSequenceError naming the first bad letter's
        position, or a symmetric finite L x L map. Anything else, either way round, is a bug."""
        from interp.errors import EmptySequenceError, InvalidSequenceError, SequenceTooLongError

        adapter = self.readout.adapter
        allowed = set(adapter.alphabet) | set(adapter.letter_aliases)
        first_bad = next((i for i, c in enumerate(text) if c not in allowed), None)
        for explainer in (self.readout, self.strict) + ((self.jacobian,) if len(text) <= 48 else ()):
            expected: type[InterpError] | None = None
            if not text:
                expected = EmptySequenceError
            elif explainer is self.strict and adapter.max_length is not None and len(text) > adapter.max_length:
                expected = SequenceTooLongError
            elif first_bad is not None:
                expected = InvalidSequenceError
            try:
                with warnings.catch_warnings():  # the long-sequence window warning is expected here
                    warnings.simplefilter("ignore")
                    prediction = explainer.attribute(text)
            except InterpError as error:
                if type(error) is not expected:
                    raise FuzzBugError(f"{type(error).__name__} where {expected} was due: {error}") from None
                position = None if first_bad is None else first_bad + 1
                if expected is InvalidSequenceError and f"position {position}" not in str(error):
                    raise FuzzBugError(f"error does not name position {position}: {error}") from None
                raise
            if expected is not None:
                raise FuzzBugError(f"accepted where {expected.__name__} was due")
            contacts = prediction.contacts
            if contacts.shape != (len(text), len(text)) or not bool(torch.isfinite(contacts).all()):
                raise FuzzBugError(f"bad map {tuple(contacts.shape)} for a sequence of {len(text)}")
            if not torch.allclose(contacts, contacts.T):
                raise FuzzBugError("map not symmetric")

    def structure(self, data: bytes, suffix: str, truncate: float | None = None) -> None:
        """Random bytes, or a real structure truncated, as a structure file: a contact map or StructureError."""
        from interp.structures.structure import contact_map

        if truncate is not None and self.structure_sample is not None:
            data = self.structure_sample[: int(len(self.structure_sample) * truncate)]
        path = self._fresh("structure") / f"input{suffix}"
        path.write_bytes(data)
        result = contact_map(path)
        if result.contacts.shape != (len(result.sequence), len(result.sequence)):
            raise FuzzBugError("contact map shape differs from its sequence")

    def alignment(self, rows: list[str], fmt: str) -> None:
        """Alignment rows of any length and content. A plain alignment (equal-length rows of the 20 letters
        and '-', a query with a residue) must load as exactly its rows over the query's residue columns;
        whatever loads must have one row per record, all of the query's length, upper case, query gap-free."""
        from interp.training.alignments import load_family

        path = self._fresh("alignment") / (
            "input.a3m" if fmt == "a3m" else "input.fasta" if fmt == "fasta" else "input.aln"
        )
        body = "".join(f">r{i}\n{row}\n" for i, row in enumerate(rows)) if fmt != "psicov" else "\n".join(rows) + "\n"
        path.write_text(body, encoding="utf-8", errors="surrogateescape")
        plain = (
            bool(rows)
            and all(row and set(row) <= set(CANONICAL + "-") for row in rows)
            and len({len(row) for row in rows}) == 1
            and set(rows[0]) != {"-"}
        )
        try:
            family = load_family(path)
        except InterpError:
            if plain:
                raise FuzzBugError(f"a plain alignment refused: {rows}") from None
            raise
        if plain:
            keep = [i for i, letter in enumerate(rows[0]) if letter != "-"]
            expected = ["".join(row[i] for i in keep) for row in rows]
            if family.rows != expected or family.query != expected[0]:
                raise FuzzBugError("a plain alignment loaded as different rows")
        records = body.count("\n>") + body.startswith(">") if fmt != "psicov" else None
        if records is not None and len(family.rows) != records:
            raise FuzzBugError(f"{len(family.rows)} rows for {records} records")
        if any(len(row) != len(family.query) for row in family.rows) or "-" in family.query:
            raise FuzzBugError("rows of different lengths, or gaps in the query, accepted")
        if any(row != row.upper() for row in family.rows):
            raise FuzzBugError("lower-case letters left in the rows")

    def rr(self, length: int, pairs: list[tuple[int, int, float]], header: bool) -> None:
        """RR files with out-of-range residues, NaN scores, missing headers. Expected here, independently:
        RRFormatError for a residue < 1 or > L, i == j or a non-finite score; else the map that keeps each
        pair's largest score (-inf elsewhere), exactly."""
        from interp.errors import RRFormatError
        from interp.files.io import read_rr

        path = self._fresh("rr") / "input.rr"
        path.write_text(rr_text(length, pairs, header))
        bad = any(i < 1 or j < 1 or i == j or i > length or j > length or not math.isfinite(p) for i, j, p in pairs)
        try:
            result = read_rr(path).to_map(length)
        except RRFormatError:
            if not bad:
                raise FuzzBugError("a valid RR file refused") from None
            raise
        if bad:
            raise FuzzBugError(f"an invalid RR file accepted: {pairs}")
        expected = torch.full((length, length), -math.inf, dtype=torch.float64)
        for i, j, p in pairs:
            expected[i - 1, j - 1] = expected[j - 1, i - 1] = max(p, float(expected[i - 1, j - 1]))
        if result.shape != expected.shape or not torch.equal(result, expected):
            raise FuzzBugError("RR map differs from the file's pairs")

    def _hostile_fasta(self, name: str, ids: list[str], texts: list[str]) -> tuple[Path, Path, int]:
        """(fresh folder, in.fa written from ids and texts, records in it counted by their header lines)."""
        folder = self._fresh(name)
        fasta = folder / "in.fa"
        fasta.write_text("".join(f">{i}\n{t}\n" for i, t in zip(ids, texts, strict=False)), errors="surrogateescape")
        with open(fasta, encoding="utf-8", errors="replace") as handle:
            headers = sum(1 for line in handle if line.strip().startswith(">"))
        return folder, fasta, headers

    def fasta(self, ids: list[str], texts: list[str]) -> None:
        """`interp contacts` on a FASTA with hostile ids and sequences: outputs only inside --out, none half-written."""
        from typer.testing import CliRunner

        from interp.cli import app

        folder, fasta, headers = self._hostile_fasta("fasta", ids, texts)
        out = folder / "out"
        result = CliRunner().invoke(app, ["contacts", "--fasta", str(fasta), "--out", str(out), "--model", "default",
                                          "--method", "attention"])  # fmt: skip
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise FuzzBugError(f"{type(result.exception).__name__}: {result.exception}")
        outside = sorted(p.name for p in folder.iterdir() if p.name not in ("in.fa", "out"))
        if outside or any(p.resolve().parent != out.resolve() for p in out.rglob("*") if out.exists()):
            raise FuzzBugError(f"files outside the output folder: {outside}")
        leftovers = [p.name for p in out.glob("*.tmp")] + [p.name for p in out.glob(".*")] if out.exists() else []
        if leftovers:
            raise FuzzBugError(f"half-written files left behind: {leftovers}")
        for npz in out.glob("*.npz") if out.exists() else []:
            with zipfile.ZipFile(npz) as archive:
                if archive.testzip() is not None:
                    raise FuzzBugError(f"{npz.name} is corrupt")
        if result.exit_code not in (0, 1, 2):
            raise FuzzBugError(f"exit code {result.exit_code}")
        written = len(list(out.glob("*.npz"))) if out.exists() else 0
        if (result.exit_code == 0 and written != headers) or written > headers:
            raise FuzzBugError(f"{written} maps written for {headers} records (exit {result.exit_code})")
        if result.exit_code != 0:
            raise RecordsRefusedError(result.output.strip()[-300:])

    def extraction(self, ids: list[str], texts: list[str]) -> None:
        """`Trainer.predict` with the ContactWriter on a hostile FASTA: every record indexed or reported as
        failed, exactly once; files only inside the output folder; no temporary file left."""
        from interp.callbacks import ContactWriter, read_failures, read_index
        from interp.callbacks.extraction import ExplainerModule, FastaDataModule

        folder, fasta, headers = self._hostile_fasta("extraction", ids, texts)
        out = folder / "out"
        writer = ContactWriter(out)
        trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, callbacks=[writer])  # fmt: skip
        trainer.predict(ExplainerModule(self.model, self.tokenizer, method="attention"),
                        datamodule=FastaDataModule(fasta), return_predictions=False)  # fmt: skip
        indexed, failed = read_index(out), read_failures(out)  # what a user reads back from disk
        if len(indexed) + len(failed) != headers or len(failed) != len(writer.failed) or set(indexed) & set(failed):
            raise FuzzBugError(f"{len(indexed)} indexed + {len(failed)} failed for {headers} records")
        inside = out.resolve()
        strays = [p for p in folder.rglob("*") if p.is_file() and inside not in p.resolve().parents and p != fasta]
        if strays or list(out.rglob("*.tmp")):
            raise FuzzBugError(f"stray or temporary files: {[p.name for p in strays]}")
        if len(list(out.rglob("*.npz"))) != len(indexed):
            raise FuzzBugError("index and map files disagree")
        if writer.failed:
            raise RecordsRefusedError("; ".join(f"{f['id']!r}: {f['error']}" for f in writer.failed)[:300])


def outcome(call: Callable[[], None]) -> str:
    """'correct result', the InterpError subclass raised, or 'BUG: ...' for anything else."""
    try:
        call()
    except FuzzBugError as bug:
        return f"BUG: {bug}"[:160]
    except InterpError as error:
        return type(error).__name__
    except Exception as error:  # the point of fuzzing: anything untyped is a bug
        return f"BUG: {type(error).__name__}: {error}"[:160]
    return "correct result"


def run_target(name: str, strategy: Any, call: Callable[..., None], examples: int) -> dict[str, Any]:
    """Run `examples` hypothesis-generated cases through `call`; count how each ended and the slowest."""
    from hypothesis import HealthCheck, given, settings

    counts: collections.Counter[str] = collections.Counter()
    slowest = 0.0

    @settings(max_examples=examples, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def case(arguments: tuple) -> None:
        nonlocal slowest
        start = time.perf_counter()
        counts[outcome(lambda: call(*arguments))] += 1
        slowest = max(slowest, time.perf_counter() - start)

    case()
    bugs = sum(v for k, v in counts.items() if k.startswith("BUG"))
    return {"target": name, "cases": sum(counts.values()), "outcomes": dict(counts.most_common()), "bugs": bugs,
            "slowest_s": slowest}  # fmt: skip


def fuzz_plan(targets: Targets) -> list[tuple[str, Any, Callable[..., None]]]:
    """(name, strategy of argument tuples, target): shared with tests/test_fuzz.py."""
    strategies = _strategies()
    st, sequences, record_ids = strategies.st, strategies.sequences, strategies.record_ids
    alignment_rows, rr_cases, structure_suffixes = strategies.alignment_rows, strategies.rr_cases, strategies.structure_suffixes
    structures = st.one_of(
        st.tuples(st.binary(max_size=3000), structure_suffixes, st.none()),
        st.tuples(st.just(b""), st.sampled_from([".pdb", ".cif"]), st.floats(0.0, 1.0)),
    )
    return [
        ("sequences (3 explainers)", st.tuples(sequences), targets.sequence),
        ("structure files", structures, targets.structure),
        ("alignments", st.tuples(alignment_rows, st.sampled_from(["a3m", "fasta", "psicov"])), targets.alignment),
        ("RR files", rr_cases, targets.rr),
        ("FASTA through `interp contacts`", st.tuples(st.lists(record_ids, min_size=1, max_size=3),
                                                      st.lists(sequences, min_size=1, max_size=3)), targets.fasta),
        ("FASTA through Trainer.predict + ContactWriter", st.tuples(st.lists(record_ids, min_size=1, max_size=3),
                                                                   st.lists(sequences, min_size=1, max_size=3)),
         targets.extraction),
    ]  # fmt: skip


def structure_sample(root: Path | None = None) -> Path | None:
    """A real crystal structure to truncate, from the data folder (`root`, else interp.testing.data's) when it is there."""
    from interp.testing.data import find_data_dir

    root = root or find_data_dir()
    found = sorted(root.glob("protein/*/*.pdb")) if root is not None else []
    return found[0] if found else None


# ---------- kill -9 half-way, then restart ----------
def _predict_child(fasta: str, out: str) -> None:
    from interp.callbacks import ContactWriter
    from interp.callbacks.extraction import ExplainerModule, FastaDataModule
    from interp.testing.stand_ins import esm_model

    model, tokenizer = esm_model("tiny", seed=3)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[ContactWriter(out)])  # fmt: skip
    trainer.predict(ExplainerModule(model, tokenizer, method="jacobian"),
                    datamodule=FastaDataModule(fasta, skip_done=out), return_predictions=False)  # fmt: skip


def _run_child(command: list[str], workdir: Path) -> None:
    """Run a child of this module from `workdir` (see kill_and_resume); its stderr tail on failure."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=workdir, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[-5:])} failed: {result.stderr[-2000:]}")


def write_panel_fasta(path: Path, n: int, length: int = 40) -> dict[str, str]:
    import random

    rng = random.Random(0)
    records = {f"sp|P{i:05d}|x/y": "".join(rng.choice(CANONICAL) for _ in range(length)) for i in range(n)}
    path.write_text("".join(f">{k}\n{v}\n" for k, v in records.items()))
    return records


def index_entries(out: Path) -> list[dict[str, Any]]:
    """Every index line of every shard, repeats included (read_index keeps one per id; this counts them)."""
    from interp.callbacks.contact_writer import shard_entries

    return [entry for _, entry in shard_entries(out)]


def kill_and_resume(workdir: Path, records: int = 24, kill_after: int = 8) -> dict[str, Any]:
    """SIGKILL a prediction run once `kill_after` records are indexed, restart it, and count what is on disk."""
    workdir.mkdir(parents=True, exist_ok=True)
    fasta, out = workdir / "panel.fa", workdir / "out"
    wanted = write_panel_fasta(fasta, records)
    child = [sys.executable, "-m", "interp.benchmarks.reliability", "--predict-child", str(fasta), str(out)]
    # run from the work folder: `-m` puts the current folder first on sys.path, and a checkout's own
    # interp/ (without benchmarks/ inside) would shadow the installed package
    process = subprocess.Popen(child, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                               cwd=workdir)  # fmt: skip
    deadline = time.monotonic() + 300
    while len(index_entries(out)) < kill_after and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if process.poll() is not None:
        stderr = process.stderr.read().decode() if process.stderr is not None else ""
        raise RuntimeError(f"the prediction run ended before it was killed: {stderr[-2000:]}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if process.stderr is not None:
        process.stderr.close()
    at_kill = len(index_entries(out))
    _run_child(child, workdir)
    entries = index_entries(out)
    ids = [e["id"] for e in entries]
    files = [p for p in out.glob("rank*/*.npz")]
    return {
        "records": records, "indexed_when_killed": at_kill, "indexed_after_restart": len(ids),
        "distinct": len(set(ids)), "missing": len(set(wanted) - set(ids)), "written_twice": len(ids) - len(set(ids)),
        "npz_files": len(files), "temporary_files_left": len(list(out.rglob("*.tmp"))),
        "ok": set(ids) == set(wanted) and len(ids) == len(set(ids)) == len(files),
    }  # fmt: skip


# ---------- a training run stopped at a checkpoint and resumed ----------
def training_resume(workdir: Path) -> dict[str, Any]:
    """Masked-LM training with ContactPrecisionMonitor every 2 steps: 4 steps, a checkpoint, then resumed to 6.
    The resumed callback must hold the first run's history and continue it (steps 2, 4, then 6)."""
    import random

    from interp.callbacks import ContactPrecisionMonitor
    from interp.models.embedded_model import default_target
    from interp.training.masked_lm import MaskedLMModule, alignment_loader, encode_rows, family_model, letter_ids

    target = default_target()
    query, truth = target.sequence[:40], target.contacts[:40, :40]
    rng = random.Random(0)
    rows = ["".join(c if rng.random() > 0.15 else rng.choice(CANONICAL + "-") for c in query) for _ in range(64)]
    model, tokenizer = family_model(len(query))
    ids = encode_rows(rows, tokenizer)

    def fit(max_steps: int, checkpoint: Path | None) -> ContactPrecisionMonitor:
        torch.manual_seed(0)
        callback = ContactPrecisionMonitor([(query, truth)], tokenizer=tokenizer, every_n_steps=2, explainer="jacobian")
        module = MaskedLMModule(model if checkpoint is None else family_model(len(query))[0],
                                tokenizer.mask_token_id, replacement_ids=letter_ids(ids, tokenizer), warmup_steps=2,
                                total_steps=6)  # fmt: skip
        trainer = pl.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                             enable_model_summary=False, enable_checkpointing=False, default_root_dir=workdir,
                             callbacks=[callback])  # fmt: skip
        trainer.fit(module, alignment_loader(ids, batch_size=16), ckpt_path=checkpoint)
        if checkpoint is None:
            trainer.save_checkpoint(workdir / "run.ckpt")
        return callback

    workdir.mkdir(parents=True, exist_ok=True)
    first = fit(4, None)
    resumed = fit(6, workdir / "run.ckpt")
    steps = [h["step"] for h in resumed.history]
    return {"steps_before": [h["step"] for h in first.history], "steps_after_resume": steps,
            "history_kept": resumed.history[: len(first.history)] == first.history,
            "ok": steps == [2, 4, 6] and resumed.history[:2] == first.history}  # fmt: skip


# ---------- the same map in two separate processes ----------
def _map_digest_child() -> None:
    import hashlib

    from interp.explainers import CategoricalJacobian
    from interp.models.embedded_model import default_model, default_target

    model, tokenizer = default_model()
    contacts = CategoricalJacobian(model, tokenizer).attribute(default_target().sequence[:80]).contacts
    print(hashlib.sha256(contacts.numpy().tobytes()).hexdigest())


def determinism_across_processes(workdir: Path) -> dict[str, Any]:
    """SHA-256 of the categorical Jacobian map of the embedded model, computed in two fresh processes."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "interp.benchmarks.reliability", "--digest-child"]
    digests = []
    for _ in range(2):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=workdir, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"digest child failed: {result.stderr[-2000:]}")
        digests.append(result.stdout.strip().splitlines()[-1])
    return {"processes": 2, "digest": digests[0][:16], "ok": digests[0] == digests[1]}


# ---------- DDP: 2 CPU processes against 1 ----------
def _ddp_child(kind: str, devices: int, fasta: str, out: str) -> None:
    from interp.callbacks import ContactPrecisionMonitor, ContactWriter
    from interp.callbacks.extraction import ExplainerModule, FastaDataModule
    from interp.models.embedded_model import default_model, default_target

    model, tokenizer = default_model()
    strategy = "ddp_spawn" if devices > 1 else "auto"
    common: dict[str, Any] = {"accelerator": "cpu", "devices": devices, "strategy": strategy, "logger": False,
              "enable_progress_bar": False, "enable_model_summary": False}  # fmt: skip
    if kind == "writer":
        trainer = pl.Trainer(callbacks=[ContactWriter(out)], **common)
        trainer.predict(ExplainerModule(model, tokenizer, method="jacobian"), datamodule=FastaDataModule(fasta),
                        return_predictions=False)  # fmt: skip
        return
    target = default_target()
    panel = [(target.sequence[:s], target.contacts[:s, :s]) for s in (145, 120, 100)]  # 3 entries: ranks get 2, 1
    callback = ContactPrecisionMonitor(panel, tokenizer=tokenizer, explainer="jacobian")
    trainer = pl.Trainer(callbacks=[callback], **common)
    trainer.validate(ValidateOnly(model), verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if "seconds" not in k}
    if trainer.is_global_zero:
        Path(out).write_text(json.dumps(metrics))


class ValidateOnly(pl.LightningModule):
    """Wraps a model for `Trainer.validate`: two empty batches, so the callback runs once per process."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def val_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(2, 1)), batch_size=1)

    def validation_step(self, batch: Any, index: int) -> None:
        return None


def ddp_equivalence(workdir: Path) -> dict[str, Any]:
    """The callback's numbers on 1 and on 2 processes, and the writer's records on 2 processes."""
    workdir.mkdir(parents=True, exist_ok=True)
    module = [sys.executable, "-m", "interp.benchmarks.reliability"]
    one, two = workdir / "one.json", workdir / "two.json"
    for devices, path in ((1, one), (2, two)):
        _run_child([*module, "--ddp-child", "callback", str(devices), "-", str(path)], workdir)
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    largest = max(abs(a[k] - b[k]) for k in a) if set(a) == set(b) else float("inf")
    fasta, out = workdir / "ddp.fa", workdir / "ddp-out"
    wanted = write_panel_fasta(fasta, 7, length=30)
    _run_child([*module, "--ddp-child", "writer", "2", str(fasta), str(out)], workdir)
    ids = [e["id"] for e in index_entries(out)]
    return {
        "callback_metrics": len(a), "callback_max_abs_difference": largest,
        "writer_records": len(wanted), "writer_written": len(ids), "writer_written_twice": len(ids) - len(set(ids)),
        "writer_shards": len(list(out.glob("rank*"))),
        "ok": largest <= 1e-6 and sorted(ids) == sorted(wanted),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="fuzz cases per target")
    parser.add_argument("--quick", action="store_true", help="25 cases per target, no DDP")
    parser.add_argument("--predict-child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ddp-child", nargs=4, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--digest-child", action="store_true", help=argparse.SUPPRESS)
    add_out_argument(parser)
    args = parser.parse_args(argv)
    out = args.out
    if args.digest_child:
        _map_digest_child()
        return
    if args.predict_child:
        _predict_child(*args.predict_child)
        return
    if args.ddp_child:
        kind, devices, fasta, out = args.ddp_child
        _ddp_child(kind, int(devices), fasta, out)
        return
    examples = 25 if args.quick else args.examples
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        targets = Targets(workdir / "fuzz", structure_sample())
        fuzz = []
        for name, strategy, call in fuzz_plan(targets):
            fuzz.append(run_target(name, strategy, call, examples))
            print(fuzz[-1], flush=True)
        resume = kill_and_resume(workdir / "resume")
        print(resume, flush=True)
        training = training_resume(workdir / "training")
        print(training, flush=True)
        determinism = determinism_across_processes(workdir / "determinism")
        print(determinism, flush=True)
        ddp = None if args.quick else ddp_equivalence(workdir / "ddp")
        print(ddp, flush=True)
    rows = [{**r, "outcomes": ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())} for r in fuzz]
    text = "Fuzz cases (hypothesis, derandomized):\n\n" + markdown_table(rows, ["target", "cases", "bugs", "slowest_s",
                                                                              "outcomes"])  # fmt: skip
    text += f"\n\nTotal: {sum(r['cases'] for r in fuzz)} cases, {sum(r['bugs'] for r in fuzz)} bugs."
    text += "\n\nKill -9 half-way, then restart:\n\n" + markdown_table([resume], list(resume))
    text += "\n\nTraining stopped at a checkpoint and resumed (ContactPrecisionMonitor every 2 steps):\n\n"
    text += markdown_table([training], list(training))
    text += "\n\nThe same map in two fresh processes (SHA-256 of the bytes):\n\n"
    text += markdown_table([determinism], list(determinism))
    if ddp is not None:
        text += "\n\nDDP (2 CPU processes, gloo) against 1 process:\n\n" + markdown_table([ddp], list(ddp))
    name = "reliability_quick" if args.quick else "reliability"
    payload = {"machine": machine(), "fuzz": fuzz, "resume": resume, "training_resume": training,
               "determinism": determinism, "ddp": ddp}  # fmt: skip
    path = write_results(name, payload, text, out)
    print(path.read_text())


if __name__ == "__main__":
    main()
