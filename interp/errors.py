"""Typed errors: every failure `interp` reports is an `InterpError` that names the record and position."""

from __future__ import annotations


class InterpError(ValueError):
    """Base class of every error `interp` raises on bad input."""


class InvalidSequenceError(InterpError):
    """A sequence holds a letter the alphabet does not know (the message names record, position, letter)."""


class EmptySequenceError(InterpError):
    """A sequence (or a FASTA/alignment record) has no residues."""


class SequenceTooLongError(InterpError):
    """A sequence is longer than the model or the caller allows."""


class StructureError(InterpError):
    """A structure file cannot be read, is empty, or lacks the atoms needed."""


class ChainNotFoundError(StructureError):
    """The requested chain is not in the structure (the message lists the chains that are)."""


class SequenceMismatchError(StructureError):
    """A structure's residues do not match the sequence they were aligned to."""


class AlignmentFormatError(InterpError):
    """An alignment file is malformed (rows of different length, no rows, unknown format)."""


class FastaFormatError(InterpError):
    """A FASTA file is malformed (text before the first header, a record with no sequence)."""


class RRFormatError(InterpError):
    """A CASP RR contact file is malformed or names residues outside the sequence."""


class ContactMapError(InterpError):
    """A contact map or Jacobian has the wrong shape, or holds NaN or infinite values."""


class NonFiniteOutputError(InterpError):
    """The model returned NaN or infinite values (the message names the record and the mutated residue)."""


class ModelCallError(InterpError, RuntimeError):
    """The model's own forward failed on the token ids the adapter wrote (the model's error is chained, and the
    message says what to change where it is known, e.g. parameters in mixed dtypes)."""


class InsufficientMemoryError(InterpError, MemoryError):
    """A computation would need more memory than is free; refused before it starts (the message says what fits)."""


__all__ = [
    "InterpError",
    "InvalidSequenceError",
    "EmptySequenceError",
    "SequenceTooLongError",
    "StructureError",
    "ChainNotFoundError",
    "SequenceMismatchError",
    "AlignmentFormatError",
    "FastaFormatError",
    "RRFormatError",
    "ContactMapError",
    "NonFiniteOutputError",
    "InsufficientMemoryError",
    "ModelCallError",
]
