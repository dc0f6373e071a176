"""Benchmark any model on a panel of proteins with known structures: every explainer's contact precision and cost.

    interp benchmark contacts --model facebook/esm2_t33_650M_UR50D --panel builtin --out esm2-650m \\
        --device cuda --methods jacobian attention-mean attention-top-k esm-head

The first `--calibration N` proteins of the panel (default 10, as the attention paper does) only choose heads or fit
weights (`attention-top-k`, `attention-logistic`, `attention-calibrated`) and are left out of every method's scores,
so all methods are compared on the same held-out proteins. Written to `--out`:
- `per_protein.csv`: protein, length, method, range, k, precision, seconds (one row per range and k);
- `summary.json` and `summary.md`: per method the mean precision for every range and k over the held-out proteins,
  seconds per protein, peak memory (CUDA's peak on a GPU; on a CPU the process's high-water mark so far), the
  calibration split, the methods that were not available on this model and why, and any protein that failed;
- `precision_vs_cost.png`: long-range P@L against seconds per protein.
A killed run started again with the same `--out` resumes: every finished (protein, method) is kept in
`progress.jsonl` (a line written and synced once its result is complete) and never computed or written twice; the
fitted combiners are kept in `combiners/` and reused. A protein that fails is reported by name and the rest go on.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from interp.benchmarks.common import default_results_dir, machine, markdown_table, timed
from interp.benchmarks.contact_methods import (
    BENCHMARK_METHODS,
    CALIBRATED,
    HeadRule,
    build_explainer,
    check_methods,
    describe_fit,
    fitting_data,
    prepare,
)
from interp.errors import InterpError
from interp.io import atomic_write
from interp.metrics import DEFAULT_KS, RANGES, contact_precision

CSV_COLUMNS = ["protein", "length", "method", "range", "k", "precision", "seconds"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="interp benchmark contacts", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help='a Hub name, a local folder, or "default" (embedded model)')
    parser.add_argument("--panel", default="builtin", help='"builtin", a folder of PDB/mmCIF files, or a TSV file')
    parser.add_argument("--out", type=Path, default=default_results_dir() / "contacts",
                        help="folder for the results; a killed run resumes here (default: RESULTS/contacts)")
    parser.add_argument("--methods", nargs="+", default=list(BENCHMARK_METHODS), help="methods to compare")
    parser.add_argument("--calibration", type=int, default=10, help="first N proteins: fitting only, never scored")
    parser.add_argument("--limit", type=int, default=None, help="use the first N proteins of the panel")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: the model's own)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"], help="weights' dtype")
    parser.add_argument("--top-k", type=int, default=None,
                        help="heads kept by attention-top-k and -calibrated (default 16, at most a quarter of the heads)")
    parser.add_argument("--head-rule", default="L/2@24", help="how attention-top-k ranks heads: K@MIN_SEPARATION")
    parser.add_argument("--batch-size", type=int, default=None, help="mutants per forward for the Jacobians")
    parser.add_argument("--memory-limit", type=float, default=None,
                        help="GB each explainer may use (default: the device's free memory); a protein that needs "
                        "more is reported as failed and the rest go on")  # fmt: skip
    parser.add_argument("--trust-remote-code", action="store_true", help="let the model's repository run its code")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def precision_rows(protein: str, length: int, method: str, seconds: float, contacts: torch.Tensor, truth: Any) -> list[dict[str, Any]]:
    """One row per range and k: `contact_precision` of this map against the panel entry's true contacts."""
    rows = []
    for range_name, (low, high) in RANGES.items():
        for k in DEFAULT_KS:
            value = contact_precision(contacts, truth.contacts, resolved=truth.resolved, k=k, min_separation=low,
                                      max_separation=high)  # fmt: skip
            rows.append({"protein": protein, "length": length, "method": method, "range": range_name, "k": k,
                         "precision": value, "seconds": seconds})  # fmt: skip
    return rows


