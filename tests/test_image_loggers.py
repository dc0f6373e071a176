"""ContactMapLogger with the loggers people use, for real and offline: W&B (the `wandb` package in offline mode) and
MLflow (the `mlflow` package with a local file store). The images are found in the run folders afterwards."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from test_callbacks import TinyMLM

from interp.callbacks import ContactMapLogger, ContactPrecisionMonitor

PANEL = [("MKTAYIAKQRQISFVKSHFSRQLEERLGLI", torch.rand(30, 30, generator=torch.Generator().manual_seed(0)) < 0.1)]


def fit(logger) -> None:
    module = TinyMLM()
    callbacks = [ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=1),
                 ContactMapLogger(every_n_evaluations=1)]  # fmt: skip
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=logger, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False, callbacks=callbacks)  # fmt: skip
    trainer.fit(module)


def test_wandb_offline_run_holds_the_contact_maps(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from lightning.pytorch.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="interp-test", save_dir=str(tmp_path), offline=True)
    fit(logger)
    wandb.finish()
    images = sorted(tmp_path.rglob("media/images/contact_maps/panel0_*.png"))
    assert len(images) == 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in images)  # one per evaluation


def test_mlflow_local_store_holds_the_contact_maps(tmp_path):
    """MLflow 3 keeps runs in a local SQLite database (its file-system run store is in maintenance mode) and the
    artifacts, the images among them, in a local folder."""
    pytest.importorskip("mlflow")
    from lightning.pytorch.loggers import MLFlowLogger

    logger = MLFlowLogger(experiment_name="interp-test", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                          artifact_location=str(tmp_path / "artifacts"))  # fmt: skip
    fit(logger)
    images = sorted((tmp_path / "artifacts").rglob("contact_maps/panel0_step*.png"))
    assert [p.name for p in images] == ["panel0_step1.png", "panel0_step2.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in images)
