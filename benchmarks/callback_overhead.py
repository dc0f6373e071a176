"""Overhead of the ContactPrecisionMonitor callback on a training run: the same ESM-2-shaped masked LM (35M shape by
default: 12 layers, 480 wide) trained for the same steps without the callback, with the attention callback and with
the categorical-Jacobian callback, side by side in one process.

    python benchmarks/callback_overhead.py            # ESM-2-35M shape, validation (and the callback) every 100 steps
    python benchmarks/callback_overhead.py --shape 150M --device cuda   # on a GPU
    python benchmarks/callback_overhead.py --quick    # 8M shape, fewer steps
    python benchmarks/callback_overhead.py --explainers attention attention+layers jacobian jacobian+layers
An explainer name with "+layers" runs the callback with `per_layer=True` (each layer's precision logged too).
The panel: the first `--panel-size` chains of the built-in structure panel (`interp.structures.panel`) of at most
`--max-length` residues. Besides the measured overhead at `--every`, the result gives each callback's seconds per
evaluation and the overhead it would have at other schedules (evaluation seconds / (n x seconds per step)).
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
from interp.callbacks import ContactPrecisionMonitor
from interp.structures.panel import builtin_panel
from interp.testing.stand_ins import esm_model


class MLM(pl.LightningModule):
    """Plain 15% masked-LM training of an ESM-2-shaped model on random sequences of one length."""

    def __init__(self, length: int, batch_size: int, shape: str = "35M") -> None:
        super().__init__()
        self.model, self.tokenizer = esm_model(shape, seed=0)
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
    module = MLM(args.length, args.batch_size, args.shape)
    monitors = []
    if explainer is not None:
        name, _, layers = explainer.partition("+")
        monitors.append(ContactPrecisionMonitor(panel, tokenizer=module.tokenizer, explainer=name,
                                                per_layer=layers == "layers"))  # fmt: skip
    callbacks: list[pl.Callback] = list(monitors)
    trainer = pl.Trainer(max_steps=args.steps, val_check_interval=args.every, limit_val_batches=1,
                         num_sanity_val_steps=0, accelerator=args.accelerator, devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module)
    seconds = time.perf_counter() - start
    callback_seconds = monitors[0].seconds if monitors else 0.0
    return {"explainer": explainer or "none (baseline)", "seconds": seconds, "callback_seconds": callback_seconds,
            "evaluations": len(monitors[0].history) if monitors else 0}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="35M", help="an ESM-2 shape of interp.testing.stand_ins.ESM_SHAPES")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=100, help="validation (and callback) every n steps")
    parser.add_argument("--length", type=int, default=128, help="training sequence length")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--panel-size", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=100, help="longest panel chain")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--explainers", nargs="+", default=["attention", "jacobian"],
                        help='callback explainers; "NAME+layers" with per-layer logging')  # fmt: skip
    add_out_argument(parser)
    args = parser.parse_args(argv)
    out = args.out
    if args.quick:
        args.shape, args.steps, args.every, args.length, args.panel_size = "8M", 40, 20, 64, 2
    args.accelerator = "gpu" if args.device == "cuda" else "cpu"
    chains = [e for e in builtin_panel() if len(e.sequence) <= args.max_length][: args.panel_size]
    panel = [(entry.sequence, entry.truth) for entry in chains]
    baseline = run(panel, args, None)
    step_seconds = baseline["seconds"] / args.steps
    rows = [baseline]
    for explainer in args.explainers:
        result = run(panel, args, explainer)
        result["overhead"] = result["seconds"] / baseline["seconds"] - 1
        result["callback_share"] = result["callback_seconds"] / result["seconds"]
        per_evaluation = result["callback_seconds"] / max(result["evaluations"], 1)
        result["seconds_per_evaluation"] = per_evaluation
        plain = next((r for r in rows if r["explainer"] == explainer.partition("+")[0]), None)
        if "+" in explainer and plain is not None:  # per-layer logging against the same callback without it
            result["per_layer_extra"] = per_evaluation / plain["seconds_per_evaluation"] - 1
        for every in (100, 500, 1000):
            result[f"share_every_{every}"] = per_evaluation / (per_evaluation + every * step_seconds)
        rows.append(result)
        print(result, flush=True)
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    text = (
        f"ESM-2-{args.shape} shape ({gpu}), batch {args.batch_size} x L {args.length}, {args.steps} steps "
        f"({step_seconds:.3f} s per step without the callback), validation and the callback every {args.every} "
        f"steps, panel of {len(panel)} built-in chains ({', '.join(f'{e.name} L={len(e.sequence)}' for e in chains)}). "
        "share_every_n: the callback's share of a run that evaluates every n steps. per_layer_extra: seconds per "
        "evaluation with per-layer logging over those of the same explainer without it, minus 1.\n\n"
        + markdown_table(
            rows, ["explainer", "seconds", "callback_seconds", "evaluations", "seconds_per_evaluation", "overhead",
                   "callback_share", "share_every_100", "share_every_500", "share_every_1000",
                   *(["per_layer_extra"] if any("per_layer_extra" in r for r in rows) else [])]
        )
    )  # fmt: skip
    name = "callback_overhead_quick" if args.quick else f"callback_overhead_{args.shape}" + ("_gpu" if args.device == "cuda" else "")
    if any("+" in explainer for explainer in args.explainers):
        name += "_per_layer"
    path = write_results(name, {"machine": machine(), "settings": vars(args), "results": rows}, text, out)
    print(path.read_text())


if __name__ == "__main__":
    main()
