"""Where the project's real data lives (alignments, structures, published predictions): found, never copied."""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def find_data_dir(*also: Path) -> Path | None:
    """$INTERP_DATA, else the folders in `also`, else shared/data beside the checkout or beside the current
    folder; None if absent."""
    candidates = [
        os.environ.get("INTERP_DATA"),
        *also,
        _CHECKOUT.parent / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "families.tsv").is_file():
            return Path(candidate)
    return None
