"""The `interp` command (typer): contact maps from a FASTA file, scores against a structure, benchmarks.

Torch, transformers and biotite are imported inside the commands that use them, so that `interp --help` and
argument errors answer in a fraction of a second (`tests/test_cli.py` checks that no heavy module is loaded).
Every error the user can fix (an `InterpError`, a missing file) ends in one `error: ...` line and exit code 2.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import math
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from interp.errors import InterpError
from interp.methods import METHOD_NAMES, check_method

app = typer.Typer(
    name="interp",
    help="Contact maps from biological sequence models: explainers, structures and precision metrics.",
    no_args_is_help=True,
    add_completion=False,
)

METHODS = METHOD_NAMES  # the names of interp.methods
METHOD_HELP = f"One of: {', '.join(METHODS)}."
DTYPES = ("float32", "bfloat16", "float16")
AUTOCAST_DTYPES = ("bfloat16", "float16")


def _echo_error(message: str) -> None:
    """One line on stderr, on a line of its own even while a progress bar is drawn."""
    from tqdm.auto import tqdm  # deferred: tqdm.auto adds ~50 ms to start-up

    tqdm.write(message.replace("unknown='mask'", "--unknown mask"), file=sys.stderr)


def _fail(message: str) -> NoReturn:
    _echo_error(f"error: {message}")
    raise typer.Exit(2)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into `error: ...` and exit code 2, without a traceback."""
    try:
        yield
    except InterpError as exc:
        _fail(str(exc))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        _fail(f"{exc.filename}: {exc.strerror.lower() if exc.strerror else exc}")


class _Notes:
    """Warnings and notes said once each, in words, on stderr (not as `file.py:180: UserWarning: ...`)."""

    def __init__(self) -> None:
        self.said: set[str] = set()

    def say(self, message: str) -> None:
        if message not in self.said:
            self.said.add(message)
            _echo_error(f"note: {message}")

    @contextlib.contextmanager
    def catching(self) -> Iterator[None]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                for warning in caught:
                    self.say(str(warning.message))


def _quiet_transformers() -> None:
    """No "Loading weights" bars or load reports from transformers: the command says what matters itself."""
    from transformers.utils import logging as transformers_logging  # deferred: start-up without torch

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def _print_table(table: dict[str, float], too_short: dict[str, str] | None = None) -> None:
    """The precision table, three decimals (as `interp demo`); "n/a" with the reason where a cell has no value."""
    too_short = too_short or {}
    for key, value in table.items():
        if key in too_short or math.isnan(value):
            why = too_short.get(key, "no pair of resolved residues in this range")
            typer.echo(f"{key:16s} {'n/a':>6s}  ({why})")
        else:
            typer.echo(f"{key:16s} {value:6.3f}")


def _check_method(method: str) -> None:
    try:
        check_method(method)
    except InterpError:
        raise typer.BadParameter(f"unknown method {method!r}; choose from {', '.join(METHODS)}") from None


def _make_explainer(method: str, model: Any, tokenizer: Any, *, batch_size: int | None = None,
                    autocast: Any = None, layer: int | None = None, progress: bool = False,
                    per_layer: bool = False) -> Any:  # fmt: skip
    """The method's explainer with the command line's options (each method keeps those it declares)."""
    _check_method(method)
    return check_method(method).build(model, tokenizer, batch_size=batch_size, dtype=autocast, layer=layer,
                                      show_progress=progress, per_layer=per_layer or None)  # fmt: skip


def _done_records(records: list[tuple[str, str, str]], paths_of: Any, overwrite: bool, notes: _Notes,
                  out: Path) -> set[str]:  # fmt: skip
    """The records whose every output file exists already (an earlier run wrote them): skipped, said once."""
    if overwrite:
        return set()
    done = {stem for _, stem, _ in records if all(p.is_file() for p in paths_of(stem).values())}
    if done:
        notes.say(f"{len(done)} of {len(records)} records already written in {out}/ (an earlier run): skipped; "
                  "--overwrite computes them again")  # fmt: skip
    return done


