"""A panel of proteins with known structures: the built-in one shipped in the package, a folder of structures, or a TSV.

The built-in panel (`interp/structures/panel_data/builtin_panel.npz`) holds one chain from each of the crystal structures
in the project's data (`../shared/data/structures`, 148 non-redundant PDB entries) that has a chain passing the
chain rule below. Atomic coordinates from the Protein Data Bank are public domain (the wwPDB releases the
archive under CC0 1.0); the file's metadata says so too, with the source, the chain rule, the threshold, the
atom, the build date and the counts. `build_panel` (or `python benchmarks/build_panel.py`) rebuilds it.

Chain rule (one entry per structure file): the first protein chain in file order that (a) has 30 to 1000
residues, (b) holds only the 20 standard amino acids after modified residues take their parent's letter
(MSE -> M; no "X"), and (c) is contiguous: no consecutive-residue C-alpha distance above 4.2 Angstrom (a
peptide bond keeps them about 3.8 apart). A chain break means missing residues whose letters are unknown, so a
model would read a chimeric sequence; a skip in the numbering alone (antibody-style, 217 -> 219 at a 3.8
Angstrom step) loses no residue and is kept. Files with no such chain are left out (the
metadata lists each with its reason).

The truth of each entry is exactly what `interp.structures.structure.contact_map(path, chain=chain)` returns (C-beta,
C-alpha for glycine, a virtual C-beta where missing, contacts below 8 Angstrom). The file stores the contacts
exactly (bit-packed upper triangles) and the distances as float16, so the stored 8 Angstrom contacts are
exact while contacts re-thresholded at another cutoff carry float16 rounding (about 0.004 Angstrom at 8
Angstrom: a pair that close to the cutoff may land on either side).

The antibody panel (`interp/structures/panel_data/antibody_panel.npz`; `load_panel("antibody")`, `"antibody-heavy"`,
`"antibody-light"`) holds the antibody variable domains of the same structures, numbered with ANARCII (Oxford
Protein Informatics Group, BSD-3-Clause; `pip install ".[antibody]"`) in the IMGT scheme. `build_antibody_panel`
(or `python benchmarks/build_panel.py --panel antibody`) rebuilds it.

Antibody rule (every protein chain of every file is numbered, `Anarcii(seq_type="unknown", mode="accuracy")`,
on the chain's residues in file order as `contact_map(path, chain=chain)` reads them): a chain is kept when
(a) ANARCII types it H (heavy), K (kappa) or L (lambda) with a score of at least 25 (ANARCII's own warning level
for antibodies in accuracy mode; T-cell receptor chains, typed A/B/D/G, and chains of other proteins that
ANARCII numbers at scores of 15 to 17 here are left out); (b) its variable domain, the span the numbering reports
(query_start to query_end, both included: the residues that get an IMGT number), holds only the 20 standard
amino acids (a non-standard residue outside the span is trimmed away with the constant domain; one inside it
leaves the chain out), a C-alpha for every residue and no chain break (no consecutive CA-CA distance above
4.2 Angstrom), and has at least 30 residues; (c) its domain is not a copy of one kept from an earlier chain of
the same file (a copy: the same sequence, or one contained in the other, as 5ggs A and C, the same heavy chain
resolved from residue 2 and from residue 1); the first in file order is kept. A heavy chain from a file in
which no chain is typed K or L (score at least 25) is a "nanobody". The entry's truth is
`contact_map(path, chain=chain, sequence=domain)`, in the domain's index space; the metadata lists every
protein chain left out with its reason, and each entry's ANARCII score and span.

Example:
    >>> from interp.structures.panel import builtin_panel
    >>> panel = builtin_panel(3)
    >>> len(panel), panel[0].name < panel[1].name
    (3, True)
"""

from __future__ import annotations

import collections.abc
import csv
import datetime
import importlib.metadata
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, overload

import numpy as np
import torch

from interp.errors import InterpError, InvalidSequenceError, StructureError
from interp.files.io import atomic_write
from interp.structures.structure import ContactMap, contact_map, polymer_mask, read_atoms

BUILTIN_PANEL_PATH = Path(__file__).resolve().parent / "panel_data" / "builtin_panel.npz"
ANTIBODY_PANEL_PATH = Path(__file__).resolve().parent / "panel_data" / "antibody_panel.npz"

