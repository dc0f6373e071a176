"""Small models built from real Hugging Face config classes, offline: for tests, benchmarks and examples.

`esm_model("tiny")` is a 2-layer ESM-2 with random weights; `esm_model("8M")` has the shape of ESM-2 8M
(6 layers, 320 wide, 20 heads), the standard for timing. Tokenizers are built from the real vocabularies.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

ESM_VOCAB = "<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>".split()
PROTBERT_VOCAB = "[PAD] [UNK] [CLS] [SEP] [MASK] L A G V E S I K R D T P N Q F Y M H C W X U B Z O".split()

ESM_SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128},
    "8M": {"hidden_size": 320, "num_hidden_layers": 6, "num_attention_heads": 20, "intermediate_size": 1280},
    "650M": {"hidden_size": 1280, "num_hidden_layers": 33, "num_attention_heads": 20, "intermediate_size": 5120},
}


def _vocab_file(tokens: list[str], name: str) -> str:
    folder = Path(tempfile.gettempdir()) / "interp-vocab"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = "\n".join(tokens) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return str(path)


def esm_tokenizer() -> Any:
    """The ESM-2 tokenizer (33 tokens), built from its vocabulary without a download."""
    from transformers import EsmTokenizer

    return EsmTokenizer(_vocab_file(ESM_VOCAB, "esm_vocab.txt"))


def esm_model(shape: str = "tiny", *, seed: int = 0, attn_implementation: str = "sdpa", **overrides: Any):
    """(EsmForMaskedLM in eval mode with random weights, tokenizer) of a named shape; no download."""
    from transformers import EsmConfig, EsmForMaskedLM

    settings = dict(ESM_SHAPES[shape])
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
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    return EsmForMaskedLM(config).eval(), esm_tokenizer()


def protbert_model(*, seed: int = 0, attn_implementation: str = "sdpa", **overrides: Any):
    """(A tiny BertForMaskedLM with ProtBert's 30-token vocabulary, its tokenizer); random weights."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    settings = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}
    settings.update(overrides)
    config = BertConfig(vocab_size=len(PROTBERT_VOCAB), max_position_embeddings=512, pad_token_id=0, **settings)
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    tokenizer = BertTokenizer(_vocab_file(PROTBERT_VOCAB, "protbert_vocab.txt"), do_lower_case=False)
    return BertForMaskedLM(config).eval(), tokenizer


__all__ = ["ESM_SHAPES", "esm_model", "esm_tokenizer", "protbert_model"]
