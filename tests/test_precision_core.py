"""The one precision core (`precision_matrix`, `nanmean_precision`) against a naive loop, and every user of it (the
functions, the torchmetrics Metric, the training callback, the contact benchmark) giving exactly its numbers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interp.benchmarks.contacts import nanmean, precision_rows, summarise
from interp.callbacks import ContactPrecisionMonitor
from interp.errors import ContactMapError
from interp.explainers import AttentionReadout
from interp.scoring.metrics import (
    DEFAULT_KS,
    RANGES,
    ContactPrecision,
    contact_precision,
    nanmean_precision,
    precision_matrix,
    precision_table,
)
from interp.testing.stand_ins import esm_model

SEPARATIONS = {"short": (6, 11), "medium": (12, 23), "long": (24, None), "sep1+": (1, None), "sep3-8": (3, 8)}
RANGE_SPECS = ["short", "medium", "long", (1, None), (3, 8)]
KS = ["L", "L/2", "L/5", 1, 7, 0]


def random_protein(rng: np.random.Generator, length: int, levels: int = 4):
    """A predicted map with few score levels (many ties) and some -inf (not predicted), a random true map (not
    symmetric: only i < j may be read) and a resolved mask with holes."""
    pred = rng.integers(0, levels, size=(length, length)).astype(float)
    pred[rng.random((length, length)) < 0.1] = -math.inf
    truth = rng.random((length, length)) < 0.3
    resolved = rng.random(length) < 0.85
    return pred, truth, resolved


def naive_precision(pred, truth, resolved, k, low, high, length=None) -> float:
    """Python loops: candidates i < j with low <= j - i <= high, both resolved, score above -inf; sorted best first,
    ties in (i, j) order; hits among the first k over k, NaN without candidates or with k = 0."""
    size = len(pred)
    candidates = [
        (-pred[i][j], i, j)
        for i in range(size)
        for j in range(i + 1, size)
        if j - i >= max(low, 1) and (high is None or j - i <= high) and resolved[i] and resolved[j]
        and pred[i][j] > -math.inf
    ]  # fmt: skip
    n_res = sum(resolved) if length is None else length
    n = k if isinstance(k, int) else {"L": n_res, "L/2": round(n_res / 2), "L/5": round(n_res / 5)}[k]
    if not candidates or n == 0:
        return math.nan
    candidates.sort()
    return sum(bool(truth[i][j]) for _, i, j in candidates[:n]) / n


def naive_nanmean(values: list[float]) -> float:
    kept = [value for value in values if not math.isnan(value)]
    return sum(kept) / len(kept) if kept else math.nan


def same(a: float, b: float) -> bool:
    """Bit-identical, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 45),
    seed=st.integers(0, 2**31 - 1),
    levels=st.integers(1, 5),
    fixed_length=st.one_of(st.none(), st.integers(0, 60)),
)
def test_matrix_is_the_naive_loop_bit_for_bit(length, seed, levels, fixed_length):
    pred, truth, resolved = random_protein(np.random.default_rng(seed), length, levels)
    got = precision_matrix(pred, truth, resolved=resolved, ranges=RANGE_SPECS, ks=KS, length=fixed_length)
    assert got.dtype == torch.float64 and tuple(got.shape) == (len(RANGE_SPECS), len(KS))
    for r, (low, high) in enumerate(SEPARATIONS.values()):
        for c, k in enumerate(KS):
            want = naive_precision(pred.tolist(), truth.tolist(), resolved.tolist(), k, low, high, fixed_length)
            assert same(float(got[r, c]), want), (r, c)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), proteins=st.integers(0, 8))
def test_nanmean_is_the_naive_mean_of_the_defined_values(seed, proteins):
    rng = np.random.default_rng(seed)
    values = torch.from_numpy(rng.random((proteins, 3, 4)))
    values[torch.from_numpy(rng.random((proteins, 3, 4)) < 0.3)] = math.nan
    values[:, 0, 0] = math.nan  # never defined: NaN
    got = nanmean_precision(values)
    assert got.dtype == torch.float64 and tuple(got.shape) == (3, 4)
    for r in range(3):
        for c in range(4):
            assert same(float(got[r, c]), naive_nanmean(values[:, r, c].tolist()))
    assert same(float(nanmean_precision([0.25, math.nan, 0.5])), 0.375)
    with pytest.raises(ContactMapError, match="per protein"):
        nanmean_precision(0.5)


def test_contact_precision_and_precision_table_read_the_matrix():
    rng = np.random.default_rng(7)
    for length in (5, 23, 40, 61):
        pred, truth, resolved = random_protein(rng, length)
        matrix = precision_matrix(pred, truth, resolved=resolved, ranges=RANGE_SPECS, ks=KS)
        table = precision_table(pred, truth, resolved=resolved, ranges=RANGE_SPECS, ks=KS)
        names = list(SEPARATIONS)
        assert list(table) == [f"{name}_P@{k}" for name in names for k in KS]
        for r, (low, high) in enumerate(SEPARATIONS.values()):
            for c, k in enumerate(KS):
                single = contact_precision(pred, truth, resolved=resolved, k=k, min_separation=low, max_separation=high)
                assert same(single, float(matrix[r, c])) and same(table[f"{names[r]}_P@{k}"], single)


def test_an_empty_table_reads_no_map_and_bad_inputs_are_refused():
    assert tuple(precision_matrix(torch.zeros(3, 4), torch.zeros(5, 5), ranges=[]).shape) == (0, 3)
    with pytest.raises(ContactMapError, match="square"):
        precision_matrix(torch.zeros(3, 4), torch.zeros(3, 3))
    with pytest.raises(ContactMapError, match="unknown range"):
        precision_matrix(torch.zeros(30, 30), torch.zeros(30, 30), ranges=["far"])
    with pytest.raises(ContactMapError, match="k must be"):
        precision_matrix(torch.zeros(30, 30), torch.zeros(30, 30), ks=["2L"])


