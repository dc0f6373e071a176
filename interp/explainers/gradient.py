"""The gradient Jacobian: d logits[q, b] / d one-hot[p, a] by autograd, the categorical Jacobian's linear twin.

A forward hook on the input embedding swaps its output for a differentiable copy; `torch.func.vjp` then
gives every output's gradient with respect to the embedded sequence, vectorised with `vmap` over all
L*A outputs (activation gradients only: no parameter gradients are formed), and the embedding matrix
projects them onto the alphabet's letters.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import einsum, rearrange
from torch import nn

from interp.adapters.base import Adapter, Encoded
from interp.contacts import jacobian_to_contacts
from interp.errors import InterpError
from interp.explainers.base import Explainer, check_finite_output
from interp.prediction import ContactPrediction


class GradientJacobian(Explainer):
    """Contacts from the gradient Jacobian [L, A, L, A]; `chunk_size` outputs are differentiated at once."""

    method = "gradient_jacobian"

    def __init__(
        self,
        model: nn.Module | Adapter,
        tokenizer: Any = None,
        *,
        adapter: Adapter | None = None,
        chunk_size: int | None = 32,
        keep_jacobian: bool = False,
        show_progress: bool = False,
    ) -> None:
        super().__init__(model, tokenizer, adapter=adapter, show_progress=show_progress)
        if not self.adapter.has_lm_head:
            raise InterpError(f"{self.adapter.name} has no language-model head: use RepresentationJacobian")
        self.chunk_size = chunk_size
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

        with torch.no_grad():  # no parameter gradients; torch.func still differentiates the embedded input
            embedded = embedding(ids).detach()
            with adapter.attention_weights_enabled():  # eager attention: every op has a vmap batching rule
                logits, pullback = torch.func.vjp(logits_of, embedded)
                check_finite_output(logits, "logits for the unmutated sequence")
                cotangents = torch.eye(length * n_letters, device=device, dtype=logits.dtype)
                cotangents = rearrange(cotangents, "n (q b) -> n q b", q=length)
                (grads,) = torch.func.vmap(pullback, chunk_size=self.chunk_size)(cotangents)
            grads = grads[:, 0].index_select(1, residues)  # [(q b), p, hidden]
            letter_vectors = embedding.weight.detach().index_select(0, letters)
            jac = einsum(grads, letter_vectors, "n p h, a h -> p a n")
            jac = rearrange(jac, "p a (q b) -> p a q b", q=length).float().contiguous()
        check_finite_output(jac, "gradients")
        return jac

    def _explain(self, encoded: Encoded, name: str | None) -> ContactPrediction:
        jac = self.jacobian(encoded)
        kept = jac.clone() if self.keep_jacobian else None
        contacts = jacobian_to_contacts(jac, inplace=True).float().cpu()
        return ContactPrediction(
            sequence=encoded.sequence,
            method=self.method,
            contacts=contacts,
            jacobian=None if kept is None else kept.cpu(),
            name=name,
            metadata={"adapter": self.adapter.name},
        )
