"""`ContactPrecisionMonitor`: contact precision of the model being trained, on a panel of proteins with known
structures, logged like any metric (`contacts/long_P@L`, ...), correct under DDP.

The panel is split across ranks; each rank runs the explainer on its share (model in eval mode, no
gradients, training mode restored after) and feeds a torchmetrics `ContactPrecision` whose sum/count
states reduce across ranks, so every rank logs the panel-wide mean.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from interp.adapters import get_adapter
from interp.errors import InterpError
from interp.explainers import make_explainer
from interp.methods import TRAINING_METHODS, check_method
from interp.scoring.metrics import DEFAULT_KS, ContactPrecision
from interp.scoring.truth import true_contacts

EXPLAINERS = TRAINING_METHODS  # interp.methods: the methods the callback offers


SHARDING_STRATEGIES = ("FSDPStrategy", "ModelParallelStrategy", "DeepSpeedStrategy")


def shards_weights(strategy: Any) -> bool:
    """Whether a Lightning strategy shards the model's weights across ranks (each forward is then collective)."""
    return any(cls.__name__ in SHARDING_STRATEGIES for cls in type(strategy).__mro__)


BUILTIN_PANEL_SIZE = 8  # the callback's default share of the built-in panel: the first 8 chains by PDB id


def named_panel(panel: Sequence[tuple[str, Any]] | str | os.PathLike, size: int | None) -> Sequence[tuple[str, Any]]:
    """(sequence, ContactMap) pairs of a named panel ("builtin", "antibody", a folder, a TSV); a list of pairs as it is."""
    if not isinstance(panel, (str, os.PathLike)):
        if size is not None:
            raise InterpError("panel_size goes with a named panel (\"builtin\", a folder or a TSV), not a list of pairs")
        return panel
    from interp.structures.panel import builtin_panel, load_panel  # deferred: biotite only for named panels

    if str(panel) == "builtin":
        entries = builtin_panel(BUILTIN_PANEL_SIZE if size is None else size)
    else:
        entries = load_panel(panel, limit=size)
    return [(entry.sequence, entry.truth) for entry in entries]


