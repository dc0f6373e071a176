"""The model families the registry knows, each with the tokenizer it really has.

Protein: ESM-2 / ESM-1b / ESM-1v (`esm`), ESM C (`esmc`, native in transformers 5), ProtBert (`bert`),
ProtT5 encoder (`t5`: no LM head, attention readout and RepresentationJacobian only), ProGen2 and other
character-level causal models (`progen`, `progen2`, `gpt2` with a one-token-per-letter vocabulary).
DNA: single-nucleotide models (`caduceus` masked, `hyenadna` causal; `gpt2` with a nucleotide vocabulary).
RNA (extra `[rna]`): the masked LMs the `multimolecule` package registers with transformers, with T read as U.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from interp.adapters.base import (
    DNA_ALPHABET,
    PROTEIN_ALPHABET,
    RNA_ALPHABET,
    Adapter,
    EmbeddingSite,
    ForwardOutput,
    ModelShape,
)
from interp.adapters.huggingface import (
    HFTokenAdapter,
    as_transformers_tokenizer,
    letter_token_id,
    tokenizes_per_letter,
)
from interp.adapters.registry import PRIORITY, register_adapter, register_adapter_for_class
from interp.errors import InterpError


class EsmAdapter(HFTokenAdapter):
    """ESM-2, ESM-1b and ESM-1v (`EsmForMaskedLM` with the 33-token amino-acid vocabulary).

    Parts changed from `HFTokenAdapter`: `AttentionReading` (`contact_head`: ESM-2's own contact regression).

    Masked; `<cls>` + sequence + `<eos>`; at most 1024 residues for ESM-2. Chosen by `get_adapter` for
    `model_type` "esm" when the tokenizer has one token per amino acid (a 6-mer tokenizer gets
    `NucleotideTransformerAdapter` instead).

    Args:
        model: the `EsmForMaskedLM`.
        tokenizer: its `EsmTokenizer`.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to "esm").

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "esm")
        super().__init__(model, tokenizer, **options)

    def contact_head(self) -> nn.Linear | None:
        """ESM's `contact_head.regression` (`EsmForMaskedLM.esm.contact_head`, or an `EsmModel`'s own)."""
        for owner in (getattr(self.model, "esm", None), self.model):
            regression = getattr(getattr(owner, "contact_head", None), "regression", None)
            if isinstance(regression, nn.Linear):
                return regression
        return None


