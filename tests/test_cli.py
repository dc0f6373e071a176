"""The `interp` command, run as a user runs it (the installed console script)."""

from __future__ import annotations

import pytest
from helpers import requires_data, run_cli

from interp.io import load_contacts


@requires_data
def test_score_reproduces_published_dncon2(data_dir):
    result = run_cli(
        "score", str(data_dir / "published/DNCON2_T0866.dncon2.rr"), str(data_dir / "protein/T0866-D1/T0866-D1.pdb")
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert lines["long_P@L/5"] == "0.9048" and lines["long_P@L"] == "0.7788"


@requires_data
def test_contact_map_writes_npz_and_errors_are_reported(data_dir, tmp_path):
    out = tmp_path / "map.npz"
    result = run_cli("contact-map", str(data_dir / "protein/1a3a_A/1a3a.pdb"), "--chain", "A", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert load_contacts(out)["contacts"].shape == (145, 145)
    bad = run_cli("contact-map", str(data_dir / "protein/1a3a_A/1a3a.pdb"), "--chain", "Z", "--out", str(out))
    assert bad.returncode == 2 and "chain 'Z' not found" in bad.stderr


def test_demo_runs_offline_on_the_embedded_model_and_writes_every_output(tmp_path):
    """`interp demo`: the shipped model, its shipped target, the outputs, a table that agrees with them."""
    import csv

    import torch

    from interp.embedded_model import default_model, default_target
    from interp.explainers import CategoricalJacobian
    from interp.metrics import precision_table

    result = run_cli("demo", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    for method in ("categorical_jacobian", "attention_mean"):
        for ext in ("npz", "pairs.csv", "rr", "png", "precision.csv"):
            assert f"1a3a_A.{method}.{ext}" in files, (method, ext, files)
    target = default_target()
    assert len(target.sequence) == 145 and target.contacts.shape == (145, 145)
    saved = load_contacts(tmp_path / "1a3a_A.categorical_jacobian.npz")
    model, tokenizer = default_model()
    offline = CategoricalJacobian(model, tokenizer).attribute(target.sequence).contacts
    torch.testing.assert_close(saved["contacts"], offline, rtol=1e-5, atol=1e-6)
    table = precision_table(offline, target)
    with open(tmp_path / "1a3a_A.categorical_jacobian.precision.csv") as handle:
        written = {row["metric"]: float(row["precision"]) for row in csv.DictReader(handle)}
    assert written["long_P@L"] == round(table["long_P@L"], 4)
    row = next(line for line in result.stdout.splitlines() if line.startswith("long_P@L "))
    assert float(row.split()[1]) == round(table["long_P@L"], 3)
    # the shipped model learned the family's contacts: far above chance (about 0.04 for long-range pairs)
    assert table["long_P@L"] >= 0.2


def test_contacts_writes_each_record_and_reports_the_bad_one(tmp_path):
    from interp.embedded_model import default_target

    query = default_target().sequence
    fasta = tmp_path / "in.fa"
    fasta.write_text(f">1a3a/A query\n{query}\n>short\n{query[:40]}\n>bad\nMKT1AYIAK\n>empty\n")
    result = run_cli("contacts", "--fasta", str(fasta), "--out", str(tmp_path / "out"), "--method", "attention")
    assert result.returncode == 1
    assert "error in record 'bad'" in result.stderr and "'1'" in result.stderr
    assert "error in record 'empty'" in result.stderr and "is empty" in result.stderr
    assert "2 of 4 records written" in result.stdout
    assert len(list((tmp_path / "out").glob("*.attention_mean.npz"))) == 2
    assert all(p.parent == tmp_path / "out" for p in (tmp_path / "out").rglob("*"))  # '/' in ids stays inside


@requires_data
def test_contacts_with_a_local_model_folder_and_a_structure(tmp_path, data_dir):
    from interp.stand_ins import esm_model

    model, tokenizer = esm_model("tiny")
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    pdb = data_dir / "protein/1a3a_A/1a3a.pdb"
    from interp.structure import contact_map

    sequence = contact_map(pdb, chain="A").sequence
    (tmp_path / "in.fa").write_text(f">1a3a\n{sequence}\n")
    result = run_cli("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "out"),
                     "--model", str(tmp_path / "model"), "--method", "fast-jacobian", "--structure", str(pdb),
                     "--chain", "A")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "long_P@L" in result.stdout
    assert len(list((tmp_path / "out").glob("1a3a.*.precision.csv"))) == 1


def test_remote_code_stays_off_unless_asked(tmp_path):
    import json

    from interp.errors import InterpError
    from interp.loading import load_model

    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "not_a_known_type",
                                                   "auto_map": {"AutoConfig": "configuration_x.XConfig"}}))  # fmt: skip
    (folder / "configuration_x.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(InterpError, match="trust_remote_code=True"):
        load_model(str(folder))


def test_benchmark_runs_a_suite_and_writes_its_tables_where_asked(tmp_path):
    """`interp benchmark precision --out DIR`: the real suite, its JSON and markdown in DIR, a sane table."""
    import json

    result = run_cli("benchmark", "precision", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads((tmp_path / "reduced_precision.json").read_text())
    assert {"date", "commit", "cpu", "torch"} <= set(payload["machine"])
    rows = {row["dtype"]: row for row in payload["results"]}
    assert set(rows) == {"float32", "bfloat16", "float16"} and rows["float32"]["map_corr"] == pytest.approx(1.0, abs=1e-12)
    assert rows["bfloat16"]["map_corr"] > 0.99
    assert "| dtype |" in (tmp_path / "reduced_precision.md").read_text()
    unknown = run_cli("benchmark", "nonsense")
    assert unknown.returncode != 0 and "choose from" in unknown.stderr
