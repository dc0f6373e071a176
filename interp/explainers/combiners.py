"""How the attention readout combines its per-head maps [H, L, L] into one contact map.

"mean" averages every head; "top_k" and "calibrated" average a chosen subset of heads (chosen on labelled
proteins, or by agreement with the categorical Jacobian); "logistic" is an L1-penalised logistic
regression over heads (ESM's contact-head recipe); "esm_head" applies the weights of a model's own
trained contact head (ESM-2's `contact_head`) to every pair. Each serialises to a small JSON-able dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from interp.errors import InterpError


def pair_features(head_maps: torch.Tensor, min_separation: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(i, j, features [n_pairs, H]) for pairs i < j with j - i >= min_separation."""
    length = head_maps.shape[-1]
    i, j = torch.triu_indices(length, length, offset=max(min_separation, 1))
    return i, j, head_maps[:, i, j].T


@dataclass
class MeanCombiner:
    """Average of all heads."""

    kind: str = "mean"

    def combine(self, head_maps: torch.Tensor) -> torch.Tensor:
        return head_maps.mean(0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass
class HeadSubsetCombiner:
    """Average of selected heads (flat indices layer * n_heads + head), with the scores that ranked them."""

    heads: list[int]
    n_heads_total: int
    kind: str = "top_k"
    scores: list[float] = field(default_factory=list)

    def combine(self, head_maps: torch.Tensor) -> torch.Tensor:
        if head_maps.shape[0] != self.n_heads_total:
            raise InterpError(f"combiner was fitted on {self.n_heads_total} heads; this model has {head_maps.shape[0]}")
        return head_maps[self.heads].mean(0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "heads": self.heads, "n_heads_total": self.n_heads_total, "scores": self.scores}


@dataclass
class LogisticCombiner:
    """sigmoid(w . standardised head features + b) per pair; pairs closer than min_separation get the lowest score."""

    weights: list[float]
    bias: float
    mean: list[float]
    std: list[float]
    min_separation: int = 6
    kind: str = "logistic"

    def combine(self, head_maps: torch.Tensor) -> torch.Tensor:
        if head_maps.shape[0] != len(self.weights):
            raise InterpError(f"combiner was fitted on {len(self.weights)} heads; this model has {head_maps.shape[0]}")
        length = head_maps.shape[-1]
        i, j, features = pair_features(head_maps, self.min_separation)
        x = (features - torch.tensor(self.mean)) / torch.tensor(self.std)
        prob = torch.sigmoid(x @ torch.tensor(self.weights) + self.bias)
        out = torch.zeros(length, length, dtype=prob.dtype)
        out[i, j] = prob
        out[j, i] = prob
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "weights": self.weights, "bias": self.bias, "mean": self.mean, "std": self.std,
            "min_separation": self.min_separation,
        }  # fmt: skip


@dataclass
class EsmHeadCombiner:
    """sigmoid(w . head maps + b) on every pair, with the weights of a model's own contact head (ESM-2's).

    ESM's `EsmContactPredictionHead` reads the same features as the attention readout's head maps (each
    head's attention between residues, M + M^T, then APC; heads layer-major), unstandardised, on every pair.
    """

    weights: list[float]
    bias: float
    kind: str = "esm_head"

    @classmethod
    def from_linear(cls, regression: torch.nn.Linear) -> EsmHeadCombiner:
        """The combiner of a contact head's regression layer (`nn.Linear(layers * heads, 1)`)."""
        bias = 0.0 if regression.bias is None else float(regression.bias.detach().reshape(-1)[0])
        return cls(weights=regression.weight.detach().reshape(-1).double().tolist(), bias=bias)

    def combine(self, head_maps: torch.Tensor) -> torch.Tensor:
        if head_maps.shape[0] != len(self.weights):
            raise InterpError(f"the contact head reads {len(self.weights)} heads; this model has {head_maps.shape[0]}")
        weights = torch.tensor(self.weights, dtype=head_maps.dtype, device=head_maps.device)
        return torch.sigmoid(torch.einsum("hij,h->ij", head_maps, weights) + self.bias)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": self.weights, "bias": self.bias}


def fit_logistic(
    features: torch.Tensor, labels: torch.Tensor, *, l1: float = 1e-3, steps: int = 500, min_separation: int = 6
) -> LogisticCombiner:
    """L1-penalised logistic regression by FISTA (proximal gradient) on standardised features."""
    x = features.double()
    y = labels.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-12)
    x = (x - mean) / std
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    lipschitz = 0.25 * torch.linalg.matrix_norm(design, ord=2) ** 2 / len(x)
    step = 1.0 / float(lipschitz)
    theta = torch.zeros(design.shape[1], dtype=x.dtype)
    momentum, previous, t = theta.clone(), theta.clone(), 1.0
    for _ in range(steps):
        grad = design.T @ (torch.sigmoid(design @ momentum) - y) / len(x)
        theta = momentum - step * grad
        theta[:-1] = torch.sign(theta[:-1]) * (theta[:-1].abs() - step * l1).clamp_min(0)  # no penalty on bias
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        momentum = theta + (t - 1) / t_next * (theta - previous)
        previous, t = theta.clone(), t_next
    return LogisticCombiner(
        weights=theta[:-1].tolist(), bias=float(theta[-1]), mean=mean.tolist(), std=std.tolist(),
        min_separation=min_separation,
    )  # fmt: skip


def combiner_from_dict(data: dict[str, Any]) -> MeanCombiner | HeadSubsetCombiner | LogisticCombiner | EsmHeadCombiner:
    """Rebuild a combiner from `to_dict()` output."""
    kind = data.get("kind")
    if kind == "mean":
        return MeanCombiner()
    if kind in ("top_k", "calibrated"):
        return HeadSubsetCombiner(
            heads=[int(h) for h in data["heads"]], n_heads_total=int(data["n_heads_total"]), kind=kind,
            scores=[float(s) for s in data.get("scores", [])],
        )  # fmt: skip
    if kind == "logistic":
        return LogisticCombiner(
            weights=[float(w) for w in data["weights"]], bias=float(data["bias"]),
            mean=[float(m) for m in data["mean"]], std=[float(s) for s in data["std"]],
            min_separation=int(data.get("min_separation", 6)),
        )  # fmt: skip
    if kind == "esm_head":
        return EsmHeadCombiner(weights=[float(w) for w in data["weights"]], bias=float(data["bias"]))
    raise InterpError(f"unknown combiner kind {kind!r}")
