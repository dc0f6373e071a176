"""Single-mutant effects, read off the categorical Jacobian's sweeps (`interp.explainers.sweep_readouts.MutationScores`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import torch
from torch import nn

from interp.adapters.base import Adapter, Encoded
from interp.errors import InsufficientMemoryError, InterpError, NonFiniteOutputError
from interp.explainers.base import eval_mode, model_name, records
from interp.explainers.categorical import CategoricalJacobian
from interp.explainers.sweep_readouts import SCORE_NAMES, MutationScores
from interp.maps.effects import EffectTable


def available_scores(adapter: Adapter) -> tuple[str, ...]:
    """The scores a family's model gives: the masked marginal needs a mask token and a model that reads both
    sides (not a causal one).

    Args:
        adapter: the model's adapter.

    Returns:
        The score names, in `SCORE_NAMES` order.
    """
    masked = adapter.mask_token_id is not None and not adapter.causal
    return tuple(name for name in SCORE_NAMES if name != "masked_marginal" or masked)


class MutationEffects:
    """The score of every single mutant of a sequence: `attribute(sequence)` -> `EffectTable`.

    Runs only the sweeps the asked scores need, each the categorical Jacobian's own:
    "wt_marginal" one forward (the wild type); "masked_marginal" the L masked forwards of the fast Jacobian;
    "mutant_likelihood" the L x (A - 1) mutant forwards of the full Jacobian. Conventions (`interp.maps.effects
    .CONVENTIONS`): for a causal model the mutant's log-likelihood ratio is exact and there is no masked marginal;
    for a masked model it is the unmasked pseudo-log-likelihood.

    Args:
        model: a model (with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer.
        adapter: an explicit adapter (instead of detection).
        scores: which scores (None: every one the family gives, `available_scores`).
        batch_size: mutants per forward (None: from free memory).
        dtype: autocast dtype for the forwards, or None.
        memory_limit: bytes a run may use (None: free memory).
        show_progress: a progress bar over each sweep's batches.

    Raises:
        InterpError: an unknown score, a score the family cannot give (named, with why), or a family with no
            per-residue mutation or no language-model head.

    Example:
        >>> from interp import MutationEffects
        >>> from interp.testing.stand_ins import esm_model
        >>> model, tokenizer = esm_model("tiny")
        >>> table = MutationEffects(model, tokenizer, scores=["wt_marginal"]).attribute("MKTAYIAKQR")
        >>> table.scores["wt_marginal"].shape
        torch.Size([10, 20])
    """

    def __init__(
        self,
        model: nn.Module | Adapter,
        tokenizer: Any = None,
        *,
        adapter: Adapter | None = None,
        scores: Sequence[str] | None = None,
        batch_size: int | None = None,
        dtype: torch.dtype | None = None,
        memory_limit: int | None = None,
        show_progress: bool = False,
    ) -> None:
        options: dict[str, Any] = {"batch_size": batch_size, "dtype": dtype, "memory_limit": memory_limit,
                                   "show_progress": show_progress, "effects": True, "long_sequences": "error"}  # fmt: skip
        self.sweep = CategoricalJacobian(model, tokenizer, adapter=adapter, **options)
        self.adapter = self.sweep.adapter
        given = available_scores(self.adapter)
        wanted = tuple(given if scores is None else scores)
        for name in wanted:
            if name not in SCORE_NAMES:
                raise InterpError(f"unknown score {name!r}; choose from {', '.join(SCORE_NAMES)}")
            if name not in given:
                why = "a causal model reads no masked position" if self.adapter.causal else "it has no mask token"
                raise InterpError(f"{self.adapter.name} gives no {name}: {why}")
        if not wanted:
            raise InterpError("no score asked for")
        self.scores = wanted
        self.masked_sweep = (
            CategoricalJacobian(model, tokenizer, adapter=self.adapter, fast=True, **options)
            if "masked_marginal" in wanted
            else None
        )

    @overload
    def attribute(self, inputs: str, *, names: Sequence[str] | None = None, unknown: str = "error") -> EffectTable: ...

    @overload
    def attribute(
        self, inputs: list[str], *, names: Sequence[str] | None = None, unknown: str = "error"
    ) -> list[EffectTable]: ...

    def attribute(
        self, inputs: str | list[str], *, names: Sequence[str] | None = None, unknown: str = "error"
    ) -> EffectTable | list[EffectTable]:
        """The single-mutant scores of one sequence or of each of a list.

        Args:
            inputs: a sequence, or a list of them.
            names: record names, one per sequence (errors and tables carry them).
            unknown: "error" refuses letters outside the alphabet; "mask" puts the mask token there (that
                residue's scores are NaN).

        Returns:
            An `EffectTable`, or a list of them for a list input.

        Raises:
            InterpError: a record is invalid (named, with the position) or longer than the model takes; every
                record is checked before any model call.
        """
        single = isinstance(inputs, str)
        sequences, labels = records(inputs, names)
        encoded = [self.adapter.encode(s, name=label, unknown=unknown) for s, label in zip(sequences, labels, strict=True)]
        with eval_mode(self.adapter.model):
            tables = [
                self._score(item, label, None if names is None else label)
                for item, label in zip(encoded, labels, strict=True)
            ]
        return tables[0] if single else tables

    def _run(self, explainer: CategoricalJacobian, encoded: Encoded, positions: Sequence[int] | None) -> dict[str, torch.Tensor]:
        scores = MutationScores(self.adapter)
        explainer.jacobian(encoded, positions=positions, readouts=[scores])
        return scores.finish()

    def _score(self, encoded: Encoded, label: str, name: str | None) -> EffectTable:
        collected: dict[str, torch.Tensor] = {}
        try:
            if "mutant_likelihood" in self.scores:
                self.sweep.check_memory(encoded)
                collected.update(self._run(self.sweep, encoded, None))
            elif "wt_marginal" in self.scores:
                collected.update(self._run(self.sweep, encoded, []))  # the wild type alone: one forward
            if self.masked_sweep is not None:
                collected["masked_marginal"] = self._run(self.masked_sweep, encoded, None)["masked_marginal"]
        except (NonFiniteOutputError, InsufficientMemoryError) as error:
            raise type(error)(f"sequence {label!r}: {error}") from None
        scores = {key: collected[key] for key in SCORE_NAMES if key in self.scores}
        metadata = {"adapter": self.adapter.name, "model": model_name(self.adapter.model), "causal": self.adapter.causal}
        return EffectTable(encoded.sequence, self.adapter.alphabet, scores, name=name, metadata=metadata)


__all__ = ["MutationEffects", "available_scores"]
