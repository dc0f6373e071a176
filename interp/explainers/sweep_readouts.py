"""Readouts of the categorical Jacobian's mutant sweep: more than one number per residue pair from the same passes.

The sweep (`CategoricalJacobian.jacobian`) runs the wild type and every single mutant through the model in
batches. A readout sees each batch as it arrives (which rows are which mutant, the model's output, the values
the Jacobian reads) and keeps only what it needs, so it costs no extra forward pass:

- `LayerMaps`: one contact map per layer, from the change of that layer's hidden states (mutant minus wild
  type). Each mutated residue's block [letters, L, hidden] is reduced to a row of norms as soon as its last
  mutant has run, so memory is O(layers x L^2) plus the rows in flight, never [mutants, L, hidden] per layer.
- `MutationScores`: the effect of every single mutation, in the conventions variant-effect users know
  (wild-type marginal, masked marginal, the mutant's own (pseudo-)log-likelihood).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch

from interp.adapters.base import Adapter, Encoded
from interp.adapters.running import ForwardOutput
from interp.errors import InterpError
from interp.maps.contacts import norm_map_to_contacts


class SweepReadout(Protocol):
    """What the mutant sweep calls: `start` once, `observe` for every batch, in the sweep's order."""

    needs_hidden_states: bool

    def start(self, sweep: SweepPlan) -> None:
        """Called once before the first batch."""

    def observe(self, positions: torch.Tensor, letters: torch.Tensor, output: ForwardOutput, values: torch.Tensor) -> None:
        """Called for every batch: `positions` [B] (-1 for the wild type) and `letters` [B] (column of the
        mutation table) say which row is which mutant; `values` [B, L, X] is what the Jacobian reads."""


class SweepPlan:
    """The sweep a readout observes: the sequence, the mutation table's shape and how many rows each residue has.

    Attributes:
        encoded: the sequence as the adapter encoded it.
        substitutions: S, the columns of the mutation table (the A letters, or 1 for the mask).
        rows_per_position: [L] how many mutant rows the sweep runs for each residue (a wild-type letter runs none).
        masked: the columns are the mask token (the fast sweep), not letters.
    """

    def __init__(self, encoded: Encoded, substitutions: int, rows_per_position: torch.Tensor, masked: bool) -> None:
        self.encoded = encoded
        self.substitutions = substitutions
        self.rows_per_position = rows_per_position.cpu()
        self.masked = masked

    @property
    def length(self) -> int:
        """L, the number of residues."""
        return len(self.encoded.sequence)


def layer_states(output: ForwardOutput, encoded: Encoded, adapter_name: str, *, rows: int | None = None) -> list[torch.Tensor]:
    """Every layer's hidden states at the residues: one float32 [B, L, H] per layer (the embeddings left out), of
    the batch's first `rows` sequences (None: all).

    Raises:
        InterpError: the forward returned no hidden states, or only the embeddings.
    """
    states = output.hidden_states
    if not states or len(states) < 2:
        raise InterpError(
            f"{adapter_name}: the forward returned {'no' if not states else 'only one set of'} hidden states, so "
            "there are no per-layer maps to read"
        )
    positions = encoded.residue_positions.to(states[1].device)
    return [layer[:rows].index_select(1, positions).float() for layer in states[1:]]


def row_norms(block: torch.Tensor) -> torch.Tensor:
    """One mutated residue's rows of the per-layer maps: [layers, S, L, H] -> [layers, L].

    The block is centred along the letter axis (where S > 1), the output-residue axis and the feature axis,
    then normed over letters and features. The fourth axis of `interp.jacobian_to_contacts`' centring, the mutated
    residue, needs every row at once and is left out: the average product correction that follows removes
    what a residue's mean row adds.
    """
    centred = block
    if centred.shape[1] > 1:
        centred = centred - centred.mean(dim=1, keepdim=True)
    centred = centred - centred.mean(dim=2, keepdim=True)
    centred = centred - centred.mean(dim=3, keepdim=True)
    return centred.square().sum(dim=(1, 3)).sqrt()


