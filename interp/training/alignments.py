"""Family alignments for training and for Potts fits: rows over the query's columns, letters as integers,
and sequence weights that down-weight near-duplicates (1 / number of rows at >= 80% identity)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from einops import rearrange

from interp.errors import AlignmentFormatError
from interp.files.io import read_alignment

PROTEIN_STATES = "ACDEFGHIKLMNPQRSTVWY-"
RNA_STATES = "ACGU-"


@dataclass
class FamilyAlignment:
    """An alignment restricted to the query's columns; `states` maps letters to integers (gap last).

    Every row has the query's length and column `i` is residue `i` of the query (insertions relative to the
    query are gone). `encode` turns the rows into integers over `states`; `weights` gives the usual
    80%-identity sequence weights, whose sum is the effective number of sequences N_eff.

    Attributes:
        query: the query sequence (the first row), without gaps.
        rows: the aligned rows, the query first, each of the query's length; gaps are `states[-1]` ('-').
        states: the alphabet, one letter per integer state, the gap last (`PROTEIN_STATES`: 20 amino acids
            and '-'; `RNA_STATES`: "ACGU-").
        kind: "protein" or "rna".

    Example:
        >>> from interp.training.alignments import PROTEIN_STATES, FamilyAlignment
        >>> rows = ["ACDEFGHIKL", "ACDEFGHIKV", "ACD-FGHIKL", "WWWWWWWWWW"]
        >>> family = FamilyAlignment(query=rows[0], rows=rows, states=PROTEIN_STATES)
        >>> family.encode().shape
        torch.Size([4, 10])
        >>> family.weights()  # three rows at >= 90% identity share one weight; the fourth is alone
        tensor([0.3333, 0.3333, 0.3333, 1.0000])
    """

    query: str
    rows: list[str]
    states: str
    kind: str = "protein"

    @property
    def gap(self) -> str:
        """The gap letter: the last of `states`."""
        return self.states[-1]

    def encode(self) -> torch.Tensor:
        """The rows as integers over `states`.

        Letters outside `states` (X, B, Z, lower case, non-ASCII, ...) are read as gaps.

        Returns:
            A long tensor [N, L]: row n, column i holds the index in `states` of that letter.
        """
        lookup = torch.full((256,), len(self.states) - 1, dtype=torch.long)
        for index, letter in enumerate(self.states):
            lookup[ord(letter)] = index
        raw = torch.tensor([list(row.encode("ascii", "replace")) for row in self.rows], dtype=torch.long)
        return lookup[raw]

    def weights(self, identity: float = 0.8, chunk: int = 2048) -> torch.Tensor:
        """Sequence weights of the rows: 1 / (rows sharing >= `identity` of the columns with this one).

        The count includes the row itself; see `sequence_weights`.

        Args:
            identity: the fractional identity at or above which two rows count as neighbours (0.8 is the
                GREMLIN / CCMpred convention).
            chunk: rows compared at a time (bounds memory at `chunk` x N identities).

        Returns:
            A float tensor [N] of weights in (0, 1]; their sum is the effective number of sequences N_eff.
        """
        return sequence_weights(self.encode(), len(self.states), identity=identity, chunk=chunk)

    def ungapped(self) -> list[str]:
        """The rows with their gaps removed (unaligned sequences), rows that were all gaps dropped.

        Returns:
            The ungapped sequences, in row order (the query first).
        """
        rows = [row.replace(self.gap, "") for row in self.rows]
        return [row for row in rows if row]


def sequence_weights(encoded: torch.Tensor, n_states: int, *, identity: float = 0.8, chunk: int = 2048) -> torch.Tensor:
    """Sequence weights of an integer alignment: 1 / the number of rows at >= `identity` to each row.

    The identity of two rows is the fraction of the L columns where they hold the same state, gaps included
    (two gaps match). Each row counts itself, so a row without close neighbours weighs 1 and a cluster of k
    near-duplicates weighs 1 in total. Rows are compared `chunk` at a time against all N rows.

    Args:
        encoded: the alignment as integers [N, L], each in 0..n_states - 1 (e.g. `FamilyAlignment.encode()`).
        n_states: the size of the alphabet, gap included.
        identity: the fractional identity at or above which two rows count as neighbours.
        chunk: rows compared at a time (bounds memory at `chunk` x N identities).

    Returns:
        A float tensor [N] of weights in (0, 1]; their sum is the effective number of sequences N_eff.
    """
    one_hot = rearrange(torch.nn.functional.one_hot(encoded, n_states).float(), "n l q -> n (l q)")
    length = encoded.shape[1]
    neighbours = torch.empty(encoded.shape[0])
    for start in range(0, encoded.shape[0], chunk):
        shared = one_hot[start : start + chunk] @ one_hot.T  # identical columns, gaps included
        neighbours[start : start + chunk] = (shared >= identity * length).sum(dim=1).float()
    return 1.0 / neighbours


def load_family(path: str | Path, *, kind: str = "protein", fmt: str | None = None) -> FamilyAlignment:
    """Read a family alignment and keep the query's columns.

    Rows are upper-cased and '.' is read as a gap; the columns where the query (the first row) has a gap are
    dropped from every row, so column i is the query's residue i. For kind "rna", T is read as U.

    Args:
        path: the alignment file: a3m, psicov (.aln) or aligned FASTA, the query first.
        kind: "protein" (states `PROTEIN_STATES`) or "rna" (states `RNA_STATES`).
        fmt: "a3m", "psicov" or "fasta"; None detects the format from the file.

    Returns:
        The alignment over the query's columns, with the states of its kind.

    Raises:
        AlignmentFormatError: if `kind` is neither "protein" nor "rna", the file cannot be read as an
            alignment (unknown format, no rows, rows of different lengths), or the query row is all gaps.
    """
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
