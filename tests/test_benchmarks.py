"""The benchmark scripts' building blocks on tiny inputs: they run, and what they report is consistent.
(Timings themselves are never asserted; the suites are run and quoted in docs/benchmarks.md.)"""

from __future__ import annotations

import math

from interp.benchmarks.common import markdown_table, random_protein
from interp.benchmarks.scaling import slope
from interp.benchmarks.speed import batch_sweep, deviation, reference_jacobian
from interp.explainers import CategoricalJacobian
from interp.maps.contacts import jacobian_to_contacts
from interp.testing.stand_ins import esm_model


def test_reference_loop_and_explainer_agree_and_the_batch_sweep_runs():
    model, tokenizer = esm_model("tiny", seed=5)
    sequence = random_protein(12, seed=3)
    ours = CategoricalJacobian(model, tokenizer).attribute(sequence).contacts
    reference = jacobian_to_contacts(reference_jacobian(model, tokenizer, sequence))
    measured = deviation(ours, reference)
    assert measured["max_rel_diff"] < 1e-5 and measured["corr"] > 0.99999 and measured["topL_overlap"] == 1.0
    sweep = batch_sweep(model, tokenizer, sequence, sizes=(3, 40))  # the GPU mode's table, run on the CPU
    assert set(sweep) == {3, 40} and all(seconds > 0 for seconds in sweep.values())


def test_slope_recovers_a_known_power_law_and_tables_render():
    rows = [{"L": n, "t": 3.0 * n**2.0} for n in (32, 64, 128, 256)]
    assert math.isclose(slope(rows, "t"), 2.0, rel_tol=1e-9)
    table = markdown_table(rows, ["L", "t"])
    assert table.splitlines()[0] == "| L | t |" and len(table.splitlines()) == 6


def test_docs_family_table_is_the_one_generated_from_the_conformance_runs():
    """The family table of docs/families.md is benchmarks/family_table.py's output on the committed conformance records."""
    from pathlib import Path

    from interp.benchmarks.family_table import load, table

    root = Path(__file__).resolve().parents[1]
    results = root / "docs" / "results"
    files = ["conformance_tf5.json", "conformance_tf4.json", "conformance_esm.json"]
    markdown, counts = table(load([results / name for name in files]))
    assert counts["failing"] == 0 and counts["verified"] > 0
    assert markdown in (root / "docs" / "families.md").read_text()


def test_benchmarks_import_without_test_extras_and_plots_leave_pyplot_alone(tmp_path):
    """interp.benchmarks imports no test-only extra (hypothesis, pytest) at import time, and drawing a contact map
    leaves the user's matplotlib backend as it was (here svg, chosen by MPLBACKEND)."""
    import subprocess
    import sys

    code = """
import builtins, sys
real = builtins.__import__
def guard(name, *args, **kwargs):
    if name.split('.')[0] in ('hypothesis', 'pytest'):
        raise ImportError('a test extra imported at import time: ' + name)
    return real(name, *args, **kwargs)
builtins.__import__ = guard
import importlib, pkgutil, interp.benchmarks
for module in pkgutil.iter_modules(interp.benchmarks.__path__):
    importlib.import_module('interp.benchmarks.' + module.name)
builtins.__import__ = real
import tempfile, matplotlib, torch, interp
from interp.files.outputs import write_prediction_files
pred = interp.ContactPrediction('MKTAYIAKQR', 'test', torch.rand(10, 10))
pred.plot()
write_prediction_files(pred, tempfile.mkdtemp())
assert matplotlib.get_backend().lower() == 'svg', matplotlib.get_backend()
print('ok')
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"MPLBACKEND": "svg", "PATH": ""})  # from elsewhere: the installed package, as CI has it
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def test_antibody_table_reads_each_run_and_states_precision_against_chance(tmp_path):
    import json

    from interp.benchmarks.antibody_table import table

    run = tmp_path / "contacts_sapiens_light"
    run.mkdir()
    row = {"method": "jacobian", "proteins": 7, "seconds_per_protein": 2.5}
    for range_name, (precision, chance) in {"long": (0.14, 0.04), "medium": (0.07, 0.07), "short": (math.nan, 0.1)}.items():
        row[f"{range_name}_P@L"], row[f"{range_name}_chance"] = precision, chance
    (run / "summary.json").write_text(json.dumps({"panel": "antibody-light", "summary": [row]}))
    text = table(tmp_path)
    assert "| sapiens-light | antibody-light (7) | jacobian | 0.140 | 0.040 | 3.5x | 0.070 | 0.070 | 1.0x | n/a | 0.100 | n/a | 2.50 |" in text
    assert "Not run: antiberty (contacts_antiberty/summary.json not found), sapiens-heavy" in text


def test_docs_antibody_results_are_the_ones_generated_from_the_committed_runs():
    from pathlib import Path

    from interp.benchmarks.antibody_table import END, START, table

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "benchmarks.md").read_text()
    assert page.split(START, 1)[1].split(END, 1)[0].strip() == table(root / "docs" / "results").strip()


def test_the_readout_rows_time_every_variant_against_its_own_plain_sweep():
    from interp.benchmarks.speed import READOUT_VARIANTS, readout_rows

    model, tokenizer = esm_model("tiny", seed=5)
    rows = readout_rows(model, tokenizer, 10, 1, lambda message: None)
    assert [row["variant"] for row in rows] == list(READOUT_VARIANTS)
    seconds = {row["variant"]: row["seconds"] for row in rows}
    for row in rows:  # fast variants against the plain fast sweep, the rest against the plain Jacobian
        base = seconds["fast" if row["variant"].startswith("fast") else "plain"]
        assert math.isclose(row["overhead_pct"], 100 * (row["seconds"] / base - 1))


def test_the_callback_benchmark_runs_a_callback_with_per_layer_logging():
    import argparse

    import torch

    from interp.benchmarks.callback_overhead import run

    panel = [(random_protein(20, seed=1), torch.rand(20, 20) < 0.1)]
    args = argparse.Namespace(length=16, batch_size=2, shape="tiny", steps=2, every=1, accelerator="cpu")
    result = run(panel, args, "attention+layers")
    assert result["explainer"] == "attention+layers" and result["evaluations"] == 2
