"""True contact maps from whatever the caller holds: a structure file, a `ContactMap`, or a bool [L, L] map.

One function serves the training callback, the attention readout's fitting and `ContactPrediction.precision`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from interp.errors import InterpError
from interp.scoring.metrics import unpack_truth


def true_contacts(
    sequence: str, truth: Any, *, chain: str | None = None, name: str | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(bool contacts [L, L], bool resolved [L] or None) for a sequence.

    Args:
        sequence: the sequence the map must cover.
        truth: a structure file path (aligned to the sequence), a `ContactMap` (or anything with `.contacts`
            and `.resolved`), or a bool [L, L] map.
        chain: the structure's chain (structure files only; None: the one that matches).
        name: how errors call this record.

    Returns:
        The true contacts and, where known, which residues the structure resolves.

    Raises:
        InterpError: the map does not cover the sequence (or the structure cannot be read or aligned).
    """
    if isinstance(truth, (str, os.PathLike)):
        from interp.structures.structure import contact_map  # deferred: biotite only for structure files

        truth = contact_map(truth, chain=chain, sequence=sequence)
    contacts, resolved = unpack_truth(truth)
    if tuple(contacts.shape) != (len(sequence), len(sequence)):
        label = f"{name!r}: " if name is not None else ""
        raise InterpError(
            f"{label}a true map of shape {tuple(contacts.shape)} for a sequence of length {len(sequence)}"
        )
    return contacts, resolved