class LayerMaps:
    """Per-layer contact maps [layers, L, L] read off the sweep's hidden states.

    For every layer l, J_l[p, a, q, h] = h_l(residue p set to a)[q, h] - h_l(wild type)[q, h]. The rows of each
    residue p are kept until its last mutant has run, then reduced by `row_norms`; at the end each layer's
    norm map goes through zero diagonal, APC, zero diagonal, symmetrise (`norm_map_to_contacts`), as every
    Jacobian map does.
    """

    needs_hidden_states = True

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self._norms: torch.Tensor | None = None
        self._wild_type: torch.Tensor | None = None
        self._open: dict[int, torch.Tensor] = {}
        self._filled: dict[int, int] = {}

    def start(self, sweep: SweepPlan) -> None:
        self.sweep = sweep

    def observe(self, positions: torch.Tensor, letters: torch.Tensor, output: ForwardOutput, values: torch.Tensor) -> None:
        # [B, layers, L, H], the batch's padding rows left out
        states = torch.stack(layer_states(output, self.sweep.encoded, self.adapter.name, rows=len(positions)), dim=1)
        if self._wild_type is None:
            self._wild_type = states[0].clone()
            n_layers, length = states.shape[1], states.shape[2]
            self._norms = torch.zeros(n_layers, length, length, dtype=torch.float32, device=states.device)
            states, positions, letters = states[1:], positions[1:], letters[1:]
            for p in (self.sweep.rows_per_position == 0).nonzero().flatten().tolist():
                self._close(p)  # a residue with no mutant row (its letter is the only one): its rows stay zero
        # the sweep runs each residue's mutants in consecutive rows: one copy per residue, not one per row
        residues, counts = torch.unique_consecutive(positions.cpu(), return_counts=True)
        start = 0
        for p, count in zip(residues.tolist(), counts.tolist(), strict=True):
            block = self._open.get(p)
            if block is None:
                block = self._open[p] = torch.zeros(
                    states.shape[1], self.sweep.substitutions, *states.shape[2:], device=states.device
                )
            rows = slice(start, start + count)
            block[:, letters[rows].to(block.device)] = (states[rows] - self._wild_type).transpose(0, 1)
            start += count
            self._filled[p] = self._filled.get(p, 0) + count
            if self._filled[p] == int(self.sweep.rows_per_position[p]):
                self._close(p)

    def _close(self, position: int) -> None:
        assert self._norms is not None
        block = self._open.pop(position, None)
        if block is not None:
            self._norms[:, position] = row_norms(block)

    def norm_maps(self) -> torch.Tensor:
        """The per-layer norm maps [layers, L, L] (before APC), float32 on the CPU.

        Raises:
            InterpError: the sweep did not run every residue's mutants (an interrupted or partial sweep).
        """
        if self._norms is None or self._open:
            raise InterpError("the per-layer maps need the whole sweep: some residues' mutants did not run")
        return self._norms.cpu()


def layer_contacts(norm_maps: torch.Tensor, adapter_name: str) -> torch.Tensor:
    """Per-layer norm maps [layers, L, L] -> per-layer contact maps (zero diagonal, APC, symmetrise), each checked.

    Raises:
        InterpError: a layer whose map is all zero (the mutations never reach that layer's other residues).
    """
    maps = []
    for layer, norm in enumerate(norm_maps, start=1):
        off_diagonal = norm - torch.diag(torch.diagonal(norm))
        if not bool(off_diagonal.any()):
            raise InterpError(
                f"{adapter_name}: layer {layer}'s hidden states at other residues never change with a mutation "
                "(an all-zero map): the layer does not mix residues"
            )
        maps.append(norm_map_to_contacts(norm))
    return torch.stack(maps)


