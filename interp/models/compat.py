"""Every place `interp` leans on another library's private or undocumented behaviour, in one module.

Each function here names what it relies on; `tests/test_compat.py` checks each assumption directly against
the installed versions, so an upgrade that changes one fails there, loudly, not somewhere downstream.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

# the UserWarning torch emits when vmap meets an op with no batching rule (it then loops; results are right)
VMAP_FALLBACK_WARNING = "There is a performance drop because we have not yet"


def register_recordable_outputs(model: nn.Module) -> None:
    """Re-register each transformers sub-model's recordable outputs (attentions, hidden states).

    Relies on transformers 5's private `transformers.utils.output_capturing._CAN_RECORD_REGISTRY`, filled by
    `PreTrainedModel.__init__`: a model unpickled in a fresh process (Lightning's ddp_spawn workers) never runs
    `__init__` and would return no attentions or hidden states. transformers 4 has no registry: a no-op.
    """
    try:
        from transformers import PreTrainedModel  # guarded with the private import below
        from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY  # private: transformers 5 only
    except ImportError:
        return
    for module in model.modules():
        flags = getattr(module, "_can_record_outputs", None)
        if isinstance(module, PreTrainedModel) and flags and not _CAN_RECORD_REGISTRY.get(module):
            _CAN_RECORD_REGISTRY[module] = flags


def attention_implementation(model: nn.Module) -> str | None:
    """The attention kernel a transformers model runs ("eager", "sdpa", ...), from the private
    `config._attn_implementation`; None for models without one (remote code, plain modules)."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None)


def set_config_attention_implementation(config: Any, name: str) -> None:
    """Choose the attention kernel of a model about to be built from `config` (private `_attn_implementation`)."""
    config._attn_implementation = name


@contextlib.contextmanager
def eager_attention(model: nn.Module) -> Iterator[None]:
    """Within the block the model runs eager attention (which returns weights), then its own kernel again.

    Uses `PreTrainedModel.set_attn_implementation` (transformers >= 4.50). Older releases have no switch: their
    SDPA classes fall back to eager weights themselves when asked for attentions, so nothing is switched.
    """
    previous = attention_implementation(model)
    switch = getattr(model, "set_attn_implementation", None)
    if previous in (None, "eager") or switch is None:
        yield
        return
    switch("eager")
    try:
        yield
    finally:
        switch(previous)


def lbfgs_state(optimizer: torch.optim.LBFGS) -> dict[str, Any]:
    """L-BFGS keeps its whole state (e.g. "n_iter") under its first parameter (torch's `optimizer._params[0]`,
    which is `param_groups[0]["params"][0]`)."""
    return optimizer.state[optimizer.param_groups[0]["params"][0]]


@contextlib.contextmanager
def quiet_vmap_fallback() -> Iterator[None]:
    """Silence torch's per-call warning that vmap loops over an op without a batching rule (SDPA's CPU backward)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=VMAP_FALLBACK_WARNING)
        yield


def compiled_original(model: Any) -> nn.Module | None:
    """The module a `torch.compile`d model wraps, or None for anything else.

    Relies on `torch.compile(module)` returning a `torch._dynamo.eval_frame.OptimizedModule` that keeps the
    original module (sharing its parameters) as `_orig_mod`. Explaining through the original runs it eagerly: no
    compilation for any input shape (a Jacobian's batches, a panel of proteins of different lengths).
    """
    from torch._dynamo.eval_frame import OptimizedModule  # private API: if it moves, only this fails

    if isinstance(model, OptimizedModule):
        original = model._orig_mod
        return original if isinstance(original, nn.Module) else None
    return None


def peft_base_model(model: Any) -> nn.Module | None:
    """The transformer inside a `peft` wrapper (`PeftModel`), adapters injected and active; None for anything else.

    Relies on peft's public `PeftModel.get_base_model()` returning the original model class with its LoRA (or
    other adapter) layers in place, so a forward through it is the adapted model's forward. Matched without
    importing peft: a module with `peft_config` and `get_base_model`.
    """
    get_base_model = getattr(model, "get_base_model", None)
    if isinstance(model, nn.Module) and hasattr(model, "peft_config") and callable(get_base_model):
        base = get_base_model()
        return base if isinstance(base, nn.Module) else None
    return None