STANDARD_AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")
MIN_LENGTH = 30
MAX_LENGTH = 1000
MAX_CA_GAP = 4.2  # Angstrom between consecutive C-alphas; a peptide bond keeps them about 3.8 apart
THRESHOLD = 8.0
ATOM = "CB"
STRUCTURE_SUFFIXES = (".pdb", ".pdb.gz", ".cif", ".cif.gz", ".mmcif")
FORMAT_VERSION = 1
CHAIN_RULE = (
    "one chain per structure file: the first protein chain in file order with (a) 30 to 1000 residues, "
    "(b) only the 20 standard amino acids after parent mapping (no X), (c) no consecutive-residue CA-CA "
    "distance above 4.2 Angstrom (missing residues); a numbering skip at a peptide-bond distance is kept"
)
ANTIBODY_CHAIN_TYPES = {"H": "heavy", "K": "kappa", "L": "lambda"}  # ANARCII's chain type -> PanelEntry.chain_type
ANTIBODY_SUBSETS = {  # shipped panel name -> (chain types kept; None keeps all)
    "antibody": None,
    "antibody-heavy": frozenset({"heavy", "nanobody"}),
    "antibody-light": frozenset({"kappa", "lambda"}),
}
TCR_CHAIN_TYPES = frozenset("ABDG")  # ANARCII's T-cell receptor chain types (alpha, beta, delta, gamma)
ANTIBODY_MIN_SCORE = 25.0  # ANARCII's warning level for antibodies in accuracy mode
NUMBERING_SCHEME = "imgt"
ANARCII_THREADS = 1  # CPU threads for ANARCII (see _number)
ANTIBODY_RULE = (
    "every protein chain of every file numbered by ANARCII (seq_type unknown, accuracy mode, IMGT) on the chain's "
    "residues in file order; kept when (a) typed H, K or L with a score of at least 25 (T-cell receptor chains "
    "A/B/D/G and lower-scoring chains are left out), (b) the variable domain the numbering reports "
    "(query_start..query_end inclusive) has only the 20 standard amino acids (a non-standard residue outside it is "
    "trimmed away, one inside leaves the chain out), a CA for every residue, no consecutive-residue CA-CA distance "
    "above 4.2 Angstrom, and at least 30 residues, (c) the domain is not a copy (equal to, inside or containing) of "
    "one kept from an earlier chain of the same file; a heavy chain from a file with no chain typed K or L is a "
    "nanobody"
)
CONTACTS_NOTE = (
    "C-beta (C-alpha for glycine, virtual C-beta where missing) closer than 8 Angstrom, "
    "by interp.structures.structure.contact_map; stored exactly as bit-packed upper triangles"
)
DISTANCES_NOTE = "float16 upper triangles (re-thresholding carries about 0.004 Angstrom rounding at 8 A)"
PROVENANCE = (
    "Atomic coordinates from the Protein Data Bank (wwPDB, https://www.wwpdb.org); PDB data are public "
    "domain, released under CC0 1.0. Each entry is one chain of one crystal structure; its contacts and "
    "distances are what interp.structures.structure.contact_map computes from the coordinates."
)


@dataclass(frozen=True)
class PanelEntry:
    """One protein of a panel: its sequence and its true contact map.

    Attributes:
        name: "<pdb id>_<chain>" (the structure file's stem and the chain id, "-" for a blank one), e.g.
            "1a3a_A"; a TSV panel may name its rows.
        sequence: the chain's residues in file order, one letter each, the 20 standard amino acids only (for a
            TSV panel, the row's sequence).
        truth: the true contacts, distances and resolved mask in the sequence's index space.
        chain_type: for an antibody panel entry, "heavy", "kappa" or "lambda" (ANARCII's chain type H, K, L),
            or "nanobody" (a heavy chain from a structure with no light chain); "" elsewhere (the built-in,
            folder and TSV panels).
    """

    name: str
    sequence: str
    truth: ContactMap
    chain_type: str = ""


class Panel(collections.abc.Sequence[PanelEntry]):
    """An ordered list of `PanelEntry` (sorted by name), with the inputs that could not be read.

    Indexing with an int gives an entry, with a slice a `Panel` (same failures and source); `len()` and
    iteration work as on a list.

    Args:
        entries: the entries, in panel order.
        failures: (file or record name, error message) for each input that could not be read.
        source: where the panel came from: a shipped panel's name ("builtin", "antibody", "antibody-heavy",
            "antibody-light"), a folder path or a TSV path.

    Attributes:
        entries: the entries, in panel order.
        failures: (file or record name, error message) for each input that could not be read.
        source: where the panel came from: a shipped panel's name ("builtin", "antibody", "antibody-heavy",
            "antibody-light"), a folder path or a TSV path.
    """

    def __init__(
        self, entries: list[PanelEntry], failures: list[tuple[str, str]] | None = None, source: str = ""
    ) -> None:
        self.entries: list[PanelEntry] = list(entries)
        self.failures: list[tuple[str, str]] = list(failures or [])
        self.source: str = str(source)

    @overload
    def __getitem__(self, index: int) -> PanelEntry: ...

    @overload
    def __getitem__(self, index: slice) -> Panel: ...

    def __getitem__(self, index: int | slice) -> PanelEntry | Panel:
        if isinstance(index, slice):
            return Panel(self.entries[index], self.failures, self.source)
        return self.entries[index]

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        names = ", ".join(e.name for e in self.entries[:3]) + (", ..." if len(self.entries) > 3 else "")
        return f"Panel({len(self.entries)} entries [{names}], {len(self.failures)} failures, source={self.source!r})"


# ----------------------------------------------------------------------------------------------- chain rule


