"""The `interp` command, run as a user runs it (the installed console script)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from helpers import requires_data

from interp.io import load_contacts


def run_cli(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("interp")
    command = [exe, *args] if exe else [sys.executable, "-m", "interp.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)


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
