"""Test helpers: where the real data lives, and a skip with a clear message when it is absent."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    """$INTERP_DATA, else ../shared/data beside the repository."""
    candidates = [os.environ.get("INTERP_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "families.tsv").is_file():
            return Path(candidate)
    return None


DATA = find_data_dir()
requires_data = pytest.mark.skipif(
    DATA is None, reason="real data not found: set INTERP_DATA or put shared/data beside the repository"
)


def families() -> list[dict[str, str]]:
    """Rows of families.tsv (empty without the data)."""
    if DATA is None:
        return []
    with open(DATA / "families.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))
