"""The pretrained antibody models on the antibody panel: one table from the runs of `interp benchmark contacts`.

    python benchmarks/antibody_table.py                              # print the table
    python benchmarks/antibody_table.py --docs docs/benchmarks.md    # and rewrite the page's generated section

Reads `summary.json` of the three runs (`docs/results/contacts_antiberty`, `contacts_sapiens_heavy`,
`contacts_sapiens_light`; the commands are on the benchmarks page) and writes, per model and method, the precision
at L in each range beside the chance precision of a random pick on the same proteins and the ratio of the two.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from interp.benchmarks.common import replace_between_markers

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = {"antiberty": "contacts_antiberty", "sapiens-heavy": "contacts_sapiens_heavy",
        "sapiens-light": "contacts_sapiens_light"}  # fmt: skip
START, END = "<!-- antibody-results:start -->", "<!-- antibody-results:end -->"
RANGES = ("long", "medium", "short")


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _ratio(precision: float, chance: float) -> str:
    return "n/a" if math.isnan(precision) or not chance > 0 else f"{precision / chance:.1f}x"


def rows(name: str, summary: dict[str, Any]) -> list[str]:
    """Markdown rows of one run: model, proteins, method, then P@L, chance and ratio per range, seconds."""
    out = []
    for row in summary["summary"]:
        cells = [name, f"{summary['panel']} ({row['proteins']})", row["method"]]
        for range_name in RANGES:
            precision, chance = row[f"{range_name}_P@L"], row[f"{range_name}_chance"]
            cells += [_number(precision), _number(chance), _ratio(precision, chance)]
        cells.append(f"{row['seconds_per_protein']:.2f}")
        out.append("| " + " | ".join(cells) + " |")
    return out


def table(results: Path) -> str:
    """The markdown table of every run found under `results` (a run not found is named below the table)."""
    header = ["model", "panel (proteins)", "method"]
    for range_name in RANGES:
        header += [f"{range_name} P@L", "chance", "x chance"]
    header.append("s / protein")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    missing = []
    for name, folder in RUNS.items():
        path = results / folder / "summary.json"
        if path.is_file():
            lines += rows(name, json.loads(path.read_text()))
        else:
            missing.append(f"{name} ({folder}/summary.json not found)")
    if missing:
        lines += ["", "Not run: " + ", ".join(missing)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the table; with --docs, write it between the page's antibody-results markers."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the folder holding the three runs")
    parser.add_argument("--docs", type=Path, help="rewrite this page's antibody-results section")
    args = parser.parse_args(argv)
    text = table(args.results)
    print(text)
    if args.docs:
        replace_between_markers(args.docs, START, END, text)


if __name__ == "__main__":
    main()
