"""Speed and memory of the explainers on an ESM-2-8M-shaped model (random weights), ratios side by side.

Per length L: the reference-style categorical Jacobian (one forward of one position's 20 mutants at a time,
fp32, written here), the pure-forward ceiling (the same 20L sequences through the model at the batch size
the explainer uses, nothing else), our exact fp32 path (eager and torch.compile), our bf16 path (autocast,
eager and compiled), the attention readout and the gradient Jacobian. Peak memory at L = 1024 runs in a
child process. GPU mode: with CUDA present everything runs on the GPU, the times are absolute, the exact
path is also timed at several batch sizes (batching is the GPU's win) and memory is CUDA's peak.
`--per-layer`: what the sweep's readouts cost (per-layer maps, mutation effects) against the plain Jacobian,
the variants timed in turn at one batch size, best of `--repeats`.
Usage: python benchmarks/speed.py [--lengths 64 128 256] [--quick] [--device cpu|cuda] [--per-layer]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import resource
import subprocess
import sys
from typing import Any

import torch

from interp.benchmarks.common import (
    add_out_argument,
    machine,
    markdown_table,
    random_protein,
    timed,
    write_results,
)
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian
from interp.explainers.categorical import auto_batch_size
from interp.maps.contacts import jacobian_to_contacts, top_pairs
from interp.testing.stand_ins import STAND_INS, esm_model


def family_rows(length: int = 64) -> list[dict]:
    """Jacobian seconds per residue for each adapter family on a tiny config (2 layers, 64 wide)."""
    from interp.adapters import get_adapter
    from interp.explainers import RepresentationJacobian

    rows = []
    for name, stand_in in STAND_INS.items():
        if stand_in.needs == "rna" and importlib.util.find_spec("multimolecule") is None:
            continue
        build, kind = stand_in.build, stand_in.kind
        model, tokenizer = build()
        adapter = get_adapter(model, tokenizer)
        letters = {"protein": "ACDEFGHIKLMNPQRSTVWY", "dna": "ACGT", "rna": "ACGU", "glm2": "ACDEFGHIKLMNPQRSTVWY"}[
            kind
        ]
        sequence = "".join(letters[(7 * i + 3) % len(letters)] for i in range(length))
        if kind == "glm2":  # half protein, half nucleotides, each element opened by its strand token
            sequence = "<+>" + sequence[: length // 2] + "<->" + "".join("acgt"[i % 4] for i in range(length // 2))
        explainer_cls = CategoricalJacobian if adapter.has_lm_head else RepresentationJacobian
        explainer = explainer_cls(adapter)
        explainer.attribute(sequence if kind == "glm2" else sequence[:8])  # warm-up
        seconds, _ = timed(functools.partial(explainer.attribute, sequence))
        rows.append({
            "family": name, "adapter": type(adapter).__name__, "causal": adapter.causal,
            "alphabet": len(adapter.alphabet), "L": length, "seconds": seconds,
            "ms_per_residue": 1000 * seconds / length,
        })  # fmt: skip
    return rows


READOUT_VARIANTS: dict[str, dict[str, Any]] = {  # name: CategoricalJacobian options
    "plain": {},
    "per_layer": {"per_layer": True},
    "effects": {"effects": True},
    "per_layer+effects": {"per_layer": True, "effects": True},
    "fast": {"fast": True},
    "fast+per_layer+effects": {"fast": True, "per_layer": True, "effects": True},
}


def readout_rows(model, tokenizer, length: int, repeats: int, log) -> list[dict]:
    """Seconds of the Jacobian with and without each readout of its sweep, at one batch size, the variants
    timed in turn (so drifts of the machine hit each alike), best of `repeats`; overhead against plain
    (fast variants: against plain fast)."""
    sequence = random_protein(length, seed=length)
    batch = auto_batch_size(CategoricalJacobian(model, tokenizer).adapter, length + 2, every_layer=True)
    explainers = {name: CategoricalJacobian(model, tokenizer, batch_size=batch, **options)
                  for name, options in READOUT_VARIANTS.items()}  # fmt: skip
    cuda = next(model.parameters()).device.type == "cuda"
    for explainer in explainers.values():  # warm-up at this shape
        explainer.jacobian(sequence, positions=[0])
    best: dict[str, float] = {}
    peak: dict[str, float] = {}
    for repeat in range(repeats):
        for name, explainer in explainers.items():
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            seconds, _ = timed(functools.partial(explainer.attribute, sequence))
            best[name] = min(best.get(name, seconds), seconds)
            if cuda:
                peak[name] = torch.cuda.max_memory_allocated() / 1e9
            log(f"L={length} repeat {repeat + 1}: {name} {seconds:.2f}s")
    rows = []
    for name, seconds in best.items():
        base = best["fast" if name.startswith("fast") else "plain"]
        rows.append({"L": length, "batch": batch, "variant": name, "seconds": seconds,
                     "overhead_pct": 100 * (seconds / base - 1), **({"cuda_peak_GB": peak[name]} if cuda else {})})  # fmt: skip
    return rows


def readout_main(args, log) -> None:
    """The --per-layer mode: the readouts' overhead table."""
    model, tokenizer = esm_model("8M")
    model = model.to(args.device)
    lengths = args.lengths if args.lengths != [64, 128, 256] else [256]
    rows = [row for length in lengths for row in readout_rows(model, tokenizer, length, args.repeats, log)]
    columns = ["L", "batch", "variant", "seconds", "overhead_pct", *(["cuda_peak_GB"] if args.device == "cuda" else [])]
    payload = {"machine": machine(), "device": args.device, "model": "ESM-2 8M shape, random weights",
               "repeats": args.repeats, "rows": rows}  # fmt: skip
    text = ("Overhead of the sweep's readouts against the plain categorical Jacobian (fast variants: against "
            f"the plain fast Jacobian), best of {args.repeats}:\n\n" + markdown_table(rows, columns))  # fmt: skip
    name = "speed_readouts" + ("_gpu" if args.device == "cuda" else "")
    print(write_results(name, payload, text, args.out).read_text())


