"""Potts models with planted pair couplings, and Gibbs sampling from them: self-made families whose true
contacts are known exactly (train a model on the samples; the explainers must find the planted pairs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.errors import InterpError


@dataclass
class PottsModel:
    """P(x) ~ exp(sum_i h[i, x_i] + sum_{i<j} J[i, j, x_i, x_j]); J is stored symmetric: J[j, i] = J[i, j].T."""

    fields: torch.Tensor  # [L, q]
    couplings: torch.Tensor  # [L, L, q, q]
    pairs: list[tuple[int, int]]

    @property
    def length(self) -> int:
        return self.fields.shape[0]

    def contact_map(self) -> torch.Tensor:
        """The planted pairs as a symmetric bool [L, L] map."""
        truth = torch.zeros(self.length, self.length, dtype=torch.bool)
        for i, j in self.pairs:
            truth[i, j] = truth[j, i] = True
        return truth


def planted_potts(
    length: int, pairs: Sequence[tuple[int, int]], *, q: int = 20, strength: float = 2.0, seed: int = 0
) -> PottsModel:
    """Random weak fields; each planted pair couples letter a at i with a random partner letter at j."""
    generator = torch.Generator().manual_seed(seed)
    fields = 0.5 * torch.randn(length, q, generator=generator)
    couplings = torch.zeros(length, length, q, q)
    for i, j in pairs:
        if not (0 <= i < length and 0 <= j < length and i != j):
            raise InterpError(f"planted pair ({i}, {j}) is outside 0..{length - 1} or on the diagonal")
        partner = torch.randperm(q, generator=generator)
        block = torch.zeros(q, q)
        block[torch.arange(q), partner] = strength
        couplings[i, j] = block
        couplings[j, i] = block.T
    return PottsModel(fields, couplings, [(min(i, j), max(i, j)) for i, j in pairs])


def gibbs_sample(model: PottsModel, n: int, *, sweeps: int = 50, seed: int = 0) -> torch.Tensor:
    """n independent chains, `sweeps` full sweeps each (site by site); returns the final states [n, L]."""
    generator = torch.Generator().manual_seed(seed)
    length, q = model.fields.shape
    states = torch.randint(q, (n, length), generator=generator)
    for _ in range(sweeps):
        for i in range(length):
            # energy of each letter at i given the others: h[i] + sum_j J[i, j, :, x_j]
            neighbours = model.couplings[i][torch.arange(length)[None, :], :, states]  # [n, L, q]
            neighbours[:, i] = 0
            logits = model.fields[i] + neighbours.sum(dim=1)
            states[:, i] = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(1)
    return states


def to_strings(states: torch.Tensor, alphabet: str) -> list[str]:
    """Integer states [n, L] -> sequences over the alphabet."""
    if int(states.max()) >= len(alphabet):
        raise InterpError(f"state {int(states.max())} has no letter in an alphabet of {len(alphabet)}")
    return ["".join(alphabet[k] for k in row.tolist()) for row in states]
