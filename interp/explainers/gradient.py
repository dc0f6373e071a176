"""The gradient Jacobian: d logits[q, b] / d one-hot[p, a] by autograd, the categorical Jacobian's linear twin.

A forward hook on the input embedding swaps its output for a differentiable copy; `torch.func.vjp` then
gives every output's gradient with respect to the embedded sequence, vectorised with `vmap` over all
L*A outputs (activation gradients only: no parameter gradients are formed), and the embedding matrix
projects them onto the alphabet's letters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from einops import einsum, rearrange
from torch import nn
from torch.utils.hooks import RemovableHandle
from tqdm.auto import tqdm

from interp.adapters.base import Adapter, EmbeddingSite, Encoded
from interp.errors import InterpError
from interp.explainers.base import Explainer, check_finite_output
from interp.explainers.memory import JacobianPlan, activation_bytes_per_sequence, check_jacobian_memory
from interp.maps.prediction import ContactPrediction
from interp.models.compat import quiet_vmap_fallback


class GradientJacobian(Explainer):
    """Contacts from the gradient Jacobian [L, A, L, A]: d logit[q, b] / d one-hot[p, a], by autograd.

    The linear counterpart of `CategoricalJacobian`: one forward, then L x A vector-Jacobian products
    (one per output logit, `chunk_size` at a time under `vmap`; activation gradients only, no parameter
    gradients). The Jacobian is reduced to an [L, L] map like the categorical one (centre, symmetrise,
    Frobenius norm, APC). Causal DNA models add a reverse-complement pass.

    Args:
        model: a model (with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer.
        adapter: an explicit adapter (instead of detection).
        chunk_size: outputs differentiated at once (vmap); None: all at once.
        eager_attention: run eager attention (every op has a vmap rule) instead of the model's own kernel.
        keep_jacobian: keep the raw tensor on the prediction.
        memory_limit: bytes the run may use (None: the device's free memory); beyond it the run is refused.
        show_progress: a progress bar over the chunks.
        **window_options: `long_sequences` and `window_overlap`, passed to `Explainer`.

    Raises:
        InterpError: the family defines no per-residue gradient (BPE or 6-mer tokens), the model has no LM head,
            or (in `attribute`) the embedded sequence never reached the model or the Jacobian is all zero.
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
        """The raw gradient Jacobian of one strand [L, A, L, A]: J[p, a, q, b] = d logit[q, b] / d onehot[p, a].

        Uncentred, and without the memory check `attribute` runs first (`check_memory`). The gradient with
        respect to the embedded sequence is projected onto each letter's embedding vector.

        Args:
            sequence: a sequence, or one already encoded by the adapter.
            unknown: "error" refuses letters outside the alphabet; "mask" puts the mask token there.

        Returns:
            A float32 tensor [L, A, L, A] on the model's device.

        Raises:
            InterpError: the model never calls the adapter's embedding site through `__call__` (a hook there
                would never fire), so no gradient could be taken; or an invalid sequence.
            NonFiniteOutputError: NaN or infinite logits or gradients (the residue is named).
        """
        encoded = sequence if isinstance(sequence, Encoded) else self.adapter.encode(sequence, unknown=unknown)
        adapter = self.adapter
        device = adapter.device
        site = adapter.embedding_site()
        letters = adapter.letter_token_ids.to(device)
        ids = encoded.input_ids.to(device)[None]
        readout = encoded.readout_positions.to(device)
        residues = encoded.residue_positions.to(device)
        length, n_letters = len(encoded.sequence), len(letters)

        def logits_of(embedded: torch.Tensor) -> torch.Tensor:
            handle = _replace_at(site, embedded)
            try:
                logits = adapter.forward(ids).logits
            finally:
                handle.remove()
            assert logits is not None
            return logits[0].index_select(0, readout).index_select(1, letters)

        letter_vectors = site.weight.detach().index_select(0, letters)
        n_outputs = length * n_letters
        chunk = self.chunk_size or n_outputs
        jac = torch.empty(length, n_letters, n_outputs, dtype=torch.float32, device=device)
        with torch.no_grad(), self._attention_context(), quiet_vmap_fallback():  # no parameter gradients;
            embedded = _embedded_input(site, ids, adapter).detach()  # torch.func still differentiates it
            try:
                logits, pullback = torch.func.vjp(logits_of, embedded)[:2]
                pull = _batched(pullback)
            except RuntimeError as error:  # torch.func cannot trace the model: plain autograd, one output at a time
                if not _functorch_refusal(error):
                    raise
                logits, pull = _autograd_pullback(logits_of, embedded)
            check_finite_output(logits, "logits for the unmutated sequence")
            # SDPA's CPU backward has no vmap batching rule yet: torch loops over the chunk (still faster
            # than eager attention, measured in benchmarks/speed.py) and warns each time (quiet_vmap_fallback)
            bar = tqdm(total=-(-n_outputs // chunk), disable=not self.show_progress, desc=self.method, leave=False)
            for start in range(0, n_outputs, chunk):
                stop = min(start + chunk, n_outputs)
                outputs = torch.arange(start, stop, device=device)
                cotangents = torch.zeros(stop - start, length, n_letters, device=device, dtype=logits.dtype)
                cotangents[torch.arange(stop - start, device=device), outputs // n_letters, outputs % n_letters] = 1
                grads = pull(cotangents)  # [chunk, 1, T, hidden]
                residue_grads = grads[:, 0].index_select(1, residues).float()
                jac[:, :, start:stop] = einsum(residue_grads, letter_vectors.float(), "n p h, a h -> p a n")
                bar.update(1)
            bar.close()
        jac = rearrange(jac, "p a (q b) -> p a q b", q=length)
        check_finite_output(jac, "gradients", lambda row: f"at residue {row + 1}")
        if encoded.first_unpredicted:
            jac[:, :, 0] = 0  # nothing on this strand predicts residue 0 (no start token)
        return jac

    def _attention_context(self):
        """Eager attention when asked (every op then has a vmap batching rule); the model's own otherwise."""
        return self.adapter.attention_weights_enabled() if self.eager_attention else contextlib.nullcontext()

    def check_memory(self, encoded: Encoded) -> None:
        """Refuse (InsufficientMemoryError, with the settings that fit) a run that would not fit in memory.

        The estimate counts the [L, A, L, A] float32 Jacobian (one more copy with `keep_jacobian`) plus one
        set of backward activations per output in a chunk, against `memory_budget()`.

        Args:
            encoded: the sequence as the adapter encodes it (`explainer.adapter.encode(sequence)`).

        Raises:
            InsufficientMemoryError: the run would need more than the budget; the message lists the settings
                that would fit.
        """
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
        jac = self._strand_jacobian(encoded, self.jacobian)
        return self._jacobian_prediction(encoded, jac, name, self.keep_jacobian)


def _replace_at(site: EmbeddingSite, embedded: torch.Tensor) -> RemovableHandle:
    """Hook the site so the network reads `embedded` where it would read the embedded token ids."""
    if site.at == "output":

        def replace_output(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
            return embedded.clone()  # not the leaf itself: models scale their embeddings in place (CTRL, GIT)

        return site.module.register_forward_hook(replace_output)

    def replace_input(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (embedded.clone(), *args[1:])

    return site.module.register_forward_pre_hook(replace_input)


def _embedded_input(site: EmbeddingSite, ids: torch.Tensor, adapter: Adapter) -> torch.Tensor:
    """The embedded sequence as the network reads it at the site (captured from one plain forward)."""
    captured: list[torch.Tensor] = []
    if site.at == "output":
        handle = site.module.register_forward_hook(lambda module, args, output: captured.append(output))
    else:
        handle = site.module.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    try:
        adapter.forward(ids)
    finally:
        handle.remove()
    if not captured:
        raise InterpError(
            f"{adapter.name}: the model never called {type(site.module).__name__} through __call__, so no hook can "
            "reach its embedded input (an embedding called through another method, e.g. Evo's embed()); "
            "the adapter's embedding_site() must name a module the forward calls"
        )
    embedded = captured[0]
    if not isinstance(embedded, torch.Tensor) or tuple(embedded.shape[:2]) != tuple(ids.shape):
        shape = tuple(embedded.shape) if isinstance(embedded, torch.Tensor) else type(embedded).__name__
        raise InterpError(
            f"{adapter.name}: the embedded input at {type(site.module).__name__} is laid out as {shape}, not [batch, "
            f"tokens, hidden] for token ids of shape {tuple(ids.shape)} (a model that pads or extends its input, e.g. "
            "Longformer, CPM-Ant, or one that is time-major, e.g. XLNet), so its "
            "gradient cannot be read per residue; use CategoricalJacobian"
        )
    return embedded


def _functorch_refusal(error: RuntimeError) -> bool:
    """torch.func's refusal of an operation it cannot transform (an autograd.Function without setup_context
    or a vmap rule), as opposed to a genuine error in the model."""
    text = str(error)
    return any(marker in text for marker in ("vmap", "autograd.Function", "functorch"))


def _autograd_pullback(
    logits_of: Callable[[torch.Tensor], torch.Tensor], embedded: torch.Tensor
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """(logits, pull) by plain autograd: one graph, then one backward per cotangent (retained graph)."""
    with torch.enable_grad():
        leaf = embedded.clone().requires_grad_(True)
        logits = logits_of(leaf)

    def pull(cotangents: torch.Tensor) -> torch.Tensor:
        grads = []
        for cotangent in cotangents:
            (grad,) = torch.autograd.grad(logits, leaf, cotangent, retain_graph=True)
            grads.append(grad)
        return torch.stack(grads)

    return logits.detach(), pull


def _batched(pullback: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The pullback over a chunk of cotangents: vectorised with vmap, or one at a time where vmap cannot run
    (autograd.Function without a vmap rule, e.g. DNABERT-2's padding helpers)."""
    vectorised = torch.func.vmap(pullback)
    use_loop = False

    def pull(cotangents: torch.Tensor) -> torch.Tensor:
        nonlocal use_loop
        if not use_loop:
            try:
                return vectorised(cotangents)[0]
            except RuntimeError as error:
                if not _functorch_refusal(error):
                    raise
                use_loop = True
        return torch.stack([pullback(cotangent)[0] for cotangent in cotangents])

    return pull
