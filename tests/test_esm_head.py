"""ESM's own contact head as the attention readout's combiner ("esm_head"), against transformers' own call."""

from __future__ import annotations

import pytest
import torch

from interp import AttentionReadout, InterpError
from interp.testing.stand_ins import esm_model, protbert_model

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV"


def trained_looking_head(model: torch.nn.Module) -> None:
    """Random weights for the head: large enough that a random model's nearly flat attention still gives a varied map."""
    generator = torch.Generator().manual_seed(0)
    regression = model.esm.contact_head.regression
    with torch.no_grad():
        regression.weight.copy_(10 * torch.randn(regression.weight.shape, generator=generator))
        regression.bias.fill_(-0.3)


def test_esm_head_equals_transformers_predict_contacts_off_the_diagonal():
    model, tokenizer = esm_model("tiny", attn_implementation="eager")
    trained_looking_head(model)
    ids = tokenizer(SEQ, return_tensors="pt")
    with torch.no_grad():
        reference = model.predict_contacts(ids["input_ids"], ids["attention_mask"])[0]
    prediction = AttentionReadout(model, tokenizer, combiner="esm_head").attribute(SEQ)
    off_diagonal = ~torch.eye(len(SEQ), dtype=torch.bool)
    assert prediction.method == "attention_esm_head"
    assert reference.std() > 0.005  # a head that reads the heads differently would not agree by accident
    torch.testing.assert_close(prediction.contacts[off_diagonal], reference[off_diagonal], rtol=0, atol=1e-6)


def test_esm_head_works_under_sdpa_where_transformers_own_call_fails(tmp_path):
    eager, tokenizer = esm_model("tiny", attn_implementation="eager")
    trained_looking_head(eager)
    sdpa, _ = esm_model("tiny", attn_implementation="sdpa")
    sdpa.load_state_dict(eager.state_dict())
    ids = tokenizer(SEQ, return_tensors="pt")
    with torch.no_grad():
        reference = eager.predict_contacts(ids["input_ids"], ids["attention_mask"])[0]
    with pytest.raises(RuntimeError):  # transformers 5: SDPA returns no attention weights to stack
        sdpa.predict_contacts(ids["input_ids"], ids["attention_mask"])
    readout = AttentionReadout(sdpa, tokenizer, combiner="esm_head")
    off_diagonal = ~torch.eye(len(SEQ), dtype=torch.bool)
    torch.testing.assert_close(readout.attribute(SEQ).contacts[off_diagonal], reference[off_diagonal], rtol=0, atol=1e-6)
    readout.save(tmp_path / "head.json")  # the head's weights as plain JSON, reloadable on the same model
    again = AttentionReadout(sdpa, tokenizer).load(tmp_path / "head.json").attribute(SEQ)
    torch.testing.assert_close(again.contacts, readout.attribute(SEQ).contacts)


def test_esm_head_is_refused_for_a_model_without_one():
    model, tokenizer = protbert_model()
    with pytest.raises(InterpError, match="contact head"):
        AttentionReadout(model, tokenizer, combiner="esm_head")
