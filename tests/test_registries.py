"""One source of truth per concept: the adapter registry's explicit priorities, the method table that the
CLI, the callback, extraction and make_explainer share, and one resolution of true contact maps."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch

from interp.adapters import EsmAdapter, NucleotideTransformerAdapter, get_adapter, register_adapter, registry
from interp.errors import InterpError
from interp.explainers import make_explainer
from interp.methods import METHOD_NAMES, METHODS, TRAINING_METHODS, check_method, method_recorded_as
from interp.scoring.truth import true_contacts
from interp.testing.stand_ins import esm_model, nucleotide_transformer_model


def test_built_in_adapters_never_tie_so_import_order_cannot_decide():
    """Entries of one model type have distinct priorities: which wins never depends on registration order."""
    by_type: dict[str, list[int]] = defaultdict(list)
    for entry in registry._REGISTRY:
        if entry.priority < registry.USER_PRIORITY:
            by_type[entry.model_type].append(entry.priority)
    assert by_type and all(len(p) == len(set(p)) for p in by_type.values()), dict(by_type)
    priorities = [entry.priority for entry in registry._REGISTRY]
    assert priorities == sorted(priorities, reverse=True)


def test_detection_is_the_same_whatever_the_registration_order():
    """Reverse the built-in registrations: every model still gets the adapter it got before."""
    cases = [esm_model("tiny"), nucleotide_transformer_model()]
    before = [type(get_adapter(model, tokenizer)) for model, tokenizer in cases]
    assert before == [EsmAdapter, NucleotideTransformerAdapter]
    saved = list(registry._REGISTRY)
    try:
        registry._REGISTRY.clear()
        for entry in reversed(saved):
            register_adapter(entry.model_type, entry.factory, accepts=entry.accepts, name=entry.name,
                             priority=entry.priority)  # fmt: skip
        assert [type(get_adapter(model, tokenizer)) for model, tokenizer in cases] == before
    finally:
        registry._REGISTRY[:] = saved


def test_a_user_registration_wins_over_the_built_ins():
    model, tokenizer = esm_model("tiny")

    class MyAdapter(EsmAdapter):
        pass

    saved = list(registry._REGISTRY)
    try:
        register_adapter("esm", MyAdapter, name="mine")
        assert type(get_adapter(model, tokenizer)) is MyAdapter
        assert registry.registered_adapters()[0] == ("esm", "mine")
    finally:
        registry._REGISTRY[:] = saved


def test_every_method_builds_the_explainer_that_records_its_name():
    model, tokenizer = esm_model("tiny")
    for name in METHOD_NAMES:
        prediction = make_explainer(name, model, tokenizer).attribute("MKTAYIAKQR")
        assert prediction.method == METHODS[name].recorded_as and method_recorded_as(prediction.method).name == name
    assert "gradient" not in TRAINING_METHODS and set(TRAINING_METHODS) < set(METHOD_NAMES)
    with pytest.raises(InterpError, match="not one of"):
        check_method("gradient", training=True)
    with pytest.raises(InterpError, match="not one of"):
        make_explainer("jacobain", model, tokenizer)


def test_the_cli_the_callback_and_extraction_read_the_method_table():
    from interp import cli
    from interp.callbacks import contact_precision, extraction

    assert cli.METHODS == METHOD_NAMES and contact_precision.EXPLAINERS == TRAINING_METHODS
    with pytest.raises(InterpError, match="not one of"):
        extraction.ExplainerModule(torch.nn.Linear(1, 1), method="jacobain")


def test_true_contacts_from_a_map_a_contact_map_and_a_wrong_shape():
    bool_map = torch.eye(5, dtype=torch.bool)
    contacts, resolved = true_contacts("MKTAY", bool_map)
    assert torch.equal(contacts, bool_map) and resolved is None

    class Holder:  # anything with .contacts and .resolved, as interp.structures.structure.ContactMap
        contacts = bool_map
        resolved = torch.tensor([True, True, False, True, True])

    contacts, resolved = true_contacts("MKTAY", Holder())
    assert resolved is not None and not bool(resolved[2])
    with pytest.raises(InterpError, match="'rec': a true map of shape"):
        true_contacts("MKTA", bool_map, name="rec")