class EsmcAdapter(HFTokenAdapter):
    """ESM C (`EsmcForMaskedLM`, native in transformers 5; character level, "|" breaks chains).

    Parts changed from `HFTokenAdapter`: `SequenceEncoding` ("|" as `chain_break_token_id`).

    Masked. Chosen by `get_adapter` for `model_type` "esmc" when the tokenizer has one token per amino acid.
    Complexes are joined by the "|" token (`chain_break_token_id`) rather than a glycine linker.

    Args:
        model: the `EsmcForMaskedLM`.
        tokenizer: its `EsmcTokenizer`.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to "esmc").

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "esmc")
        super().__init__(model, tokenizer, **options)
        self.chain_break_token_id = letter_token_id(self.tokenizer, "|")


class EsmcPackageAdapter(HFTokenAdapter):
    """ESM C from EvolutionaryScale's own `esm` package (`ESMC.from_pretrained("esmc_300m")`, or `ESMC(...)`).

    Parts changed from `HFTokenAdapter`: `SequenceEncoding` ("|" between chains), `ModelRunner` (`_run`,
    `input_embedding`, `shape`: a model without a config) and `AttentionReading` (`attention_source` "sdpa").

    The model has no `config`: it is matched by class (`ESMC`). It is called as `model(sequence_tokens=ids)` and
    returns `sequence_logits`; its attention is `scaled_dot_product_attention` (the weights are re-formed from
    those calls; its flash-attn variant on GPUs makes none, and the readout then says so); its embedding is
    `model.embed`. Pass `model.tokenizer` (an `EsmSequenceTokenizer`): `<cls>` + sequence + `<eos>`, `|`
    breaks chains.

    Args:
        model: the `ESMC` model.
        tokenizer: its `EsmSequenceTokenizer`; None to use `model.tokenizer`.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to "esmc").

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    def __init__(self, model: nn.Module, tokenizer: Any = None, **options: Any) -> None:
        options.setdefault("name", "esmc")
        super().__init__(model, tokenizer if tokenizer is not None else getattr(model, "tokenizer", None), **options)
        self.chain_break_token_id = letter_token_id(self.tokenizer, "|")
        self.attention_source = "sdpa"

    @property
    def shape(self) -> ModelShape:
        """ESMC has no config: sizes from its modules (embedding, transformer blocks, attention heads)."""
        embed: Any = self.input_embedding()
        blocks = list(getattr(getattr(self.model, "transformer", None), "blocks", []))
        heads = next((int(cast(Any, m).n_heads) for m in self.model.modules() if hasattr(m, "n_heads")), 8)
        hidden = int(embed.embedding_dim)
        return ModelShape(layers=len(blocks) or 12, heads=heads, hidden=hidden, intermediate=4 * hidden,
                          vocab=int(embed.num_embeddings))  # fmt: skip

    def input_embedding(self) -> nn.Embedding:
        """`model.embed`; raises `InterpError` where the model has no such `nn.Embedding` (not an ESMC model)."""
        embedding = getattr(self.model, "embed", None)
        if not isinstance(embedding, nn.Embedding):
            raise InterpError(f"{type(self.model).__name__} has no `embed` embedding: not an ESMC model")
        return embedding

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        out = self.model(sequence_tokens=input_ids)
        hidden = getattr(out, "hidden_states", None)
        if output_hidden_states and hidden is None:
            raise InterpError(f"{self.name}: this version of the esm package returns no hidden states")
        states = tuple(hidden) if output_hidden_states and hidden is not None else None
        return ForwardOutput(logits=out.sequence_logits, hidden_states=states)


class ProtBertAdapter(HFTokenAdapter):
    """ProtBert (`BertForMaskedLM`; its tokenizer wants space-separated letters, the ids are built directly).

    Parts changed from `HFTokenAdapter`: none (only the default `name`).

    Masked; `[CLS]` + sequence + `[SEP]`. Chosen by `get_adapter` for `model_type` "bert" when the tokenizer
    has one token per amino acid (as it is or with spaces between letters).

    Args:
        model: the `BertForMaskedLM`.
        tokenizer: its `BertTokenizer`.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to "protbert").

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "protbert")
        super().__init__(model, tokenizer, **options)


class ProtT5EncoderAdapter(HFTokenAdapter):
    """ProtT5 encoder (`T5EncoderModel`): no LM head, so attention readout and RepresentationJacobian only.

    Parts changed from `HFTokenAdapter`: `ModelRunner` (`has_lm_head` from the model's `lm_head`).

    Letters are SentencePiece tokens ("▁A"), followed by `</s>`. Chosen by `get_adapter` for `model_type` "t5"
    when the tokenizer has one token per amino acid.

    Args:
        model: the `T5EncoderModel`.
        tokenizer: its T5 tokenizer.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to "prott5"; `has_lm_head` to
            whether the model has an `lm_head`).

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "prott5")
        options.setdefault("has_lm_head", hasattr(model, "lm_head"))
        super().__init__(model, tokenizer, **options)


