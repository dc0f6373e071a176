"""The `interp` command, run as a user runs it (the installed console script)."""

from __future__ import annotations

import pytest
from helpers import requires_data, run_cli

from interp.files.io import load_contacts


@requires_data
def test_score_reproduces_published_dncon2(data_dir):
    result = run_cli(
        "score", str(data_dir / "published/DNCON2_T0866.dncon2.rr"), str(data_dir / "protein/T0866-D1/T0866-D1.pdb")
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert lines["long_P@L/5"] == "0.905" and lines["long_P@L"] == "0.779"  # three decimals, as `interp demo`


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    """`interp demo` once (its printed table and its files), shared by the tests that read them back."""
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


@requires_data
def test_contact_map_writes_npz_and_errors_are_reported(data_dir, tmp_path):
    out = tmp_path / "map.npz"
    result = run_cli("contact-map", str(data_dir / "protein/1a3a_A/1a3a.pdb"), "--chain", "A", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert load_contacts(out)["contacts"].shape == (145, 145)
    bad = run_cli("contact-map", str(data_dir / "protein/1a3a_A/1a3a.pdb"), "--chain", "Z", "--out", str(out))
    assert bad.returncode == 2 and "chain 'Z' not found" in bad.stderr


def test_demo_runs_offline_on_the_embedded_model_and_writes_every_output(demo_outputs):
    """`interp demo`: the shipped model, its shipped target, the outputs, a table that agrees with them."""
    import csv

    import torch

    from interp.explainers import CategoricalJacobian
    from interp.models.embedded_model import default_model, default_target
    from interp.scoring.metrics import precision_table

    tmp_path, stdout = demo_outputs
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
    row = next(line for line in stdout.splitlines() if line.startswith("long_P@L "))
    assert float(row.split()[1]) == round(table["long_P@L"], 3)
    # the shipped model learned the family's contacts: far above chance (about 0.04 for long-range pairs)
    assert table["long_P@L"] >= 0.2


def test_contacts_writes_each_record_and_reports_the_bad_one(tmp_path):
    from interp.models.embedded_model import default_target

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
    from interp.testing.stand_ins import esm_model

    model, tokenizer = esm_model("tiny")
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    pdb = data_dir / "protein/1a3a_A/1a3a.pdb"
    from interp.structures.structure import contact_map

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
    from interp.models.loading import load_model

    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "not_a_known_type",
                                                   "auto_map": {"AutoConfig": "configuration_x.XConfig"}}))  # fmt: skip
    (folder / "configuration_x.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(InterpError, match="trust_remote_code=True"):
        load_model(str(folder))


def test_benchmark_runs_a_suite_and_writes_its_tables_where_asked(tmp_path):
    """`interp benchmark startup --quick --out DIR`: the real suite (the quickest), its JSON and markdown in DIR."""
    import json

    result = run_cli("benchmark", "startup", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads((tmp_path / "startup.json").read_text())
    assert {"date", "commit", "cpu", "torch", "interp"} <= set(payload["machine"])
    assert len(payload["results"]) == 3 and all(row["median_seconds"] > 0 for row in payload["results"])
    assert all(row["heavy_modules_loaded"] == "none" for row in payload["results"])  # help without torch
    assert "| case |" in (tmp_path / "startup.md").read_text()
    unknown = run_cli("benchmark", "nonsense")
    assert unknown.returncode != 0 and "choose from" in unknown.stderr


# ---- issue 22: what a user sees ---------------------------------------------------------------------------------

HEAVY = ("torch", "transformers", "biotite", "torchmetrics")


def _invoke(*args: str):
    """The `interp` command in this process (typer's runner): the same code path, without the start-up cost."""
    from typer.testing import CliRunner

    from interp.cli import app

    return CliRunner().invoke(app, list(args))


def _printed_table(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in stdout.splitlines() if "_P@" in line.split(" ")[0]}


@requires_data
@pytest.mark.parametrize("method", ["categorical_jacobian", "attention_mean"])
def test_every_output_format_scores_as_the_demo_printed(demo_outputs, data_dir, method):
    """Re-scoring interp's own .npz, pairs CSV and RR file gives the numbers `interp demo` printed, every cell."""
    from interp.models.embedded_model import default_target

    out, stdout = demo_outputs
    column = 1 if method == "categorical_jacobian" else 2
    printed = {line.split()[0]: line.split()[column] for line in stdout.splitlines() if "_P@" in line}
    assert len(printed) == 9
    structure = str(data_dir / "protein/1a3a_A/1a3a.pdb")
    for extension in ("npz", "pairs.csv", "rr"):
        extra = ["--sequence", default_target().sequence] if extension == "pairs.csv" else []
        result = _invoke("score", str(out / f"1a3a_A.{method}.{extension}"), "--structure", structure, "--chain", "A",
                         *extra)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert _printed_table(result.output) == printed, extension


def test_pairs_csv_says_its_numbering_and_matches_the_npz(demo_outputs):
    import csv

    out, _ = demo_outputs
    with open(out / "1a3a_A.categorical_jacobian.pairs.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["i_1based", "j_1based", "score", "separation", "in_contact"]
    contacts = load_contacts(out / "1a3a_A.categorical_jacobian.npz")["contacts"]
    i, j = int(rows[0]["i_1based"]) - 1, int(rows[0]["j_1based"]) - 1
    best = contacts.triu(6).argmax()
    assert (i, j) == divmod(int(best), contacts.shape[0])
    # enough pairs for P@L of every range: at least L of each (145 residues, all resolved in 1a3a's query)
    for low, high in ((6, 11), (12, 23), (24, 10**6)):
        assert sum(low <= int(r["separation"]) <= high for r in rows) >= 145


@requires_data
def test_a_foreign_rr_too_short_for_a_range_says_so(demo_outputs, data_dir, tmp_path):
    out, _ = demo_outputs
    lines = (out / "1a3a_A.categorical_jacobian.rr").read_text().splitlines()
    header = [line for line in lines if not line[0].isdigit()]
    short = tmp_path / "short.rr"
    short.write_text("\n".join(header[:-1] + [line for line in lines if line[0].isdigit()][:40] + ["END"]) + "\n")
    result = _invoke("score", str(short), str(data_dir / "protein/1a3a_A/1a3a.pdb"), "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 0, result.output
    assert "long_P@L " in result.output and "n/a" in result.output and "P@L needs 145" in result.output
    table = (tmp_path / "s.csv").read_text().splitlines()
    assert table[0] == "metric,precision,note" and any(row.startswith("long_P@L,,the file lists") for row in table)
    both = _invoke("score", str(short), str(data_dir / "protein/1a3a_A/1a3a.pdb"), "--structure", "x.pdb")
    assert both.exit_code == 2 and "give the structure once" in both.output


@requires_data
def test_a_structure_with_nothing_to_score_is_an_error_not_nan(demo_outputs, data_dir, tmp_path):
    lines = (data_dir / "protein/1a3a_A/1a3a.pdb").read_text().splitlines()
    atoms = [line for line in lines if line.startswith("ATOM") and line[21] == "A" and int(line[22:26]) <= 4]
    (tmp_path / "four.pdb").write_text("\n".join([*atoms, "TER", "END"]) + "\n")
    out, _ = demo_outputs
    result = _invoke("score", str(out / "1a3a_A.attention_mean.npz"), str(tmp_path / "four.pdb"))
    assert result.exit_code == 2 and "no pair of resolved residues in any range" in result.output
    assert "nan" not in result.output


def test_help_and_argument_errors_do_not_load_torch():
    """`interp --help`, a command's help and a bad method answer without torch, transformers or biotite."""
    import subprocess
    import sys

    probe = (
        "import sys\nfrom interp.cli import app\n"
        "for args in (['--help'], ['contacts', '--help'], ['contacts', '--fasta', 'x.fa', '--out', 'o', "
        "'--method', 'nonsense']):\n"
        "    try:\n        app(args)\n    except SystemExit as exit:\n        print('exit', exit.code)\n"
        f"print('loaded', [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    codes = [line for line in result.stdout.splitlines() if line.startswith("exit ")]
    assert codes == ["exit 0", "exit 0", "exit 2"], result.stdout + result.stderr
    assert "loaded []" in result.stdout
    assert "unknown method 'nonsense'" in result.stderr


def test_benchmark_help_prints_the_suites_own_options():
    result = _invoke("benchmark", "contacts", "--help")
    assert result.exit_code == 0, result.output
    for option in ("--panel", "--calibration", "--methods", "--no-progress"):
        assert option in result.output
    general = _invoke("benchmark", "--help")
    assert general.exit_code == 0 and "--quick" in general.output and "SUITE --help" in general.output


def test_missing_fasta_is_one_error_line(tmp_path):
    result = run_cli("contacts", "--fasta", str(tmp_path / "missing.fa"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'missing.fa'}: no such file or directory"


def test_the_method_is_checked_before_the_model_is_loaded(tmp_path):
    (tmp_path / "in.fa").write_text(">a\nMKTAYIAK\n")
    result = _invoke("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "o"),
                     "--model", str(tmp_path / "no-such-model"), "--method", "nonsense")  # fmt: skip
    assert result.exit_code == 2 and "unknown method 'nonsense'" in result.output
    assert "no-such-model" not in result.output


def test_an_explainer_refused_by_the_model_is_one_error_line(tmp_path):
    from interp.testing.stand_ins import bpe_protein_model

    model, tokenizer = bpe_protein_model()
    model.save_pretrained(tmp_path / "bpe")
    tokenizer.save_pretrained(tmp_path / "bpe")
    (tmp_path / "in.fa").write_text(">a\nMKTAYIAKQRQISFVKSHFSRQ\n")
    result = run_cli("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "o"),
                     "--model", str(tmp_path / "bpe"), "--method", "jacobian")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and result.stderr.startswith("error: ")
    assert "only AttentionReadout" in result.stderr  # the adapter's reason
    assert not (tmp_path / "o").exists()


def test_lower_case_stop_codons_unknown_letters_and_long_sequences(tmp_path):
    """Lower case is read as upper case and a trailing '*' dropped (each said once); --unknown mask masks X;
    a record longer than the model is computed in windows, said once in words, not as a raw UserWarning."""
    from interp.models.embedded_model import default_target

    query = default_target().sequence
    fasta = tmp_path / "in.fa"
    fasta.write_text(f">low one\n{query[:60].lower()}\n>low two\n{query[60:120].lower()}*\n"
                     f">x\n{query[:30]}X{query[31:70]}\n>long\n{query}{query[:60]}\n")  # fmt: skip
    refused = _invoke("contacts", "--fasta", str(fasta), "--out", str(tmp_path / "o1"), "--method", "attention")
    assert refused.exit_code == 1 and "error in record 'x'" in refused.output and "--unknown mask" in refused.output
    assert "unknown='mask'" not in refused.output
    result = run_cli("contacts", "--fasta", str(fasta), "--out", str(tmp_path / "o2"), "--method", "attention",
                     "--unknown", "mask")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("lower-case letters, read as upper case") == 1
    assert result.stderr.count("stop codon") == 1
    assert "note: " in result.stderr and "windows" in result.stderr and "UserWarning" not in result.stderr
    names = sorted(p.name for p in (tmp_path / "o2").glob("*.npz"))
    assert names == ["long.attention_mean.npz", "low-2.attention_mean.npz", "low.attention_mean.npz",
                     "x.attention_mean.npz"]  # fmt: skip
    assert load_contacts(tmp_path / "o2" / "low-2.attention_mean.npz")["sequence"] == query[60:120]


def test_weights_dtype_and_autocast_are_two_options(tmp_path):
    (tmp_path / "in.fa").write_text(">a\nMKTAYIAKQRQISFVKSHFSRQ\n")
    bad = _invoke("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "o"), "--autocast", "float32")
    assert bad.exit_code == 2 and "--autocast 'float32'" in bad.output
    result = _invoke("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "o"),
                     "--method", "attention", "--dtype", "bfloat16")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_an_unreachable_hub_fails_at_once_with_the_local_folder_advice(tmp_path):
    """No network and HF_HUB_OFFLINE unset: one try, not five retries 8 s apart, then how to use a folder."""
    import os
    import time

    (tmp_path / "in.fa").write_text(">a\nMKTAYIAK\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: refused at once, on any machine
    start = time.perf_counter()
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "interp.cli", "contacts", "--fasta", str(tmp_path / "in.fa"),
                             "--out", str(tmp_path / "o"), "--model", "someone/not-cached-model"],
                            capture_output=True, text=True, env=env, check=False, timeout=120)  # fmt: skip
    assert time.perf_counter() - start < 40  # huggingface_hub's own retries alone take 40 s
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: someone/not-cached-model: not a local folder")
    assert "cannot be reached" in result.stderr and "--model MODEL_DIR" in result.stderr
    offline = _invoke("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "o"),
                      "--model", "someone/not-cached-model")  # fmt: skip  (this process: offline, as tests are)
    assert offline.exit_code == 2 and "offline mode is on" in offline.output and "--model MODEL_DIR" in offline.output
