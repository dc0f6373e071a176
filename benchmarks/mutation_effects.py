"""Mutation effects where the truth is known: a masked LM trained on samples of a planted Potts model (the
family-training recipe) scores every single mutant of a wild type (`interp.MutationEffects`), and each score is
ranked against the Potts model's own energy change (Spearman rho over all 19 L mutants).

    python benchmarks/mutation_effects.py            # 3 planted models, L=40, 6000 steps: the table (~20 min)
    python benchmarks/mutation_effects.py --quick    # 2 planted models, L=24, 1500 steps: a smoke run (~2 min)
    python benchmarks/mutation_effects.py --seeds 0 --length 64 --steps 8000   # any setting by hand

Truth: dE = E(mutant) - E(wild type), E(x) = sum_i h[i, x_i] + sum_{i<j} J[i, j, x_i, x_j] (higher = more
likely), exact. For this model dE is also log P(a | rest) - log P(wt | rest) at the mutated site, which a perfect
masked LM's masked marginal would equal. Ceiling ("potts_pl"): a Potts model fitted by pseudo-likelihood to the same
samples (`interp.training.pseudo_likelihood.fit_potts`, its default regularisation unless --potts-l2 is given),
its dE ranked the same way. Floors: the same architecture with
its random initial weights, and an independent-site model (log column frequencies). Wild types are held-out Gibbs
samples; rho is their mean. The second table keeps only the mutants at planted-pair sites, where the couplings
move dE and an independent-site model is blind to them. jacobian_P@pairs (the categorical Jacobian's top-`pairs`
contacts of the wild types that are planted pairs) says whether the model found the couplings at all: when it
has not, every score can only rank the fields and rho sits near the independent-site model's. Times are
wall-clock on --threads CPU threads.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import torch
from torchmetrics.functional import spearman_corrcoef

from interp import MutationEffects
from interp.benchmarks.common import AMINO_ACIDS, add_out_argument, machine, markdown_table, write_results
from interp.benchmarks.family_training import add_recipe_arguments, fit_recipe
from interp.explainers import CategoricalJacobian
from interp.scoring.metrics import contact_precision
from interp.training.masked_lm import alignment_loader, encode_rows, family_model
from interp.training.planted_potts import PottsModel, gibbs_sample, planted_potts, to_strings
from interp.training.pseudo_likelihood import PottsFit, fit_potts

LETTERS = AMINO_ACIDS  # state k of the Potts model is LETTERS[k]
SCORES = ("wt_marginal", "masked_marginal", "mutant_likelihood")
BASELINES = ("potts_pl", "independent", *(f"untrained_{s}" for s in SCORES))

# sizes of the full run and of --quick; an option given on the command line wins over either
FULL = {"seeds": [0, 1, 2], "length": 40, "pairs": None, "separation": 24, "samples": 10000, "sweeps": 30,
        "wild_types": 3, "steps": 6000, "minutes": 7.0, "potts_iterations": 100}  # fmt: skip
QUICK = {"seeds": [0, 1], "length": 24, "pairs": None, "separation": 8, "samples": 5000, "sweeps": 20,
         "wild_types": 2, "steps": 1500, "minutes": 1.5, "potts_iterations": 50}  # fmt: skip


def planted_pairs(length: int, count: int, separation: int, seed: int) -> list[tuple[int, int]]:
    """`count` disjoint pairs (i, j), j - i >= `separation`, drawn at random (each site in at most one pair).

    Raises:
        SystemExit: if no such set of pairs was found (too many pairs for the length and separation).
    """
    rng = random.Random(seed)
    for _ in range(100):
        candidates = [(i, j) for i in range(length) for j in range(i + separation, length)]
        rng.shuffle(candidates)
        used: set[int] = set()
        chosen = []
        for i, j in candidates:
            if i not in used and j not in used:
                chosen.append((i, j))
                used.update((i, j))
                if len(chosen) == count:
                    return sorted(chosen)
    raise SystemExit(f"no {count} disjoint pairs at separation >= {separation} in L = {length}")


def energy(fields: torch.Tensor, couplings: torch.Tensor, states: torch.Tensor) -> float:
    """E(x) = sum_i h[i, x_i] + sum_{i<j} J[i, j, x_i, x_j] by plain loops (the reference for `energy_changes`).

    Args:
        fields: h [L, q].
        couplings: J [L, L, q, q], J[j, i] = J[i, j].T.
        states: one sequence x [L] of states.
    """
    x = states.tolist()
    total = sum(float(fields[i, x[i]]) for i in range(len(x)))
    total += sum(float(couplings[i, j, x[i], x[j]]) for i in range(len(x)) for j in range(i + 1, len(x)))
    return total


def energy_changes(fields: torch.Tensor, couplings: torch.Tensor, wild: torch.Tensor) -> torch.Tensor:
    """dE[p, a] = E(wild with a at p) - E(wild) for every single mutant at once.

    Only the terms at p change: dE[p, a] = local[p, a] - local[p, wild[p]], local[p, a] = h[p, a] +
    sum_{j != p} J[p, j, a, wild[j]] (diagonal blocks J[p, p] are left out). Energy differences do not depend
    on the gauge, so a fit's fields and couplings serve as they are.

    Args:
        fields: h [L, q].
        couplings: J [L, L, q, q], symmetric (J[j, i] = J[i, j].T).
        wild: the wild type's states [L].

    Returns:
        dE [L, q]; zero at the wild-type letters.
    """
    length, q = fields.shape
    off_diagonal = (1.0 - torch.eye(length, dtype=couplings.dtype))[:, :, None, None]
    one_hot = torch.nn.functional.one_hot(wild, q).to(couplings.dtype)
    local = fields + torch.einsum("pjab,jb->pa", couplings * off_diagonal, one_hot)
    return local - local.gather(1, wild[:, None])


def fit_changes(fit: PottsFit, wild: torch.Tensor) -> torch.Tensor:
    """dE [L, q] of a pseudo-likelihood fit: its couplings J[i, a, j, b] laid out as [i, j, a, b] first."""
    return energy_changes(fit.fields, fit.couplings.permute(0, 2, 1, 3), wild)


def independent_changes(states: torch.Tensor, wild: torch.Tensor, q: int, pseudocount: float = 1.0) -> torch.Tensor:
    """dE of an independent-site model: log f[p, a] - log f[p, wild[p]], f the column frequencies (+ pseudocount)."""
    counts = torch.nn.functional.one_hot(states, q).sum(dim=0).double() + pseudocount
    log_f = counts.log()
    return (log_f - log_f.gather(1, wild[:, None])).float()


def spearman(score: torch.Tensor, truth: torch.Tensor, wild: torch.Tensor) -> float:
    """Spearman rho between a [L, q] score and dE [L, q] over the mutants (wild-type cells left out)."""
    keep = torch.ones_like(truth, dtype=torch.bool)
    keep[torch.arange(len(wild)), wild] = False
    return float(spearman_corrcoef(score[keep].float(), truth[keep].float()))


def model_scores(model: Any, tokenizer: Any, sequences: list[str]) -> list[dict[str, torch.Tensor]]:
    """MutationEffects' three scores of each sequence, columns put in `LETTERS` order: [L, q] per score."""
    tables = MutationEffects(model, tokenizer, scores=list(SCORES)).attribute(sequences)
    columns = [tables[0].alphabet.index(letter) for letter in LETTERS]
    return [{name: table.scores[name][:, columns] for name in SCORES} for table in tables]