class CausalProteinAdapter(HFTokenAdapter):
    """Character-level causal protein LMs (ProGen2, GPT-2 with a letter vocabulary).

    Parts changed from `HFTokenAdapter`: `SequenceEncoding` (`causal`, ProGen2's "1"/"2" terminal tokens).

    Logits at token t predict token t+1, so residue i is read off the token before it and a mutation at p
    only reaches q > p: the Jacobian is one triangle, and the map (after the tensor's symmetrisation)
    says how much each residue's identity shifts the model's prediction of the residues after it.
    ProGen2 sequences are written "1" + sequence + "2": those terminal tokens are used when present, else
    the tokenizer's start token. Chosen by `get_adapter` for `model_type` "progen", "progen2" or "gpt2" when
    the tokenizer has one token per amino acid.

    Args:
        model: the causal LM (e.g. ProGen2's `ProGenForCausalLM`).
        tokenizer: its tokenizer; a raw `tokenizers.Tokenizer` (what ProGen2's `sample.py` loads) is wrapped.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to the model type, `causal` to True,
            `prefix_ids`/`suffix_ids` to the "1"/"2" tokens).

    Raises:
        InterpError: no tokenizer was given, it has no single token for a letter of the alphabet, or there is
            no start token (neither "1" nor a BOS token) and no `prefix_ids`.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", getattr(getattr(model, "config", None), "model_type", "causal"))
        options.setdefault("causal", True)
        tokenizer = as_transformers_tokenizer(tokenizer)  # ProGen2's sample.py loads a raw tokenizers.Tokenizer
        start, end = letter_token_id(tokenizer, "1"), letter_token_id(tokenizer, "2")
        if start is not None and end is not None:
            options.setdefault("prefix_ids", [start])
            options.setdefault("suffix_ids", [end])
        super().__init__(model, tokenizer, **options)


class RnaAdapter(HFTokenAdapter):
    """Single-nucleotide RNA masked LMs (multimolecule: RNA-FM, RiNALMo, RNA-MSM, ...); T is read as U.

    Parts changed from `HFTokenAdapter`: `SequenceEncoding` (the RNA alphabet, T read as U).

    Alphabet `RNA_ALPHABET` ("ACGU"). Chosen by `get_adapter` for the model types the `multimolecule` package
    registers ("rnafm", "rinalmo", "rnamsm", ...) when the tokenizer has one token per nucleotide.

    Args:
        model: the masked LM (e.g. `RnaFmForMaskedLM`).
        tokenizer: its `RnaTokenizer`.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to the model type, `alphabet` to
            "ACGU", `letter_aliases` to {"T": "U"}).

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", getattr(getattr(model, "config", None), "model_type", "rna"))
        options.setdefault("alphabet", RNA_ALPHABET)
        options.setdefault("letter_aliases", {"T": "U"})
        super().__init__(model, tokenizer, **options)


