"""Stand-in models: small random-weight models built from real Hugging Face config classes, offline, for
tests, benchmarks and examples (the shipped trained model is `interp.models.embedded_model`).

`esm_model("tiny")` is a 2-layer ESM-2 with random weights; `esm_model("8M")` has the shape of ESM-2 8M
(6 layers, 320 wide, 20 heads), the standard for timing. Tokenizers are built from the real vocabularies.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertTokenizer,
    EsmConfig,
    EsmForMaskedLM,
    EsmTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5EncoderModel,
)

from interp.models.compat import set_config_attention_implementation

ESM_VOCAB = "<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>".split()
PROTBERT_VOCAB = "[PAD] [UNK] [CLS] [SEP] [MASK] L A G V E S I K R D T P N Q F Y M H C W X U B Z O".split()

ESM_SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128},
    "8M": {"hidden_size": 320, "num_hidden_layers": 6, "num_attention_heads": 20, "intermediate_size": 1280},
    "35M": {"hidden_size": 480, "num_hidden_layers": 12, "num_attention_heads": 20, "intermediate_size": 1920},
    "150M": {"hidden_size": 640, "num_hidden_layers": 30, "num_attention_heads": 20, "intermediate_size": 2560},
    "650M": {"hidden_size": 1280, "num_hidden_layers": 33, "num_attention_heads": 20, "intermediate_size": 5120},
}
"""The `EsmConfig` sizes of `esm_model`'s named shapes: "tiny" (2 layers, 64 wide); "8M", "35M", "150M" and "650M"
(ESM-2's sizes)."""


def _vocab_file(tokens: list[str], name: str) -> str:
    folder = Path(tempfile.gettempdir()) / "interp-vocab"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = "\n".join(tokens) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return str(path)


def esm_tokenizer() -> Any:
    """The ESM-2 tokenizer (33 tokens), built from its vocabulary without a download.

    Returns:
        A transformers `EsmTokenizer` (its vocabulary file is written once under the temporary directory).
    """
    return EsmTokenizer(_vocab_file(ESM_VOCAB, "esm_vocab.txt"))


def esm_model(shape: str = "tiny", *, seed: int = 0, attn_implementation: str = "sdpa", **overrides: Any) -> tuple[Any, Any]:
    """An ESM-2 stand-in: a transformers `EsmForMaskedLM` of a named shape with random weights, offline.

    The config is ESM-2's (33-token vocabulary, rotary positions, token dropout); only the weights are random.

    Args:
        shape: a key of `ESM_SHAPES`: "tiny" (2 layers, 64 wide, for tests), "8M" (ESM-2 8M's shape, the
            timing standard), "35M", "150M" or "650M" (ESM-2's shapes; 650M holds about 2.6 GB of float32
            weights).
        seed: the seed set on torch's global RNG before the weights are drawn.
        attn_implementation: the attention kernel, "sdpa" or "eager".
        **overrides: `EsmConfig` fields that replace the shape's (e.g. `num_hidden_layers=1`).

    Returns:
        The pair (model in eval mode, `EsmTokenizer`).

    Raises:
        KeyError: if `shape` is not a key of `ESM_SHAPES`.
    """
    settings: dict[str, Any] = dict(ESM_SHAPES[shape])
    settings.update(overrides)
    config = EsmConfig(
        vocab_size=33,
        max_position_embeddings=1026,
        pad_token_id=1,
        mask_token_id=32,
        position_embedding_type="rotary",
        token_dropout=True,
        emb_layer_norm_before=False,
        **settings,
    )
    set_config_attention_implementation(config, attn_implementation)
    torch.manual_seed(seed)
    return EsmForMaskedLM(config).eval(), esm_tokenizer()


def protbert_model(*, seed: int = 0, attn_implementation: str = "sdpa", **overrides: Any) -> tuple[Any, Any]:
    """A ProtBert stand-in: a tiny transformers `BertForMaskedLM` with random weights and ProtBert's vocabulary.

    2 layers, 64 wide, 4 heads, up to 512 tokens; the `BertTokenizer` has ProtBert's 30 tokens and keeps case
    (residues are written space-separated, as for ProtBert).

    Args:
        seed: the seed set on torch's global RNG before the weights are drawn.
        attn_implementation: the attention kernel, "sdpa" or "eager".
        **overrides: `BertConfig` fields that replace the defaults above.

    Returns:
        The pair (model in eval mode, tokenizer).
    """
    settings: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
    settings.update(overrides)
    config = BertConfig(vocab_size=len(PROTBERT_VOCAB), max_position_embeddings=512, pad_token_id=0, **settings)
    set_config_attention_implementation(config, attn_implementation)
    torch.manual_seed(seed)
    tokenizer = BertTokenizer(_vocab_file(PROTBERT_VOCAB, "protbert_vocab.txt"), do_lower_case=False)
    return BertForMaskedLM(config).eval(), tokenizer


def esmc_model(*, seed: int = 0, **overrides: Any) -> tuple[Any, Any]:
    """An ESM C stand-in: a tiny transformers `EsmcForMaskedLM` with random weights and the real ESM C tokenizer.

    2 layers, 64 wide, 4 heads; nothing is downloaded.

    Args:
        seed: the seed set on torch's global RNG before the weights are drawn.
        **overrides: `EsmcConfig` fields that replace the defaults above.

    Returns:
        The pair (model in eval mode, `EsmcTokenizer`).
    """
    from transformers import EsmcConfig, EsmcForMaskedLM, EsmcTokenizer  # not in older transformers

    settings: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
    settings.update(overrides)
    torch.manual_seed(seed)
    return EsmcForMaskedLM(EsmcConfig(**settings)).eval(), EsmcTokenizer()


def _word_level_tokenizer(vocab: list[str], *, metaspace: bool, specials: dict[str, str], eos: str | None):
    """A fast tokenizer with one token per residue letter (plain, or SentencePiece-style "▁A")."""
    backend = Tokenizer(models.WordLevel({token: i for i, token in enumerate(vocab)}, unk_token=specials["unk_token"]))
    if metaspace:
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    else:
        backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    if eos is not None:
        backend.post_processor = processors.TemplateProcessing(
            single=f"$A {eos}", special_tokens=[(eos, vocab.index(eos))]
        )
    return PreTrainedTokenizerFast(tokenizer_object=backend, **specials)


PROGEN2_VOCAB = ["<|pad|>", "<|bos|>", "<|eos|>", "1", "2", *"ABCDEFGHIKLMNOPQRSTUVWXYZ"]


def causal_protein_model(*, seed: int = 0, **overrides: Any) -> tuple[Any, Any]:
    """A ProGen2 stand-in: a tiny transformers `GPT2LMHeadModel` with ProGen2's character vocabulary.

    A causal (left-to-right) model, for ProGen2 whose real model needs remote code. 2 layers, 64 wide, 4 heads,
    up to 512 tokens, random weights; the fast tokenizer has one token per character and, as ProGen2,
    sequences are written "1" + sequence + "2".

    Args:
        seed: the seed set on torch's global RNG before the weights are drawn.
        **overrides: `GPT2Config` fields that replace the defaults above.

    Returns:
        The pair (model in eval mode, tokenizer).
    """
    settings: dict[str, Any] = {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512}
    settings.update(overrides)
    tokenizer = _word_level_tokenizer(
        PROGEN2_VOCAB, metaspace=False, eos=None,
        specials={"unk_token": "<|pad|>", "pad_token": "<|pad|>", "bos_token": "<|bos|>", "eos_token": "<|eos|>"},
    )  # fmt: skip
    config = GPT2Config(vocab_size=len(PROGEN2_VOCAB), bos_token_id=1, eos_token_id=2, **settings)
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config).eval(), tokenizer


