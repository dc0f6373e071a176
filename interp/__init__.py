"""interp: contact maps from biological sequence models, and the metrics and structures to check them.

Everything but the error classes is imported on first use (PEP 562), so that `interp --help` and argument errors
answer without loading torch, transformers or biotite; type checkers see the imports below.
"""

import importlib
from typing import TYPE_CHECKING

from interp.errors import (
    AlignmentFormatError,
    ChainNotFoundError,
    ContactMapError,
    EmptySequenceError,
    FastaFormatError,
    InsufficientMemoryError,
    InterpError,
    InvalidSequenceError,
    NonFiniteOutputError,
    RRFormatError,
    SequenceMismatchError,
    SequenceTooLongError,
    StructureError,
)

if TYPE_CHECKING:
    from interp.explainers import (
        AttentionReadout,
        CategoricalJacobian,
        Explainer,
        GradientJacobian,
        MutationEffects,
        RepresentationJacobian,
        residue_attributions,
    )
    from interp.files.io import load_contacts, read_alignment, read_fasta, read_rr, save_contacts, write_rr
    from interp.maps.contacts import (
        Pair,
        apc,
        center_jacobian,
        frobenius_norm,
        jacobian_to_contacts,
        symmetrize,
        symmetrize_jacobian,
        top_pairs,
        zero_diagonal,
    )
    from interp.maps.effects import EffectTable
    from interp.maps.prediction import ContactPrediction
    from interp.models.loading import load_model
    from interp.scoring.metrics import ContactPrecision, contact_precision, precision_table
    from interp.structures.panel import load_panel
    from interp.structures.structure import ContactMap, contact_map

__version__ = "0.1.0"

_LAZY = {  # name -> the module that defines it, imported on first use of the name
    **dict.fromkeys(["AttentionReadout", "CategoricalJacobian", "Explainer", "GradientJacobian", "MutationEffects",
                     "RepresentationJacobian", "residue_attributions"], "interp.explainers"),
    **dict.fromkeys(["Pair", "apc", "center_jacobian", "frobenius_norm", "jacobian_to_contacts", "symmetrize",
                     "symmetrize_jacobian", "top_pairs", "zero_diagonal"], "interp.maps.contacts"),
    **dict.fromkeys(["load_contacts", "read_alignment", "read_fasta", "read_rr", "save_contacts", "write_rr"],
                    "interp.files.io"),
    **dict.fromkeys(["ContactPrecision", "contact_precision", "precision_table"], "interp.scoring.metrics"),
    "ContactPrediction": "interp.maps.prediction",
    "EffectTable": "interp.maps.effects",
    **dict.fromkeys(["ContactMap", "contact_map"], "interp.structures.structure"),
    "load_model": "interp.models.loading",
    "load_panel": "interp.structures.panel",
}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AttentionReadout",
    "CategoricalJacobian",
    "ContactPrediction",
    "EffectTable",
    "Explainer",
    "GradientJacobian",
    "MutationEffects",
    "RepresentationJacobian",
    "residue_attributions",
    "AlignmentFormatError",
    "ChainNotFoundError",
    "ContactMap",
    "ContactMapError",
    "ContactPrecision",
    "EmptySequenceError",
    "FastaFormatError",
    "InsufficientMemoryError",
    "InterpError",
    "InvalidSequenceError",
    "NonFiniteOutputError",
    "Pair",
    "RRFormatError",
    "SequenceMismatchError",
    "SequenceTooLongError",
    "StructureError",
    "apc",
    "center_jacobian",
    "contact_map",
    "contact_precision",
    "frobenius_norm",
    "jacobian_to_contacts",
    "load_contacts",
    "load_model",
    "load_panel",
    "precision_table",
    "read_alignment",
    "read_fasta",
    "read_rr",
    "save_contacts",
    "symmetrize",
    "symmetrize_jacobian",
    "top_pairs",
    "write_rr",
    "zero_diagonal",
]
