"""Contact precision: P@L, P@L/2, P@L/5 by sequence-separation range, as a function and a torchmetrics Metric.

Conventions (those of the ESM notebook and the CASP scorer): each unordered pair i < j counted once;
pairs with an unresolved residue are excluded; L is the number of resolved residues unless `length` is
given; L/n is rounded as Python's `round` does (half to even); ranges by separation j - i, both ends
inclusive: short 6-11, medium 12-23, long >= 24. Predicted scores of -inf mean "not predicted".
If fewer than k candidate pairs exist, the missing slots count as wrong (precision = hits / k);
if no candidate pair exists at all (a protein shorter than 24 has no long-range pairs), the precision
is NaN, and the Metric leaves it out of its average.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torchmetrics import Metric

from interp.errors import ContactMapError

RANGES: dict[str, tuple[int, int | None]] = {
    "short": (6, 11),
    "medium": (12, 23),
    "long": (24, None),
}
DEFAULT_KS: tuple[str, ...] = ("L", "L/2", "L/5")

RangeSpec = str | tuple[int, int | None]
KSpec = str | int


def resolve_k(k: KSpec, length: int) -> int:
    """Turn "L", "L/n" or an int into a number of pairs for a protein of `length` resolved residues."""
    if isinstance(k, bool) or not isinstance(k, (int, str)):
        raise ContactMapError(f'k must be "L", "L/n" or an int; got {k!r}')
    if isinstance(k, int):
        if k < 0:
            raise ContactMapError(f"k must be >= 0; got {k}")
        return k
    text = k.replace(" ", "")
    if text == "L":
        return length
    if text.startswith("L/") and text[2:].isdigit() and int(text[2:]) > 0:
        return round(length / int(text[2:]))
    raise ContactMapError(f'k must be "L", "L/n" or an int; got {k!r}')


def resolve_range(spec: RangeSpec) -> tuple[str, int, int | None]:
    """A named range ("short", "medium", "long") or a (min, max) tuple -> (name, min, max)."""
    if isinstance(spec, str):
        if spec not in RANGES:
            raise ContactMapError(f"unknown range {spec!r}; known: {sorted(RANGES)}")
        low, high = RANGES[spec]
        return spec, low, high
    low, high = spec
    name = f"sep{low}-{high}" if high is not None else f"sep{low}+"
    return name, int(low), None if high is None else int(high)


def unpack_truth(truth: Any, resolved: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(bool contacts, bool resolved or None) from a bool map or anything with `.contacts` (and optionally
    `.resolved`, as `interp.structure.ContactMap` has); an explicit `resolved` wins."""
    if hasattr(truth, "contacts"):
        if resolved is None:
            resolved = getattr(truth, "resolved", None)
        truth = truth.contacts
    truth_t = torch.as_tensor(truth).bool()
    resolved_t = None if resolved is None else torch.as_tensor(resolved).bool()
    return truth_t, resolved_t


def contact_precision(
    pred: Any,
    truth: Any,
    *,
    resolved: Any = None,
    k: KSpec = "L",
    min_separation: int = 24,
    max_separation: int | None = None,
    length: int | None = None,
) -> float:
    """Fraction of true contacts among the top-k predicted pairs with min <= j - i <= max (see module doc)."""
    pred_t = torch.as_tensor(pred).detach().to("cpu", torch.float64)
    truth_t, resolved_t = unpack_truth(truth, resolved)
    size = pred_t.shape[0]
    if pred_t.dim() != 2 or pred_t.shape[1] != size:
        raise ContactMapError(f"predicted map must be square [L, L]; got {tuple(pred_t.shape)}")
    if tuple(truth_t.shape) != (size, size):
        raise ContactMapError(f"true map has shape {tuple(truth_t.shape)}, predicted map {tuple(pred_t.shape)}")
    if torch.isnan(pred_t).any():
        bad = torch.nonzero(torch.isnan(pred_t))[0].tolist()
        raise ContactMapError(f"predicted map holds NaN (first at residue pair {bad}, 0-based)")
    if resolved_t is None:
        resolved_t = torch.ones(size, dtype=torch.bool)
    if tuple(resolved_t.shape) != (size,):
        raise ContactMapError(f"resolved mask has shape {tuple(resolved_t.shape)}; expected ({size},)")
    effective_length = int(resolved_t.sum()) if length is None else int(length)
    n_pairs = resolve_k(k, effective_length)

    i, j = torch.triu_indices(size, size, offset=max(int(min_separation), 1))
    keep = resolved_t[i] & resolved_t[j]
    if max_separation is not None:
        keep &= (j - i) <= max_separation
    scores = pred_t[i, j]
    keep &= scores > -math.inf
    i, j, scores = i[keep], j[keep], scores[keep]
    if scores.numel() == 0 or n_pairs == 0:
        return math.nan
    order = torch.sort(scores, descending=True, stable=True).indices[:n_pairs]
    hits = int(truth_t[i[order], j[order]].sum())
    return hits / n_pairs


