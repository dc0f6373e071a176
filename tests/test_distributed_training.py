"""The contact-precision callback under sharded training: Lightning's ModelParallelStrategy (FSDP2 `fully_shard`)
on 2 CPU processes over gloo, an uneven panel of three proteins of three lengths, the attention readout and the
categorical Jacobian. Every forward of a sharded model is a collective, so a rank that runs fewer forwards than the
other hangs the job: the run has a deadline, and a hang fails the test instead of blocking it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "fsdp_contact_precision.py"
DEADLINE_S = 240  # the 2-process run takes about 20 s on a 2-core CPU


def run(out: Path, devices: int) -> tuple[dict, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out), "--devices", str(devices)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=out.parent,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher's worker ranks too
        process.communicate()
        pytest.fail(f"{devices}-process run did not finish in {DEADLINE_S} s: a rank is waiting in a collective")
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(out.read_text()), time.perf_counter() - start


def test_fsdp2_two_processes_log_what_one_process_logs(tmp_path):
    pytest.importorskip("torch.distributed.fsdp")
    one, _ = run(tmp_path / "one.json", 1)
    two, seconds = run(tmp_path / "two.json", 2)
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert set(one["metrics"]) == set(two["metrics"]) and "jacobian/long_P@L" in one["metrics"]
    for key, value in one["metrics"].items():
        assert two["metrics"][key] == pytest.approx(value, abs=1e-6), key
    assert [h["step"] for h in two["histories"]["attention/"]] == [1, 2]
    assert [h["step"] for h in two["histories"]["jacobian/"]] == [2]
    print(f"FSDP2, 2 CPU processes: {seconds:.1f} s")  # quoted in the docs (pytest -s)
