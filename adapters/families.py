"""The model families the registry knows, each with the tokenizer it really has.

Protein: ESM-2 / ESM-1b / ESM-1v (`esm`), ESM C (`esmc`, native in transformers 5), ProtBert (`bert`),
ProtT5 encoder (`t5`: no LM head, attention readout and RepresentationJacobian only), ProGen2 and other
character-level causal models (`progen`, `progen2`, `gpt2` with a one-token-per-letter vocabulary).
DNA: single-nucleotide models (`caduceus` masked, `hyenadna` causal; `gpt2` with a nucleotide vocabulary).
RNA (extra `[rna]`): the masked LMs the `multimolecule` package registers with transformers, with T read as U.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from interp.adapters.base import DNA_ALPHABET, PROTEIN_ALPHABET, RNA_ALPHABET, Adapter, ForwardOutput
from interp.adapters.huggingface import HFTokenAdapter, _letter_token_id, tokenizes_per_letter
from interp.adapters.registry import register_adapter


class EsmAdapter(HFTokenAdapter):
    """ESM-2, ESM-1b and ESM-1v (`EsmForMaskedLM` with the 33-token amino-acid vocabulary)."""

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "esm")
        super().__init__(model, tokenizer, **options)


class EsmcAdapter(HFTokenAdapter):
    """ESM C (`EsmcForMaskedLM`, native in transformers 5; character level, "|" breaks chains)."""

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "esmc")
        super().__init__(model, tokenizer, **options)
        self.chain_break_token_id = _letter_token_id(tokenizer, "|")


class ProtBertAdapter(HFTokenAdapter):
    """ProtBert (`BertForMaskedLM`; its tokenizer wants space-separated letters, the ids are built directly)."""

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "protbert")
        super().__init__(model, tokenizer, **options)


class ProtT5EncoderAdapter(HFTokenAdapter):
    """ProtT5 encoder (`T5EncoderModel`): no LM head, so attention readout and RepresentationJacobian only."""

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "prott5")
        options.setdefault("has_lm_head", hasattr(model, "lm_head"))
        super().__init__(model, tokenizer, **options)


class CausalProteinAdapter(HFTokenAdapter):
    """Character-level causal protein LMs (ProGen2, GPT-2 with a letter vocabulary).

    Logits at token t predict token t+1, so residue i is read off the token before it and a mutation at p
    only reaches q > p: the Jacobian is one triangle, and the map (after the tensor's symmetrisation)
    says how much each residue's identity shifts the model's prediction of the residues after it.
    ProGen2 sequences are written "1" + sequence + "2": those terminal tokens are used when present.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", getattr(getattr(model, "config", None), "model_type", "causal"))
        options.setdefault("causal", True)
        start, end = _letter_token_id(tokenizer, "1"), _letter_token_id(tokenizer, "2")
        if start is not None and end is not None:
            options.setdefault("prefix_ids", [start])
            options.setdefault("suffix_ids", [end])
        super().__init__(model, tokenizer, **options)


class RnaAdapter(HFTokenAdapter):
    """Single-nucleotide RNA masked LMs (multimolecule: RNA-FM, RiNALMo, RNA-MSM, ...); T is read as U."""

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", getattr(getattr(model, "config", None), "model_type", "rna"))
        options.setdefault("alphabet", RNA_ALPHABET)
        options.setdefault("letter_aliases", {"T": "U"})
        super().__init__(model, tokenizer, **options)


class DnaAdapter(HFTokenAdapter):
    """Single-nucleotide DNA language models: masked (Caduceus) or causal (HyenaDNA); U is read as T.

    For a causal model the Jacobian of one pass fills only q > p; `CategoricalJacobian` then adds a
    reverse-complement pass (mutate the mirrored position of the reverse complement, map back, complement
    the letter axes) for q < p, as the Evo analyses do (`reverse_complement = True`).
    """

    reverse_complement = True

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        model_type = getattr(getattr(model, "config", None), "model_type", "dna")
        options.setdefault("name", model_type)
        options.setdefault("alphabet", DNA_ALPHABET)
        options.setdefault("letter_aliases", {"U": "T"})
        options.setdefault("causal", model_type in CAUSAL_DNA_TYPES)
        super().__init__(model, tokenizer, **options)


class ByteLevelDnaAdapter(Adapter):
    """Evo (StripedHyena, remote code): causal, one byte per nucleotide (token id = the letter's byte).

    Evo has no start token, so the first nucleotide is never predicted on the forward strand; its column
    comes from the reverse-complement pass, which `CategoricalJacobian` always runs for causal DNA.
    No mask token: `fast=True` and `unknown="mask"` are refused.
    """

    alphabet = DNA_ALPHABET
    causal = True
    reverse_complement = True
    letter_aliases = {"U": "T"}  # noqa: RUF012 - read-only class default

    def __init__(self, model: nn.Module, tokenizer: Any = None, *, max_length: int | None = None) -> None:
        self.name = getattr(getattr(model, "config", None), "model_type", "evo")
        if max_length is None:
            max_length = getattr(getattr(model, "config", None), "max_seqlen", None)
        super().__init__(model, max_length=max_length)

    def token_ids_for(self, letter: str) -> int:
        return ord(letter)

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        return self._call_model(
            self.model, input_ids, keyword=True, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )  # fmt: skip


PROTEIN_CHECK = tokenizes_per_letter(PROTEIN_ALPHABET)
DNA_CHECK = tokenizes_per_letter(DNA_ALPHABET)
CAUSAL_DNA_TYPES = ("hyenadna", "gpt2")
RNA_CHECK = tokenizes_per_letter(RNA_ALPHABET)
MULTIMOLECULE_RNA_TYPES = ("rnafm", "rinalmo", "rnabert", "rnaernie", "rnamsm", "splicebert", "ernierna", "utrlm")

# Later registrations are tried first: the protein check (20 single-letter tokens) is the strictest, so
# protein families go last; a protein vocabulary also holds A, C, G, T and would pass the DNA check.

register_adapter("stripedhyena", ByteLevelDnaAdapter, name="evo")
register_adapter("caduceus", DnaAdapter, accepts=DNA_CHECK, name="caduceus")
register_adapter("hyenadna", DnaAdapter, accepts=DNA_CHECK, name="hyenadna")
register_adapter("gpt2", DnaAdapter, accepts=DNA_CHECK, name="gpt2-dna-causal")
register_adapter("bert", DnaAdapter, accepts=DNA_CHECK, name="bert-dna")
for _rna_type in MULTIMOLECULE_RNA_TYPES:
    register_adapter(_rna_type, RnaAdapter, accepts=RNA_CHECK, name=_rna_type)
register_adapter("esm", EsmAdapter, accepts=PROTEIN_CHECK, name="esm")
register_adapter("esmc", EsmcAdapter, accepts=PROTEIN_CHECK, name="esmc")
register_adapter("bert", ProtBertAdapter, accepts=PROTEIN_CHECK, name="protbert")
register_adapter("t5", ProtT5EncoderAdapter, accepts=PROTEIN_CHECK, name="prott5")
for _causal_type in ("progen", "progen2", "gpt2"):
    register_adapter(_causal_type, CausalProteinAdapter, accepts=PROTEIN_CHECK, name=f"{_causal_type}-causal")