class ContactPrecisionMonitor(pl.Callback):
    """Log contact precision by range during training (`contacts/long_P@L`, ...), correct under DDP.

    With `every_n_steps=n` it evaluates after each training batch whose global step is a multiple of n
    (logged as step values); with None, at the end of each validation epoch (not during the sanity check;
    logged as epoch values). An evaluation runs the explainer on the LightningModule's language model in
    eval mode without gradients, over this rank's share of the panel (entries rank, rank + world_size,
    ...), and every rank logs the panel-wide means through `pl_module.log(..., sync_dist=True)`: one value
    per range and k, named `{prefix}{range}_P@{k}`, plus `{prefix}seconds_total` (time spent evaluating).
    Each evaluation is appended to `history`, which `state_dict` keeps for resume.

    With `per_layer=True` the explainer also gives one map per layer from the same passes (attention per
    layer, or the Jacobians' per-layer maps: `interp.explainers.sweep_readouts.LayerMaps`), and each layer's
    precision is logged too, as `{prefix}layer_{n}/{range}_P@{k}` (n from 1, the first block), reduced across
    ranks as the main values are; `layer_history` keeps them. This shows where in the network contacts
    appear, and when. With many layers, `ks=("L",)` keeps the curves few.

    Args:
        panel: (sequence, structure file | ContactMap | bool map) pairs; or "builtin", the panel of crystal
            structures shipped with interp (`interp.structures.panel.builtin_panel`: the first `panel_size` chains by PDB id,
            no files needed); "antibody", "antibody-heavy" or "antibody-light", the shipped antibody variable
            domains (for an antibody model); or a folder of PDB/mmCIF files or a TSV file (`interp.structures.panel.load_panel`).
        panel_size: with a named panel, how many of its proteins to use (default 8 for "builtin", all for an
            antibody panel, a folder or a TSV); must be None with a list of pairs.
        tokenizer: the model's tokenizer.
        explainer: "attention" (one forward, the default), "jacobian", "fast-jacobian" (`interp.methods`), or a
            callable (model, tokenizer) -> Explainer.
        every_n_steps: run after every n-th training step, or None to run at each validation epoch's end.
        model: attribute name of the language model on the LightningModule, or a getter pl_module -> model.
        ranges: separation ranges to log.
        ks: how many top pairs, as fractions of L ("L", "L/2", "L/5").
        prefix: the logged names' prefix (distinct prefixes let several monitors run side by side).
        per_layer: also log each layer's precision (the explainer must give per-layer maps: "attention",
            "jacobian", "fast-jacobian", the representation Jacobians, or a callable whose explainer does).

    Raises:
        InterpError: an empty panel, a true map that does not cover its sequence, an unknown explainer name, a
            panel_size with a list of pairs, `per_layer` with an explainer that gives no per-layer maps.
    """

    def __init__(
        self,
        panel: Sequence[tuple[str, Any]] | str | os.PathLike,
        *,
        panel_size: int | None = None,
        tokenizer: Any = None,
        explainer: str | Callable[..., Any] = "attention",
        every_n_steps: int | None = None,
        model: str | Callable[[pl.LightningModule], nn.Module] = "model",
        ranges: Sequence[str] = ("short", "medium", "long"),
        ks: Sequence[str] = DEFAULT_KS,
        prefix: str = "contacts/",
        per_layer: bool = False,
    ) -> None:
        panel = named_panel(panel, panel_size)
        if not panel:
            raise InterpError("ContactPrecisionMonitor needs a non-empty panel of (sequence, structure) pairs")
        if isinstance(explainer, str) and explainer not in EXPLAINERS:
            raise InterpError(f"explainer={explainer!r}; choose one of {EXPLAINERS} or pass a callable")
        if per_layer and isinstance(explainer, str) and not check_method(explainer).gives_per_layer:
            raise InterpError(f"per_layer=True: explainer {explainer!r} gives no per-layer maps")
        if every_n_steps is not None and every_n_steps < 1:
            raise InterpError(f"every_n_steps must be >= 1 or None; got {every_n_steps}")
        self.panel = [(sequence, true_contacts(sequence, truth, name=f'panel entry {i + 1}'))
                      for i, (sequence, truth) in enumerate(panel)]  # fmt: skip
        self.tokenizer = tokenizer
        self.explainer = explainer
        self.every_n_steps = every_n_steps
        self.model = model
        self.ranges, self.ks, self.prefix = list(ranges), list(ks), prefix
        self.last_step = -1
        self.history: list[dict[str, float]] = []
        self.per_layer = per_layer
        self.layer_history: list[dict[str, Any]] = []  # {"step": n, "layers": [{name: value} per layer]}
        self.seconds = 0.0
        self.listeners: list[Callable[[pl.Trainer, list[tuple[Any, Any]]], None]] = []

    # --- finding the model ---------------------------------------------------------------------
    def _language_model(self, pl_module: pl.LightningModule) -> nn.Module:
        if callable(self.model):
            return self.model(pl_module)
        found = getattr(pl_module, self.model, None)
        if not isinstance(found, nn.Module):
            raise InterpError(
                f"ContactPrecisionMonitor: {type(pl_module).__name__} has no nn.Module attribute {self.model!r}; "
                "pass model='attribute_name' or model=lambda module: module.your_model"
            )
        return found

    def _make_explainer(self, model: nn.Module) -> Any:
        if callable(self.explainer):
            return self.explainer(model, self.tokenizer)
        options = {"per_layer": True} if self.per_layer else {}
        return make_explainer(self.explainer, get_adapter(model, self.tokenizer), **options)

    def _layer_metrics(self, model: nn.Module) -> list[ContactPrecision]:
        """One metric per layer (every rank makes as many, whatever its share, so their states reduce together)."""
        if not self.per_layer:
            return []
        layers = get_adapter(model, self.tokenizer).shape.layers
        return [ContactPrecision(ranges=self.ranges, ks=self.ks) for _ in range(layers)]

    # --- running -------------------------------------------------------------------------------
    def _update(self, metric: ContactPrecision, model: nn.Module, share: Sequence[tuple[str, Any]],
                layer_metrics: Sequence[ContactPrecision] = ()) -> list:  # fmt: skip
        """Run the explainer on `share` (model in eval mode, no gradients; modes restored) into `metric` (and each
        layer's map into its `layer_metrics`); returns the (prediction, true contacts) pairs."""
        explainer = self._make_explainer(model)
        predictions = []
        with torch.no_grad():
            for sequence, (contacts, resolved) in share:
                prediction = explainer.attribute(sequence)
                metric.update(prediction.contacts, contacts, resolved)
                if layer_metrics:
                    self._update_layers(layer_metrics, prediction, contacts, resolved)
                predictions.append((prediction, contacts))
        return predictions

    @staticmethod
    def _update_layers(layer_metrics: Sequence[ContactPrecision], prediction: Any, contacts: torch.Tensor,
                       resolved: torch.Tensor) -> None:  # fmt: skip
        layers = prediction.layer_contacts
        if layers is None:
            raise InterpError("per_layer=True, but the explainer gave no per-layer maps (ContactPrediction.layer_contacts)")
        if len(layers) != len(layer_metrics):
            raise InterpError(f"per_layer=True: the explainer gave {len(layers)} layer maps for a model of "
                              f"{len(layer_metrics)} layers")  # fmt: skip
        for layer_metric, layer in zip(layer_metrics, layers, strict=True):
            layer_metric.update(layer, contacts, resolved)

    def score(self, model: nn.Module) -> dict[str, float]:
        """The whole panel's precision for `model` in this process, outside any Trainer (e.g. after training).

        Nothing is logged or added to `history`.

        Args:
            model: the language model to explain (with the callback's `tokenizer`).

        Returns:
            The mean precision over the panel by name ("long_P@L", "short_P@L/5", ...), NaN where no entry
            had candidate pairs in that range.
        """
        metric = ContactPrecision(ranges=self.ranges, ks=self.ks)
        self._update(metric, model, self.panel)
        return {name: float(value) for name, value in metric.compute().items()}

    def evaluate(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *, per_step: bool = True
    ) -> dict[str, float]:
        """Run the explainer on this rank's share of the panel; log and return the panel-wide means.

        The training hooks call this; call it yourself to evaluate at other times. The values are reduced
        across ranks, so every rank returns and logs the same numbers; afterwards the step is recorded in
        `history` and any listeners (a `ContactMapLogger`) receive this rank's predictions.

        Args:
            trainer: the running Trainer (its rank and world size split the panel).
            pl_module: the LightningModule that holds the language model (see `model`).
            per_step: log as a step value (from a training-batch hook) or an epoch value (validation epoch end).

        Returns:
            The panel-wide mean precision by name ("long_P@L", ...), as logged without the prefix.

        Raises:
            InterpError: the LightningModule has no `nn.Module` attribute named by `model`.
        """
        start = time.perf_counter()
        metric = ContactPrecision(ranges=self.ranges, ks=self.ks).to(pl_module.device)
        share = self.share(trainer)
        model = self._language_model(pl_module)
        layer_metrics = [m.to(pl_module.device) for m in self._layer_metrics(model)]
        predictions = self._update(metric, model, share, layer_metrics)
        values = {name: float(value) for name, value in metric.compute().items()}  # synced across ranks
        layer_values = [{name: float(value) for name, value in m.compute().items()} for m in layer_metrics]
        self.seconds += time.perf_counter() - start
        for name, value in values.items():
            pl_module.log(f"{self.prefix}{name}", value, sync_dist=True, on_step=per_step, on_epoch=not per_step)
        for n, layer in enumerate(layer_values, start=1):
            for name, value in layer.items():
                pl_module.log(f"{self.prefix}layer_{n}/{name}", value, sync_dist=True, on_step=per_step,
                              on_epoch=not per_step)  # fmt: skip
        pl_module.log(
            f"{self.prefix}seconds_total", self.seconds, sync_dist=True, on_step=per_step, on_epoch=not per_step
        )
        self.last_step = trainer.global_step
        self.history.append({"step": trainer.global_step, **values})
        if layer_values:
            self.layer_history.append({"step": trainer.global_step, "layers": layer_values})
        for listener in self.listeners:  # e.g. ContactMapLogger
            listener(trainer, predictions)
        return values

    def share(self, trainer: pl.Trainer) -> Sequence[tuple[str, Any]]:
        """The panel entries this rank explains.

        With replicated weights (one process, DDP) the panel is split across ranks (entries rank, rank +
        world_size, ...). With sharded weights (FSDP, FSDP2 through `ModelParallelStrategy`, DeepSpeed) every
        forward is a collective in which all ranks must take part, so every rank explains the whole panel, in the
        same order: the same forwards on every rank, whatever the proteins' lengths (the panel's cost is then not
        divided across ranks; the logged means are the same).

        Args:
            trainer: the running Trainer.

        Returns:
            The (sequence, true contacts) entries to explain on this rank.
        """
        if trainer.world_size > 1 and shards_weights(trainer.strategy):
            return self.panel
        return self.panel[trainer.global_rank :: trainer.world_size]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        """Evaluate when `every_n_steps` is set and an optimizer step has just reached a new multiple of it.

        With gradient accumulation this hook runs once per micro-batch while the global step counts optimizer
        steps: the evaluation runs once, right after the optimizer step, never at step 0 mid-accumulation.
        """
        step = trainer.global_step
        if self.every_n_steps is not None and step > 0 and step % self.every_n_steps == 0 and step != self.last_step:
            self.evaluate(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Evaluate when `every_n_steps` is None (outside the sanity check)."""
        if self.every_n_steps is None and not trainer.sanity_checking:
            self.evaluate(trainer, pl_module, per_step=False)

    # --- resume --------------------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        """Unique per prefix, so several instances (say Jacobian and attention) checkpoint side by side."""
        return self._generate_state_key(prefix=self.prefix)

    def state_dict(self) -> dict[str, Any]:
        """The last evaluated step, the history (and per-layer history) and the seconds spent, for resume."""
        return {"last_step": self.last_step, "history": list(self.history), "seconds": self.seconds,
                "layer_history": list(self.layer_history)}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what `state_dict` saved."""
        self.last_step = int(state_dict.get("last_step", -1))
        self.history = list(state_dict.get("history", []))
        self.seconds = float(state_dict.get("seconds", 0.0))
        self.layer_history = list(state_dict.get("layer_history", []))
