"""The architecture matrix of docs/families.md, generated from runs of tests/test_architecture_matrix.py.

Each run under one transformers version records its cells with INTERP_MATRIX_RESULTS=file.json:

    INTERP_MATRIX_RESULTS=docs/results/matrix_tf5.json pytest tests/test_architecture_matrix.py
    (the same in the transformers 4.57 environment, into matrix_tf4.json)
    python benchmarks/architecture_table.py docs/results/matrix_tf{5,4}.json --docs docs/families.md

and this script joins them: one row per (head, model type), the outcome of each explainer under each
transformers version (ok, refused and why, skipped and why), and the totals of (architecture, explainer,
version) cells by outcome. It exits non-zero on any untyped or silent cell. With --docs it rewrites the part of
the page between the `architecture-matrix` markers.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from interp.benchmarks.common import replace_between_markers

EXPLAINERS = ("categorical", "gradient", "attention")
OUTCOMES = ("ok", "refused", "skipped", "untyped", "silent")
START, END = "<!-- architecture-matrix:start -->", "<!-- architecture-matrix:end -->"


def load(paths: list[Path]) -> list[dict[str, str]]:
    """Every record of every result file."""
    records: list[dict[str, str]] = []
    for path in paths:
        records += json.loads(path.read_text())
    return records


def _short(detail: str) -> str:
    """A refusal or skip reason without the adapter's name, first sentence, at most 140 characters."""
    text = detail.split(": ", 1)[1] if ": " in detail and detail.split(": ", 1)[0].count(" ") == 0 else detail
    text = text.split("; use ")[0].replace("\n", " ")
    text = text if len(text) <= 140 else text[:137] + "..."
    for special in "|[]<>*_`":  # markdown (and mkdocs' cross-references) must see plain text
        text = text.replace(special, "\\" + special)
    return text


def _cell(outcome: str, detail: str) -> str:
    if outcome == "ok":
        return "ok"
    if outcome in ("untyped", "silent"):  # defects stand out
        return f"**{outcome}**: {_short(detail)}"
    return f"{outcome}: {_short(detail)}"


def table(records: list[dict[str, str]]) -> tuple[str, Counter[str]]:
    """(markdown table, counts of cells by outcome)."""
    cells: dict[tuple[str, str], dict[str, dict[str, dict[str, str]]]] = defaultdict(lambda: defaultdict(dict))
    classes: dict[tuple[str, str], str] = {}
    counts: Counter[str] = Counter()
    for record in records:
        key = (record["head"], record["model_type"])
        cells[key][record["explainer"]][record["transformers"]] = record
        classes[key] = record["class"] or classes.get(key, "")
        counts[record["outcome"]] += 1
    lines = [
        "| head | model type | class | categorical Jacobian | gradient Jacobian | attention readout |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(cells):
        row = [key[0], f"`{key[1]}`", f"`{classes[key]}`" if classes[key] else "-"]
        by_explainer = cells[key]
        skipped_everywhere = all(r["outcome"] == "skipped" for e in EXPLAINERS for r in by_explainer[e].values())
        for index, explainer in enumerate(EXPLAINERS):
            texts: dict[str, list[str]] = defaultdict(list)
            for version, record in sorted(by_explainer[explainer].items()):
                texts[_cell(record["outcome"], record["detail"])].append(version)
            if skipped_everywhere and index:
                row.append("-")
                continue
            if len(texts) == 1:
                row.append(next(iter(texts)))
            else:
                row.append("; ".join(f"{text} ({', '.join(versions)})" for text, versions in texts.items()))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines), counts


def summary(records: list[dict[str, str]], counts: Counter[str]) -> str:
    """One line: the versions, architectures and cell totals."""
    versions = sorted({r["transformers"] for r in records})
    architectures = len({(r["head"], r["model_type"]) for r in records})
    totals = ", ".join(f"{counts[outcome]} {outcome}" for outcome in OUTCOMES)
    return (
        f"{architectures} architectures (masked-LM and causal-LM mappings) under transformers {', '.join(versions)}: "
        f"{totals} (architecture, explainer, version) cells"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="matrix result files (one per transformers version)")
    parser.add_argument("--docs", type=Path, help="rewrite this page's architecture-matrix section")
    args = parser.parse_args()
    records = load(args.results)
    markdown, counts = table(records)
    line = summary(records, counts)
    print(markdown + "\n\n" + line)
    if args.docs:
        replace_between_markers(args.docs, START, END, f"{line}.\n\n{markdown}")
    if counts["untyped"] or counts["silent"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
