"""Family alignments for training and for Potts fits: rows over the query's columns, letters as integers,
and sequence weights that down-weight near-duplicates (1 / number of rows at >= 80% identity)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from einops import rearrange

from interp.errors import AlignmentFormatError
from interp.io import read_alignment

PROTEIN_STATES = "ACDEFGHIKLMNPQRSTVWY-"
RNA_STATES = "ACGU-"


@dataclass
class FamilyAlignment:
    """An alignment restricted to the query's columns; `states` maps letters to integers (gap last)."""

    query: str
    rows: list[str]
    states: str
    kind: str = "protein"

    @property
    def gap(self) -> str:
        return self.states[-1]

    def encode(self) -> torch.Tensor:
        """Rows as integers [N, L] over `states`; letters outside it (X, B, N, ...) are read as gaps."""
        lookup = torch.full((256,), len(self.states) - 1, dtype=torch.long)
        for index, letter in enumerate(self.states):
            lookup[ord(letter)] = index
        raw = torch.tensor([list(row.encode("ascii", "replace")) for row in self.rows], dtype=torch.long)
        return lookup[raw]

    def weights(self, identity: float = 0.8, chunk: int = 2048) -> torch.Tensor:
        """1 / (rows sharing >= `identity` of columns with this one, itself included); the sum is N_eff."""
        return sequence_weights(self.encode(), len(self.states), identity=identity, chunk=chunk)

    def ungapped(self) -> list[str]:
        """The rows with gaps removed (unaligned sequences), empty ones dropped."""
        rows = [row.replace(self.gap, "") for row in self.rows]
        return [row for row in rows if row]


def sequence_weights(encoded: torch.Tensor, n_states: int, *, identity: float = 0.8, chunk: int = 2048) -> torch.Tensor:
    """Reweighting of an integer alignment [N, L]: 1 / #rows with fractional identity >= `identity`."""
    one_hot = rearrange(torch.nn.functional.one_hot(encoded, n_states).float(), "n l q -> n (l q)")
    length = encoded.shape[1]
    neighbours = torch.empty(encoded.shape[0])
    for start in range(0, encoded.shape[0], chunk):
        shared = one_hot[start : start + chunk] @ one_hot.T  # identical columns, gaps included
        neighbours[start : start + chunk] = (shared >= identity * length).sum(dim=1).float()
    return 1.0 / neighbours


def load_family(path: str | Path, *, kind: str = "protein", fmt: str | None = None) -> FamilyAlignment:
    """Read an alignment (a3m, psicov, aligned FASTA), keep the query's non-gap columns, upper-case rows;
    kind "rna" reads T as U."""
    if kind not in ("protein", "rna"):
        raise AlignmentFormatError(f"{path}: kind must be 'protein' or 'rna'; got {kind!r}")
    records = read_alignment(path, fmt)
    rows = [record.sequence.upper().replace(".", "-") for record in records]
    if kind == "rna":
        rows = [row.replace("T", "U") for row in rows]
    keep = [index for index, letter in enumerate(rows[0]) if letter != "-"]
    if not keep:
        raise AlignmentFormatError(f"{path}: the query row is all gaps")
    if len(keep) < len(rows[0]):
        rows = ["".join(row[index] for index in keep) for row in rows]
    states = PROTEIN_STATES if kind == "protein" else RNA_STATES
    return FamilyAlignment(query=rows[0], rows=rows, states=states, kind=kind)
