"""interp.adapters: how each model family tokenizes, which tokens form its alphabet, how it runs.

Every adapter is made of three parts, one job each: `SequenceEncoding` (the alphabet, special tokens,
validation, complexes, windows' length limit, mutation tables), `ModelRunner` (the forward, the logits at each
residue, the embedding, the model's sizes) and `AttentionReading` (where attention weights come from, the
model's contact head). Each family's docstring says which parts it changes. Installed as `interp.adapters`
(never as a top-level `adapters` module).
"""

from interp.adapters.attention_capture import capture_module_weights, capture_sdpa_weights, sdpa_weights
from interp.adapters.attention_reading import AttentionReading
from interp.adapters.base import (
    DNA_ALPHABET,
    PROTEIN_ALPHABET,
    RNA_ALPHABET,
    Adapter,
    EmbeddingSite,
    Encoded,
    ForwardOutput,
)
from interp.adapters.bpe import TokenResolutionAdapter
from interp.adapters.custom import CustomAdapter
from interp.adapters.encoding import SequenceEncoding
from interp.adapters.families import (
    ByteLevelDnaAdapter,
    CausalProteinAdapter,
    DnaAdapter,
    EsmAdapter,
    EsmcAdapter,
    EsmcPackageAdapter,
    ProtBertAdapter,
    ProtT5EncoderAdapter,
    RnaAdapter,
)
from interp.adapters.generic import PerResidueAdapter, model_head, tokenizer_alphabet
from interp.adapters.glm2 import GLM2Adapter
from interp.adapters.huggingface import HFTokenAdapter, tokenizes_per_letter
from interp.adapters.kmer import NucleotideTransformerAdapter
from interp.adapters.registry import (
    ANY_MODEL_TYPE,
    get_adapter,
    register_adapter,
    register_adapter_for_class,
    registered_adapters,
)
from interp.adapters.running import ModelRunner

__all__ = [
    "ANY_MODEL_TYPE",
    "DNA_ALPHABET",
    "PROTEIN_ALPHABET",
    "RNA_ALPHABET",
    "Adapter",
    "AttentionReading",
    "ByteLevelDnaAdapter",
    "CausalProteinAdapter",
    "CustomAdapter",
    "EmbeddingSite",
    "DnaAdapter",
    "Encoded",
    "EsmAdapter",
    "EsmcAdapter",
    "EsmcPackageAdapter",
    "ForwardOutput",
    "GLM2Adapter",
    "HFTokenAdapter",
    "ModelRunner",
    "NucleotideTransformerAdapter",
    "PerResidueAdapter",
    "ProtBertAdapter",
    "ProtT5EncoderAdapter",
    "RnaAdapter",
    "SequenceEncoding",
    "TokenResolutionAdapter",
    "capture_module_weights",
    "capture_sdpa_weights",
    "get_adapter",
    "model_head",
    "register_adapter",
    "register_adapter_for_class",
    "registered_adapters",
    "sdpa_weights",
    "tokenizer_alphabet",
    "tokenizes_per_letter",
]
