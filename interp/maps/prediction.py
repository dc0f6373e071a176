"""`ContactPrediction`: what every explainer returns, with helpers to score, rank, plot and save it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from interp.errors import ContactMapError, InterpError
from interp.files.io import load_contacts, save_contacts
from interp.maps.contacts import Pair, top_pairs
from interp.scoring.metrics import DEFAULT_KS, precision_table
from interp.scoring.truth import true_contacts


@dataclass
class ContactPrediction:
    """A predicted contact map [L, L] (float32, symmetric, zero diagonal) for one sequence.

    `jacobian` is the raw [L, A, L, B] tensor when the explainer was asked to keep it.

    Attributes:
        sequence: the L residues the map covers (for a complex, the chains joined).
        method: what produced the map, e.g. "categorical_jacobian" or "attention_logistic".
        contacts: the predicted map [L, L], float32, symmetric with a zero diagonal; higher means more likely.
        jacobian: the raw Jacobian [L, A, L, B] (CPU) when kept, else None.
        name: the record's name (a FASTA header), or None.
        layer_contacts: one map per layer [layers, L, L] (layer 1 first) when the explainer was asked for them
            (`per_layer=True`), else None.
        effects: the single-mutant scores (`interp.EffectTable`) when the Jacobian was asked for them
            (`effects=True`), else None.
        metadata: extra facts about the run, e.g. "adapter", "model", "chain_boundaries" for a complex, "windows" and
            "covered" for a sequence computed in windows.

    Example:
        >>> import torch
        >>> from interp import ContactPrediction
        >>> contacts = torch.zeros(30, 30)
        >>> contacts[2, 20] = contacts[20, 2] = 0.75
        >>> prediction = ContactPrediction("ACDEFGHIKL" * 3, "demo", contacts, name="toy")
        >>> prediction.top(1)
        [Pair(i=2, j=20, score=0.75)]
        >>> prediction.save("toy.npz")
        >>> ContactPrediction.load("toy.npz")
        ContactPrediction(demo 'toy', L=30)
    """

    sequence: str
    method: str
    contacts: torch.Tensor
    jacobian: torch.Tensor | None = None
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    layer_contacts: torch.Tensor | None = None
    effects: Any = None

    def __len__(self) -> int:
        return len(self.sequence)

    def precision(
        self,
        truth: Any,
        *,
        chain: str | None = None,
        ranges: tuple = ("short", "medium", "long"),
        ks: tuple = DEFAULT_KS,
        length: int | None = None,
    ) -> dict[str, float]:
        """P@L/k by range against a true map: a ContactMap, a bool [L, L] map, or a structure file path.

        Args:
            truth: a `ContactMap` (or anything with `.contacts` and `.resolved`), a bool [L, L] map, or a
                PDB/mmCIF file path (its chain aligned to `sequence` by `interp.contact_map`).
            chain: the structure's chain, for a file path only; None takes the first polymer chain.
            ranges: separation ranges, each a name ("short" 6-11, "medium" 12-23, "long" >= 24) or a
                (min, max) tuple.
            ks: the k of each column: "L", "L/n" or an int.
            length: the L used to turn each k into a number of pairs; None counts the resolved residues.

        Returns:
            A dict from "{range}_P@{k}" (e.g. "long_P@L/5") to the precision, NaN where a range holds no
                candidate pair (see `precision_table`).

        Raises:
            InterpError: if the true map does not cover the sequence ([L, L]).
            StructureError: if the structure file cannot be read, lacks the chain, or does not match the
                sequence (`ChainNotFoundError`, `SequenceMismatchError`).
            ContactMapError: if a range or k is not valid or the predicted map holds NaN.
        """
        contacts, resolved = true_contacts(self.sequence, truth, chain=chain, name=self.name)
        return precision_table(self.contacts, contacts, resolved=resolved, ranges=ranges, ks=ks, length=length)

    @property
    def chain_boundaries(self) -> list[int]:
        """[0, L1, L1 + L2, ...] for a complex; [0, L] for one chain."""
        return list(self.metadata.get("chain_boundaries", [0, len(self)]))

    def inter_chain(self, first: int = 0, second: int = 1) -> torch.Tensor:
        """The block of the map between two chains of a complex: [L_first, L_second].

        Args:
            first: 0-based index of the chain whose residues are the rows.
            second: 0-based index of the chain whose residues are the columns.

        Returns:
            A view of `contacts`, [L_first, L_second].

        Raises:
            InterpError: if either index is not a chain of this prediction (see `chain_boundaries`).
        """
        bounds = self.chain_boundaries
        if not (0 <= first < len(bounds) - 1 and 0 <= second < len(bounds) - 1):
            raise InterpError(f"chains {first} and {second}: this prediction has {len(bounds) - 1} chain(s)")
        return self.contacts[bounds[first] : bounds[first + 1], bounds[second] : bounds[second + 1]]

    def layer_precision(self, truth: Any, *, chain: str | None = None, ranges: tuple = ("short", "medium", "long"),
                        ks: tuple = DEFAULT_KS) -> list[dict[str, float]]:  # fmt: skip
        """P@L/k by range of every layer's map (`layer_contacts`), scored as `precision` scores the map.

        Args:
            truth: as for `precision`.
            chain: as for `precision`.
            ranges: as for `precision`.
            ks: as for `precision`.

        Returns:
            One dict per layer (layer 1 first), from "{range}_P@{k}" to the precision.

        Raises:
            InterpError: the prediction holds no per-layer maps (the explainer ran without `per_layer=True`).
        """
        if self.layer_contacts is None:
            raise InterpError("this prediction holds no per-layer maps: run the explainer with per_layer=True")
        contacts, resolved = true_contacts(self.sequence, truth, chain=chain, name=self.name)
        return [precision_table(layer, contacts, resolved=resolved, ranges=ranges, ks=ks) for layer in self.layer_contacts]

    def top(self, k: int | None = None, min_separation: int = 6) -> list[Pair]:
        """The k best pairs (default L) with j - i >= min_separation, best first.

        Args:
            k: how many pairs at most; None takes L.
            min_separation: the smallest sequence separation j - i a pair may have.

        Returns:
            Up to k `Pair`s (0-based i < j, score), highest score first (see `interp.top_pairs`).

        Raises:
            ContactMapError: if `contacts` holds NaN or infinite values, or k < 0.
        """
        return top_pairs(self.contacts, len(self) if k is None else k, min_separation=min_separation)

    def plot(self, truth: Any = None, *, ax: Any = None, k: int | None = None, min_separation: int = 6,
             precision: Mapping[str, float] | None = None) -> Any:  # fmt: skip
        """Draw the map (upper triangle) with true contacts (lower triangle) and the top-k pairs marked.

        Args:
            truth: the true contacts, a `ContactMap` or a bool [L, L] map; None draws the prediction only.
            ax: a matplotlib Axes to draw into; None makes a new Figure.
            k: how many top pairs to mark; None marks L.
            min_separation: the smallest separation j - i of the marked pairs and of the true contacts drawn.
            precision: `self.precision(truth)` when the caller already has it (it is not computed again).

        Returns:
            The matplotlib Figure (the one holding `ax` when given); see `interp.files.plotting.plot_contact_map`.
        """
        from interp.files.plotting import plot_contact_map  # deferred: matplotlib only when a figure is drawn

        return plot_contact_map(self, truth=truth, ax=ax, k=k, min_separation=min_separation, precision=precision)

    def plot_layers(self, truth: Any = None, *, layer_tables: Sequence[Mapping[str, float]] | None = None) -> Any:
        """Draw the per-layer maps: precision against layer when `truth` is known, else the maps at a few depths.

        Args:
            truth: the true contacts, a `ContactMap` or a bool [L, L] map; None draws the maps themselves.
            layer_tables: `self.layer_precision(truth)` when the caller already has it (it is not computed again).

        Returns:
            A matplotlib Figure (`interp.files.plotting.plot_layer_precision` or `plot_layer_maps`).

        Raises:
            InterpError: the prediction holds no per-layer maps (the explainer ran without `per_layer=True`).
        """
        from interp.files.plotting import plot_layer_maps, plot_layer_precision  # deferred: matplotlib only to draw

        if self.layer_contacts is None:
            raise InterpError("this prediction holds no per-layer maps: run the explainer with per_layer=True")
        if truth is None:
            return plot_layer_maps(self.layer_contacts, name=self.name)
        tables = layer_tables if layer_tables is not None else self.layer_precision(truth)
        title = f"{self.name or 'prediction'}: contact precision by layer ({self.method.replace('_', ' ')})"
        return plot_layer_precision(tables, title=title)

    def save(self, path: str | os.PathLike) -> None:
        """Write an .npz with the map, sequence, method (and the name, Jacobian and per-layer maps when set).

        `metadata` is not written. The file is replaced atomically (see `interp.save_contacts`).

        Args:
            path: the file to write, exactly as named (no suffix is appended).
        """
        save_contacts(path, self.contacts, sequence=self.sequence, method=self.method, name=self.name,
                      jacobian=self.jacobian, layer_contacts=self.layer_contacts)  # fmt: skip

    @classmethod
    def load(cls, path: str | os.PathLike) -> ContactPrediction:
        """Read an .npz written by `save`.

        Args:
            path: the .npz file.

        Returns:
            The prediction, with an empty `metadata`; `method` is "unknown" when the file names none.

        Raises:
            ContactMapError: if the file is missing, not a .npz, truncated, or holds pickled objects.
            ContactMapError: also if the file holds no sequence (a map saved without one).
        """
        data = load_contacts(path)
        if "sequence" not in data:
            raise ContactMapError(f"{path}: holds no sequence, so it is not a saved prediction (save it with sequence=...)")
        return cls(
            sequence=data["sequence"],
            method=data.get("method", "unknown"),
            contacts=data["contacts"],
            jacobian=data.get("jacobian"),
            name=data.get("name"),
            layer_contacts=data.get("layer_contacts"),
        )

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"ContactPrediction({self.method}{label}, L={len(self)})"