def _each_record(records: list[tuple[str, str, str]], done: set[str], write_one: Any, out: Path) -> None:
    """Run `write_one(identifier, stem, sequence)` on every record not `done`, a progress bar over them; a record
    that fails (InterpError) is reported with its identifier and the rest go on (exit code 1 at the end)."""
    from tqdm.auto import tqdm  # deferred: tqdm.auto adds ~50 ms to start-up

    failures = 0
    for identifier, stem, sequence in tqdm(records, desc="records", unit="seq", disable=len(records) < 2):
        if stem in done:
            continue
        try:
            write_one(identifier, stem, sequence)
        except InterpError as exc:
            failures += 1
            _echo_error(f"error in record {identifier!r}: {exc}")
    kept = f" ({len(done)} kept from an earlier run)" if done else ""
    typer.echo(f"{len(records) - failures} of {len(records)} records written to {out}/{kept}")
    if failures:
        raise typer.Exit(1)


def _torch_dtype(name: str | None, allowed: tuple[str, ...], option: str) -> Any:
    if name is None:
        return None
    if name not in allowed:
        raise typer.BadParameter(f"{option} {name!r}: choose from {', '.join(allowed)}")
    import torch  # deferred: start-up without torch

    return getattr(torch, name)


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
    from interp.files.io import save_contacts  # deferred: start-up without torch
    from interp.structures.structure import contact_map  # deferred: start-up without biotite

    with _user_errors():
        truth = contact_map(structure, chain=chain, atom=atom, threshold=threshold)
        save_contacts(out, truth.contacts, sequence=truth.sequence, distances=truth.distances, resolved=truth.resolved)
    typer.echo(
        f"{structure}: chain {truth.chain}, {len(truth)} residues, {int(truth.resolved.sum())} resolved -> {out}"
    )


def _read_sequence(text: str) -> str:
    """--sequence: a FASTA file (its first record) or the letters themselves."""
    from interp.files.io import read_fasta  # deferred: start-up without torch

    path = Path(text)
    if path.exists():
        return read_fasta(path)[0].sequence.upper()
    if not text.isalpha():
        raise InterpError(f"--sequence {text!r} is neither a file nor a sequence of letters")
    return text.upper()


def _too_short(pred: Any, truth: Any, table: dict[str, float], length: int | None) -> dict[str, str]:
    """{metric: why} for the ranges where the prediction lists fewer scorable pairs than P@k needs."""
    from interp.scoring.metrics import listed_candidates, resolve_k, resolve_range  # deferred: start-up without torch

    out = {}
    effective = int(truth.resolved.sum()) if length is None else length
    listed_by_range: dict[str, int] = {}
    for key in table:
        range_name, k = key.split("_P@")
        if range_name not in listed_by_range:
            _, low, high = resolve_range(range_name)
            listed_by_range[range_name] = listed_candidates(pred, truth, min_separation=low, max_separation=high)
        listed, needed = listed_by_range[range_name], resolve_k(k, effective)
        if listed < needed:
            out[key] = f"the file lists {listed} scorable {range_name}-range pairs; P@{k} needs {needed}"
    return out


