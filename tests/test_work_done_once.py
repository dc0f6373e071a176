"""The hot path does each piece of work once: a structure is read once for many records, the precision table
once per record, the Jacobian scanned for NaN once, a sequence checked once; and the results equal those of the
paths that did the work again."""

from __future__ import annotations

import pytest
import torch
from helpers import requires_data
from typer.testing import CliRunner

import interp.maps.contacts
import interp.structures.structure
from interp.cli import app
from interp.errors import ContactMapError
from interp.explainers import CategoricalJacobian, GradientJacobian
from interp.maps.contacts import first_nonfinite, jacobian_to_contacts
from interp.maps.prediction import ContactPrediction
from interp.structures.structure import contact_map, read_chain
from interp.testing.stand_ins import esm_model


@requires_data
def test_a_chain_read_once_gives_contact_maps_equal_to_reading_the_file_each_time(data_dir):
    path = data_dir / "protein/1a3a_A/1a3a.pdb"
    chain = read_chain(path, chain="A")
    full = chain.sequence
    for sequence in (None, full, full[5:], "M" + full):
        once, again = chain.contact_map(sequence), contact_map(path, chain="A", sequence=sequence)
        assert once.sequence == again.sequence and once.residue_ids == again.residue_ids
        for field in ("contacts", "resolved", "distances"):
            assert torch.equal(getattr(once, field).nan_to_num(-1.0), getattr(again, field).nan_to_num(-1.0))


@requires_data
def test_interp_contacts_reads_the_structure_once_and_scores_each_record_once(data_dir, tmp_path, monkeypatch):
    path = data_dir / "protein/1a3a_A/1a3a.pdb"
    sequence = read_chain(path, chain="A").sequence
    (tmp_path / "in.fa").write_text(f">first\n{sequence}\n>second\n{sequence[:-3]}\n")
    reads, scores = [], []
    read_structure, precision = interp.structures.structure._read_structure, ContactPrediction.precision
    monkeypatch.setattr(interp.structures.structure, "_read_structure", lambda *a: reads.append(a) or read_structure(*a))
    monkeypatch.setattr(ContactPrediction, "precision", lambda self, *a, **k: scores.append(self.name)
                        or precision(self, *a, **k))  # fmt: skip
    result = CliRunner().invoke(app, ["contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "out"),
                                      "--method", "attention", "--structure", str(path), "--chain", "A"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(reads) == 1 and scores == ["first", "second"]
    assert (tmp_path / "out" / "second.attention_mean.precision.csv").is_file()


def test_the_jacobian_is_scanned_for_nan_once_and_the_map_is_the_same(monkeypatch):
    model, tokenizer = esm_model("tiny")
    scanned: list[int] = []
    scan = interp.maps.contacts.first_nonfinite
    monkeypatch.setattr(interp.maps.contacts, "first_nonfinite", lambda t, *a: scanned.append(t.dim()) or scan(t, *a))
    for explainer in (CategoricalJacobian(model, tokenizer, keep_jacobian=True),
                      GradientJacobian(model, tokenizer, keep_jacobian=True)):  # fmt: skip
        scanned.clear()
        prediction = explainer.attribute("MKTAYIAKQRQISF")
        assert 4 not in scanned  # the model outputs were checked as they came; the Jacobian is not scanned again
        assert torch.allclose(prediction.contacts, jacobian_to_contacts(prediction.jacobian.float()), atol=1e-6)
    bad = torch.zeros(3, 2, 3, 2)
    bad[1, 0, 2, 1] = float("nan")
    assert first_nonfinite(bad) == [1, 0, 2, 1]
    with pytest.raises(ContactMapError, match=r"first at index \[1, 0, 2, 1\]"):
        jacobian_to_contacts(bad)


def test_each_record_is_checked_once_and_every_record_before_any_model_call(monkeypatch):
    from interp.errors import InvalidSequenceError

    model, tokenizer = esm_model("tiny")
    explainer = CategoricalJacobian(model, tokenizer, fast=True)
    checks: list[str | None] = []
    check = explainer.adapter.check_sequence
    monkeypatch.setattr(explainer.adapter, "check_sequence", lambda s, **k: checks.append(k.get("name")) or check(s, **k))
    explainer.attribute(["MKTAYIAKQR", "MKTAYIAK"], names=["a", "b"])
    assert checks == ["a", "b"]
    calls = []
    monkeypatch.setattr(explainer.adapter, "forward", lambda *a, **k: calls.append(1))
    with pytest.raises(InvalidSequenceError, match="'b'"):
        explainer.attribute(["MKTAYIAKQR", "MKT1"], names=["a", "b"])
    assert not calls
