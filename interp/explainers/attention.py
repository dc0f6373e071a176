"""The attention readout: one forward pass, every layer's and head's attention map over the residues,
symmetrised and APC-corrected per head, then combined ("mean", "top_k", "logistic" or "calibrated").

Models loaded with SDPA or flash attention return no attention weights; the readout pass runs with
eager attention (switched for that one pass and switched back), and an empty result is an error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import torch
from einops import rearrange
from torch import nn

from interp.adapters.base import Adapter, Encoded
from interp.errors import InterpError
from interp.explainers.base import Explainer, check_finite_output, eval_mode, model_name
from interp.explainers.categorical import CategoricalJacobian
from interp.explainers.combiners import (
    EsmHeadCombiner,
    HeadSubsetCombiner,
    MeanCombiner,
    combiner_from_dict,
    fit_logistic,
    pair_features,
)
from interp.explainers.memory import check_attention_memory
from interp.files.io import atomic_write
from interp.maps.contacts import norm_map_to_contacts
from interp.maps.prediction import ContactPrediction
from interp.methods import COMBINERS  # declared with the attention method
from interp.scoring.metrics import contact_precision
from interp.scoring.truth import true_contacts


def symmetrized_apc(maps: torch.Tensor) -> torch.Tensor:
    """APC(M + M^T) for a stack of maps [H, L, L], with one temporary: equal to `apc(maps + maps.mT)`.

    A symmetric map's row and column sums agree, so the correction is a rank-one update done in place.
    """
    out = maps + maps.transpose(1, 2)
    row = out.sum(dim=-1)
    total = row.sum(dim=-1, keepdim=True)
    scaled = row / torch.where(total > 0, total, torch.ones_like(total)).sqrt()
    return out.baddbmm_(scaled.unsqueeze(2), scaled.unsqueeze(1), alpha=-1)


class AttentionReadout(Explainer):
    """Contacts from attention maps: one forward, every head's map symmetrised and APC-corrected, then combined.

    The combiner turns the [layers * heads, L, L] head maps into one [L, L] map: "mean" averages every
    head; "top_k" averages the k heads with the best mean P@L on labelled proteins (`fit`); "logistic" is
    an L1-penalised logistic regression over heads (`fit`, ESM's contact-head recipe); "calibrated"
    averages the k heads that agree best with the categorical Jacobian, no structures needed (`calibrate`).
    A fitted combiner is saved and reloaded with `save` and `load`.

    Args:
        model: a model (with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer.
        adapter: an explicit adapter (instead of detection).
        combiner: "mean" works at once; "top_k" and "logistic" need `fit`, "calibrated" needs `calibrate`;
            "esm_head" applies the model's own trained contact head (ESM-2), equal to transformers'
            `predict_contacts` off the diagonal, and works under SDPA too.
        per_layer: also give one map per layer (`ContactPrediction.layer_contacts`, [layers, L, L]) from the same
            forward: each layer's heads (symmetrised, APC-corrected) averaged, as the "mean" combiner averages all.
        memory_limit: bytes the readout may use (None: free memory); longer inputs are refused before the forward.
        show_progress: accepted for symmetry with the Jacobians (one forward needs no bar).
        **window_options: `long_sequences` and `window_overlap`, passed to `Explainer`.

    Raises:
        InterpError: the model has no attention layers (HyenaDNA, Caduceus, Evo), an unknown combiner, or
            "esm_head" for a model without a contact head;
            in `attribute`, a combiner that is not fitted yet.
    """

    method = "attention"

    def __init__(
        self,
        model: nn.Module | Adapter,
        tokenizer: Any = None,
        *,
        adapter: Adapter | None = None,
        combiner: str = "mean",
        per_layer: bool = False,
        memory_limit: int | None = None,
        show_progress: bool = False,
        **window_options: Any,
    ) -> None:
        super().__init__(model, tokenizer, adapter=adapter, show_progress=show_progress, memory_limit=memory_limit,
                         **window_options)  # fmt: skip
        if self.adapter.attention_source == "none":
            raise InterpError(
                f"{self.adapter.name}: AttentionReadout is not available: "
                f"{self.adapter.attention_refusal or 'the model has no attention layers'}; "
                "use CategoricalJacobian or GradientJacobian"
            )
        if combiner not in COMBINERS:
            raise InterpError(f"combiner={combiner!r}; choose one of {COMBINERS}")
        self.combiner: Any = MeanCombiner() if combiner == "mean" else None
        if combiner == "esm_head":
            head = self.adapter.contact_head()
            if head is None:
                raise InterpError(
                    f"{self.adapter.name}: combiner='esm_head' needs a model that carries its own contact head "
                    "(EsmForMaskedLM's esm.contact_head); fit a 'logistic' combiner on labelled proteins instead"
                )
            self.combiner = EsmHeadCombiner.from_linear(head)
        self.combiner_kind = combiner
        self.per_layer = per_layer

    # --- per-head maps -------------------------------------------------------------------------
    def head_maps(self, sequence: str | Encoded, *, unknown: str = "error") -> torch.Tensor:
        """[layers * heads, L, L]: each head's attention over residues, symmetrised, then APC-corrected.

        One forward with attention weights switched on for that pass (eager attention where the model
        uses SDPA or flash attention), the model in eval mode, no gradients.

        Args:
            sequence: a sequence, or one already encoded by the adapter.
            unknown: "error" refuses letters outside the alphabet; "mask" puts the mask token there.

        Returns:
            A float32 CPU tensor [layers * heads, L, L], head h of layer l at index l * heads + h, holding
            APC(M + M^T) of each head's attention map M between the residues (special tokens left out).

        Raises:
            InsufficientMemoryError: the [layers, heads, T, T] maps would not fit in `memory_budget()`.
            InterpError: the model returned no attention weights, or an invalid sequence.
            NonFiniteOutputError: NaN or infinite attention weights (the layer is named).
        """
        return rearrange(self.layer_head_maps(sequence, unknown=unknown), "l h i j -> (l h) i j")

    def layer_head_maps(self, sequence: str | Encoded, *, unknown: str = "error") -> torch.Tensor:
        """`head_maps` by layer: [layers, heads, L, L] (the same maps, head h of layer l at [l, h]).

        Args:
            sequence: a sequence, or one already encoded by the adapter.
            unknown: "error" refuses letters outside the alphabet; "mask" puts the mask token there.

        Returns:
            A float32 CPU tensor [layers, heads, L, L].

        Raises:
            InsufficientMemoryError, InterpError, NonFiniteOutputError: as `head_maps`.
        """
        encoded = sequence if isinstance(sequence, Encoded) else self.adapter.encode(sequence, unknown=unknown)
        adapter = self.adapter
        check_attention_memory(adapter, len(encoded.input_ids), available=self.memory_budget(), device=adapter.device)
        # no_grad, not inference_mode: models that cache tensors on first use (Evo's Hyena filters) would
        # otherwise keep inference tensors that a later gradient pass cannot use
        with torch.no_grad(), adapter.attention_weights_enabled(), eval_mode(adapter.model):
            out = adapter.forward(encoded.input_ids[None], output_attentions=True)
        attentions = out.attentions
        if not attentions or any(a is None for a in attentions):
            raise InterpError(
                f"{adapter.name}: the model returned no attention weights (an attention implementation without "
                "weights, or a model with no attention): use a Jacobian explainer"
            )
        n_tokens = len(encoded.input_ids)
        for layer, weights in enumerate(attentions, start=1):
            if tuple(weights.shape[-2:]) != (n_tokens, n_tokens):
                raise InterpError(
                    f"{adapter.name}: layer {layer}'s attention weights are {tuple(weights.shape[-2:])}, not a map "
                    f"over the input's {n_tokens} tokens (a model that pools, pads or chunks its tokens, or returns "
                    "other tensors as attentions): there is no per-residue attention map; use a Jacobian explainer"
                )
        stacked = torch.stack([a[0] for a in attentions])  # [layers, heads, T, T]
        check_finite_output(stacked, "attention weights", lambda row: f"layer {row + 1}")
        positions = encoded.residue_positions
        first, length = int(positions[0]), len(positions)
        if torch.equal(positions, torch.arange(first, first + length)):  # residues are one run of tokens
            stacked = stacked[..., first : first + length, first : first + length]
        else:
            device_positions = positions.to(stacked.device)
            stacked = stacked.index_select(2, device_positions).index_select(3, device_positions)
        n_layers = stacked.shape[0]
        maps = symmetrized_apc(rearrange(stacked, "l h i j -> (l h) i j").float().cpu())
        return rearrange(maps, "(l h) i j -> l h i j", l=n_layers)

    def _explain(self, encoded: Encoded, name: str | None) -> ContactPrediction:
        if self.combiner is None:
            raise InterpError(
                f"combiner {self.combiner_kind!r} is not fitted: call fit(sequences, structures, k=...) "
                "(top_k, logistic), calibrate(sequences, k=...) (calibrated), or load(path)"
            )
        by_layer = self.layer_head_maps(encoded)
        combined = self.combiner.combine(rearrange(by_layer, "l h i j -> (l h) i j"))
        contacts = norm_map_to_contacts(combined.float(), use_apc=False)
        layers = None
        if self.per_layer:
            layers = torch.stack([norm_map_to_contacts(layer.mean(dim=0), use_apc=False) for layer in by_layer])
        return ContactPrediction(
            sequence=encoded.sequence,
            method=f"attention_{self.combiner.kind}",
            contacts=contacts,
            name=name,
            metadata={
                "adapter": self.adapter.name,
                "model": model_name(self.adapter.model),
                "combiner": self.combiner.to_dict(),
            },
            layer_contacts=layers,
        )

    # --- fitting combiners -----------------------------------------------------------------------
    def _truth_maps(self, sequences: Sequence[str], truths: Sequence[Any]) -> list[tuple[torch.Tensor, Any]]:
        if len(sequences) != len(truths):
            raise InterpError(f"{len(sequences)} sequences but {len(truths)} structures or contact maps")
        return [true_contacts(seq, truth, name=f"#{n + 1}") for n, (seq, truth) in enumerate(zip(sequences, truths, strict=True))]

    def _rank_heads(
        self, sequences: Sequence[str], labels: list[tuple[torch.Tensor, Any]], min_separation: int, rank_by: str = "L"
    ) -> torch.Tensor:
        """Mean P@`rank_by` of every head over the sequences, pairs with j - i >= min_separation."""
        scores = None
        for seq, (contacts, resolved) in zip(sequences, labels, strict=True):
            maps = self.head_maps(seq)
            per_head = torch.tensor(
                [contact_precision(m, contacts, resolved=resolved, k=rank_by, min_separation=min_separation) for m in maps]
            ).nan_to_num(0.0)
            scores = per_head if scores is None else scores + per_head
        assert scores is not None
        return scores / len(sequences)

    def fit(
        self,
        sequences: Sequence[str],
        truths: Sequence[Any],
        *,
        k: int = 16,
        combiner: str | None = None,
        min_separation: int = 6,
        l1: float = 1e-3,
        rank_by: str = "L",
    ) -> AttentionReadout:
        """Fit "top_k" (the k heads with the best mean P@L) or "logistic" on labelled proteins.

        Costs one forward (`head_maps`) per sequence. Replaces the current combiner.

        Args:
            sequences: the labelled sequences.
            truths: ContactMaps, bool [L, L] maps, or structure files (aligned to each sequence), one per
                sequence.
            k: how many heads "top_k" keeps (unused by "logistic").
            combiner: "top_k" or "logistic"; None keeps the kind given to the constructor when it is one of
                these, else "top_k".
            min_separation: only pairs with j - i >= min_separation are scored or used as training pairs.
            l1: the L1 penalty of the logistic regression (unused by "top_k").
            rank_by: the k of the precision that ranks heads for "top_k" ("L", "L/2", "L/5" or a number);
                with `min_separation=24`, `rank_by="L/2"` is the attention paper's rule (long-range P@L/2).

        Returns:
            This explainer, with the fitted combiner (so `AttentionReadout(...).fit(...)` chains).

        Raises:
            InterpError: a combiner other than "top_k" or "logistic", no sequences, a different number of
                truths than sequences, or a truth that does not cover its sequence.
        """
        kind = combiner or (self.combiner_kind if self.combiner_kind in ("top_k", "logistic") else "top_k")
        if kind not in ("top_k", "logistic"):
            raise InterpError(f"fit() makes 'top_k' or 'logistic' combiners, not {kind!r}")
        if not sequences:
            raise InterpError("fit() needs at least one labelled sequence")
        labels = self._truth_maps(sequences, truths)
        if kind == "top_k":
            scores = self._rank_heads(sequences, labels, min_separation, rank_by)
            order = torch.argsort(scores, descending=True, stable=True)[:k]
            self.combiner = HeadSubsetCombiner(
                heads=order.tolist(), n_heads_total=len(scores), kind="top_k", scores=scores[order].tolist()
            )
        else:
            features, targets = [], []
            for seq, (contacts, resolved) in zip(sequences, labels, strict=True):
                i, j, x = pair_features(self.head_maps(seq), min_separation)
                keep = torch.ones(len(i), dtype=torch.bool)
                if resolved is not None:
                    resolved_t = torch.as_tensor(resolved).bool()
                    keep = resolved_t[i] & resolved_t[j]
                features.append(x[keep])
                targets.append(contacts[i, j][keep])
            self.combiner = fit_logistic(torch.cat(features), torch.cat(targets), l1=l1, min_separation=min_separation)
        self.combiner_kind = kind
        return self

    def calibrate(
        self, sequences: Sequence[str], *, k: int = 16, jacobian: Explainer | None = None, min_separation: int = 6
    ) -> AttentionReadout:
        """Choose the k heads that agree best with the categorical Jacobian on these sequences (no structures).

        The Jacobian's top-L pairs (j - i >= min_separation) serve as labels; heads are ranked by their P@L on them.
        Costs one Jacobian run (about 19L + 1 forwards for a protein) and one attention forward per sequence.

        Args:
            sequences: unlabelled sequences to calibrate on.
            k: how many heads to keep.
            jacobian: the reference explainer (None: a `CategoricalJacobian` on this model and adapter).
            min_separation: only pairs with j - i >= min_separation serve as labels and are scored.

        Returns:
            This explainer, with a "calibrated" combiner.

        Raises:
            InterpError: no sequences, or the reference explainer refuses the model or a sequence.

        Example:
            >>> from interp import AttentionReadout
            >>> from interp.testing.stand_ins import esm_model
            >>> model, tokenizer = esm_model("tiny")
            >>> readout = AttentionReadout(model, tokenizer, combiner="calibrated")
            >>> readout.calibrate(["MKTAYIAKQR"], k=4).save("heads.json")
            >>> AttentionReadout(model, tokenizer).load("heads.json").attribute("MKTAYIAKQR").method
            'attention_calibrated'
        """
        if not sequences:
            raise InterpError("calibrate() needs at least one sequence")
        explainer = jacobian or CategoricalJacobian(self.adapter.model, adapter=self.adapter)
        labels = []
        for seq in sequences:
            reference = explainer.attribute(seq)
            pseudo = torch.zeros(len(seq), len(seq), dtype=torch.bool)
            for pair in reference.top(len(seq), min_separation=min_separation):
                pseudo[pair.i, pair.j] = pseudo[pair.j, pair.i] = True
            labels.append((pseudo, None))
        scores = self._rank_heads(sequences, labels, min_separation)
        order = torch.argsort(scores, descending=True, stable=True)[:k]
        self.combiner = HeadSubsetCombiner(
            heads=order.tolist(), n_heads_total=len(scores), kind="calibrated", scores=scores[order].tolist()
        )
        self.combiner_kind = "calibrated"
        return self

    # --- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted combiner (head selection or weights) as JSON.

        Args:
            path: the file to write (atomically: a reader never sees half a file).

        Raises:
            InterpError: the combiner is not fitted yet ("top_k", "logistic" or "calibrated" before
                `fit` or `calibrate`).
        """
        if self.combiner is None:
            raise InterpError("nothing to save: the combiner is not fitted")
        with atomic_write(path) as handle:
            json.dump({"interp_attention_combiner": 1, **self.combiner.to_dict()}, handle, indent=1)

    def load(self, path: str | os.PathLike) -> AttentionReadout:
        """Read a combiner written by `save` (plain JSON; nothing is evaluated).

        The loaded combiner replaces the current one, whatever kind the constructor was given.

        Args:
            path: a file written by `save`.

        Returns:
            This explainer, with the loaded combiner.

        Raises:
            InterpError: the file is not a combiner file written by `save`.
        """
        with open(path) as handle:
            try:
                data = json.load(handle)
            except json.JSONDecodeError as exc:
                raise InterpError(f"{path}: not a combiner file ({exc})") from None
        if not isinstance(data, dict) or "interp_attention_combiner" not in data:
            raise InterpError(f"{path}: not a combiner file written by AttentionReadout.save")
        self.combiner = combiner_from_dict(data)
        self.combiner_kind = self.combiner.kind
        return self
