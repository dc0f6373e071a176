"""Matplotlib pictures of contact maps (prediction above the diagonal, true contacts below, top pairs marked), of
per-layer contact maps and precision, and of single-mutant effect scores."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure  # no pyplot: no global figure registry, no backend chosen for the user
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import offset_copy

from interp.errors import InterpError
from interp.methods import method_recorded_as
from interp.scoring.metrics import unpack_truth

__all__ = [
    "method_title",
    "plot_contact_map",
    "plot_effects",
    "plot_layer_maps",
    "plot_layer_precision",
    "plot_precision_curve",
    "plot_tradeoff",
    "precision_subtitle",
]


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


def _residue_axes(ax: Any, length: int, *, labelsize: float) -> None:
    """A square residue-by-residue map's axes: 1-based ticks on both, residue 1 top left, "residue j" below."""
    ticks, labels = _residue_ticks(length)
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.tick_params(labelsize=labelsize)
    ax.set_xlim(-0.5, length - 0.5)
    ax.set_ylim(length - 0.5, -0.5)
    ax.set_xlabel("residue j")


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


def _extend(values: Any, low: float, high: float) -> str:
    """The colorbar's `extend`: which ends the finite `values` run past the colour range [low, high]."""
    values = np.asarray(values)
    over = bool(values.size) and float(values.max()) > high
    under = bool(values.size) and float(values.min()) < low
    return {(True, True): "both", (True, False): "max", (False, True): "min"}.get((over, under), "neither")


def _light_greys() -> Colormap:
    """The grey scale of predicted contact scores: white to mid grey (dots drawn over it stay visible), masked
    cells white."""
    colours = [[1 - 0.62 * t] * 3 for t in np.linspace(0, 1, 256)]
    return ListedColormap(colours, name="light_greys").with_extremes(bad="white")


def _draw_upper_map(ax: Any, contacts: torch.Tensor) -> tuple[Any, torch.Tensor, tuple[float, float]]:
    """A map's scores above the diagonal in the light grey scale (`_colour_range`); returns the image, the finite
    scores drawn and the colour range."""
    length = contacts.shape[0]
    upper_mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    scores = contacts[upper_mask]
    finite = scores[torch.isfinite(scores)]
    low, high = _colour_range(finite)
    shown = np.ma.masked_array(contacts.numpy(), mask=~upper_mask.numpy())
    image = ax.imshow(shown, cmap=_light_greys(), vmin=low, vmax=high, origin="upper", interpolation="nearest")
    return image, finite, (low, high)


def _true_map(truth: Any) -> torch.Tensor:
    return unpack_truth(truth)[0].bool().cpu()


def _draw_true_contacts(ax: Any, true_map: torch.Tensor, min_separation: int) -> int:
    """Draw the true contacts with i - j >= `min_separation` below the diagonal as near-black squares; returns
    how many were drawn."""
    length = true_map.shape[0]
    lower = torch.tril(true_map, diagonal=-min_separation)
    ax.imshow(np.ma.masked_array(np.ones((length, length)), mask=~lower.numpy()),
              cmap=ListedColormap([_TRUE_COLOR]), vmin=0, vmax=1, origin="upper", interpolation="nearest")  # fmt: skip
    return int(lower.sum())


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
    image, finite, (low, high) = _draw_upper_map(ax, contacts)
    extend = _extend(finite, low, high)
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
        drawn = _draw_true_contacts(ax, true_map, min_separation)
        handles.append(Line2D([], [], marker="s", linestyle="none", color=_TRUE_COLOR, markersize=6,
                              label=f"true contact ({drawn}, below the diagonal)"))  # fmt: skip
    bounds = list(getattr(prediction, "metadata", {}).get("chain_boundaries", []))[1:-1]
    for bound in bounds:  # a complex: the chains' blocks
        ax.axhline(bound - 0.5, color="0.35", linewidth=0.8, linestyle="--")
        ax.axvline(bound - 0.5, color="0.35", linewidth=0.8, linestyle="--")

    _residue_axes(ax, length, labelsize=9)
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