def read_progress(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Finished (protein, method) results of earlier runs.

    A torn last line (a run killed while writing it) is cut off the file, so the next result starts a line of its
    own; that (protein, method) is computed again.
    """
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if path.is_file():
        text = path.read_text()
        if text and not text.endswith("\n"):
            with open(path, "r+") as handle:
                handle.truncate(len(text[: text.rfind("\n") + 1].encode()))
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            done.setdefault((record["protein"], record["method"]), record)
    return done


def append_progress(path: Path, record: dict[str, Any]) -> None:
    """Add one finished result: written, flushed and synced before the run moves on."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def peak_memory_gb(device: torch.device) -> float:
    """CUDA's peak allocation on a GPU; elsewhere the process's resident high-water mark (Linux: KiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def check_run(out: Path, run: dict[str, Any]) -> None:
    """Refuse to resume into a folder that holds another run's results (another model, panel or split)."""
    path = out / "run.json"
    if path.is_file():
        earlier = json.loads(path.read_text())
        keys = ("model", "panel", "calibration", "head_rule", "top_k", "dtype")
        different = [key for key in keys if earlier.get(key) != run.get(key)]
        if different:
            raise InterpError(f"{out} holds the results of another run (different {', '.join(different)}); "
                              "use another --out")  # fmt: skip
    else:
        with atomic_write(path) as handle:
            json.dump(run, handle, indent=1)


def summarise(records: Iterable[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """Per method: mean precision per range and k over the proteins scored (NaN where a protein has no candidate
    pair in a range is left out of that mean), seconds per protein, peak memory."""
    by_method: dict[str, list[dict[str, Any]]] = {method: [] for method in methods}
    for record in records:
        if "rows" in record and record["method"] in by_method:
            by_method[record["method"]].append(record)
    summary = []
    for method, done in by_method.items():
        if not done:
            continue
        entry: dict[str, Any] = {"method": method, "proteins": len(done)}
        for range_name in RANGES:
            for k in DEFAULT_KS:
                values = [row["precision"] for record in done for row in record["rows"]
                          if row["range"] == range_name and row["k"] == k and not math.isnan(row["precision"])]  # fmt: skip
                entry[f"{range_name}_P@{k}"] = sum(values) / len(values) if values else math.nan
        entry["seconds_per_protein"] = sum(record["seconds"] for record in done) / len(done)
        entry["peak_memory_gb"] = max(record["peak_memory_gb"] for record in done)
        summary.append(entry)
    return summary


def write_outputs(out: Path, records: dict[tuple[str, str], dict[str, Any]], payload: dict[str, Any]) -> None:
    """per_protein.csv, summary.json, summary.md and the precision-versus-cost plot, each written atomically."""
    from interp.plotting import plot_tradeoff

    with atomic_write(out / "per_protein.csv") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in records.values():
            writer.writerows(record.get("rows", []))
    with atomic_write(out / "summary.json") as handle:
        json.dump(payload, handle, indent=1, default=str)
    columns = ["method", "proteins", *[f"{r}_P@{k}" for r in ("long", "medium", "short") for k in DEFAULT_KS],
               "seconds_per_protein", "peak_memory_gb"]  # fmt: skip
    lines = [
        f"# Contact precision on {payload['panel']} ({payload['model']})",
        "",
        *[f"- {key}: {value}" for key, value in payload["machine"].items()],
        f"- calibration proteins (fitting only, never scored): {', '.join(payload['calibration']) or 'none'}",
        f"- scored proteins: {payload['scored_proteins']}",
        "",
        markdown_table(payload["summary"], columns),
    ]
    if payload["unavailable"]:
        lines += ["", "Not available on this model:", *[f"- {m}: {why}" for m, why in payload["unavailable"].items()]]
    if payload["failures"]:
        lines += ["", "Failed:", *[f"- {f['protein']} ({f['method']}): {f['error']}" for f in payload["failures"]]]
    with atomic_write(out / "summary.md") as handle:
        handle.write("\n".join(lines) + "\n")
    points = [{"method": row["method"], "seconds": row["seconds_per_protein"], "long_P@L": row["long_P@L"]}
              for row in payload["summary"] if not math.isnan(row["long_P@L"])]  # fmt: skip
    if points:
        figure = plot_tradeoff(points)
        with atomic_write(out / "precision_vs_cost.png", mode="wb") as handle:
            figure.savefig(handle, format="png", dpi=120)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the summary payload (also written to `--out`)."""
    from tqdm.auto import tqdm

    from interp.loading import load_model
    from interp.panel import load_panel

    args = parse_args(argv)
    methods = check_methods(args.methods)
    rule = HeadRule.parse(args.head_rule)
    dtype = None if args.dtype is None else getattr(torch, args.dtype)
    model, tokenizer = load_model(args.model, trust_remote_code=args.trust_remote_code, device=args.device, dtype=dtype)
    device = next(model.parameters()).device
    panel = load_panel(args.panel, limit=args.limit)
    if args.calibration < 0 or args.calibration >= len(panel):
        raise InterpError(f"--calibration {args.calibration} leaves no protein to score in a panel of {len(panel)}")
    calibration, held_out = panel[: args.calibration], panel[args.calibration :]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    run = {"model": args.model, "panel": str(args.panel), "calibration": [e.name for e in calibration],
           "head_rule": args.head_rule, "top_k": args.top_k, "dtype": args.dtype}  # fmt: skip
    check_run(out, run)
    progress_path = out / "progress.jsonl"
    records = read_progress(progress_path)
    explainers, unavailable, fitted, failures = {}, {}, {}, []
    for method in methods:
        try:
            explainer = build_explainer(method, model, tokenizer, options={"batch_size": args.batch_size, "memory_limit": None if args.memory_limit is None else int(args.memory_limit * 1e9)})
            saved = out / "combiners" / f"{method}.json"
            seconds, explainer = timed(partial(prepare, method, explainer, calibration, top_k=args.top_k, rule=rule,
                                               saved=saved))  # fmt: skip
        except InterpError as error:
            unavailable[method] = str(error)
            print(f"{method}: not available: {error}", file=sys.stderr)
            continue
        explainers[method] = explainer
        if method in CALIBRATED:
            cropped = fitting_data(calibration, explainer.adapter)[2]
            fitted[method] = {"seconds": seconds, **describe_fit(saved), "cropped_to_model_length": cropped}
    bar = tqdm(held_out, desc="proteins", unit="protein", disable=args.no_progress)
    for entry in bar:
        for method, explainer in explainers.items():
            if (entry.name, method) in records:
                continue
            bar.set_postfix_str(f"{entry.name} {method}")
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                seconds, prediction = timed(partial(explainer.attribute, entry.sequence))
            except (InterpError, torch.cuda.OutOfMemoryError) as error:
                failures.append({"protein": entry.name, "method": method, "error": str(error)})
                tqdm.write(f"{entry.name} ({method}) failed: {error}")
                continue
            record = {"protein": entry.name, "method": method, "seconds": seconds,
                      "peak_memory_gb": peak_memory_gb(device),
                      "rows": precision_rows(entry.name, len(entry.sequence), method, seconds, prediction.contacts,
                                             entry.truth)}  # fmt: skip
            append_progress(progress_path, record)
            records[(entry.name, method)] = record
    scored = sorted({name for name, _ in records})
    payload = {
        "machine": machine(),
        "model": args.model,
        "panel": str(args.panel),
        "device": str(device),
        "dtype": args.dtype or str(next(model.parameters()).dtype).removeprefix("torch."),
        "calibration": [entry.name for entry in calibration],
        "scored_proteins": len(scored),
        "head_rule": f"mean P@{rule.k}, pairs j - i >= {rule.min_separation}",
        "fitted": fitted,
        "summary": summarise(records.values(), methods),
        "unavailable": unavailable,
        "failures": failures,
        "panel_failures": [{"source": name, "error": error} for name, error in panel.failures],
        "methods": {method: BENCHMARK_METHODS[method] for method in methods},
    }
    write_outputs(out, records, payload)
    print((out / "summary.md").read_text())
    if not scored:  # an empty table is no result: say why, and exit non-zero (the command line exits 2)
        reasons = [f"{method}: not available: {why}" for method, why in unavailable.items()]
        reasons += [f"{f['protein']} ({f['method']}): {f['error']}" for f in failures]
        raise InterpError("no protein was scored by any method; " + ("; ".join(reasons) or "no method ran"))
    return payload


if __name__ == "__main__":
    main()
