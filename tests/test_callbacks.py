"""The ContactPrecisionMonitor callback in a real Lightning training loop on a tiny ESM model (CPU)."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from helpers import requires_data

from interp.callbacks import ContactPrecisionMonitor
from interp.errors import InterpError
from interp.explainers import AttentionReadout
from interp.scoring.metrics import precision_table
from interp.testing.stand_ins import esm_model

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
    callback = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2, ranges=["short", "long"])
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
    callback = ContactPrecisionMonitor(PANEL, every_n_steps=3)
    callback.history, callback.last_step, callback.seconds = [{"step": 3, "long_P@L": 0.5}], 3, 1.5
    other = ContactPrecisionMonitor(PANEL)
    other.load_state_dict(callback.state_dict())
    assert other.history == callback.history and other.last_step == 3 and other.seconds == 1.5

    class NoModel(TinyMLM):
        pass

    module = NoModel()
    bad = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=1, model="encoder")
    with pytest.raises(InterpError, match=r"no nn\.Module attribute 'encoder'"):
        _trainer(bad, steps=1).fit(module)
    with pytest.raises(InterpError, match="non-empty panel"):
        ContactPrecisionMonitor([])
    with pytest.raises(InterpError, match="true map of shape"):
        ContactPrecisionMonitor([("MKT", torch.zeros(4, 4, dtype=torch.bool))])


@requires_data
def test_panel_from_a_structure_file(data_dir):
    from interp.structures.structure import contact_map

    path = data_dir / "protein/1a3a_A/1a3a.pdb"
    sequence = contact_map(path, chain="A").sequence
    callback = ContactPrecisionMonitor([(sequence, path)])
    contacts, resolved = callback.panel[0][1]
    assert contacts.shape == (145, 145) and bool(resolved.all())


class ValidatingMLM(TinyMLM):
    def validation_step(self, batch, _):
        return None

    def val_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randint(4, 24, (4, 30))), batch_size=4)


def test_callback_runs_at_each_validation_epoch_end():
    module = ValidatingMLM()
    callback = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer)
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
    assert "contacts/layer_2/long_P@L" in logged["one"]  # per-layer values, reduced the same way
    for key, value in logged["one"].items():
        assert logged["two"][key] == pytest.approx(value, abs=1e-6), key


def test_resume_from_a_checkpoint_keeps_the_callback_state(tmp_path):
    module = TinyMLM()
    callback = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2, prefix="contacts/att/")
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path, callbacks=[callback])  # fmt: skip
    trainer.fit(module)
    checkpoint = tmp_path / "run.ckpt"
    trainer.save_checkpoint(checkpoint)
    resumed = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2, prefix="contacts/att/")
    trainer = pl.Trainer(max_steps=6, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path, callbacks=[resumed])  # fmt: skip
    trainer.fit(TinyMLM(), ckpt_path=checkpoint)
    assert [h["step"] for h in resumed.history] == [2, 4, 6]
    assert resumed.history[:2] == callback.history and resumed.seconds > callback.seconds


def test_score_outside_a_trainer_equals_the_logged_numbers():
    module = TinyMLM()
    callback = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=4)
    _trainer(callback).fit(module)
    offline = callback.score(module.model)
    assert offline == pytest.approx({k: v for k, v in callback.history[-1].items() if k != "step"}, nan_ok=True)


def test_contact_map_logger_writes_images_to_tensorboard_and_png(tmp_path):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from interp.callbacks import ContactMapLogger

    module = TinyMLM()
    precision = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=1)
    images = ContactMapLogger(every_n_evaluations=2, max_maps=2)
    loggers = [TensorBoardLogger(tmp_path, name="tb"), CSVLogger(tmp_path, name="csv")]
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", logger=loggers, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, callbacks=[precision, images])  # fmt: skip
    trainer.fit(module)
    assert images.evaluations == 4 and images.images_logged == 4  # evaluations 1 and 3, two maps each
    events = EventAccumulator(str(loggers[0].log_dir), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()["images"]
    assert sorted(tags) == ["contact_maps/panel0", "contact_maps/panel1"]
    assert [e.step for e in events.Images("contact_maps/panel0")] == [1, 3]
    pngs = sorted((tmp_path / "csv").rglob("*.png"))
    assert len(pngs) == 4 and pngs[0].read_bytes()[:4] == b"\x89PNG"


def test_contact_map_logger_needs_a_precision_callback():
    from interp.callbacks import ContactMapLogger

    with pytest.raises(InterpError, match="add one"):
        _trainer(ContactMapLogger(), steps=1).fit(TinyMLM())


def test_precision_curves_from_history_and_from_a_csv_log(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    from interp.files.plotting import plot_precision_curve

    module = TinyMLM()
    callback = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2, ranges=["long"], ks=["L"])
    logger = CSVLogger(tmp_path, name="csv")
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", logger=logger, log_every_n_steps=1, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, callbacks=[callback])  # fmt: skip
    trainer.fit(module)
    figure = plot_precision_curve(callback.history)
    (line,) = figure.axes[0].get_lines()
    assert list(line.get_xdata()) == [2, 4] and list(line.get_ydata()) == [h["long_P@L"] for h in callback.history]
    from_csv = plot_precision_curve(tmp_path / "csv" / "version_0" / "metrics.csv")
    (csv_line,) = from_csv.axes[0].get_lines()
    # Lightning's CSV rows carry the 0-based batch index and may repeat a value on the next row
    assert {round(v, 6) for v in csv_line.get_ydata().tolist()} == {round(v, 6) for v in line.get_ydata().tolist()}


def test_the_old_callback_name_still_works_with_a_deprecation_warning():
    import interp.callbacks

    with pytest.warns(DeprecationWarning, match="ContactPrecisionMonitor"):
        old = interp.callbacks.ContactPrecision
    assert old is ContactPrecisionMonitor and interp.ContactPrecision is not ContactPrecisionMonitor


def test_the_builtin_panel_needs_no_structure_files():
    """`panel="builtin"` takes the first `panel_size` chains of the shipped panel (8 by default), each scored
    against its own true map; a list of pairs with a size is refused."""
    from interp.structures.panel import builtin_panel

    model, tokenizer = esm_model("tiny")
    callback = ContactPrecisionMonitor("builtin", panel_size=3, tokenizer=tokenizer)
    expected = builtin_panel(3)
    assert [sequence for sequence, _ in callback.panel] == [entry.sequence for entry in expected]
    for (_, (contacts, resolved)), entry in zip(callback.panel, expected, strict=True):
        assert torch.equal(contacts, entry.truth.contacts) and torch.equal(resolved, entry.truth.resolved)
    scores = callback.score(model)
    assert set(scores) >= {"long_P@L", "short_P@L/5"} and all(0.0 <= v <= 1.0 for v in scores.values() if v == v)
    assert len(ContactPrecisionMonitor("builtin", tokenizer=tokenizer).panel) == 8
    with pytest.raises(InterpError, match="panel_size"):
        ContactPrecisionMonitor([("MKTAYIAKQR", torch.zeros(10, 10, dtype=torch.bool))], panel_size=1)


@pytest.mark.parametrize("method", ["attention", "fast-jacobian"])
def test_per_layer_precision_is_logged_as_each_layers_map_scores_offline(method):
    from interp.explainers import make_explainer

    module = TinyMLM()
    callback = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2, explainer=method,
                                       ranges=["short", "long"], ks=["L"], per_layer=True)  # fmt: skip
    trainer = _trainer(callback)
    trainer.fit(module)
    assert [h["step"] for h in callback.layer_history] == [2, 4]
    offline = make_explainer(method, module.model, module.tokenizer, per_layer=True)
    maps = [offline.attribute(s).layer_contacts for s, _ in PANEL]
    assert len(callback.layer_history[-1]["layers"]) == len(maps[0]) == 2
    for n in range(2):
        tables = [precision_table(m[n], t, ranges=["short", "long"], ks=["L"]) for m, (_, t) in zip(maps, PANEL, strict=True)]
        for key in ("short_P@L", "long_P@L"):
            values = [t[key] for t in tables if not np.isnan(t[key])]
            expected = sum(values) / len(values)
            assert callback.layer_history[-1]["layers"][n][key] == pytest.approx(expected, abs=1e-6)
            assert float(trainer.callback_metrics[f"contacts/layer_{n + 1}/{key}"]) == pytest.approx(expected, abs=1e-6)
    restored = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, per_layer=True)
    restored.load_state_dict(callback.state_dict())
    assert restored.layer_history == callback.layer_history


def test_per_layer_is_off_by_default_and_refused_without_layer_maps():
    module = TinyMLM()
    callback = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2)
    trainer = _trainer(callback, steps=2)
    trainer.fit(module)
    assert callback.layer_history == [] and not any("layer_" in key for key in trainer.callback_metrics)

    def without_layers(model, tokenizer):
        return AttentionReadout(model, tokenizer)  # built without per_layer=True: no layer maps

    refusing = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2, explainer=without_layers,
                                       per_layer=True)  # fmt: skip
    with pytest.raises(InterpError, match="gave no per-layer maps"):
        _trainer(refusing, steps=2).fit(TinyMLM())
