"""Shared helpers for the benchmark scripts: machine facts, timing, random sequences, result files."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

_HERE = Path(__file__).resolve().parent  # the benchmarks folder (its parent: a checkout, for the commit)


def default_results_dir() -> Path:
    """Where a suite writes when no `--out` is given: `docs/results` when run from a checkout's root (the
    folder the README quotes), else `./interp-benchmarks` in the working directory."""
    return Path("docs/results") if Path("benchmarks").is_dir() and Path("docs").is_dir() else Path("interp-benchmarks")


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    """The `--out DIR` option every suite takes (`interp benchmark --out` passes it on)."""
    parser.add_argument("--out", type=Path, default=default_results_dir(), help="folder for the result files "
                        "(default: docs/results from a checkout's root, else ./interp-benchmarks)")  # fmt: skip


AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def machine() -> dict[str, Any]:
    """Date, interp version, commit, CPU/GPU, core count, torch version: the header of every result file.

    "commit" is the checkout's short commit, or None where the package does not run from a git checkout (an
    installed wheel): `machine_lines` then leaves it out of the header rather than write "unknown".
    """
    from interp import __version__
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, cwd=_HERE.parent
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "interp": __version__,
        "commit": commit or None,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
    }


def machine_lines(facts: dict[str, Any]) -> list[str]:
    """The header lines ("- key: value") of a result file from `machine()`'s facts; a commit that is not known
    (None, or "unknown" in files written before) is left out."""
    return [f"- {key}: {value}" for key, value in facts.items()
            if not (key == "commit" and value in (None, "", "unknown"))]  # fmt: skip


def random_protein(length: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(AMINO_ACIDS) for _ in range(length))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call; synchronises CUDA so GPU times are real."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def write_results(name: str, payload: dict[str, Any], markdown: str, out_dir: Path) -> Path:
    """Write NAME.json and NAME.md into out_dir (a suite's `--out`); returns the markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    header = "\n".join(machine_lines(payload["machine"]))
    path = out_dir / f"{name}.md"
    path.write_text(f"# {name}\n\n{header}\n\n{markdown}\n")
    return path


def replace_between_markers(page: Path, start: str, end: str, text: str) -> None:
    """Replace the text between two marker lines of a documentation page (a generated section).

    Args:
        page: the markdown file.
        start: the opening marker, e.g. "<!-- architecture-matrix:start -->".
        end: the closing marker.
        text: the new section body.

    Raises:
        SystemExit: the page lacks either marker.
    """
    content = page.read_text()
    if start not in content or end not in content:
        raise SystemExit(f"{page}: no {start} ... {end} markers")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def markdown_table(rows: list[dict[str, Any]], columns: list[str],
                   formats: Mapping[str, Callable[[Any], str]] | None = None) -> str:  # fmt: skip
    """A markdown table of `rows` (dicts) with one column per key in `columns`.

    Args:
        rows: one dict per row; a missing key or None is an empty cell.
        columns: the keys, in order; they are also the header.
        formats: per column, a function from the value to its cell text; other columns write a float with 3
            significant digits (a whole number from 1000 on) and anything else as `str`.
    """

    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return "" if value is None else str(value)

    chosen = formats or {}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(chosen.get(c, fmt)(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
