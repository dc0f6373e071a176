"""Long sequences: overlapping windows stitched into the full map, never a silent truncation."""

from __future__ import annotations

import warnings

import pytest
import torch

from interp.adapters import CustomAdapter
from interp.errors import SequenceTooLongError
from interp.explainers import AttentionReadout, CategoricalJacobian
from interp.explainers.windows import stitch, window_spans
from interp.testing.stand_ins import esm_model


def test_window_spans_cover_the_sequence_with_overlap():
    assert window_spans(8, 10) == [(0, 8)]
    spans = window_spans(25, 10, 0.5)
    assert spans == [(0, 10), (5, 15), (10, 20), (15, 25)]
    assert window_spans(21, 10, 0.0) == [(0, 10), (10, 20), (11, 21)]


def test_stitch_averages_overlaps_and_marks_coverage():
    spans = [(0, 4), (2, 6)]
    maps = [torch.ones(4, 4), 3 * torch.ones(4, 4)]
    stitched, covered = stitch(6, spans, maps)
    assert stitched[0, 1] == 1 and stitched[2, 3] == 2 and stitched[4, 5] == 3
    assert not covered[0, 5] and stitched[0, 5] == 0


def test_long_sequence_is_windowed_with_a_warning():
    model, tokenizer = esm_model("tiny")
    explainer = CategoricalJacobian(model, tokenizer)
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLI"
    explainer.adapter.max_length = 12  # this adapter object only: as if the model took 12 residues
    try:
        with pytest.warns(UserWarning, match="30 residues, more than esm's 12: computed in 4 overlapping windows"):
            pred = explainer.attribute(sequence)
        assert pred.contacts.shape == (30, 30) and pred.metadata["windows"][-1] == (18, 30)
        first = explainer.attribute(sequence[:12]).contacts
        covered_once = pred.metadata["covered"].clone()
        only_first = torch.zeros(30, 30, dtype=torch.bool)
        only_first[:6, :6] = True  # residues 0-5 appear in the first window alone
        torch.testing.assert_close(pred.contacts[only_first].reshape(6, 6), first[:6, :6])
        assert not covered_once[0, 29]
        with pytest.raises(SequenceTooLongError, match="30 residues"):
            CategoricalJacobian(explainer.adapter, long_sequences="error").attribute(sequence)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert AttentionReadout(explainer.adapter).attribute(sequence).contacts.shape == (30, 30)
    finally:
        explainer.adapter.max_length = 1024


def test_custom_adapter_max_length():
    module = torch.nn.Sequential(torch.nn.Embedding(4, 8), torch.nn.Linear(8, 4))
    adapter = CustomAdapter(module, "ACGU", max_length=6)
    with pytest.warns(UserWarning, match="windows"):
        assert CategoricalJacobian(adapter).attribute("ACGUACGUAC").contacts.shape == (10, 10)


def test_long_sequence_per_layer_maps_are_stitched_as_the_map_and_effects_refused():
    from interp.errors import InterpError

    model, tokenizer = esm_model("tiny")
    explainer = CategoricalJacobian(model, tokenizer, fast=True, per_layer=True)
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLI"
    explainer.adapter.max_length = 12  # this adapter object only: as if the model took 12 residues
    try:
        with pytest.warns(UserWarning, match="windows"):
            pred = explainer.attribute(sequence)
        spans = pred.metadata["windows"]
        parts = [explainer.attribute(sequence[s:e]) for s, e in spans]
        assert pred.layer_contacts is not None and pred.layer_contacts.shape == (2, 30, 30)
        for n in range(2):
            expected = stitch(30, spans, [p.layer_contacts[n] for p in parts])[0]
            torch.testing.assert_close(pred.layer_contacts[n], expected)
        with pytest.raises(InterpError, match="mutation effects are read over the whole sequence"):
            CategoricalJacobian(explainer.adapter, effects=True).attribute(sequence)
    finally:
        explainer.adapter.max_length = 1024
