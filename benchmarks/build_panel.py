"""Rebuild the built-in panel of proteins with known structures (`interp/panel_data/builtin_panel.npz`) and check
that every entry of the written file equals `interp.structure.contact_map` on its structure and chain.

    python benchmarks/build_panel.py                   # rebuild from ../shared/data/structures, then check
    python benchmarks/build_panel.py --check-only      # only check the shipped file
    python -m interp.benchmarks.build_panel --structures DIR --out FILE
One chain per structure file, by the chain rule in `interp.panel` (30 to 1000 residues, the 20 amino acids
only, no numbering gap and no CA-CA step above 4.2 Angstrom). The check compares each entry's sequence,
contacts (exactly), resolved mask (exactly), residue ids (exactly) and distances (within float16 rounding)
with a fresh `contact_map(structure, chain=chain)`, and prints a summary: entries, files left out with their
reasons, the file's size and the seconds taken. It exits non-zero on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from interp.data import find_data_dir
from interp.errors import InterpError
from interp.panel import BUILTIN_PANEL_PATH, PanelEntry, _read_builtin, build_panel
from interp.structure import ContactMap, contact_map

FLOAT16_RTOL = 2.0**-11  # round-to-nearest float16: relative error at most half a unit in the last place


def compare_entry(entry: PanelEntry, truth: ContactMap) -> list[str]:
    """What differs between a panel entry and a fresh `contact_map` of its chain.

    Args:
        entry: the entry as the panel file gives it.
        truth: `contact_map(structure, chain=entry.truth.chain)`.

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
    entries = _read_builtin(path, None, float(metadata["threshold"]))
    mismatches = []
    if len(entries) + len(metadata["left_out"]) != metadata["counts"]["files"]:
        mismatches.append("metadata: entries plus files left out is not the number of files")
    if [e.name for e in entries] != sorted(names):
        mismatches.append("entries are not in name order")
    for entry in entries:
        structure = structures / by_name[entry.name]
        try:
            truth = contact_map(structure, chain=entry.truth.chain)
        except InterpError as error:
            mismatches.append(f"{entry.name}: cannot recompute ({error})")
            continue
        mismatches.extend(f"{entry.name}: {problem}" for problem in compare_entry(entry, truth))
    return len(entries), mismatches


def main(argv: list[str] | None = None) -> None:
    """Rebuild the panel file (unless --check-only), check it against the structures, print a summary.

    Args:
        argv: the command-line arguments (None: sys.argv); see the module docstring.

    Raises:
        SystemExit: non-zero when the data is absent or any entry does not match.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--structures", type=Path, default=None,
                        help="folder of structure files (default: the data dir's structures/)")  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=BUILTIN_PANEL_PATH, help=f"the panel file (default: {BUILTIN_PANEL_PATH})"
    )
    parser.add_argument("--check-only", action="store_true", help="only check the file against the structures")
    args = parser.parse_args(argv)
    structures = args.structures
    if structures is None:
        data = find_data_dir()
        if data is None:
            sys.exit("build_panel: real data not found: set INTERP_DATA or pass --structures DIR")
        structures = data / "structures"
    if not args.check_only:
        report = build_panel(structures, args.out)
        print(f"built {args.out}: {report['entries']} entries from {report['files']} files, "
              f"{report['residues']} residues, {report['size_bytes'] / 1e6:.2f} MB in {report['seconds']:.1f} s")  # fmt: skip
    if not args.out.is_file():
        sys.exit(f"build_panel: {args.out}: no such file")
    with np.load(args.out, allow_pickle=False) as data:
        metadata = json.loads(str(data["metadata"]))
    start = time.perf_counter()
    checked, mismatches = check_panel(args.out, structures)
    seconds = time.perf_counter() - start
    print(
        f"checked {checked} entries against contact_map in {seconds:.1f} s; size {args.out.stat().st_size / 1e6:.2f} MB"
    )
    print(f"left out {len(metadata['left_out'])} of {metadata['counts']['files']} files "
          f"(by the first protein chain's reason: {metadata['left_out_by_reason']}):")  # fmt: skip
    for file, reason in metadata["left_out"]:
        print(f"  {file}: {reason}")
    if mismatches:
        print(f"{len(mismatches)} mismatches:", *mismatches[:50], sep="\n  ")
        sys.exit(1)
    print("all entries match contact_map")


if __name__ == "__main__":
    main()
