"""Matplotlib pictures of contact maps: prediction above the diagonal, true contacts below, top pairs marked."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["plot_contact_map", "plot_precision_curve", "plot_tradeoff"]


def plot_contact_map(prediction: Any, truth: Any = None, *, ax: Any = None, k: int | None = None,
                     min_separation: int = 6) -> Any:  # fmt: skip
    """Draw one prediction; returns the matplotlib Figure. Hits among the top-k are blue, misses red.

    The predicted scores fill the upper triangle in grey; true contacts with |i - j| >= `min_separation` are
    grey squares below the diagonal; the top-k pairs are dots above it (all blue when `truth` is None).
    Uses `matplotlib.figure.Figure`, not pyplot: no global figure, no backend chosen.

    Args:
        prediction: a `ContactPrediction` (anything with `contacts` [L, L], `top()`, `name` and `method`).
        truth: the true contacts, a `ContactMap` or a bool [L, L] map; None draws the prediction only.
        ax: a matplotlib Axes to draw into; None makes a new 5 x 5 inch Figure.
        k: how many top pairs to mark; None marks L.
        min_separation: the smallest separation j - i of the marked pairs and of the true contacts drawn.

    Returns:
        The matplotlib Figure (the one holding `ax` when given).
    """
    from matplotlib.figure import Figure  # no pyplot: no global figure registry, no backend chosen for the user

    contacts = prediction.contacts.detach().float().cpu()
    length = contacts.shape[0]
    if ax is None:
        fig = Figure(figsize=(5, 5))
        ax = fig.subplots()
    else:
        fig = ax.figure
    upper = torch.triu(contacts, diagonal=1)
    ax.imshow(upper.numpy(), cmap="Greys", origin="upper")
    true_map = None
    if truth is not None:
        from interp.metrics import unpack_truth

        true_map = unpack_truth(truth)[0]
        ii, jj = torch.nonzero(torch.tril(true_map, diagonal=-min_separation), as_tuple=True)
        ax.scatter(jj.numpy(), ii.numpy(), s=4, c="0.6", marker="s", linewidths=0, label="true contacts")
    pairs = prediction.top(k if k is not None else length, min_separation=min_separation)
    if pairs:
        hit = [bool(true_map[p.i, p.j]) if true_map is not None else True for p in pairs]
        colors = ["tab:blue" if h else "tab:red" for h in hit]
        ax.scatter([p.j for p in pairs], [p.i for p in pairs], s=6, c=colors, marker="o", linewidths=0)
    title = prediction.name or prediction.method
    ax.set_title(f"{title} (L={length}; top {len(pairs)} marked)")
    ax.set_xlim(-0.5, length - 0.5)
    ax.set_ylim(length - 0.5, -0.5)
    return fig


def plot_precision_curve(history: Any, *, keys: Any = None, ax: Any = None, title: str | None = None) -> Any:
    """Precision against training step, from a ContactPrecisionMonitor callback's `history` (a list of dicts with
    "step"), a {label: history} dict to overlay several callbacks, or a Lightning CSVLogger metrics.csv path.

    One line per metric (per label), NaN values left out; the y axis runs from 0 to 1.

    Args:
        history: a list of dicts, each with "step" and metric values ({"step": 100, "long_P@L": 0.4}); a
            {label: list of dicts} dict, each list drawn with its label as prefix; or the path of a CSVLogger
            metrics.csv (its columns whose name holds "P@").
        keys: the metric names to draw; None draws every name but "step".
        ax: a matplotlib Axes to draw into; None makes a new 6 x 4 inch Figure.
        title: the Axes' title; None sets none.

    Returns:
        The matplotlib Figure (the one holding `ax` when given).
    """
    from matplotlib.figure import Figure  # no pyplot: no global figure registry, no backend chosen for the user

    series = _curve_series(history, keys)
    if ax is None:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for label, (steps, values) in series.items():
        ax.plot(steps, values, marker="o", markersize=3, label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def _curve_series(history: Any, keys: Any) -> dict[str, tuple[list[float], list[float]]]:
    import csv
    import math
    import os

    if isinstance(history, (str, os.PathLike)):  # CSVLogger metrics.csv: one column per logged name
        with open(history, newline="") as handle:
            rows = list(csv.DictReader(handle))
        columns = [c for c in (rows[0] if rows else {}) if "P@" in c]
        history = [{"step": float(r["step"]), **{c: float(r[c]) for c in columns if r.get(c)}} for r in rows]
        history = [h for h in history if len(h) > 1]
    groups = history if isinstance(history, dict) else {"": history}
    series: dict[str, tuple[list[float], list[float]]] = {}
    for prefix, entries in groups.items():
        names = keys or sorted({k for h in entries for k in h if k != "step"})
        for name in names:
            points = [(h["step"], h[name]) for h in entries if name in h and not math.isnan(float(h[name]))]
            label = f"{prefix} {name}".strip()
            series[label] = ([p[0] for p in points], [float(p[1]) for p in points])
    return series


def plot_tradeoff(rows: list[dict[str, Any]], *, x: str = "seconds", y: str = "long_P@L", label: str = "method",
                  ax: Any = None) -> Any:  # fmt: skip
    """Speed against accuracy: one point per row (e.g. per explainer), x on a log scale.

    Args:
        rows: one dict per point, holding at least the keys `x`, `y` and `label`.
        x: the key of the x value (positive: the axis is logarithmic), e.g. seconds per protein.
        y: the key of the y value, e.g. a precision.
        label: the key of the text written beside each point.
        ax: a matplotlib Axes to draw into; None makes a new 6 x 4 inch Figure.

    Returns:
        The matplotlib Figure (the one holding `ax` when given).
    """
    from matplotlib.figure import Figure  # no pyplot: no global figure registry, no backend chosen for the user

    if ax is None:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for row in rows:
        ax.scatter(row[x], row[y], s=30)
        ax.annotate(str(row[label]), (row[x], row[y]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    return fig
