"""The model families the registry knows, each with the tokenizer it really has.

Protein: ESM-2 / ESM-1b / ESM-1v (`esm`), ESM C (`esmc`, native in transformers 5), ProtBert (`bert`),
ProtT5 encoder (`t5`: no LM head, attention readout and RepresentationJacobian only), ProGen2 and other
character-level causal models (`progen`, `progen2`, `gpt2` with a one-token-per-letter vocabulary).
RNA (extra `[rna]`): the masked LMs the `multimolecule` package registers with transformers, with T read as U.
"""

from __future__ import annotations

from typing import Any

from interp.adapters.base import PROTEIN_ALPHABET, RNA_ALPHABET
from interp.adapters.huggingface import HFTokenAdapter, _letter_token_id, tokenizes_per_letter
from interp.adapters.registry import register_adapter
from torch import nn


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


PROTEIN_CHECK = tokenizes_per_letter(PROTEIN_ALPHABET)
RNA_CHECK = tokenizes_per_letter(RNA_ALPHABET)
MULTIMOLECULE_RNA_TYPES = ("rnafm", "rinalmo", "rnabert", "rnaernie", "rnamsm", "splicebert", "ernierna", "utrlm")

register_adapter("esm", EsmAdapter, accepts=PROTEIN_CHECK, name="esm")
register_adapter("esmc", EsmcAdapter, accepts=PROTEIN_CHECK, name="esmc")
register_adapter("bert", ProtBertAdapter, accepts=PROTEIN_CHECK, name="protbert")
register_adapter("t5", ProtT5EncoderAdapter, accepts=PROTEIN_CHECK, name="prott5")
for _causal_type in ("progen", "progen2", "gpt2"):
    register_adapter(_causal_type, CausalProteinAdapter, accepts=PROTEIN_CHECK, name=f"{_causal_type}-causal")
for _rna_type in MULTIMOLECULE_RNA_TYPES:
    register_adapter(_rna_type, RnaAdapter, accepts=RNA_CHECK, name=_rna_type)