def both_strands(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Per-layer norm maps of a causal DNA model's two strands in one: the reverse complement's maps turned back
    to the forward strand's residue order, and each pair's two norms combined as one norm (root sum of squares,
    the norm of the two strands' blocks side by side)."""
    return (forward.square() + backward.flip(-2, -1).square()).sqrt()


SCORE_NAMES = ("wt_marginal", "masked_marginal", "mutant_likelihood")


class MutationScores:
    """Single-mutant scores read off the sweep: log-probabilities over the alphabet (log-softmax of the logits
    of the family's letters at each residue), so every family uses one normalisation.

    - From the wild-type row (every sweep has one): `wt_marginal[p, a] = log P(a | wild type)[p] - log P(wt_p |
      wild type)[p]` (Meier et al. 2021); for a causal model P at p is read from the prefix before p.
    - From a masked sweep (`fast`): `masked_marginal[p, a]`, the same difference with residue p masked.
    - From a letter sweep: `mutant_likelihood[p, a] = sum_q log P(x'_q | x') - sum_q log P(x_q | x)` with x' the
      mutant: the exact log-likelihood ratio for a causal model; for a masked model the pseudo-log-likelihood of
      one unmasked pass per sequence (every residue read while visible, no extra passes).

    Residues whose letter is not in the alphabet (an `unknown="mask"` position) and residues nothing predicts
    (a causal model's first residue without a start token) get NaN, not a number that cannot be right.
    """

    needs_hidden_states = False

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.scores: dict[str, torch.Tensor] = {}

    def start(self, sweep: SweepPlan) -> None:
        self.sweep = sweep
        letters = {c: n for n, c in enumerate(self.adapter.alphabet)}
        self.wild_type = torch.tensor([letters.get(c, -1) for c in sweep.encoded.sequence])
        self.known = self.wild_type >= 0
        # residues whose letter a pass predicts: in the alphabet, and not a causal model's unread first residue
        self.predicted = self.known.clone()
        if sweep.encoded.first_unpredicted:
            self.predicted[0] = False
        length, alphabet = sweep.length, len(self.adapter.alphabet)
        self._likelihood = torch.full((length, alphabet), math.nan) if not sweep.masked else None
        self._masked = torch.full((length, alphabet), math.nan) if sweep.masked else None
        self._wild_type_total: torch.Tensor | None = None

    def _log_probabilities(self, values: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(values.float(), dim=-1).cpu()

    def observe(self, positions: torch.Tensor, letters: torch.Tensor, output: ForwardOutput, values: torch.Tensor) -> None:
        log_p = self._log_probabilities(values[: len(positions)])  # [B, L, A]
        positions, letters = positions.cpu(), letters.cpu()
        safe_wild_type = self.wild_type.clamp(min=0)
        predicted = self.predicted
        if self._wild_type_total is None:  # the first row of the first batch is the wild type
            wild = log_p[0]
            marginal = wild - wild.gather(1, safe_wild_type[:, None])
            marginal[~predicted] = math.nan
            self.scores["wt_marginal"] = marginal
            self._wild_type_total = wild.gather(1, safe_wild_type[:, None]).squeeze(1)[predicted].sum()
            log_p, positions, letters = log_p[1:], positions[1:], letters[1:]
        if not len(positions):
            return
        rows = torch.arange(len(positions))
        if self._masked is not None:  # residue p masked: its own log-probabilities, against its wild-type letter
            own = log_p[rows, positions]  # [B, A]
            self._masked[positions] = own - own.gather(1, safe_wild_type[positions][:, None])
            return
        assert self._likelihood is not None
        sequences = safe_wild_type.expand(len(positions), -1).clone()
        sequences[rows, positions] = letters
        each = log_p.gather(2, sequences[:, :, None]).squeeze(2)  # [B, L]
        total = (each * predicted).sum(dim=1)
        self._likelihood[positions, letters] = total - self._wild_type_total

    def finish(self) -> dict[str, torch.Tensor]:
        """The scores this sweep gives, each [L, A] (alphabet order); a wild-type letter scores 0."""
        rows = torch.arange(self.sweep.length)
        wild = self.wild_type.clamp(min=0)
        for name, table in (("masked_marginal", self._masked), ("mutant_likelihood", self._likelihood)):
            if table is None:
                continue
            table[rows[self.known], wild[self.known]] = 0.0
            unread = ~self.predicted if name == "masked_marginal" else ~self.known
            table[unread] = math.nan
            self.scores[name] = table
        return self.scores


def sweep_rows_per_position(pos_index: torch.Tensor, length: int) -> torch.Tensor:
    """[L] how many mutant rows the work list holds for each residue (the wild-type row, -1, not counted)."""
    mutants = pos_index[pos_index >= 0]
    return torch.bincount(mutants.cpu(), minlength=length)


__all__ = [
    "SCORE_NAMES",
    "LayerMaps",
    "MutationScores",
    "SweepPlan",
    "SweepReadout",
    "both_strands",
    "layer_contacts",
    "layer_states",
    "row_norms",
    "sweep_rows_per_position",
]
