"""`interp benchmark contacts`: any model on a structure panel, every explainer's precision and cost.

Run on the embedded default model over the first proteins of the built-in panel (and small folders and TSVs of
the real crystal structures), through the same `main` the command calls.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import shutil
import sys

import pytest
import torch
from helpers import DATA, requires_data
from typer.testing import CliRunner

from interp import AttentionReadout, __version__, contact_precision
from interp.benchmarks.common import machine, machine_lines
from interp.benchmarks.contacts import main, precision_text, significant_text
from interp.cli import app
from interp.errors import InterpError
from interp.models.loading import load_model
from interp.scoring.metrics import RANGES
from interp.structures.panel import load_panel
from interp.testing.stand_ins import protbert_model

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


def naive_chance(entry, low, high):
    """True contacts among the pairs i < j with low <= j - i <= high, both resolved, written out as a loop."""
    contacts, resolved = entry.truth.contacts.tolist(), entry.truth.resolved.tolist()
    size = len(resolved)
    pairs = [(i, j) for i in range(size) for j in range(i + 1, size)
             if low <= j - i and (high is None or j - i <= high) and resolved[i] and resolved[j]]  # fmt: skip
    return sum(bool(contacts[i][j]) for i, j in pairs) / len(pairs) if pairs else math.nan


def test_the_chance_column_is_the_rate_of_true_contacts_among_candidate_pairs(tmp_path):
    payload = main([*QUICK, "--out", str(tmp_path), "--limit", "4", "--calibration", "1", "--methods", "attention-mean"])
    held_out = load_panel("builtin", limit=4)[1:]
    row = payload["summary"][0]
    for range_name, (low, high) in RANGES.items():
        expected = sum(naive_chance(entry, low, high) for entry in held_out) / len(held_out)
        assert row[f"{range_name}_chance"] == pytest.approx(expected, abs=1e-12)
        assert 0 < expected < 0.5
    assert json.loads((tmp_path / "summary.json").read_text())["summary"][0]["long_chance"] == row["long_chance"]
    markdown = (tmp_path / "summary.md").read_text()
    full = markdown.split("## All ranges", 1)[1].splitlines()  # the full table, under its own heading
    header = next(line for line in full if line.startswith("| method"))
    cells = next(line for line in full if line.startswith("| attention-mean"))
    table = dict(zip(header.strip("|").split(" | "), cells.strip("|").split(" | "), strict=True))
    assert table["long_chance"].strip() == f"{row['long_chance']:.3f}"
    assert table["long_P@L vs chance"].strip() == f"{row['long_P@L'] / row['long_chance']:.1f}x"


def test_methods_are_compared_on_the_proteins_they_share_and_the_dropped_ones_are_named(tmp_path, capsys):
    """A resumed run in which one method's result for one protein is missing and fails again: every mean is over
    the proteins both methods scored; the other method's result for it stays in per_protein.csv, named as dropped."""
    args = [*QUICK, "--out", str(tmp_path), "--limit", "4", "--calibration", "1", "--top-k", "2", "--methods",
            "attention-mean", "attention-top-k"]  # fmt: skip
    main(args)
    held_out = [entry.name for entry in load_panel("builtin", limit=4)[1:]]
    missing = held_out[1]
    progress = tmp_path / "progress.jsonl"
    lines = progress.read_text().splitlines()
    kept = [line for line in lines if (json.loads(line)["protein"], json.loads(line)["method"]) != (missing, "attention-top-k")]
    assert len(kept) == len(lines) - 1 == 5
    progress.write_text("\n".join(kept) + "\n")
    capsys.readouterr()
    progress_on = [a for a in args if a != "--no-progress"]
    payload = main([*progress_on, "--memory-limit", "1e-9"])  # only (missing, attention-top-k) is computed, and refused
    log = capsys.readouterr().err.splitlines()  # stderr is no terminal here: plain lines, one per result
    assert f"[2/3] {missing}: skipped attention-mean (kept from progress.jsonl)" in log
    assert any(line.startswith(f"[2/3] {missing} attention-top-k: failed: ") for line in log)
    assert f"[1/3] {held_out[0]}: skipped attention-mean, attention-top-k (kept from progress.jsonl)" in log
    assert [(f["protein"], f["method"]) for f in payload["failures"]] == [(missing, "attention-top-k")]
    assert payload["scored_proteins"] == 3 and payload["shared_proteins"] == 2
    summary = {row["method"]: row for row in payload["summary"]}
    assert summary["attention-mean"]["proteins"] == summary["attention-top-k"]["proteins"] == 2
    assert summary["attention-mean"]["dropped_proteins"] == [missing] and summary["attention-mean"]["dropped"] == 1
    assert summary["attention-top-k"]["dropped_proteins"] == [] and summary["attention-top-k"]["dropped"] == 0
    rows = csv_rows(tmp_path)
    assert {r["protein"] for r in rows if r["method"] == "attention-mean"} == set(held_out)  # the CSV stays complete
    for method, row in summary.items():
        shared = [float(r["precision"]) for r in rows if r["method"] == method and r["protein"] != missing
                  and r["range"] == "long" and r["k"] == "L"]  # fmt: skip
        assert len(shared) == 2 and row["long_P@L"] == pytest.approx(sum(shared) / 2)
    held = load_panel("builtin", limit=4)[1:]
    assert summary["attention-mean"]["long_chance"] == pytest.approx(
        sum(naive_chance(e, 24, None) for e in held if e.name != missing) / 2, abs=1e-12)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["shared_proteins"] == 2 and saved["summary"][0]["dropped_proteins"] == [missing]
    markdown = (tmp_path / "summary.md").read_text()
    assert "compared on: 2 proteins" in markdown and f"- attention-mean: {missing}" in markdown


