"""Precision metric: published numbers reproduced, a naive loop agrees, edge cases, the torchmetrics Metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import requires_data
from hypothesis import given, settings
from hypothesis import strategies as st

from interp.errors import ContactMapError
from interp.files.io import read_rr
from interp.scoring.metrics import ContactPrecision, chance_precision, contact_precision, precision_table, resolve_k
from interp.structures.structure import contact_map


def naive_precision(pred, truth, resolved, k, min_sep, max_sep, length=None):
    """Written out with Python loops: candidates i < j in range, both resolved, best first, ties by (i, j)."""
    size = len(pred)
    candidates = [
        (-pred[i][j], i, j)
        for i in range(size)
        for j in range(i + 1, size)
        if j - i >= min_sep and (max_sep is None or j - i <= max_sep) and resolved[i] and resolved[j]
    ]
    n_res = sum(resolved) if length is None else length
    n = {"L": n_res, "L/2": round(n_res / 2), "L/5": round(n_res / 5)}[k]
    if not candidates or n == 0:
        return math.nan
    candidates.sort()
    return sum(truth[i][j] for _, i, j in candidates[:n]) / n


@requires_data
def test_deepcon_16pk_published_numbers_with_l_260(data_dir):
    rr = read_rr(data_dir / "published/DEEPCON_16pkA0.rr")
    truth = contact_map(data_dir / "protein/16pk_A_crop256/16pkA.pdb", sequence=rr.sequence)
    table = precision_table(rr.to_map(), truth, ranges=["long"], length=260)
    assert round(100 * table["long_P@L/5"], 2) == 94.23
    assert round(100 * table["long_P@L/2"], 2) == 85.38
    assert round(100 * table["long_P@L"], 2) == 60.77
    table_256 = precision_table(rr.to_map(), truth, ranges=["long"])
    assert [round(100 * table_256[f"long_P@{k}"], 2) for k in ("L/5", "L/2", "L")] == [94.12, 85.94, 61.33]


@requires_data
def test_dncon2_t0866_published_numbers(data_dir):
    rr = read_rr(data_dir / "published/DNCON2_T0866.dncon2.rr")
    truth = contact_map(data_dir / "protein/T0866-D1/T0866-D1.pdb", sequence=rr.sequence)
    assert len(truth) == 183 and int(truth.resolved.sum()) == 104
    table = precision_table(rr.to_map(), truth, ranges=["long"])
    assert round(100 * table["long_P@L/5"], 2) == 90.48
    assert round(100 * table["long_P@L/2"], 2) == 78.85
    assert round(100 * table["long_P@L"], 2) == 77.88


def test_rounding_is_python_round():
    assert resolve_k("L/2", 145) == 72  # 72.5 -> 72 (half to even), as the ESM notebook's 0.791667 = 57/72
    assert resolve_k("L/5", 104) == 21  # 20.8 -> 21, as the CASP scorer (DNCON2 T0866)
    assert resolve_k("L/2", 147) == 74
    assert resolve_k(7, 100) == 7 and resolve_k("L", 33) == 33
    for bad in ("L/0", "2L", -1, 1.5, "L/x"):
        with pytest.raises(ContactMapError):
            resolve_k(bad, 10)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
    k=st.sampled_from(["L", "L/2", "L/5"]),
    sep=st.sampled_from([(6, 11), (12, 23), (24, None), (1, None)]),
    levels=st.integers(2, 6),
)
def test_matches_naive_loop(length, seed, k, sep, levels):
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, levels, size=(length, length)).astype(float)  # few levels: many ties
    truth = rng.random((length, length)) < 0.3
    resolved = rng.random(length) < 0.85
    got = contact_precision(pred, truth, resolved=resolved, k=k, min_separation=sep[0], max_separation=sep[1])
    want = naive_precision(pred.tolist(), truth.tolist(), resolved.tolist(), k, sep[0], sep[1])
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
    sep=st.sampled_from([(6, 11), (12, 23), (24, None), (1, None)]),
)
def test_chance_is_true_contacts_among_candidate_pairs_as_a_naive_loop_counts_them(length, seed, sep):
    rng = np.random.default_rng(seed)
    truth = rng.random((length, length)) < 0.3  # not symmetric: only i < j may be read
    resolved = rng.random(length) < 0.85
    pairs = [(i, j) for i in range(length) for j in range(i + 1, length)
             if j - i >= sep[0] and (sep[1] is None or j - i <= sep[1]) and resolved[i] and resolved[j]]  # fmt: skip
    got = chance_precision(truth, resolved=resolved, min_separation=sep[0], max_separation=sep[1])
    if not pairs:
        assert math.isnan(got)
        return
    assert got == pytest.approx(sum(bool(truth[i, j]) for i, j in pairs) / len(pairs), abs=1e-12)
    # a map that ranks nothing above anything else, scored on every candidate, finds exactly that fraction
    every = contact_precision(np.zeros((length, length)), truth, resolved=resolved, k=len(pairs),
                              min_separation=sep[0], max_separation=sep[1])  # fmt: skip
    assert got == pytest.approx(every, abs=1e-12)


def test_chance_reads_resolved_from_a_contact_map_and_refuses_bad_shapes():
    truth = torch.zeros(30, 30, dtype=torch.bool)
    truth[0, 29] = truth[29, 0] = True
    assert chance_precision(truth) == pytest.approx(1 / 21)  # pairs with j - i >= 24 in L = 30: 6+5+4+3+2+1

    class Map:
        contacts = truth
        resolved = torch.arange(30) != 29

    assert chance_precision(Map()) == 0.0  # residue 29 unresolved: 15 candidates, none a contact
    with pytest.raises(ContactMapError):
        chance_precision(torch.zeros(30, 29, dtype=torch.bool))
    with pytest.raises(ContactMapError):
        chance_precision(truth, resolved=torch.ones(29, dtype=torch.bool))


def test_ties_break_by_pair_order():
    pred = torch.zeros(30, 30)
    truth = torch.zeros(30, 30, dtype=torch.bool)
    truth[0, 24] = True  # the first pair in (i, j) order among equal scores
    assert contact_precision(pred, truth, k=1) == 1.0
    truth2 = torch.zeros(30, 30, dtype=torch.bool)
    truth2[5, 29] = True
    assert contact_precision(pred, truth2, k=1) == 0.0


def test_fewer_candidates_than_k_count_as_misses():
    pred = torch.rand(30, 30)
    truth = torch.ones(30, 30, dtype=torch.bool)
    # long range in L=30: pairs with j - i >= 24: 6+5+4+3+2+1 = 21 candidates, k = L = 30
    assert contact_precision(pred, truth, k="L") == pytest.approx(21 / 30)


def test_short_protein_has_no_long_range_pairs():
    pred, truth = torch.rand(20, 20), torch.ones(20, 20, dtype=torch.bool)
    assert math.isnan(contact_precision(pred, truth, k="L"))
    assert contact_precision(pred, truth, k="L", min_separation=6, max_separation=11) == pytest.approx(
        naive_precision(pred.tolist(), truth.tolist(), [True] * 20, "L", 6, 11)
    )


def test_all_unresolved_gives_nan():
    pred, truth = torch.rand(40, 40), torch.ones(40, 40, dtype=torch.bool)
    assert math.isnan(contact_precision(pred, truth, resolved=torch.zeros(40, dtype=torch.bool)))


def test_unresolved_residues_are_excluded_and_l_counts_resolved():
    pred = torch.zeros(40, 40)
    pred[0, 30] = pred[30, 0] = 10.0  # best pair, but residue 0 is unresolved
    pred[1, 31] = pred[31, 1] = 5.0
    truth = torch.zeros(40, 40, dtype=torch.bool)
    truth[1, 31] = truth[31, 1] = True
    resolved = torch.ones(40, dtype=torch.bool)
    resolved[0] = False
    assert contact_precision(pred, truth, resolved=resolved, k=1) == 1.0
    assert resolve_k("L/5", int(resolved.sum())) == 8


def test_minus_infinity_means_not_predicted():
    pred = torch.full((30, 30), -math.inf)
    pred[0, 29] = 1.0
    truth = torch.ones(30, 30, dtype=torch.bool)
    assert contact_precision(pred, truth, k=5) == pytest.approx(1 / 5)


def test_bad_maps_are_refused():
    with pytest.raises(ContactMapError, match="square"):
        contact_precision(torch.zeros(3, 4), torch.zeros(3, 3))
    with pytest.raises(ContactMapError, match="shape"):
        contact_precision(torch.zeros(3, 3), torch.zeros(4, 4))
    bad = torch.zeros(30, 30)
    bad[2, 3] = math.nan
    with pytest.raises(ContactMapError, match=r"NaN.*\[2, 3\]"):
        contact_precision(bad, torch.zeros(30, 30))


def test_metric_averages_proteins_and_skips_undefined():
    rng = np.random.default_rng(3)
    metric = ContactPrecision(ranges=["short", "long"], ks=["L", "L/5"])
    proteins = [(rng.random((n, n)), rng.random((n, n)) < 0.2) for n in (50, 60, 20)]
    for pred, truth in proteins:
        metric.update(torch.from_numpy(pred), torch.from_numpy(truth))
    result = metric.compute()
    for key, (low, high), k in [("short_P@L", (6, 11), "L"), ("long_P@L/5", (24, None), "L/5")]:
        values = [contact_precision(p, t, k=k, min_separation=low, max_separation=high) for p, t in proteins]
        defined = [v for v in values if not math.isnan(v)]
        assert float(result[key]) == pytest.approx(sum(defined) / len(defined), rel=1e-6)
    assert int(metric.count[1, 0]) == 2  # the 20-residue protein has no long-range pairs


def test_metric_accepts_lists_and_resets():
    metric = ContactPrecision()
    preds = [torch.rand(40, 40) for _ in range(3)]
    truths = [torch.rand(40, 40) < 0.3 for _ in range(3)]
    metric.update(preds, truths)
    assert int(metric.count.max()) == 3
    metric.reset()
    assert int(metric.count.max()) == 0
