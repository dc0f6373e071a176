"""Captum's own attribution methods, run through any adapter: forward functions of the embedded sequence.

The explainers keep Captum's conventions (an `attribute()` method, typed results) without subclassing
`captum.attr.Attribution`: their inputs are sequences and their results contact maps, which Captum's
methods cannot take. This module is the real bridge. `captum_target` builds, on any adapter's model, a
forward function F(embedded [B, T, H]) -> [B] of the embedded tokens (replaced where the adapter's
`embedding_site` says the network reads them), together with the embedded sequence, a baseline and a
per-residue feature mask; `captum.attr.IntegratedGradients`, `Saliency`, `FeatureAblation` (and any other
Captum method that takes a forward function and an input tensor) accept them unchanged.
`residue_attributions` runs one of the three by name and returns one number per residue
(`CaptumTarget.per_residue` turns any Captum result for `inputs` into one).

Targets (positions are 0-based residue indices):

- "log_likelihood": log p(residue `position` is its own letter), renormalised over the alphabet's letters
  (over the residue's own kind for gLM2). A masked model reads it with that residue masked (the mask
  token is in the input and in the baseline there); a causal model reads it from the token before, given
  the prefix.
- "logit": the logit of `letter` (default: the residue's own) at residue `position`, read at its readout
  token, nothing masked: the output row the categorical and gradient Jacobians read. The gradient of this
  target at residue i, projected on letter a's embedding vector, is the gradient Jacobian's entry
  J[i, a, position, letter]; its attribution at residue i is the (i, position) coupling.
- "contact": the attention readout's contact score (i, j) with the "mean" combiner: the mean over every
  layer's and head's map of APC(M + M^T)[i, j], M the attention between residues; `AttentionReadout`'s map
  holds the same number. Differentiable: the attention weights are recomputed with gradients.

Families where several residues share one token (BPE, 6-mers) are refused: attributions there are per token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from captum.attr import FeatureAblation, IntegratedGradients, Saliency
from einops import rearrange, reduce, repeat
from torch import nn

from interp.adapters.base import Adapter, EmbeddingSite, Encoded, ForwardOutput
from interp.adapters.registry import get_adapter
from interp.errors import InterpError
from interp.explainers.attention import symmetrized_apc
from interp.explainers.base import eval_mode
from interp.explainers.gradient import _embedded_input, _replace_at

CAPTUM_METHODS = ("integrated_gradients", "saliency", "feature_ablation")
CAPTUM_TARGETS = ("log_likelihood", "logit", "contact")
BASELINES = ("mask", "average", "zeros")


@dataclass(frozen=True)
class CaptumTarget:
    """A forward function Captum's methods accept, with the input it attributes to (`captum_target` makes it).

    T is the number of tokens, H the width of the embedded input, L the number of residues.

    Attributes:
        kind: "log_likelihood", "logit" or "contact".
        sequence: the residues (as the adapter encoded them).
        position: the residue read (an int), or the pair (i, j) for "contact"; 0-based.
        forward_func: F(embedded [B, T, H]) -> [B], the target for each embedded sequence of the batch. The
            model runs in eval mode (no dropout) whatever its mode, then gets its own mode back.
        inputs: the embedded sequence [1, T, H] as the network reads it (for a masked model's
            "log_likelihood", with the mask token at `position`), on the model's device, detached.
        baselines: [1, T, H]: `inputs` with every residue token replaced by the baseline (the embedded mask
            token, the average embedded letter, or zero vectors); special tokens, and the masked residue of a masked "log_likelihood", are left as in
            `inputs`, so they receive no attribution from methods that use baselines.
        feature_mask: [1, T, 1] long: residue i's token holds i, every other token L (a group that
            `FeatureAblation` ablates to itself, attribution 0).
        residue_tokens: [L] long: the token holding each residue.
    """

    kind: str
    sequence: str
    position: int | tuple[int, int]
    forward_func: Callable[[torch.Tensor], torch.Tensor]
    inputs: torch.Tensor
    baselines: torch.Tensor
    feature_mask: torch.Tensor
    residue_tokens: torch.Tensor

    def per_residue(self, attributions: torch.Tensor, *, grouped: bool = False) -> torch.Tensor:
        """One number per residue from Captum's attributions [1, T, H], read at each residue's token.

        Args:
            attributions: what a Captum method returned for `inputs`, [1, T, H] (or [T, H]).
            grouped: False for methods that attribute each embedding coordinate (integrated gradients, saliency):
                the coordinates are summed. True for perturbation methods run with `feature_mask`
                (feature ablation): every coordinate of a residue's token carries the whole residue's
                attribution, which is read once.

        Returns:
            A float32 CPU tensor [L].

        Raises:
            InterpError: the attributions are not laid out as `inputs`.
        """
        if attributions.shape not in (self.inputs.shape, self.inputs.shape[1:]):
            raise InterpError(
                f"attributions of shape {tuple(attributions.shape)} are not laid out as the inputs "
                f"{tuple(self.inputs.shape)} (one batch row, tokens, embedding dimension)"
            )
        per_coordinate = attributions.reshape(self.inputs.shape[1:]).float()
        per_token = per_coordinate[:, 0] if grouped else reduce(per_coordinate, "t h -> t", "sum")
        return per_token.index_select(0, self.residue_tokens.to(per_token.device)).cpu()


def captum_target(
    model: nn.Module | Adapter,
    tokenizer: Any,
    sequence: str,
    *,
    position: int | tuple[int, int],
    target: str = "log_likelihood",
    letter: str | None = None,
    baseline: str | None = None,
    adapter: Adapter | None = None,
    name: str | None = None,
) -> CaptumTarget:
    """A forward function of the embedded sequence for Captum's methods, on any adapter's model.

    Args:
        model: a model (with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer (None when `model` is an adapter).
        sequence: the residues (as `Adapter.encode` takes them); it must fit the model in one forward.
        position: the residue read, 0-based ("log_likelihood", "logit"), or the pair (i, j) ("contact").
        target: "log_likelihood", "logit" or "contact" (see the module's description).
        letter: "logit" only: the letter whose logit is read (default: the residue's own).
        baseline: what replaces each residue's embedded token in `baselines`: "mask" (the mask token), "average"
            (the embedded sequence with every residue letter a, averaged over the alphabet's letters) or
            "zeros" (zero vectors). None: "mask" where the family has a mask token, else "average". Zero
            vectors suit models with absolute position embeddings only: after a LayerNorm, a model without
            them (ESM-2, rotary) gives F(alpha x) = F(x) for every alpha > 0, so the target jumps at 0 and
            integrated gradients do not converge.
        adapter: an explicit adapter, used instead of detecting one from the model and tokenizer.
        name: the record's name, for error messages.

    Returns:
        The target: `forward_func`, `inputs`, `baselines`, `feature_mask`, and `per_residue` to sum Captum's
        attributions to one number per residue.

    Raises:
        InterpError: an unknown target, baseline or letter; a position outside the sequence (named), a
            contact of a residue with itself, or the first residue of a causal model without a start token;
            a model without a language-model head ("log_likelihood", "logit"), without attention weights
            ("contact"), or without a mask token (a masked model's "log_likelihood", baseline "mask");
            several residues sharing one token (BPE, 6-mers); an invalid or too long sequence.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from interp.explainers.captum_targets import captum_target
        >>> from interp.testing.stand_ins import esm_model
        >>> model, tokenizer = esm_model("tiny")
        >>> target = captum_target(model, tokenizer, "MKTAYIAKQR", position=3)
        >>> attributions, delta = IntegratedGradients(target.forward_func).attribute(
        ...     target.inputs, baselines=target.baselines, return_convergence_delta=True)
        >>> target.per_residue(attributions).shape
        torch.Size([10])
        >>> bool(delta.abs() < 1e-3)
        True
    """
    adapter = adapter if adapter is not None else get_adapter(model, tokenizer)
    if target not in CAPTUM_TARGETS:
        raise InterpError(f"target={target!r}; choose one of {CAPTUM_TARGETS}")
    if baseline is None:
        baseline = "mask" if adapter.mask_token_id is not None else "average"
    if baseline not in BASELINES:
        raise InterpError(f"baseline={baseline!r}; choose one of {BASELINES}")
    label = f"sequence {name!r}" if name is not None else "the sequence"
    encoded = adapter.encode(sequence, name=name)
    residues = encoded.residue_positions
    length = len(residues)
    if len(set(residues.tolist())) != length:
        raise InterpError(
            f"{adapter.name}: several residues share one token (BPE or k-mer tokens), so Captum's attributions are "
            "per token, not per residue; Captum targets need one token per residue"
        )
    _check_position(position, target, length, label)
    _check_model(adapter, encoded, target, position, baseline)
    letter_index = _letter_index(adapter, encoded, position, letter, target)

    ids = encoded.input_ids.clone()
    if target == "log_likelihood" and not adapter.causal:
        assert adapter.mask_token_id is not None and isinstance(position, int)  # checked in _check_model
        ids[residues[position]] = adapter.mask_token_id
    device = adapter.device
    ids = ids.to(device)
    site = adapter.embedding_site()
    with torch.no_grad(), eval_mode(adapter.model):
        inputs = _embedded_input(site, ids[None], adapter).detach()
        if baseline == "mask":
            masked_ids = ids.clone()
            masked_ids[residues.to(device)] = adapter.mask_token_id  # type: ignore[assignment]  # checked
            replacement = _embedded_input(site, masked_ids[None], adapter).detach()
        elif baseline == "average":  # one forward, batched over the letters: every residue letter a in row a
            letter_ids = adapter.letter_token_ids.to(device)
            uniform = repeat(ids, "t -> a t", a=len(letter_ids)).clone()
            uniform[:, residues.to(device)] = rearrange(letter_ids, "a -> a 1")
            replacement = reduce(_embedded_input(site, uniform, adapter).detach(), "a t h -> 1 t h", "mean")
        else:
            replacement = torch.zeros_like(inputs)
    kept = torch.ones(len(ids), dtype=torch.bool, device=device)
    kept[residues.to(device)] = False
    if target == "log_likelihood" and not adapter.causal:
        kept[residues[position]] = True  # the mask token stays: nothing to attribute there
    baselines = torch.where(rearrange(kept, "t -> 1 t 1"), inputs, replacement)
    feature_mask = torch.full((len(ids),), length, dtype=torch.long)
    feature_mask[residues] = torch.arange(length)
    forward_func = _forward_func(adapter, site, encoded, ids, target, position, letter_index)
    return CaptumTarget(
        kind=target,
        sequence=encoded.sequence,
        position=position if isinstance(position, int) else (int(position[0]), int(position[1])),
        forward_func=forward_func,
        inputs=inputs,
        baselines=baselines,
        feature_mask=rearrange(feature_mask, "t -> 1 t 1").to(device),
        residue_tokens=residues.clone(),
    )


def residue_attributions(
    method: str,
    model: nn.Module | Adapter,
    tokenizer: Any,
    sequence: str,
    *,
    position: int | tuple[int, int],
    target: str = "log_likelihood",
    letter: str | None = None,
    baseline: str | None = None,
    adapter: Adapter | None = None,
    name: str | None = None,
    **options: Any,
) -> torch.Tensor:
    """Attribute one target to the input residues with one of Captum's own methods: one number per residue.

    Runs `captum.attr.IntegratedGradients`, `Saliency` or `FeatureAblation` on `captum_target(...)`. Integrated
    gradients: the attributions of a residue's embedding coordinates, summed (over all residues they add up
    to F(input) - F(baseline)). Saliency: Captum's |dF/dx| (pass abs=False for signed gradients), summed over
    the embedding dimension. Feature ablation: F(input) - F(input with that residue's embedded token
    replaced by the baseline's), one residue at a time. Baselines replace residue tokens only; special
    tokens stay as they are.

    Args:
        method: "integrated_gradients", "saliency" or "feature_ablation".
        model: a model (with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer (None when `model` is an adapter).
        sequence: the residues; it must fit the model in one forward.
        position: the residue read, 0-based ("log_likelihood", "logit"), or the pair (i, j) ("contact").
        target: "log_likelihood" (the residue's log-likelihood of its own letter; masked there in a masked
            model, given the prefix in a causal one), "logit", or "contact" (see `captum_target`).
        letter: "logit" only: the letter whose logit is read (default: the residue's own).
        baseline: "mask", "average" or "zeros"; None: "mask" where the family has a mask token, else
            "average" (see `captum_target`).
        adapter: an explicit adapter, used instead of detecting one from the model and tokenizer.
        name: the record's name, for error messages.
        **options: keyword arguments of the Captum method's `attribute` (e.g. n_steps, internal_batch_size,
            perturbations_per_eval, abs).

    Returns:
        The attributions [L], float32 on the CPU.

    Raises:
        InterpError: an unknown method, `return_convergence_delta` asked for (use `captum_target` with
            `IntegratedGradients` for the delta), or any refusal of `captum_target` (a position outside the
            sequence is named).

    Example:
        >>> from interp.explainers.captum_targets import residue_attributions
        >>> from interp.testing.stand_ins import esm_model
        >>> model, tokenizer = esm_model("tiny")
        >>> residue_attributions("integrated_gradients", model, tokenizer, "MKTAYIAKQR", position=3).shape
        torch.Size([10])
        >>> residue_attributions("feature_ablation", model, tokenizer, "MKTAYIAKQR", position=3)[3].item()
        0.0
    """
    if method not in CAPTUM_METHODS:
        raise InterpError(f"method={method!r}; choose one of {CAPTUM_METHODS}")
    if "return_convergence_delta" in options:
        raise InterpError(
            "residue_attributions returns attributions only: for the convergence delta, call "
            "captum.attr.IntegratedGradients on captum_target(...) with return_convergence_delta=True"
        )
    built = captum_target(model, tokenizer, sequence, position=position, target=target, letter=letter,
                          baseline=baseline, adapter=adapter, name=name)  # fmt: skip
    attributions: Any
    if method == "integrated_gradients":
        attributions = IntegratedGradients(built.forward_func).attribute(
            built.inputs, baselines=built.baselines, **options
        )
    elif method == "saliency":
        inputs = built.inputs.clone().requires_grad_(True)  # Captum warns when it has to set this itself
        attributions = Saliency(built.forward_func).attribute(inputs, **options)
    else:
        attributions = FeatureAblation(built.forward_func).attribute(
            built.inputs, baselines=built.baselines, feature_mask=built.feature_mask, **options
        )
    return built.per_residue(attributions, grouped=method == "feature_ablation")


def _check_position(position: Any, target: str, length: int, label: str) -> None:
    """A 0-based residue index (a pair of them for "contact") inside the sequence, else InterpError naming it."""

    def check_one(value: Any, what: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InterpError(f"{what} {value!r} is not a residue index (a 0-based int)")
        if not 0 <= value < length:
            raise InterpError(
                f"{what} {value} is outside {label} ({length} residues; 0-based positions 0 to {length - 1})"
            )

    if target == "contact":
        if not isinstance(position, (tuple, list)) or len(position) != 2:
            raise InterpError(f"target='contact' needs position=(i, j), a pair of residue indices; got {position!r}")
        check_one(position[0], "position i")
        check_one(position[1], "position j")
        if position[0] == position[1]:
            raise InterpError(f"position ({position[0]}, {position[1]}): a contact needs two different residues")
        return
    check_one(position, "position")


def _check_model(adapter: Adapter, encoded: Encoded, target: str, position: Any, baseline: str) -> None:
    """Refuse targets the model cannot give, saying why."""
    if target in ("log_likelihood", "logit"):
        if not adapter.has_lm_head:
            raise InterpError(f"{adapter.name} has no language-model head: target={target!r} needs logits; "
                              "use target='contact'")  # fmt: skip
        if encoded.first_unpredicted and position == 0:
            raise InterpError(
                f"position 0: {adapter.name} is causal with no start token, so no token predicts the first residue"
            )
    if target == "log_likelihood" and not adapter.causal and adapter.mask_token_id is None:
        raise InterpError(f"{adapter.name} has no mask token, so a masked residue's log-likelihood is not defined")
    if target == "contact" and adapter.attention_source == "none":
        raise InterpError(
            f"{adapter.name}: target='contact' reads attention weights: "
            f"{adapter.attention_refusal or 'the model has no attention layers'}"
        )
    if baseline == "mask" and adapter.mask_token_id is None:
        raise InterpError(f"{adapter.name} has no mask token: use baseline='average' or 'zeros'")


def _letter_index(adapter: Adapter, encoded: Encoded, position: Any, letter: str | None, target: str) -> int:
    """Index in the alphabet of the letter read: the residue's own, or `letter` ("logit")."""
    if target == "contact":
        return -1
    if letter is not None and target != "logit":
        raise InterpError(f"letter={letter!r} is for target='logit'; target={target!r} reads the residue's own letter")
    chosen = encoded.sequence[position] if letter is None else letter
    chosen = adapter.letter_aliases.get(chosen, chosen)
    if len(chosen) != 1 or chosen not in adapter.alphabet:
        where = f"residue {position}'s letter" if letter is None else "letter"
        raise InterpError(f"{where} {chosen!r} is not in the {adapter.name} alphabet {adapter.alphabet!r}")
    return adapter.alphabet.index(chosen)


def _forward_func(
    adapter: Adapter,
    site: EmbeddingSite,
    encoded: Encoded,
    ids: torch.Tensor,
    target: str,
    position: Any,
    letter_index: int,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """F(embedded [B, T, H]) -> [B] for one target, the model reading `embedded` at the embedding site."""

    def run(embedded: torch.Tensor, *, attentions: bool = False) -> ForwardOutput:
        batch_ids = repeat(ids, "t -> b t", b=embedded.shape[0])
        handle = _replace_at(site, embedded)
        try:
            with eval_mode(adapter.model):
                return adapter.forward(batch_ids, output_attentions=attentions)
        finally:
            handle.remove()

    if target == "contact":
        first, second = int(position[0]), int(position[1])
        residues = encoded.residue_positions.to(ids.device)

        def contact_score(embedded: torch.Tensor) -> torch.Tensor:
            with adapter.attention_weights_enabled():
                out = run(embedded, attentions=True)
            if not out.attentions or any(a is None for a in out.attentions):
                raise InterpError(
                    f"{adapter.name}: the model returned no attention weights; target='contact' needs them"
                )
            stacked = torch.stack(list(out.attentions))  # [layers, B, heads, T, T]
            stacked = stacked.index_select(3, residues).index_select(4, residues).float()
            maps = rearrange(stacked, "l b h i j -> b (l h) i j")
            return torch.stack([symmetrized_apc(per_sequence)[:, first, second].mean() for per_sequence in maps])

        return contact_score

    groups = adapter.letter_groups_for(encoded)
    letters = torch.arange(len(adapter.alphabet))
    if groups is not None:  # a union of alphabets (gLM2): the residue's own kind only
        letters = next(kind_letters for kind_residues, kind_letters in zip(*groups, strict=True)
                       if bool((kind_residues == position).any()))  # fmt: skip
    letters = letters.to(ids.device)
    own = int(torch.nonzero(letters == letter_index)[0][0]) if target == "log_likelihood" else -1

    def read(embedded: torch.Tensor) -> torch.Tensor:
        logits = run(embedded).logits
        if logits is None:
            raise InterpError(f"{adapter.name}: the model returned no logits; target={target!r} needs them")
        row = adapter.residue_logits(logits, encoded)[:, position]  # [B, A]
        if target == "logit":
            return row[:, letter_index]
        return torch.log_softmax(row.index_select(1, letters).float(), dim=-1)[:, own]

    return read


__all__ = ["BASELINES", "CAPTUM_METHODS", "CAPTUM_TARGETS", "CaptumTarget", "captum_target", "residue_attributions"]
