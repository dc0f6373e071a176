"""Any Hugging Face language model whose tokenizer has one token per residue, chosen by what it can do.

No list of model types: the model's class says whether it is a masked LM, a causal LM or a bare encoder
(transformers' own auto mappings, or the class-name conventions `*ForMaskedLM`, `*ForCausalLM`,
`*LMHeadModel`), and the tokenizer says which alphabet it reads one letter at a time (protein, RNA or DNA).
The named family adapters (`interp.adapters.families`, k-mers, BPE, gLM2, Evo) keep priority over this one;
it serves every other model: RoBERTa, DeBERTa, ALBERT, ELECTRA, ModernBERT, Llama- or Mistral-style
decoders, and so on.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.models.auto import modeling_auto
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from interp.adapters.base import DNA_ALPHABET, PROTEIN_ALPHABET, RNA_ALPHABET
from interp.adapters.huggingface import (
    HFTokenAdapter,
    as_transformers_tokenizer,
    letter_token_id,
    merges_letters,
    probe_sequence,
    tokenizes_per_letter,
)
from interp.adapters.registry import ANY_MODEL_TYPE, PRIORITY, register_adapter
from interp.errors import InterpError

MASKED, CAUSAL, ENCODER = "masked", "causal", "encoder"
# alphabets tried in this order (the strictest first: a protein vocabulary holds A, C, G, T and U too)
ALPHABETS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("protein", PROTEIN_ALPHABET, {}),
    ("rna", RNA_ALPHABET, {"T": "U"}),
    ("dna", DNA_ALPHABET, {"U": "T"}),
)
_CHECKS = {kind: tokenizes_per_letter(alphabet) for kind, alphabet, _ in ALPHABETS}
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "WithLMHead")


def _mapping_classes(mapping_name: str) -> set[str]:
    """Class names in one of transformers' auto mappings (names only: nothing is imported)."""
    names: set[str] = set()
    for value in getattr(modeling_auto, mapping_name, {}).values():
        names.update([value] if isinstance(value, str) else value)
    return names


def model_head(model: nn.Module) -> str:
    """What the model's output is: "masked" (a masked LM), "causal" (a left-to-right LM) or "encoder" (none).

    Read off the model's class: transformers' masked-LM and causal-LM auto mappings, then the naming
    conventions (`*ForMaskedLM`; `*ForCausalLM`, `*LMHeadModel`); a class in both (XLM's `XLMWithLMHeadModel`)
    is causal only when its config says so (`is_decoder` or `causal`). An encoder-family causal head built
    without `is_decoder=True` (e.g. `RobertaForCausalLM` from a masked-LM config) attends both ways, so it
    is read as the masked model it is. A bare model of transformers' base mapping (`BertModel`, `T5EncoderModel`)
    is an encoder: no logits, only hidden states and attention.

    Args:
        model: the (unwrapped) model.

    Returns:
        "masked", "causal" or "encoder".

    Raises:
        InterpError: the class is none of these (a classification head, a model of another kind); the message
            says what to use.
    """
    name = type(model).__name__
    config = getattr(model, "config", None)
    masked = name in _mapping_classes("MODEL_FOR_MASKED_LM_MAPPING_NAMES") or name.endswith("ForMaskedLM")
    causal = name in _mapping_classes("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES") or name.endswith(_CAUSAL_SUFFIXES)
    says_causal = bool(getattr(config, "is_decoder", False) or getattr(config, "causal", False) is True)
    if masked and causal:
        return CAUSAL if says_causal else MASKED
    if causal:
        # an encoder family's LM head (BERT, RoBERTa, ELECTRA...) is left-to-right only with is_decoder=True
        model_type = str(getattr(config, "model_type", ""))
        if model_type in _masked_model_types() and getattr(config, "is_decoder", None) is False:
            return MASKED
        return CAUSAL
    if masked:
        return MASKED
    if name in _mapping_classes("MODEL_MAPPING_NAMES") or name in ("T5EncoderModel", "MT5EncoderModel"):
        return ENCODER
    raise InterpError(
        f"{name} is neither a masked nor a causal language model nor a bare encoder: load the model with "
        "AutoModelForMaskedLM or AutoModelForCausalLM (AutoModel for an encoder), or wrap it in "
        "interp.adapters.CustomAdapter(module, alphabet=...)"
    )


