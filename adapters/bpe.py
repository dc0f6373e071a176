"""BPE-tokenised models (ProtGPT2, DNABERT-2): the attention readout at token resolution, no Jacobians.

Resolution: each residue takes the row and column of the token that holds it (read off the tokenizer's
offset mapping), so residues merged into one token share their scores; maps stay [L, L] over residues.
Jacobians are refused: mutating one residue can re-tokenise its whole neighbourhood, so there is no
fixed token to swap and no per-residue logit vector to read.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from interp.adapters.attention_capture import capture_module_weights
from interp.adapters.base import DNA_ALPHABET, PROTEIN_ALPHABET, Adapter, Encoded
from interp.adapters.dnabert2 import attention_modules, dnabert2_attention_weights
from interp.adapters.huggingface import (
    HuggingFaceForward,
    _token_text,
    as_transformers_tokenizer,
    merges_letters,
)
from interp.adapters.registry import ANY_MODEL_TYPE, PRIORITY, register_adapter
from interp.errors import InterpError
from interp.models.compat import register_recordable_outputs


def is_bpe(tokenizer: Any) -> bool:
    """Registry check: a fast tokenizer (with offsets) that reads a real sequence as multi-letter tokens."""
    if not getattr(tokenizer, "is_fast", False):
        return False
    return merges_letters(tokenizer, DNA_ALPHABET) or merges_letters(tokenizer, PROTEIN_ALPHABET)


def vocabulary_alphabet(tokenizer: Any) -> str:
    """DNA when every ordinary token of the vocabulary is made of A, C, G, T (N), else protein."""
    specials = set(getattr(tokenizer, "all_special_tokens", []))
    letters: set[str] = set()
    for token in tokenizer.get_vocab():
        if token not in specials and not (token.startswith("<") and token.endswith(">")):
            letters |= set(_token_text(token))
    return DNA_ALPHABET if letters and letters <= set(DNA_ALPHABET + "N") else PROTEIN_ALPHABET


class TokenResolutionAdapter(HuggingFaceForward, Adapter):
    """ProtGPT2 (causal) and DNABERT-2 (masked): residues mapped to the BPE tokens that hold them.

    Parts changed from `Adapter`: `SequenceEncoding` (`encode` by the tokenizer's offsets; no token per letter,
    no complexes, Jacobians refused), `ModelRunner` (`HuggingFaceForward`, no LM head) and `AttentionReading`
    (`capture_attention`: DNABERT-2's hooks).

    Chosen by `get_adapter` for a model of any type that no family claims when its fast tokenizer reads a
    real sequence as multi-letter tokens. Each residue takes the row and column of its token
    (from the tokenizer's offset mapping), so maps stay [L, L] over residues. Only the attention readout is
    defined: Jacobians are refused (`mutation_refusal`) and there is no LM head readout per residue.
    DNABERT-2's attention weights, which its forward never returns, are recomputed by hooks (ALiBi included).

    Args:
        model: the Hugging Face model (ProtGPT2's `GPT2LMHeadModel`, DNABERT-2's `BertForMaskedLM`).
        tokenizer: its fast BPE tokenizer (a raw `tokenizers.Tokenizer` is wrapped); it must give offsets.
        alphabet: the residue letters; None to read them off the vocabulary (DNA when every ordinary token is
            made of A, C, G, T, N; else protein).
        max_length: the most residues one forward takes; None for no limit.

    Raises:
        InterpError: no tokenizer was given.
    """

    has_lm_head = False  # no per-residue logits
    mutation_refusal = (
        "a one-residue mutation can re-tokenise its BPE neighbourhood, so there is no token to swap and no "
        "per-residue logit vector: only AttentionReadout (at token resolution) is defined"
    )

    def __init__(self, model: nn.Module, tokenizer: Any, *, alphabet: str | None = None, max_length: int | None = None):
        if tokenizer is None:
            raise InterpError(f"{type(model).__name__}: pass the model's tokenizer")
        tokenizer = as_transformers_tokenizer(tokenizer)
        self.alphabet = alphabet or vocabulary_alphabet(tokenizer)
        self.name = f"{getattr(getattr(model, 'config', None), 'model_type', None) or 'dnabert2'}-bpe"
        self.tokenizer = tokenizer
        self._attention_modules = attention_modules(model)
        if self._attention_modules:  # DNABERT-2: weights recomputed from each attention call (ALiBi)
            self.attention_source = "hooks"
        super().__init__(model, mask_token_id=tokenizer.mask_token_id, max_length=max_length)
        register_recordable_outputs(model)

    def capture_attention(self) -> contextlib.AbstractContextManager[list[torch.Tensor]]:
        """DNABERT-2: hooks on each `BertUnpadSelfAttention` recompute its weights (ALiBi bias included)."""
        if self.attention_source == "hooks":
            return capture_module_weights(self._attention_modules, dnabert2_attention_weights)
        return super().capture_attention()

    def token_ids_for(self, letter: str) -> int:
        """Always raises `InterpError`: BPE tokens hold several residues, so no token stands for one letter."""
        raise InterpError(f"{self.name}: BPE tokens hold several residues; there is no token per letter")

    def encode(self, sequence: str, *, name: str | None = None, unknown: str = "error") -> Encoded:
        """Token ids as the BPE tokenizer writes them, each residue mapped to the token that holds it.

        Args:
            sequence: the residues.
            name: the record's name, for error messages.
            unknown: only "error" (masking one letter of a multi-letter token has no meaning).

        Returns:
            The tokenizer's ids [T] (its special tokens included); `residue_positions` and
            `readout_positions` both give each residue's token, so residues merged into one token share it.

        Raises:
            InterpError: `unknown` is not "error", the sequence fails `check_sequence`, or a residue falls in
                no token.
        """
        if unknown != "error":
            raise InterpError(f"{self.name}: unknown='mask' has no meaning for BPE tokens")
        self.check_sequence(sequence, name=name)
        encoding = self.tokenizer(sequence, return_offsets_mapping=True)
        ids, offsets = list(encoding["input_ids"]), list(encoding["offset_mapping"])
        token_of = torch.full((len(sequence),), -1, dtype=torch.long)
        for index, (start, end) in enumerate(offsets):
            if end > start:
                token_of[start:end] = index
        if bool((token_of < 0).any()):
            missing = int(torch.nonzero(token_of < 0)[0]) + 1
            raise InterpError(f"{self.name}: residue {missing} of {name or 'the sequence'} falls in no token")
        return Encoded(sequence, torch.tensor(ids, dtype=torch.long), token_of, token_of)

    def encode_complex(self, chains: Any, **_: Any) -> Encoded:
        """Always raises `InterpError`: complexes are not defined for a BPE model."""
        raise InterpError(f"{self.name}: complexes are not defined for a BPE model")


# any model type (ProtGPT2's "gpt2", DNABERT-2's "bert" or its remote config's ""): a BPE tokenizer decides
register_adapter(ANY_MODEL_TYPE, TokenResolutionAdapter, accepts=is_bpe, name="bpe", priority=PRIORITY["bpe"])
