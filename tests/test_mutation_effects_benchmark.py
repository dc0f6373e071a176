"""benchmarks/mutation_effects.py: the exact energy change of every single mutant of a Potts model against a plain
loop, and the suite's quick path end to end on a tiny planted family (its table, rho in [-1, 1], a positive ceiling)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from interp.benchmarks.mutation_effects import (
    BASELINES,
    SCORES,
    energy,
    energy_changes,
    fit_changes,
    independent_changes,
    main,
    planted_pairs,
    spearman,
)
from interp.training.planted_potts import gibbs_sample, planted_potts
from interp.training.pseudo_likelihood import fit_potts


def test_energy_changes_match_a_plain_loop_over_mutants():
    potts = planted_potts(9, [(0, 5), (2, 8), (3, 6)], q=5, strength=2.0, seed=4)
    generator = torch.Generator().manual_seed(0)
    potts.couplings += 0.3 * torch.randn(potts.couplings.shape, generator=generator)  # dense couplings too...
    potts.couplings = 0.5 * (potts.couplings + potts.couplings.permute(1, 0, 3, 2))  # ...kept symmetric
    potts.couplings[torch.arange(9), torch.arange(9)] = 0.0
    wild = torch.randint(5, (9,), generator=generator)
    changes = energy_changes(potts.fields, potts.couplings, wild)
    assert changes.shape == (9, 5) and torch.all(changes.gather(1, wild[:, None]) == 0)
    base = energy(potts.fields, potts.couplings, wild)
    for p, a in [(0, 1), (2, 4), (5, 0), (8, 3), (4, 2), (6, int(wild[6]))]:
        mutant = wild.clone()
        mutant[p] = a
        expected = energy(potts.fields, potts.couplings, mutant) - base
        assert math.isclose(float(changes[p, a]), expected, abs_tol=1e-5), (p, a)


def test_a_fits_changes_are_its_own_conditional_log_odds():
    """potts_pl's dE: a PottsFit's couplings are [L, q, L, q]; dE[p, a] must be the fit's own conditional logit of a
    at p (fields + sum over j of J[p, :, j, x_j], as its objective reads it) minus that of the wild-type letter."""
    potts = planted_potts(7, [(0, 4), (2, 6)], q=4, strength=2.0, seed=0)
    states = gibbs_sample(potts, 400, sweeps=5, seed=1)
    fit = fit_potts(states, n_states=4, max_iterations=10)
    wild = states[3]
    changes = fit_changes(fit, wild)
    for p in range(7):
        logits = fit.fields[p] + sum(fit.couplings[p, :, j, wild[j]] for j in range(7) if j != p)
        assert torch.allclose(changes[p], logits - logits[wild[p]], atol=1e-5), p


def test_helpers_pairs_independent_sites_and_spearman():
    pairs = planted_pairs(24, 6, 8, seed=3)
    assert len(pairs) == 6 and all(j - i >= 8 for i, j in pairs)
    assert len({site for pair in pairs for site in pair}) == 12  # disjoint
    with pytest.raises(SystemExit, match="disjoint pairs"):
        planted_pairs(10, 4, 8, seed=0)
    potts = planted_potts(6, [(0, 4)], q=4, seed=1)
    states = gibbs_sample(potts, 300, sweeps=5, seed=2)
    wild = states[0]
    independent = independent_changes(states, wild, 4)
    assert independent.shape == (6, 4) and torch.all(independent.gather(1, wild[:, None]) == 0)
    truth = energy_changes(potts.fields, potts.couplings, wild)
    assert math.isclose(spearman(truth, truth, wild), 1.0, abs_tol=1e-6)
    assert math.isclose(spearman(-truth, truth, wild), -1.0, abs_tol=1e-6)


@pytest.mark.slow
def test_quick_path_end_to_end_on_a_tiny_family(tmp_path):
    main(["--quick", "--seeds", "0", "1", "--length", "16", "--pairs", "3", "--separation", "6", "--samples", "2000",
          "--sweeps", "10", "--wild-types", "1", "--steps", "120", "--potts-iterations", "20", "--out", str(tmp_path)])  # fmt: skip
    payload = json.loads((tmp_path / "mutation_effects_quick.json").read_text())
    results = payload["results"]
    assert [r["seed"] for r in results] == [0, 1] and all(r["L"] == 16 and r["pairs"] == 3 for r in results)
    for r in results:
        assert r["steps"] == 120 and r["samples"] == 2000
        for key in (*SCORES, *BASELINES):
            for value in (r[key], r[f"{key}@pairs"]):
                assert -1.0 <= value <= 1.0, (key, value)
        assert r["potts_pl"] > 0.3, r["potts_pl"]  # the pseudo-likelihood fit on the true samples ranks mutants
    table = (tmp_path / "mutation_effects_quick.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| seed | L |"))
    assert all(f" {column} " in header for column in (*SCORES, *BASELINES, "steps", "train_minutes"))
    body = [line for line in table.split(header)[1].splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in body[:3]] == ["| 0", "| 1", "| mean"]
