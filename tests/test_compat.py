"""Each private or undocumented behaviour interp relies on (interp.models.compat), checked against the installed
torch and transformers: an upgrade that changes one fails here, by name."""

from __future__ import annotations

import warnings

import pytest
import torch
import transformers

from interp.models import compat
from interp.testing.stand_ins import esm_model

TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5


def test_output_registry_is_where_transformers_keeps_it():
    if not TRANSFORMERS_5:
        pytest.skip("transformers 4.x returns outputs without a registry")
    from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY

    model, _ = esm_model("tiny")
    recorders = [m for m in model.modules() if getattr(m, "_can_record_outputs", None)]
    assert recorders and all(_CAN_RECORD_REGISTRY.get(m) for m in recorders), (
        "PreTrainedModel.__init__ no longer fills _CAN_RECORD_REGISTRY (read with .get(model))"
    )
    saved = dict(_CAN_RECORD_REGISTRY)
    _CAN_RECORD_REGISTRY.clear()  # what a model unpickled in a fresh process sees
    try:
        assert not any(_CAN_RECORD_REGISTRY.get(m) for m in recorders)
        compat.register_recordable_outputs(model)
        assert all(_CAN_RECORD_REGISTRY.get(m) == m._can_record_outputs for m in recorders)
    finally:
        _CAN_RECORD_REGISTRY.clear()
        _CAN_RECORD_REGISTRY.update(saved)


def test_attention_implementation_lives_on_the_config_and_switches():
    model, tokenizer = esm_model("tiny", attn_implementation="sdpa")
    assert compat.attention_implementation(model) == "sdpa"
    ids = torch.tensor(tokenizer("MKTAYIAK")["input_ids"])[None]
    with compat.eager_attention(model), torch.no_grad():
        assert compat.attention_implementation(model) == "eager" or not hasattr(model, "set_attn_implementation")
        attentions = model(input_ids=ids, output_attentions=True).attentions
    assert attentions is not None and len(attentions) == model.config.num_hidden_layers
    assert compat.attention_implementation(model) == "sdpa"


def test_lbfgs_keeps_its_state_under_its_first_parameter():
    weights = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    optimizer = torch.optim.LBFGS(weights, max_iter=3)

    def closure():
        optimizer.zero_grad()
        loss = ((weights[0] - 1) ** 2).sum() + ((weights[1] + 1) ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    assert compat.lbfgs_state(optimizer)["n_iter"] >= 1


def test_the_vmap_fallback_warning_text_is_what_torch_says():
    """vmap over an op without a batching rule warns with this text (silenced by quiet_vmap_fallback)."""
    query = torch.randn(1, 2, 5, 4)

    def attend(q):
        return torch.nn.functional.scaled_dot_product_attention(q, q, q).sum()

    grad = torch.func.grad(attend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.func.vmap(grad)(torch.stack([query, query]))
    texts = [str(w.message) for w in caught]
    if not texts:
        pytest.skip("this torch has a batching rule for SDPA's backward: nothing to silence")
    assert any(compat.VMAP_FALLBACK_WARNING in t for t in texts), texts
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        with compat.quiet_vmap_fallback():
            torch.func.vmap(grad)(torch.stack([query, query]))
    assert not any(compat.VMAP_FALLBACK_WARNING in str(w.message) for w in quiet)


def test_torch_compile_keeps_the_original_module_as_orig_mod():
    from interp.models.compat import compiled_original

    model = torch.nn.Linear(3, 2)
    compiled = torch.compile(model)
    assert compiled_original(compiled) is model  # OptimizedModule._orig_mod, sharing the parameters
    assert compiled.weight is model.weight
    assert compiled_original(model) is None


def test_peft_hands_over_its_base_model_with_the_adapters_injected():
    peft = pytest.importorskip("peft")
    from interp.models.compat import peft_base_model
    from interp.testing.stand_ins import esm_model

    model, _ = esm_model("tiny")
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=["query"]))
    base = peft_base_model(wrapped)
    assert base is model and type(base).__name__ == "EsmForMaskedLM"
    assert any("lora_A" in name for name, _ in base.named_modules())  # the LoRA layers sit inside it
    assert peft_base_model(model) is None
