"""The ContactPrecision callback in a real Lightning training loop on a tiny ESM model (CPU)."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from helpers import requires_data
from interp.callbacks import ContactPrecision

from interp.errors import InterpError
from interp.explainers import AttentionReadout
from interp.metrics import precision_table
from interp.models import esm_model

RNG = np.random.default_rng(0)
PANEL_SEQS = ["".join(RNG.choice(list("ACDEFGHIKLMNPQRSTVWY"), n)) for n in (40, 52)]
PANEL = []
for _seq in PANEL_SEQS:
    _truth = RNG.random((len(_seq), len(_seq))) < 0.1
    PANEL.append((_seq, torch.from_numpy(_truth | _truth.T)))


class TinyMLM(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model, self.tokenizer = esm_model("tiny", seed=0)
        self.model.train()
        self.modes: list[bool] = []

    def training_step(self, batch, _):
        self.modes.append(self.model.training)
        ids = batch[0]
        labels = ids.clone()
        masked = torch.rand(ids.shape) < 0.15
        labels[~masked] = -100
        inputs = ids.masked_fill(masked, self.tokenizer.mask_token_id)
        return self.model(input_ids=inputs, labels=labels).loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)

    def train_dataloader(self):
        ids = torch.randint(4, 24, (16, 30))
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids), batch_size=4)


def _trainer(callback, steps=4):
    return pl.Trainer(
        max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
    )  # fmt: skip


def test_callback_logs_what_an_offline_computation_gives():
    module = TinyMLM()
    callback = ContactPrecision(PANEL, tokenizer=module.tokenizer, every_n_steps=2, ranges=["short", "long"])
    trainer = _trainer(callback)
    trainer.fit(module)
    assert [h["step"] for h in callback.history] == [2, 4]
    assert all(module.modes)  # training mode restored after every evaluation
    offline = AttentionReadout(module.model, module.tokenizer)
    tables = [precision_table(offline.attribute(s).contacts, t, ranges=["short", "long"]) for s, t in PANEL]
    for key in ("short_P@L", "long_P@L/5"):
        values = [t[key] for t in tables if not np.isnan(t[key])]
        assert callback.history[-1][key] == pytest.approx(sum(values) / len(values), abs=1e-6)
        assert float(trainer.callback_metrics[f"contacts/{key}"]) == pytest.approx(callback.history[-1][key], abs=1e-6)
    assert "contacts/seconds_total" in trainer.callback_metrics


def test_state_dict_round_trip_and_clear_errors():
    callback = ContactPrecision(PANEL, every_n_steps=3)
    callback.history, callback.last_step, callback.seconds = [{"step": 3, "long_P@L": 0.5}], 3, 1.5
    other = ContactPrecision(PANEL)
    other.load_state_dict(callback.state_dict())
    assert other.history == callback.history and other.last_step == 3 and other.seconds == 1.5

    class NoModel(TinyMLM):
        pass

    module = NoModel()
    bad = ContactPrecision(PANEL, tokenizer=module.tokenizer, every_n_steps=1, model="encoder")
    with pytest.raises(InterpError, match=r"no nn\.Module attribute 'encoder'"):
        _trainer(bad, steps=1).fit(module)
    with pytest.raises(InterpError, match="non-empty panel"):
        ContactPrecision([])
    with pytest.raises(InterpError, match="true map of shape"):
        ContactPrecision([("MKT", torch.zeros(4, 4, dtype=torch.bool))])


@requires_data
def test_panel_from_a_structure_file(data_dir):
    from interp.structure import contact_map

    path = data_dir / "protein/1a3a_A/1a3a.pdb"
    sequence = contact_map(path, chain="A").sequence
    callback = ContactPrecision([(sequence, path)])
    contacts, resolved = callback.panel[0][1]
    assert contacts.shape == (145, 145) and bool(resolved.all())


class ValidatingMLM(TinyMLM):
    def validation_step(self, batch, _):
        return None

    def val_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randint(4, 24, (4, 30))), batch_size=4)


def test_callback_runs_at_each_validation_epoch_end():
    module = ValidatingMLM()
    callback = ContactPrecision(PANEL, tokenizer=module.tokenizer)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[callback],
    )  # fmt: skip
    trainer.validate(module)
    assert len(callback.history) == 1
    assert float(trainer.callback_metrics["contacts/long_P@L"]) == pytest.approx(
        callback.history[0]["long_P@L"], abs=1e-6
    )


def test_ddp_two_processes_log_what_one_process_logs():
    """2 CPU processes (ddp_spawn, gloo), the panel split 2/1 across ranks, against 1 process."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent / "ddp_contact_precision.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    logged = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(logged["one"]) == set(logged["two"]) and "contacts/long_P@L" in logged["one"]
    for key, value in logged["one"].items():
        assert logged["two"][key] == pytest.approx(value, abs=1e-6), key