PROTT5_VOCAB = ["<pad>", "</s>", "<unk>", *("\u2581" + c for c in "ALGVSREDTIPKFQNYMHWCXUBZO")]


def prott5_encoder_model(*, seed: int = 0, **overrides: Any) -> tuple[Any, Any]:
    """A ProtT5 encoder stand-in: a tiny transformers `T5EncoderModel` with ProtT5's vocabulary.

    An encoder without a language-model head (contacts come from its representation Jacobian). 2 layers,
    64 wide, 4 heads, random weights; the fast tokenizer reads space-separated residues as "▁A"-style
    SentencePiece tokens and appends `</s>`, as ProtT5's does.

    Args:
        seed: the seed set on torch's global RNG before the weights are drawn.
        **overrides: `T5Config` fields that replace the defaults above.

    Returns:
        The pair (model in eval mode, tokenizer).
    """
    settings: dict[str, Any] = {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 128, "d_kv": 16}
    settings.update(overrides)
    tokenizer = _word_level_tokenizer(
        PROTT5_VOCAB, metaspace=True, eos="</s>",
        specials={"unk_token": "<unk>", "pad_token": "<pad>", "eos_token": "</s>"},
    )  # fmt: skip
    torch.manual_seed(seed)
    return T5EncoderModel(T5Config(vocab_size=len(PROTT5_VOCAB), **settings)).eval(), tokenizer