# readable names of the EffectTable conventions (interp.maps.effects.CONVENTIONS), for colorbars
_SCORE_NAMES = {
    "wt_marginal": "wild-type marginal",
    "masked_marginal": "masked marginal",
    "mutant_likelihood": "mutant log-likelihood ratio",
}
_EFFECT_CMAP = colormaps["RdBu"].with_extremes(bad="0.86")  # red: deleterious, blue: favoured, grey: no score
_TICKED_RESIDUES = 60  # up to this length, every position is ticked with its wild-type letter ("M1")


def plot_effects(table: Any, *, score: str | None = None, ax: Any = None) -> Any:
    """Heat maps of single-mutant scores: one panel per score, residue position across, letter down.

    Each cell is the score of putting that letter at that position: blue where the model finds the mutant
    more likely than the wild type, red where less, white at 0; the colour scale is symmetric around 0, its
    limits the 99th percentile of |score| (the colorbar extends past them when some scores do). Cells with no
    score (NaN) are light grey; a black dot marks each position's wild-type letter. Positions count from 1;
    up to 60 residues, every position is ticked with its wild-type letter ("M1"). The title names the record
    and the model (`metadata["model"]`, else `metadata["adapter"]`).

    Args:
        table: an `interp.maps.effects.EffectTable` (anything with `sequence`, `alphabet`, `scores`
            {name: [L, A] tensor}, `name` and `metadata`).
        score: draw only this score (e.g. "masked_marginal"); None draws every score in `table.scores`.
        ax: a matplotlib Axes to draw the one score into; None makes a new Figure with constrained layout,
            6 to 16 inches wide (growing with L) and 2.6 inches high per panel.

    Returns:
        The matplotlib Figure (the one holding `ax` when given).

    Raises:
        InterpError: `score` is not one of the table's scores, the table holds none, or `ax` is given while
            more than one score would be drawn.
    """
    names = _effect_names(table, score)
    length = len(table.sequence)
    if ax is None:
        fig = Figure(figsize=(min(16.0, max(6.0, 1.6 + 0.13 * length)), 2.6 * len(names)), layout="constrained")
        axes = list(fig.subplots(len(names), 1, squeeze=False)[:, 0])
    elif len(names) > 1:
        raise InterpError(f"an ax holds one score; this table has {len(names)}: pass score= one of {', '.join(names)}")
    else:
        fig, axes = ax.figure, [ax]
    for name, panel in zip(names, axes, strict=True):
        _effect_panel(panel, table, name)
    metadata = getattr(table, "metadata", None) or {}
    model = metadata.get("model") or metadata.get("adapter")
    title = " \u00b7 ".join(
        [f"single-mutant scores of {table.name or 'the sequence'} (L = {length})", *([str(model)] if model else [])]
    )
    if ax is None:
        fig.suptitle(title, fontsize=11, parse_math=False)
    else:  # the caller's figure: its suptitle is the caller's
        ax.set_title(title, fontsize=11, parse_math=False)
    return fig


def _effect_names(table: Any, score: str | None) -> list[str]:
    available = list(table.scores)
    if score is None:
        if not available:
            raise InterpError("the effect table holds no scores to draw")
        return available
    if score not in table.scores:
        raise InterpError(f"unknown score {score!r}; this table holds {', '.join(available) or 'none'}")
    return [score]


def _effect_limit(finite: np.ndarray) -> float:
    """The symmetric colour limit: the 99th percentile of |score|, else the largest |score|, else 1."""
    if not finite.size:
        return 1.0
    magnitude = np.abs(finite)
    limit = float(np.quantile(magnitude, 0.99))
    return limit if limit > 0 else (float(magnitude.max()) or 1.0)


