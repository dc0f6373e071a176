"""Contact precision: P@L, P@L/2, P@L/5 by sequence-separation range, as a function and a torchmetrics Metric.

Conventions (those of the ESM notebook and the CASP scorer): each unordered pair i < j counted once;
pairs with an unresolved residue are excluded; L is the number of resolved residues unless `length` is
given; L/n is rounded as Python's `round` does (half to even); ranges by separation j - i, both ends
inclusive: short 6-11, medium 12-23, long >= 24. Predicted scores of -inf mean "not predicted".
If fewer than k candidate pairs exist, the missing slots count as wrong (precision = hits / k);
if no candidate pair exists at all (a protein shorter than 24 has no long-range pairs), the precision
is NaN, and the Metric leaves it out of its average.

One core computes every number: `precision_matrix` turns one protein's maps into P@k per range and k (the
per-protein "update"), `nanmean_precision` averages such values over proteins, skipping NaN (the "compute");
`contact_precision`, `precision_table`, `ContactPrecision` and the contact benchmark all call them.
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
    """Turn "L", "L/n" or an int into a number of pairs for a protein of `length` resolved residues.

    Args:
        k: "L", "L/n" with n a positive integer (spaces ignored), or a non-negative int (returned as is).
        length: L, the number of resolved residues.

    Returns:
        The number of pairs; L/n is rounded as Python's `round` does (half to even).

    Raises:
        ContactMapError: if `k` is a negative int, a bool, or any other string or type.
    """
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
    """A named range ("short", "medium", "long") or a (min, max) tuple -> (name, min, max).

    Args:
        spec: "short" (separation 6-11), "medium" (12-23), "long" (>= 24), or a (min, max) tuple of
            separations, both ends inclusive, max None for no upper limit.

    Returns:
        A tuple (name, min, max): the range's name ("sep{min}-{max}" or "sep{min}+" for a tuple), its
            smallest separation and its largest (None: no upper limit).

    Raises:
        ContactMapError: if `spec` is a string other than the three named ranges.
    """
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
    `.resolved`, as `interp.structures.structure.ContactMap` has); an explicit `resolved` wins."""
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
    """Fraction of true contacts among the top-k predicted pairs with min <= j - i <= max (see module doc).

    Candidates are the pairs i < j in the separation range whose residues are both resolved and whose
    predicted score is not -inf; ties keep (i, j) order. Missing slots (fewer candidates than k) count as wrong.

    Args:
        pred: the predicted map [L, L] (tensor or array-like); higher means more likely a contact, -inf means
            "not predicted"; only the upper triangle is read.
        truth: the true contacts: a bool [L, L] map, or anything with `.contacts` (and optionally `.resolved`),
            such as a `ContactMap`.
        resolved: a bool [L] mask of the residues the structure resolves; None takes `truth.resolved` if it
            has one, else every residue.
        k: how many top pairs to score: "L", "L/n" or an int (see `resolve_k`).
        min_separation: the smallest sequence separation j - i counted (default 24: long range).
        max_separation: the largest separation j - i counted (inclusive); None sets no upper limit.
        length: the L used to turn `k` into a number of pairs; None counts the resolved residues.

    Returns:
        hits / k, in [0, 1]; NaN when no candidate pair exists or k comes to 0 pairs.

    Raises:
        ContactMapError: if `pred` is not square [L, L] or holds NaN, `truth` is not [L, L], `resolved` is
            not [L], or `k` is not a valid k.
    """
    bounds = [(min_separation, max_separation)]
    return float(_precision_matrix(pred, truth, resolved, bounds, [k], length)[0, 0])


def listed_candidates(pred: Any, truth: Any, *, resolved: Any = None, min_separation: int = 6,
                      max_separation: int | None = None) -> int:  # fmt: skip
    """How many candidate pairs a prediction scores: resolved residues, in the range, score above -inf.

    A prediction read from a file that lists only some pairs (a CASP RR file, interp's pairs CSV) leaves the
    others at -inf; where this count is below the pairs P@k needs, `contact_precision` counts the missing
    slots as wrong, so a caller can say "too few pairs" instead.

    Args:
        pred: the predicted map [L, L]; unlisted pairs are -inf.
        truth: the true contacts (see `contact_precision`), for its resolved mask.
        resolved: a bool [L] mask; None takes `truth.resolved` if any, else all.
        min_separation: the smallest separation j - i counted.
        max_separation: the largest separation j - i counted (inclusive); None sets no upper limit.

    Returns:
        The number of pairs i < j in the range, both resolved, with a score above -inf.
    """
    pred_t = torch.as_tensor(pred).detach().to("cpu", torch.float64)
    _, resolved_t = unpack_truth(truth, resolved)
    size = pred_t.shape[0]
    if resolved_t is None:
        resolved_t = torch.ones(size, dtype=torch.bool)
    return len(_candidates(pred_t, resolved_t, min_separation, max_separation)[2])


