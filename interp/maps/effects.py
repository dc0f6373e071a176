"""`EffectTable`: the score of every single mutation of one sequence, in named conventions, with a table and a heat map."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from interp.errors import InterpError
from interp.files.io import atomic_write

CONVENTIONS = {
    "wt_marginal": "log P(mut) - log P(wt) at the residue, from one pass over the unmasked wild type "
    "(Meier et al. 2021; a causal model reads the residue from the prefix before it)",
    "masked_marginal": "log P(mut) - log P(wt) at the residue, with that residue masked (one masked pass per residue)",
    "mutant_likelihood": "log-likelihood of the mutant minus that of the wild type, each from one pass over the "
    "sequence: the exact log-likelihood ratio for a causal model, the unmasked pseudo-log-likelihood for a masked one",
}
"""What each score means; the table's header repeats it."""


@dataclass
class EffectTable:
    """Scores of every single mutant of one sequence: one [L, A] tensor per convention, A in `alphabet` order.

    Higher means the model finds the mutant more likely than the wild type; the wild-type letter scores 0.
    A residue no score can be read for (a letter outside the alphabet, a causal model's unpredicted first
    residue) holds NaN, written "n/a".

    Attributes:
        sequence: the wild-type sequence (L residues).
        alphabet: the A letters the columns stand for.
        scores: {convention: [L, A] float32 tensor}, conventions from `CONVENTIONS`.
        name: the record's name, or None.
        metadata: facts about the run ("adapter", "model", "causal").

    Example:
        >>> from interp import MutationEffects
        >>> from interp.testing.stand_ins import esm_model
        >>> model, tokenizer = esm_model("tiny")
        >>> table = MutationEffects(model, tokenizer).attribute("MKTAYIAKQR")
        >>> sorted(table.scores)
        ['masked_marginal', 'mutant_likelihood', 'wt_marginal']
        >>> table.mutation(0, "A"), table.scores["wt_marginal"].shape
        ('M1A', torch.Size([10, 20]))
    """

    sequence: str
    alphabet: str
    scores: dict[str, torch.Tensor]
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.sequence), len(self.alphabet))
        for key, value in self.scores.items():
            if key not in CONVENTIONS:
                raise InterpError(f"unknown score {key!r}; the conventions are {', '.join(CONVENTIONS)}")
            if tuple(value.shape) != shape:
                raise InterpError(f"score {key!r} has shape {tuple(value.shape)}; expected [L, A] = {shape}")

    def __len__(self) -> int:
        return len(self.sequence)

    def mutation(self, position: int, letter: str) -> str:
        """The usual name of a mutant: wild-type letter, 1-based position, new letter ("A23G").

        Args:
            position: 0-based residue index.
            letter: the new letter.

        Returns:
            The mutation's name.
        """
        return f"{self.sequence[position]}{position + 1}{letter}"

    def rows(self) -> Iterator[dict[str, Any]]:
        """One dict per single mutant (wild-type letters left out), in position then alphabet order.

        Yields:
            {"mutation", "position" (1-based), "wt", "mut", then one float per score (NaN where none)}.
        """
        names = list(self.scores)
        for p, wild in enumerate(self.sequence):
            for a, letter in enumerate(self.alphabet):
                if letter == wild:
                    continue
                row: dict[str, Any] = {"mutation": self.mutation(p, letter), "position": p + 1, "wt": wild, "mut": letter}
                row.update({name: float(self.scores[name][p, a]) for name in names})
                yield row

    def write_tsv(self, path: str | os.PathLike) -> None:
        """Write the table (atomically): '#' lines naming each score's convention, then one row per mutant.

        Args:
            path: the file to write; a reader never sees half a file.
        """
        names = list(self.scores)
        with atomic_write(path) as handle:
            handle.write(f"# single-mutant scores of {self.name or 'the sequence'} (L={len(self)}), model "
                         f"{self.metadata.get('model', '?')}; positions are 1-based; higher = more likely than the "
                         "wild type\n")  # fmt: skip
            for name in names:
                handle.write(f"# {name}: {CONVENTIONS[name]}\n")
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["mutation", "position", "wt", "mut", *names])
            for row in self.rows():
                values = ["n/a" if math.isnan(row[n]) else f"{row[n]:.6g}" for n in names]
                writer.writerow([row["mutation"], row["position"], row["wt"], row["mut"], *values])

    def plot(self, *, score: str | None = None) -> Any:
        """A heat map per score, positions x letters (`interp.files.plotting.plot_effects`).

        Args:
            score: draw only this score; None draws every score, one panel each.

        Returns:
            A matplotlib Figure.
        """
        from interp.files.plotting import plot_effects  # deferred: matplotlib loads only to draw

        return plot_effects(self, score=score)

    def __repr__(self) -> str:
        return f"EffectTable({self.name!r}, L={len(self)}, scores={list(self.scores)})"


def read_effects_tsv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a table written by `EffectTable.write_tsv` back as rows ("n/a" read as NaN).

    Args:
        path: the file.

    Returns:
        One dict per mutant: "mutation", "position" (int, 1-based), "wt", "mut", then one float per score.

    Raises:
        InterpError: the file is not such a table (the record's line is named).
    """
    with open(path, newline="") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    reader = csv.reader(lines, delimiter="\t")
    header = next(reader, None)
    if header is None or header[:4] != ["mutation", "position", "wt", "mut"]:
        raise InterpError(f"{path}: not a mutation-effect table (its header is {header})")
    rows = []
    for number, values in enumerate(reader, start=2):
        if len(values) != len(header):
            raise InterpError(f"{path}: row {number} has {len(values)} fields; the header has {len(header)}")
        row: dict[str, Any] = {"mutation": values[0], "position": int(values[1]), "wt": values[2], "mut": values[3]}
        row.update({name: math.nan if v == "n/a" else float(v) for name, v in zip(header[4:], values[4:], strict=True)})
        rows.append(row)
    return rows


__all__ = ["CONVENTIONS", "EffectTable", "read_effects_tsv"]
