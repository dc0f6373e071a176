"""The family table of docs/families.md, regenerated from conformance runs (tests/test_upstream_families.py).

Each run under one transformers version writes its cells with INTERP_CONFORMANCE_RESULTS=file.json:

    INTERP_CONFORMANCE_RESULTS=docs/results/conformance_tf5.json pytest tests/test_upstream_families.py
    (the same in a transformers 4.57 environment, into conformance_tf4.json, and for ESM C in an environment
    with EvolutionaryScale's esm package and transformers 4.48.1, into conformance_esm.json)
    python benchmarks/family_table.py docs/results/conformance_{tf5,tf4,esm}.json

and this script joins them: per family and explainer, the transformers versions where the cell was verified
(auto-detected and explicit adapter alike), or the refusal's reason; and the count of (family, explainer,
transformers version) cells verified, refused and failing. A cell is failing when its family was built
under a version but the cell recorded nothing, or auto and explicit disagree.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

UPSTREAM = {  # family -> (upstream repository @ commit, as in shared/upstream/README.md)
    "progen2": "salesforce/progen @ c27a419",
    "hyenadna": "LongSafari hyenadna-*-hf remote code (shubhamtkr/checkpoint-62500 @ 22f9645); HazyResearch/hyena-dna tokenizer @ d553021",
    "glm2": "TattaBio/gLM2 @ 915560f",
    "evo (Hugging Face)": "togethercomputer/evo-1-131k-base remote code (Slimkinski/evo_embedding @ 0868ec2)",
    "evo (evo package)": "evo-design/evo @ 6856bba + togethercomputer/stripedhyena @ 7e13f61",
    "dnabert2": "zhihan1996/DNABERT-2-117M (ashal-ali/CS224N_DNABERT2 @ d064dec)",
    "nucleotide-transformer": "native transformers `esm` + the public 6-mer vocabulary",
    "esmc (esm package)": "EvolutionaryScale `esm` 3.2.1.post1 (PyPI), its own environment",
}
EXPLAINERS = ("categorical", "gradient", "attention")


def load(paths: list[Path]) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    for path in paths:
        records += json.loads(path.read_text())
    return records


NOT_RUN = {  # family -> (upstream code, why its explainers were not run)
    "caduceus": ("kuleshov-group/caduceus @ 0060a6d", "its model imports CUDA `mamba_ssm` kernels: on a CPU only its "
                 "configuration and tokenizer run (encoding checked); attention would be refused (Mamba blocks)"),
}


def _short(reason: str) -> str:
    if "is not available: " in reason:
        reason = reason.split("is not available: ", 1)[1]
    elif ": " in reason:
        reason = reason.split(": ", 1)[1]  # the adapter's name
    return reason if len(reason) <= 180 else reason[:177] + "..."


def table(records: list[dict[str, str]]) -> tuple[str, dict[str, int]]:
    """(markdown table, counts of verified / refused / failing cells)."""
    versions_of: dict[str, set[str]] = defaultdict(set)
    cells: dict[tuple[str, str, str], dict[str, dict[str, str]]] = defaultdict(dict)
    for r in records:
        versions_of[r["family"]].add(r["transformers"])
        cells[r["family"], r["explainer"], r["transformers"]][r["mode"]] = r
    counts = {"verified": 0, "refused": 0, "failing": 0}
    lines = [
        "| family | upstream code | transformers | categorical Jacobian | gradient Jacobian | attention readout |",
        "|---|---|---|---|---|---|",
    ]
    for family in UPSTREAM:
        versions = sorted(versions_of.get(family, ()))
        row = [family, UPSTREAM[family], ", ".join(versions) or "not run"]
        for explainer in EXPLAINERS:
            texts = []
            for version in versions:
                modes = cells.get((family, explainer, version), {})
                outcomes = {m: r["outcome"] for m, r in modes.items()}
                if set(outcomes) != {"auto", "explicit"} or len(set(outcomes.values())) != 1:
                    counts["failing"] += 1
                    texts.append(f"**failing** ({version})")
                    continue
                outcome = outcomes["auto"]
                counts[outcome] += 1
                texts.append("verified" if outcome == "verified" else "refused: " + _short(modes["auto"]["detail"]))
            row.append("; ".join(sorted(set(texts))) or "not run")
        lines.append("| " + " | ".join(row) + " |")
    for family, (code, why) in NOT_RUN.items():
        lines.append(f"| {family} | {code} | not run | {why} | not run | not run |")
    return "\n".join(lines), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="conformance result files (one per transformers version)")
    parser.add_argument("--out", type=Path, help="write the markdown here as well")
    args = parser.parse_args()
    markdown, counts = table(load(args.results))
    summary = (
        f"{counts['verified']} verified, {counts['refused']} refused, {counts['failing']} failing "
        "(family, explainer, transformers version) cells"
    )
    text = markdown + "\n\n" + summary + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if counts["failing"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