@app.command()
def score(
    prediction: Annotated[
        Path, typer.Argument(help="Predicted contacts: .npz or pairs .csv from interp, or a CASP RR file.")
    ],
    structure_file: Annotated[
        Path | None, typer.Argument(metavar="[STRUCTURE]", help="PDB or mmCIF file (or give --structure).")
    ] = None,
    structure: Annotated[Path | None, typer.Option(help="PDB or mmCIF file with the true structure.")] = None,
    chain: Annotated[str | None, typer.Option(help="Chain id; '-' for a blank chain; default: first chain.")] = None,
    sequence: Annotated[
        str | None,
        typer.Option(help="The predicted sequence (letters or a FASTA file), for a pairs CSV or an RR file without one."),
    ] = None,
    length: Annotated[int | None, typer.Option(help="Override L (default: resolved residues).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the table as CSV (metric, precision, note).")] = None,
) -> None:
    """Print P@L, P@L/2, P@L/5 by range for a prediction against a structure.

    interp's own files (.npz, .pairs.csv, .rr) give the same numbers. Where an RR or CSV file lists too few
    pairs in a range for a k, that cell reads "n/a" with the reason, not a lower precision.
    """
    from interp.files.io import atomic_write, load_contacts, read_pairs_csv, read_rr  # deferred: start-up without torch
    from interp.scoring.metrics import precision_table  # deferred: start-up without torch
    from interp.structures.structure import contact_map  # deferred: start-up without biotite

    if structure is not None and structure_file is not None:
        raise typer.BadParameter("give the structure once: as the second argument or as --structure")
    structure = structure or structure_file
    if structure is None:
        raise typer.BadParameter("missing the structure: give it as the second argument or as --structure")
    with _user_errors():
        if prediction.suffix == ".npz":
            data = load_contacts(prediction)
            pred, seq = data["contacts"], data.get("sequence")
        else:
            listed = read_pairs_csv(prediction) if prediction.suffix == ".csv" else read_rr(prediction)
            seq = listed.sequence
            if sequence is not None:
                seq = _read_sequence(sequence)
            if seq is None:
                raise InterpError(f"{prediction}: the file holds no sequence; pass --sequence (letters or FASTA)")
            pred = listed.to_rank_map(len(seq))  # the file's order, rounded scores' ties kept as written
        truth = contact_map(structure, chain=chain, sequence=seq)
        table = precision_table(pred, truth, length=length)
        if all(value != value for value in table.values()):  # NaN everywhere: nothing could be scored
            raise InterpError(
                f"{structure}: no pair of resolved residues in any range to score against "
                f"({int(truth.resolved.sum())} of {len(truth)} residues resolved)"
            )
        too_short = _too_short(pred, truth, table, length)
    _print_table(table, too_short)
    if out is not None:
        with atomic_write(out, "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["metric", "precision", "note"])
            for key, value in table.items():
                missing = key in too_short or value != value  # NaN: no pair to score
                why = too_short.get(key, "no pair of resolved residues in this range" if missing else "")
                writer.writerow([key, "" if missing else f"{value:.4f}", why])


def _prepared_records(fasta: Path, notes: _Notes) -> list[tuple[str, str, str]]:
    """(identifier, file stem, sequence) per FASTA record: the header's first word names the record; lower
    case is read as upper case and a trailing '*' (stop codon) dropped, each said once."""
    from interp.files.io import read_fasta, unique_file_stems  # deferred: start-up without torch

    records = read_fasta(fasta, allow_empty=True)  # an empty record is reported with the others
    ids = [r.name.split()[0] if r.name.split() else f"record_{n + 1}" for n, r in enumerate(records)]
    lower = [i for i, r in zip(ids, records, strict=True) if any(c.islower() for c in r.sequence)]
    if lower:
        notes.say(f"{len(lower)} record(s) hold lower-case letters, read as upper case (first: {lower[0]})")
    stops = [i for i, r in zip(ids, records, strict=True) if r.sequence.endswith("*")]
    if stops:
        notes.say(f"dropped the trailing '*' (stop codon) of {len(stops)} record(s) (first: {stops[0]})")
    stems = unique_file_stems(ids)
    renamed = [f"{i} -> {s}" for i, s in zip(ids, stems, strict=True) if s != i]
    if renamed:
        notes.say(f"file names changed to stay distinct and file-safe: {', '.join(renamed[:5])}")
    sequences = [r.sequence.upper().removesuffix("*") for r in records]
    return list(zip(ids, stems, sequences, strict=True))


@app.command()
def contacts(
    fasta: Annotated[Path, typer.Option(help="FASTA file with one or more sequences.")],
    out: Annotated[Path, typer.Option(help="Output folder (created).")],
    model: Annotated[str, typer.Option(help="Hub name, local folder, 'default' (the embedded model), or a pretrained antibody model: antiberty, sapiens-heavy, sapiens-light.")] = "default",
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = "jacobian",
    structure: Annotated[Path | None, typer.Option(help="Structure to score against (PDB/mmCIF).")] = None,
    chain: Annotated[str | None, typer.Option(help="Chain of the structure.")] = None,
    unknown: Annotated[
        str, typer.Option(help="Letters outside the model's alphabet (B, Z, X, -): 'error' refuses the record, 'mask' puts the mask token there.")
    ] = "error",
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1, ...")] = None,
    dtype: Annotated[str | None, typer.Option(help="The weights' dtype: float32, bfloat16 or float16 (default: as stored).")] = None,
    autocast: Annotated[str | None, typer.Option(help="Autocast the Jacobians' forward passes: bfloat16 or float16.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Mutants per forward pass (default: automatic).")] = None,
    layer: Annotated[int | None, typer.Option(help="The representation Jacobians' layer (default: the last, -1).")] = None,
    per_layer: Annotated[bool, typer.Option(help="Also one map per layer from the same passes: kept in the .npz "
                                                 "(layer_contacts), drawn in .layers.png, scored in .layers.csv.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Compute records again whose files an earlier run wrote.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow the model repository's own code.")] = False,
) -> None:
    """Contact maps for every record of a FASTA file: .npz, top pairs CSV, RR, PNG (and precision).

    Files are named by each record's identifier (the header's first word). A record that fails is reported
    with its identifier and the others go on (exit code 1); bad options and unreadable files stop before any
    work (exit code 2). A run started again into the same --out skips the records whose files are all
    written (each file is written whole or not at all), so a killed run resumes.
    """
    _check_method(method)
    declared = check_method(method)
    if per_layer and not declared.gives_per_layer:
        with_layers = [m for m in METHODS if check_method(m).gives_per_layer]
        raise typer.BadParameter(f"--per-layer: {method!r} gives no per-layer maps; choose from {', '.join(with_layers)}")
    if unknown not in ("error", "mask"):
        raise typer.BadParameter(f"--unknown {unknown!r}: choose 'error' or 'mask'")
    weights_dtype = _torch_dtype(dtype, DTYPES, "--dtype")
    autocast_dtype = _torch_dtype(autocast, AUTOCAST_DTYPES, "--autocast")
    notes = _Notes()
    with _user_errors():
        records = _prepared_records(fasta, notes)
        from interp.files.outputs import prediction_file_paths, write_prediction_files  # deferred: start-up
        from interp.models.loading import load_model  # deferred: start-up without transformers
        from interp.structures.structure import read_chain  # deferred: start-up without biotite

        def paths_of(stem: str) -> dict[str, Path]:  # attention records its combiner: "attention_mean"
            return prediction_file_paths(out, stem, declared.recorded_as, truth=structure is not None,
                                         per_layer=per_layer)  # fmt: skip

        done = _done_records(records, paths_of, overwrite, notes, out)
        if len(done) == len(records):
            typer.echo(f"all {len(records)} records already written to {out}/")
            return
        structure_chain = None if structure is None else read_chain(structure, chain=chain)  # read once
        _quiet_transformers()
        with notes.catching():
            loaded, tokenizer = load_model(model, trust_remote_code=trust_remote_code, device=device,
                                           dtype=weights_dtype)  # fmt: skip
            explainer = _make_explainer(method, loaded, tokenizer, batch_size=batch_size, autocast=autocast_dtype,
                                        layer=layer, progress=True, per_layer=per_layer)  # fmt: skip
    def write_one(identifier: str, stem: str, sequence: str) -> None:
        with notes.catching():
            prediction = explainer.attribute(sequence, names=[identifier], unknown=unknown)
        truth = None if structure_chain is None else structure_chain.contact_map(sequence)
        table = None if truth is None else prediction.precision(truth)
        write_prediction_files(prediction, out, truth=truth, stem=stem, precision=table)
        if table is not None:
            typer.echo(f"{identifier}:")
            _print_table(table)

    _each_record(records, done, write_one, out)


@app.command()
def effects(
    fasta: Annotated[Path, typer.Option(help="FASTA file with one or more sequences.")],
    out: Annotated[Path, typer.Option(help="Output folder (created).")],
    model: Annotated[str, typer.Option(help="Hub name, local folder, 'default' (the embedded model), or a pretrained antibody model: antiberty, sapiens-heavy, sapiens-light.")] = "default",
    scores: Annotated[
        list[str] | None,
        typer.Option(help="wt_marginal, masked_marginal, mutant_likelihood; repeat for several (default: every "
                          "score the model allows). Each costs its own passes: 1, L + 1, 19L + 1 forwards."),
    ] = None,
    unknown: Annotated[
        str, typer.Option(help="Letters outside the model's alphabet: 'error' refuses the record, 'mask' puts the mask token there (their rows read n/a).")
    ] = "error",
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1, ...")] = None,
    dtype: Annotated[str | None, typer.Option(help="The weights' dtype: float32, bfloat16 or float16 (default: as stored).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Mutants per forward pass (default: automatic).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Compute records again whose files an earlier run wrote.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow the model repository's own code.")] = False,
) -> None:
    """The effect of every single mutation of every record: a table (.effects.tsv) and a heat map (.effects.png).

    The table has one row per mutant (e.g. A23G: position 1-based, wild-type and mutant letters) and one column
    per score; its header names each score's convention. Resumable and per-record as `interp contacts`.
    """
    from interp.maps.effects import CONVENTIONS  # deferred: start-up without torch (checked before any model loads)

    wanted = list(scores) if scores else None
    bad = [s for s in wanted or [] if s not in CONVENTIONS]
    if bad:
        raise typer.BadParameter(f"--scores {bad[0]!r}: choose from {', '.join(CONVENTIONS)}")
    if unknown not in ("error", "mask"):
        raise typer.BadParameter(f"--unknown {unknown!r}: choose 'error' or 'mask'")
    weights_dtype = _torch_dtype(dtype, DTYPES, "--dtype")
    notes = _Notes()
    with _user_errors():
        records = _prepared_records(fasta, notes)
        from interp.files.io import safe_file_name  # deferred: start-up without torch

        def paths_of(stem: str) -> dict[str, Path]:
            base = out / (safe_file_name(stem, suffix="") + ".effects")
            return {"tsv": base.with_name(base.name + ".tsv"), "png": base.with_name(base.name + ".png")}

        done = _done_records(records, paths_of, overwrite, notes, out)
        if len(done) == len(records):
            typer.echo(f"all {len(records)} records already written to {out}/")
            return
        from interp.explainers.effects import MutationEffects  # deferred: start-up without torch
        from interp.files.io import atomic_write  # deferred: start-up without torch
        from interp.models.loading import load_model  # deferred: start-up without transformers

        _quiet_transformers()
        with notes.catching():
            loaded, tokenizer = load_model(model, trust_remote_code=trust_remote_code, device=device,
                                           dtype=weights_dtype)  # fmt: skip
            explainer = MutationEffects(loaded, tokenizer, scores=wanted, batch_size=batch_size, show_progress=True)
        typer.echo(f"scores: {', '.join(explainer.scores)}")
    out.mkdir(parents=True, exist_ok=True)
    def write_one(identifier: str, stem: str, sequence: str) -> None:
        with notes.catching():
            table = explainer.attribute(sequence, names=[identifier], unknown=unknown)
        paths = paths_of(stem)
        table.write_tsv(paths["tsv"])
        with atomic_write(paths["png"], "wb") as handle:
            table.plot().savefig(handle, dpi=110, format="png")

    _each_record(records, done, write_one, out)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the outputs (.npz, pairs CSV, RR, PNG, precision).")] = Path(
        "interp-demo"
    ),
    method: Annotated[
        list[str] | None, typer.Option(help=f"{METHOD_HELP} Repeat for several.")
    ] = None,
) -> None:
    """Contacts of 1a3a from the embedded default model (offline), scored against its crystal structure."""
    methods = method or ["jacobian", "attention"]
    for name in methods:
        _check_method(name)
    from interp.files.outputs import write_prediction_files  # deferred: start-up without torch
    from interp.models.embedded_model import DEFAULT_MODEL_DIR, default_model, default_target  # deferred: start-up

    model, tokenizer = default_model()
    target = default_target()
    n_params = sum(p.numel() for p in model.parameters())
    typer.echo(
        f"model: {DEFAULT_MODEL_DIR.name} ({n_params:,} parameters); target {target.name}, L={len(target.sequence)}"
    )
    tables = {}
    with _user_errors():
        for name in methods:
            start = time.perf_counter()
            prediction = _make_explainer(name, model, tokenizer).attribute(target.sequence, names=[target.name])
            seconds = time.perf_counter() - start
            tables[name] = prediction.precision(target)
            paths = write_prediction_files(prediction, out, truth=target, precision=tables[name])
            typer.echo(f"{name}: {seconds:.2f} s -> {', '.join(p.name for p in paths.values())}")
    keys = list(next(iter(tables.values())))
    typer.echo("\n" + f"{'metric':16s}" + "".join(f"{name:>14s}" for name in tables))
    for key in keys:
        typer.echo(f"{key:16s}" + "".join(f"{tables[name][key]:14.3f}" for name in tables))
    typer.echo(f"\noutputs in {out}/")


