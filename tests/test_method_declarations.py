"""Every explainer method is declared once (`interp.methods`), and make_explainer, the command line, the training
callback, the contact benchmark and the docs' tables read that declaration: the representation Jacobian, declared
like the others, is reached from each of them and gives its class's own result."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from interp.benchmarks.contact_methods import BENCHMARK_METHODS, build_explainer
from interp.benchmarks.contacts import main as contact_benchmark
from interp.callbacks import ContactPrecisionMonitor
from interp.cli import app
from interp.errors import InterpError
from interp.explainers import RepresentationJacobian, make_explainer
from interp.files.io import load_contacts
from interp.methods import (
    DECLARED,
    SHARED_OPTIONS,
    benchmark_methods_table,
    benchmark_variants,
    check_method,
    methods_table,
)
from interp.models.loading import load_model
from interp.testing.stand_ins import esm_model

DOCS = Path(__file__).resolve().parents[1] / "docs"
SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def _keywords(cls: type) -> set[str]:
    """Every keyword a class's constructor takes, following `**options` passed up to the base classes."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind is inspect.Parameter.KEYWORD_ONLY}  # fmt: skip
    return names


def test_each_declaration_names_an_explainer_that_takes_its_options_and_records_its_name():
    model, tokenizer = esm_model("tiny")
    for method in DECLARED:
        keywords = _keywords(method.explainer_class())
        assert set(method.options) <= set(SHARED_OPTIONS) and set(method.options) <= keywords, method.name
        assert set(method.preset) <= keywords, method.name
        for variant in method.benchmark_variants:
            assert set(variant.options) <= keywords, variant.name
        explainer = method.build(model, tokenizer, batch_size=None, layer=None, dtype=None, show_progress=False)
        assert explainer.attribute("MKTAYIAKQR").method == method.recorded_as
    assert list(BENCHMARK_METHODS) == list(benchmark_variants())
    assert {"representation-jacobian", "fast-representation-jacobian"} <= set(BENCHMARK_METHODS)


def test_a_shared_option_a_method_does_not_take_is_left_out_and_any_other_keyword_is_checked():
    model, tokenizer = esm_model("tiny")
    attention = make_explainer("attention", model, tokenizer, batch_size=4, layer=2, dtype=torch.bfloat16)
    assert type(attention).__name__ == "AttentionReadout"
    with pytest.raises(TypeError):
        make_explainer("attention", model, tokenizer, not_an_option=1)
    assert make_explainer("representation-jacobian", model, tokenizer, layer=1).layer == 1


def test_the_representation_jacobian_from_make_explainer_the_command_line_and_the_callback(tmp_path):
    model, tokenizer = load_model("default")
    expected = RepresentationJacobian(model, tokenizer, layer=1).attribute(SEQUENCE, names=["query"]).contacts
    made = make_explainer("representation-jacobian", model, tokenizer, layer=1).attribute(SEQUENCE).contacts
    assert torch.equal(made, expected)
    with pytest.raises(InterpError, match=r"layer=5: .* gives 2 hidden states"):
        make_explainer("representation-jacobian", model, tokenizer, layer=5).attribute(SEQUENCE)

    (tmp_path / "in.fa").write_text(f">query\n{SEQUENCE}\n")
    result = CliRunner().invoke(app, ["contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "out"),
                                      "--method", "representation-jacobian", "--layer", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = load_contacts(tmp_path / "out" / "query.representation_jacobian.npz")
    np.testing.assert_allclose(written["contacts"], expected.numpy(), rtol=0, atol=1e-6)

    truth = torch.rand(len(SEQUENCE), len(SEQUENCE), generator=torch.Generator().manual_seed(0)) < 0.1
    panel = [(SEQUENCE, truth | truth.T)]
    by_name = ContactPrecisionMonitor(panel, tokenizer=tokenizer, explainer="representation-jacobian").score(model)
    by_class = ContactPrecisionMonitor(panel, tokenizer=tokenizer,
                                       explainer=lambda m, t: RepresentationJacobian(m, t)).score(model)  # fmt: skip
    assert by_name == pytest.approx(by_class, nan_ok=True) and not all(math.isnan(v) for v in by_name.values())


def test_the_contact_benchmark_runs_the_representation_jacobian(tmp_path):
    model, tokenizer = load_model("default")
    assert isinstance(build_explainer("representation-jacobian", model, tokenizer, options={"batch_size": 64}),
                      RepresentationJacobian)  # fmt: skip
    payload = contact_benchmark(["--model", "default", "--panel", "builtin", "--no-progress", "--out", str(tmp_path),
                                 "--limit", "2", "--calibration", "1", "--methods",
                                 "fast-representation-jacobian"])  # fmt: skip
    (row,) = payload["summary"]
    assert row["method"] == "fast-representation-jacobian" and 0 <= row["long_P@L"] <= 1


def test_the_callback_offers_the_training_methods_only():
    with pytest.raises(InterpError, match="not one of"):
        check_method("gradient", training=True)
    assert check_method("representation-jacobian", training=True).name == "representation-jacobian"


def test_the_docs_tables_are_the_declarations():
    assert methods_table() in (DOCS / "explainers.md").read_text()
    assert benchmark_methods_table() in (DOCS / "contact-benchmark.md").read_text()