def test_a_resumed_run_with_a_smaller_limit_summarises_only_its_own_proteins(tmp_path):
    args = [*QUICK, "--out", str(tmp_path), "--calibration", "1", "--methods", "attention-mean"]
    main([*args, "--limit", "5"])
    payload = main([*args, "--limit", "3"])  # nothing left to compute; two of the four results are outside this run
    held_out = [entry.name for entry in load_panel("builtin", limit=3)[1:]]
    assert len((tmp_path / "progress.jsonl").read_text().splitlines()) == 4  # kept for a later, larger run
    rows = csv_rows(tmp_path)
    assert {row["protein"] for row in rows} == set(held_out) and len(rows) == 2 * 9
    assert payload["scored_proteins"] == payload["shared_proteins"] == 2
    row = payload["summary"][0]
    assert row["proteins"] == 2 and row["dropped"] == 0
    long_l = [float(r["precision"]) for r in rows if r["range"] == "long" and r["k"] == "L"]
    assert row["long_P@L"] == pytest.approx(sum(long_l) / 2)
    assert "- scored proteins: 2 " in (tmp_path / "summary.md").read_text()


def test_summarise_skips_undefined_values_and_keeps_to_the_shared_proteins():
    """No model: hand-written records, one protein without long-range pairs (NaN precision and chance), one that
    only method a scored."""
    from interp.benchmarks.contacts import summarise

    def record(protein, method, long_precision, seconds):
        rows = [{"protein": protein, "method": method, "range": r, "k": k, "precision": long_precision if r == "long" else 0.5}
                for r in RANGES for k in ("L", "L/2", "L/5")]  # fmt: skip
        return {"protein": protein, "method": method, "seconds": seconds, "peak_memory_gb": seconds, "rows": rows}

    records = [record("p1", "a", 0.3, 1.0), record("p2", "a", math.nan, 3.0), record("p3", "a", 0.9, 100.0),
               record("p1", "b", 0.1, 2.0), record("p2", "b", math.nan, 2.0)]  # fmt: skip
    chance = {"p1": {"short": 0.1, "medium": 0.05, "long": 0.02}, "p2": {"short": 0.2, "medium": 0.1, "long": math.nan},
              "p3": {"short": 0.9, "medium": 0.9, "long": 0.9}}  # fmt: skip
    a, b = summarise(records, ["a", "b", "c"], chance)  # c scored nothing: no row, no effect on what is shared
    assert (a["method"], a["proteins"], a["dropped_proteins"], b["proteins"], b["dropped"]) == ("a", 2, ["p3"], 2, 0)
    assert a["long_P@L"] == pytest.approx(0.3) and b["long_P@L"] == pytest.approx(0.1)
    assert a["long_chance"] == b["long_chance"] == pytest.approx(0.02)
    assert a["short_chance"] == pytest.approx(0.15) and a["medium_P@L/5"] == pytest.approx(0.5)
    assert a["seconds_per_protein"] == pytest.approx(2.0) and a["peak_memory_gb"] == 3.0


