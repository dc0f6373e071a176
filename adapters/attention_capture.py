"""Attention weights of models whose forward never returns them, read through hooks (the model is not edited).

Two ways in:
- `capture_sdpa_weights()`: a torch function mode that sees every `functional.scaled_dot_product_attention` call and
  forms the weights that call computes, softmax(q k^T * scale + mask), from the very q and k the model
  passes (rotary or any other positional scheme already applied). gLM2 and ESM C attend this way.
- `capture_module_weights(modules, weights_of)`: forward hooks on the attention modules; `weights_of(module,
  args, kwargs)` recomputes the weights from the module's own projections and the bias it was given
  (DNABERT-2: ALiBi).
Either way the weights come out in call order, one [B, heads, T, T] tensor per attention layer.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional
from torch.overrides import TorchFunctionMode


def sdpa_weights(
    query: torch.Tensor,
    key: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """The attention weights `functional.scaled_dot_product_attention` applies (its documented reference, no dropout).

    The arguments are those of `scaled_dot_product_attention` (its `value` and `dropout_p` do not affect the
    weights). Computed in float32.

    Args:
        query: queries [..., H, T, D].
        key: keys [..., H_kv, S, D].
        attn_mask: a boolean mask (True: may attend) or an additive float bias, broadcastable to [..., H, T, S];
            None for none.
        is_causal: mask out keys after each query (a lower-triangular mask).
        scale: the factor applied to q k^T; None for 1 / sqrt(D).
        enable_gqa: grouped-query attention: each of the H_kv key heads serves H / H_kv query heads.

    Returns:
        softmax(q k^T * scale + mask) [..., H, T, S], float32.
    """
    if enable_gqa and key.size(-3) != query.size(-3):
        key = key.repeat_interleave(query.size(-3) // key.size(-3), dim=-3)
    factor = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = torch.matmul(query.float(), key.float().transpose(-2, -1)) * factor
    n_query, n_key = scores.shape[-2:]
    if is_causal:
        allowed = torch.ones(n_query, n_key, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask.float()
    return torch.softmax(scores, dim=-1)


_SDPA_ARGUMENTS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


class _SdpaRecorder(TorchFunctionMode):
    """Records the weights of every scaled_dot_product_attention call made inside the mode."""

    def __init__(self, sink: list[torch.Tensor]) -> None:
        super().__init__()
        self.sink = sink

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is functional.scaled_dot_product_attention:
            bound = dict(zip(_SDPA_ARGUMENTS, args, strict=False)) | kwargs
            weights = sdpa_weights(
                bound["query"], bound["key"], bound.get("attn_mask"), bool(bound.get("is_causal", False)),
                bound.get("scale"), bool(bound.get("enable_gqa", False)),
            )  # fmt: skip
            self.sink.append(weights)
        return func(*args, **kwargs)


@contextlib.contextmanager
def capture_sdpa_weights() -> Iterator[list[torch.Tensor]]:
    """Within the block, every `functional.scaled_dot_product_attention` call appends its weights [B, H, T, S].

    A torch function mode: the model is not edited, and the weights are formed (by `sdpa_weights`) from the very
    q, k and mask each call receives, positional encodings already applied. Calls that bypass the function
    (flash-attn kernels) are not seen.

    Yields:
        The list the weights are appended to, in call order (one tensor per attention layer).
    """
    sink: list[torch.Tensor] = []
    with _SdpaRecorder(sink):
        yield sink


WeightsOf = Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], torch.Tensor]


@contextlib.contextmanager
def capture_module_weights(modules: Sequence[nn.Module], weights_of: WeightsOf) -> Iterator[list[torch.Tensor]]:
    """Within the block, each call of one of `modules` appends `weights_of(module, args, kwargs)`.

    Forward hooks (with keyword arguments) are registered on entry and removed on exit.

    Args:
        modules: the attention modules to hook, e.g. one per layer.
        weights_of: recomputes the weights [B, heads, T, T] from the module and the positional and keyword
            arguments of its call (e.g. `dnabert2_attention_weights`).

    Yields:
        The list the weights are appended to, in call order.
    """
    sink: list[torch.Tensor] = []

    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        sink.append(weights_of(module, args, kwargs))

    handles = [module.register_forward_hook(hook, with_kwargs=True) for module in modules]
    try:
        yield sink
    finally:
        for handle in handles:
            handle.remove()
