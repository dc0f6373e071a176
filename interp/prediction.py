"""`ContactPrediction`: what every explainer returns, with helpers to score, rank, plot and save it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from interp.contacts import Pair, top_pairs
from interp.io import load_contacts, save_contacts
from interp.metrics import DEFAULT_KS, precision_table


@dataclass
class ContactPrediction:
    """A predicted contact map [L, L] (float32, symmetric, zero diagonal) for one sequence.

    `jacobian` is the raw [L, A, L, B] tensor when the explainer was asked to keep it.
    """

    sequence: str
    method: str
    contacts: torch.Tensor
    jacobian: torch.Tensor | None = None
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

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
        """P@L/k by range against a true map: a ContactMap, a bool [L, L] map, or a structure file path."""
        from interp.truth import true_contacts

        contacts, resolved = true_contacts(self.sequence, truth, chain=chain, name=self.name)
        return precision_table(self.contacts, contacts, resolved=resolved, ranges=ranges, ks=ks, length=length)

    @property
    def chain_boundaries(self) -> list[int]:
        """[0, L1, L1 + L2, ...] for a complex; [0, L] for one chain."""
        return list(self.metadata.get("chain_boundaries", [0, len(self)]))

    def inter_chain(self, first: int = 0, second: int = 1) -> torch.Tensor:
        """The block of the map between two chains of a complex: [L_first, L_second]."""
        bounds = self.chain_boundaries
        if not (0 <= first < len(bounds) - 1 and 0 <= second < len(bounds) - 1):
            from interp.errors import InterpError

            raise InterpError(f"chains {first} and {second}: this prediction has {len(bounds) - 1} chain(s)")
        return self.contacts[bounds[first] : bounds[first + 1], bounds[second] : bounds[second + 1]]

    def top(self, k: int | None = None, min_separation: int = 6) -> list[Pair]:
        """The k best pairs (default L) with j - i >= min_separation, best first."""
        return top_pairs(self.contacts, len(self) if k is None else k, min_separation=min_separation)

    def plot(self, truth: Any = None, *, ax: Any = None, k: int | None = None, min_separation: int = 6) -> Any:
        """Draw the map (upper triangle) with true contacts (lower triangle) and the top-k pairs marked."""
        from interp.plotting import plot_contact_map

        return plot_contact_map(self, truth=truth, ax=ax, k=k, min_separation=min_separation)

    def save(self, path: str | os.PathLike) -> None:
        """Write an .npz with the map, sequence, method (and the Jacobian when kept)."""
        save_contacts(path, self.contacts, sequence=self.sequence, method=self.method, name=self.name,
                      jacobian=self.jacobian)  # fmt: skip

    @classmethod
    def load(cls, path: str | os.PathLike) -> ContactPrediction:
        """Read an .npz written by `save`."""
        data = load_contacts(path)
        return cls(
            sequence=data["sequence"],
            method=data.get("method", "unknown"),
            contacts=data["contacts"],
            jacobian=data.get("jacobian"),
            name=data.get("name"),
        )

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"ContactPrediction({self.method}{label}, L={len(self)})"