def _effect_panel(ax: Any, table: Any, name: str) -> None:
    """One score's heat map (letters down, positions across) with its colorbar and the wild-type dots."""
    values = table.scores[name].detach().float().cpu().numpy().T  # [A, L]
    letters, length = len(table.alphabet), len(table.sequence)
    finite = values[np.isfinite(values)]
    limit = _effect_limit(finite)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=_EFFECT_CMAP, vmin=-limit, vmax=limit, aspect="auto",
                      origin="upper", interpolation="nearest")  # fmt: skip
    colorbar = ax.figure.colorbar(image, ax=ax, extend=_extend(finite, -limit, limit), pad=0.01, fraction=0.04)
    colorbar.set_label(f"{_SCORE_NAMES.get(name, name.replace('_', ' '))}\n(log-ratio, > 0: mutant more likely)",
                       fontsize=8)  # fmt: skip
    colorbar.ax.tick_params(labelsize=7)
    wild = [(p, table.alphabet.index(letter)) for p, letter in enumerate(table.sequence) if letter in table.alphabet]
    box = ax.get_position()  # the cell size in points, from the Axes' share of the figure
    cell = min(box.width * ax.figure.get_figwidth() / max(length, 1), box.height * ax.figure.get_figheight() / letters)
    ax.scatter([p for p, _ in wild], [a for _, a in wild], s=max(1.0, min(4.5, 0.35 * 72 * cell)) ** 2, c="black",
               marker="o", linewidths=0, zorder=3)  # fmt: skip
    if length <= _TICKED_RESIDUES:
        ax.set_xticks(range(length), [f"{letter}{p + 1}" for p, letter in enumerate(table.sequence)], rotation=90)
    else:
        ax.set_xticks(*_residue_ticks(length))
    ax.set_yticks(range(letters), list(table.alphabet))
    ax.tick_params(axis="x", labelsize=7 if length <= _TICKED_RESIDUES else 8)
    ax.tick_params(axis="y", labelsize=max(4.5, min(8.0, 150 / letters)), length=2)
    ax.set_xlabel("residue (black dot: wild-type letter)", fontsize=8)
    ax.set_ylabel("mutant letter", fontsize=8)


_DEFAULT_LAYER_KEYS = ("short_P@L", "medium_P@L", "long_P@L")