BENCHMARKS = {
    "speed": ("speed", [], ["--quick"]),
    "readouts": ("speed", ["--per-layer", "--repeats", "3"], ["--per-layer", "--lengths", "64"]),
    "families": ("speed", ["--families"], ["--families"]),
    "accuracy": ("family_training", ["--all", "--minutes", "3", "--steps", "1000"],
                 ["--all", "--only", "1guu_A_psicov", "RF00005_1_1ehz", "--minutes", "0.2", "--steps", "120",
                  "--eval-every", "60", "--potts-iterations", "20", "--name", "accuracy_quick"]),
    "training": ("family_training", [], ["--minutes", "0.3", "--steps", "100", "--eval-every", "50", "--potts-iterations", "10",
                                   "--name", "family_training_quick"]),
    "callback": ("callback_overhead", [], ["--quick"]),
    "mutations": ("mutation_effects", [], ["--quick"]),
    "scaling": ("scaling", [], ["--quick"]),
    "precision": ("reduced_precision", [], []),
    "reliability": ("reliability", [], ["--quick"]),
    "startup": ("startup", [], ["--repeats", "1"]),
    "contacts": ("contacts", [], ["--limit", "14", "--calibration", "4", "--top-k", "4",
                                  "--methods", "fast-jacobian", "attention-mean", "attention-top-k",
                                  "attention-logistic", "attention-calibrated"]),
}  # fmt: skip
OWN_FOLDER = {"contacts"}  # suites that write several files: under `all`, they get a folder of their own in --out


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def benchmark(
    ctx: typer.Context,
    suite: Annotated[str | None, typer.Argument(help=f"One of: {', '.join(BENCHMARKS)}, all.")] = None,
    quick: Annotated[bool, typer.Option(help="The short version of each suite (minutes, not hours).")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the result files (default: docs/results when run from a checkout's root, "
            "else ./interp-benchmarks)."
        ),
    ] = None,
    show_help: Annotated[
        bool, typer.Option("--help", "-h", help="This help; after a suite's name, that suite's own options.")
    ] = False,
) -> None:
    """Run a benchmark suite; each writes JSON plus a markdown table (date, machine, interp version) and prints it.

    Options after the suite's name that are not listed here go to the suite itself, e.g.
    `interp benchmark contacts --model facebook/esm2_t33_650M_UR50D --device cuda --out esm2`;
    `interp benchmark SUITE --help` lists them.
    """
    if suite is None or (show_help and suite == "all"):
        typer.echo(ctx.get_help())
        raise typer.Exit(0 if show_help else 2)
    names = list(BENCHMARKS) if suite == "all" else [suite]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise typer.BadParameter(f"unknown suite {suite!r}; choose from {', '.join(BENCHMARKS)}, all")
    if ctx.args and len(names) > 1:
        raise typer.BadParameter(f"options {ctx.args} go to one suite; name it instead of 'all'")
    if show_help:  # the suite's own parser prints its options (importing the suite loads torch)
        typer.echo(f"interp benchmark {suite} [--quick] [--out DIR] [SUITE OPTIONS]; the suite's options:\n")
        module_name = BENCHMARKS[suite][0]
        with contextlib.suppress(SystemExit):
            importlib.import_module(f"interp.benchmarks.{module_name}").main(["--help"])
        raise typer.Exit(0)
    import torch  # deferred: start-up without torch

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
            with _user_errors():  # bad options or input for the suite: its message, no traceback
                importlib.import_module(f"interp.benchmarks.{module_name}").main(suite_args)
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
