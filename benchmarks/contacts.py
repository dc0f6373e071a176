"""Benchmark any model on a panel of proteins with known structures: every explainer's contact precision and cost.

    interp benchmark contacts --model facebook/esm2_t33_650M_UR50D --panel builtin --out esm2-650m \\
        --device cuda --methods jacobian attention-mean attention-top-k esm-head

The first `--calibration N` proteins of the panel (default 10, as the attention paper does) only choose heads or fit
weights (`attention-top-k`, `attention-logistic`, `attention-calibrated`) and are left out of every method's scores,
so all methods are compared on the same held-out proteins. Written to `--out`:
- `per_protein.csv`: protein, length, method, range, k, precision, seconds (one row per range and k);
- `summary.json` and `summary.md`: per method the mean precision for every range and k over the held-out proteins
  that every method scored (a protein some method has no result for is dropped from the comparison, and named), the
  chance precision of a random pick on the same proteins per range, seconds per protein, peak memory (CUDA's peak on
  a GPU; on a CPU the process's high-water mark so far), the calibration split, the methods that were not available
  on this model and why, and any protein that failed. summary.md leads with a short table (long-range P@L and P@L/5,
  P@L against chance, seconds per protein), then every range under "All ranges"; precisions to 3 decimals, seconds
  and GB to 3 significant digits. `--rewrite-summary` writes summary.md and the plot again from summary.json alone;
- `precision_vs_cost.png`: long-range P@L against seconds per protein.
- with `--per-layer`: every method that gives per-layer maps (the Jacobians, attention) also scores one map per
  layer from the same run; summary.json gains "layers" (per method, per layer, the mean precision for every range
  and k over the same proteins), summary.md a "Per layer" section (P@L by range per layer, the best layer of each
  range), `per_layer.csv` the table and `per_layer_<method>.png` precision against layer.
Progress goes to stderr: a bar over the (protein, method) maps on a terminal, one flushed line per finished, failed
or kept map otherwise (a log); `--no-progress` silences both.
A killed run started again with the same `--out` resumes: every finished (protein, method) is kept in
`progress.jsonl` (a line written and synced once its result is complete) and never computed or written twice; the
fitted combiners are kept in `combiners/` and reused. Only this run's held-out proteins (after `--limit`) and methods
enter the outputs: results kept from a larger run stay in `progress.jsonl` for later. A protein that fails is reported
by name and the rest go on.
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

from interp.benchmarks.common import default_results_dir, machine, machine_lines, markdown_table, timed
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
from interp.files.io import atomic_write, safe_file_name
from interp.methods import benchmark_variants
from interp.scoring.metrics import DEFAULT_KS, RANGES, chance_precision, nanmean_precision, precision_matrix

CSV_COLUMNS = ["protein", "length", "method", "range", "k", "precision", "seconds"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="interp benchmark contacts", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help='a Hub name, a local folder, "default" (embedded model), or antiberty, sapiens-heavy, sapiens-light')
    parser.add_argument("--panel", default="builtin", help='"builtin", "antibody", "antibody-heavy", "antibody-light", a folder of PDB/mmCIF files, or a TSV file')
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
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress on stderr (by default a bar on a terminal, a line per result in a log)")
    parser.add_argument("--per-layer", action="store_true",
                        help="also score one map per layer (methods that give them): where in the network contacts are")  # fmt: skip
    parser.add_argument("--rewrite-summary", action="store_true",
                        help="only write summary.md and the plot of --out again from its summary.json (no model loaded)")
    return parser.parse_args(argv)


def precision_rows(
    protein: str, length: int, method: str, seconds: float, contacts: torch.Tensor, truth: Any
) -> list[dict[str, Any]]:
    """One row per range and k: `precision_matrix` (`contact_precision` for every range and k) of this map against
    the panel entry's true contacts.

    Args:
        protein: the panel entry's name.
        length: its number of residues.
        method: the method that predicted the map.
        seconds: how long the map took.
        contacts: the predicted map [L, L].
        truth: the panel entry's truth (`.contacts` and `.resolved`).

    Returns:
        One dict per range (`RANGES` order) and k (`DEFAULT_KS` order), with the columns of `CSV_COLUMNS`.
    """
    values = precision_matrix(contacts, truth.contacts, resolved=truth.resolved, ranges=tuple(RANGES), ks=DEFAULT_KS)
    return [{"protein": protein, "length": length, "method": method, "range": range_name, "k": k,
             "precision": values[r, c].item(), "seconds": seconds}
            for r, range_name in enumerate(RANGES) for c, k in enumerate(DEFAULT_KS)]  # fmt: skip


def layer_precision_rows(layer_contacts: torch.Tensor, truth: Any) -> list[list[list[float]]]:
    """Per layer, the [range][k] precisions (`precision_matrix`, `RANGES` and `DEFAULT_KS` order) of that layer's map.

    Args:
        layer_contacts: the per-layer maps [layers, L, L] (`ContactPrediction.layer_contacts`).
        truth: the panel entry's truth (`.contacts` and `.resolved`).

    Returns:
        Nested lists [layers][ranges][ks] of floats (NaN where a range has no candidate pair), JSON-ready.
    """
    return [precision_matrix(layer, truth.contacts, resolved=truth.resolved, ranges=tuple(RANGES), ks=DEFAULT_KS).tolist()
            for layer in layer_contacts]  # fmt: skip


def summarise_layers(records: Iterable[dict[str, Any]], summary: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per method with per-layer results, per layer: the mean precision for every range and k (`nanmean_precision`)
    over the same proteins as the method's summary row (the proteins every method scored).

    Args:
        records: finished (protein, method) results; those with "layer_rows" count.
        summary: the rows of `summarise` (their "proteins" are the shared proteins; their dropped ones are left out).

    Returns:
        {method: [{"layer": n (1-based), "proteins": count, "{range}_P@{k}": mean}, ...]}; a method some shared
        protein has no per-layer result for is left out.
    """
    by_method: dict[str, dict[str, list]] = {}
    for record in records:
        if "layer_rows" in record:
            by_method.setdefault(record["method"], {})[record["protein"]] = record["layer_rows"]
    layers: dict[str, list[dict[str, Any]]] = {}
    for row in summary:
        done = by_method.get(row["method"], {})
        dropped = set(row.get("dropped_proteins", []))
        proteins = [name for name in done if name not in dropped]
        if not proteins or len(proteins) != row["proteins"]:
            continue
        means = nanmean_precision(torch.tensor([done[name] for name in proteins], dtype=torch.float64))
        layers[row["method"]] = [
            {"layer": n + 1, "proteins": len(proteins),
             **{f"{r}_P@{k}": means[n, a, b].item() for a, r in enumerate(RANGES) for b, k in enumerate(DEFAULT_KS)}}
            for n in range(means.shape[0])
        ]  # fmt: skip
    return layers


