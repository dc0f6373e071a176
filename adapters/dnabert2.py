"""DNABERT-2's attention weights, which its forward never returns, recomputed from each attention call.

Its `BertUnpadSelfAttention.forward(hidden_states, cu_seqlens, max_seqlen_in_batch, indices, attn_mask, bias)`
works on unpadded tokens: the weights are formed as its PyTorch path forms them, from the module's own
`Wqkv` projection re-padded to [B, T], softmax(q k^T / sqrt(d) + bias), where `bias` is the ALiBi and
padding bias the encoder passed in.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from einops import rearrange
from torch import nn

ATTENTION_CLASS = "BertUnpadSelfAttention"


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """DNABERT-2's self-attention modules, in layer order (empty for any other model)."""
    return [module for module in model.modules() if type(module).__name__ == ATTENTION_CLASS]


def dnabert2_attention_weights(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """[B, heads, T, T]: the weights one `BertUnpadSelfAttention` call applied (its Wqkv, heads, head size)."""
    bound = inspect.signature(module.forward).bind(*args, **kwargs).arguments
    hidden, indices, bias = bound["hidden_states"], bound["indices"], bound["bias"]
    batch, length = bias.shape[0], int(bound["max_seqlen_in_batch"])
    qkv = module.Wqkv(hidden)  # [tokens, 3 * hidden]
    padded = qkv.new_zeros(batch * length, qkv.shape[-1])
    padded[indices] = qkv
    qkv = rearrange(padded, "(b s) (t h d) -> t b h s d", b=batch, t=3, h=module.num_attention_heads)
    scores = torch.matmul(qkv[0].float(), qkv[1].float().transpose(-2, -1)) / math.sqrt(module.attention_head_size)
    return torch.softmax(scores + bias.float(), dim=-1)
