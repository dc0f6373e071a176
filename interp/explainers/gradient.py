"""The gradient Jacobian: d logits[q, b] / d one-hot[p, a] by autograd, the categorical Jacobian's linear twin.

A forward hook on the input embedding swaps its output for a differentiable copy; `torch.func.vjp` then
gives every output's gradient with respect to the embedded sequence, vectorised with `vmap` over all
L*A outputs (activation gradients only: no parameter gradients are formed), and the embedding matrix
projects them onto the alphabet's letters.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch
from einops import einsum, rearrange
from torch import nn
from tqdm.auto import tqdm

from interp.adapters.base import Adapter, Encoded
from interp.errors import InterpError
from interp.explainers.base import Explainer, check_finite_output
from interp.explainers.memory import JacobianPlan, activation_bytes_per_sequence, check_jacobian_memory
from interp.prediction import ContactPrediction


class GradientJacobian(Explainer):
    """Contacts from the gradient Jacobian [L, A, L, A]; `chunk_size` outputs are differentiated at once.

    memory_limit: bytes the run may use (None: the device's free memory); beyond it the run is refused.
    """

    method = "gradient_jacobian"

    def __init__(
        self,
        model: nn.Module | Adapter,
        tokenizer: Any = None,
        *,
        adapter: Adapter | None = None,
        chunk_size: int | None = 16,
        eager_attention: bool = False,
        keep_jacobian: bool = False,
        memory_limit: int | None = None,
        show_progress: bool = False,
        **window_options: Any,
    ) -> None:
        super().__init__(model, tokenizer, adapter=adapter, show_progress=show_progress, memory_limit=memory_limit,
                         **window_options)  # fmt: skip
        self._require_mutations()
        if not self.adapter.has_lm_head:
            raise InterpError(f"{self.adapter.name} has no language-model head: use RepresentationJacobian")
        self.chunk_size = chunk_size
        self.eager_attention = eager_attention
        self.keep_jacobian = keep_jacobian

    def jacobian(self, sequence: str | Encoded, *, unknown: str = "error") -> torch.Tensor:
        """The raw gradient Jacobian [L, A, L, A]: J[p, a, q, b] = d logit[q, b] / d onehot[p, a]."""
        encoded = sequence if isinstance(sequence, Encoded) else self.adapter.encode(sequence, unknown=unknown)
        adapter = self.adapter
        device = adapter.device
        embedding = adapter.input_embedding()
        letters = adapter.letter_token_ids.to(device)
        ids = encoded.input_ids.to(device)[None]
        readout = encoded.readout_positions.to(device)
        residues = encoded.residue_positions.to(device)
        length, n_letters = len(encoded.sequence), len(letters)

        def logits_of(embedded: torch.Tensor) -> torch.Tensor:
            handle = embedding.register_forward_hook(lambda module, args, output: embedded)
            try:
                logits = adapter.forward(ids).logits
            finally:
                handle.remove()
            return logits[0].index_select(0, readout).index_select(1, letters)

        letter_vectors = embedding.weight.detach().index_select(0, letters)
        n_outputs = length * n_letters
        chunk = self.chunk_size or n_outputs
        jac = torch.empty(length, n_letters, n_outputs, dtype=torch.float32, device=device)
        with torch.no_grad(), self._attention_context(), warnings.catch_warnings():  # no parameter gradients;
            embedded = embedding(ids).detach()  # torch.func still differentiates the embedded input
            logits, pullback = torch.func.vjp(logits_of, embedded)
            check_finite_output(logits, "logits for the unmutated sequence")
            batched_pullback = torch.func.vmap(pullback)
            # SDPA's CPU backward has no vmap batching rule yet: torch loops over the chunk (still faster
            # than eager attention, measured in benchmarks/speed.py) and warns each time; the note is ours.
            warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
            bar = tqdm(total=-(-n_outputs // chunk), disable=not self.show_progress, desc=self.method, leave=False)
            for start in range(0, n_outputs, chunk):
                stop = min(start + chunk, n_outputs)
                outputs = torch.arange(start, stop, device=device)
                cotangents = torch.zeros(stop - start, length, n_letters, device=device, dtype=logits.dtype)
                cotangents[torch.arange(stop - start, device=device), outputs // n_letters, outputs % n_letters] = 1
                (grads,) = batched_pullback(cotangents)  # [chunk, 1, T, hidden]
                residue_grads = grads[:, 0].index_select(1, residues)
                jac[:, :, start:stop] = einsum(residue_grads, letter_vectors, "n p h, a h -> p a n").float()
                bar.update(1)
            bar.close()
        jac = rearrange(jac, "p a (q b) -> p a q b", q=length)
        check_finite_output(jac, "gradients", lambda row: f"at residue {row + 1}")
        return jac

    def _attention_context(self):
        """Eager attention when asked (every op then has a vmap batching rule); the model's own otherwise."""
        return self.adapter.attention_weights_enabled() if self.eager_attention else contextlib.nullcontext()

    def check_memory(self, encoded: Encoded) -> None:
        """Refuse (InsufficientMemoryError, with the settings that fit) a run that would not fit in memory."""
        n_tokens, length = len(encoded.input_ids), len(encoded.sequence)
        n_letters = len(self.adapter.alphabet)
        plan = JacobianPlan(
            length=length, substitutions=n_letters, width=n_letters, copies=1 + int(self.keep_jacobian),
            batch_size=self.chunk_size or length * n_letters,  # one backward activation set per output in a chunk
            per_sequence=activation_bytes_per_sequence(self.adapter, n_tokens),
        )  # fmt: skip
        check_jacobian_memory(plan, available=self.memory_budget(), device=self.adapter.device, what=type(self).__name__,
                              keep_jacobian=self.keep_jacobian, can_go_fast=False)  # fmt: skip

    def _explain(self, encoded: Encoded, name: str | None) -> ContactPrediction:
        self.check_memory(encoded)
        return self._jacobian_prediction(encoded, self.jacobian(encoded), name, self.keep_jacobian)