def chance_by_range(truth: Any) -> dict[str, float]:
    """The chance precision of one protein in each range (`interp.scoring.metrics.chance_precision`).

    Args:
        truth: the panel entry's truth (`.contacts` and `.resolved`).

    Returns:
        A dict from range name ("short", "medium", "long") to true contacts / candidate pairs (NaN: no candidate).
    """
    return {name: chance_precision(truth, min_separation=low, max_separation=high) for name, (low, high) in RANGES.items()}


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
            done[(record["protein"], record["method"])] = record  # a later line is a redo (e.g. with per-layer rows)
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


def nanmean(values: Iterable[float]) -> float:
    """The mean of the values that are not NaN (`interp.scoring.metrics.nanmean_precision` of one number per protein).

    Args:
        values: numbers, NaN for one left out.

    Returns:
        The mean of those that are not NaN; NaN if none is.
    """
    return float(nanmean_precision(torch.tensor(list(values), dtype=torch.float64)))


def precision_means(records: list[dict[str, Any]]) -> torch.Tensor:
    """The mean precision per range and k over `records` (`nanmean_precision`): the rows of each record as a
    [range, k] map (`precision_rows` order), NaN where a record has no row for a range and k.

    Args:
        records: finished (protein, method) results, each with its "rows" (`precision_rows`).

    Returns:
        A float64 tensor [len(RANGES), len(DEFAULT_KS)]: per range and k the mean over the records whose precision
            is defined there (NaN where none is).
    """
    values = torch.full((len(records), len(RANGES), len(DEFAULT_KS)), math.nan, dtype=torch.float64)
    ranges, ks = list(RANGES), list(DEFAULT_KS)
    for n, record in enumerate(records):
        for row in record["rows"]:
            if row["range"] in ranges and row["k"] in ks:
                values[n, ranges.index(row["range"]), ks.index(row["k"])] = row["precision"]
    return nanmean_precision(values)


