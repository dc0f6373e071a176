"""How the explainers scale with sequence length: time and memory from L = 32 to 1024 on an ESM-2-8M-shaped
model, and the log-log slope of each (2 for a cost quadratic in L).

    python benchmarks/scaling.py            # L = 32 ... 1024
    python benchmarks/scaling.py --quick    # L = 32 ... 256
Each length runs in a fresh process (peak memory is per process). The categorical Jacobian mutates
`--positions` residues and its full time is that rate times L (a whole L = 1024 Jacobian is hours on a
CPU); its [L, 20, L, 20] buffer and post-processing are real. With CUDA present everything runs on the
GPU and the times are absolute; on a CPU read the slopes and ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

import torch

from interp.benchmarks.common import (
    add_out_argument,
    machine,
    markdown_table,
    random_protein,
    timed,
    write_results,
)
from interp.benchmarks.speed import peak_rss_bytes
from interp.explainers import AttentionReadout, CategoricalJacobian
from interp.maps.contacts import jacobian_to_contacts
from interp.testing.stand_ins import esm_model


def child(length: int, positions: int) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tokenizer = esm_model("8M")
    model = model.to(device)
    sequence = random_protein(length, seed=1)
    baseline = peak_rss_bytes()
    readout = AttentionReadout(model, tokenizer)
    readout.attribute(sequence)
    attention_s = sorted(timed(lambda: readout.attribute(sequence))[0] for _ in range(3))[1]
    explainer = CategoricalJacobian(model, tokenizer)
    rows = list(range(0, length, max(1, length // positions)))[:positions]
    explainer.jacobian(sequence, positions=rows[:1])  # warm-up: first-call allocations out of the timing
    seconds, jac = timed(lambda: explainer.jacobian(sequence, positions=rows))
    jacobian_to_contacts(jac, inplace=True)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else peak_rss_bytes() - baseline
    return {"L": length, "device": device, "attention_s": attention_s, "jacobian_s_per_position": seconds / len(rows),
            "jacobian_s_estimated": seconds / len(rows) * length, "jacobian_peak_GB": peak / 1e9,
            "jacobian_buffer_GB": jac.numel() * 4 / 1e9}  # fmt: skip


def slope(rows: list[dict], key: str) -> float:
    """Least-squares slope of log(value) against log(L)."""
    xs = [math.log(r["L"]) for r in rows]
    ys = [math.log(max(r[key], 1e-12)) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    parser.add_argument("--positions", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    add_out_argument(parser)
    args = parser.parse_args(argv)
    out = args.out
    if args.child is not None:
        print(json.dumps(child(args.child, args.positions)))
        return
    lengths = [32, 64, 128, 256] if args.quick else args.lengths
    rows = []
    for length in lengths:
        result = subprocess.run([sys.executable, __file__, "--child", str(length), "--positions", str(args.positions)],
                                capture_output=True, text=True, check=True)  # fmt: skip
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    slopes = {key: slope(rows, key) for key in ("jacobian_s_estimated", "attention_s", "jacobian_peak_GB")}
    tail = [r for r in rows if r["L"] >= 256]  # where the L-dependent terms dominate the fixed costs
    if len(tail) >= 2:
        slopes |= {
            f"{key} (L >= 256)": slope(tail, key) for key in ("jacobian_s_estimated", "attention_s", "jacobian_peak_GB")
        }
    columns = ["L", "device", "jacobian_s_per_position", "jacobian_s_estimated", "attention_s", "jacobian_peak_GB",
               "jacobian_buffer_GB"]  # fmt: skip
    text = markdown_table(rows, columns) + "\n\nlog-log slopes (time or memory ~ L^slope): "
    text += ", ".join(f"{k} {v:.2f}" for k, v in slopes.items())
    path = write_results("scaling_quick" if args.quick else "scaling",
                         {"machine": machine(), "rows": rows, "slopes": slopes}, text, out)  # fmt: skip
    print(path.read_text())


if __name__ == "__main__":
    main()
