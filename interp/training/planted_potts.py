"""Potts models with planted pair couplings, and Gibbs sampling from them: self-made families whose true
contacts are known exactly (train a model on the samples; the explainers must find the planted pairs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.errors import InterpError


@dataclass
class PottsModel:
    """A Potts model P(x) ~ exp(sum_i h[i, x_i] + sum_{i<j} J[i, j, x_i, x_j]) with known coupled pairs.

    J is stored symmetric, J[j, i] = J[i, j].T, with zero blocks everywhere but at the planted pairs.

    Attributes:
        fields: the fields h [L, q].
        couplings: the couplings J [L, L, q, q].
        pairs: the planted pairs (i, j), i < j: the model's true contacts.
    """

    fields: torch.Tensor  # [L, q]
    couplings: torch.Tensor  # [L, L, q, q]
    pairs: list[tuple[int, int]]

    @property
    def length(self) -> int:
        """The number of sites L."""
        return self.fields.shape[0]

    def contact_map(self) -> torch.Tensor:
        """The planted pairs as a contact map.

        Returns:
            A symmetric bool tensor [L, L], True at (i, j) and (j, i) for each planted pair.
        """
        truth = torch.zeros(self.length, self.length, dtype=torch.bool)
        for i, j in self.pairs:
            truth[i, j] = truth[j, i] = True
        return truth


def planted_potts(
    length: int, pairs: Sequence[tuple[int, int]], *, q: int = 20, strength: float = 2.0, seed: int = 0
) -> PottsModel:
    """A Potts model with random weak fields and strong couplings at the planted pairs only.

    Fields are drawn from N(0, 0.5^2). Each planted pair (i, j) gets its own random permutation `partner` of
    the q letters: J[i, j, a, partner[a]] = `strength` for every letter a, all other entries zero, so letter a
    at i favours exactly one letter at j (and vice versa).

    Args:
        length: the number of sites L.
        pairs: the pairs (i, j) to couple, 0 <= i, j < L, i != j, in either order.
        q: the number of states per site.
        strength: the coupling between partner letters.
        seed: the seed of the generator that draws fields and partners (the global RNG is left alone).

    Returns:
        The model; its `pairs` are the planted pairs as (min, max).

    Raises:
        InterpError: if a pair lies outside 0..length - 1 or on the diagonal (i == j).

    Example:
        >>> from interp.training import gibbs_sample, planted_potts, to_strings
        >>> model = planted_potts(6, [(0, 5), (1, 3)], q=4)
        >>> model.contact_map().nonzero().tolist()
        [[0, 5], [1, 3], [3, 1], [5, 0]]
        >>> states = gibbs_sample(model, 8, sweeps=5)
        >>> states.shape
        torch.Size([8, 6])
        >>> len(to_strings(states, "ACGU"))
        8
    """
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
    """Sample sequences from a Potts model by Gibbs sampling.

    Runs n independent chains (in parallel), each started from uniformly random states. A sweep visits the
    sites in order 0..L-1 and redraws x_i from P(x_i | x_-i) ~ exp(h[i, x_i] + sum_{j != i} J[i, j, x_i, x_j]).
    Only each chain's final state is kept, so the samples are independent of one another but only
    approximately from P when `sweeps` is small.

    Args:
        model: the Potts model to sample from (e.g. from `planted_potts`).
        n: the number of chains, i.e. of sequences returned.
        sweeps: full sweeps over the sites per chain.
        seed: the seed of the generator for starts and draws (the global RNG is left alone).

    Returns:
        A long tensor [n, L] of states in 0..q - 1 (turn into letters with `to_strings`).
    """
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
    """Integer states to sequences: state k becomes `alphabet[k]`.

    Args:
        states: integer states [n, L] (e.g. from `gibbs_sample`).
        alphabet: one letter per state, at least max(states) + 1 letters.

    Returns:
        The n sequences, each L letters long.

    Raises:
        InterpError: if a state has no letter in `alphabet`.
    """
    if int(states.max()) >= len(alphabet):
        raise InterpError(f"state {int(states.max())} has no letter in an alphabet of {len(alphabet)}")
    return ["".join(alphabet[k] for k in row.tolist()) for row in states]
