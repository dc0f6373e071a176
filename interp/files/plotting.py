"""Matplotlib pictures of contact maps: prediction above the diagonal, true contacts below, top pairs marked."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure  # no pyplot: no global figure registry, no backend chosen for the user
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import offset_copy

from interp.methods import method_recorded_as
from interp.scoring.metrics import unpack_truth

__all__ = ["method_title", "plot_contact_map", "plot_precision_curve", "plot_tradeoff", "precision_subtitle"]


# readable names of the methods predictions record (ContactPrediction.method); attention appends its combiner
_METHOD_TITLES = {
    "categorical_jacobian": "categorical Jacobian",
    "fast_categorical_jacobian": "fast categorical Jacobian",
    "representation_jacobian": "representation Jacobian",
    "fast_representation_jacobian": "fast representation Jacobian",
    "gradient_jacobian": "gradient Jacobian",
}
_HIT_COLOR, _MISS_COLOR, _TRUE_COLOR = "#1f5fbf", "#d7301f", "0.1"  # blue hits, red misses, near-black true contacts


def method_title(method: str) -> str:
    """The readable name of a recorded method, for titles: "categorical_jacobian" -> "categorical Jacobian",
    "attention_logistic" -> "attention readout (logistic)"; a name it does not know, with spaces for "_".

    Args:
        method: a `ContactPrediction.method`.

    Returns:
        The name to print.
    """
    if method in _METHOD_TITLES:
        return _METHOD_TITLES[method]
    if method.startswith("attention_"):
        return f"attention readout ({method.removeprefix('attention_').replace('_', '-')})"
    known = method_recorded_as(method)
    if known is not None:  # a method added to the table but not here: its summary's headline
        return known.summary.split(":")[0]
    return method.replace("_", " ")


def precision_subtitle(table: Mapping[str, float]) -> str:
    """The precision line of a contact-map figure: long-range P@L and P@L/5, three decimals ("n/a" for NaN).

    Args:
        table: a precision table, as `ContactPrediction.precision` returns it.

    Returns:
        E.g. "long-range P@L = 0.345, P@L/5 = 0.690".
    """
    def number(key: str) -> str:
        value = table.get(key, math.nan)
        return "n/a" if math.isnan(value) else f"{value:.3f}"

    return f"long-range P@L = {number('long_P@L')}, P@L/5 = {number('long_P@L/5')}"


def _residue_ticks(length: int) -> tuple[list[int], list[str]]:
    """Tick positions (0-based indices) labelled with 1-based residue numbers: 1 and round numbers."""
    numbers = [int(v) for v in MaxNLocator(nbins=6, integer=True, steps=[1, 2, 2.5, 5, 10]).tick_values(1, length)]
    numbers = [n for n in numbers if 1 <= n <= length]
    step = numbers[1] - numbers[0] if len(numbers) > 1 else length
    if not numbers or numbers[0] - 1 >= step / 2:
        numbers.insert(0, 1)
    return [n - 1 for n in numbers], [str(n) for n in numbers]


def _colour_range(scores: torch.Tensor) -> tuple[float, float]:
    """The colour scale of the predicted scores: white at the median (below it, the background), darkest at
    the 99th percentile, so that neither the many near-zero pairs nor a few extreme ones set the contrast."""
    if not scores.numel():
        return 0.0, 1.0
    # numpy: torch.quantile refuses more than 2**24 values (L above about 5,800)
    low, high = (float(v) for v in np.quantile(scores.numpy(), [0.5, 0.99]))
    if high <= low:
        low, high = float(scores.min()), float(scores.max())
    return (low, high) if high > low else (low - 0.5, low + 0.5)


def _true_map(truth: Any) -> torch.Tensor:
    return unpack_truth(truth)[0].bool().cpu()


def plot_contact_map(prediction: Any, truth: Any = None, *, ax: Any = None, k: int | None = None,
                     min_separation: int = 6, precision: Mapping[str, float] | None = None) -> Any:  # fmt: skip
    """Draw one prediction; returns the matplotlib Figure.

    Above the diagonal, the predicted scores (grey scale, with a colorbar running from the median score, white,
    to the 99th percentile, so neither the background nor a few extreme pairs set the contrast) and the top-k pairs as dots; below it, the true contacts
    with |i - j| >= `min_separation` as black squares. A dot is blue when the pair is a true contact and red
    when not (all blue when `truth` is None); the legend names the three. Axes count residues from 1 (row i,
    column j). The title names the method (e.g. "categorical Jacobian") and the model
    (`metadata["model"]`, else `metadata["adapter"]`); the subtitle gives the record, L and, with `truth`,
    long-range P@L and P@L/5 (`ContactPrediction.precision`). Lines mark chain boundaries of a complex.
    Uses `matplotlib.figure.Figure`, not pyplot: no global figure, no backend chosen.

    Args:
        prediction: a `ContactPrediction` (anything with `contacts` [L, L], `top()`, `name`, `method`,
            `metadata` and, with `truth`, `precision()`).
        truth: the true contacts, a `ContactMap` or a bool [L, L] map; None draws the prediction only.
        ax: a matplotlib Axes to draw into; None makes a new 6.2 x 6.6 inch Figure with constrained layout.
        k: how many top pairs to mark; None marks L.
        min_separation: the smallest separation j - i of the marked pairs and of the true contacts drawn.
        precision: `prediction.precision(truth)` when the caller already has it (it is not computed again).

    Returns:
        The matplotlib Figure (the one holding `ax` when given).
    """
    contacts = prediction.contacts.detach().float().cpu()
    length = contacts.shape[0]
    if ax is None:
        fig = Figure(figsize=(6.2, 6.6), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    upper_mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    scores = contacts[upper_mask]
    finite = scores[torch.isfinite(scores)]
    low, high = _colour_range(finite)
    shown = np.ma.masked_array(contacts.numpy(), mask=~upper_mask.numpy())
    cmap = ListedColormap([[1 - 0.62 * t] * 3 for t in np.linspace(0, 1, 256)], name="light_greys").with_extremes(
        bad="white"
    )
    image = ax.imshow(shown, cmap=cmap, vmin=low, vmax=high, origin="upper", interpolation="nearest")
    over, under = (
        bool(finite.numel()) and float(finite.max()) > high,
        bool(finite.numel()) and float(finite.min()) < low,
    )
    extend = {(True, True): "both", (True, False): "max", (False, True): "min"}.get((over, under), "neither")
    colorbar = fig.colorbar(image, cax=ax.inset_axes([1.03, 0.0, 0.035, 1.0]), extend=extend)  # as tall as the map
    colorbar.set_label("predicted contact score")
    colorbar.ax.tick_params(labelsize=8)
    ax.plot([-0.5, length - 0.5], [-0.5, length - 0.5], color="0.6", linewidth=0.6)

    cell = 340.0 / max(length, 1)  # points per residue at about 4.7 inches of axes
    true_map = None if truth is None else _true_map(truth)
    pairs = prediction.top(k if k is not None else length, min_separation=min_separation)
    if true_map is None:
        groups = [(pairs, _HIT_COLOR, "predicted pair")]
    else:
        hit = [bool(true_map[p.i, p.j]) for p in pairs]
        groups = [([p for p, h in zip(pairs, hit, strict=True) if h], _HIT_COLOR, "predicted pair in a true contact"),
                  ([p for p, h in zip(pairs, hit, strict=True) if not h], _MISS_COLOR, "predicted pair not in contact")]  # fmt: skip
    handles: list[Any] = []
    for group, color, text in groups:
        ax.scatter([p.j for p in group], [p.i for p in group], s=max(3.6, min(8.0, 1.6 * cell)) ** 2, c=color,
                   marker="o", edgecolors="white", linewidths=0.3, zorder=3, clip_on=False)  # fmt: skip
        handles.append(Line2D([], [], marker="o", linestyle="none", color=color, markeredgecolor="white",
                              markersize=6, label=f"{text} ({len(group)})"))  # fmt: skip
    if true_map is not None:
        lower = torch.tril(true_map, diagonal=-min_separation)
        ax.imshow(np.ma.masked_array(np.ones((length, length)), mask=~lower.numpy()),
                  cmap=ListedColormap([_TRUE_COLOR]), vmin=0, vmax=1, origin="upper", interpolation="nearest")  # fmt: skip
        handles.append(Line2D([], [], marker="s", linestyle="none", color=_TRUE_COLOR, markersize=6,
                              label=f"true contact ({int(lower.sum())}, below the diagonal)"))  # fmt: skip
    bounds = list(getattr(prediction, "metadata", {}).get("chain_boundaries", []))[1:-1]
    for bound in bounds:  # a complex: the chains' blocks
        ax.axhline(bound - 0.5, color="0.35", linewidth=0.8, linestyle="--")
        ax.axvline(bound - 0.5, color="0.35", linewidth=0.8, linestyle="--")

    ticks, labels = _residue_ticks(length)
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.tick_params(labelsize=9)
    ax.set_xlim(-0.5, length - 0.5)
    ax.set_ylim(length - 0.5, -0.5)
    ax.set_xlabel("residue j")
    ax.set_ylabel("residue i")
    metadata = getattr(prediction, "metadata", None) or {}
    model = metadata.get("model") or metadata.get("adapter")
    title = method_title(prediction.method) + (f" \u00b7 {model}" if model else "")
    record = f"{prediction.name}, L = {length}" if prediction.name else f"L = {length}"
    if true_map is not None:
        subtitle = f"{record} \u00b7 {precision_subtitle(precision or prediction.precision(truth))}"
    else:
        subtitle = f"{record} \u00b7 top {len(pairs)} pairs, |i \u2212 j| \u2265 {min_separation}; no structure"
    ax.annotate(subtitle, xy=(0.5, 1.0), xycoords="axes fraction", xytext=(0, 5), textcoords="offset points",
                ha="center", va="bottom", fontsize=9, color="0.2", parse_math=False)  # fmt: skip
    ax.set_title(title, fontsize=12, pad=20, parse_math=False)  # names may hold "$"
    # below the x label, outside the data: tick labels and the label take about 32 points
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-36, units="points"), ncols=2 if true_map is not None else 1,
              fontsize=8.5, frameon=False, handletextpad=0.3, columnspacing=1.2)  # fmt: skip
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


_AXIS_LABELS = {"seconds": "seconds per protein (log scale)", "seconds_per_protein": "seconds per protein (log scale)"}
_RANGE_NAMES = {"short": "short-range", "medium": "medium-range", "long": "long-range"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def _axis_label(key: str, *, log: bool = False) -> str:
    """A readable axis label for a result key: "seconds" -> "seconds per protein (log scale)", "long_P@L" ->
    "long-range P@L"; another key as it is (with "(log scale)" on a log axis)."""
    if key in _AXIS_LABELS:
        return _AXIS_LABELS[key]
    head, _, tail = key.partition("_")
    text = f"{_RANGE_NAMES[head]} {tail}" if head in _RANGE_NAMES and tail.startswith("P@") else key.replace("_", " ")
    return f"{text} (log scale)" if log else text


def plot_tradeoff(rows: list[dict[str, Any]], *, x: str = "seconds", y: str = "long_P@L", label: str = "method",
                  ax: Any = None, title: str | None = None, xlabel: str | None = None,
                  ylabel: str | None = None) -> Any:  # fmt: skip
    """Cost against accuracy: one point per row (e.g. per explainer), x on a log scale.

    Each label (e.g. each method) has its own colour and marker, named in a legend outside the axes (to
    their right), so no text is written over the points however many methods there are; rows sharing a
    label share one legend entry. A new Figure uses constrained layout, so neither the axis labels nor the
    legend are cut off; given an `ax` whose figure has no layout engine, the figure is switched to
    constrained layout, so the legend does not cover a neighbouring Axes.

    Args:
        rows: one dict per point, holding at least the keys `x`, `y` and `label`.
        x: the key of the x value (positive: the axis is logarithmic), e.g. seconds per protein.
        y: the key of the y value, e.g. a precision.
        label: the key of each point's legend entry (e.g. the method).
        ax: a matplotlib Axes to draw into; None makes a new 7 x 4.2 inch Figure.
        title: the Axes' title; None sets none.
        xlabel: the x axis label; None derives one from `x` ("seconds" -> "seconds per protein (log scale)").
        ylabel: the y axis label; None derives one from `y` ("long_P@L" -> "long-range P@L").

    Returns:
        The matplotlib Figure (the one holding `ax` when given).
    """
    if ax is None:
        fig = Figure(figsize=(7, 4.2), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
        if fig.get_layout_engine() is None:
            fig.set_layout_engine("constrained")
    names = list(dict.fromkeys(str(row[label]) for row in rows))  # first-seen order
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    for n, name in enumerate(names):
        chosen = [row for row in rows if str(row[label]) == name]
        ax.scatter([float(row[x]) for row in chosen], [float(row[y]) for row in chosen], s=55, label=name,
                   color=palette(n % palette.N), marker=_MARKERS[n % len(_MARKERS)], edgecolors="black",
                   linewidths=0.5, zorder=3)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(xlabel if xlabel is not None else _axis_label(x, log=True))
    ax.set_ylabel(ylabel if ylabel is not None else _axis_label(y))
    ax.grid(alpha=0.3, which="major")
    ax.margins(x=0.12, y=0.12)
    if title:
        ax.set_title(title)
    if names:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=9, frameon=False,
                  title=label, title_fontsize=9, ncols=1 if len(names) <= 14 else 2)  # fmt: skip
    return fig
