"""`interp effects` and `interp contacts --per-layer`, run as a user runs them (the installed console script)."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from helpers import requires_data, run_cli

from interp.files.io import load_contacts
from interp.maps.effects import read_effects_tsv


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A tiny random-weight ESM-2 saved as a user's local model folder."""
    from interp.testing.stand_ins import esm_model

    folder = tmp_path_factory.mktemp("model")
    model, tokenizer = esm_model("tiny")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_effects_writes_table_and_heat_map_per_record_and_resumes(tmp_path, model_folder):
    from interp import MutationEffects
    from interp.models.loading import load_model

    fasta = tmp_path / "in.fa"
    fasta.write_text(">first one\nMKTAYIAKQR\n>second\nGSHMKLV\n>bad\nMK1T\n")
    out = tmp_path / "out"
    result = run_cli("effects", "--fasta", str(fasta), "--out", str(out), "--model", str(model_folder))
    assert result.returncode == 1  # the bad record is reported, the others written
    assert "error in record 'bad'" in result.stderr and "2 of 3 records written" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["first.effects.png", "first.effects.tsv", "second.effects.png",
                                                     "second.effects.tsv"]  # fmt: skip
    text = (out / "first.effects.tsv").read_text()
    assert "# masked_marginal: log P(mut) - log P(wt) at the residue, with that residue masked" in text
    rows = read_effects_tsv(out / "first.effects.tsv")
    assert len(rows) == 10 * 19 and rows[0]["mutation"] == "M1A" and rows[0]["position"] == 1
    model, tokenizer = load_model(str(model_folder))
    table = MutationEffects(model, tokenizer).attribute("MKTAYIAKQR")
    for row in rows:  # the file holds what the API computes, to the written precision
        column = table.alphabet.index(row["mut"])
        for name, scores in table.scores.items():
            assert math.isclose(row[name], float(scores[row["position"] - 1, column]), rel_tol=1e-5, abs_tol=1e-5)

    before = (out / "first.effects.tsv").stat().st_mtime_ns
    again = run_cli("effects", "--fasta", str(fasta), "--out", str(out), "--model", str(model_folder))
    assert "2 of 3 records already written" in again.stderr and "(2 kept from an earlier run)" in again.stdout
    assert (out / "first.effects.tsv").stat().st_mtime_ns == before  # not computed again
    redo = run_cli("effects", "--fasta", str(fasta), "--out", str(out), "--model", str(model_folder), "--overwrite",
                   "--scores", "wt_marginal")  # fmt: skip
    assert "scores: wt_marginal" in redo.stdout
    assert read_effects_tsv(out / "first.effects.tsv")[0].keys() == {"mutation", "position", "wt", "mut", "wt_marginal"}


def test_effects_refuses_an_unknown_score_before_loading_a_model(tmp_path):
    (tmp_path / "in.fa").write_text(">a\nMKT\n")
    result = run_cli("effects", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "o"), "--scores", "esm1v")
    assert result.returncode == 2 and "'esm1v'" in result.stderr and "mutant_likelihood" in result.stderr
    assert not (tmp_path / "o").exists()


@requires_data
def test_contacts_per_layer_writes_the_layers_and_their_precision(tmp_path, data_dir):
    from interp import CategoricalJacobian
    from interp.models.embedded_model import default_model
    from interp.structures.structure import contact_map

    pdb = data_dir / "protein/1a3a_A/1a3a.pdb"
    truth = contact_map(pdb, chain="A")
    sequence = truth.sequence[:60]
    (tmp_path / "in.fa").write_text(f">1a3a\n{sequence}\n")
    out = tmp_path / "out"
    result = run_cli("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(out), "--method", "fast-jacobian",
                     "--per-layer", "--structure", str(pdb), "--chain", "A")  # fmt: skip
    assert result.returncode == 0, result.stderr
    base = out / "1a3a.fast_categorical_jacobian"
    layers = load_contacts(base.with_name(base.name + ".npz"))["layer_contacts"]
    model, tokenizer = default_model()
    prediction = CategoricalJacobian(model, tokenizer, fast=True, per_layer=True).attribute(sequence)
    torch.testing.assert_close(torch.as_tensor(layers), prediction.layer_contacts, rtol=1e-5, atol=1e-6)
    with open(base.with_name(base.name + ".layers.csv")) as handle:
        written = list(csv.DictReader(handle))
    expected = prediction.layer_precision(contact_map(pdb, chain="A", sequence=sequence))
    assert [int(row["layer"]) for row in written] == list(range(1, len(expected) + 1))
    for row, table in zip(written, expected, strict=True):
        assert float(row["long_P@L"]) == pytest.approx(table["long_P@L"], abs=5e-5)
    assert base.with_name(base.name + ".layers.png").stat().st_size > 1000

    again = run_cli("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(out), "--method", "fast-jacobian",
                    "--per-layer", "--structure", str(pdb), "--chain", "A")  # fmt: skip
    assert again.returncode == 0 and "all 1 records already written" in again.stdout


def test_contacts_per_layer_is_refused_for_a_method_without_layers(tmp_path):
    (tmp_path / "in.fa").write_text(">a\nMKT\n")
    result = run_cli("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "o"), "--method",
                     "gradient", "--per-layer")  # fmt: skip
    assert result.returncode == 2 and "gives no per-layer" in result.stderr
