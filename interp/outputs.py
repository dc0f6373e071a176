"""The files written for one predicted map: .npz (map), top pairs as CSV, a CASP RR file, a PNG (true
contacts overlaid when known) and the precision table (CSV); shared by `interp demo` and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from interp.io import atomic_write, safe_file_name, write_rr
from interp.metrics import unpack_truth


def write_prediction_files(prediction: Any, out_dir: str | Path, *, truth: Any = None, stem: str | None = None,
                           min_separation: int = 6) -> dict[str, Path]:  # fmt: skip
    """Write the outputs of one prediction into out_dir; returns {kind: path}. File names come from the
    record name through `safe_file_name`, so they stay inside out_dir whatever the id holds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = safe_file_name(stem or prediction.name or "prediction", suffix="") + f".{prediction.method}"
    paths = {kind: out_dir / f"{base}.{ext}" for kind, ext in
             (("npz", "npz"), ("pairs", "pairs.csv"), ("rr", "rr"), ("png", "png"), ("precision", "precision.csv"))}  # fmt: skip
    prediction.save(paths["npz"])
    pairs = prediction.top(len(prediction), min_separation=min_separation)
    with atomic_write(paths["pairs"], "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["i", "j", "score", "separation", *(["in_contact"] if truth is not None else [])])
        contacts = None if truth is None else unpack_truth(truth)[0]
        for p in pairs:
            row = [p.i + 1, p.j + 1, f"{p.score:.6g}", p.j - p.i]
            writer.writerow(row + ([int(bool(contacts[p.i, p.j]))] if contacts is not None else []))
    write_rr(paths["rr"], prediction.contacts, prediction.sequence, k=len(prediction), min_separation=min_separation,
             target=prediction.name or "interp", method=prediction.method)  # fmt: skip
    figure = prediction.plot(truth)
    with atomic_write(paths["png"], "wb") as handle:  # a killed run leaves no half-drawn PNG
        figure.savefig(handle, dpi=110, format="png")
    if truth is not None:
        table = prediction.precision(truth)
        with atomic_write(paths["precision"], "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["metric", "precision"])
            writer.writerows([name, f"{value:.4f}"] for name, value in table.items())
    else:
        del paths["precision"]
    return paths
