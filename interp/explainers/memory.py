"""Memory guard for the Jacobian explainers: estimate what a run needs before it starts and refuse with
the options that would fit, instead of being killed by the operating system half-way."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from interp.adapters.base import Adapter
from interp.errors import InsufficientMemoryError

GB = 1e9


def activation_bytes_per_sequence(adapter: Adapter, n_tokens: int, *, every_layer: bool = False) -> int:
    """A generous estimate of one sequence's forward activations (hidden states, feed-forward, attention, logits).

    With `every_layer`, the forward also returns every layer's hidden states, and a readout keeps a float32
    copy of them at the residues (per-layer maps, the representation Jacobian): twice (layers + 1) x tokens x
    hidden more.
    """
    shape = adapter.shape
    kept = 2 * (shape.layers + 1) * shape.hidden if every_layer else 0
    return 4 * n_tokens * (8 * shape.hidden + 2 * shape.intermediate + 2 * shape.heads * n_tokens + shape.vocab + kept)


@dataclass(frozen=True)
class JacobianPlan:
    """What one Jacobian run will hold at its peak: `copies` [L, S, L, X] float32 buffers plus a batch."""

    length: int
    substitutions: int
    width: int
    copies: int
    batch_size: int
    per_sequence: int
    readout_bytes: int = 0  # what the sweep's readouts keep (per-layer maps: layers x L x L float32 per strand)

    @property
    def buffer_bytes(self) -> int:
        return 4 * self.length * self.substitutions * self.length * self.width

    @property
    def needed_bytes(self) -> int:
        return self.copies * self.buffer_bytes + self.batch_size * self.per_sequence + self.readout_bytes


def check_jacobian_memory(
    plan: JacobianPlan,
    *,
    available: int,
    device: torch.device,
    what: str,
    keep_jacobian: bool,
    can_go_fast: bool,
) -> None:
    """Raise InsufficientMemoryError (listing the settings that would fit) if `plan` needs more than `available`."""
    if plan.needed_bytes <= available:
        return

    def fitting(label: str, **changes: int) -> str | None:
        """`label` if the plan with `changes` fits as it is, or with one mutant per forward; else None."""
        changed = replace(plan, **changes)
        if changed.needed_bytes <= available:
            return f"{label} ({changed.needed_bytes / GB:.2g} GB)"
        single = replace(changed, batch_size=1)
        if plan.batch_size > 1 and single.needed_bytes <= available:
            return f"{label} with batch_size=1 ({single.needed_bytes / GB:.2g} GB)"
        return None

    options = []
    if keep_jacobian:
        options.append(fitting("keep_jacobian=False", copies=plan.copies - 1))
    if plan.batch_size > 1:
        spare = available - plan.copies * plan.buffer_bytes
        largest = int(spare // max(plan.per_sequence, 1)) if spare > 0 else 0
        if largest >= 1:
            options.append(f"batch_size={min(largest, plan.batch_size - 1)}")
    if can_go_fast and plan.substitutions > 1:
        options.append(fitting("fast=True, the masked Jacobian", substitutions=1))
    spare = available - plan.per_sequence  # one mutant per forward
    if spare > 0:
        fits = int((spare / (plan.copies * 4 * plan.substitutions * plan.width)) ** 0.5)
        if 16 <= fits < plan.length:
            options.append(f"windows of at most {fits} residues (split the sequence; batch_size=1)")
    options.append("the attention readout (AttentionReadout: one forward, no Jacobian)")
    shape = f"[{plan.length}, {plan.substitutions}, {plan.length}, {plan.width}]"
    raise InsufficientMemoryError(
        f"{what} of length {plan.length} needs about {plan.needed_bytes / GB:.3g} GB ({plan.copies} x the {shape} "
        f"float32 Jacobian of {plan.buffer_bytes / GB:.3g} GB, plus {plan.batch_size * plan.per_sequence / GB:.2g} GB "
        f"for batches of {plan.batch_size}) but only {available / GB:.3g} GB is free on {device.type}; "
        f"options that fit: {'; '.join(o for o in options if o)}"
    )


def check_attention_memory(adapter: Adapter, n_tokens: int, *, available: int, device: torch.device) -> None:
    """Refuse an attention readout whose [layers, heads, T, T] maps (held about three times: the model's
    outputs, their stack, the per-head maps) would not fit, naming the window length that would."""
    layers, heads = adapter.shape.layers, adapter.shape.heads
    per_token_squared = 3 * 4 * layers * heads
    activations = activation_bytes_per_sequence(adapter, n_tokens)
    needed = per_token_squared * n_tokens**2 + activations
    if needed <= available:
        return
    fits = int((max(available - activations, 0) / per_token_squared) ** 0.5)
    raise InsufficientMemoryError(
        f"AttentionReadout of {n_tokens} tokens needs about {needed / GB:.3g} GB ({layers} layers x {heads} heads of "
        f"[{n_tokens}, {n_tokens}] attention maps) but only {available / GB:.3g} GB is free on {device.type}; "
        f"split the sequence into windows of at most {max(fits - 2, 0)} residues"
    )
