"""Overhead of the ContactPrecisionMonitor callback on a training run: the same ESM-2-8M-shaped masked LM trained
for the same steps with and without the callback, side by side in one process.

    python benchmarks/callback_overhead.py            # validation (and the callback) every 100 steps
    python benchmarks/callback_overhead.py --quick    # fewer steps
The panel is the 11 protein families' structures from ../shared/data (or $INTERP_DATA).
"""

from __future__ import annotations

import argparse
import time

import lightning.pytorch as pl
import torch

from interp.benchmarks.common import (
    add_out_argument,
    machine,
    markdown_table,
    random_protein,
    write_results,
)
from interp.benchmarks.family_training import data_dir, family_rows, load
from interp.callbacks import ContactPrecisionMonitor
from interp.stand_ins import esm_model


class MLM(pl.LightningModule):
    """Plain 15% masked-LM training of an ESM-2-8M-shaped model on random sequences of one length."""

    def __init__(self, length: int, batch_size: int) -> None:
        super().__init__()
        self.model, self.tokenizer = esm_model("8M", seed=0)
        self.model.train()
        self.length, self.batch_size = length, batch_size

    def training_step(self, batch, _):
        ids = batch[0]
        masked = torch.rand(ids.shape) < 0.15
        labels = ids.masked_fill(~masked, -100)
        return self.model(input_ids=ids.masked_fill(masked, self.tokenizer.mask_token_id), labels=labels).loss

    def validation_step(self, batch, _):
        return None

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-4)

    def _loader(self, n: int, seed: int) -> torch.utils.data.DataLoader:
        rows = [random_protein(self.length, seed + i) for i in range(n)]
        ids = self.tokenizer(rows, return_tensors="pt")["input_ids"]
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids), batch_size=self.batch_size)

    def train_dataloader(self):
        return self._loader(4096, 0)

    def val_dataloader(self):
        return self._loader(self.batch_size, 10**6)


def run(panel, args, explainer: str | None) -> dict:
    torch.manual_seed(0)
    module = MLM(args.length, args.batch_size)
    monitors = [] if explainer is None else [ContactPrecisionMonitor(panel, tokenizer=module.tokenizer, explainer=explainer)]
    callbacks: list[pl.Callback] = list(monitors)
    trainer = pl.Trainer(max_steps=args.steps, val_check_interval=args.every, limit_val_batches=1,
                         num_sanity_val_steps=0, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module)
    seconds = time.perf_counter() - start
    callback_seconds = monitors[0].seconds if monitors else 0.0
    return {"explainer": explainer or "none (baseline)", "seconds": seconds, "callback_seconds": callback_seconds,
            "evaluations": len(monitors[0].history) if monitors else 0}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=100, help="validation (and callback) every n steps")
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--explainers", nargs="+", default=["attention"])
    add_out_argument(parser)
    args = parser.parse_args(argv)
    out = args.out
    if args.quick:
        args.steps, args.every, args.length = 40, 20, 128
    root = data_dir()
    panel = []
    for row in family_rows(root):
        if row["kind"] == "protein":
            family, truth = load(root, row)
            panel.append((family.query, truth))
    baseline = run(panel, args, None)
    rows = [baseline]
    for explainer in args.explainers:
        result = run(panel, args, explainer)
        result["overhead"] = result["seconds"] / baseline["seconds"] - 1
        result["callback_share"] = result["callback_seconds"] / result["seconds"]
        rows.append(result)
        print(result, flush=True)
    text = (
        f"ESM-2-8M shape, batch {args.batch_size} x L {args.length}, {args.steps} steps, validation and the callback "
        f"every {args.every} steps, panel of {len(panel)} proteins (L {min(len(s) for s, _ in panel)}-"
        f"{max(len(s) for s, _ in panel)}).\n\n"
        + markdown_table(
            rows, ["explainer", "seconds", "callback_seconds", "evaluations", "overhead", "callback_share"]
        )
    )
    path = write_results("callback_overhead_quick" if args.quick else "callback_overhead", {"machine": machine(), "settings": vars(args), "results": rows}, text,
                         out)  # fmt: skip
    print(path.read_text())


if __name__ == "__main__":
    main()
