"""`interp benchmark contacts`: any model on a structure panel, every explainer's precision and cost.

Run on the embedded default model over the first proteins of the built-in panel (and small folders and TSVs of
the real crystal structures), through the same `main` the command calls.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import shutil

import pytest
import torch
from helpers import DATA, requires_data
from typer.testing import CliRunner

from interp import AttentionReadout, contact_precision
from interp.benchmarks.contacts import main
from interp.cli import app
from interp.errors import InterpError
from interp.loading import load_model
from interp.metrics import RANGES
from interp.panel import load_panel
from interp.stand_ins import protbert_model

QUICK = ["--model", "default", "--panel", "builtin", "--no-progress"]


def csv_rows(folder):
    with open(folder / "per_protein.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_numbers_are_contact_precision_of_the_maps_and_calibration_proteins_are_never_scored(tmp_path):
    payload = main([*QUICK, "--out", str(tmp_path), "--limit", "5", "--calibration", "2", "--top-k", "2",
                    "--methods", "attention-mean", "attention-top-k", "attention-logistic"])  # fmt: skip
    panel = load_panel("builtin", limit=5)
    calibration, held_out = [e.name for e in panel[:2]], [e.name for e in panel[2:]]
    rows = csv_rows(tmp_path)
    assert payload["calibration"] == calibration and payload["scored_proteins"] == 3
    assert {row["protein"] for row in rows} == set(held_out)  # calibration proteins appear in no score
    assert len(rows) == 3 * 3 * 9  # proteins x methods x (3 ranges x 3 ks)
    model, tokenizer = load_model("default")
    entry = panel[3]
    contacts = AttentionReadout(model, tokenizer).attribute(entry.sequence).contacts
    mine = {(row["range"], row["k"]): row for row in rows if row["protein"] == entry.name and row["method"] == "attention-mean"}
    for range_name, (low, high) in RANGES.items():
        for k in ("L", "L/2", "L/5"):
            expected = contact_precision(contacts, entry.truth.contacts, resolved=entry.truth.resolved, k=k,
                                         min_separation=low, max_separation=high)  # fmt: skip
            written = float(mine[(range_name, k)]["precision"])
            assert (math.isnan(expected) and math.isnan(written)) or written == pytest.approx(expected, abs=1e-12)
    summary = {row["method"]: row for row in payload["summary"]}
    held_out_means = [float(r["precision"]) for r in rows
                      if r["method"] == "attention-mean" and r["range"] == "long" and r["k"] == "L"]  # fmt: skip
    assert summary["attention-mean"]["long_P@L"] == pytest.approx(sum(held_out_means) / len(held_out_means))
    fitted = json.loads((tmp_path / "combiners" / "attention-top-k.json").read_text())
    assert fitted["kind"] == "top_k" and len(fitted["heads"]) == 2
    for name in ("summary.json", "summary.md", "precision_vs_cost.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "attention-top-k" in (tmp_path / "summary.md").read_text()


def test_a_resumed_run_computes_and_writes_nothing_twice(tmp_path):
    args = [*QUICK, "--out", str(tmp_path), "--calibration", "1", "--methods", "attention-mean", "fast-jacobian"]
    main([*args, "--limit", "3"])
    first = (tmp_path / "progress.jsonl").read_text().splitlines()
    assert len(first) == 2 * 2
    with open(tmp_path / "progress.jsonl", "a") as handle:  # a run killed while writing its next line
        handle.write('{"protein": "torn')
    main([*args, "--limit", "5"])
    lines = (tmp_path / "progress.jsonl").read_text().splitlines()
    assert lines[: len(first)] == first  # finished results kept as they were, not recomputed
    records = [json.loads(line) for line in lines if line.startswith('{"protein": "') and line.endswith("}")]
    keys = [(r["protein"], r["method"]) for r in records]
    assert len(keys) == len(set(keys)) == 4 * 2
    rows = csv_rows(tmp_path)
    assert len(rows) == len({(r["protein"], r["method"], r["range"], r["k"]) for r in rows}) == 4 * 2 * 9
    with pytest.raises(Exception, match="another run"):  # a different split refuses to mix into these results
        main([*args, "--limit", "5", "--calibration", "2"])


@requires_data
def test_a_bad_structure_and_a_failing_protein_are_reported_by_name_and_the_rest_go_on(tmp_path):
    structures = tmp_path / "structures"
    structures.mkdir()
    for name in sorted(p.name for p in (DATA / "structures").glob("*.pdb.gz"))[:3]:
        shutil.copy(DATA / "structures" / name, structures / name)
    (structures / "broken.pdb").write_bytes(b"ATOM  garbage\x00\x01")
    out = tmp_path / "out"
    payload = main(["--model", "default", "--panel", str(structures), "--out", str(out), "--calibration", "0",
                    "--methods", "attention-mean", "--no-progress"])  # fmt: skip
    assert [f["source"] for f in payload["panel_failures"]] == ["broken.pdb"]
    assert payload["scored_proteins"] == 3

    # a TSV panel: the panel's shortest chain, and the same chain with 100 residues added at its end; under a
    # 2 MB memory limit the guard refuses the longer one's Jacobian (a typed InsufficientMemoryError before any
    # forward), reported by name, and the rest go on
    entry = min(load_panel("builtin"), key=lambda e: len(e.sequence))
    pdb_id = entry.name.rsplit("_", 1)[0]
    with gzip.open(DATA / "structures" / f"{pdb_id}.pdb.gz", "rt") as handle:
        (tmp_path / "one.pdb").write_text(handle.read())
    longer = entry.sequence + ("GSAKLEVDTQRW" * 9)[:100]
    chain = entry.truth.chain
    (tmp_path / "panel.tsv").write_text(
        f"name\tsequence\tstructure\tchain\ngood\t{entry.sequence}\tone.pdb\t{chain}\nlonger\t{longer}\tone.pdb\t{chain}\n"
    )
    payload = main(["--model", "default", "--panel", str(tmp_path / "panel.tsv"), "--out", str(tmp_path / "tsv"),
                    "--calibration", "0", "--methods", "fast-jacobian", "--memory-limit", "0.002", "--no-progress"])  # fmt: skip
    assert [(f["protein"], f["method"]) for f in payload["failures"]] == [("longer", "fast-jacobian")]
    assert "needs about" in payload["failures"][0]["error"] and payload["scored_proteins"] == 1
    assert "longer (fast-jacobian)" in (tmp_path / "tsv" / "summary.md").read_text()


def test_your_own_model_from_a_folder_and_methods_it_cannot_run(tmp_path):
    """A model saved to a folder (a ProtBert-architecture stand-in): loaded as users load theirs; `esm-head` is
    reported as not available (a BERT carries no contact head) and the other methods go on."""
    model, tokenizer = protbert_model()
    model.save_pretrained(tmp_path / "my-model")
    tokenizer.save_pretrained(tmp_path / "my-model")
    payload = main(["--model", str(tmp_path / "my-model"), "--panel", "builtin", "--out", str(tmp_path / "out"),
                    "--limit", "2", "--calibration", "1", "--methods", "attention-mean", "esm-head", "--no-progress"])  # fmt: skip
    assert "contact head" in payload["unavailable"]["esm-head"]
    assert [row["method"] for row in payload["summary"]] == ["attention-mean"]
    assert "esm-head" in (tmp_path / "out" / "summary.md").read_text()


def test_the_command_passes_its_options_to_the_suite(tmp_path):
    result = CliRunner().invoke(app, ["benchmark", "contacts", "--out", str(tmp_path), "--limit", "2",
                                      "--calibration", "1", "--methods", "attention-mean", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "attention-mean" in (tmp_path / "summary.md").read_text()
    assert torch.isfinite(torch.tensor(float(csv_rows(tmp_path)[0]["seconds"])))
    refused = CliRunner().invoke(app, ["benchmark", "contacts", "--out", str(tmp_path / "no"), "--methods", "nope"])
    assert refused.exit_code == 2 and "unknown method(s) ['nope']" in refused.output  # a typed error, no traceback


def test_a_run_that_scores_nothing_says_why_and_fails(tmp_path):
    """No method can run on this model (a BERT has no contact head): an error with the reason, not an empty table."""
    model, tokenizer = protbert_model()
    model.save_pretrained(tmp_path / "my-model")
    tokenizer.save_pretrained(tmp_path / "my-model")
    args = ["--model", str(tmp_path / "my-model"), "--panel", "builtin", "--out", str(tmp_path / "out"), "--limit",
            "2", "--calibration", "1", "--methods", "esm-head", "--no-progress"]  # fmt: skip
    with pytest.raises(InterpError, match=r"no protein was scored by any method; esm-head: not available: .*contact head"):
        main(args)
    result = CliRunner().invoke(app, ["benchmark", "contacts", *args[:-1]])
    assert result.exit_code == 2 and "no protein was scored" in result.output
