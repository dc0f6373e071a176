"""The categorical Jacobian: mutate every position to every letter, read how every other position's logits move.

J[p, a, q, b] = f(x with x_p = a)[q, b] - f(x)[q, b], for logits f restricted to the alphabet (Zhang et al.,
PNAS 2024). Mutants from many positions share a batch; the wild-type letter's own forward is skipped
(its row is zero by definition). `fast=True` replaces the A letters by the mask token (L forwards).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn
from tqdm.auto import tqdm

from interp.adapters.base import Adapter, Encoded, ForwardOutput
from interp.errors import InterpError
from interp.explainers.base import Explainer, available_memory_bytes, check_finite_output
from interp.explainers.memory import JacobianPlan, activation_bytes_per_sequence, check_jacobian_memory
from interp.explainers.sweep_readouts import (
    LayerMaps,
    MutationScores,
    SweepPlan,
    SweepReadout,
    both_strands,
    layer_contacts,
    sweep_rows_per_position,
)
from interp.maps.effects import EffectTable
from interp.maps.prediction import ContactPrediction

CPU_MAX_BATCH = 32
CPU_TOKENS_PER_BATCH = 8192  # a CPU is compute-bound well before this: larger batches only cost memory
GPU_MAX_BATCH = 1024


def auto_batch_size(adapter: Adapter, n_tokens: int, available: int | None = None, *, every_layer: bool = False) -> int:
    """How many mutants fit in one forward: a quarter of free memory (or of `available` bytes) over a
    per-sequence activation estimate (with `every_layer`, one that also returns every layer's hidden states).

    On a CPU the forward is compute-bound well below this, so the batch is also capped (CPU_MAX_BATCH
    sequences and CPU_TOKENS_PER_BATCH tokens).
    """
    per_sequence = activation_bytes_per_sequence(adapter, n_tokens, every_layer=every_layer)
    device = adapter.device
    budget = (available_memory_bytes(device) if available is None else available) // 4
    cap = GPU_MAX_BATCH if device.type == "cuda" else min(CPU_MAX_BATCH, CPU_TOKENS_PER_BATCH // n_tokens)
    return int(max(1, min(cap, budget // max(per_sequence, 1))))


class CategoricalJacobian(Explainer):
    """Contacts from the categorical Jacobian [L, A, L, A] of the model's logits.

    Each residue is mutated to every letter of the alphabet; J[p, a, q, b] is how the logit of letter b at
    residue q moves when residue p becomes a. The wild-type letter's own row is zero and never run, so a
    sequence of L residues costs about L x (A - 1) + 1 sequence forwards (19L + 1 for proteins), or L + 1
    with `fast=True`, grouped `batch_size` at a time. The Jacobian is centred, symmetrised and reduced to an
    [L, L] map by Frobenius norm and APC (`interp.jacobian_to_contacts`).

    Every forward has the same batch shape (the wild type rides in the first batch, the last batch is padded),
    so a compiled model never recompiles mid-run. Causal DNA models add a reverse-complement pass.

    Args:
        model: a model (with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer.
        adapter: an explicit adapter (instead of detection).
        fast: replace the A letters by the mask token (L forwards instead of L x A).
        batch_size: mutants per forward (None: from free memory).
        dtype: autocast dtype (e.g. torch.bfloat16), or None for the model's own precision.
        keep_jacobian: keep the raw tensor on the prediction.
        compile: run the mutant passes through `torch.compile(model)` (the model itself is untouched).
        per_layer: also read one contact map per layer from the same passes (`ContactPrediction.layer_contacts`,
            [layers, L, L]; see `interp.explainers.sweep_readouts.LayerMaps`): no extra forward, each pass also
            returns its hidden states.
        effects: also read single-mutant scores from the same passes (`ContactPrediction.effects`, an
            `EffectTable`): the wild-type marginal always; the mutant's log-likelihood from the letter sweep, the
            masked marginal from the `fast` sweep.
        memory_limit: bytes the run may use (None: the device's free memory); a run that would need more is
            refused before it starts, with the settings that would fit (InsufficientMemoryError).
        show_progress: a progress bar over the batches.
        **window_options: `long_sequences` and `window_overlap`, passed to `Explainer`.

    Raises:
        InterpError: the family defines no per-residue mutation (BPE tokens), no mask token for `fast`, no LM
            head, `batch_size` < 1, or (in `attribute`) an all-zero Jacobian.
    """

    method = "categorical_jacobian"
    reads_logits = True  # RepresentationJacobian reads hidden states instead

    def __init__(
        self,
        model: nn.Module | Adapter,
        tokenizer: Any = None,
        *,
        adapter: Adapter | None = None,
        fast: bool = False,
        batch_size: int | None = None,
        dtype: torch.dtype | None = None,
        keep_jacobian: bool = False,
        compile: bool = False,
        per_layer: bool = False,
        effects: bool = False,
        memory_limit: int | None = None,
        show_progress: bool = False,
        **window_options: Any,
    ) -> None:
        super().__init__(model, tokenizer, adapter=adapter, show_progress=show_progress, memory_limit=memory_limit,
                         **window_options)  # fmt: skip
        self._require_mutations()
        self.compile = compile
        self._runner = (
            self.adapter.with_model(cast(nn.Module, torch.compile(self.adapter.model, dynamic=False)))
            if compile
            else self.adapter
        )
        if batch_size is not None and batch_size < 1:
            raise InterpError(f"batch_size must be >= 1; got {batch_size}")
        if fast and self.adapter.mask_token_id is None:
            raise InterpError(f"{self.adapter.name} has no mask token, so fast=True is not available")
        if not self.adapter.has_lm_head and self.reads_logits:
            raise InterpError(f"{self.adapter.name} has no language-model head: use RepresentationJacobian")
        self.fast = fast
        self.batch_size = batch_size
        self.dtype = dtype
        self.keep_jacobian = keep_jacobian
        self.per_layer = per_layer
        self.effects = effects
        if effects and not self.reads_logits:
            raise InterpError("effects=True reads the logits: use CategoricalJacobian, not RepresentationJacobian")
        if fast:
            self.method = "fast_categorical_jacobian"

    # --- what is read off each forward (logits here; hidden states in RepresentationJacobian) ---
    def _forward_kwargs(self) -> dict[str, bool]:
        return {}

    def _readout(self, out: ForwardOutput, encoded: Encoded) -> torch.Tensor:
        """Logits at the residues' readout positions, restricted to the alphabet: [B, L, A]."""
        if out.logits is None:
            raise InterpError(f"{self.adapter.name}: the forward returned no logits")
        return self.adapter.residue_logits(out.logits, encoded)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.adapter.device.type, dtype=self.dtype)

    def _substitutions(self, encoded: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """(token position of each residue [L], replacement token ids [L, S]: letters, or the mask)."""
        token_positions, table = self.adapter.mutation_table(encoded)
        if self.fast:
            assert self.adapter.mask_token_id is not None  # checked in __init__ (fast needs a mask token)
            table = torch.full((len(token_positions), 1), int(self.adapter.mask_token_id), dtype=torch.long)
        return token_positions, table

    def jacobian(
        self,
        sequence: str | Encoded,
        *,
        unknown: str = "error",
        positions: Sequence[int] | None = None,
        readouts: Sequence[SweepReadout] = (),
    ) -> torch.Tensor:
        """The raw Jacobian [L, S, L, X] (S letters, or 1 mask for fast; X output letters or features).

        One strand, uncentred, and without the memory check `attribute` runs first (`check_memory`); for a
        causal DNA model `attribute` adds the reverse-complement pass. Costs one forward per mutant plus
        one for the unmutated sequence, in batches of `batch_size`.

        Args:
            sequence: a sequence, or one already encoded by the adapter.
            unknown: "error" refuses letters outside the alphabet; "mask" puts the mask token there.
            positions: mutate only these 0-based residues (their rows are filled, the others stay zero);
                None mutates every residue.
            readouts: readouts of the sweep (`interp.explainers.sweep_readouts`) that see every batch as it
                arrives: per-layer maps, mutation scores.

        Returns:
            A float32 tensor [L, S, L, X] on the model's device, J[p, s, q] = f(residue p set to s)[q] - f[q],
            with S the alphabet's A letters (1, the mask, with `fast`) and X the A alphabet logits (the hidden
            size H in `RepresentationJacobian`). Rows of wild-type letters and of unmutated positions are zero.

        Raises:
            InterpError: a position outside 0..L-1, or an invalid sequence.
            NonFiniteOutputError: the model returned NaN or infinite values (the mutant is named).

        Example:
            >>> from interp import CategoricalJacobian
            >>> from interp.testing.stand_ins import esm_model
            >>> model, tokenizer = esm_model("tiny")
            >>> CategoricalJacobian(model, tokenizer).jacobian("MKTAYIAKQR").shape
            torch.Size([10, 20, 10, 20])
            >>> CategoricalJacobian(model, tokenizer, fast=True).jacobian("MKTAYIAKQR").shape
            torch.Size([10, 1, 10, 20])
        """
        encoded = sequence if isinstance(sequence, Encoded) else self.adapter.encode(sequence, unknown=unknown)
        adapter = self.adapter
        device = adapter.device
        ids = encoded.input_ids.to(device)
        token_positions, subs = self._substitutions(encoded)
        token_positions, subs = token_positions.to(device), subs.to(device)
        length, n_subs = len(encoded.sequence), subs.shape[1]

        mutated_positions = torch.arange(length, device=device)
        if positions is not None:
            mutated_positions = torch.as_tensor(list(positions), dtype=torch.long, device=device)
            if mutated_positions.numel() and not bool(((mutated_positions >= 0) & (mutated_positions < length)).all()):
                raise InterpError(f"positions must lie in 0..{length - 1}; got {list(positions)}")
        pos_index = mutated_positions.repeat_interleave(n_subs)
        sub_index = torch.arange(n_subs, device=device).repeat(len(mutated_positions))
        needed = subs[pos_index, sub_index] != ids[token_positions[pos_index]]  # wild-type letter: row is zero
        pos_index, sub_index = pos_index[needed], sub_index[needed]
        # row 0 of the work list is the wild type itself (position index -1), then every mutant
        pos_index = torch.cat([torch.tensor([-1], device=device), pos_index])
        sub_index = torch.cat([torch.tensor([0], device=device), sub_index])

        kwargs = self._forward_kwargs()
        if any(r.needs_hidden_states for r in readouts):
            kwargs = {**kwargs, "output_hidden_states": True}
        plan = SweepPlan(encoded, n_subs, sweep_rows_per_position(pos_index, length), masked=self.fast)
        for readout in readouts:
            readout.start(plan)
        batch_size = self._batch_size(len(ids))
        if not self.compile:  # a compiled model keeps one batch shape (padding), an eager one just shrinks
            batch_size = min(batch_size, len(pos_index))
        n_batches = math.ceil(len(pos_index) / batch_size)
        jac: torch.Tensor | None = None
        wild_type: torch.Tensor | None = None
        bar = tqdm(total=n_batches, disable=not self.show_progress, desc=self.method, unit="batch", leave=False)
        for start in range(0, len(pos_index), batch_size):
            p = pos_index[start : start + batch_size]
            s = sub_index[start : start + batch_size]
            n_real = len(p)
            if n_real < batch_size:  # pad with copies of the last row: every forward has one shape
                p = torch.cat([p, p[-1:].expand(batch_size - n_real)])
                s = torch.cat([s, s[-1:].expand(batch_size - n_real)])
            batch = ids.repeat(batch_size, 1)
            mutated = p >= 0
            rows = torch.arange(batch_size, device=device)[mutated]
            batch[rows, token_positions[p[mutated]]] = subs[p[mutated], s[mutated]]
            with torch.no_grad(), self._autocast():  # not inference_mode: see AttentionReadout.head_maps
                output = self._runner.forward(batch, **kwargs)
                values = self._readout(output, encoded)[:n_real].float()
            check_finite_output(values, "outputs", functools.partial(self._describe_row, p, s, subs))
            p, s = p[:n_real], s[:n_real]
            for readout in readouts:
                readout.observe(p, s, output, values)
            if wild_type is None:
                wild_type = values[0].clone()
                # allocated outside inference mode, so the caller may post-process it in place
                jac = torch.zeros(length, n_subs, *wild_type.shape, dtype=torch.float32, device=device)
                p, s, values = p[1:], s[1:], values[1:]
            assert jac is not None
            jac[p, s] = values - wild_type
            bar.update(1)
        bar.close()
        assert jac is not None
        if encoded.first_unpredicted:
            jac[:, :, 0] = 0  # nothing on this strand predicts residue 0 (no start token)
        return jac

    def _describe_row(self, p: torch.Tensor, s: torch.Tensor, subs: torch.Tensor, row: int) -> str:
        """Which sequence of a batch a row is: the unmutated one, or 'mutant W at residue 4'."""
        position = int(p[row])
        if position < 0:
            return "the unmutated sequence"
        token = int(subs[position, s[row]])
        letters = dict(zip(self.adapter.letter_token_ids.tolist(), self.adapter.alphabet, strict=False))
        return f"mutant {letters.get(token, f'token {token}')} at residue {position + 1}"

    def _needs_both_strands(self) -> bool:
        return super()._needs_both_strands() and not self.fast  # the mask-token variant is read on one strand

    def _batch_size(self, n_tokens: int) -> int:
        """Mutants per forward: the caller's batch_size, else what fits in the memory budget."""
        return self.batch_size or auto_batch_size(self.adapter, n_tokens, self.memory_budget(),
                                                  every_layer=self._returns_every_layer)  # fmt: skip

    @property
    def _returns_every_layer(self) -> bool:
        """Whether each forward returns every layer's hidden states (per-layer maps, hidden-state readout)."""
        return self.per_layer or not self.reads_logits

    def _output_width(self) -> int:
        """Values read per residue: the alphabet's logits (hidden size in RepresentationJacobian)."""
        return len(self.adapter.alphabet)

    def check_memory(self, encoded: Encoded) -> None:
        """Refuse (InsufficientMemoryError, with the settings that fit) a run that would not fit in memory.

        The estimate counts the [L, S, L, X] float32 Jacobian (four copies where both strands are read, one
        more with `keep_jacobian`) plus one batch of forward activations (with every layer's hidden states when
        `per_layer` reads them) and the per-layer maps [layers, L, L] per strand, against `memory_budget()`.

        Args:
            encoded: the sequence as the adapter encodes it (`explainer.adapter.encode(sequence)`).

        Raises:
            InsufficientMemoryError: the run would need more than the budget; the message lists the settings
                that would fit (keep_jacobian=False, a smaller batch_size, fast=True, windows, the attention
                readout).
        """
        both_strands = self._needs_both_strands()
        n_tokens = len(encoded.input_ids)
        plan = JacobianPlan(
            length=len(encoded.sequence),
            substitutions=self._substitutions(encoded)[1].shape[1],
            width=self._output_width(),
            copies=(4 if both_strands else 1) + int(self.keep_jacobian),  # both strands: two, a flip, a sum
            batch_size=self._batch_size(n_tokens),
            per_sequence=activation_bytes_per_sequence(self.adapter, n_tokens, every_layer=self._returns_every_layer),
            readout_bytes=(2 if both_strands else 1) * 4 * self.adapter.shape.layers * len(encoded.sequence) ** 2
            if self.per_layer else 0,
        )  # fmt: skip
        check_jacobian_memory(plan, available=self.memory_budget(), device=self.adapter.device, what=type(self).__name__,
                              keep_jacobian=self.keep_jacobian,
                              can_go_fast=self.adapter.mask_token_id is not None and not self.fast)  # fmt: skip

    def _explain(self, encoded: Encoded, name: str | None) -> ContactPrediction:
        self.check_memory(encoded)
        strands: list[tuple[LayerMaps | None, MutationScores | None]] = []

        def one_strand(strand: Encoded) -> torch.Tensor:
            layers = LayerMaps(self.adapter) if self.per_layer else None
            scores = MutationScores(self.adapter) if self.effects and not strands else None  # the strand as written
            strands.append((layers, scores))
            return self.jacobian(strand, readouts=[r for r in (layers, scores) if r is not None])

        jac = self._strand_jacobian(encoded, one_strand)
        prediction = self._jacobian_prediction(encoded, jac, name, self.keep_jacobian)
        if self.per_layer:
            norms = [layers.norm_maps() for layers, _ in strands if layers is not None]
            combined = norms[0] if len(norms) == 1 else both_strands(norms[0], norms[1])
            prediction.layer_contacts = layer_contacts(combined, self.adapter.name)
        scores = strands[0][1]
        if scores is not None:
            prediction.effects = EffectTable(
                encoded.sequence, self.adapter.alphabet, scores.finish(), name=name,
                metadata={**prediction.metadata, "causal": self.adapter.causal},
            )  # fmt: skip
        return prediction


class RepresentationJacobian(CategoricalJacobian):
    """The categorical Jacobian of one layer's hidden states [L, A, L, H] (for encoders without an LM head).

    The same mutants and cost as `CategoricalJacobian`, but each forward reads the hidden states of `layer`
    at the residues instead of the logits; the Jacobian is then reduced to an [L, L] map by Frobenius norm
    and APC.

    Args:
        model: a model (with `tokenizer`) or an `Adapter`; no language-model head is needed.
        tokenizer: the model's tokenizer.
        layer: index into the model's hidden states (0 = embeddings, -1 = last layer).
        **options: the options of `CategoricalJacobian` (fast, batch_size, dtype, keep_jacobian, ...).

    Raises:
        InterpError: as for `CategoricalJacobian` (except the LM head), or (in `attribute`) a forward that
            returns no hidden states or none at `layer`.
    """

    method = "representation_jacobian"
    reads_logits = False

    def __init__(self, model: nn.Module | Adapter, tokenizer: Any = None, *, layer: int = -1, **options: Any) -> None:
        super().__init__(model, tokenizer, **options)
        self.layer = layer
        if self.fast:
            self.method = "fast_representation_jacobian"

    def _forward_kwargs(self) -> dict[str, bool]:
        return {"output_hidden_states": True}

    def _output_width(self) -> int:
        return self.adapter.shape.hidden

    def _readout(self, out: ForwardOutput, encoded: Encoded) -> torch.Tensor:
        if not out.hidden_states:
            raise InterpError(f"{self.adapter.name}: the forward returned no hidden states")
        count = len(out.hidden_states)
        if not -count <= self.layer < count:
            raise InterpError(
                f"layer={self.layer}: {self.adapter.name} gives {count} hidden states (0 = embeddings, "
                f"{count - 1} = last layer; negative counts from the end)"
            )
        states = out.hidden_states[self.layer]
        return states.index_select(1, encoded.residue_positions.to(states.device))
