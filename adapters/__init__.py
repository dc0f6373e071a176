"""interp.adapters: how each model family tokenizes, which tokens form its alphabet, how it runs.

Installed as `interp.adapters` (never as a top-level `adapters` module).
"""

from interp.adapters.base import (
    DNA_ALPHABET,
    PROTEIN_ALPHABET,
    RNA_ALPHABET,
    Adapter,
    Encoded,
    ForwardOutput,
)
from interp.adapters.custom import CustomAdapter
from interp.adapters.huggingface import EsmAdapter, HFTokenAdapter, ProtBertAdapter
from interp.adapters.registry import get_adapter, register_adapter, registered_adapters

__all__ = [
    "DNA_ALPHABET",
    "PROTEIN_ALPHABET",
    "RNA_ALPHABET",
    "Adapter",
    "CustomAdapter",
    "Encoded",
    "EsmAdapter",
    "ForwardOutput",
    "HFTokenAdapter",
    "ProtBertAdapter",
    "get_adapter",
    "register_adapter",
    "registered_adapters",
]
