"""Train a small masked LM from scratch on one family's alignment and track its contact precision while it
trains (the ContactPrecisionMonitor callback: categorical Jacobian and attention readout), against a Potts model
fitted by pseudo-likelihood on the same alignment.

    python benchmarks/family_training.py                          # 1a3a, the recipe, the curve
    python benchmarks/family_training.py --all --minutes 3        # every protein and RNA family: the table
    python benchmarks/family_training.py --save-model DIR         # also save the trained model (safetensors)
Data: ../shared/data or $INTERP_DATA (families.tsv). Times are wall-clock on --threads CPU threads.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from interp.benchmarks.common import add_out_argument, machine, markdown_table, write_results
from interp.callbacks import ContactPrecisionMonitor
from interp.files.io import save_contacts
from interp.scoring.metrics import precision_table
from interp.structures.structure import contact_map
from interp.testing.data import find_data_dir
from interp.training.alignments import load_family
from interp.training.masked_lm import MaskedLMModule, alignment_loader, encode_rows, family_model, letter_ids
from interp.training.pseudo_likelihood import fit_potts

LONG = "long_P@L"


def data_dir() -> Path:
    """The data folder (interp.testing.data.find_data_dir), or a clear exit when it is absent."""
    found = find_data_dir()
    if found is None:
        raise SystemExit("family data not found: set INTERP_DATA or put shared/data beside the repository")
    return found


def family_rows(root: Path) -> list[dict[str, str]]:
    with open(root / "families.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def load(root: Path, row: dict[str, str]) -> tuple[Any, Any]:
    """(FamilyAlignment over the query's columns, ContactMap of the structure aligned to the query)."""
    family = load_family(root / row["msa"], kind=row["kind"])
    chain = None if row["chain"] in ("", "-") else row["chain"]
    return family, contact_map(root / row["structure"], chain=chain, sequence=family.query)


def potts_baseline(family: Any, truth: Any, iterations: int, seconds: float | None) -> dict[str, Any]:
    fit = fit_potts(family.encode(), family.weights(), n_states=len(family.states), max_iterations=iterations,
                    max_seconds=seconds)  # fmt: skip
    return {"potts": precision_table(fit.contacts(), truth)[LONG], "potts_minutes": fit.seconds / 60}


def fit_recipe(model: Any, tokenizer: Any, ids: torch.Tensor, loader: Any, args: argparse.Namespace,
               callbacks: list[Any] | None = None) -> tuple[pl.Trainer, float]:  # fmt: skip
    """Train `model` on `loader` with the recipe's masked-LM module and schedule (`add_recipe_arguments`), on the CPU,
    for `args.steps` steps or `args.minutes`, whichever ends first; the model is left in eval mode.

    Returns:
        (the Trainer, seconds of training, callbacks included).
    """
    module = MaskedLMModule(
        model, tokenizer.mask_token_id, mask_fraction=args.mask, lr=args.lr, weight_decay=args.weight_decay,
        warmup_steps=args.warmup, total_steps=args.steps, random_fraction=args.random_fraction,
        keep_fraction=args.keep_fraction, replacement_ids=letter_ids(ids, tokenizer),
    )  # fmt: skip
    trainer = pl.Trainer(
        max_steps=args.steps, max_time={"minutes": args.minutes}, callbacks=callbacks or [], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit_loop.max_epochs = args.steps // max(1, len(loader)) + 1
    start = time.perf_counter()
    trainer.fit(module, loader)
    seconds = time.perf_counter() - start
    model.eval()
    return trainer, seconds


def train(family: Any, truth: Any, args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """Train with both callbacks attached; returns (model, tokenizer, results with the curve)."""
    model, tokenizer = family_model(
        len(family.query), kind=family.kind, layers=args.layers, width=args.width, heads=args.heads, seed=args.seed
    )
    # ungapped rows are shorter than the query's columns: padded with <pad> so one batch is one tensor
    ids = encode_rows(family.rows, tokenizer) if args.gapped else _padded(family.ungapped(), tokenizer)
    weights = family.weights() if args.reweight and args.gapped else None
    panel = [(family.query, truth)]
    jacobian_cb, attention_cb = (
        ContactPrecisionMonitor(panel, tokenizer=tokenizer, explainer="jacobian", every_n_steps=args.eval_every,
                         prefix="contacts/jacobian/", ranges=["long"], ks=["L"]),
        ContactPrecisionMonitor(panel, tokenizer=tokenizer, explainer="attention", every_n_steps=args.eval_every,
                         prefix="contacts/attention/", ranges=["long"], ks=["L"]),
    )  # fmt: skip
    loader = alignment_loader(ids, batch_size=args.batch_size, weights=weights, seed=args.seed)
    trainer, seconds = fit_recipe(model, tokenizer, ids, loader, args, callbacks=[jacobian_cb, attention_cb])
    final_j = jacobian_cb.score(model)
    final_a = attention_cb.score(model)
    curve = [
        {"step": j["step"], "jacobian": j[LONG], "attention": a[LONG]}
        for j, a in zip(jacobian_cb.history, attention_cb.history, strict=False)
    ]
    callback_seconds = jacobian_cb.seconds + attention_cb.seconds
    result = {
        "jacobian": final_j[LONG], "attention_mean": final_a[LONG], "steps": trainer.global_step,
        "train_minutes": (seconds - callback_seconds) / 60, "callback_seconds": callback_seconds,
        "attention_callback_overhead": attention_cb.seconds / max(1e-9, seconds - callback_seconds),
        "curve": curve,
    }  # fmt: skip
    result["attention_best_head"] = _best_head(model, tokenizer, family.query, truth)
    result.update(explainer_variants(model, tokenizer, family.query, truth, heads=args.heads))
    return model, tokenizer, result


def _padded(rows: list[str], tokenizer: Any) -> torch.Tensor:
    encoded = [encode_rows([r], tokenizer)[0] for r in rows]
    return torch.nn.utils.rnn.pad_sequence(encoded, batch_first=True, padding_value=tokenizer.pad_token_id)


def explainer_variants(model: Any, tokenizer: Any, query: str, truth: Any, *, heads: int) -> dict[str, Any]:
    """The other explainers on the trained model, each timed: the accuracy suite's side-by-side columns.

    attention_calibrated: the top quarter of heads chosen by agreement with the Jacobian (no structure),
    the seed claim that a few attention heads carry what the Jacobian finds."""
    from interp.explainers import AttentionReadout, make_explainer

    model.eval()
    out: dict[str, Any] = {}
    for name in ("jacobian", "fast_jacobian", "gradient", "attention"):
        start = time.perf_counter()
        prediction = make_explainer(name.replace("_", "-"), model, tokenizer).attribute(query)
        out[f"{name}_seconds"] = time.perf_counter() - start
        out[f"{name}_P@L"] = precision_table(prediction.contacts, truth)[LONG]
    readout = AttentionReadout(model, tokenizer, combiner="calibrated").calibrate([query], k=max(1, heads // 4))
    out["attention_calibrated"] = precision_table(readout.attribute(query).contacts, truth)[LONG]
    return out


def _best_head(model: Any, tokenizer: Any, query: str, truth: Any) -> float:
    """The single best head chosen on this very structure: an upper bound, not a prediction."""
    from interp.explainers import AttentionReadout

    readout = AttentionReadout(model, tokenizer, combiner="top_k").fit([query], [truth], k=1, min_separation=24)
    return precision_table(readout.attribute(query).contacts, truth)[LONG]


def _write_model_card(folder: Path, row: dict[str, str], entry: dict[str, Any], args: argparse.Namespace) -> None:
    card = f"""# interp default model: {row["id"]}

A {args.layers}-layer, {args.width}-wide, {args.heads}-head `EsmForMaskedLM` (ESM-2 vocabulary, learned absolute
positions, no dropout) trained from scratch by `benchmarks/family_training.py --save-model` on the
{row["id"]} family alignment ({entry["sequences"]} rows, gaps as a token).

- Alignment: {row["msa_source"]} (licence {row["licence_msa"]}).
- Structure for `target.npz` (C-beta contacts < 8 A, computed by `interp.structures.structure.contact_map`):
  {row["structure_source"]} (PDB coordinates: wwPDB, CC0).
- Recipe: {entry["steps"]} steps, batch {args.batch_size}, {args.mask:.0%} of tokens selected (80/10/10),
  AdamW lr {args.lr} with {args.warmup} warm-up steps then cosine, weight decay {args.weight_decay}, seed {args.seed}.
- Long-range P@L on {row["id"]}: categorical Jacobian {entry["jacobian"]:.3f}, attention mean
  {entry["attention_mean"]:.3f}; Potts pseudo-likelihood baseline on the same alignment {entry["potts"]:.3f}.
- Licence of these weights: MIT (derived from the MIT-licensed alignment).

This model knows one protein family; it is a demo and test fixture, not a general protein model.
"""
    (folder / "MODEL_CARD.md").write_text(card)


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The training recipe's options (model shape, masking, optimiser), shared by the suites that train with it."""
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--mask", type=float, default=0.4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--random-fraction", type=float, default=0.1, help="selected tokens set to a random letter")
    parser.add_argument("--keep-fraction", type=float, default=0.1, help="selected tokens left unchanged")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="1a3a_A")
    parser.add_argument("--all", action="store_true", help="every family in families.tsv")
    parser.add_argument("--only", nargs="+", default=None, help="with --all: just these family ids")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget per family (wall clock)")
    parser.add_argument("--steps", type=int, default=4500, help="schedule length (cosine ends here)")
    add_recipe_arguments(parser)
    parser.add_argument("--ungapped", dest="gapped", action="store_false", help="train on unaligned rows")
    parser.add_argument("--no-reweight", dest="reweight", action="store_false", help="uniform row sampling")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--potts-iterations", type=int, default=100)
    parser.add_argument("--potts-seconds", type=float, default=None, help="stop the Potts fit after this long")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="result file name (default family_training[_all])")
    parser.add_argument("--save-model", type=Path, default=None, help="save the trained model here")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    out = args.out
    torch.set_num_threads(args.threads)
    root = data_dir()
    rows = [
        r
        for r in family_rows(root)
        if ((not args.only or r["id"] in args.only) if args.all else r["id"] == args.family)
    ]
    if not rows:
        raise SystemExit(f"no family {args.family!r} in {root / 'families.tsv'}")
    results = []
    for row in rows:
        family, truth = load(root, row)
        entry: dict[str, Any] = {"family": row["id"], "kind": row["kind"], "L": len(family.query),
                                 "sequences": len(family.rows), "N_eff": round(float(family.weights().sum()))}  # fmt: skip
        entry.update(potts_baseline(family, truth, args.potts_iterations, args.potts_seconds))
        model, tokenizer, trained = train(family, truth, args)
        entry.update(trained)
        entry["jacobian / potts"] = entry["jacobian"] / entry["potts"] if entry["potts"] else float("nan")
        results.append(entry)
        print({k: v for k, v in entry.items() if k != "curve"}, flush=True)
        if args.save_model is not None:
            model.save_pretrained(args.save_model, safe_serialization=True)
            tokenizer.save_pretrained(args.save_model)
            save_contacts(args.save_model / "target.npz", truth.contacts, sequence=family.query,
                          resolved=truth.resolved, name=row["id"])  # fmt: skip
            _write_model_card(args.save_model, row, entry, args)
    settings = {k: str(v) for k, v in vars(args).items()}
    columns = ["family", "kind", "L", "sequences", "N_eff", "potts", "jacobian", "jacobian / potts", "attention_mean",
               "attention_best_head", "attention_calibrated", "fast_jacobian_P@L", "gradient_P@L", "steps",
               "train_minutes", "potts_minutes", "jacobian_seconds", "fast_jacobian_seconds", "gradient_seconds",
               "attention_seconds"]  # fmt: skip
    table = markdown_table(results, columns)
    curves = "\n\n".join(
        f"Curve, {r['family']} (long-range P@L by training step):\n\n"
        + markdown_table(r["curve"], ["step", "jacobian", "attention"])
        for r in results
    )
    name = args.name or ("family_training_all" if args.all else "family_training")
    settings_text = ", ".join(f"{k}={v}" for k, v in settings.items() if k not in ("save_model", "name"))
    path = write_results(name, {"machine": machine(), "settings": settings, "results": results},
                         f"Settings: {settings_text}\n\n{table}\n\n{curves}", out)  # fmt: skip
    if len(results) > 1 and "attention_seconds" in results[0]:
        save_mean_tradeoff(results, out / f"{name}_tradeoff.png")
    if len(results) == 1:
        save_curve(results[0], out / f"{name}.png")
        save_tradeoff(results[0], out / f"{name}_tradeoff.png")
    print(path.read_text())


def save_tradeoff(result: dict[str, Any], path: Path) -> None:
    """Seconds per sequence against long-range P@L for each explainer on the trained model."""
    import matplotlib.pyplot as plt

    from interp.files.plotting import plot_tradeoff

    rows = [{"method": m, "seconds": result[f"{m}_seconds"], "long_P@L": result[f"{m}_P@L"]}
            for m in ("jacobian", "fast_jacobian", "gradient", "attention")]  # fmt: skip
    figure = plot_tradeoff(rows)
    figure.axes[0].axhline(result["potts"], color="0.4", linestyle="--")
    figure.axes[0].set_title(f"{result['family']}: speed and accuracy of the explainers (dashed: Potts)")
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def save_mean_tradeoff(results: list[dict[str, Any]], path: Path) -> None:
    """Mean seconds per sequence against mean long-range P@L of each explainer, proteins and RNA apart."""
    import matplotlib.pyplot as plt

    from interp.files.plotting import plot_tradeoff

    kinds = [k for k in ("protein", "rna") if any(r["kind"] == k for r in results)]
    figure, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        chosen = [r for r in results if r["kind"] == kind]
        rows = [{"method": m.replace("_", " "), "seconds": sum(r[f"{m}_seconds"] for r in chosen) / len(chosen),
                 "long_P@L": sum(r[f"{m}_P@L"] for r in chosen) / len(chosen)}
                for m in ("jacobian", "fast_jacobian", "gradient", "attention")]  # fmt: skip
        plot_tradeoff(rows, ax=ax)
        ax.axhline(sum(r["potts"] for r in chosen) / len(chosen), color="0.4", linestyle="--")
        ax.set_title(f"{kind}: mean over {len(chosen)} families (dashed: Potts)")
        ax.set_xlabel("seconds per sequence")
        ax.set_ylabel("mean long-range P@L")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def save_curve(result: dict[str, Any], path: Path) -> None:
    """The callbacks' precision curve with the Potts baseline as a line: the README's figure."""
    import matplotlib.pyplot as plt

    from interp.files.plotting import plot_precision_curve

    figure = plot_precision_curve({"": result["curve"]}, keys=["jacobian", "attention"],
                                  title=f"{result['family']}: long-range P@L while training")  # fmt: skip
    figure.axes[0].axhline(result["potts"], color="0.4", linestyle="--", label="Potts (pseudo-likelihood)")
    figure.axes[0].legend(fontsize=8)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


if __name__ == "__main__":
    main()
