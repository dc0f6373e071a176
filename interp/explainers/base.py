"""The explainer base class: a captum `Attribution` that reads contacts out of a model through its adapter."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from captum.attr import Attribution
from torch import nn

from interp.adapters.base import Adapter, Encoded
from interp.adapters.registry import get_adapter
from interp.errors import InterpError
from interp.prediction import ContactPrediction


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Run the block with the model in eval mode (no dropout), then restore every submodule's own mode."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def available_memory_bytes(device: torch.device) -> int:
    """Free memory on the device: CUDA's free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_finite_output(values: torch.Tensor, what: str, positions: Sequence[int] | None = None) -> None:
    """Refuse NaN or infinite model outputs, naming the (mutated) position that produced them.

    Checked in blocks of rows: isfinite on a whole Jacobian would allocate several copies of it.
    """
    for start in range(0, values.shape[0], 16):
        bad = ~torch.isfinite(values[start : start + 16])
        if bool(bad.any()):
            _report_bad_row(start + int(torch.nonzero(bad)[0][0]), what, positions)


def _report_bad_row(row: int, what: str, positions: Sequence[int] | None) -> None:
    where = ""
    if positions is not None:
        where = " (the unmutated sequence)" if positions[row] < 0 else f" (mutant at residue {positions[row] + 1})"
    raise InterpError(f"the model returned NaN or infinite {what}{where}")


class Explainer(Attribution):
    """Base class: `attribute(sequence or list of sequences)` -> ContactPrediction or list of them.

    Every input is validated before any model call, so a bad record fails fast and nothing is half-done.
    """

    method = "explainer"

    def __init__(
        self,
        model: nn.Module | Adapter,
        tokenizer: Any = None,
        *,
        adapter: Adapter | None = None,
        show_progress: bool = False,
    ) -> None:
        self.adapter = adapter if adapter is not None else get_adapter(model, tokenizer)
        self.show_progress = show_progress
        super().__init__(self.adapter.forward)

    def has_convergence_delta(self) -> bool:
        return False

    def attribute(  # type: ignore[override]
        self,
        inputs: str | Sequence[str],
        *,
        names: Sequence[str] | None = None,
        unknown: str = "error",
    ) -> ContactPrediction | list[ContactPrediction]:
        """Contact maps for one sequence (returns one prediction) or a list of sequences (returns a list)."""
        single = isinstance(inputs, str)
        sequences = [inputs] if single else list(inputs)
        if names is not None and len(names) != len(sequences):
            raise InterpError(f"{len(names)} names for {len(sequences)} sequences")
        labels = list(names) if names is not None else [f"#{n + 1}" for n in range(len(sequences))]
        encoded = [
            self.adapter.encode(seq, name=label, unknown=unknown) for seq, label in zip(sequences, labels, strict=True)
        ]
        with eval_mode(self.adapter.model):
            results = [
                self._explain(enc, None if names is None else label) for enc, label in zip(encoded, labels, strict=True)
            ]
        return results[0] if single else results

    def _explain(self, encoded: Encoded, name: str | None) -> ContactPrediction:
        raise NotImplementedError