class DnaAdapter(HFTokenAdapter):
    """Single-nucleotide DNA language models: masked (Caduceus) or causal (HyenaDNA); U is read as T.

    Parts changed from `HFTokenAdapter`: `SequenceEncoding` (the DNA alphabet, U read as T, the reverse-complement
    pass) and `AttentionReading` (refused for the attention-free HyenaDNA and Caduceus).

    Inputs are laid out as the family's own tokenizer lays them out (HyenaDNA: sequence + [SEP], no start
    token). For a causal model one pass fills only q > p, and with no start token nothing predicts the
    first nucleotide; the explainers add a reverse-complement pass (mutate the mirrored position of the
    reverse complement, map back, complement the letter axes) for q < p, as the Evo analyses do.
    HyenaDNA and Caduceus have no attention layers (Hyena operators, Mamba blocks): the attention readout
    is refused for them. Chosen by `get_adapter` for `model_type` "caduceus", "hyenadna", "gpt2" or "bert" when
    the tokenizer has one token per nucleotide; causal for "hyenadna" and "gpt2".

    Args:
        model: the DNA language model (e.g. `HyenaDNAForCausalLM`).
        tokenizer: its single-nucleotide tokenizer.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to the model type, `alphabet` to
            "ACGT", `letter_aliases` to {"U": "T"}, `causal` as above).

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    reverse_complement = True

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        model_type = getattr(getattr(model, "config", None), "model_type", "dna")
        options.setdefault("name", model_type)
        options.setdefault("alphabet", DNA_ALPHABET)
        options.setdefault("letter_aliases", {"U": "T"})
        options.setdefault("causal", True if model_type in CAUSAL_DNA_TYPES else None)  # else: the class says
        if model_type in ATTENTION_FREE_DNA:
            self.attention_source = "none"
            self.attention_refusal = ATTENTION_FREE_DNA[model_type]
        super().__init__(model, tokenizer, **options)


ATTENTION_FREE_DNA = {
    "hyenadna": "HyenaDNA is built of Hyena long-convolution operators, with no attention layers",
    "caduceus": "Caduceus is built of bidirectional Mamba blocks, with no attention layers",
}

EVO_START_TOKEN = 0  # evo/scoring.py prepare_batch(prepend_bos=True) writes CharLevelTokenizer.eod_id = 0


class ByteLevelDnaAdapter(Adapter):
    """Evo (StripedHyena): causal, one byte per nucleotide (token id = the letter's byte).

    Parts changed from `Adapter`: `SequenceEncoding` (`token_ids_for`: bytes after start token 0),
    `ModelRunner` (`_run`, `embedding_site` at the first block) and `AttentionReading` (refused).

    Accepts the Hugging Face remote-code model (`StripedHyenaModelForCausalLM`), the `evo` package's model
    (`Evo(...).model`, a bare `StripedHyena`, or the `Evo` object itself) and either tokenizer (`ByteTokenizer`,
    `CharLevelTokenizer`): ids are bytes either way. prepend_bos (default True) writes inputs as
    `evo/scoring.py` prepares them, after the start token 0; prepend_bos=False feeds the bare bytes, in which
    case nothing predicts the first nucleotide on the forward strand. The other triangle always comes from
    the reverse-complement pass. No mask token: `fast=True` and `unknown="mask"` are refused.
    Evo's embedding is called through `embed()`, which forward hooks never see: the gradient Jacobian
    replaces the first block's input instead. Chosen by `get_adapter` for `model_type` "stripedhyena" or a
    model of class `StripedHyena`.

    Args:
        model: the StripedHyena model (or the Hugging Face wrapper holding it as `backbone`).
        tokenizer: Evo's `ByteTokenizer` or `CharLevelTokenizer`, only checked (ids are bytes either way);
            None to skip the check.
        max_length: the most nucleotides one forward takes; None: the config's `max_seqlen` less the start
            token (no limit without a config).
        prepend_bos: put start token 0 before the nucleotides, as `evo/scoring.py` does.

    Raises:
        InterpError: the model is not a StripedHyena (no `embedding_layer` and `blocks`), or the tokenizer
            does not map letters to their bytes.
    """

    alphabet = DNA_ALPHABET
    causal = True
    reverse_complement = True
    letter_aliases = {"U": "T"}  # noqa: RUF012 - read-only class default
    attention_source = "none"
    attention_refusal = (
        "Evo's layers are Hyena convolutions, and its few attention layers run flash-attn kernels that return no weights"
    )

    def __init__(
        self, model: nn.Module, tokenizer: Any = None, *, max_length: int | None = None, prepend_bos: bool = True
    ) -> None:
        config = getattr(model, "config", None)
        self.name = getattr(config, "model_type", None) or "evo"
        self._keyword = hasattr(model, "backbone")  # the Hugging Face wrapper takes input_ids=; StripedHyena a tensor
        backbone = getattr(model, "backbone", model)
        if not hasattr(backbone, "embedding_layer") or not hasattr(backbone, "blocks"):
            raise InterpError(
                f"{type(model).__name__} is not a StripedHyena model (no embedding_layer and blocks); "
                "pass Evo(...).model or the Hugging Face StripedHyenaModelForCausalLM"
            )
        self._backbone: Any = backbone  # a StripedHyena: embedding_layer, blocks
        if tokenizer is not None:
            _check_byte_tokenizer(tokenizer)
        if max_length is None:
            limit = getattr(config, "max_seqlen", None)
            max_length = int(limit) - int(prepend_bos) if isinstance(limit, int) else None
        super().__init__(model, prefix_ids=[EVO_START_TOKEN] if prepend_bos else [], max_length=max_length)

    def _dtype_hint(self) -> str:
        return (
            "for Evo, what evo's own load_checkpoint does after loading weights: "
            "model.to_bfloat16_except_poles_residues() (StripedHyena builds its MLPs in bf16 beside fp32 Hyena blocks)."
        )

    def token_ids_for(self, letter: str) -> int:
        """The letter's byte, `ord(letter)`."""
        return ord(letter)

    def embedding_site(self) -> EmbeddingSite:
        """The first block's input (Evo calls its embedding through `embed()`, which forward hooks never see)."""
        return EmbeddingSite(module=self._backbone.blocks[0], weight=self._backbone.embedding_layer.weight, at="input")

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        if output_hidden_states:
            raise InterpError(f"{self.name}: the model returns no hidden states")
        return self._call_model(
            self.model, input_ids, keyword=self._keyword, output_attentions=False, output_hidden_states=False
        )


def _check_byte_tokenizer(tokenizer: Any) -> None:
    """Evo's tokenizers map a letter to its byte; refuse one that does not (ids would be silently wrong)."""
    probe = "ACGT"
    try:
        if hasattr(tokenizer, "tokenize") and not hasattr(tokenizer, "convert_tokens_to_ids"):
            ids = [int(i) for i in tokenizer.tokenize(probe)]  # CharLevelTokenizer
        else:
            ids = list(tokenizer(probe, add_special_tokens=False)["input_ids"])  # ByteTokenizer
    except Exception as error:
        raise InterpError(f"{type(tokenizer).__name__} is not an Evo byte tokenizer ({error})") from None
    if ids != [ord(c) for c in probe]:
        raise InterpError(f"{type(tokenizer).__name__} does not map letters to their bytes ({probe!r} -> {ids})")


PROTEIN_CHECK = tokenizes_per_letter(PROTEIN_ALPHABET)
DNA_CHECK = tokenizes_per_letter(DNA_ALPHABET)
CAUSAL_DNA_TYPES = ("hyenadna", "gpt2")
RNA_CHECK = tokenizes_per_letter(RNA_ALPHABET)
MULTIMOLECULE_RNA_TYPES = ("rnafm", "rinalmo", "rnabert", "rnaernie", "rnamsm", "splicebert", "ernierna", "utrlm")

# Later registrations are tried first: the protein check (20 single-letter tokens) is the strictest, so
# protein families go last; a protein vocabulary also holds A, C, G, T and would pass the DNA check.

register_adapter("stripedhyena", ByteLevelDnaAdapter, name="evo", priority=PRIORITY["model_type"])
register_adapter_for_class("StripedHyena", ByteLevelDnaAdapter)
register_adapter_for_class("ESMC", EsmcPackageAdapter)
register_adapter("caduceus", DnaAdapter, accepts=DNA_CHECK, name="caduceus", priority=PRIORITY["dna"])
register_adapter("hyenadna", DnaAdapter, accepts=DNA_CHECK, name="hyenadna", priority=PRIORITY["dna"])
register_adapter("gpt2", DnaAdapter, accepts=DNA_CHECK, name="gpt2-dna-causal", priority=PRIORITY["dna"])
register_adapter("bert", DnaAdapter, accepts=DNA_CHECK, name="bert-dna", priority=PRIORITY["dna"])
for _rna_type in MULTIMOLECULE_RNA_TYPES:
    register_adapter(_rna_type, RnaAdapter, accepts=RNA_CHECK, name=_rna_type, priority=PRIORITY["rna"])
register_adapter("esm", EsmAdapter, accepts=PROTEIN_CHECK, name="esm", priority=PRIORITY["protein"])
register_adapter("esmc", EsmcAdapter, accepts=PROTEIN_CHECK, name="esmc", priority=PRIORITY["protein"])
register_adapter("bert", ProtBertAdapter, accepts=PROTEIN_CHECK, name="protbert", priority=PRIORITY["protein"])
register_adapter("t5", ProtT5EncoderAdapter, accepts=PROTEIN_CHECK, name="prott5", priority=PRIORITY["protein"])
for _causal_type in ("progen", "progen2", "gpt2"):
    register_adapter(
        _causal_type, CausalProteinAdapter, accepts=PROTEIN_CHECK, name=f"{_causal_type}-causal",
        priority=PRIORITY["protein"],
    )  # fmt: skip
