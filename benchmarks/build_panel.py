"""Rebuild a shipped panel of proteins with known structures (`interp/structures/panel_data/builtin_panel.npz`, or the antibody
panel `antibody_panel.npz`) and check that every entry of the written file equals `interp.structures.structure.contact_map` on
its structure and chain.

    python benchmarks/build_panel.py                   # rebuild the built-in panel from ../shared/data/structures, then check
    python benchmarks/build_panel.py --check-only      # only check the shipped file
    python benchmarks/build_panel.py --panel antibody  # rebuild the antibody panel (needs ANARCII), then check
    python benchmarks/build_panel.py --check-only --panel antibody
    python -m interp.benchmarks.build_panel --structures DIR --out FILE
The built-in panel: one chain per structure file, by the chain rule in `interp.structures.panel` (30 to 1000 residues, the 20
amino acids only, no numbering gap and no CA-CA step above 4.2 Angstrom). The antibody panel: the variable domain of
every antibody chain ANARCII numbers (`pip install ".[antibody]"`; the antibody rule in `interp.structures.panel`). The check
compares each entry's sequence, contacts (exactly), resolved mask (exactly), residue ids (exactly) and distances
(within float16 rounding) with a fresh `contact_map(structure, chain=chain, sequence=entry.sequence)`; for the
antibody panel, when ANARCII is installed, it also numbers every entry's sequence again and compares the chain type
with the recorded one. It prints a summary: entries, what was left out with the reasons, the file's size and the
seconds taken, and exits non-zero on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from interp.errors import InterpError
from interp.structures.panel import (
    ANARCII_THREADS,
    ANTIBODY_CHAIN_TYPES,
    ANTIBODY_PANEL_PATH,
    BUILTIN_PANEL_PATH,
    PanelEntry,
    build_antibody_panel,
    build_panel,
    read_builtin,
)
from interp.structures.structure import ContactMap, contact_map
from interp.testing.data import find_data_dir

FLOAT16_RTOL = 2.0**-11  # round-to-nearest float16: relative error at most half a unit in the last place


def compare_entry(entry: PanelEntry, truth: ContactMap) -> list[str]:
    """What differs between a panel entry and a fresh `contact_map` of its chain.

    Args:
        entry: the entry as the panel file gives it.
        truth: `contact_map(structure, chain=entry.truth.chain, sequence=entry.sequence)`.

    Returns:
        One message per difference; empty when they agree (distances within float16 rounding).
    """
    problems = []
    stored = entry.truth
    if entry.sequence != truth.sequence or stored.sequence != truth.sequence:
        problems.append("sequence differs")
        return problems
    if not torch.equal(stored.contacts, truth.contacts):
        problems.append(f"contacts differ at {int((stored.contacts != truth.contacts).sum())} cells")
    if not torch.equal(stored.resolved, truth.resolved):
        problems.append("resolved mask differs")
    if stored.residue_ids != truth.residue_ids:
        problems.append("residue ids differ")
    if (stored.chain, stored.kind, stored.atom, stored.threshold) != (
        truth.chain,
        truth.kind,
        truth.atom,
        truth.threshold,
    ):
        problems.append("chain, kind, atom or threshold differs")
    ours, want = stored.distances.numpy().astype(np.float64), truth.distances.numpy().astype(np.float64)
    if not np.array_equal(np.isnan(ours), np.isnan(want)):
        problems.append("distances are NaN at other cells")
    else:
        both = ~np.isnan(want)
        error = np.abs(ours[both] - want[both])
        if (error > FLOAT16_RTOL * np.abs(want[both]) + 1e-6).any():
            problems.append(f"distances differ by up to {error.max():.4f} A (more than float16 rounding)")
    return problems


def check_panel(path: Path, structures: Path) -> tuple[int, list[str]]:
    """Check every entry of a panel file against `contact_map` on the structure and chain it came from.

    Each entry is compared with `contact_map(structure, chain=chain, sequence=entry.sequence)` (for the built-in
    panel, whose entries are whole chains, the same as without the sequence). The metadata's counts must add up:
    entries plus files left out make the files (built-in panel), or entries plus chains left out make the protein
    chains (antibody panel).

    Args:
        path: the panel file (read with `allow_pickle=False`).
        structures: the folder of structure files it was built from.

    Returns:
        (entries checked, mismatch messages naming the entry); no messages when all agree.
    """
    with np.load(path, allow_pickle=False) as data:  # no pickles: fails here if the file holds objects
        files = [str(f) for f in data["files"]]
        names = [str(n) for n in data["names"]]
        metadata = json.loads(str(data["metadata"]))
    by_name = dict(zip(names, files, strict=True))
    entries = read_builtin(path, None, float(metadata["threshold"]))
    mismatches = []
    counts = metadata["counts"]
    if "protein_chains" in counts:  # the antibody panel: one entry or one left-out reason per protein chain
        if len(entries) + len(metadata["left_out"]) != counts["protein_chains"]:
            mismatches.append("metadata: entries plus chains left out is not the number of protein chains")
    elif len(entries) + len(metadata["left_out"]) != counts["files"]:
        mismatches.append("metadata: entries plus files left out is not the number of files")
    if [e.name for e in entries] != sorted(names):
        mismatches.append("entries are not in name order")
    for entry in entries:
        structure = structures / by_name[entry.name]
        try:
            truth = contact_map(structure, chain=entry.truth.chain, sequence=entry.sequence)
        except InterpError as error:
            mismatches.append(f"{entry.name}: cannot recompute ({error})")
            continue
        mismatches.extend(f"{entry.name}: {problem}" for problem in compare_entry(entry, truth))
    return len(entries), mismatches


def check_chain_types(path: Path) -> tuple[int, list[str]]:
    """Number every entry's sequence again with ANARCII and compare the chain type with the recorded one.

    Heavy and nanobody entries must come back H, kappa K and lambda L, at least at the rule's score, and the
    numbered span must be the whole sequence.

    Args:
        path: an antibody panel file (with a `chain_types` array).

    Returns:
        (entries numbered, mismatch messages naming the entry); (0, []) when ANARCII is not installed.
    """
    try:
        from anarcii import Anarcii
    except ImportError:
        return 0, []
    entries = read_builtin(path, None, 8.0)
    threads = torch.get_num_threads()
    try:
        numberer = Anarcii(seq_type="unknown", mode="accuracy", cpu=True, ncpu=ANARCII_THREADS)
        numbered = numberer.number({e.name: e.sequence for e in entries})
    finally:
        torch.set_num_threads(threads)  # ANARCII sets torch's thread count to every core
    letters = {kind: letter for letter, kind in ANTIBODY_CHAIN_TYPES.items()} | {"nanobody": "H"}
    mismatches = []
    for entry in entries:
        result = numbered[entry.name]
        got, want = result.get("chain_type"), letters.get(entry.chain_type)
        if got != want:
            mismatches.append(f"{entry.name}: ANARCII now types it {got!r}, the panel records {entry.chain_type!r}")
        elif (result.get("query_start"), result.get("query_end")) != (0, len(entry.sequence) - 1):
            mismatches.append(f"{entry.name}: ANARCII numbers residues {result.get('query_start')}-"
                              f"{result.get('query_end')} of its {len(entry.sequence)}")  # fmt: skip
    return len(entries), mismatches


PANELS = {"builtin": BUILTIN_PANEL_PATH, "antibody": ANTIBODY_PANEL_PATH}


def build(panel: str, structures: Path, out: Path) -> None:
    """Rebuild one panel file and print what was built.

    Args:
        panel: "builtin" or "antibody".
        structures: the folder of structure files.
        out: the panel file to write.
    """
    if panel == "antibody":
        report = build_antibody_panel(structures, out)
        print(f"built {out}: {report['entries']} entries {report['chain_types']} from {report['protein_chains']} "
              f"protein chains of {report['files']} files, {report['residues']} residues, "
              f"{report['size_bytes'] / 1e6:.2f} MB in {report['seconds']:.1f} s")  # fmt: skip
        return
    report = build_panel(structures, out)
    print(f"built {out}: {report['entries']} entries from {report['files']} files, "
          f"{report['residues']} residues, {report['size_bytes'] / 1e6:.2f} MB in {report['seconds']:.1f} s")  # fmt: skip


def print_left_out(metadata: dict) -> None:
    """Print what the panel file leaves out and why (for the antibody panel, every chain but the non-antibody ones).

    Args:
        metadata: the panel file's metadata.
    """
    counts = metadata["counts"]
    if "protein_chains" not in counts:
        print(f"left out {len(metadata['left_out'])} of {counts['files']} files "
              f"(by the first protein chain's reason: {metadata['left_out_by_reason']}):")  # fmt: skip
        for file, reason in metadata["left_out"]:
            print(f"  {file}: {reason}")
        return
    print(f"entries by chain type: {counts['chain_types']}; left out {len(metadata['left_out'])} of "
          f"{counts['protein_chains']} protein chains (by reason: {metadata['left_out_by_reason']}); "
          "all but the non-antibody ones:")  # fmt: skip
    for chain, reason in metadata["left_out"]:
        if not reason.startswith("not antibody"):
            print(f"  {chain}: {reason}")
    for name, reason in metadata.get("unreadable", []):
        print(f"  {name}: unreadable: {reason}")


def main(argv: list[str] | None = None) -> None:
    """Rebuild the panel file (unless --check-only), check it against the structures, print a summary.

    Args:
        argv: the command-line arguments (None: sys.argv); see the module docstring.

    Raises:
        SystemExit: non-zero when the data is absent or any entry does not match.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--panel", choices=sorted(PANELS), default="builtin",
                        help="which shipped panel: the built-in one (default) or the antibody one")  # fmt: skip
    parser.add_argument("--structures", type=Path, default=None,
                        help="folder of structure files (default: the data dir's structures/)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help=f"the panel file (default: {BUILTIN_PANEL_PATH}, or {ANTIBODY_PANEL_PATH.name} beside it)")  # fmt: skip
    parser.add_argument("--check-only", action="store_true", help="only check the file against the structures")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else PANELS[args.panel]
    structures = args.structures
    if structures is None:
        data = find_data_dir()
        if data is None:
            sys.exit("build_panel: real data not found: set INTERP_DATA or pass --structures DIR")
        structures = data / "structures"
    if not args.check_only:
        build(args.panel, structures, out)
    if not out.is_file():
        sys.exit(f"build_panel: {out}: no such file")
    with np.load(out, allow_pickle=False) as data:
        metadata = json.loads(str(data["metadata"]))
    start = time.perf_counter()
    checked, mismatches = check_panel(out, structures)
    seconds = time.perf_counter() - start
    print(f"checked {checked} entries against contact_map in {seconds:.1f} s; size {out.stat().st_size / 1e6:.2f} MB")
    if args.panel == "antibody":
        start = time.perf_counter()
        numbered, problems = check_chain_types(out)
        mismatches += problems
        print(f"numbered {numbered} entries again with ANARCII in {time.perf_counter() - start:.1f} s"
              if numbered else "ANARCII is not installed: chain types not checked (pip install \".[antibody]\")")  # fmt: skip
    print_left_out(metadata)
    if mismatches:
        print(f"{len(mismatches)} mismatches:", *mismatches[:50], sep="\n  ")
        sys.exit(1)
    print("all entries match contact_map" + (" and their chain types" if args.panel == "antibody" else ""))


if __name__ == "__main__":
    main()