def test_progress_is_a_line_per_result_in_a_log_a_bar_on_a_terminal_and_nothing_with_no_progress(tmp_path, capsys, monkeypatch):
    """stderr not a terminal (a log): one flushed line per finished (protein, method) with its seconds and long-range
    P@L, and a line for the results a resumed run keeps; a terminal: the bar alone; --no-progress: nothing."""
    args = ["--model", "default", "--panel", "builtin", "--out", str(tmp_path), "--calibration", "1", "--methods",
            "attention-mean"]  # fmt: skip
    payload = main([*args, "--limit", "3"])
    log = capsys.readouterr().err.splitlines()
    held_out = [entry.name for entry in load_panel("builtin", limit=3)[1:]]
    rows = {r["protein"]: float(r["precision"]) for r in csv_rows(tmp_path) if r["range"] == "long" and r["k"] == "L"}
    seconds = {r["protein"]: float(r["seconds"]) for r in csv_rows(tmp_path)}
    lines = [line for line in log if line.startswith("[")]
    assert lines == [f"[{i}/2] {name} attention-mean: {significant_text(seconds[name])} s, long P@L {rows[name]:.3f}"
                     for i, name in enumerate(held_out, start=1)]  # fmt: skip
    assert payload["scored_proteins"] == 2

    main([*args, "--limit", "4"])  # resumed: the first two are kept, the third computed
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert lines[:2] == [f"[{i}/3] {name}: skipped attention-mean (kept from progress.jsonl)"
                         for i, name in enumerate(held_out, start=1)]  # fmt: skip
    assert len(lines) == 3 and lines[2].startswith("[3/3] ") and " attention-mean: " in lines[2]

    main([*args, "--limit", "4", "--no-progress"])
    assert capsys.readouterr().err == ""

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a terminal: the bar, no lines
    main([*args[:5], str(tmp_path / "bar"), *args[6:], "--limit", "3"])
    err = capsys.readouterr().err
    assert "contacts: 100%" in err and "2/2" in err and "[1/2]" not in err


def test_the_summary_leads_with_a_short_table_in_uniform_formats(tmp_path):
    """summary.md: the interp version in the header, a short table first (3-decimal precisions, seconds to 3
    significant digits), every range under its own heading; --rewrite-summary writes the same file from summary.json."""
    payload = main([*QUICK, "--out", str(tmp_path), "--limit", "3", "--calibration", "1", "--methods", "attention-mean"])
    markdown = (tmp_path / "summary.md").read_text()
    assert f"- interp: {__version__}" in markdown and "commit: unknown" not in markdown
    head, full = markdown.split("## All ranges")
    table = [line for line in head.splitlines() if line.startswith("|")]
    assert table[0] == "| method | long P@L | long P@L/5 | long P@L vs chance | seconds per protein |"
    row = payload["summary"][0]
    expected = (f"| attention-mean | {row['long_P@L']:.3f} | {row['long_P@L/5']:.3f} | "
                f"{row['long_P@L'] / row['long_chance']:.1f}x | {significant_text(row['seconds_per_protein'])} |")  # fmt: skip
    assert table[2] == expected
    cells = next(line for line in full.splitlines() if line.startswith("| attention-mean")).strip("| ").split(" | ")
    assert all(re.fullmatch(r"\d\.\d{3}", cell) for cell in cells[3:7] + cells[8:16])  # every precision: 3 decimals
    (tmp_path / "summary.md").unlink()
    main(["--rewrite-summary", "--out", str(tmp_path)])
    assert (tmp_path / "summary.md").read_text() == markdown


def test_number_formats_and_the_header_without_a_known_commit():
    assert [significant_text(v) for v in (0.0121, 0.637, 5.394, 123.4, 4210.0, 0.0, math.nan)] == [
        "0.0121", "0.637", "5.39", "123", "4210", "0", "n/a"]  # fmt: skip
    assert [precision_text(v) for v in (0.0077, 0.00457, 0.0, 1.0, math.nan)] == ["0.008", "0.005", "0.000", "1.000", "n/a"]
    facts = machine()
    assert facts["interp"] == __version__ and list(facts)[:3] == ["date", "interp", "commit"]
    lines = machine_lines({**facts, "commit": None})
    assert f"- interp: {__version__}" in lines and not any(line.startswith("- commit") for line in lines)
    assert not any(line.startswith("- commit") for line in machine_lines({**facts, "commit": "unknown"}))


