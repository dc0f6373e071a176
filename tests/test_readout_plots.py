"""The readout figures, read back from the Matplotlib Figure: single-mutant heat maps (`plot_effects`), precision
against layer (`plot_layer_precision`) and per-layer contact maps (`plot_layer_maps`)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from interp.errors import InterpError
from interp.files.plotting import (
    _default_layers,
    plot_contact_map,
    plot_effects,
    plot_layer_maps,
    plot_layer_precision,
)
from interp.maps.effects import EffectTable
from interp.maps.prediction import ContactPrediction
from interp.structures.structure import ContactMap

ALPHABET = "ACDEFGHIKLMNPQRSTVWY"


def renders(fig) -> None:
    """The figure draws to PNG (no pyplot, no backend chosen)."""
    fig.savefig(io.BytesIO(), format="png")


def image_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.images]


def toy_table(**metadata) -> EffectTable:
    """Three residues by 20 letters: the second residue has no score (NaN), wild-type letters score 0."""
    sequence = "MKW"
    generator = torch.Generator().manual_seed(1)
    scores = {}
    for n, name in enumerate(["wt_marginal", "masked_marginal"]):
        values = torch.randn(len(sequence), len(ALPHABET), generator=generator) * (n + 1)
        values[1] = math.nan
        for p, letter in enumerate(sequence):
            values[p, ALPHABET.index(letter)] = 0.0
        scores[name] = values
    return EffectTable(sequence, ALPHABET, scores, name="toy", metadata=dict(metadata))


# plot_effects


def test_effects_one_panel_per_score_with_the_scores_transposed_and_nan_masked():
    table = toy_table(model="tiny-esm")
    fig = plot_effects(table)
    panels = image_axes(fig)
    assert len(panels) == len(table.scores)
    for ax, values in zip(panels, table.scores.values(), strict=True):
        shown = ax.images[0].get_array()
        expected = values.numpy().T  # letters down, positions across
        assert shown.shape == (len(ALPHABET), len(table.sequence))
        assert np.array_equal(np.ma.getmaskarray(shown), np.isnan(expected))
        np.testing.assert_allclose(shown.filled(0.0), np.nan_to_num(expected, nan=0.0))
        assert [t.get_text() for t in ax.get_yticklabels()] == list(ALPHABET)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["M1", "K2", "W3"]  # short: wild type shown
    renders(fig)


def test_effects_colour_limits_symmetric_around_zero_and_labelled():
    table = toy_table()
    fig = plot_effects(table)
    for ax, name in zip(image_axes(fig), table.scores, strict=True):
        low, high = ax.images[0].get_clim()
        finite = table.scores[name][torch.isfinite(table.scores[name])].abs()
        assert low == -high and high > 0
        assert high == pytest.approx(float(torch.quantile(finite, 0.99)), rel=1e-5)
    labels = [cb_ax.get_ylabel() for cb_ax in fig.axes if not cb_ax.images]
    assert any(label.startswith("wild-type marginal") for label in labels)
    assert any(label.startswith("masked marginal") for label in labels)
    assert all("> 0: mutant more likely" in label for label in labels)


def test_effects_marks_the_wild_type_cells_and_titles_name_and_model():
    table = toy_table(adapter="esm")
    fig = plot_effects(table, score="wt_marginal")
    (ax,) = image_axes(fig)
    dots = ax.collections[0].get_offsets()
    assert [tuple(map(int, xy)) for xy in dots] == [(p, ALPHABET.index(a)) for p, a in enumerate(table.sequence)]
    title = fig.get_suptitle()
    assert "toy" in title and "esm" in title and "L = 3" in title


def test_effects_score_selects_one_panel_and_unknown_score_raises():
    table = toy_table()
    fig = plot_effects(table, score="masked_marginal")
    (ax,) = image_axes(fig)
    np.testing.assert_allclose(ax.images[0].get_array().filled(0.0), table.scores["masked_marginal"].nan_to_num().T)
    with pytest.raises(InterpError, match="wt_marginal, masked_marginal"):
        plot_effects(table, score="mutant_likelihood")


def test_effects_into_a_given_axes_takes_one_score():
    from matplotlib.figure import Figure

    table = toy_table()
    ax = Figure().subplots()
    assert plot_effects(table, score="wt_marginal", ax=ax) is ax.figure
    assert "toy" in ax.get_title()
    with pytest.raises(InterpError, match="score="):
        plot_effects(table, ax=Figure().subplots())


@pytest.mark.parametrize("fill", [math.nan, 0.0])
def test_effects_all_nan_or_all_zero_scores_still_draw(fill):
    table = EffectTable("MK", ALPHABET, {"wt_marginal": torch.full((2, len(ALPHABET)), fill)})
    fig = plot_effects(table)
    low, high = image_axes(fig)[0].images[0].get_clim()
    assert (low, high) == (-1.0, 1.0)
    renders(fig)


def test_effects_long_sequence_uses_residue_number_ticks():
    sequence = "ACDEFGHIKL" * 8
    table = EffectTable(sequence, ALPHABET, {"wt_marginal": torch.zeros(len(sequence), len(ALPHABET))})
    fig = plot_effects(table)
    labels = [t.get_text() for t in image_axes(fig)[0].get_xticklabels()]
    assert labels[0] == "1" and all(label.isdigit() for label in labels)
    assert 6 <= fig.get_figwidth() <= 16


def test_effect_table_plot_end_to_end():
    from interp import MutationEffects
    from interp.testing.stand_ins import esm_model

    model, tokenizer = esm_model("tiny")
    table = MutationEffects(model, tokenizer).attribute("MKTAYIAKQR")
    fig = table.plot()
    assert len(image_axes(fig)) == len(table.scores)
    renders(fig)


# plot_layer_precision

LAYER_TABLES = [
    {"short_P@L": 0.10, "medium_P@L": 0.05, "long_P@L": 0.20, "long_P@L/5": 0.4},
    {"short_P@L": 0.30, "medium_P@L": math.nan, "long_P@L": 0.50, "long_P@L/5": 0.7},
    {"short_P@L": 0.25, "medium_P@L": 0.15, "long_P@L": 0.35, "long_P@L/5": 0.9},
]


def legend_texts(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_layer_precision_lines_hold_the_values_per_layer_without_nan():
    fig = plot_layer_precision(LAYER_TABLES, title="toy")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 3  # default keys: the *_P@L entries, not P@L/5
    for line, key in zip(lines, ["short_P@L", "medium_P@L", "long_P@L"], strict=True):
        points = [(n, t[key]) for n, t in enumerate(LAYER_TABLES, start=1) if not math.isnan(t[key])]
        assert list(line.get_xdata()) == [p[0] for p in points]
        assert list(line.get_ydata()) == pytest.approx([p[1] for p in points])
    assert ax.get_ylim() == (0, 1) and ax.get_title() == "toy"
    renders(fig)


def test_layer_precision_names_and_marks_the_best_layer():
    ax = plot_layer_precision(LAYER_TABLES).axes[0]
    assert legend_texts(ax) == [
        "short-range P@L (best: layer 2)",
        "medium-range P@L (best: layer 3)",
        "long-range P@L (best: layer 2)",
    ]
    best = [tuple(collection.get_offsets()[0]) for collection in ax.collections]
    assert best == [(2, 0.30), (3, 0.15), (2, 0.50)]


def test_layer_precision_chosen_keys_and_errors():
    ax = plot_layer_precision(LAYER_TABLES, keys=["long_P@L/5"]).axes[0]
    assert legend_texts(ax) == ["long-range P@L/5 (best: layer 3)"]
    with pytest.raises(InterpError, match="empty"):
        plot_layer_precision([])
    with pytest.raises(InterpError, match="no layer holds"):
        plot_layer_precision(LAYER_TABLES, keys=["long_P@L/2"])


def test_layer_precision_all_nan_key_draws_an_empty_line():
    tables = [{"long_P@L": math.nan}, {"long_P@L": math.nan}]
    ax = plot_layer_precision(tables).axes[0]
    assert len(ax.get_lines()[0].get_xdata()) == 0
    assert legend_texts(ax) == ["long-range P@L (no values)"]
    renders(ax.figure)


# plot_layer_maps


def layer_maps(n_layers: int, length: int = 12) -> torch.Tensor:
    generator = torch.Generator().manual_seed(n_layers)
    maps = torch.rand(n_layers, length, length, generator=generator)
    return (maps + maps.transpose(1, 2)) / 2


def panel_titles(fig) -> list[str]:
    return [ax.get_title() for ax in image_axes(fig)]


@pytest.mark.parametrize(
    ("n_layers", "expected"),
    [(1, [0]), (2, [0, 1]), (6, [0, 2, 3, 5]), (12, [0, 4, 7, 11])],
)
def test_layer_maps_default_layers(n_layers, expected):
    fig = plot_layer_maps(layer_maps(n_layers))
    assert panel_titles(fig) == [f"layer {k + 1} of {n_layers}" for k in expected]


def test_default_layer_rule_spreads_evenly_and_keeps_the_last():
    for n_layers in range(1, 50):
        for max_panels in range(1, 8):
            chosen = _default_layers(n_layers, max_panels)
            assert chosen == sorted(set(chosen)) and chosen[-1] == n_layers - 1
            assert len(chosen) == min(max_panels, n_layers)  # evenly spread: no two round to the same layer
            if len(chosen) > 1:
                assert chosen[0] == 0
    assert _default_layers(12, 3) == [0, 6, 11]  # 5.5 rounds up
    with pytest.raises(InterpError):
        _default_layers(4, 0)


def test_layer_maps_show_the_chosen_layers_upper_triangle_and_the_truth_below():
    maps = layer_maps(5, length=20)
    truth = torch.zeros(20, 20, dtype=torch.bool)
    truth[2, 15] = truth[15, 2] = truth[3, 6] = truth[6, 3] = True  # |i - j| = 13 is drawn, 3 is not
    fig = plot_layer_maps(maps, layers=[1, 4], truth=truth, name="toy")
    upper = np.triu(np.ones((20, 20), dtype=bool), k=1)
    for ax, layer in zip(image_axes(fig), [1, 4], strict=True):
        shown = ax.images[0].get_array()
        assert np.array_equal(~np.ma.getmaskarray(shown), upper)
        np.testing.assert_allclose(shown.compressed(), maps[layer].numpy()[upper])
        true_cells = ~np.ma.getmaskarray(ax.images[1].get_array())
        assert np.argwhere(true_cells).tolist() == [[15, 2]]
    assert panel_titles(fig) == ["layer 2 of 5", "layer 5 of 5"]
    assert "toy" in fig.get_suptitle() and "true contacts" in fig.get_suptitle()
    renders(fig)


def test_layer_maps_take_a_contact_map_as_truth():
    truth = torch.zeros(12, 12, dtype=torch.bool)
    truth[0, 11] = truth[11, 0] = True
    contact_map = ContactMap("A" * 12, truth, torch.zeros(12, 12), torch.ones(12, dtype=torch.bool),
                             tuple(str(n) for n in range(1, 13)), "A", "protein", "CB", 8.0)  # fmt: skip
    fig = plot_layer_maps(layer_maps(3), truth=contact_map)
    for ax in image_axes(fig):
        assert np.argwhere(~np.ma.getmaskarray(ax.images[1].get_array())).tolist() == [[11, 0]]


def test_layer_maps_reject_bad_input():
    maps = layer_maps(4)
    for layers in ([4], [-1], []):
        with pytest.raises(InterpError, match="0 to 3"):
            plot_layer_maps(maps, layers=layers)
    with pytest.raises(InterpError, match="n_layers, L, L"):
        plot_layer_maps(maps[0])
    with pytest.raises(InterpError, match="truth"):
        plot_layer_maps(maps, truth=torch.zeros(5, 5, dtype=torch.bool))
    with pytest.raises(InterpError):
        plot_layer_maps(maps, max_panels=0)


def test_contact_map_still_draws_true_contacts_below_the_diagonal():
    """`plot_contact_map` shares the grey scale and the true-contact drawing with `plot_layer_maps`."""
    contacts = layer_maps(1, length=30)[0]
    truth = torch.zeros(30, 30, dtype=torch.bool)
    truth[1, 20] = truth[20, 1] = True
    fig = plot_contact_map(ContactPrediction("ACDEFGHIKL" * 3, "categorical_jacobian", contacts), truth)
    ax = fig.axes[0]
    assert np.argwhere(~np.ma.getmaskarray(ax.images[1].get_array())).tolist() == [[20, 1]]
    assert any("true contact (1," in text.get_text() for text in ax.get_legend().get_texts())
    renders(fig)


def test_a_prediction_draws_its_layers_as_precision_with_a_structure_and_as_maps_without():
    from interp import AttentionReadout
    from interp.errors import InterpError
    from interp.testing.stand_ins import esm_model

    model, tokenizer = esm_model("tiny")
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    prediction = AttentionReadout(model, tokenizer, per_layer=True).attribute(sequence)
    truth = torch.zeros(33, 33, dtype=torch.bool)
    truth[0, 30] = truth[30, 0] = truth[2, 20] = truth[20, 2] = True
    with_truth = prediction.plot_layers(truth)
    lines = with_truth.axes[0].get_lines()
    tables = prediction.layer_precision(truth)
    long_line = next(line for line in lines if "long" in line.get_label())
    assert list(long_line.get_ydata()) == pytest.approx([t["long_P@L"] for t in tables])
    without = prediction.plot_layers()
    assert len([ax for ax in without.axes if ax.images]) == 2  # both layers of the tiny model
    with pytest.raises(InterpError, match="per_layer=True"):
        AttentionReadout(model, tokenizer).attribute(sequence).plot_layers()
