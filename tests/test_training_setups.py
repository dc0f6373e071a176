"""The training setups people really use: LoRA adapters (the real `peft`), `torch.compile`, bf16 mixed precision
and gradient accumulation, each with the explainers directly and with the ContactPrecisionMonitor callback."""

from __future__ import annotations

import copy

import lightning.pytorch as pl
import pytest
import torch

from interp import AttentionReadout, CategoricalJacobian, GradientJacobian
from interp.adapters import EsmAdapter, get_adapter
from interp.callbacks import ContactPrecisionMonitor
from interp.testing.stand_ins import esm_model

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV"
GENERATOR = torch.Generator().manual_seed(3)
TRUTH = torch.rand(len(SEQ), len(SEQ), generator=GENERATOR) < 0.15
PANEL = [(SEQ, TRUTH | TRUTH.T), (SEQ[:24], (TRUTH | TRUTH.T)[:24, :24])]


def lora_model():
    """A tiny ESM with LoRA on the attention projections (query, value), LoRA weights random (not the zero start
    `get_peft_model` gives by default, which would make the adapted model equal the base one)."""
    peft = pytest.importorskip("peft")
    model, tokenizer = esm_model("tiny", seed=0)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False)
    return peft.get_peft_model(model, config).eval(), tokenizer


def test_a_lora_model_is_explained_as_its_merged_weights():
    lora, tokenizer = lora_model()
    merged = copy.deepcopy(lora).merge_and_unload()  # the plain EsmForMaskedLM with the LoRA update folded in
    base, _ = esm_model("tiny", seed=0)
    assert isinstance(get_adapter(lora, tokenizer), EsmAdapter)
    for make in (CategoricalJacobian, AttentionReadout, GradientJacobian):
        adapted = make(lora, tokenizer).attribute(SEQ).contacts
        folded = make(merged, tokenizer).attribute(SEQ).contacts
        scale = float(folded.abs().max())
        # merging rounds differently (W + BA against W x + B(A x)): measured 6e-5 of the map's maximum for the
        # categorical Jacobian of this random model, whose logit changes are tiny; LoRA itself moves the map by ~1
        torch.testing.assert_close(adapted, folded, rtol=0, atol=5e-4 * scale)
        assert float((adapted - make(base, tokenizer).attribute(SEQ).contacts).abs().max()) > 0.3 * scale
    monitor = ContactPrecisionMonitor(PANEL, tokenizer=tokenizer, explainer="jacobian")
    assert monitor.score(lora) == pytest.approx(monitor.score(merged), abs=1e-9, nan_ok=True)


def test_a_compiled_model_is_explained_eagerly_with_no_compilation():
    from torch._dynamo.utils import counters

    model, tokenizer = esm_model("tiny", seed=0)
    compiled = torch.compile(model)
    torch._dynamo.reset()
    counters.clear()
    monitor = ContactPrecisionMonitor(PANEL, tokenizer=tokenizer, explainer="jacobian")
    assert monitor.score(compiled) == pytest.approx(monitor.score(model), abs=1e-9, nan_ok=True)
    direct = CategoricalJacobian(compiled, tokenizer).attribute(SEQ).contacts
    torch.testing.assert_close(direct, CategoricalJacobian(model, tokenizer).attribute(SEQ).contacts, rtol=0, atol=0)
    assert isinstance(get_adapter(compiled, tokenizer), EsmAdapter)
    assert sum(counters["stats"].values()) == 0  # no frame was compiled: 0 compiles per callback evaluation


class AccumulatingMLM(pl.LightningModule):
    def __init__(self, *, compile_model: bool = False, lora: bool = False) -> None:
        super().__init__()
        if lora:
            self.model, self.tokenizer = lora_model()
        else:
            self.model, self.tokenizer = esm_model("tiny", seed=0)
        self.model.train()
        if compile_model:
            self.model = torch.compile(self.model)

    def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
        ids = batch[0]
        masked = torch.rand(ids.shape, generator=torch.Generator().manual_seed(int(ids.sum()))) < 0.15
        labels = ids.masked_fill(~masked, -100)
        return self.model(input_ids=ids.masked_fill(masked, self.tokenizer.mask_token_id), labels=labels).loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW([p for p in self.parameters() if p.requires_grad], lr=1e-3)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        ids = torch.randint(4, 24, (24, 30), generator=torch.Generator().manual_seed(1))
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids), batch_size=2)


def trainer(callbacks, **options) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=callbacks, **options)  # fmt: skip


def test_gradient_accumulation_evaluates_once_per_optimizer_step():
    module = AccumulatingMLM()
    monitor = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=2)
    trainer(monitor, max_steps=6, accumulate_grad_batches=3).fit(module)  # 18 micro-batches, 6 optimizer steps
    assert [entry["step"] for entry in monitor.history] == [2, 4, 6]


def test_bf16_mixed_training_logs_finite_numbers_equal_to_an_fp32_evaluation_of_the_same_weights():
    module = AccumulatingMLM()
    monitor = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, explainer="jacobian", every_n_steps=3)
    fitted = trainer(monitor, max_steps=3, precision="bf16-mixed")
    fitted.fit(module)
    logged = monitor.history[-1]
    assert all(torch.isfinite(torch.tensor(v)) for k, v in logged.items() if k != "step" and v == v)
    fp32 = monitor.score(module.model.float())  # the same weights (bf16-mixed keeps fp32 weights), no autocast
    for name, value in fp32.items():
        assert logged[name] == pytest.approx(value, abs=1e-6, nan_ok=True), name


def test_the_callback_follows_a_lora_model_while_it_trains():
    pytest.importorskip("peft")
    module = AccumulatingMLM(lora=True)
    monitor = ContactPrecisionMonitor(PANEL, tokenizer=module.tokenizer, every_n_steps=1)
    trainer(monitor, max_steps=2).fit(module)
    assert [entry["step"] for entry in monitor.history] == [1, 2]
    merged = copy.deepcopy(module.model).merge_and_unload()
    assert monitor.history[-1]["long_P@L"] == pytest.approx(monitor.score(merged)["long_P@L"], abs=1e-9, nan_ok=True)
