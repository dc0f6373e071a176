"""Adapters for Hugging Face models whose tokenizer has one token per residue letter (ESM, ProtBert)."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PreTrainedTokenizerFast

from interp.adapters.base import PROTEIN_ALPHABET, Adapter, ForwardOutput
from interp.adapters.running import ModelRunner
from interp.errors import InterpError
from interp.models.compat import eager_attention, register_recordable_outputs

_HUGE = 10**9


def letter_token_id(tokenizer: Any, letter: str) -> int | None:
    """The id of the tokenizer's token for a residue letter (or any token text, e.g. a 6-mer or "<+>").

    The token itself is tried first, then its SentencePiece form "▁A" (ProtT5). The per-letter adapters
    build their ids with it, and the registry checks read vocabularies with it.

    Args:
        tokenizer: a transformers tokenizer (`convert_tokens_to_ids`, `unk_token_id`).
        letter: the token's text.

    Returns:
        The token id, or None when the tokenizer has no such token (it maps it to its unknown token).
    """
    for token in (letter, "\u2581" + letter):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is not None and token_id != tokenizer.unk_token_id:
            return int(token_id)
    return None


def tokenizer_has_letters(alphabet: str) -> Any:
    """A registry check: does the tokenizer hold every letter of `alphabet` as a single token?"""

    def accepts(tokenizer: Any) -> bool:
        try:
            return all(letter_token_id(tokenizer, letter) is not None for letter in alphabet)
        except (KeyError, TypeError, AttributeError):
            return False

    return accepts


def as_transformers_tokenizer(tokenizer: Any) -> Any:
    """A raw `tokenizers.Tokenizer` (what ProGen2's own sample.py loads from tokenizer.json) wrapped as a
    transformers `PreTrainedTokenizerFast`; any other tokenizer is returned as it is."""
    if isinstance(tokenizer, Tokenizer):
        return PreTrainedTokenizerFast(tokenizer_object=tokenizer)
    return tokenizer


def probe_sequence(alphabet: str, length: int = 64) -> str:
    """A sequence over `alphabet` with no simple repeat, like the ones a tokenizer really sees."""
    return "".join(alphabet[(7 * i + i * i // 5) % len(alphabet)] for i in range(length))


def _token_text(token: str) -> str:
    """A token's letters without word-piece markers ("▁A", "ĠA", "##A" -> "A")."""
    for marker in ("\u2581", "\u0120", "##"):
        token = token.replace(marker, "")
    return token


def merges_letters(tokenizer: Any, alphabet: str) -> bool:
    """Whether the tokenizer reads a real sequence (no spaces) as tokens of several letters (BPE, k-mers)."""
    try:
        ids = list(tokenizer(probe_sequence(alphabet), add_special_tokens=False)["input_ids"])
        tokens = tokenizer.convert_ids_to_tokens(ids)
    except (KeyError, TypeError, AttributeError, ValueError):
        return False
    unknown = getattr(tokenizer, "unk_token", None)
    return any(len(_token_text(t)) > 1 and t != unknown and set(_token_text(t)) <= set(alphabet) for t in tokens)


def tokenizes_per_letter(alphabet: str) -> Any:
    """A registry check: does the tokenizer turn a real sequence into one token per letter?

    The sequence is tried as it is, then with spaces between letters (ProtBert, ProtT5 want them) only when
    the plain form did not merge letters: BPE and k-mer tokenizers (ProtGPT2, DNABERT-2, Nucleotide
    Transformer) hold single letters too and split spaced text letter by letter, but never see it.

    Args:
        alphabet: the letters every one of which must be a single token.

    Returns:
        A check `accepts(tokenizer) -> bool`, as `register_adapter(..., accepts=)` takes; it answers False
        (never raises) for a tokenizer it cannot use.
    """

    def accepts(tokenizer: Any) -> bool:
        try:
            lookup = {letter: letter_token_id(tokenizer, letter) for letter in alphabet}
            if None in lookup.values():
                return False
            probe = probe_sequence(alphabet)
            expected = [lookup[letter] for letter in probe]
            if list(tokenizer(probe, add_special_tokens=False)["input_ids"]) == expected:
                return True
            if merges_letters(tokenizer, alphabet):
                return False
            return list(tokenizer(" ".join(probe), add_special_tokens=False)["input_ids"]) == expected
        except (KeyError, TypeError, AttributeError, ValueError):
            return False

    return accepts


def forward_takes(model: nn.Module, argument: str) -> bool:
    """Whether the model's forward accepts this keyword (or any keyword)."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return True
    return argument in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def special_token_layout(tokenizer: Any, letter: str) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a sequence, read off a one-letter probe."""
    probe_id = letter_token_id(tokenizer, letter)
    ids = list(tokenizer(letter, add_special_tokens=True)["input_ids"])
    if probe_id not in ids:
        raise InterpError(f"{type(tokenizer).__name__} does not tokenize {letter!r} as one token: {ids}")
    where = ids.index(probe_id)
    return ids[:where], ids[where + 1 :]


class HuggingFaceForward:
    """How a Hugging Face model is run: ids by keyword, and eager attention switched on where weights are asked
    for (shared by the per-letter adapters and the token-resolution adapter).

    Changes two parts of `Adapter`: `ModelRunner` (`_run`: `model(input_ids=...)`) and `AttentionReading`
    (`attention_weights_enabled`: eager attention for the block).
    """

    model: nn.Module
    attention_source: str

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        return ModelRunner._call_model(
            self.model, input_ids, keyword=True, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )  # fmt: skip

    def attention_weights_enabled(self) -> contextlib.AbstractContextManager[None]:
        """SDPA and flash attention return no weights: switch to eager attention for the block, then back.

        Returns:
            A context manager (`interp.models.compat.eager_attention`); one that changes nothing when the weights come
            through hooks (`attention_source` other than "outputs").
        """
        if self.attention_source != "outputs":
            return contextlib.nullcontext()
        return eager_attention(self.model)


class HFTokenAdapter(HuggingFaceForward, Adapter):
    """Any Hugging Face masked or causal LM whose tokenizer has a token per letter of the alphabet.

    Parts changed: `SequenceEncoding` (letter ids, special tokens and length limit read off the tokenizer),
    `ModelRunner` and `AttentionReading` (through `HuggingFaceForward`).

    The base of the per-letter families (ESM, ProtBert, ProtT5, ProGen2, RNA, DNA, gLM2); use it directly for
    another such model. The special tokens around a sequence are read off the tokenizer (it tokenizes the
    alphabet's first letter), the ids themselves are built letter by letter. Where the model's forward takes no
    `output_attentions`, the weights are re-formed from its `scaled_dot_product_attention` calls.

    Args:
        model: the Hugging Face model (ids by keyword: `model(input_ids=...)`).
        tokenizer: its tokenizer; a raw `tokenizers.Tokenizer` is wrapped.
        alphabet: the residue letters, in the order of every letter axis.
        name: a label for messages; None: the config's `model_type`.
        causal: True for a causal LM (residue i is read off the token before it); None: from the model's class
            (`interp.adapters.model_head`: a `BertLMHeadModel` is causal, a `BertForMaskedLM` masked), masked
            where the class says neither.
        has_lm_head: whether the model returns per-token logits.
        max_length: the most residues one forward takes; None: the smaller of the tokenizer's and the
            config's limits, less the special tokens (no limit when neither says).
        prefix_ids: token ids before the residues; None: those the tokenizer adds (for a causal model without
            any, its BOS token).
        suffix_ids: token ids after the residues; None: those the tokenizer adds.
        letter_aliases: letters read as another letter, e.g. {"T": "U"}.

    Raises:
        InterpError: no tokenizer was given, it has no single token for a letter of the alphabet, or a causal
            model without a reverse-complement pass has no start token (pass `prefix_ids=`).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        alphabet: str = PROTEIN_ALPHABET,
        name: str | None = None,
        causal: bool | None = None,
        has_lm_head: bool = True,
        max_length: int | None = None,
        prefix_ids: list[int] | None = None,
        suffix_ids: list[int] | None = None,
        letter_aliases: dict[str, str] | None = None,
    ) -> None:
        if tokenizer is None:
            raise InterpError(f"{type(model).__name__}: pass the model's tokenizer (AutoTokenizer.from_pretrained)")
        tokenizer = as_transformers_tokenizer(tokenizer)
        if causal is None:
            causal = _reads_left_to_right(model)
        self.alphabet = alphabet
        self.causal = causal
        self.has_lm_head = has_lm_head
        self.letter_aliases = dict(letter_aliases or {})
        self.name = str(name or getattr(getattr(model, "config", None), "model_type", None) or "hf")
        self.tokenizer = tokenizer
        for letter in alphabet:
            if letter_token_id(tokenizer, letter) is None:
                raise InterpError(f"{self.name}: the tokenizer has no token for residue letter {letter!r}")
        prefix, suffix = special_token_layout(tokenizer, alphabet[0])
        prefix = prefix if prefix_ids is None else list(prefix_ids)
        suffix = suffix if suffix_ids is None else list(suffix_ids)
        if causal and not prefix and not self.reverse_complement:  # the first residue is read off a start token
            if tokenizer.bos_token_id is None:
                raise InterpError(f"{self.name}: a causal model needs a start token; pass prefix_ids=")
            prefix = [int(tokenizer.bos_token_id)]
        if max_length is None:
            max_length = self._default_max_length(model, tokenizer, len(prefix) + len(suffix))
        super().__init__(
            model, prefix_ids=prefix, suffix_ids=suffix, mask_token_id=tokenizer.mask_token_id, max_length=max_length
        )
        if not forward_takes(model, "output_attentions") and self.attention_source == "outputs":
            self.attention_source = "sdpa"  # e.g. gLM2: the weights are re-formed from its SDPA calls
        register_recordable_outputs(model)  # attentions even when unpickled in a fresh process (ddp_spawn)

    @staticmethod
    def _default_max_length(model: nn.Module, tokenizer: Any, n_special: int) -> int | None:
        limits = [getattr(tokenizer, "model_max_length", None)]
        limits.append(getattr(getattr(model, "config", None), "max_position_embeddings", None))
        usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < _HUGE]
        return min(usable) - n_special - _position_offset(model) if usable else None

    def token_ids_for(self, letter: str) -> int:
        """The letter's token, or its SentencePiece form "▁A"; raises `InterpError` where there is neither."""
        token_id = letter_token_id(self.tokenizer, letter)
        if token_id is None:
            raise InterpError(f"{self.name}: no token for {letter!r}")
        return token_id


def _reads_left_to_right(model: nn.Module) -> bool:
    """Whether the model's class is a causal LM (`interp.adapters.generic.model_head`); False where it says
    nothing (a custom class)."""
    from interp.adapters.generic import CAUSAL, model_head  # cycle: adapters.generic imports this module

    try:
        return model_head(model) == CAUSAL
    except InterpError:
        return False


def _position_offset(model: nn.Module) -> int:
    """Learned positions that count from padding_idx + 1 (ESM, RoBERTa) lose that many slots; multimolecule's
    RNA-FM shifts by one more (an upstream quirk kept for its checkpoints)."""
    extra = _EXTRA_POSITION_SHIFT.get(str(getattr(getattr(model, "config", None), "model_type", "")), 0)
    for name, module in model.named_modules():
        if name.endswith("position_embeddings") and isinstance(module, nn.Embedding) and module.padding_idx is not None:
            return module.padding_idx + 1 + extra
    return 0


_EXTRA_POSITION_SHIFT = {"rnafm": 1}