def pair_precision(model: Any, tokenizer: Any, sequences: list[str], potts: PottsModel) -> float:
    """Mean over the sequences of the fraction of the categorical Jacobian's top-`pairs` contacts (any
    separation) that are planted pairs: 1 when the model has found every coupling, about 0 when it has none."""
    explainer = CategoricalJacobian(model, tokenizer)
    truth = potts.contact_map()
    values = [contact_precision(explainer.attribute(s).contacts, truth, k=len(potts.pairs), min_separation=1)
              for s in sequences]  # fmt: skip
    return sum(values) / len(values)


def train(rows: list[str], args: argparse.Namespace, seed: int) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The family-training recipe (benchmarks/family_training.py) on the samples, rows drawn uniformly.

    Returns:
        (the trained model, its tokenizer, the same model at its initial weights (the floor), facts: steps run,
        training minutes, the last logged loss).
    """
    model, tokenizer = family_model(len(rows[0]), layers=args.layers, width=args.width, heads=args.heads, seed=seed)
    initial, _ = family_model(len(rows[0]), layers=args.layers, width=args.width, heads=args.heads, seed=seed)
    ids = encode_rows(rows, tokenizer)
    loader = alignment_loader(ids, batch_size=args.batch_size, seed=seed)
    trainer, seconds = fit_recipe(model, tokenizer, ids, loader, args)
    loss = trainer.callback_metrics.get("train/loss")
    facts = {"steps": trainer.global_step, "train_minutes": seconds / 60,
             "final_loss": None if loss is None else float(loss)}  # fmt: skip
    return model, tokenizer, initial, facts


def run_planted(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One planted model: sample, fit the Potts ceiling, train, score the wild types; rho per score."""
    start = time.perf_counter()
    q = len(LETTERS)
    count = args.pairs if args.pairs is not None else args.length // 4
    pairs = planted_pairs(args.length, count, args.separation, seed)
    potts: PottsModel = planted_potts(args.length, pairs, q=q, strength=args.strength, seed=seed)
    tick = time.perf_counter()
    states = gibbs_sample(potts, args.samples, sweeps=args.sweeps, seed=1000 + seed)
    wild_states = gibbs_sample(potts, args.wild_types, sweeps=args.sweeps, seed=2000 + seed)  # held out
    gibbs_seconds = time.perf_counter() - tick
    rows, wild_types = to_strings(states, LETTERS), to_strings(wild_states, LETTERS)
    fit = fit_potts(states, n_states=q, max_iterations=args.potts_iterations, max_seconds=args.potts_seconds,
                    l2_couplings=args.potts_l2)  # fmt: skip
    model, tokenizer, initial, facts = train(rows, args, seed)
    tick = time.perf_counter()
    trained = model_scores(model, tokenizer, wild_types)
    effects_seconds = (time.perf_counter() - tick) / len(wild_types)
    untrained = model_scores(initial, tokenizer, wild_types)
    found = pair_precision(model, tokenizer, wild_types, potts)
    coupled = sorted({site for pair in pairs for site in pair})
    per_wild: list[dict[str, Any]] = []
    for n, wild in enumerate(wild_states):
        truth = energy_changes(potts.fields, potts.couplings, wild)
        predictions = {name: trained[n][name] for name in SCORES}
        predictions["potts_pl"] = fit_changes(fit, wild)
        predictions["independent"] = independent_changes(states, wild, q)
        predictions.update({f"untrained_{name}": untrained[n][name] for name in SCORES})
        entry: dict[str, Any] = {"wild_type": wild_types[n], "energy": energy(potts.fields, potts.couplings, wild)}
        for key, score in predictions.items():
            entry[key] = spearman(score, truth, wild)
            entry[f"{key}@pairs"] = spearman(score[coupled], truth[coupled], wild[coupled])
        per_wild.append(entry)
    keys = [k for k in per_wild[0] if k not in ("wild_type", "energy")]
    result: dict[str, Any] = {
        "seed": seed, "L": args.length, "pairs": len(pairs), "samples": args.samples, **facts,
        "potts_iterations": fit.iterations, "potts_seconds": fit.seconds, "gibbs_seconds": gibbs_seconds,
        "effects_seconds": effects_seconds,
    }  # fmt: skip
    result.update({k: sum(e[k] for e in per_wild) / len(per_wild) for k in keys})
    result["jacobian_P@pairs"] = found
    result["seconds"] = time.perf_counter() - start
    result["planted"] = pairs
    result["wild_types"] = per_wild
    return result


