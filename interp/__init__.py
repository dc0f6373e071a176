"""interp: contact maps from biological sequence models, and the metrics and structures to check them."""

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
from interp.io import load_contacts, read_alignment, read_fasta, read_rr, save_contacts, write_rr
from interp.metrics import ContactPrecision, contact_precision, precision_table
from interp.prediction import ContactPrediction
from interp.structure import ContactMap, contact_map

__version__ = "0.1.0"

_LAZY = {  # explainers pull in captum and transformers: imported on first use, so the CLI starts fast
    "AttentionReadout": "interp.explainers",
    "CategoricalJacobian": "interp.explainers",
    "Explainer": "interp.explainers",
    "GradientJacobian": "interp.explainers",
    "RepresentationJacobian": "interp.explainers",
    "load_model": "interp.loading",
    "load_panel": "interp.panel",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp' has no attribute {name!r}")


__all__ = [
    "AttentionReadout",
    "CategoricalJacobian",
    "ContactPrediction",
    "Explainer",
    "GradientJacobian",
    "RepresentationJacobian",
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
