"""The files written for one predicted map: .npz (map), top pairs as CSV, a CASP RR file, a PNG (true
contacts overlaid when known) and the precision table (CSV); shared by `interp demo` and the CLI.

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

__all__ = ["pairs_for_every_range", "write_prediction_files"]


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
    base = safe_file_name(stem or prediction.name or "prediction", suffix="") + f".{prediction.method}"
    paths = {kind: out_dir / f"{base}.{ext}" for kind, ext in
             (("npz", "npz"), ("pairs", "pairs.csv"), ("rr", "rr"), ("png", "png"), ("precision", "precision.csv"))}  # fmt: skip
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
    else:
        del paths["precision"]
    return paths
