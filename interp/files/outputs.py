"""The files written for one predicted map: .npz (map), top pairs as CSV, a CASP RR file, a PNG (true
contacts overlaid when known) and the precision table (CSV); with per-layer maps also a per-layer figure (and a
per-layer precision CSV when the structure is known); shared by `interp demo` and the CLI.

The CSV and the RR file list the same pairs: in every separation range, the best L pairs (counting only
pairs of resolved residues when the structure is known), so that `interp score` on either file gives the
numbers the .npz gives, for every range and every k up to L.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from interp.files.io import atomic_write, safe_file_name, write_rr
from interp.maps.contacts import Pair
from interp.scoring.metrics import RANGES, unpack_truth

__all__ = ["pairs_for_every_range", "prediction_file_paths", "write_layer_files", "write_prediction_files"]

_KINDS = (("npz", "npz"), ("pairs", "pairs.csv"), ("rr", "rr"), ("png", "png"), ("precision", "precision.csv"),
          ("layers_png", "layers.png"), ("layers_precision", "layers.csv"))  # fmt: skip


def prediction_file_paths(out_dir: str | Path, stem: str, method: str, *, truth: bool, per_layer: bool) -> dict[str, Path]:
    """The paths `write_prediction_files` writes for one record, so a resumed run can see which records are done.

    Args:
        out_dir: the output folder.
        stem: the record's file stem (made file-safe here, as when writing).
        method: the recorded method (`ContactPrediction.method`, e.g. "categorical_jacobian").
        truth: whether a structure is scored against (adds "precision" and, with `per_layer`, "layers_precision").
        per_layer: whether the prediction holds per-layer maps (adds "layers_png").

    Returns:
        {kind: path}: a record is complete when every one exists (each is written atomically).
    """
    base = safe_file_name(stem, suffix="") + f".{method}"
    paths = {kind: Path(out_dir) / f"{base}.{ext}" for kind, ext in _KINDS}
    if not truth:
        del paths["precision"], paths["layers_precision"]
    if not per_layer:
        paths.pop("layers_png"), paths.pop("layers_precision", None)
    return paths


def pairs_for_every_range(contacts: torch.Tensor, *, resolved: torch.Tensor | None = None,
                          min_separation: int = 6) -> list[Pair]:  # fmt: skip
    """The pairs a file must list for P@L, P@L/2 and P@L/5 of every range to be scored from it.

    In each range of `interp.scoring.metrics.RANGES` (short, medium, long), the best pairs down to the L-th pair
    whose two residues are resolved; their union, ranked as `interp.top_pairs` ranks (score, then (i, j)).

    Args:
        contacts: the predicted map [L, L], finite.
        resolved: a bool [L] mask of the residues the structure resolves; None counts every residue.
        min_separation: the smallest separation j - i listed.

    Returns:
        The pairs (0-based i < j, score), best first.
    """
    length = contacts.shape[0]
    i, j = torch.triu_indices(length, length, offset=max(min_separation, 1))
    scores = contacts.detach().to("cpu", torch.float64)[i, j]
    order = torch.sort(scores, descending=True, stable=True).indices  # ties in (i, j) order, as top_pairs
    i, j, scores = i[order], j[order], scores[order]
    counts = torch.ones_like(i, dtype=torch.bool) if resolved is None else resolved.cpu()[i] & resolved.cpu()[j]
    keep = torch.zeros_like(i, dtype=torch.bool)
    for low, high in RANGES.values():
        in_range = (j - i >= low) & ((j - i <= high) if high is not None else True)
        counted = torch.cumsum((in_range & counts).long(), 0)
        # every pair of the range up to (and including) its L-th counted pair
        keep |= in_range & (counted - (in_range & counts).long() < length)
    return [Pair(int(a), int(b), float(s)) for a, b, s in zip(i[keep], j[keep], scores[keep], strict=True)]


def write_prediction_files(prediction: Any, out_dir: str | Path, *, truth: Any = None, stem: str | None = None,
                           min_separation: int = 6, precision: Mapping[str, float] | None = None) -> dict[str, Path]:  # fmt: skip
    """Write the outputs of one prediction into out_dir.

    Args:
        prediction: a `ContactPrediction`.
        out_dir: the folder (created).
        truth: the true contacts (a `ContactMap` or a bool [L, L] map), or None; adds the precision CSV, the
            pairs' `in_contact` column and the overlay of the PNG.
        stem: the file names' stem; None takes the record's name. Made file-safe by `safe_file_name`, so the
            files stay inside out_dir whatever the name holds.
        min_separation: the smallest separation j - i of the listed pairs.
        precision: `prediction.precision(truth)` when the caller already has it (e.g. to print it); None
            computes it here, once, for the CSV and the figure.

    Returns:
        {kind: path} for "npz", "pairs", "rr", "png" and (with `truth`) "precision".
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = prediction_file_paths(out_dir, stem or prediction.name or "prediction", prediction.method,
                                  truth=truth is not None, per_layer=prediction.layer_contacts is not None)  # fmt: skip
    prediction.save(paths["npz"])
    true_map, resolved = (None, None) if truth is None else unpack_truth(truth)
    pairs = pairs_for_every_range(prediction.contacts, resolved=resolved, min_separation=min_separation)
    with atomic_write(paths["pairs"], "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["i_1based", "j_1based", "score", "separation", *(["in_contact"] if truth is not None else [])])
        for p in pairs:
            row = [p.i + 1, p.j + 1, f"{p.score:.9g}", p.j - p.i]
            writer.writerow(row + ([int(bool(true_map[p.i, p.j]))] if true_map is not None else []))
    write_rr(paths["rr"], prediction.contacts, prediction.sequence, pairs=pairs, min_separation=min_separation,
             target=prediction.name or "interp", method=prediction.method)  # fmt: skip
    if truth is not None and precision is None:
        precision = prediction.precision(truth)
    figure = prediction.plot(truth, precision=precision)
    with atomic_write(paths["png"], "wb") as handle:  # a killed run leaves no half-drawn PNG
        figure.savefig(handle, dpi=110, format="png")
    if precision is not None:
        with atomic_write(paths["precision"], "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["metric", "precision"])
            writer.writerows([name, f"{value:.4f}"] for name, value in precision.items())
    if prediction.layer_contacts is not None:
        write_layer_files(prediction, paths, truth=truth)
    return paths


def write_layer_files(prediction: Any, paths: Mapping[str, Path], *, truth: Any = None) -> None:
    """The per-layer outputs: a figure (precision against layer when `truth` is known, else the maps at a few
    depths) and, with `truth`, the per-layer precision table (CSV: layer, then one column per range and k).

    Args:
        prediction: a `ContactPrediction` with `layer_contacts`.
        paths: the paths of `prediction_file_paths` ("layers_png", and "layers_precision" with `truth`).
        truth: the true contacts, or None.
    """
    tables = None
    if truth is not None:
        tables = prediction.layer_precision(truth)
        with atomic_write(paths["layers_precision"], "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["layer", *tables[0]])
            writer.writerows([n, *(f"{v:.4f}" for v in table.values())] for n, table in enumerate(tables, start=1))
    figure = prediction.plot_layers(truth, layer_tables=tables)
    with atomic_write(paths["layers_png"], "wb") as handle:
        figure.savefig(handle, dpi=110, format="png")