def _stem(path: Path) -> str:
    """The file name without ".gz" and the format suffix ("1a3a.pdb.gz" -> "1a3a")."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


def _structure_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(STRUCTURE_SUFFIXES)]
    return sorted(files, key=lambda p: (_stem(p) + "_", p.name))


def _split_residue_id(residue_id: str) -> tuple[int, str]:
    digits = residue_id.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    return int(digits), residue_id[len(digits) :]


def _chain_problem(path: Path, chain: str) -> str | None:
    """Why the chain fails the chain rule ("length: ...", "non-standard: ...", ...), or None if it passes."""
    ca = contact_map(path, chain=chain, atom="CA")
    length = len(ca.sequence)
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        return f"length: {length} residues (outside {MIN_LENGTH}-{MAX_LENGTH})"
    return _span_problem(ca, 0, length)


def _span_problem(ca: ContactMap, start: int, stop: int) -> str | None:
    """Why residues start..stop-1 of a chain fail the residue rules, or None if they pass.

    The rules: the 20 standard amino acids only, a C-alpha for every residue, and no consecutive CA-CA distance
    above `MAX_CA_GAP` ("non-standard: ...", "missing CA: ...", "chain break: ..." or "numbering gap: ...";
    positions count from 1 at the chain's first residue).
    """
    odd = [(n, c) for n, c in enumerate(ca.sequence[start:stop], start=start + 1) if c not in STANDARD_AMINO_ACIDS]
    if odd:
        return f"non-standard: {len(odd)} residue(s) outside the 20 amino acids, first {odd[0][1]!r} at chain position {odd[0][0]}"
    ids = ca.residue_ids[start:stop]
    if None in ids:
        return f"missing CA: residue {start + ids.index(None) + 1} has no C-alpha"
    steps = torch.diagonal(ca.distances, offset=1).numpy()[start : stop - 1]
    if (steps > MAX_CA_GAP).any():  # missing residues: consecutive C-alphas farther apart than a peptide bond allows
        n = start + int(np.argmax(steps > MAX_CA_GAP))
        numbers = [_split_residue_id(str(r)) for r in ca.residue_ids[n : n + 2]]
        skipped = numbers[1][0] > numbers[0][0] + 1
        return (
            f"{'numbering gap' if skipped else 'chain break'}: CA-CA {float(steps[n - start]):.2f} A between residues "
            f"{ca.residue_ids[n]} and {ca.residue_ids[n + 1]} (> {MAX_CA_GAP})"
        )
    return None  # a skip in the numbering alone (antibody-style 217 -> 219 at a 3.8 A step) loses no residue


class _NoQualifyingChainError(StructureError):
    """No chain of a file passes the chain rule; `reasons` holds (chain, category, detail) per protein chain."""

    def __init__(self, message: str, reasons: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.reasons = reasons


def _protein_chain_labels(atoms: Any) -> list[str]:
    """The protein chains of a structure's atoms in file order, by label ("-" for a blank chain id)."""
    labels = []
    for chain_id in dict.fromkeys(str(c) for c in atoms.chain_id):
        mask, kind = polymer_mask(atoms[atoms.chain_id == chain_id])
        if mask.any() and kind == "protein":
            labels.append(chain_id.strip() or "-")
    return labels


def _choose_chain(path: Path) -> str:
    """The chain the chain rule picks ("-" for a blank id).

    Raises:
        StructureError: the file cannot be read or no chain qualifies (the message gives each chain's reason).
    """
    reasons: list[tuple[str, str, str]] = []
    for label in _protein_chain_labels(read_atoms(path)):
        try:
            problem = _chain_problem(path, label)
        except InterpError as error:
            problem = f"unreadable: {error}"
        if problem is None:
            return label
        category, _, detail = problem.partition(": ")
        reasons.append((label, category, detail))
    if not reasons:
        raise _NoQualifyingChainError(f"{path.name}: no protein chain", [("", "no protein chain", "")])
    text = "; ".join(f"chain {label}: {category}: {detail}" for label, category, detail in reasons)
    raise _NoQualifyingChainError(f"{path.name}: no chain qualifies ({text})", reasons)


def _read_folder(folder: Path, limit: int | None, threshold: float) -> tuple[list[PanelEntry], list[tuple[str, str]]]:
    entries: list[PanelEntry] = []
    failures: list[tuple[str, str]] = []
    for path in _structure_files(folder):
        if limit is not None and len(entries) >= limit:
            break
        try:
            chain = _choose_chain(path)
            truth = contact_map(path, chain=chain, threshold=threshold)
        except InterpError as error:
            failures.append((path.name, str(error)))
            continue
        entries.append(PanelEntry(f"{_stem(path)}_{truth.chain}", truth.sequence, truth))
    return entries, failures


def _read_tsv(path: Path, threshold: float) -> tuple[list[PanelEntry], list[tuple[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            rows = list(reader)
            columns = {str(c).strip() for c in reader.fieldnames or []}
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InterpError(f"{path}: cannot read the panel TSV ({error})") from None
    missing = {"sequence", "structure", "chain"} - columns
    if missing or not rows:
        raise InterpError(
            f"{path}: a panel TSV needs a header with the columns sequence, structure and chain"
            + (f"; missing {sorted(missing)}" if missing else "; the file has no rows")
        )
    entries: list[PanelEntry] = []
    failures: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):  # line numbers: the header is line 1
        sequence = (row.get("sequence") or "").strip()
        structure = (row.get("structure") or "").strip()
        chain = (row.get("chain") or "").strip()
        given = (row.get("name") or "").strip()
        name = given or f"{_stem(Path(structure))}_{chain or '-'}"  # until the chain is known
        try:
            if not structure:
                raise StructureError(f"{path}: line {number} ({name}): no structure path")
            odd = next((n for n, c in enumerate(sequence, start=1) if c not in STANDARD_AMINO_ACIDS), None)
            if sequence and odd is not None:
                raise InvalidSequenceError(
                    f"{path}: line {number} ({name}): letter {sequence[odd - 1]!r} at position {odd} is not one "
                    "of the 20 amino acids"
                )
            truth = contact_map(path.parent / structure, chain=chain or None, sequence=sequence, threshold=threshold)
            name = given or f"{_stem(Path(structure))}_{truth.chain}"
            if name in seen:
                raise InterpError(f"{path}: line {number}: the name {name!r} is already used by an earlier row")
        except InterpError as error:
            failures.append((name, str(error)))
            continue
        seen.add(name)
        entries.append(PanelEntry(name, sequence, truth))
    return entries, failures


# -------------------------------------------------------------------------------------------- the .npz file


def _upper(length: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.triu_indices(length, 1)
    return rows, cols


def _encode(entries: list[tuple[PanelEntry, str]]) -> dict[str, np.ndarray]:
    """Concatenated arrays with offsets for (entry, source file name) pairs."""
    lengths = np.array([len(e.sequence) for e, _ in entries], dtype=np.int64)
    pairs = lengths * (lengths - 1) // 2
    packed = [np.packbits(e.truth.contacts.numpy()[_upper(len(e.sequence))]) for e, _ in entries]
    numbers, codes = [], []
    for entry, _ in entries:
        for residue_id, resolved in zip(entry.truth.residue_ids, entry.truth.resolved.tolist(), strict=True):
            number, code = _split_residue_id(residue_id) if resolved and residue_id is not None else (0, "")
            numbers.append(number)
            codes.append(code)
    return {
        "names": np.array([e.name for e, _ in entries], dtype=str),
        "chains": np.array([e.truth.chain for e, _ in entries], dtype=str),
        "files": np.array([f for _, f in entries], dtype=str),
        "residue_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "pair_offsets": np.concatenate([[0], np.cumsum(pairs)]).astype(np.int64),
        "contact_offsets": np.concatenate([[0], np.cumsum([len(p) for p in packed])]).astype(np.int64),
        "sequences": np.frombuffer("".join(e.sequence for e, _ in entries).encode("ascii"), dtype=np.uint8),
        "resolved": np.concatenate([e.truth.resolved.numpy() for e, _ in entries]).astype(bool),
        "residue_numbers": np.array(numbers, dtype=np.int32),
        "insertion_codes": np.array(codes, dtype="<U1"),
        "contacts": np.concatenate(packed).astype(np.uint8),
        "distances": np.concatenate([e.truth.distances.numpy()[_upper(len(e.sequence))] for e, _ in entries]).astype(
            np.float16
        ),
    }


def _decode(data: dict[str, np.ndarray], index: int, metadata: dict[str, Any], threshold: float) -> PanelEntry:
    r0, r1 = (int(v) for v in data["residue_offsets"][index : index + 2])
    p0, p1 = (int(v) for v in data["pair_offsets"][index : index + 2])
    c0, c1 = (int(v) for v in data["contact_offsets"][index : index + 2])
    length = r1 - r0
    sequence = data["sequences"][r0:r1].tobytes().decode("ascii")
    resolved = data["resolved"][r0:r1].astype(bool)
    upper = _upper(length)
    distances = np.full((length, length), np.nan, dtype=np.float32)
    distances[upper] = data["distances"][p0:p1].astype(np.float32)
    distances[upper[1], upper[0]] = distances[upper]
    np.fill_diagonal(distances, np.where(resolved, 0.0, np.nan))
    if threshold == metadata["threshold"]:
        contacts = np.zeros((length, length), dtype=bool)
        contacts[upper] = np.unpackbits(data["contacts"][c0:c1], count=p1 - p0).astype(bool)
        contacts |= contacts.T
    else:
        contacts = np.nan_to_num(distances, nan=np.inf) < threshold
        np.fill_diagonal(contacts, False)
    numbers = data["residue_numbers"][r0:r1].tolist()
    codes = data["insertion_codes"][r0:r1].tolist()
    residue_ids = tuple(f"{n}{c}" if ok else None for n, c, ok in zip(numbers, codes, resolved.tolist(), strict=True))
    truth = ContactMap(
        sequence=sequence,
        contacts=torch.from_numpy(contacts),
        distances=torch.from_numpy(distances),
        resolved=torch.from_numpy(resolved),
        residue_ids=residue_ids,
        chain=str(data["chains"][index]),
        kind="protein",
        atom=str(metadata["atom"]),
        threshold=float(threshold),
    )
    chain_type = str(data["chain_types"][index]) if "chain_types" in data else ""  # the built-in file has none
    return PanelEntry(str(data["names"][index]), sequence, truth, chain_type)


def read_builtin(
    path: Path, limit: int | None, threshold: float, chain_types: frozenset[str] | None = None
) -> list[PanelEntry]:
    """The entries of a shipped panel file in name order; with `chain_types`, only the entries of those types.

    Args:
        path: the panel file (`BUILTIN_PANEL_PATH`, `ANTIBODY_PANEL_PATH`, or one `build_panel` wrote).
        limit: the most entries to return (the first in name order); None for all.
        threshold: the contact distance of the true maps, in angstroms.
        chain_types: only entries whose chain type is one of these (the antibody panel's "heavy", ...); None
            for every entry.

    Returns:
        The entries, each with its sequence and true contact map.

    Raises:
        InterpError: the file is missing or is not a panel file interp can read.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
        metadata = json.loads(str(data["metadata"]))
        count = len(data["names"])
        kinds = [str(k) for k in data["chain_types"]] if chain_types is not None else []
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise InterpError(f"{path}: not a panel file interp can read ({type(error).__name__}: {error})") from None
    order = sorted(range(count), key=lambda n: str(data["names"][n]))
    if chain_types is not None:
        order = [n for n in order if kinds[n] in chain_types]
    return [_decode(data, n, metadata, threshold) for n in order[:limit]]


def _shipped_panel(source: str | os.PathLike) -> tuple[Path, frozenset[str] | None] | None:
    """The file and chain types of a shipped panel's name ("builtin", "antibody", ...), None for any other source."""
    if not isinstance(source, str):
        return None
    if source == "builtin":
        return BUILTIN_PANEL_PATH, None
    if source in ANTIBODY_SUBSETS:
        return ANTIBODY_PANEL_PATH, ANTIBODY_SUBSETS[source]
    return None


def _check_options(limit: int | None, threshold: float) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InterpError(f"limit must be a positive whole number of entries or None; got {limit!r}")
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise InterpError(f"threshold must be a positive number of Angstrom; got {threshold!r}")


def load_panel(source: str | os.PathLike = "builtin", *, limit: int | None = None, threshold: float = 8.0) -> Panel:
    """Load a panel of proteins with known structures, sorted by name.

    - "builtin": the panel shipped in the package (`BUILTIN_PANEL_PATH`); see the module docstring for how it
      was built. A `threshold` other than 8.0 re-thresholds the stored float16 distances (about 0.004
      Angstrom of rounding at 8 Angstrom); the stored 8 Angstrom contacts are exact.
    - "antibody": the antibody variable domains shipped in the package (`ANTIBODY_PANEL_PATH`; the antibody
      rule in the module docstring), each entry with its `chain_type` ("heavy", "nanobody", "kappa",
      "lambda"); "antibody-heavy" keeps the heavy and nanobody entries, "antibody-light" the kappa and
      lambda ones. Stored and re-thresholded as the built-in panel.
    - a folder: every `*.pdb`, `*.pdb.gz`, `*.cif`, `*.cif.gz`, `*.mmcif` in it, read in name order; from
      each file the chain the chain rule picks (the module docstring), through `contact_map`.
    - a `.tsv` file with a header holding the columns `sequence`, `structure` and `chain` (empty: the
      structure's first polymer chain; "-": a blank chain id, as in `contact_map`) and optionally `name`
      (else the structure's stem and the chain, "1a3a_A");
      structure paths are relative to the TSV's folder; each row is `contact_map(structure, chain=chain,
      sequence=sequence)`, so the truth is in the row's sequence's index space.

    A file or row that cannot be read (any `InterpError`: a corrupt structure, no qualifying chain, a
    sequence that does not match) goes into `Panel.failures` with its name and the error text; the rest
    load.

    Args:
        source: "builtin", "antibody", "antibody-heavy", "antibody-light" (these names win over a folder of
            the same name), a folder of structure files, or a `.tsv` file.
        limit: keep only the first `limit` entries in name order (a folder stops reading once it has them);
            None keeps all.
        threshold: the contact cutoff in Angstrom (a distance strictly below it is a contact).

    Returns:
        The panel: entries sorted by name, the failures, and the source.

    Raises:
        InterpError: an unknown source (not a shipped panel's name, not a folder, not a `.tsv` file), a TSV
            without the needed columns, an unreadable shipped file, a bad `limit` or `threshold`, or no entry
            loaded.

    Example:
        >>> from interp.structures.panel import load_panel
        >>> panel = load_panel("builtin", limit=2)
        >>> [len(entry.sequence) == len(entry.truth) for entry in panel]
        [True, True]
    """
    _check_options(limit, threshold)
    failures: list[tuple[str, str]] = []
    shipped = _shipped_panel(source)
    if shipped is not None:
        entries = read_builtin(shipped[0], limit, float(threshold), shipped[1])
        label = str(source)
    else:
        path = Path(source)
        label = str(path)
        if path.is_dir():
            entries, failures = _read_folder(path, limit, float(threshold))
        elif path.is_file() and path.suffix.lower() == ".tsv":
            entries, failures = _read_tsv(path, float(threshold))
        else:
            raise InterpError(
                f"unknown panel source {str(source)!r}: expected 'builtin', 'antibody', 'antibody-heavy', "
                "'antibody-light', a folder of structure files or a .tsv file"
            )
    entries = sorted(entries, key=lambda e: e.name)[:limit]
    if not entries:
        detail = f"; {len(failures)} failed, first: {failures[0][0]}: {failures[0][1]}" if failures else ""
        raise InterpError(f"panel source {label!r} yielded no entries{detail}")
    return Panel(entries, failures, label)


def builtin_panel(size: int | None = None, *, threshold: float = 8.0) -> Panel:
    """The first `size` entries of the built-in panel in its fixed order (sorted by name).

    This is the fixed, deterministic subset the training callback evaluates on: the same `size` always gives
    the same proteins in the same order.

    Args:
        size: how many entries (at most the panel's length); None for all.
        threshold: the contact cutoff in Angstrom; other than 8.0 re-thresholds the stored float16 distances.

    Returns:
        The panel (source "builtin").

    Raises:
        InterpError: `size` is not a positive whole number, a bad `threshold`, or the shipped file is unreadable.

    Example:
        >>> [entry.name for entry in builtin_panel(2)] == [entry.name for entry in builtin_panel()[:2]]
        True
    """
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise InterpError(f"size must be a positive whole number of entries or None; got {size!r}")
    return load_panel("builtin", limit=size, threshold=threshold)


def _display_path(folder: Path) -> str:
    """The folder relative to the checkout (../shared/data/structures) where it lies beside it, else as given."""
    checkout = Path(__file__).resolve().parents[2]
    try:
        return os.path.relpath(folder.resolve(), checkout)
    except ValueError:  # another drive
        return str(folder)


def build_panel(structures: str | os.PathLike, out: str | os.PathLike) -> dict[str, Any]:
    """Rebuild the panel file from a folder of structures: one chain per file by the chain rule.

    Each chosen chain's truth is `contact_map(path, chain=chain)` with its defaults (C-beta, 8 Angstrom).
    The file is a compressed `.npz` of plain arrays (no pickles) with a `metadata` JSON string (source,
    provenance, chain rule, threshold, atom, build date, counts, the files left out and why), written
    atomically.

    Args:
        structures: the folder of structure files (`*.pdb`, `*.pdb.gz`, `*.cif`, `*.cif.gz`, `*.mmcif`).
        out: the `.npz` file to write (`BUILTIN_PANEL_PATH` for the shipped one).

    Returns:
        A report: "path", "files", "entries", "residues", "left_out" ([file, reason] pairs), "reasons"
            (files left out, counted by the category of their first protein chain's reason: "length",
            "non-standard", "missing CA", "numbering gap", "chain break", "no protein chain", "unreadable"), "size_bytes" and "seconds".

    Raises:
        InterpError: `structures` is not a folder, or no file has a qualifying chain.
    """
    start = time.perf_counter()
    folder = Path(structures)
    if not folder.is_dir():
        raise InterpError(f"{folder}: not a folder of structure files")
    files = _structure_files(folder)
    chosen: list[tuple[PanelEntry, str]] = []
    left_out: list[tuple[str, str]] = []
    reasons: dict[str, int] = {}  # files left out, by the category of their first protein chain's reason
    for path in files:
        try:
            chain = _choose_chain(path)
            truth = contact_map(path, chain=chain)
        except InterpError as error:
            left_out.append((path.name, str(error).removeprefix(f"{path.name}: ")))
            category = error.reasons[0][1] if isinstance(error, _NoQualifyingChainError) else "unreadable"
            reasons[category] = reasons.get(category, 0) + 1
            continue
        chosen.append((PanelEntry(f"{_stem(path)}_{truth.chain}", truth.sequence, truth), path.name))
    if not chosen:
        raise InterpError(f"{folder}: no structure file has a chain that passes the chain rule")
    chosen.sort(key=lambda pair: pair[0].name)
    arrays = _encode(chosen)
    metadata = {
        "format_version": FORMAT_VERSION,
        "source": f"{len(files)} crystal structures, {_display_path(folder)}, public domain (PDB)",
        "provenance": PROVENANCE,
        "chain_rule": CHAIN_RULE,
        **_truth_metadata(),
        "counts": {
            "files": len(files),
            "entries": len(chosen),
            "left_out": len(left_out),
            "residues": int(arrays["residue_offsets"][-1]),
            "contacts": int(sum(int(e.truth.contacts.sum()) // 2 for e, _ in chosen)),
        },
        "left_out": [list(pair) for pair in left_out],
        "left_out_by_reason": reasons,
    }
    _write_panel(out, arrays, metadata)
    return {
        "path": str(out),
        "files": len(files),
        "entries": len(chosen),
        "residues": int(arrays["residue_offsets"][-1]),
        "left_out": [list(pair) for pair in left_out],
        "reasons": reasons,
        "size_bytes": Path(out).stat().st_size,
        "seconds": time.perf_counter() - start,
    }


def _truth_metadata() -> dict[str, Any]:
    """What every panel file says about its truth: cutoff, atom, how contacts and distances are stored, build date."""
    return {"threshold": THRESHOLD, "atom": ATOM, "contacts": CONTACTS_NOTE, "distances": DISTANCES_NOTE,
            "build_date": datetime.date.today().isoformat()}  # fmt: skip


def _write_panel(out: str | os.PathLike, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Write the arrays and the metadata JSON as a compressed `.npz` (no pickles), atomically."""
    arrays["metadata"] = np.array(json.dumps(metadata, sort_keys=True))
    with atomic_write(out, "wb") as handle:
        np.savez_compressed(handle, **cast(dict[str, Any], arrays))


# ------------------------------------------------------------------------------------------ antibody panel


@dataclass(frozen=True)
class _Chain:
    """One protein chain of a structure file: its C-alpha map (sequence, residue ids, CA-CA distances)."""

    path: Path
    label: str  # the chain id, "-" for a blank one
    ca: ContactMap

    @property
    def name(self) -> str:
        return f"{_stem(self.path)}_{self.label}"


def _import_anarcii() -> tuple[Any, str]:
    """ANARCII's `Anarcii` class and the installed version.

    Raises:
        InterpError: ANARCII is not installed.
    """
    try:
        from anarcii import Anarcii  # optional: the antibody extra
    except ImportError:
        raise InterpError(
            'building the antibody panel needs ANARCII, the antibody numbering tool: pip install ".[antibody]"'
        ) from None
    return Anarcii, importlib.metadata.version("anarcii")


def _protein_chains(files: list[Path]) -> tuple[list[_Chain], list[tuple[str, str]]]:
    """Every protein chain of every file in file order, and the files or chains that cannot be read, with why."""
    chains: list[_Chain] = []
    unreadable: list[tuple[str, str]] = []
    for path in files:
        try:
            atoms = read_atoms(path)
        except InterpError as error:
            unreadable.append((path.name, str(error)))
            continue
        for label in _protein_chain_labels(atoms):
            try:
                chains.append(_Chain(path, label, contact_map(path, chain=label, atom="CA")))
            except InterpError as error:
                unreadable.append((f"{_stem(path)}_{label}", str(error)))
    return chains, unreadable


def _number(anarcii: Any, chains: list[_Chain]) -> dict[str, dict[str, Any]]:
    """ANARCII's result for each chain's sequence (seq_type "unknown", accuracy mode, IMGT, on the CPU), by name.

    ANARCII runs on one CPU thread: on a 2-core machine busy with other work, two threads took 315 s where one
    took 17 s for the same 57 chains. It sets torch's thread count for the whole process, so the caller's count is
    restored afterwards.
    """
    threads = torch.get_num_threads()
    try:
        numberer = anarcii(seq_type="unknown", mode="accuracy", cpu=True, ncpu=ANARCII_THREADS, verbose=False)
        numbered = numberer.number({chain.name: chain.ca.sequence for chain in chains})
    finally:
        torch.set_num_threads(threads)
    return {chain.name: dict(numbered[chain.name]) for chain in chains}


def _is_light(result: dict[str, Any]) -> bool:
    """ANARCII typed the chain kappa or lambda with at least the antibody score."""
    return (
        result.get("error") is None and result.get("chain_type") in ("K", "L") and _score(result) >= ANTIBODY_MIN_SCORE
    )


def _score(result: dict[str, Any]) -> float:
    return float(result.get("score") or 0.0)


def _antibody_domain(chain: _Chain, result: dict[str, Any], light_in_file: bool) -> tuple[int, int, str] | str:
    """The variable domain's span (start, stop: chain indices, stop excluded) and the chain type, or why the
    chain is left out ("category: detail", the category first: "not antibody", "T-cell receptor", "low score",
    "numbering mismatch", "length", "non-standard", "missing CA", "chain break", "numbering gap")."""
    kind, score = str(result.get("chain_type") or ""), _score(result)
    if result.get("error") is not None or result.get("query_start") is None:
        return f"not antibody: ANARCII numbers no domain ({result.get('error')}; type {kind!r}, score {score:.1f})"
    if kind in TCR_CHAIN_TYPES:
        return f"T-cell receptor: ANARCII chain type {kind} (score {score:.1f})"
    if kind not in ANTIBODY_CHAIN_TYPES:
        return f"not antibody: ANARCII chain type {kind!r} (score {score:.1f})"
    if score < ANTIBODY_MIN_SCORE:
        return f"low score: ANARCII score {score:.1f} below {ANTIBODY_MIN_SCORE:g} (chain type {kind})"
    start, stop = int(result["query_start"]), int(result["query_end"]) + 1  # query_end is the last numbered residue
    numbered = "".join(letter for _, letter in result.get("numbering") or [] if letter != "-")
    if numbered != chain.ca.sequence[start:stop]:
        return f"numbering mismatch: the numbered residues are not the chain's residues {start + 1}-{stop}"
    if stop - start < MIN_LENGTH:
        return f"length: {stop - start} residues in the variable domain (fewer than {MIN_LENGTH})"
    problem = _span_problem(chain.ca, start, stop)
    if problem is not None:
        return problem
    chain_type = ANTIBODY_CHAIN_TYPES[kind]
    return start, stop, ("nanobody" if chain_type == "heavy" and not light_in_file else chain_type)


def _copy_of(sequence: str, file: str, kept: list[tuple[PanelEntry, str]]) -> str | None:
    """The name of a kept entry of the same file whose domain equals, contains or lies inside `sequence`."""
    for entry, source in kept:
        if source == file and (sequence in entry.sequence or entry.sequence in sequence):
            return entry.name
    return None


def _domain_entry(
    chain: _Chain, span: tuple[int, int, str] | str, kept: list[tuple[PanelEntry, str]]
) -> PanelEntry | str:
    """The entry of a chain's variable domain, or why the chain is left out (the rule's reason, a copy of a kept
    entry of the same file, or a domain that `contact_map` does not place on the chain's own residues)."""
    if isinstance(span, str):
        return span
    start, stop, chain_type = span
    sequence = chain.ca.sequence[start:stop]
    copy = _copy_of(sequence, chain.path.name, kept)
    if copy is not None:
        return f"copy: the variable domain repeats {copy}'s (equal to it, inside it or containing it)"
    truth = contact_map(chain.path, chain=chain.label, sequence=sequence)
    if truth.residue_ids != chain.ca.residue_ids[start:stop] or not bool(truth.resolved.all()):
        return f"alignment: contact_map places the domain elsewhere than the chain's residues {start + 1}-{stop}"
    return PanelEntry(chain.name, sequence, truth, chain_type)


def _antibody_entries(
    chains: list[_Chain], numbering: dict[str, dict[str, Any]]
) -> tuple[list[tuple[PanelEntry, str]], list[tuple[str, str]]]:
    """The kept (entry, file name) pairs in file order, and each other chain's name with why it is left out."""
    light_files = {chain.path for chain in chains if _is_light(numbering[chain.name])}
    kept: list[tuple[PanelEntry, str]] = []
    left_out: list[tuple[str, str]] = []
    for chain in chains:
        span = _antibody_domain(chain, numbering[chain.name], chain.path in light_files)
        found = _domain_entry(chain, span, kept)
        if isinstance(found, PanelEntry):
            kept.append((found, chain.path.name))
        else:
            left_out.append((chain.name, found))
    return kept, left_out


def _antibody_metadata(
    folder: Path,
    files: list[Path],
    chains: list[_Chain],
    numbering: dict[str, dict[str, Any]],
    version: str,
    kept: list[tuple[PanelEntry, str]],
    left_out: list[tuple[str, str]],
    unreadable: list[tuple[str, str]],
) -> dict[str, Any]:
    """The antibody panel file's metadata: source, provenance, rule, numbering tool, counts, entries, left out."""
    spans = {c.name: c.ca.sequence.find(e.sequence) for c in chains for e, _ in kept if e.name == c.name}
    reasons: dict[str, int] = {}
    for _, reason in left_out:
        category = reason.partition(": ")[0]
        reasons[category] = reasons.get(category, 0) + 1
    return {
        "format_version": FORMAT_VERSION,
        "panel": "antibody",
        "source": f"{len(files)} crystal structures, {_display_path(folder)}, public domain (PDB)",
        "provenance": PROVENANCE + " Each entry is the variable domain of one antibody chain, as ANARCII numbers it.",
        "chain_rule": ANTIBODY_RULE,
        "numbering": {
            "tool": "ANARCII",
            "version": version,
            "licence": "BSD-3-Clause (University of Oxford, Oxford Protein Informatics Group)",
            "scheme": NUMBERING_SCHEME,
            "options": {"seq_type": "unknown", "mode": "accuracy", "cpu": True, "ncpu": ANARCII_THREADS},
            "min_score": ANTIBODY_MIN_SCORE,
        },
        **_truth_metadata(),
        "counts": {
            "files": len(files),
            "protein_chains": len(chains),
            "entries": len(kept),
            "left_out": len(left_out),
            "unreadable": len(unreadable),
            "residues": sum(len(e.sequence) for e, _ in kept),
            "contacts": sum(int(e.truth.contacts.sum()) // 2 for e, _ in kept),
            "chain_types": {
                t: sum(e.chain_type == t for e, _ in kept) for t in ("heavy", "nanobody", "kappa", "lambda")
            },
        },
        "entries": {
            e.name: {
                "chain_type": e.chain_type,
                "anarcii_chain_type": numbering[e.name]["chain_type"],
                "score": round(_score(numbering[e.name]), 3),
                "chain_positions": [spans[e.name] + 1, spans[e.name] + len(e.sequence)],
                "residue_ids": [e.truth.residue_ids[0], e.truth.residue_ids[-1]],
            }
            for e, _ in kept
        },
        "left_out": [list(pair) for pair in left_out],
        "left_out_by_reason": reasons,
        "unreadable": [list(pair) for pair in unreadable],
    }


def build_antibody_panel(structures: str | os.PathLike, out: str | os.PathLike) -> dict[str, Any]:
    """Rebuild the antibody panel file: the variable domain of every antibody chain, numbered with ANARCII.

    Every protein chain of every structure file is numbered with ANARCII (IMGT scheme; the chain's residues
    in file order, as `contact_map(path, chain=chain)` reads them); the antibody rule in the module docstring
    keeps the heavy, kappa and lambda chains' variable domains. Each entry's truth is `contact_map(path,
    chain=chain, sequence=domain)` and its `chain_type` is "heavy", "nanobody", "kappa" or "lambda". The file
    has the built-in panel's layout plus a `chain_types` array; its `metadata` JSON holds the source,
    provenance, rule, the numbering tool, version and scheme, each entry's ANARCII score and span, the counts
    by chain type, every protein chain left out with its reason, and the build date. Written atomically.
    Reading and numbering the 148 structures of the project's data (308 protein chains) takes about a minute on
    a CPU.

    Args:
        structures: the folder of structure files (`*.pdb`, `*.pdb.gz`, `*.cif`, `*.cif.gz`, `*.mmcif`).
        out: the `.npz` file to write (`ANTIBODY_PANEL_PATH` for the shipped one).

    Returns:
        A report: "path", "files", "protein_chains", "entries", "chain_types" (entries by type), "residues",
            "left_out" ([chain, reason] pairs), "reasons" (left-out chains by category: "not antibody",
            "T-cell receptor", "low score", "copy", "non-standard", "chain break", ...), "unreadable" ([file or
            chain, reason] pairs), "size_bytes" and "seconds".

    Raises:
        InterpError: ANARCII is not installed (`pip install ".[antibody]"`), `structures` is not a folder, it
            holds no protein chain, or no chain passes the antibody rule.
    """
    start = time.perf_counter()
    anarcii, version = _import_anarcii()
    folder = Path(structures)
    if not folder.is_dir():
        raise InterpError(f"{folder}: not a folder of structure files")
    files = _structure_files(folder)
    chains, unreadable = _protein_chains(files)
    if not chains:
        raise InterpError(f"{folder}: no protein chain in any structure file")
    numbering = _number(anarcii, chains)
    kept, left_out = _antibody_entries(chains, numbering)
    if not kept:
        raise InterpError(f"{folder}: no chain passes the antibody rule")
    metadata = _antibody_metadata(folder, files, chains, numbering, version, kept, left_out, unreadable)
    kept.sort(key=lambda pair: pair[0].name)
    arrays = _encode(kept)
    arrays["chain_types"] = np.array([e.chain_type for e, _ in kept], dtype=str)
    _write_panel(out, arrays, metadata)
    counts = metadata["counts"]
    return {
        "path": str(out),
        "files": len(files),
        "protein_chains": len(chains),
        "entries": len(kept),
        "chain_types": counts["chain_types"],
        "residues": counts["residues"],
        "left_out": metadata["left_out"],
        "reasons": metadata["left_out_by_reason"],
        "unreadable": metadata["unreadable"],
        "size_bytes": Path(out).stat().st_size,
        "seconds": time.perf_counter() - start,
    }


__all__ = [
    "ANTIBODY_PANEL_PATH",
    "BUILTIN_PANEL_PATH",
    "Panel",
    "PanelEntry",
    "build_antibody_panel",
    "build_panel",
    "builtin_panel",
    "load_panel",
]
