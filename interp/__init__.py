"""interp: contact maps from biological sequence models, and the metrics and structures to check them.

Everything but the error classes is imported on first use (PEP 562), so that `interp --help` and argument errors
answer without loading torch, transformers or biotite; type checkers see the imports below.
"""

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
    from interp.contacts import (
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
    from interp.explainers import (
        AttentionReadout,
        CategoricalJacobian,
        Explainer,
        GradientJacobian,
        RepresentationJacobian,
        residue_attributions,
    )
    from interp.io import load_contacts, read_alignment, read_fasta, read_rr, save_contacts, write_rr
    from interp.loading import load_model
    from interp.metrics import ContactPrecision, contact_precision, precision_table
    from interp.panel import load_panel
    from interp.prediction import ContactPrediction
    from interp.structure import ContactMap, contact_map

__version__ = "0.1.0"

_LAZY = {  # name -> the module that defines it, imported on first use of the name
    **dict.fromkeys(["AttentionReadout", "CategoricalJacobian", "Explainer", "GradientJacobian",
                     "RepresentationJacobian", "residue_attributions"], "interp.explainers"),
    **dict.fromkeys(["Pair", "apc", "center_jacobian", "frobenius_norm", "jacobian_to_contacts", "symmetrize",
                     "symmetrize_jacobian", "top_pairs", "zero_diagonal"], "interp.contacts"),
    **dict.fromkeys(["load_contacts", "read_alignment", "read_fasta", "read_rr", "save_contacts", "write_rr"],
                    "interp.io"),
    **dict.fromkeys(["ContactPrecision", "contact_precision", "precision_table"], "interp.metrics"),
    "ContactPrediction": "interp.prediction",
    **dict.fromkeys(["ContactMap", "contact_map"], "interp.structure"),
    "load_model": "interp.loading",
    "load_panel": "interp.panel",
}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

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
    "Explainer",
    "GradientJacobian",
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