def rnafm_model(*, seed: int = 0, family: str = "rnafm", **overrides: Any) -> tuple[Any, Any]:
    """An RNA stand-in: a tiny multimolecule masked LM (RNA-FM or RiNALMo) with random weights.

    2 layers, 64 wide, 4 heads; needs the `[rna]` extra (multimolecule).

    Args:
        seed: the seed set on torch's global RNG before the weights are drawn.
        family: "rnafm" (`RnaFmForMaskedLM`) or "rinalmo" (`RiNALMoForMaskedLM`).
        **overrides: fields of the family's config that replace the defaults above.

    Returns:
        The pair (model in eval mode, multimolecule `RnaTokenizer`).

    Raises:
        KeyError: if `family` is neither "rnafm" nor "rinalmo".
    """
    import multimolecule  # optional: the rna extra

    config_cls, model_cls = {
        "rnafm": (multimolecule.RnaFmConfig, multimolecule.RnaFmForMaskedLM),
        "rinalmo": (multimolecule.RiNALMoConfig, multimolecule.RiNALMoForMaskedLM),
    }[family]
    settings: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
    settings.update(overrides)
    torch.manual_seed(seed)
    return model_cls(config_cls(**settings)).eval(), multimolecule.RnaTokenizer()


__all__ = [
    "ESM_SHAPES", "bpe_protein_model", "glm2_model", "causal_protein_model", "dna_model", "esm_model", "nucleotide_transformer_model", "esm_tokenizer", "esmc_model", "protbert_model",
    "prott5_encoder_model", "rnafm_model", "STAND_INS", "SAMPLE_SEQUENCES",
]  # fmt: skip


DNA_VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", "<mask>", "A", "C", "G", "T", "N"]


def dna_model(*, causal: bool = True, seed: int = 0, **overrides: Any) -> tuple[Any, Any]:
    """A DNA stand-in: a tiny single-nucleotide language model with random weights.

    Causal: a transformers `GPT2LMHeadModel` (for HyenaDNA and Evo's one-letter-per-nucleotide input);
    masked: a `BertForMaskedLM` (for Caduceus). Both are 2 layers, 64 wide, 4 heads, and share a fast
    tokenizer with one token per nucleotide (A, C, G, T, N) and `<pad>`, `<bos>`, `<eos>`, `<unk>`, `<mask>`.

    Args:
        causal: build the causal GPT-2 model; False builds the masked BERT model.
        seed: the seed set on torch's global RNG before the weights are drawn.
        **overrides: `GPT2Config` (causal) or `BertConfig` (masked) fields that replace the defaults above.

    Returns:
        The pair (model in eval mode, tokenizer).
    """
    tokenizer = _word_level_tokenizer(
        DNA_VOCAB, metaspace=False, eos=None,
        specials={"unk_token": "<unk>", "pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>",
                  "mask_token": "<mask>"},
    )  # fmt: skip
    torch.manual_seed(seed)
    if causal:
        settings: dict[str, Any] = {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512, **overrides}
        model: Any = GPT2LMHeadModel(GPT2Config(vocab_size=len(DNA_VOCAB), bos_token_id=1, eos_token_id=2, **settings))
    else:
        bert: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
        model = BertForMaskedLM(BertConfig(vocab_size=len(DNA_VOCAB), pad_token_id=0, **{**bert, **overrides}))
    return model.eval(), tokenizer


def nucleotide_transformer_model(*, seed: int = 0, **overrides: Any) -> tuple[Any, Any]:
    """A Nucleotide Transformer stand-in: a tiny transformers `EsmForMaskedLM` over 6-mer tokens.

    2 layers, 64 wide, 4 heads, rotary positions, random weights; the `EsmTokenizer` has the Nucleotide
    Transformer's 4,107 tokens (all 4,096 6-mers, the single nucleotides A, T, C, G, N, and 6 specials).

    Args:
        seed: the seed set on torch's global RNG before the weights are drawn.
        **overrides: `EsmConfig` fields that replace the defaults above.

    Returns:
        The pair (model in eval mode, tokenizer).
    """
    kmers = ["".join(p) for p in itertools.product("ATCG", repeat=6)]
    vocab = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>", *kmers, "A", "T", "C", "G", "N"]
    settings: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
    settings.update(overrides)
    config = EsmConfig(vocab_size=len(vocab), max_position_embeddings=1002, pad_token_id=1, mask_token_id=2,
                       position_embedding_type="rotary", token_dropout=False, **settings)  # fmt: skip
    torch.manual_seed(seed)
    return EsmForMaskedLM(config).eval(), EsmTokenizer(_vocab_file(vocab, "nt_vocab.txt"))


