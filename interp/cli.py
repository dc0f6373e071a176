"""The `interp` command (typer): score predicted contacts against a structure, compute true contact maps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from interp.methods import METHOD_NAMES

app = typer.Typer(
    name="interp",
    help="Contact maps from biological sequence models: explainers, structures and precision metrics.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_table(table: dict[str, float]) -> None:
    for key, value in table.items():
        typer.echo(f"{key:16s} {value:.4f}")


@app.command("contact-map")
def contact_map_command(
    structure: Annotated[Path, typer.Argument(help="PDB or mmCIF file, gzipped or not.")],
    out: Annotated[Path, typer.Option(help="Where to write the .npz map.")],
    chain: Annotated[str | None, typer.Option(help="Chain id; '-' for a blank chain; default: first chain.")] = None,
    atom: Annotated[
        str | None, typer.Option(help="CB (protein default), CA, heavy (RNA default) or an atom name.")
    ] = None,
    threshold: Annotated[float, typer.Option(help="Contact distance cut-off in Angstrom.")] = 8.0,
) -> None:
    """Compute the true contact map of one chain and save it as .npz."""
    from interp.errors import InterpError
    from interp.io import save_contacts
    from interp.structure import contact_map

    try:
        truth = contact_map(structure, chain=chain, atom=atom, threshold=threshold)
    except InterpError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    save_contacts(out, truth.contacts, sequence=truth.sequence, distances=truth.distances, resolved=truth.resolved)
    typer.echo(
        f"{structure}: chain {truth.chain}, {len(truth)} residues, {int(truth.resolved.sum())} resolved -> {out}"
    )


@app.command()
def score(
    prediction: Annotated[Path, typer.Argument(help="Predicted contacts: CASP RR file or .npz from interp.")],
    structure: Annotated[Path, typer.Argument(help="PDB or mmCIF file with the true structure.")],
    chain: Annotated[str | None, typer.Option(help="Chain id; '-' for a blank chain.")] = None,
    length: Annotated[int | None, typer.Option(help="Override L (default: resolved residues).")] = None,
) -> None:
    """Print P@L, P@L/2, P@L/5 by range for a prediction against a structure."""
    from interp.errors import InterpError
    from interp.io import load_contacts, read_rr
    from interp.metrics import precision_table
    from interp.structure import contact_map

    try:
        if prediction.suffix == ".npz":
            data = load_contacts(prediction)
            pred, sequence = data["contacts"], data.get("sequence")
        else:
            rr = read_rr(prediction)
            if rr.sequence is None:
                raise typer.BadParameter("the RR file has no sequence line")
            pred, sequence = rr.to_map(), rr.sequence
        truth = contact_map(structure, chain=chain, sequence=sequence)
        _print_table(precision_table(pred, truth, length=length))
    except InterpError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


METHODS = METHOD_NAMES  # the names of interp.methods


def _make_explainer(method: str, model, tokenizer, *, batch_size: int | None = None, dtype=None,
                    progress: bool = False):  # fmt: skip
    """`make_explainer` with the options each method takes from the command line."""
    from interp.explainers import make_explainer

    if method not in METHODS:
        raise typer.BadParameter(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    options: dict[str, Any] = {} if method == "attention" else {"show_progress": progress}
    if method in ("jacobian", "fast-jacobian"):
        options.update(batch_size=batch_size, dtype=dtype)
    return make_explainer(method, model, tokenizer, **options)


@app.command()
def contacts(
    fasta: Annotated[Path, typer.Option(help="FASTA file with one or more sequences.")],
    out: Annotated[Path, typer.Option(help="Output folder (created).")],
    model: Annotated[str, typer.Option(help="Hub name, local folder, 'default' (the embedded model), or a pretrained antibody model: antiberty, sapiens-heavy, sapiens-light.")] = "default",
    method: Annotated[str, typer.Option(help="jacobian, fast-jacobian, attention or gradient.")] = "jacobian",
    structure: Annotated[Path | None, typer.Option(help="Structure to score against (PDB/mmCIF).")] = None,
    chain: Annotated[str | None, typer.Option(help="Chain of the structure.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1, ...")] = None,
    dtype: Annotated[str | None, typer.Option(help="Autocast dtype for Jacobians: bfloat16 or float16.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Mutants per forward pass (default: automatic).")] = None,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow the model repository's own code.")] = False,
) -> None:
    """Contact maps for every record of a FASTA file: .npz, top pairs CSV, RR, PNG (and precision)."""
    from collections import Counter

    import torch
    from tqdm.auto import tqdm

    from interp.errors import InterpError
    from interp.io import read_fasta
    from interp.loading import load_model
    from interp.outputs import write_prediction_files

    torch_dtype = None if dtype is None else getattr(torch, dtype, None)
    if dtype is not None and not isinstance(torch_dtype, torch.dtype):
        raise typer.BadParameter(f"unknown dtype {dtype!r}")
    try:
        records = read_fasta(fasta, allow_empty=True)  # an empty record is reported with the others
        duplicated = sorted(name for name, n in Counter(r.name for r in records).items() if n > 1)
        if duplicated:  # outputs are named by record id: a second record would overwrite the first
            raise InterpError(f"{fasta}: record ids appear more than once: {', '.join(map(repr, duplicated[:5]))}")
        loaded, tokenizer = load_model(model, trust_remote_code=trust_remote_code, device=device)
    except InterpError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    explainer = _make_explainer(method, loaded, tokenizer, batch_size=batch_size, dtype=torch_dtype, progress=True)
    failures = 0
    for record in tqdm(records, desc="records", unit="seq", disable=len(records) < 2):
        try:
            prediction = explainer.attribute(record.sequence, names=[record.name])
            truth = None
            if structure is not None:
                from interp.structure import contact_map

                truth = contact_map(structure, chain=chain, sequence=record.sequence)
            write_prediction_files(prediction, out, truth=truth)
            if truth is not None:
                typer.echo(f"{record.name}:")
                _print_table(prediction.precision(truth))
        except InterpError as exc:
            failures += 1
            typer.echo(f"error in record {record.name!r}: {exc}", err=True)
    typer.echo(f"{len(records) - failures} of {len(records)} records written to {out}/")
    if failures:
        raise typer.Exit(1)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the outputs (.npz, pairs CSV, RR, PNG, precision).")] = Path(
        "interp-demo"
    ),
    method: Annotated[
        list[str] | None, typer.Option(help="jacobian, fast-jacobian, attention or gradient; repeat for several.")
    ] = None,
) -> None:
    """Contacts of 1a3a from the embedded default model (offline), scored against its crystal structure."""
    import time

    from interp.embedded_model import DEFAULT_MODEL_DIR, default_model, default_target
    from interp.outputs import write_prediction_files

    methods = method or ["jacobian", "attention"]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise typer.BadParameter(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    model, tokenizer = default_model()
    target = default_target()
    n_params = sum(p.numel() for p in model.parameters())
    typer.echo(
        f"model: {DEFAULT_MODEL_DIR.name} ({n_params:,} parameters); target {target.name}, L={len(target.sequence)}"
    )
    tables = {}
    for name in methods:
        start = time.perf_counter()
        prediction = _make_explainer(name, model, tokenizer).attribute(target.sequence, names=[target.name])
        seconds = time.perf_counter() - start
        paths = write_prediction_files(prediction, out, truth=target)
        tables[name] = prediction.precision(target)
        typer.echo(f"{name}: {seconds:.2f} s -> {', '.join(p.name for p in paths.values())}")
    keys = list(next(iter(tables.values())))
    typer.echo("\n" + f"{'metric':16s}" + "".join(f"{name:>14s}" for name in tables))
    for key in keys:
        typer.echo(f"{key:16s}" + "".join(f"{tables[name][key]:14.3f}" for name in tables))
    typer.echo(f"\noutputs in {out}/")


BENCHMARKS = {
    "speed": ("speed", [], ["--quick"]),
    "families": ("speed", ["--families"], ["--families"]),
    "accuracy": ("family_training", ["--all", "--minutes", "3", "--steps", "1000"],
                 ["--all", "--only", "1guu_A_psicov", "RF00005_1_1ehz", "--minutes", "0.2", "--steps", "120",
                  "--eval-every", "60", "--potts-iterations", "20", "--name", "accuracy_quick"]),
    "training": ("family_training", [], ["--minutes", "0.3", "--steps", "100", "--eval-every", "50", "--potts-iterations", "10",
                                   "--name", "family_training_quick"]),
    "callback": ("callback_overhead", [], ["--quick"]),
    "scaling": ("scaling", [], ["--quick"]),
    "precision": ("reduced_precision", [], []),
    "reliability": ("reliability", [], ["--quick"]),
    "contacts": ("contacts", ["--no-progress"], ["--limit", "14", "--calibration", "4", "--top-k", "4", "--no-progress",
                                                 "--methods", "fast-jacobian", "attention-mean", "attention-top-k",
                                                 "attention-logistic", "attention-calibrated"]),
}  # fmt: skip
OWN_FOLDER = {"contacts"}  # suites that write several files: under `all`, they get a folder of their own in --out


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def benchmark(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help=f"One of: {', '.join(BENCHMARKS)}, all.")],
    quick: Annotated[bool, typer.Option(help="The short version of each suite (minutes, not hours).")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the result files (default: benchmarks/results when run from a checkout's root, "
            "else ./interp-benchmarks)."
        ),
    ] = None,
) -> None:
    """Run a benchmark suite; each writes JSON plus a markdown table (date, machine, commit) and prints it.

    Options after the suite's name that are not listed here go to the suite itself, e.g.
    `interp benchmark contacts --model facebook/esm2_t33_650M_UR50D --device cuda --out esm2` (see
    `python -m interp.benchmarks.contacts --help`).
    """
    import importlib
    import time

    import torch

    from interp.errors import InterpError

    names = list(BENCHMARKS) if suite == "all" else [suite]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise typer.BadParameter(f"unknown suite {suite!r}; choose from {', '.join(BENCHMARKS)}, all")
    if ctx.args and len(names) > 1:
        raise typer.BadParameter(f"options {ctx.args} go to one suite; name it instead of 'all'")
    seconds = {}
    for name in names:
        module_name, full, short = BENCHMARKS[name]
        typer.echo(f"== benchmark {name} ({'quick' if quick else 'full'})")
        start, threads = time.perf_counter(), torch.get_num_threads()
        try:
            passed_on = []  # every suite takes --out; under `all`, a suite that writes a folder gets its own
            if out is not None:
                folder = out.resolve() / name if len(names) > 1 and name in OWN_FOLDER else out
                passed_on = ["--out", str(folder)]
            suite_args = [*(short if quick else full), *passed_on, *ctx.args]
            importlib.import_module(f"interp.benchmarks.{module_name}").main(suite_args)
        except InterpError as exc:  # bad options or input for the suite: its message, no traceback
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:  # some suites pin one thread; the next one gets the machine back
            torch.set_num_threads(threads)
        seconds[name] = time.perf_counter() - start
    if len(names) > 1:
        typer.echo("\n" + ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items()))
        typer.echo(f"total {sum(seconds.values()):.0f} s")


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