def tiny_esm_folder(folder, *, contact_head: bool):
    """A tiny random ESM saved as users save theirs, with or without the contact head's weights in its file."""
    from interp.testing.stand_ins import esm_model

    model, tokenizer = esm_model("tiny", seed=1)
    state = {k: v for k, v in model.state_dict().items() if contact_head or "contact_head" not in k}
    model.save_pretrained(folder, state_dict=state)
    tokenizer.save_pretrained(folder)
    return folder


def test_esm_head_runs_only_where_the_checkpoint_carries_a_contact_head(tmp_path):
    """The embedded default model (untrained head) and an ESM saved without contact_head weights (transformers
    initialises the head randomly on loading) list esm-head as not available, with the reason; an ESM whose file
    carries the head's weights runs it."""
    common = ["--panel", "builtin", "--limit", "2", "--calibration", "1", "--methods", "attention-mean", "esm-head",
              "--no-progress"]  # fmt: skip
    payload = main(["--model", "default", "--out", str(tmp_path / "default"), *common])
    assert "untrained" in payload["unavailable"]["esm-head"] and "default model" in payload["unavailable"]["esm-head"]
    assert [row["method"] for row in payload["summary"]] == ["attention-mean"]
    assert "- esm-head: the embedded default model" in (tmp_path / "default" / "summary.md").read_text()

    without = tiny_esm_folder(tmp_path / "without", contact_head=False)
    payload = main(["--model", str(without), "--out", str(tmp_path / "out-without"), *common])
    assert "carries no contact_head weights" in payload["unavailable"]["esm-head"]
    assert [row["method"] for row in payload["summary"]] == ["attention-mean"]

    with_head = tiny_esm_folder(tmp_path / "with", contact_head=True)
    payload = main(["--model", str(with_head), "--out", str(tmp_path / "out-with"), *common])
    assert payload["unavailable"] == {} and [row["method"] for row in payload["summary"]] == ["attention-mean", "esm-head"]


def test_a_hub_checkpoint_is_read_from_the_local_cache(tmp_path, monkeypatch):
    """A Hub name: the weight files' tensor names come from the Hugging Face cache, without a download."""
    import huggingface_hub.constants
    from safetensors.torch import save_file

    from interp.benchmarks.contact_methods import checkpoint_keys

    snapshot = tmp_path / "models--someone--tiny-esm" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (tmp_path / "models--someone--tiny-esm" / "refs").mkdir()
    (tmp_path / "models--someone--tiny-esm" / "refs" / "main").write_text("abc123")
    save_file({"esm.contact_head.regression.weight": torch.zeros(1, 4)}, str(snapshot / "model.safetensors"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert checkpoint_keys("someone/tiny-esm") == {"esm.contact_head.regression.weight"}
    assert checkpoint_keys("someone/not-cached") is None


def test_per_layer_results_are_the_mean_precision_of_each_layers_map_over_the_shared_proteins(tmp_path):
    """`--per-layer`: per method and layer, the mean over the held-out proteins of that layer's precision, computed
    here from the explainer's own per-layer maps; a resumed run without per-layer rows computes them."""
    from interp.scoring.metrics import nanmean_precision, precision_matrix

    args = [*QUICK, "--out", str(tmp_path), "--limit", "4", "--calibration", "1",
            "--methods", "attention-mean", "fast-jacobian", "gradient"]  # fmt: skip
    main(args)  # first without per-layer rows: the per-layer run must compute them again
    payload = main([*args, "--per-layer"])
    assert set(payload["layers"]) == {"attention-mean", "fast-jacobian"}  # the gradient gives no layers
    model, tokenizer = load_model("default")
    panel = load_panel("builtin", limit=4)[1:]
    maps = [AttentionReadout(model, tokenizer, per_layer=True).attribute(e.sequence).layer_contacts for e in panel]
    values = torch.stack([
        torch.stack([precision_matrix(layer, e.truth.contacts, resolved=e.truth.resolved) for layer in m])
        for m, e in zip(maps, panel, strict=True)
    ])  # fmt: skip
    expected = nanmean_precision(values)  # [layers, ranges, ks]
    rows = payload["layers"]["attention-mean"]
    assert len(rows) == expected.shape[0] and rows[0]["proteins"] == 3
    for n, row in enumerate(rows):
        for r, range_name in enumerate(RANGES):
            assert row[f"{range_name}_P@L"] == pytest.approx(expected[n, r, 0].item(), abs=1e-12, nan_ok=True)
    with open(tmp_path / "per_layer.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert {row["method"] for row in written} == {"attention-mean", "fast-jacobian"}
    assert "## Per layer" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "per_layer_fast-jacobian.png").stat().st_size > 1000