def _letters_and_ids(model, tokenizer, sequence: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The 20 amino acids' token ids and the sequence's token ids, on the model's device."""
    device = next(model.parameters()).device
    letters = torch.tensor([tokenizer.convert_tokens_to_ids(c) for c in "ACDEFGHIKLMNPQRSTVWY"], device=device)
    return letters, torch.tensor(tokenizer(sequence)["input_ids"], device=device)


def reference_jacobian(model, tokenizer, sequence: str) -> torch.Tensor:
    """The reference implementation's loop: for each position, its 20 mutants in one fp32 forward."""
    letters, ids = _letters_and_ids(model, tokenizer, sequence)
    length = len(sequence)
    with torch.inference_mode():
        wild = model(input_ids=ids[None]).logits[0, 1 : length + 1][:, letters]
        jac = torch.zeros(length, 20, length, 20, device=ids.device)
        for p in range(length):
            batch = ids.repeat(20, 1)
            batch[:, p + 1] = letters
            jac[p] = model(input_ids=batch).logits[:, 1 : length + 1][:, :, letters] - wild
    return jac


def pure_forward_ceiling(model, tokenizer, sequence: str, batch_size: int) -> None:
    """The same 20L mutant sequences through the model at `batch_size`, and nothing else."""
    letters, ids = _letters_and_ids(model, tokenizer, sequence)
    length = len(sequence)
    all_ids = ids.repeat(20 * length, 1)
    rows = torch.arange(20 * length, device=ids.device)
    all_ids[rows, rows // 20 + 1] = letters.repeat(length)
    with torch.inference_mode():
        for start in range(0, len(all_ids), batch_size):
            model(input_ids=all_ids[start : start + batch_size])


def deviation(ours: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Max |difference| relative to max |reference|, correlation, and overlap of the top-L pairs (j-i >= 6)."""
    length = ref.shape[0]
    top_ref = {(p.i, p.j) for p in top_pairs(ref, length, 6)}
    top_ours = {(p.i, p.j) for p in top_pairs(ours, length, 6)}
    return {
        "max_rel_diff": float((ours - ref).abs().max() / ref.abs().max()),
        "corr": float(torch.corrcoef(torch.stack([ours.flatten(), ref.flatten()]))[0, 1]),
        "topL_overlap": len(top_ref & top_ours) / max(len(top_ref), 1),
    }


def compiled_warm(explainer: CategoricalJacobian, sequence: str) -> float:
    """Compile for this shape by running only the first position's batch; returns the seconds it took."""
    seconds, _ = timed(lambda: explainer.jacobian(sequence, positions=[0]))
    return seconds


def run_length(length: int, model, tokenizer, log) -> dict:
    sequence = random_protein(length, seed=length)
    row: dict = {"L": length}
    exact = CategoricalJacobian(model, tokenizer)
    batch = exact.batch_size or auto_batch_size(exact.adapter, length + 2)
    row["batch"] = batch

    row["reference_s"], ref_jac = timed(lambda: reference_jacobian(model, tokenizer, sequence))
    ref_map = jacobian_to_contacts(ref_jac)
    log(f"L={length} reference {row['reference_s']:.1f}s")
    row["ceiling_s"], _ = timed(lambda: pure_forward_ceiling(model, tokenizer, sequence, batch))
    log(f"L={length} ceiling {row['ceiling_s']:.1f}s")
    row["exact_s"], pred = timed(lambda: exact.attribute(sequence))
    row["exact_dev"] = deviation(pred.contacts, ref_map)
    log(f"L={length} exact {row['exact_s']:.1f}s")

    compiled = CategoricalJacobian(model, tokenizer, compile=True)
    row["compile_s"] = compiled_warm(compiled, sequence)
    row["exact_compiled_s"], pred = timed(lambda: compiled.attribute(sequence))
    row["exact_compiled_dev"] = deviation(pred.contacts, ref_map)
    log(f"L={length} exact compiled {row['exact_compiled_s']:.1f}s (+{row['compile_s']:.0f}s compile)")

    bf16 = CategoricalJacobian(model, tokenizer, dtype=torch.bfloat16)
    row["bf16_s"], pred = timed(lambda: bf16.attribute(sequence))
    row["bf16_dev"] = deviation(pred.contacts, ref_map)
    bf16c = CategoricalJacobian(model, tokenizer, dtype=torch.bfloat16, compile=True)
    row["bf16_compile_s"] = compiled_warm(bf16c, sequence)
    row["bf16_compiled_s"], pred = timed(lambda: bf16c.attribute(sequence))
    row["bf16_compiled_dev"] = deviation(pred.contacts, ref_map)
    bf16_jac = bf16c.jacobian(sequence)
    row["bf16_jacobian_rel_err"] = float((bf16_jac - ref_jac).norm() / ref_jac.norm())
    log(f"L={length} bf16 {row['bf16_s']:.1f}s, compiled {row['bf16_compiled_s']:.1f}s")

    readout = AttentionReadout(model, tokenizer)
    readout.attribute(sequence)
    times = sorted(timed(lambda: readout.attribute(sequence))[0] for _ in range(5))
    row["attention_s"] = times[2]
    row["gradient_s"], _ = timed(lambda: GradientJacobian(model, tokenizer).attribute(sequence))
    log(f"L={length} attention {row['attention_s'] * 1000:.1f}ms gradient {row['gradient_s']:.1f}s")

    if next(model.parameters()).device.type == "cuda":  # GPU mode: the batch size is where the win is
        row["exact_s_by_batch"] = batch_sweep(model, tokenizer, sequence)
        log(f"L={length} exact by batch size {row['exact_s_by_batch']}")
        row["cuda_peak_GB"] = torch.cuda.max_memory_allocated() / 1e9

    row["speedup_exact_vs_reference"] = row["reference_s"] / row["exact_s"]
    row["speedup_exact_compiled_vs_reference"] = row["reference_s"] / row["exact_compiled_s"]
    row["speedup_bf16_compiled_vs_reference"] = row["reference_s"] / row["bf16_compiled_s"]
    row["exact_over_ceiling"] = row["exact_s"] / row["ceiling_s"]
    row["attention_speedup_vs_jacobian"] = row["exact_s"] / row["attention_s"]
    row["attention_target"] = 0.25 * 20 * length
    row["gradient_over_jacobian"] = row["gradient_s"] / row["exact_s"]
    return row


def batch_sweep(model, tokenizer, sequence: str, sizes: tuple[int, ...] = (20, 64, 160, 320, 640)) -> dict[int, float]:
    """Seconds of the exact Jacobian at each batch size (each warmed up at its shape first): the GPU table."""
    seconds = {}
    for size in sizes:
        sized = CategoricalJacobian(model, tokenizer, batch_size=size)
        sized.jacobian(sequence, positions=[0])
        seconds[size] = timed(functools.partial(sized.attribute, sequence))[0]
    return seconds


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it does not inherit the parent's)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(length: int, positions: int, device: str = "cpu") -> dict:
    """In a fresh process: peak RSS of a full-size Jacobian buffer plus post-processing at this length.

    Only `positions` residues are mutated (the time would be hours on a CPU), but the [L, 20, L, 20]
    buffer, the batches at this length and the whole post-processing are the real ones.
    """
    model, tokenizer = esm_model("8M")
    model = model.to(device)
    sequence = random_protein(length, seed=1)
    explainer = CategoricalJacobian(model, tokenizer)
    baseline = peak_rss_bytes()
    rows = list(range(0, length, max(1, length // positions)))[:positions]
    seconds, jac = timed(lambda: explainer.jacobian(sequence, positions=rows))
    contacts = jacobian_to_contacts(jac, inplace=True)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else peak_rss_bytes()
    return {
        "L": length,
        "device": device,
        "mutated_positions": len(rows),
        "jacobian_buffer_GB": jac.numel() * 4 / 1e9,
        "baseline_GB": baseline / 1e9,
        "peak_GB": peak / 1e9,
        "contacts_shape": list(contacts.shape),
        "seconds_for_those_positions": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--quick", action="store_true", help="L = 64 only, memory at L = 512")
    parser.add_argument("--memory-length", type=int, default=1024)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--families", action="store_true", help="only the per-adapter-family table")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--per-layer", action="store_true",
                        help="only the readouts' overhead (per-layer maps, mutation effects) at L = 256")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1, help="with --per-layer: best of this many runs")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    out = args.out
    if args.per_layer:
        readout_main(args, lambda message: print(message, flush=True))
        return
    if args.families:
        rows = family_rows()
        table = markdown_table(rows, ["family", "adapter", "causal", "alphabet", "L", "seconds", "ms_per_residue"])
        path = write_results("speed_families", {"machine": machine(), "rows": rows}, table, out)
        print(path.read_text())
        return
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, positions=8, device=args.device)))
        return
    lengths = [64] if args.quick else args.lengths
    memory_length = 512 if args.quick else args.memory_length

    def log(message: str) -> None:
        print(message, flush=True)

    model, tokenizer = esm_model("8M")
    model = model.to(args.device)
    rows = [run_length(length, model, tokenizer, log) for length in lengths]
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(memory_length), "--device", args.device],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    memory = json.loads(child.stdout.strip().splitlines()[-1])
    log(f"memory at L={memory_length}: peak {memory['peak_GB']:.2f} GB")

    table = markdown_table(
        [
            {
                **r,
                "exact vs ref": r["speedup_exact_vs_reference"],
                "exact compiled vs ref": r["speedup_exact_compiled_vs_reference"],
                "bf16 compiled vs ref": r["speedup_bf16_compiled_vs_reference"],
                "exact / ceiling": r["exact_over_ceiling"],
                "exact compiled / ceiling": r["exact_compiled_s"] / r["ceiling_s"],
                "exact max rel diff": r["exact_dev"]["max_rel_diff"],
                "compiled max rel diff": r["exact_compiled_dev"]["max_rel_diff"],
                "bf16 map corr": r["bf16_compiled_dev"]["corr"],
                "bf16 J rel err": r["bf16_jacobian_rel_err"],
                "attention x faster (target)": f"{r['attention_speedup_vs_jacobian']:.0f} ({r['attention_target']:.0f})",
                "gradient / jacobian": r["gradient_over_jacobian"],
            }
            for r in rows
        ],
        ["L", "batch", "reference_s", "ceiling_s", "exact_s", "exact_compiled_s", "bf16_compiled_s", "exact vs ref",
         "exact compiled vs ref", "bf16 compiled vs ref", "exact / ceiling", "exact compiled / ceiling",
         "exact max rel diff", "compiled max rel diff", "bf16 map corr", "bf16 J rel err",
         "attention x faster (target)", "gradient / jacobian"],
    )  # fmt: skip
    memory_table = markdown_table([memory], list(memory))
    payload = {"machine": machine(), "device": args.device, "model": "ESM-2 8M shape, random weights", "rows": rows,
               "memory": memory}  # fmt: skip
    text = table + "\n\nPeak memory (child process):\n\n" + memory_table
    if args.device == "cuda":
        batch_rows = [{"L": r["L"], **{f"batch {k} s": v for k, v in r["exact_s_by_batch"].items()}} for r in rows]
        text += "\n\nGPU: exact fp32 Jacobian seconds by batch size:\n\n" + markdown_table(
            batch_rows, list(batch_rows[0])
        )
    name = ("speed_quick" if args.quick else "speed") + ("_gpu" if args.device == "cuda" else "")
    path = write_results(name, payload, text, out)
    print(path.read_text())


if __name__ == "__main__":
    main()
