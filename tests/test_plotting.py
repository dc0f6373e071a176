"""The figures are read back from the Matplotlib Figure before anything is written: titles, labels, legends,
colorbars, the precision subtitle, and that no text overlaps or leaves the figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from interp.files.plotting import method_title, plot_contact_map, plot_tradeoff, precision_subtitle
from interp.maps.prediction import ContactPrediction

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def target():
    from interp.models.embedded_model import default_target

    return default_target()


@pytest.fixture(scope="module")
def attention_prediction(target):
    from interp.explainers import make_explainer
    from interp.models.embedded_model import default_model

    model, tokenizer = default_model()
    return make_explainer("attention", model, tokenizer).attribute([target.sequence], names=[target.name])[0]


def toy_prediction(method: str = "categorical_jacobian", **metadata) -> ContactPrediction:
    generator = torch.Generator().manual_seed(0)
    contacts = torch.rand(30, 30, generator=generator)
    contacts = (contacts + contacts.T) / 2
    contacts.fill_diagonal_(0)
    return ContactPrediction("ACDEFGHIKL" * 3, method, contacts, name="toy", metadata=dict(metadata))


def texts(fig) -> tuple[str, str]:
    """The title and the subtitle (the annotation above the map)."""
    ax = fig.axes[0]
    return ax.get_title(), ax.texts[0].get_text()


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def drawn(fig):
    """Draw the figure on an Agg canvas (no pyplot) and return its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def text_boxes(fig, ax):
    """The window extents of the axes' labels, title, subtitle, legend entries and colorbar label, drawn."""
    renderer = drawn(fig)
    items = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
    legend = ax.get_legend()
    if legend is not None:
        items += [*legend.get_texts()]
    return {item.get_text(): item.get_window_extent(renderer) for item in items if item.get_text()}


def assert_inside_and_apart(fig, boxes) -> None:
    figure_box = fig.bbox
    for text, box in boxes.items():
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1, f"{text!r} leaves the figure sideways"
        assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1, f"{text!r} leaves the figure at the top or bottom"
    names = list(boxes)
    for n, first in enumerate(names):
        for second in names[n + 1 :]:
            assert not boxes[first].overlaps(boxes[second]), f"{first!r} overlaps {second!r}"


def test_method_titles_are_readable():
    assert method_title("categorical_jacobian") == "categorical Jacobian"
    assert method_title("fast_categorical_jacobian") == "fast categorical Jacobian"
    assert method_title("gradient_jacobian") == "gradient Jacobian"
    assert method_title("attention_mean") == "attention readout (mean)"
    assert method_title("attention_top_k") == "attention readout (top-k)"
    assert method_title("something_else") == "something else"


def test_attention_prediction_records_the_model_and_the_figure_says_what_it_is(attention_prediction, target):
    prediction = attention_prediction
    assert prediction.metadata["model"] == "default_model" and prediction.metadata["adapter"] == "esm"
    fig = plot_contact_map(prediction, target)
    ax = fig.axes[0]
    title, subtitle = texts(fig)
    assert "attention readout (mean)" in title and "default_model" in title
    table = prediction.precision(target)
    assert subtitle.endswith(precision_subtitle(table))
    assert f"long-range P@L = {table['long_P@L']:.3f}, P@L/5 = {table['long_P@L/5']:.3f}" in subtitle
    assert f"{target.name}, L = {len(target.sequence)}" in subtitle
    assert ax.get_xlabel() == "residue j" and ax.get_ylabel() == "residue i"
    assert ax.get_xticklabels()[0].get_text() == "1"  # residues counted from 1
    labels = legend_labels(ax)
    assert len(labels) == 3
    assert labels[0].startswith("predicted pair in a true contact (")
    assert labels[1].startswith("predicted pair not in contact (")
    assert labels[2].startswith("true contact (")
    hits, misses = (int(label.split("(")[1].rstrip(")")) for label in labels[:2])
    assert hits + misses == len(prediction)  # the top L pairs
    colorbar = ax.images[0].colorbar  # the predicted scores' image
    assert colorbar is not None and colorbar.ax.get_ylabel() == "predicted contact score"
    assert_inside_and_apart(fig, text_boxes(fig, ax))