def _masked_model_types() -> set[str]:
    return set(MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def tokenizer_alphabet(tokenizer: Any) -> tuple[str, str, dict[str, str]] | None:
    """The alphabet the tokenizer reads one token per letter: ("protein" | "rna" | "dna", letters, aliases).

    Protein first (20 single-letter tokens: the strictest), then RNA (a U token; T is read as U), then DNA
    (U read as T). None when the tokenizer reads no alphabet one letter at a time (BPE, k-mers, words).

    Args:
        tokenizer: a transformers tokenizer.

    Returns:
        (kind, alphabet, letter aliases), or None.
    """
    for kind, alphabet, aliases in ALPHABETS:
        if _CHECKS[kind](tokenizer):
            return kind, alphabet, aliases
    return None


def accepts_per_residue(tokenizer: Any) -> bool:
    """Registry check of the generic adapter: the tokenizer reads protein, RNA or DNA one letter at a time.

    Args:
        tokenizer: a transformers tokenizer.

    Returns:
        True when `tokenizer_alphabet` finds an alphabet.
    """
    return tokenizer is not None and tokenizer_alphabet(as_transformers_tokenizer(tokenizer)) is not None


class PerResidueAdapter(HFTokenAdapter):
    """Any Hugging Face masked or causal LM (or bare encoder) whose tokenizer has one token per residue.

    Parts changed from `HFTokenAdapter`: none. It is the plainest composition of the three parts of `Adapter`
    (`SequenceEncoding`, `ModelRunner`, `AttentionReading`) with a Hugging Face forward: only its construction
    finds, rather than being told, what the named families (`interp.adapters.families`) set by hand.

    What it reads and how, all found rather than listed: masked or causal from the model's class
    (`model_head`), checked by one probe forward at construction (two sequences that differ only in their last
    residue: a causal model's earlier logits do not move) and read as the probe finds it, the alphabet from the vocabulary (`tokenizer_alphabet`), the special tokens around a
    sequence from the tokenizer itself (a causal model the tokenizer gives no start token gets its BOS token),
    the mask token from the tokenizer, the input embedding from `get_input_embeddings()`, and attention weights
    from the model's outputs (eager attention switched on for the call), or, where its forward takes no
    `output_attentions`, re-formed from its `scaled_dot_product_attention` calls. A bare encoder has no
    logits: the attention readout and `RepresentationJacobian` apply. `get_adapter` chooses it for every model
    no named family claims.

    Args:
        model: the Hugging Face model (called as `model(input_ids=...)`).
        tokenizer: its tokenizer; a raw `tokenizers.Tokenizer` is wrapped.
        alphabet: the residue letters; None: found in the vocabulary.
        causal: True for a left-to-right LM; None: from the model's class (`model_head`), as measured by the
            probe forward.
        **options: keyword options of `HFTokenAdapter` (`name`, `max_length`, `prefix_ids`, `suffix_ids`,
            `letter_aliases`).

    Raises:
        InterpError: no tokenizer, a tokenizer that reads no alphabet one letter at a time (the message says
            what it does), a model that is no LM or encoder, letter tokens beyond the model's vocabulary, or a
            causal model with no start token.
    """

    def __init__(
        self, model: nn.Module, tokenizer: Any, *, alphabet: str | None = None, causal: bool | None = None,
        **options: Any,
    ) -> None:  # fmt: skip
        if tokenizer is None:
            raise InterpError(f"{type(model).__name__}: pass the model's tokenizer (AutoTokenizer.from_pretrained)")
        tokenizer = as_transformers_tokenizer(tokenizer)
        head = model_head(model)
        if alphabet is None:
            found = tokenizer_alphabet(tokenizer)
            if found is None:
                raise InterpError(describe_tokenizer(model, tokenizer))
            _, alphabet, aliases = found
            options.setdefault("letter_aliases", aliases)
        options.setdefault("name", getattr(getattr(model, "config", None), "model_type", None) or type(model).__name__)
        super().__init__(
            model, tokenizer, alphabet=alphabet, causal=(head == CAUSAL) if causal is None else causal,
            has_lm_head=head != ENCODER, **options,
        )  # fmt: skip
        self._check_vocabulary(model)
        if causal is None and self.has_lm_head:
            self.causal = self._measured_causal()
        # a causal DNA model fills the other triangle from the reverse complement, as the named DNA families do
        self.reverse_complement = self.causal and self.alphabet == DNA_ALPHABET

    def _measured_causal(self) -> bool:
        """Whether the model reads left to right, measured: one forward of two probe sequences that differ only
        in their last residue. A causal LM leaves every earlier token's logits exactly as they were; a model that
        reads both ways (XLNet's and CPM-Ant's LM heads, an encoder's LM head without `is_decoder`) moves them.
        The class's claim is only the starting guess, so a model is never read in a layout it does not have."""
        from interp.explainers.base import eval_mode  # cycle: interp.explainers.base imports adapters

        probe = probe_sequence(self.alphabet, 8)
        other = probe[:-1] + (self.alphabet[0] if probe[-1] != self.alphabet[0] else self.alphabet[1])
        first, second = self.encode(probe), self.encode(other)
        with torch.no_grad(), eval_mode(self.model):
            logits = self.forward(torch.stack([first.input_ids, second.input_ids])).logits
        if logits is None:
            raise InterpError(f"{self.name}: the model returned no logits although its class has a language-model head")
        before = logits[:, : int(first.residue_positions[-1])].float()
        scale = float(before.abs().max()) or 1.0
        return bool(torch.allclose(before[0], before[1], rtol=0.0, atol=1e-5 * scale))

    def _check_vocabulary(self, model: nn.Module) -> None:
        """Refuse a tokenizer whose letter ids fall outside the model's embedding (the wrong tokenizer)."""
        try:
            embedding = model.get_input_embeddings()  # type: ignore[operator]
        except (NotImplementedError, AttributeError, TypeError):
            return
        size = getattr(embedding, "num_embeddings", None)
        ids = self.prefix_ids + self.suffix_ids + self.letter_token_ids.tolist()
        if isinstance(size, int) and max(ids) >= size:
            raise InterpError(
                f"{self.name}: the tokenizer gives token id {max(ids)}, but the model's embedding holds {size} "
                "tokens: is this the model's own tokenizer?"
            )


def describe_tokenizer(model: nn.Module, tokenizer: Any) -> str:
    """Why no per-residue adapter fits: which letters the tokenizer lacks, or that it merges letters.

    Args:
        model: the model (named in the message).
        tokenizer: its tokenizer.

    Returns:
        A message naming the model and tokenizer and what the tokenizer does with a protein and a DNA sequence.
    """
    label = f"{type(model).__name__} with {type(tokenizer).__name__}"
    for kind, alphabet, _ in ALPHABETS:
        if merges_letters(tokenizer, alphabet):
            return (
                f"{label}: the tokenizer merges {kind} letters into multi-letter tokens, so no token stands for one "
                "residue; only a fast (BPE) tokenizer with offsets gets the token-resolution attention readout"
            )
    missing = {
        kind: [letter for letter in alphabet if letter_token_id(tokenizer, letter) is None]
        for kind, alphabet, _ in ALPHABETS
    }
    closest = min(missing, key=lambda kind: len(missing[kind]))
    if missing[closest]:
        return (
            f"{label}: the tokenizer has no single token for the {closest} letters {''.join(missing[closest])!r}, "
            "so it is not a per-residue tokenizer of protein, RNA or DNA; pass the model's own tokenizer, or wrap "
            "the model in interp.adapters.CustomAdapter(module, alphabet=..., token_ids=...)"
        )
    return (
        f"{label}: the tokenizer does not turn a sequence into one token per letter (as it is, or with spaces "
        "between letters); wrap the model in interp.adapters.CustomAdapter(module, alphabet=..., token_ids=...)"
    )


register_adapter(ANY_MODEL_TYPE, PerResidueAdapter, accepts=accepts_per_residue, name="per-residue",
                 priority=PRIORITY["per_residue"])  # fmt: skip
