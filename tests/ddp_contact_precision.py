"""Run by tests/test_callbacks.py in its own process: the ContactPrecisionMonitor callback on 1 process and on
2 CPU processes (ddp_spawn, gloo) over the same 3-entry panel; prints both logged results as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lightning.pytorch as pl
import torch
from test_callbacks import PANEL, ValidatingMLM

from interp.callbacks import ContactPrecisionMonitor


def run(devices: int, strategy: str) -> dict[str, float]:
    torch.manual_seed(0)
    module = ValidatingMLM()
    # 3 entries: ranks get 2 and 1; per-layer values reduce across ranks as the main ones do
    callback = ContactPrecisionMonitor([*PANEL, PANEL[0]], tokenizer=module.tokenizer, per_layer=True)
    trainer = pl.Trainer(
        accelerator="cpu", devices=devices, strategy=strategy, logger=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[callback],
    )  # fmt: skip
    trainer.validate(module)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if not k.endswith("seconds_total")}


if __name__ == "__main__":
    print(json.dumps({"one": run(1, "auto"), "two": run(2, "ddp_spawn")}))