def test_the_metric_holds_the_core_sums_and_computes_its_mean():
    rng = np.random.default_rng(11)
    proteins = [random_protein(rng, length) for length in (50, 18, 33, 64, 9)]  # 18 and 9: no long-range pairs
    metric = ContactPrecision(ranges=RANGE_SPECS, ks=KS)
    metric.update([torch.from_numpy(p) for p, _, _ in proteins[:2]], [torch.from_numpy(t) for _, t, _ in proteins[:2]],
                  [torch.from_numpy(m) for _, _, m in proteins[:2]])  # fmt: skip
    for pred, truth, resolved in proteins[2:]:
        metric.update(torch.from_numpy(pred), torch.from_numpy(truth), torch.from_numpy(resolved))
    values = torch.stack([precision_matrix(p, t, resolved=m, ranges=RANGE_SPECS, ks=KS) for p, t, m in proteins])
    for r in range(len(RANGE_SPECS)):
        for c in range(len(KS)):
            defined = [value for value in values[:, r, c].tolist() if not math.isnan(value)]
            assert float(metric.precision_sum[r, c]) == sum(defined) and int(metric.count[r, c]) == len(defined)
    means = nanmean_precision(values)
    result = metric.compute()
    names = list(SEPARATIONS)
    for r, name in enumerate(names):
        for c, k in enumerate(KS):
            assert same(float(result[f"{name}_P@{k}"]), float(means[r, c].float()))


def test_the_callback_scores_its_panel_with_the_core():
    model, tokenizer = esm_model("tiny", seed=0)
    model.eval()
    rng = np.random.default_rng(0)
    panel = []
    for length in (40, 52, 20):  # 20: no long-range pairs, left out of that mean
        sequence = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length))
        contacts = torch.from_numpy(rng.random((length, length)) < 0.15)
        resolved = torch.from_numpy(rng.random(length) < 0.9)
        panel.append((sequence, SimpleNamespace(contacts=contacts | contacts.T, resolved=resolved)))
    callback = ContactPrecisionMonitor(panel, tokenizer=tokenizer, ranges=["short", "long"])
    scored = callback.score(model)
    readout = AttentionReadout(model, tokenizer)
    with torch.no_grad():
        values = torch.stack([
            precision_matrix(readout.attribute(sequence).contacts, truth.contacts, resolved=truth.resolved,
                             ranges=["short", "long"], ks=DEFAULT_KS)
            for sequence, truth in panel
        ])  # fmt: skip
    means = nanmean_precision(values).float()
    assert list(scored) == [f"{name}_P@{k}" for name in ("short", "long") for k in DEFAULT_KS]
    for r, name in enumerate(("short", "long")):
        for c, k in enumerate(DEFAULT_KS):
            assert same(scored[f"{name}_P@{k}"], float(means[r, c]))
    assert not math.isnan(scored["long_P@L"])


def test_the_benchmark_rows_and_summary_are_the_core_numbers():
    rng = np.random.default_rng(5)
    proteins = {f"p{n}": random_protein(rng, length) for n, length in enumerate((45, 30, 12, 70, 26))}
    records = []
    for method in ("a", "b"):
        for name, (pred, truth, resolved) in proteins.items():
            if method == "b" and name == "p4":
                continue  # b has no result for p4: dropped from a's means
            truth_map = SimpleNamespace(contacts=torch.from_numpy(truth), resolved=torch.from_numpy(resolved))
            pred_t = torch.from_numpy(pred) + (0.5 if method == "b" else 0.0) * torch.from_numpy(truth.T)
            rows = precision_rows(name, len(pred), method, 1.0, pred_t, truth_map)
            matrix = precision_matrix(pred_t, truth_map, ranges=list(RANGES), ks=DEFAULT_KS)
            assert [(row["range"], row["k"]) for row in rows] == [(r, k) for r in RANGES for k in DEFAULT_KS]
            assert all(
                same(row["precision"], value) for row, value in zip(rows, matrix.flatten().tolist(), strict=True)
            )
            records.append({"protein": name, "method": method, "seconds": float(rng.random()),
                            "peak_memory_gb": 1.0, "rows": rows, "matrix": matrix})  # fmt: skip
    chance = {name: {r: (math.nan if name == "p2" and r == "long" else float(rng.random())) for r in RANGES}
              for name in proteins}  # fmt: skip
    summary = {row["method"]: row for row in summarise(records, ["a", "b"], chance)}
    for method in ("a", "b"):
        kept = [record for record in records if record["method"] == method and record["protein"] != "p4"]
        means = nanmean_precision(torch.stack([record["matrix"] for record in kept]))
        for r, range_name in enumerate(RANGES):
            for c, k in enumerate(DEFAULT_KS):
                assert same(summary[method][f"{range_name}_P@{k}"], float(means[r, c]))
            want = naive_nanmean([chance[record["protein"]][range_name] for record in kept])
            assert same(summary[method][f"{range_name}_chance"], want)
        assert same(summary[method]["seconds_per_protein"], naive_nanmean([record["seconds"] for record in kept]))
    assert summary["a"]["dropped_proteins"] == ["p4"] and not math.isnan(summary["a"]["long_P@L"])
    assert same(nanmean([]), math.nan) and same(nanmean([1.0, math.nan, 2.0]), 1.5)
