"""Planted Potts families: Gibbs samples carry the planted couplings (mutual information test)."""

from __future__ import annotations

import math

import pytest
import torch

from interp.errors import InterpError
from interp.training.planted_potts import gibbs_sample, planted_potts, to_strings


def mutual_information(a: torch.Tensor, b: torch.Tensor, q: int) -> float:
    joint = torch.zeros(q, q)
    joint.index_put_((a, b), torch.ones(len(a)), accumulate=True)
    joint /= joint.sum()
    pa, pb = joint.sum(1), joint.sum(0)
    nz = joint > 0
    return float((joint[nz] * (joint[nz] / (pa[:, None] * pb[None, :])[nz]).log()).sum())


def test_planted_pairs_carry_the_covariation():
    pairs = [(0, 10), (3, 15), (5, 19)]
    model = planted_potts(20, pairs, q=6, strength=3.0, seed=1)
    states = gibbs_sample(model, 800, sweeps=20, seed=2)
    assert states.shape == (800, 20)
    planted = [mutual_information(states[:, i], states[:, j], 6) for i, j in pairs]
    others = [
        mutual_information(states[:, i], states[:, j], 6)
        for i in range(20)
        for j in range(i + 1, 20)
        if (i, j) not in pairs
    ]
    assert min(planted) > 5 * max(sum(others) / len(others), 1e-3)
    assert model.contact_map().sum() == 2 * len(pairs)
    assert len(to_strings(states[:2], "ACDEFG")[0]) == 20 and not math.isnan(planted[0])


def test_bad_pairs_and_alphabets_are_refused():
    with pytest.raises(InterpError, match="planted pair"):
        planted_potts(5, [(1, 1)])
    with pytest.raises(InterpError, match="no letter"):
        to_strings(torch.tensor([[7]]), "ACGU")


def test_gibbs_frequencies_match_exact_enumeration():
    """A 3-site, 2-letter model: sample frequencies against the exact Boltzmann distribution."""
    import itertools

    model = planted_potts(3, [(0, 2)], q=2, strength=1.5, seed=3)
    states = gibbs_sample(model, 20000, sweeps=10, seed=4)
    energies = {}
    for x in itertools.product(range(2), repeat=3):
        energy = sum(float(model.fields[i, x[i]]) for i in range(3))
        energy += sum(float(model.couplings[i, j, x[i], x[j]]) for i in range(3) for j in range(i + 1, 3))
        energies[x] = math.exp(energy)
    total = sum(energies.values())
    for x, weight in energies.items():
        frequency = float((states == torch.tensor(x)).all(dim=1).float().mean())
        assert frequency == pytest.approx(weight / total, abs=0.015)