def test_jacobian_and_attention_figures_have_different_titles(attention_prediction, target):
    jacobian = ContactPrediction(attention_prediction.sequence, "categorical_jacobian", attention_prediction.contacts,
                                 name=target.name, metadata={"adapter": "esm", "model": "default_model"})  # fmt: skip
    jacobian_title = texts(plot_contact_map(jacobian, target))[0]
    attention_title = texts(plot_contact_map(attention_prediction, target))[0]
    assert jacobian_title != attention_title
    assert "categorical Jacobian" in jacobian_title and "default_model" in jacobian_title


def test_without_truth_the_legend_names_the_predicted_pairs_only():
    prediction = toy_prediction("fast_categorical_jacobian", adapter="esm")  # no model name: the adapter's
    fig = prediction.plot()
    ax = fig.axes[0]
    title, subtitle = texts(fig)
    assert title == "fast categorical Jacobian \u00b7 esm"
    assert "P@L" not in subtitle and "no structure" in subtitle
    assert legend_labels(ax) == ["predicted pair (30)"]
    assert len(ax.images) == 1 and ax.images[0].colorbar is not None  # the scores, with a colorbar
    assert_inside_and_apart(fig, text_boxes(fig, ax))


def test_a_given_axes_is_drawn_into(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    truth = toy_prediction().contacts > 0.8
    assert toy_prediction().plot(truth, ax=axes[1]) is fig
    assert axes[1].get_title() == "categorical Jacobian" and len(legend_labels(axes[1])) == 3
    fig.savefig(tmp_path / "two.png")


def benchmark_points() -> list[dict]:
    summary = json.loads((ROOT / "docs" / "results" / "contacts_default" / "summary.json").read_text())
    return [{"method": r["method"], "seconds": r["seconds_per_protein"], "long_P@L": r["long_P@L"]}
            for r in summary["summary"]]  # fmt: skip


def test_tradeoff_plot_names_every_method_once_without_overlaps():
    points = benchmark_points()
    assert len(points) >= 5
    fig = plot_tradeoff(points, title="Contact precision against cost")
    ax = fig.axes[0]
    assert ax.get_title() == "Contact precision against cost"
    assert "seconds" in ax.get_xlabel() and "log" in ax.get_xlabel()
    assert ax.get_ylabel() == "long-range P@L"
    assert ax.get_xscale() == "log"
    assert legend_labels(ax) == [p["method"] for p in points]
    assert not ax.texts  # no labels written beside the points
    boxes = text_boxes(fig, ax)
    assert_inside_and_apart(fig, boxes)
    y_box = boxes[ax.get_ylabel()]
    assert y_box.x0 >= 0 and y_box.y0 >= 0  # the y label is not clipped
    legend_box = ax.get_legend().get_window_extent(drawn(fig))
    assert not legend_box.overlaps(ax.get_window_extent())  # the legend lies outside the data area


def test_tradeoff_plot_keeps_its_old_call_and_takes_labels():
    rows = [{"method": f"method {n}", "seconds": 0.01 * 3**n, "long_P@L": 0.3} for n in range(12)]
    rows.append({"method": "method 0", "seconds": 0.02, "long_P@L": 0.31})  # a second point of one method
    fig = plot_tradeoff(rows)
    ax = fig.axes[0]
    assert ax.get_title() == "" and ax.get_xlabel() == "seconds per protein (log scale)"
    assert len(legend_labels(ax)) == 12
    assert_inside_and_apart(fig, text_boxes(fig, ax))
    fig = plot_tradeoff(rows, x="seconds", y="long_P@L", title="t", xlabel="cost (s)", ylabel="precision")
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("cost (s)", "precision")
    rows = [{"method": "a", "time": 1.0, "medium_P@L/5": 0.2}]
    ax = plot_tradeoff(rows, x="time", y="medium_P@L/5").axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (log scale)", "medium-range P@L/5")
