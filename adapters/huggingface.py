"""Adapters for Hugging Face models whose tokenizer has one token per residue letter (ESM, ProtBert)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from interp.adapters.base import PROTEIN_ALPHABET, Adapter, ForwardOutput
from interp.adapters.registry import register_adapter
from torch import nn

from interp.errors import InterpError

_HUGE = 10**9


def _letter_token_id(tokenizer: Any, letter: str) -> int | None:
    token_id = tokenizer.convert_tokens_to_ids(letter)
    if token_id is None or (tokenizer.unk_token_id is not None and token_id == tokenizer.unk_token_id):
        return None
    return int(token_id)


def tokenizer_has_letters(alphabet: str) -> Any:
    """A registry check: does the tokenizer hold every letter of `alphabet` as a single token?"""

    def accepts(tokenizer: Any) -> bool:
        try:
            return all(_letter_token_id(tokenizer, letter) is not None for letter in alphabet)
        except (KeyError, TypeError, AttributeError):
            return False

    return accepts


def special_token_layout(tokenizer: Any, letter: str) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a sequence, read off a one-letter probe."""
    probe_id = _letter_token_id(tokenizer, letter)
    ids = list(tokenizer(letter, add_special_tokens=True)["input_ids"])
    if probe_id not in ids:
        raise InterpError(f"{type(tokenizer).__name__} does not tokenize {letter!r} as one token: {ids}")
    where = ids.index(probe_id)
    return ids[:where], ids[where + 1 :]


class HFTokenAdapter(Adapter):
    """Any Hugging Face masked or causal LM whose tokenizer has a token per letter of the alphabet."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        alphabet: str = PROTEIN_ALPHABET,
        name: str | None = None,
        causal: bool = False,
        max_length: int | None = None,
    ) -> None:
        if tokenizer is None:
            raise InterpError(f"{type(model).__name__}: pass the model's tokenizer (AutoTokenizer.from_pretrained)")
        self.alphabet = alphabet
        self.causal = causal
        self.name = name or getattr(getattr(model, "config", None), "model_type", "hf")
        self.tokenizer = tokenizer
        for letter in alphabet:
            if _letter_token_id(tokenizer, letter) is None:
                raise InterpError(f"{self.name}: the tokenizer has no token for residue letter {letter!r}")
        prefix, suffix = special_token_layout(tokenizer, alphabet[0])
        if max_length is None:
            max_length = self._default_max_length(model, tokenizer, len(prefix) + len(suffix))
        super().__init__(
            model, prefix_ids=prefix, suffix_ids=suffix, mask_token_id=tokenizer.mask_token_id, max_length=max_length
        )

    @staticmethod
    def _default_max_length(model: nn.Module, tokenizer: Any, n_special: int) -> int | None:
        limits = [getattr(tokenizer, "model_max_length", None)]
        limits.append(getattr(getattr(model, "config", None), "max_position_embeddings", None))
        usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < _HUGE]
        return min(usable) - n_special if usable else None

    def token_ids_for(self, letter: str) -> int:
        token_id = _letter_token_id(self.tokenizer, letter)
        if token_id is None:
            raise InterpError(f"{self.name}: no token for {letter!r}")
        return token_id

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        kwargs: dict[str, Any] = {}
        if output_attentions:
            kwargs["output_attentions"] = True
        if output_hidden_states:
            kwargs["output_hidden_states"] = True
        out = self.model(input_ids=input_ids, **kwargs)
        return ForwardOutput(
            logits=getattr(out, "logits", None),
            attentions=getattr(out, "attentions", None),
            hidden_states=getattr(out, "hidden_states", None),
        )

    @contextlib.contextmanager
    def attention_weights_enabled(self) -> Iterator[None]:
        """SDPA and flash attention return no weights: switch to eager attention for the block, then back."""
        config = getattr(self.model, "config", None)
        previous = getattr(config, "_attn_implementation", None)
        if previous in (None, "eager"):
            yield
            return
        self.model.set_attn_implementation("eager")  # type: ignore[operator]
        try:
            yield
        finally:
            self.model.set_attn_implementation(previous)  # type: ignore[operator]


class EsmAdapter(HFTokenAdapter):
    """ESM-2, ESM-1b and ESM-1v (`EsmForMaskedLM` with the 33-token amino-acid vocabulary)."""

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "esm")
        super().__init__(model, tokenizer, **options)


class ProtBertAdapter(HFTokenAdapter):
    """ProtBert (`BertForMaskedLM`; its tokenizer wants space-separated letters, the ids are built directly)."""

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "protbert")
        super().__init__(model, tokenizer, **options)


register_adapter("esm", EsmAdapter, accepts=tokenizer_has_letters(PROTEIN_ALPHABET), name="esm")
register_adapter("bert", ProtBertAdapter, accepts=tokenizer_has_letters(PROTEIN_ALPHABET), name="protbert")