def plot_layer_precision(tables: Sequence[Mapping[str, float]], *, keys: Any = None, ax: Any = None,
                         title: str | None = None) -> Any:  # fmt: skip
    """Precision against layer, one line per metric, from `ContactPrediction.layer_precision(truth)`.

    NaN values are left out; the y axis runs from 0 to 1. A larger hollow marker shows each line's best layer
    (the first, on a tie), which its legend entry names: "long-range P@L (best: layer 5)".

    Args:
        tables: one precision dict per layer, layer 1 first ({"long_P@L": 0.4, "long_P@L/5": 0.7, ...}).
        keys: the metric names to draw; None draws "short_P@L", "medium_P@L" and "long_P@L", those the
            dicts hold.
        ax: a matplotlib Axes to draw into; None makes a new 6 x 4 inch Figure with constrained layout.
        title: the Axes' title; None sets none.

    Returns:
        The matplotlib Figure (the one holding `ax` when given).

    Raises:
        InterpError: `tables` is empty, or a key is in none of the dicts.
    """
    if not tables:
        raise InterpError("no layers to draw: layer_precision gave an empty list")
    held = {key for table in tables for key in table}
    keys = list(keys) if keys is not None else [key for key in _DEFAULT_LAYER_KEYS if key in held]
    missing = [key for key in keys if key not in held]
    if missing:
        raise InterpError(f"no layer holds {', '.join(missing)}; the keys are {', '.join(sorted(held))}")
    if ax is None:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    for n, key in enumerate(keys):
        _layer_line(ax, tables, key, _MARKERS[n % len(_MARKERS)])
    ax.set_xlim(0.5, len(tables) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if keys:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def _layer_line(ax: Any, tables: Sequence[Mapping[str, float]], key: str, marker: str) -> None:
    """One metric's line over the layers (NaN left out), its best layer circled by a larger hollow marker."""
    points = [(layer, float(table[key])) for layer, table in enumerate(tables, start=1)
              if key in table and not math.isnan(float(table[key]))]  # fmt: skip
    best = max(points, key=lambda point: point[1], default=None)  # max keeps the first of equal values
    label = _axis_label(key) + (f" (best: layer {best[0]})" if best else " (no values)")
    (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, markersize=4, label=label,
                      clip_on=False)  # fmt: skip
    if best:
        ax.scatter([best[0]], [best[1]], s=130, marker=marker, facecolors="none", edgecolors=line.get_color(),
                   linewidths=1.2, zorder=3, clip_on=False)  # fmt: skip


def _default_layers(n_layers: int, max_panels: int) -> list[int]:
    """The depths `plot_layer_maps` draws by default (0-based, increasing, the last layer always among them):
    the k-th of m = min(max_panels, n_layers) is round(k (n_layers - 1) / (m - 1)), halves rounded up, k = 0 to
    m - 1 (m = 1: the last layer alone); equal indices are kept once."""
    if n_layers < 1 or max_panels < 1:
        raise InterpError(f"need at least one layer and one panel (got {n_layers} layers, max_panels={max_panels})")
    count = min(max_panels, n_layers)
    if count == 1:
        return [n_layers - 1]
    return list(dict.fromkeys(math.floor(k * (n_layers - 1) / (count - 1) + 0.5) for k in range(count)))


def plot_layer_maps(layer_contacts: Any, *, layers: Any = None, truth: Any = None, name: str | None = None,
                    max_panels: int = 4) -> Any:  # fmt: skip
    """The per-layer contact maps at a few depths, side by side, titled "layer k of n" (k counted from 1).

    Each panel draws one layer's map above the diagonal in grey scale as `plot_contact_map` does (white at
    that layer's median score, darkest at its 99th percentile: each panel has its own scale) and, with
    `truth`, the true contacts with |i - j| >= 6 below it. Axes count residues from 1.

    Args:
        layer_contacts: the maps, a float tensor [n_layers, L, L] (`ContactPrediction.layer_contacts`, layer 1
            first).
        layers: the 0-based layer indices to draw, in order; None takes up to `max_panels` depths spread evenly
            from the first layer to the last: the k-th of m = min(max_panels, n_layers) panels (k = 0 to m - 1)
            draws layer index round(k (n_layers - 1) / (m - 1)), halves rounded up, and m = 1 draws the last
            layer alone. With max_panels = 4, 12 layers give [0, 4, 7, 11], 6 give [0, 2, 3, 5], 2 give [0, 1]
            and 1 gives [0].
        truth: the true contacts, a `ContactMap` or a bool [L, L] map; None draws the maps only.
        name: the record's name, for the figure's title; None leaves it out.
        max_panels: the most panels the default `layers` holds (at least 1).

    Returns:
        A new matplotlib Figure (3.3 inches wide per panel, constrained layout).

    Raises:
        InterpError: `layer_contacts` is not [n_layers, L, L], a layer index is outside 0 to n_layers - 1 (or
            `layers` is empty), `max_panels` is below 1, or `truth` is not L x L.
    """
    maps = torch.as_tensor(layer_contacts).detach().float().cpu()
    if maps.dim() != 3 or maps.shape[1] != maps.shape[2] or not maps.shape[0]:
        raise InterpError(f"layer_contacts must be [n_layers, L, L]; got shape {tuple(maps.shape)}")
    count, length = maps.shape[0], maps.shape[1]
    chosen = _default_layers(count, max_panels) if layers is None else [int(layer) for layer in layers]
    outside = [layer for layer in chosen if not 0 <= layer < count]
    if outside or not chosen:
        raise InterpError(f"layers {outside or chosen} out of range: the indices are 0-based, 0 to {count - 1}")
    true_map = None if truth is None else _true_map(truth)
    if true_map is not None and tuple(true_map.shape) != (length, length):
        raise InterpError(f"truth is {tuple(true_map.shape)}; the maps are {length} x {length}")
    fig = Figure(figsize=(0.6 + 3.3 * len(chosen), 3.9), layout="constrained")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    for panel, layer in zip(axes, chosen, strict=True):
        _layer_panel(panel, maps[layer], true_map)
        panel.set_title(f"layer {layer + 1} of {count}", fontsize=10)
    axes[0].set_ylabel("residue i")
    parts = [f"per-layer contact maps of {name}" if name else "per-layer contact maps", f"L = {length}"]
    if true_map is not None:
        parts.append("true contacts below the diagonal")
    fig.suptitle(" \u00b7 ".join(parts), fontsize=11, parse_math=False)
    return fig


def _layer_panel(ax: Any, contacts: torch.Tensor, true_map: torch.Tensor | None) -> None:
    """One layer's map above the diagonal (grey scale), the true contacts below it."""
    length = contacts.shape[0]
    _draw_upper_map(ax, contacts)
    if true_map is not None:
        _draw_true_contacts(ax, true_map, 6)
    ax.plot([-0.5, length - 0.5], [-0.5, length - 0.5], color="0.6", linewidth=0.6)
    _residue_axes(ax, length, labelsize=8)
