"""Wrap any `nn.Module` that maps token ids [B, T] to logits [B, T, V], given its alphabet explicitly."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from interp.adapters.base import Adapter, ForwardOutput
from interp.errors import InterpError


class CustomAdapter(Adapter):
    """An adapter for a model of your own.

    token_ids: letter -> token id (default: the alphabet's letters are ids 0..A-1); bos/eos: ids added
    before/after the residues; the module is called as `module(input_ids)` and may return a tensor, a
    tuple whose first item is the logits, or an object with `.logits` (and `.attentions` when called
    with `output_attentions=True`).
    """

    def __init__(
        self,
        module: nn.Module,
        alphabet: str,
        *,
        token_ids: Mapping[str, int] | None = None,
        bos_token_id: int | None = None,
        eos_token_id: int | None = None,
        mask_token_id: int | None = None,
        causal: bool = False,
        max_length: int | None = None,
        embedding: nn.Embedding | None = None,
        name: str = "custom",
    ) -> None:
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise InterpError(f"alphabet must be non-empty letters without repeats; got {alphabet!r}")
        self.alphabet = alphabet
        self.causal = causal
        self.name = name
        self._token_ids = dict(token_ids) if token_ids is not None else {c: i for i, c in enumerate(alphabet)}
        missing = [c for c in alphabet if c not in self._token_ids]
        if missing:
            raise InterpError(f"token_ids has no id for letters {missing}")
        self._embedding = embedding
        super().__init__(
            module,
            prefix_ids=[] if bos_token_id is None else [bos_token_id],
            suffix_ids=[] if eos_token_id is None else [eos_token_id],
            mask_token_id=mask_token_id,
            max_length=max_length,
        )

    def token_ids_for(self, letter: str) -> int:
        return int(self._token_ids[letter])

    def input_embedding(self) -> nn.Embedding:
        if self._embedding is not None:
            return self._embedding
        for module in self.model.modules():
            if isinstance(module, nn.Embedding):
                return module
        raise InterpError(f"{self.name}: no nn.Embedding found; pass embedding= to CustomAdapter")

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        return self._call_model(
            self.model, input_ids, keyword=False, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )  # fmt: skip