def mean_row(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of every rho (and of steps and minutes) over the planted models."""
    row: dict[str, Any] = {"seed": "mean"}
    for key in ("steps", "train_minutes", "seconds", "jacobian_P@pairs", *SCORES, *BASELINES,
                *(f"{k}@pairs" for k in (*SCORES, *BASELINES))):  # fmt: skip
        row[key] = sum(r[key] for r in results) / len(results)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 planted models, L=24, 1500 steps: a smoke run")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="one planted model per seed (0 1 2)")
    parser.add_argument("--length", type=int, default=None, help="sites L (40; quick 24)")
    parser.add_argument("--pairs", type=int, default=None, help="planted pairs (default L // 4)")
    parser.add_argument("--separation", type=int, default=None, help="least j - i of a planted pair (24; quick 8)")
    parser.add_argument("--strength", type=float, default=2.0, help="coupling between partner letters")
    parser.add_argument("--samples", type=int, default=None, help="Gibbs samples to train on (10000; quick 5000)")
    parser.add_argument("--sweeps", type=int, default=None, help="Gibbs sweeps per chain (30; quick 20)")
    parser.add_argument("--wild-types", type=int, default=None, help="held-out wild types per model (3; quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="schedule length (6000; quick 1500)")
    parser.add_argument("--minutes", type=float, default=None, help="training budget per model (7; quick 1.5)")
    parser.add_argument("--potts-iterations", type=int, default=None, help="L-BFGS iterations (100; quick 50)")
    parser.add_argument("--potts-seconds", type=float, default=None, help="stop the Potts fit after this long")
    parser.add_argument("--potts-l2", type=float, default=None, help="L2 on the fit's couplings (default 0.2 (L - 1))")
    add_recipe_arguments(parser)  # the family-training recipe (benchmarks/family_training.py's defaults)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default=None, help="result file name (default mutation_effects[_quick])")
    parser.add_argument("--rewrite-summary", type=Path, default=None, metavar="JSON",
                        help="only write the markdown of a finished run again from its JSON")  # fmt: skip
    add_out_argument(parser)
    args = parser.parse_args(argv)
    if args.rewrite_summary is not None:
        print(rewrite_summary(args.rewrite_summary).read_text())
        return
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results = []
    for seed in args.seeds:
        result = run_planted(seed, args)
        results.append(result)
        print({k: v for k, v in result.items() if k not in ("wild_types", "planted")}, flush=True)
    seconds = time.perf_counter() - start
    settings = {k: str(v) for k, v in vars(args).items() if k not in ("name", "rewrite_summary")}
    payload = {"machine": machine(), "settings": settings, "seconds": seconds, "results": results}
    name = args.name or ("mutation_effects_quick" if args.quick else "mutation_effects")
    path = write_results(name, payload, report(payload), args.out)
    print(path.read_text())


def report(payload: dict[str, Any]) -> str:
    """The result's markdown from its JSON payload (settings, seconds, results): the tables and how to read them."""
    results, settings, seconds = payload["results"], payload["settings"], payload["seconds"]
    rows = [*results, mean_row(results)] if len(results) > 1 else results
    columns = ["seed", "L", "pairs", "samples", "steps", "train_minutes", "jacobian_P@pairs", *SCORES, *BASELINES,
               "seconds"]  # fmt: skip
    pair_columns = ["seed", *(f"{k}@pairs" for k in (*SCORES, *BASELINES))]
    settings_text = ", ".join(f"{k}={v}" for k, v in settings.items())
    penalty = "0.2 (L - 1)" if settings.get("potts_l2") in (None, "None") else settings["potts_l2"]
    return (
        f"Settings: {settings_text}\n\n"
        f"Spearman rho between each score and the true energy change dE over all 19 L single mutants of "
        f"{settings.get('wild_types')} held-out wild types per planted model (mean over the wild types). potts_pl: "
        f"a Potts model fitted by pseudo-likelihood to the same samples (L2 on the couplings {penalty}), meant as "
        "the ceiling: where it falls below the independent-site model, the fit's noise couplings (every pair is "
        "coupled, the planted ones few) move dE more than its fields gain, and it is no ceiling at that "
        "penalty; the true ceiling is the planted model itself (rho = 1). independent: log column frequencies; "
        "untrained_*: the same architecture at its initial weights (the floor). jacobian_P@pairs: the fraction of "
        "the trained model's top-`pairs` categorical-Jacobian contacts that are planted pairs (did it find the "
        f"couplings?). Total {seconds / 60:.1f} minutes.\n\n" + markdown_table(rows, columns)
        + "\n\nThe same, only the mutants at planted-pair sites (where the couplings move dE):\n\n"
        + markdown_table(rows, pair_columns)
    )  # fmt: skip


def rewrite_summary(json_path: Path) -> Path:
    """The markdown written again from a finished run's JSON (no model trained): its tables in the current layout.

    Args:
        json_path: the run's NAME.json.

    Returns:
        The markdown path (NAME.md beside it).
    """
    payload = json.loads(json_path.read_text())
    return write_results(json_path.stem, payload, report(payload), json_path.parent)


if __name__ == "__main__":
    main()
