"""`ContactMapLogger`: the predicted map with the true contacts overlaid, as an image in the training logs.

It draws what a `ContactPrecisionMonitor` callback has just computed (no extra forward passes), every n-th
evaluation, on rank 0. TensorBoard gets `add_figure`, loggers with `log_image` (W&B, Neptune) get an image
array, MLflow gets `log_figure`; any other logger, or none, gets PNG files in its log folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from interp.callbacks.contact_precision import ContactPrecisionMonitor
from interp.errors import InterpError
from interp.files.io import atomic_write


class ContactMapLogger(pl.Callback):
    """Log contact-map images every `every_n_evaluations` evaluations of a ContactPrecisionMonitor callback.

    Draws the predictions that callback has just computed (no extra forward passes): the predicted map
    above the diagonal, the true contacts below, the top-L pairs marked as hits or misses. Images are
    logged on rank 0 only, from rank 0's share of the panel, at the 1st, (n+1)-th, (2n+1)-th, ...
    evaluation, each named `{tag}/{record name or panelN}` at the trainer's global step: TensorBoard gets
    `add_figure`, loggers with `log_image` (W&B, Neptune) an RGB array, MLflow `log_figure`, and any
    other logger (or none) a PNG file `{tag}/{name}_step{step:08d}.png` in its log folder (or the
    Trainer's `default_root_dir`).

    Args:
        source: the ContactPrecisionMonitor to draw from (None: the first one in the Trainer's callbacks,
            found at `setup`).
        every_n_evaluations: log at every n-th evaluation of `source`.
        max_maps: how many panel entries to draw per evaluation.
        tag: the image name prefix.

    Raises:
        InterpError: `every_n_evaluations` or `max_maps` below 1; at `setup`, no ContactPrecisionMonitor
            among the Trainer's callbacks when `source` is None.
    """

    def __init__(
        self,
        source: ContactPrecisionMonitor | None = None,
        *,
        every_n_evaluations: int = 1,
        max_maps: int = 1,
        tag: str = "contact_maps",
    ) -> None:
        if every_n_evaluations < 1 or max_maps < 1:
            raise InterpError("ContactMapLogger: every_n_evaluations and max_maps must be >= 1")
        self.source = source
        self.every_n_evaluations, self.max_maps, self.tag = every_n_evaluations, max_maps, tag
        self.evaluations = 0
        self.images_logged = 0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Find the source ContactPrecisionMonitor (when none was given) and listen to its evaluations."""
        if self.source is None:
            found = [c for c in getattr(trainer, "callbacks", []) if isinstance(c, ContactPrecisionMonitor)]
            if not found:
                raise InterpError("ContactMapLogger draws what a ContactPrecisionMonitor callback computes; add one")
            self.source = found[0]
        if self._on_evaluation not in self.source.listeners:
            self.source.listeners.append(self._on_evaluation)

    def _on_evaluation(self, trainer: pl.Trainer, predictions: list[tuple[Any, Any]]) -> None:
        self.evaluations += 1
        if trainer.global_rank != 0 or (self.evaluations - 1) % self.every_n_evaluations:
            return
        for index, (prediction, truth) in enumerate(predictions[: self.max_maps]):
            figure = prediction.plot(truth)
            name = f"{self.tag}/{_safe(prediction.name or f'panel{index}')}"
            self._log_figure(trainer, name, figure)
            self.images_logged += 1

    def _log_figure(self, trainer: pl.Trainer, name: str, figure: Any) -> None:
        step = trainer.global_step
        loggers = list(trainer.loggers)
        for logger in loggers:
            experiment: Any = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_figure"):  # TensorBoard
                experiment.add_figure(name, figure, global_step=step, close=False)
            elif hasattr(logger, "log_image"):  # W&B, Neptune, ...
                logger.log_image(key=name, images=[_figure_array(figure)], step=step)
            elif hasattr(experiment, "log_figure") and hasattr(logger, "run_id"):  # MLflow
                experiment.log_figure(logger.run_id, figure, f"{name}_step{step}.png")
            else:
                _save_png(Path(getattr(logger, "log_dir", None) or trainer.default_root_dir), name, step, figure)
        if not loggers:
            _save_png(Path(trainer.default_root_dir), name, step, figure)

    def state_dict(self) -> dict[str, Any]:
        """The evaluation and image counters, so a resumed run keeps its every-n-th rhythm."""
        return {"evaluations": self.evaluations, "images_logged": self.images_logged}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counters `state_dict` saved."""
        self.evaluations = int(state_dict.get("evaluations", 0))
        self.images_logged = int(state_dict.get("images_logged", 0))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "map"


def _figure_array(figure: Any) -> Any:
    """The figure as an RGB array [H, W, 3], drawn on its own Agg canvas (interp's figures are made without pyplot,
    so they start with a bare canvas that cannot render; the user's matplotlib backend is left alone)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _save_png(folder: Path, name: str, step: int, figure: Any) -> None:
    with atomic_write(folder / f"{name}_step{step:08d}.png", "wb") as handle:
        figure.savefig(handle, dpi=100, format="png")
