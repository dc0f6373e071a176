"""Run by tests/test_distributed_training.py in its own process: a tiny ESM masked LM trained with Lightning's
`ModelParallelStrategy` (FSDP2 `fully_shard`, 2 CPU processes over gloo) with the ContactPrecisionMonitor callback
(the attention readout and the categorical Jacobian) on an uneven panel of three proteins of different lengths.

Usage: python fsdp_contact_precision.py OUT.json [--devices 1|2] [--strategy fsdp2|fsdp]
Writes the callbacks' logged metrics and histories (rank 0) to OUT.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lightning.pytorch as pl
import torch

from interp.callbacks import ContactPrecisionMonitor
from interp.testing.stand_ins import esm_model

LENGTHS = (31, 44, 57)  # three proteins, three lengths: a 2/1 split would run different numbers of forwards


def panel() -> list[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    entries = []
    for length in LENGTHS:
        ids = torch.randint(0, 20, (length,), generator=generator)
        truth = torch.rand(length, length, generator=generator) < 0.12
        entries.append(("".join("ACDEFGHIKLMNPQRSTVWY"[i] for i in ids), truth | truth.T))
    return entries


class ShardedMLM(pl.LightningModule):
    """The tiny ESM masked LM; under ModelParallelStrategy each layer and the whole model are `fully_shard`ed."""

    def __init__(self) -> None:
        super().__init__()
        self.model, self.tokenizer = esm_model("tiny", seed=0)
        self.model.train()

    def configure_model(self) -> None:
        mesh = getattr(self, "device_mesh", None)
        if mesh is None or mesh.size() == 1:
            return
        from torch.distributed.fsdp import fully_shard

        data_mesh = mesh["data_parallel"]
        for layer in self.model.esm.encoder.layer:
            fully_shard(layer, mesh=data_mesh)
        fully_shard(self.model, mesh=data_mesh)

    def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
        ids = batch[0]
        generator = torch.Generator().manual_seed(int(ids.sum()))
        masked = torch.rand(ids.shape, generator=generator) < 0.15
        labels = ids.masked_fill(~masked, -100)
        return self.model(input_ids=ids.masked_fill(masked, self.tokenizer.mask_token_id), labels=labels).loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)  # weights stay put: the metrics compare across runs

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        ids = torch.randint(4, 24, (8, 30), generator=torch.Generator().manual_seed(1))
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids), batch_size=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--strategy", default="fsdp2", choices=["fsdp2", "fsdp"])
    args = parser.parse_args()
    if args.devices == 1:
        strategy: object = "auto"
    elif args.strategy == "fsdp2":
        from lightning.pytorch.strategies import ModelParallelStrategy

        strategy = ModelParallelStrategy(data_parallel_size=args.devices, tensor_parallel_size=1)
    else:
        strategy = "fsdp"
    accelerator = "gpu" if args.strategy == "fsdp" else "cpu"
    module = ShardedMLM()
    callbacks = [
        ContactPrecisionMonitor(panel(), tokenizer=module.tokenizer, explainer="attention", every_n_steps=1,
                                prefix="attention/"),
        ContactPrecisionMonitor(panel(), tokenizer=module.tokenizer, explainer="jacobian", every_n_steps=2,
                                prefix="jacobian/"),
    ]  # fmt: skip
    trainer = pl.Trainer(
        accelerator=accelerator, devices=args.devices, strategy=strategy, max_steps=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(module)
    if trainer.global_rank == 0:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if not k.endswith("seconds_total")}
        histories = {c.prefix: c.history for c in callbacks}
        args.out.write_text(json.dumps({"metrics": metrics, "histories": histories, "world_size": trainer.world_size}))


if __name__ == "__main__":
    main()
