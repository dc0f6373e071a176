"""End to end: a tiny ESM-shaped model trained from scratch on samples of a Potts model with planted pair
couplings, the ContactPrecisionMonitor callback attached; the categorical Jacobian must find the planted pairs."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from interp.adapters.families import EsmAdapter
from interp.callbacks import ContactPrecisionMonitor
from interp.explainers import CategoricalJacobian
from interp.training.masked_lm import MaskedLMModule, alignment_loader, encode_rows, family_model, letter_ids
from interp.training.planted_potts import gibbs_sample, planted_potts, to_strings

PAIRS = [(0, 9), (2, 14), (4, 18), (6, 12), (8, 17), (11, 19)]
ALPHABET = "ACDE"  # four letters: the Jacobian is read over the letters the family uses


def test_training_on_planted_couplings_recovers_them():
    torch.manual_seed(0)
    potts = planted_potts(20, PAIRS, q=len(ALPHABET), strength=3.0, seed=1)
    rows = to_strings(gibbs_sample(potts, 2000, sweeps=30, seed=2), ALPHABET)
    model, tokenizer = family_model(20, seed=0)
    callback = ContactPrecisionMonitor(
        [(rows[0], potts.contact_map())], tokenizer=tokenizer, every_n_steps=400, ranges=[(3, None)], ks=[len(PAIRS)],
        explainer=lambda m, t: CategoricalJacobian(EsmAdapter(m, t, alphabet=ALPHABET)),
    )  # fmt: skip
    key = f"sep3+_P@{len(PAIRS)}"
    before = callback.score(model)[key]
    ids = encode_rows(rows, tokenizer)
    module = MaskedLMModule(model, tokenizer.mask_token_id, mask_fraction=0.4, lr=3e-3, warmup_steps=50,
                            total_steps=1600, replacement_ids=letter_ids(ids, tokenizer))  # fmt: skip
    trainer = pl.Trainer(max_steps=1600, max_epochs=1000, accelerator="cpu", logger=False, callbacks=[callback],
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, alignment_loader(ids, batch_size=64))
    curve = [h[key] for h in callback.history]
    assert [h["step"] for h in callback.history] == [400, 800, 1200, 1600]
    assert before <= 2 / len(PAIRS)  # chance: 6 planted pairs among 153 candidates
    assert curve[-1] >= 5 / len(PAIRS) and max(curve[-2:]) == 1.0, curve
    assert model.training and torch.is_grad_enabled()  # the callback restored training mode and autograd