def summarise(
    records: Iterable[dict[str, Any]], methods: list[str], chance: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    """Per method, over the proteins every summarised method has scored: mean precision per range and k, the chance.

    Methods are compared on the same proteins: every mean is over the proteins scored by each method in `methods`
    that scored at least one (a method with none is left out of the summary and of that rule); a protein one of
    them lacks (it failed, or a resumed run has not reached it) is dropped from every mean and named in the rows of
    the methods that scored it.

    Args:
        records: finished (protein, method) results, as `progress.jsonl` holds them (a record without "rows" is
            ignored).
        methods: the methods to summarise, in the summary's order.
        chance: per protein, its chance precision per range (`chance_by_range`); every scored protein needs one.

    Returns:
        One row per method that scored any protein: "proteins" (the shared proteins the means are over),
            "dropped" and "dropped_proteins" (its own proteins left out), "{range}_P@{k}" (mean precision; a protein
            with no candidate pair in a range, NaN, is left out of that mean), "{range}_chance" (the mean chance
            precision over the same proteins, with the same NaN rule), "seconds_per_protein" and "peak_memory_gb".
    """
    by_method: dict[str, dict[str, dict[str, Any]]] = {method: {} for method in methods}
    for record in records:
        if "rows" in record and record["method"] in by_method:
            by_method[record["method"]].setdefault(record["protein"], record)
    scored = {method: done for method, done in by_method.items() if done}
    shared = sorted(set.intersection(*(set(done) for done in scored.values()))) if scored else []
    summary = []
    for method, done in scored.items():
        kept = [done[name] for name in shared]
        dropped = sorted(set(done) - set(shared))
        entry: dict[str, Any] = {"method": method, "proteins": len(kept), "dropped": len(dropped),
                                 "dropped_proteins": dropped}  # fmt: skip
        means = precision_means(kept)
        for r, range_name in enumerate(RANGES):
            for c, k in enumerate(DEFAULT_KS):
                entry[f"{range_name}_P@{k}"] = means[r, c].item()
            entry[f"{range_name}_chance"] = nanmean(chance[record["protein"]][range_name] for record in kept)
        entry["seconds_per_protein"] = nanmean(record["seconds"] for record in kept)
        entry["peak_memory_gb"] = max((record["peak_memory_gb"] for record in kept), default=math.nan)
        summary.append(entry)
    return summary


def times_chance(precision: float, chance: float) -> str:
    """A precision as a multiple of chance, for the markdown table: "3.5x" ("" where either is NaN or chance 0)."""
    return f"{precision / chance:.1f}x" if chance > 0 and not math.isnan(precision) else ""


def precision_text(value: Any) -> str:
    """A precision (or chance) in the markdown tables: 3 decimals ("0.025", "0.000"); "n/a" where undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}"


def significant_text(value: Any) -> str:
    """Seconds or gigabytes in the markdown tables and progress lines: 3 significant digits, never an exponent
    ("0.0121", "0.637", "5.39", "123", "4210"); "n/a" where undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


HEADLINE = {"long P@L": "long_P@L", "long P@L/5": "long_P@L/5"}
"""The short table's precision columns and the summary keys they show."""


def headline_table(summary: list[dict[str, Any]]) -> str:
    """The short table summary.md leads with: per method long-range P@L and P@L/5, P@L as a multiple of chance,
    seconds per protein."""
    rows = []
    for row in summary:
        cells: dict[str, Any] = {"method": row["method"], **{label: row[key] for label, key in HEADLINE.items()}}
        cells["long P@L vs chance"] = times_chance(row["long_P@L"], row["long_chance"])
        cells["seconds per protein"] = row["seconds_per_protein"]
        rows.append(cells)
    formats = {**dict.fromkeys(HEADLINE, precision_text), "seconds per protein": significant_text}
    return markdown_table(rows, ["method", *HEADLINE, "long P@L vs chance", "seconds per protein"], formats)


def full_table(summary: list[dict[str, Any]]) -> str:
    """Every column of the summary (the keys of summary.json), precisions to 3 decimals, seconds and GB to 3
    significant digits."""
    columns = ["method", "proteins", "dropped"]
    for r in ("long", "medium", "short"):
        columns += [*[f"{r}_P@{k}" for k in DEFAULT_KS], f"{r}_chance"]
        if r == "long":
            columns.append("long_P@L vs chance")
    columns += ["seconds_per_protein", "peak_memory_gb"]
    rows = [{**row, "long_P@L vs chance": times_chance(row["long_P@L"], row["long_chance"])} for row in summary]
    precisions = [c for c in columns if c.endswith("_chance") or ("_P@" in c and " " not in c)]
    formats: dict[str, Any] = dict.fromkeys(precisions, precision_text)
    formats.update(seconds_per_protein=significant_text, peak_memory_gb=significant_text)
    return markdown_table(rows, columns, formats)


def summary_markdown(payload: dict[str, Any]) -> str:
    """summary.md: the run's header, the short table, then every range under its own heading, and the methods not
    available, the proteins dropped and the failures."""
    summary = payload["summary"]
    lines = [
        f"# Contact precision on {payload['panel']} ({payload['model']})",
        "",
        *machine_lines(payload["machine"]),
        f"- calibration proteins (fitting only, never scored): {', '.join(payload['calibration']) or 'none'}",
        f"- scored proteins: {payload['scored_proteins']} (held-out proteins of this run scored by at least one method)",
        f"- compared on: {payload.get('shared_proteins', payload['scored_proteins'])} proteins scored by every "
        "method below (every mean is over these)",
        "- chance: true contacts / candidate pairs in that range, the precision of a random pick, on the same proteins",
    ]
    if summary:
        lines += ["", headline_table(summary), "",
                  f"Long-range chance on these proteins: {precision_text(summary[0]['long_chance'])}. Long range: "
                  "pairs j - i >= 24; P@L: precision of the L top-ranked pairs (L: resolved residues).",
                  "", "## All ranges", "", full_table(summary)]  # fmt: skip
    else:
        lines += ["", "No method scored any protein."]
    dropped = [f"- {row['method']}: {', '.join(row['dropped_proteins'])}" for row in summary if row.get("dropped")]
    if dropped:
        lines += ["", "Dropped from the comparison (another method has no result for them):", *dropped]
    lines += layers_markdown(payload.get("layers") or {})
    if payload["unavailable"]:
        lines += ["", "Not available on this model:", *[f"- {m}: {why}" for m, why in payload["unavailable"].items()]]
    if payload["failures"]:
        lines += ["", "Failed:", *[f"- {f['protein']} ({f['method']}): {f['error']}" for f in payload["failures"]]]
    return "\n".join(lines) + "\n"


LAYER_COLUMNS = ("short_P@L", "medium_P@L", "long_P@L", "long_P@L/5")
"""The per-layer table's precision columns."""


def layers_markdown(layers: dict[str, list[dict[str, Any]]]) -> list[str]:
    """summary.md's "Per layer" section: per method, P@L by range at every layer, and the best layer of each range."""
    if not layers:
        return []
    lines = ["", "## Per layer", "",
             "One map per layer from the same run (`--per-layer`), scored as the method's own map, over the same "
             "proteins. Layer 1 is the first block."]  # fmt: skip
    for method, rows in layers.items():
        best = []
        for key in LAYER_COLUMNS[:3]:
            scored = [row for row in rows if not math.isnan(row[key])]
            if scored:
                top = max(scored, key=lambda row: row[key])
                best.append(f"{key.split('_')[0]}-range P@L peaks at layer {top['layer']} ({precision_text(top[key])})")
        lines += ["", f"### {method}", "", markdown_table(rows, ["layer", *LAYER_COLUMNS], dict.fromkeys(LAYER_COLUMNS, precision_text))]
        lines += ["", "; ".join(best) + "." if best else "No layer could be scored."]
    return lines


def write_report(out: Path, payload: dict[str, Any]) -> None:
    """summary.md and the precision-versus-cost plot from the summary payload, each written atomically."""
    from interp.files.plotting import plot_layer_precision, plot_tradeoff

    with atomic_write(out / "summary.md") as handle:
        handle.write(summary_markdown(payload))
    points = [{"method": row["method"], "seconds": row["seconds_per_protein"], "long_P@L": row["long_P@L"]}
              for row in payload["summary"] if not math.isnan(row["long_P@L"])]  # fmt: skip
    if points:
        figure = plot_tradeoff(points, title=f"Contact precision against cost: {payload['model']}, {payload['panel']}")
        with atomic_write(out / "precision_vs_cost.png", mode="wb") as handle:
            figure.savefig(handle, format="png", dpi=120)
    for method, rows in (payload.get("layers") or {}).items():
        tables = [{key: row[key] for key in row if "_P@" in key} for row in rows]
        figure = plot_layer_precision(tables, title=f"Precision by layer: {method}, {payload['model']}")
        with atomic_write(out / f"per_layer_{safe_file_name(method, suffix='')}.png", mode="wb") as handle:
            figure.savefig(handle, format="png", dpi=120)


def write_outputs(out: Path, records: dict[tuple[str, str], dict[str, Any]], payload: dict[str, Any]) -> None:
    """per_protein.csv, summary.json, summary.md and the precision-versus-cost plot, each written atomically."""
    with atomic_write(out / "per_protein.csv") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in records.values():
            writer.writerows(record.get("rows", []))
    if payload.get("layers"):
        with atomic_write(out / "per_layer.csv") as handle:
            table = csv.writer(handle)
            columns = [key for key in next(iter(payload["layers"].values()))[0] if "_P@" in key]
            table.writerow(["method", "layer", "proteins", *columns])
            for method, rows in payload["layers"].items():
                table.writerows([method, row["layer"], row["proteins"], *(f"{row[c]:.4f}" for c in columns)] for row in rows)
    with atomic_write(out / "summary.json") as handle:
        json.dump(payload, handle, indent=1, default=str)
    write_report(out, payload)


def rewrite_summary(out: Path) -> dict[str, Any]:
    """summary.md and the plot written again from a finished run's summary.json, in the current layout: no model
    loaded, no map computed, summary.json, per_protein.csv and progress.jsonl left as they are.

    Returns:
        The payload read from summary.json.
    """
    path = out / "summary.json"
    if not path.is_file():
        raise InterpError(f"{out}: no summary.json to summarise again (run the benchmark first)")
    payload = json.loads(path.read_text())
    write_report(out, payload)
    return payload


class Progress:
    """Where a run is, on stderr: a tqdm bar over the (protein, method) results to compute when stderr is a
    terminal; one flushed line per finished, failed or kept result when it is not (a log file, CI); nothing with
    --no-progress.

    Args:
        proteins: the number of held-out proteins (the N of "[i/N]").
        tasks: the (protein, method) results left to compute.
        enabled: False for --no-progress.
    """

    def __init__(self, proteins: int, tasks: int, *, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.proteins = proteins
        terminal = enabled and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.lines = enabled and not terminal
        self.bar = tqdm(total=tasks, desc="contacts", unit="map", disable=not terminal, file=sys.stderr)
        self.write = tqdm.write

    def say(self, text: str) -> None:
        """A line of its own: above the bar on a terminal, flushed in a log; nothing when progress is off."""
        if self.lines:
            print(text, file=sys.stderr, flush=True)
        elif not self.bar.disable:
            self.write(text, file=sys.stderr)

    def start(self, index: int, protein: str, method: str) -> None:
        self.bar.set_postfix_str(f"{protein} {method}")

    def finished(self, index: int, record: dict[str, Any]) -> None:
        """One (protein, method) done: the bar moves, or a line with its seconds and long-range P@L."""
        self.bar.update(1)
        if self.lines:
            long_l = next((row["precision"] for row in record["rows"] if row["range"] == "long" and row["k"] == "L"),
                          math.nan)  # fmt: skip
            self.say(f"[{index}/{self.proteins}] {record['protein']} {record['method']}: "
                     f"{significant_text(record['seconds'])} s, long P@L {precision_text(long_l)}")  # fmt: skip

    def failed(self, index: int, protein: str, method: str, error: Exception) -> None:
        self.bar.update(1)
        self.say(f"[{index}/{self.proteins}] {protein} {method}: failed: {error}")

    def kept(self, index: int, protein: str, methods: list[str]) -> None:
        """Results an earlier run finished (progress.jsonl): not computed again."""
        if self.lines:
            self.say(f"[{index}/{self.proteins}] {protein}: skipped {', '.join(methods)} (kept from progress.jsonl)")

    def close(self) -> None:
        self.bar.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the summary payload (also written to `--out`)."""
    from interp.models.loading import load_model
    from interp.structures.panel import load_panel

    args = parse_args(argv)
    if args.rewrite_summary:
        return rewrite_summary(args.out)
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
    layered: set[str] = set()  # methods scored per layer too (--per-layer)

    def finished(protein: str, method: str) -> bool:  # per-layer rows are asked for and missing: compute again
        record = records.get((protein, method))
        return record is not None and (method not in layered or "layer_rows" in record)

    memory_limit = None if args.memory_limit is None else int(args.memory_limit * 1e9)
    options = {"batch_size": args.batch_size, "memory_limit": memory_limit, "per_layer": args.per_layer or None}
    for method in methods:
        try:
            explainer = build_explainer(method, model, tokenizer, options=options)
            saved = out / "combiners" / f"{method}.json"
            if method in CALIBRATED and calibration and not saved.is_file() and not args.no_progress:
                plural = "" if len(calibration) == 1 else "s"
                print(f"{method}: fitting on {len(calibration)} calibration protein{plural}", file=sys.stderr, flush=True)
            seconds, explainer = timed(partial(prepare, method, explainer, calibration, top_k=args.top_k, rule=rule,
                                               saved=saved))  # fmt: skip
        except InterpError as error:
            unavailable[method] = str(error)
            print(f"{method}: not available: {error}", file=sys.stderr, flush=True)
            continue
        explainers[method] = explainer
        if args.per_layer and benchmark_variants()[method][0].gives_per_layer:
            layered.add(method)
        if method in CALIBRATED:
            cropped = fitting_data(calibration, explainer.adapter)[2]
            fitted[method] = {"seconds": seconds, **describe_fit(saved), "cropped_to_model_length": cropped}
    left = sum(not finished(entry.name, method) for entry in held_out for method in explainers)
    progress = Progress(len(held_out), left, enabled=not args.no_progress)
    for index, entry in enumerate(held_out, start=1):
        kept = [method for method in explainers if finished(entry.name, method)]
        if kept:
            progress.kept(index, entry.name, kept)
        for method, explainer in explainers.items():
            if finished(entry.name, method):
                continue
            progress.start(index, entry.name, method)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                seconds, prediction = timed(partial(explainer.attribute, entry.sequence))
            except (InterpError, torch.cuda.OutOfMemoryError) as error:
                failures.append({"protein": entry.name, "method": method, "error": str(error)})
                progress.failed(index, entry.name, method, error)
                continue
            record = {"protein": entry.name, "method": method, "seconds": seconds,
                      "peak_memory_gb": peak_memory_gb(device),
                      "rows": precision_rows(entry.name, len(entry.sequence), method, seconds, prediction.contacts,
                                             entry.truth)}  # fmt: skip
            if method in layered:
                record["layer_rows"] = layer_precision_rows(prediction.layer_contacts, entry.truth)
            append_progress(progress_path, record)
            records[(entry.name, method)] = record
            progress.finished(index, record)
    progress.close()
    current = {entry.name for entry in held_out}  # a resumed run with a smaller --limit leaves the rest out
    records = {key: record for key, record in records.items() if key[0] in current and key[1] in methods}
    scored = sorted({name for name, _ in records})
    chance = {entry.name: chance_by_range(entry.truth) for entry in held_out if entry.name in scored}
    summary = summarise(records.values(), methods, chance)
    payload = {
        "machine": machine(),
        "model": args.model,
        "panel": str(args.panel),
        "device": str(device),
        "dtype": args.dtype or str(next(model.parameters()).dtype).removeprefix("torch."),
        "calibration": [entry.name for entry in calibration],
        "scored_proteins": len(scored),
        "shared_proteins": summary[0]["proteins"] if summary else 0,
        "head_rule": f"mean P@{rule.k}, pairs j - i >= {rule.min_separation}",
        "fitted": fitted,
        "summary": summary,
        "unavailable": unavailable,
        "failures": failures,
        "panel_failures": [{"source": name, "error": error} for name, error in panel.failures],
        "methods": {method: BENCHMARK_METHODS[method] for method in methods},
    }
    if args.per_layer:
        payload["layers"] = summarise_layers(records.values(), summary)
    write_outputs(out, records, payload)
    print((out / "summary.md").read_text())
    if not scored:  # an empty table is no result: say why, and exit non-zero (the command line exits 2)
        reasons = [f"{method}: not available: {why}" for method, why in unavailable.items()]
        reasons += [f"{f['protein']} ({f['method']}): {f['error']}" for f in failures]
        raise InterpError("no protein was scored by any method; " + ("; ".join(reasons) or "no method ran"))
    return payload


if __name__ == "__main__":
    main()