def _candidates(pred_t: torch.Tensor, resolved_t: torch.Tensor, min_separation: int,
                max_separation: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """The candidate pairs i < j of a range (both residues resolved, score above -inf) and their scores."""
    size = pred_t.shape[0]
    i, j = torch.triu_indices(size, size, offset=max(int(min_separation), 1))
    keep = resolved_t[i] & resolved_t[j] & (pred_t[i, j] > -math.inf)
    if max_separation is not None:
        keep &= (j - i) <= max_separation
    return i[keep], j[keep], pred_t[i[keep], j[keep]]


# --- the precision core: one protein's values ("update") and their NaN-skipping mean ("compute") ---------------
def precision_matrix(
    pred: Any,
    truth: Any,
    *,
    resolved: Any = None,
    ranges: Sequence[RangeSpec] = ("short", "medium", "long"),
    ks: Sequence[KSpec] = DEFAULT_KS,
    length: int | None = None,
) -> torch.Tensor:
    """One protein's P@k for every range and k: the per-protein statistics every precision in interp comes from.

    Each range's candidate pairs are ranked once (see `contact_precision`: pairs i < j in the range, both residues
    resolved, score above -inf, best first, ties in (i, j) order); P@k is the true contacts among the first k of
    them over k, missing slots counting as wrong. `contact_precision`, `precision_table`, `ContactPrecision` and
    the contact benchmark all read their numbers from here; `nanmean_precision` averages them over proteins.

    Args:
        pred: the predicted map [L, L]; see `contact_precision`.
        truth: the true contacts, a bool [L, L] map or a `ContactMap`-like object; see `contact_precision`.
        resolved: a bool [L] mask of resolved residues; None takes `truth.resolved` if any, else all.
        ranges: separation ranges, each a name ("short" 6-11, "medium" 12-23, "long" >= 24) or a (min, max)
            tuple (see `resolve_range`).
        ks: the k of each column: "L", "L/n" or an int (see `resolve_k`).
        length: the L used to turn each k into a number of pairs; None counts the resolved residues.

    Returns:
        A float64 tensor [len(ranges), len(ks)] on the CPU: hits / k per range (row) and k (column), NaN where the
            range holds no candidate pair or k comes to 0 pairs.

    Raises:
        ContactMapError: if the maps have the wrong shape, `pred` holds NaN, or a range or k is not valid.
    """
    bounds = [resolve_range(spec)[1:] for spec in ranges]
    return _precision_matrix(pred, truth, resolved, bounds, ks, length)


def nanmean_precision(values: Any) -> torch.Tensor:
    """The mean over proteins of per-protein values (from `precision_matrix`), each entry over the proteins where
    it is defined (not NaN): what `ContactPrecision.compute` and the contact benchmark's summary report.

    The proteins are added one at a time, in order, as `ContactPrecision.update` adds them, so both give the same
    bits.

    Args:
        values: a float tensor (or nested sequence) [N, ...]: N proteins' values, such as N stacked
            `precision_matrix` results [N, ranges, ks]; NaN marks a value left out of its mean.

    Returns:
        A float64 tensor [...] (the shape of one protein's values): sum of the defined values / their number;
            NaN where no protein has a defined value (or N is 0).

    Raises:
        ContactMapError: if `values` is a single number (0-d) rather than values per protein.
    """
    values_t = torch.as_tensor(values, dtype=torch.float64)
    if values_t.dim() == 0:
        raise ContactMapError("nanmean_precision needs values per protein [N, ...]; got a single number")
    total = torch.zeros(values_t.shape[1:], dtype=torch.float64)
    count = torch.zeros(values_t.shape[1:], dtype=torch.float64)
    for one in values_t:
        one_total, one_count = _precision_totals(one)
        total += one_total
        count += one_count
    return _precision_means(total, count)


def _precision_totals(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One protein's share of the sum and count states: its defined values (NaN as 0) and 1 where defined."""
    defined = ~torch.isnan(values)
    return torch.where(defined, values, 0.0), defined.to(torch.float64)


def _precision_means(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Sum / count of the states: the mean of the defined values, NaN where none was (0 / 0)."""
    return total / count


def _checked_maps(pred: Any, truth: Any, resolved: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(float64 CPU predicted map, bool true map, bool resolved mask) after the shape and NaN checks."""
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
    return pred_t, truth_t, resolved_t


def _precision_matrix(pred: Any, truth: Any, resolved: Any, bounds: Sequence[tuple[int, int | None]],
                      ks: Sequence[KSpec], length: int | None) -> torch.Tensor:  # fmt: skip
    """`precision_matrix` for ranges given as (min, max) separations."""
    values = torch.full((len(bounds), len(ks)), math.nan, dtype=torch.float64)
    if values.numel() == 0:  # nothing to score: the maps are not read
        return values
    pred_t, truth_t, resolved_t = _checked_maps(pred, truth, resolved)
    effective_length = int(resolved_t.sum()) if length is None else int(length)
    n_pairs = [resolve_k(k, effective_length) for k in ks]
    for r, (low, high) in enumerate(bounds):
        i, j, scores = _candidates(pred_t, resolved_t, low, high)
        if scores.numel() == 0:
            continue
        hits = truth_t[i, j][torch.sort(scores, descending=True, stable=True).indices]  # true contact? best first
        for c, n in enumerate(n_pairs):
            if n > 0:
                values[r, c] = int(hits[:n].sum()) / n
    return values


def precision_table(
    pred: Any,
    truth: Any,
    *,
    resolved: Any = None,
    ranges: Sequence[RangeSpec] = ("short", "medium", "long"),
    ks: Sequence[KSpec] = DEFAULT_KS,
    length: int | None = None,
) -> dict[str, float]:
    """P@k for every range and k, keyed like "long_P@L/5".

    Args:
        pred: the predicted map [L, L]; see `contact_precision`.
        truth: the true contacts, a bool [L, L] map or a `ContactMap`-like object; see `contact_precision`.
        resolved: a bool [L] mask of resolved residues; None takes `truth.resolved` if any, else all.
        ranges: separation ranges, each a name ("short" 6-11, "medium" 12-23, "long" >= 24) or a (min, max)
            tuple (see `resolve_range`).
        ks: the k of each column: "L", "L/n" or an int.
        length: the L used to turn each k into a number of pairs; None counts the resolved residues.

    Returns:
        A dict from "{range}_P@{k}" (e.g. "long_P@L/5", "sep6+_P@L") to the precision, NaN where the range
            holds no candidate pair; in the order of `ranges`, then `ks`.

    Raises:
        ContactMapError: if the maps have the wrong shape, `pred` holds NaN, or a range or k is not valid.

    Example:
        >>> import torch
        >>> from interp import precision_table
        >>> truth = torch.zeros(30, 30, dtype=torch.bool)
        >>> truth[0, 29] = truth[29, 0] = True
        >>> precision_table(truth.float(), truth, ranges=["long"], ks=["L/5", 1])
        {'long_P@L/5': 0.16666666666666666, 'long_P@1': 1.0}
    """
    names = [resolve_range(spec)[0] for spec in ranges]
    values = precision_matrix(pred, truth, resolved=resolved, ranges=ranges, ks=ks, length=length).tolist()
    return {f"{name}_P@{k}": values[r][c] for r, name in enumerate(names) for c, k in enumerate(ks)}


def chance_precision(
    truth: Any, *, resolved: Any = None, min_separation: int = 24, max_separation: int | None = None
) -> float:
    """The precision a random ranking expects: the fraction of true contacts among the candidate pairs.

    Candidates are those of `contact_precision` for a map that predicts every pair: i < j with
    min <= j - i <= max and both residues resolved. Any k of a random pick has this expected precision (when
    there are at least k candidates), so a P@k near it means the map ranks pairs no better than chance.

    Args:
        truth: the true contacts: a bool [L, L] map, or anything with `.contacts` (and optionally `.resolved`),
            such as a `ContactMap`.
        resolved: a bool [L] mask of the residues the structure resolves; None takes `truth.resolved` if it
            has one, else every residue.
        min_separation: the smallest sequence separation j - i counted (default 24: long range).
        max_separation: the largest separation j - i counted (inclusive); None sets no upper limit.

    Returns:
        true contacts / candidate pairs, in [0, 1]; NaN when no candidate pair exists.

    Raises:
        ContactMapError: if `truth` is not square [L, L] or `resolved` is not [L].

    Example:
        >>> import torch
        >>> from interp.scoring.metrics import chance_precision
        >>> truth = torch.zeros(30, 30, dtype=torch.bool)
        >>> truth[0, 29] = truth[29, 0] = True
        >>> chance_precision(truth, min_separation=24)  # 1 contact among the 21 pairs with j - i >= 24
        0.047619047619047616
    """
    truth_t, resolved_t = unpack_truth(truth, resolved)
    if truth_t.dim() != 2 or truth_t.shape[0] != truth_t.shape[1]:
        raise ContactMapError(f"true map must be square [L, L]; got {tuple(truth_t.shape)}")
    size = truth_t.shape[0]
    if resolved_t is None:
        resolved_t = torch.ones(size, dtype=torch.bool)
    if tuple(resolved_t.shape) != (size,):
        raise ContactMapError(f"resolved mask has shape {tuple(resolved_t.shape)}; expected ({size},)")
    i, j = torch.triu_indices(size, size, offset=max(int(min_separation), 1))
    keep = resolved_t[i] & resolved_t[j]
    if max_separation is not None:
        keep &= (j - i) <= max_separation
    candidates = int(keep.sum())
    return int(truth_t[i[keep], j[keep]].sum()) / candidates if candidates else math.nan


class ContactPrecision(Metric):
    """Mean per-protein contact precision for each (range, k); sum and count states reduce across DDP ranks.

    `update(pred, truth, resolved=None, length=None)` takes one protein or lists of them; `compute()`
    returns {"long_P@L": ..., ...}. Proteins with no candidate pairs in a range are left out of that mean.

    Args:
        ranges: separation ranges, each a name ("short" 6-11, "medium" 12-23, "long" >= 24) or a (min, max)
            tuple (see `resolve_range`).
        ks: the k of each column: "L", "L/n" or an int.
        **kwargs: passed to `torchmetrics.Metric` (e.g. `sync_on_compute`, `dist_sync_on_step`).

    Raises:
        ContactMapError: if a range or a k is not valid.

    Example:
        >>> import torch
        >>> from interp import ContactPrecision
        >>> truth = torch.zeros(30, 30, dtype=torch.bool)
        >>> truth[0, 29] = truth[29, 0] = True
        >>> metric = ContactPrecision(ranges=["long"], ks=["L/5", 1])
        >>> metric.update([truth.float(), torch.zeros(30, 30)], [truth, truth])
        >>> metric.compute()
        {'long_P@L/5': tensor(0.1667), 'long_P@1': tensor(0.5000)}
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
        """Add one protein (tensors) or several (lists of tensors).

        Args:
            pred: one predicted map [L, L], or a list or tuple of them (one per protein).
            truth: the true contacts (a bool [L, L] map or a `ContactMap`), or a list of them matching `pred`.
            resolved: a bool [L] mask of resolved residues, or a list of masks (or None entries) matching
                `pred`; None takes each truth's `.resolved` if any, else all residues.
            length: the L used to turn each k into a number of pairs, for every protein; None counts the
                resolved residues of each.

        Raises:
            ContactMapError: if a map has the wrong shape or a predicted map holds NaN.
        """
        if isinstance(pred, (list, tuple)):
            resolved_list: Iterable = resolved if resolved is not None else [None] * len(pred)
            for one_pred, one_truth, one_resolved in zip(pred, truth, resolved_list, strict=True):
                self.update(one_pred, one_truth, one_resolved, length)
            return
        bounds = [(low, high) for _, low, high in self.ranges]
        values = precision_matrix(pred, truth, resolved=resolved, ranges=bounds, ks=self.ks, length=length)
        total, count = _precision_totals(values)
        self.precision_sum += total.to(self.precision_sum.device)
        self.count += count.to(self.count.dtype).to(self.count.device)

    def compute(self) -> dict[str, torch.Tensor]:
        """Mean precision per (range, k); NaN where no protein had candidate pairs.

        Returns:
            A dict from "{range}_P@{k}" (e.g. "long_P@L/5") to a 0-d float32 tensor: the mean over the
                proteins that had candidate pairs in that range.
        """
        mean = _precision_means(self.precision_sum, self.count)
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
    "precision_matrix",
    "nanmean_precision",
    "listed_candidates",
    "chance_precision",
    "ContactPrecision",
]