def bpe_protein_model(*, seed: int = 0, vocab_size: int = 300) -> tuple[Any, Any]:
    """A ProtGPT2 stand-in: a tiny transformers `GPT2LMHeadModel` with a byte-level BPE tokenizer.

    The tokenizer is trained on the spot on 200 random protein strings of 200 residues, so tokens span several
    residues as ProtGPT2's do (its real vocabulary has 50,257 merges). The model is causal, 2 layers, 32 wide,
    4 heads, up to 256 tokens, random weights.

    Args:
        seed: the seed of the random protein strings and of torch's global RNG before the weights are drawn.
        vocab_size: the BPE vocabulary size to train to (the 256 byte tokens and 2 specials included).

    Returns:
        The pair (model in eval mode, `PreTrainedTokenizerFast`).
    """
    rng = random.Random(seed)
    corpus = ["".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(200)) for _ in range(200)]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<unk>"
    )
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=256, bos_token_id=0, eos_token_id=0
    )
    return GPT2LMHeadModel(config).eval(), tokenizer


GLM2_VOCAB = [*ESM_VOCAB[:29], "a", "t", "c", "g", "<+>", "<->", "<mask>", "<sep>"]


def glm2_model(*, seed: int = 0, **overrides: Any) -> tuple[Any, Any]:
    """A gLM2 stand-in: a tiny transformers `EsmForMaskedLM` with gLM2's vocabulary, for gLM2 whose real model
    needs remote code.

    The `EsmTokenizer` has gLM2's 37 tokens: amino acids, lower-case nucleotides (a, t, c, g) and the strand
    tokens `<+>` and `<->`. 2 layers, 64 wide, 4 heads, rotary positions, random weights; the config's
    `model_type` is "glm2".

    Args:
        seed: the seed set on torch's global RNG before the weights are drawn.
        **overrides: `EsmConfig` fields that replace the defaults above.

    Returns:
        The pair (model in eval mode, tokenizer).
    """
    settings: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
    settings.update(overrides)
    config = EsmConfig(vocab_size=len(GLM2_VOCAB), max_position_embeddings=1026, pad_token_id=1,
                       mask_token_id=GLM2_VOCAB.index("<mask>"), position_embedding_type="rotary",
                       token_dropout=False, **settings)  # fmt: skip
    config.model_type = "glm2"  # type: ignore[misc]  # an ESM stand-in labelled with gLM2's model type
    torch.manual_seed(seed)
    return EsmForMaskedLM(config).eval(), EsmTokenizer(_vocab_file(GLM2_VOCAB, "glm2_vocab.txt"))


@dataclass(frozen=True)
class StandIn:
    """A tiny random-weight model of one adapter family: how to build it, what it reads, whether it is causal.

    Attributes:
        build: a function of no arguments that returns (model, tokenizer), e.g. `esmc_model`.
        kind: what the model reads: "protein", "rna", "dna" or "glm2" (protein and nucleotide elements);
            `SAMPLE_SEQUENCES[kind]` is a sequence to try it on.
        causal: whether the model is causal (left-to-right) rather than masked or an encoder.
        conformance: whether the per-family conformance tests apply (Evo's byte vocabulary has no tokenizer).
        needs: the optional extra it requires (e.g. "rna"), if any.
    """

    build: Callable[[], tuple[Any, Any]]
    kind: str  # "protein", "rna", "dna" or "glm2" (protein and nucleotide elements)
    causal: bool
    conformance: bool = True
    needs: str | None = None


SAMPLE_SEQUENCES = {"protein": "MKTAYIAKQRQISFV", "rna": "GGAUCCGAUUAGCUA", "dna": "GGATCCGATTAGCTA",
                    "glm2": "MKTAYIAKQatgcatgc"}  # fmt: skip
"""A short sample sequence per `StandIn.kind`."""

STAND_INS: dict[str, StandIn] = {
    "esm (ESM-2)": StandIn(lambda: esm_model("tiny"), "protein", False),
    "esmc (ESM C)": StandIn(esmc_model, "protein", False),
    "protbert": StandIn(protbert_model, "protein", False),
    "prott5 encoder (representation Jacobian)": StandIn(prott5_encoder_model, "protein", False),
    "causal protein (ProGen2 stand-in)": StandIn(causal_protein_model, "protein", True),
    "rnafm (multimolecule)": StandIn(rnafm_model, "rna", False, needs="rna"),
    "rinalmo (multimolecule)": StandIn(lambda: rnafm_model(family="rinalmo"), "rna", False, needs="rna"),
    "dna causal + reverse complement (HyenaDNA stand-in)": StandIn(lambda: dna_model(causal=True), "dna", True),
    "dna masked (Caduceus stand-in)": StandIn(lambda: dna_model(causal=False), "dna", False),
    "nucleotide transformer (6-mer tokens)": StandIn(nucleotide_transformer_model, "dna", False),
    "glm2 (protein + nucleotide elements, stand-in)": StandIn(glm2_model, "glm2", False),
}
"""Every stand-in by a descriptive name (the family, and what it stands in for): what tests and benchmarks loop over."""