def precision_table(
    pred: Any,
    truth: Any,
    *,
    resolved: Any = None,
    ranges: Sequence[RangeSpec] = ("short", "medium", "long"),
    ks: Sequence[KSpec] = DEFAULT_KS,
    length: int | None = None,
) -> dict[str, float]:
    """P@k for every range and k, keyed like "long_P@L/5"."""
    table = {}
    for spec in ranges:
        name, low, high = resolve_range(spec)
        for k in ks:
            table[f"{name}_P@{k}"] = contact_precision(
                pred, truth, resolved=resolved, k=k, min_separation=low, max_separation=high, length=length
            )
    return table


class ContactPrecision(Metric):
    """Mean per-protein contact precision for each (range, k); sum and count states reduce across DDP ranks.

    `update(pred, truth, resolved=None, length=None)` takes one protein or lists of them; `compute()`
    returns {"long_P@L": ..., ...}. Proteins with no candidate pairs in a range are left out of that mean.
    """

    full_state_update = False
    higher_is_better = True
    precision_sum: torch.Tensor  # states added by add_state in __init__
    count: torch.Tensor

    def __init__(
        self,
        ranges: Sequence[RangeSpec] = ("short", "medium", "long"),
        ks: Sequence[KSpec] = DEFAULT_KS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ranges = [resolve_range(spec) for spec in ranges]
        for k in ks:
            resolve_k(k, 1)
        self.ks = list(ks)
        shape = (len(self.ranges), len(self.ks))
        self.add_state("precision_sum", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Any, truth: Any, resolved: Any = None, length: int | None = None) -> None:
        """Add one protein (tensors) or several (lists of tensors)."""
        if isinstance(pred, (list, tuple)):
            resolved_list: Iterable = resolved if resolved is not None else [None] * len(pred)
            for one_pred, one_truth, one_resolved in zip(pred, truth, resolved_list, strict=True):
                self.update(one_pred, one_truth, one_resolved, length)
            return
        values = torch.full((len(self.ranges), len(self.ks)), math.nan, dtype=torch.float64)
        for r, (_, low, high) in enumerate(self.ranges):
            for c, k in enumerate(self.ks):
                values[r, c] = contact_precision(
                    pred, truth, resolved=resolved, k=k, min_separation=low, max_separation=high, length=length
                )
        defined = ~torch.isnan(values)
        self.precision_sum += torch.where(defined, values, 0.0).to(self.precision_sum.device)
        self.count += defined.to(self.count.dtype).to(self.count.device)

    def compute(self) -> dict[str, torch.Tensor]:
        """Mean precision per (range, k); NaN where no protein had candidate pairs."""
        mean = self.precision_sum / self.count
        return {
            f"{name}_P@{k}": mean[r, c].float()
            for r, (name, _, _) in enumerate(self.ranges)
            for c, k in enumerate(self.ks)
        }


__all__ = [
    "RANGES",
    "DEFAULT_KS",
    "resolve_k",
    "resolve_range",
    "contact_precision",
    "precision_table",
    "ContactPrecision",
]
