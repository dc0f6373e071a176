"""The embedded default model that ships with the package (`interp demo`, the README's first command): a small
ESM-architecture masked LM trained on the 1a3a family (see default_model/MODEL_CARD.md), and its target."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from transformers import EsmForMaskedLM, EsmTokenizer
from transformers.utils import logging

from interp.files.io import load_contacts

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"


def default_model():
    """(EsmForMaskedLM, EsmTokenizer): the embedded default model, 1 layer, 128 wide and 8 heads, trained from scratch
    by `benchmarks/family_training.py --save-model` on the 1a3a family alignment; safetensors, offline."""
    logging.disable_progress_bar()  # a 27-tensor local file needs no progress bar
    model = EsmForMaskedLM.from_pretrained(DEFAULT_MODEL_DIR, use_safetensors=True, local_files_only=True)
    return model.eval(), EsmTokenizer.from_pretrained(DEFAULT_MODEL_DIR, local_files_only=True)


def default_target() -> Any:
    """The embedded model's query (1a3a chain A) and its true contact map (C-beta < 8 A from PDB 1a3a,
    computed by `interp.structures.structure.contact_map`), as a ContactMap-like record: sequence, contacts, resolved."""
    data = load_contacts(DEFAULT_MODEL_DIR / "target.npz")
    return SimpleNamespace(name=str(data.get("name", "1a3a_A")), sequence=data["sequence"],
                           contacts=data["contacts"].bool(), resolved=data["resolved"].bool())  # fmt: skip
