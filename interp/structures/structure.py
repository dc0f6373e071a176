"""Structure file -> true contact map, with biotite.

Protein chains: C-beta distances (C-alpha for glycine; a virtual C-beta built from N, CA and C when the
C-beta is missing). Nucleic-acid chains: by default the minimum distance between any two heavy atoms of
the two nucleotides (the convention of RNA contact benchmarks); `atom="C1'"` (or any atom name) uses
that atom instead. Two residues are in contact when their distance is below `threshold` (8 Angstrom).
First model, first altloc, hydrogens ignored; modified residues take their parent's letter (MSE -> M).

A truncated file is a `StructureError`, never a map (see `contact_map` for the rules): one pass over the
text checks that the coordinates do not stop mid-record and that a file whose writer closes its records
(PDB TER/END, mmCIF `#`) has them after the last atom; a file that marks no end at all is checked against
the sequence, when one is given.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import biotite.structure as struc
import biotite.structure.info as struc_info
import biotite.structure.io.pdb as pdb
import biotite.structure.io.pdbx as pdbx
import numpy as np
import torch
from biotite.sequence import NucleotideSequence, ProteinSequence
from biotite.sequence import align as bioalign

from interp.errors import (
    ChainNotFoundError,
    EmptySequenceError,
    InvalidSequenceError,
    SequenceMismatchError,
    StructureError,
)

PathLike = str | os.PathLike
BLANK_CHAIN_NAMES = ("-", "", " ")


@dataclass(frozen=True)
class ContactMap:
    """True contacts of one chain, in the index space of `sequence` (the given one, or the chain's own).

    `contacts[i, j]` is False where either residue is unresolved and on the diagonal; `distances` is NaN
    where either is unresolved; `residue_ids[i]` is the structure's residue number plus insertion code
    ("52A"), or None for a residue with no coordinates.

    Attributes:
        sequence: the L residues whose index space the map uses (the given sequence, or the chain's own, with
            modified residues under their parent's letter and unknown ones as "X" or "N").
        contacts: bool [L, L], True where the two residues are closer than `threshold`; symmetric, False on
            the diagonal and wherever either residue is unresolved.
        distances: float32 [L, L], residue-residue distances in Angstrom; NaN where either residue is
            unresolved.
        resolved: bool [L], True for a residue that has the coordinates `atom` needs.
        residue_ids: L entries, each the structure's residue number plus insertion code ("52", "52A"), or
            None for a residue with no coordinates.
        chain: the chain id as in the file; "-" for a blank one.
        kind: "protein" or "nucleic".
        atom: the atom that placed each residue: "CB", "CA", "heavy" (nearest heavy atoms) or an atom name.
        threshold: the contact cutoff in Angstrom (a distance strictly below it is a contact).
    """

    sequence: str
    contacts: torch.Tensor
    distances: torch.Tensor
    resolved: torch.Tensor
    residue_ids: tuple[str | None, ...]
    chain: str
    kind: str
    atom: str
    threshold: float

    def __len__(self) -> int:
        return len(self.sequence)


# PDB records that carry coordinates; a file cut inside its atoms ends with one of them.
_PDB_COORD_RECORDS = ("ATOM", "HETATM", "ANISOU", "SIGATM", "SIGUIJ")
# Records that show the writer marks where the coordinates end (TER, END, ENDMDL, CONECT, MASTER) or that
# promise such a mark (HEADER: a wwPDB entry always ends with END; MODEL needs its ENDMDL).
_PDB_END_MARK = re.compile(r"^(?:TER|END|CONECT|MASTER|HEADER|MODEL)", re.MULTILINE)
# The `_atom_site` loop of an mmCIF file, and the lines that end a loop's rows.
_CIF_ATOM_LOOP = re.compile(r"^loop_[ \t]*\r?\n(?:[ \t]*\r?\n)*[ \t]*_atom_site\.", re.MULTILINE)
_CIF_LOOP_STOP = re.compile(r"^[ \t]*(?:#|_|loop_|data_|save_|global_|stop_)", re.MULTILINE)
_CIF_ATOM_COLUMNS = re.compile(r"(?:[ \t]*_atom_site\.\S*[ \t]*(?:\r?\n|\Z))+")
_CIF_HASH_LINE = re.compile(r"^#", re.MULTILINE)
# One CIF value: a quoted string (closed by its quote followed by white space) or a bare word.
_CIF_TOKEN = re.compile(r"""'(?:[^'\r\n]|'(?=\S))*'(?=\s|$)|"(?:[^"\r\n]|"(?=\S))*"(?=\s|$)|\S+""")


def _line_count(text: str) -> int:
    """The number of the file's last line (1-based), not counting an empty line after the final newline."""
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _pdb_record_is_cut(line: str, previous: str | None, final_newline: bool) -> bool:
    """Whether a coordinate record lacks the columns it needs, or (at a file's end with no newline) is shorter
    than the record before it."""
    needed = 70 if line.startswith(("ANISOU", "SIGUIJ")) else 54  # U(ij) to column 70; x, y, z to column 54
    if len(line) < needed:
        return True
    if line.startswith(("ATOM", "HETATM")):
        try:
            float(line[30:38]), float(line[38:46]), float(line[46:54])
        except ValueError:
            return True
    return not final_newline and previous is not None and len(line) < len(previous)


def _check_pdb_end(text: str, path: Path) -> bool:
    """Refuse a PDB text cut inside its coordinates; True when the file marks no end at all (only the sequence
    can tell whether such a file was cut between two records)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    if last < 0:
        raise StructureError(f"{path}: the file is empty" if not text else f"{path}: the file holds only blank lines")
    n = last
    cut_name = not text.endswith("\n") and any(name.startswith(lines[n].rstrip()) for name in _PDB_COORD_RECORDS)
    while n >= 0 and not lines[n].startswith(_PDB_COORD_RECORDS) and not (n == last and cut_name):
        n -= 1
    if n < 0:
        raise StructureError(
            f"{path}: line {last + 1}: the file ends before any ATOM or HETATM record (truncated, or not a "
            "structure file?)"
        )
    if n < last:
        return False  # a record follows the coordinates: the file was not cut inside them
    line = lines[n].rstrip("\r")
    record = next((name for name in _PDB_COORD_RECORDS if name.startswith(line.rstrip())), line[:6].strip())
    record = f"{'an' if record[:1] in 'AEIOU' else 'a'} {record}"
    previous = lines[n - 1].rstrip("\r") if n > 0 and lines[n - 1].startswith(_PDB_COORD_RECORDS) else None
    has_eol = n < len(lines) - 1 or text.endswith("\n")
    if _pdb_record_is_cut(line, previous, has_eol):
        raise StructureError(f"{path}: line {n + 1}: the file ends inside {record} record (truncated?)")
    if _PDB_END_MARK.search(text):
        raise StructureError(
            f"{path}: line {n + 1}: the file ends with {record} record and no TER, ENDMDL or END record "
            "after the last model (truncated?)"
        )
    return True


def _cif_values(line: str) -> tuple[int, bool]:
    """The number of values on one data line of a CIF loop (a comment ends the line), and whether the line
    opens a quoted string that it never closes."""
    count, open_quote = 0, False
    for match in _CIF_TOKEN.finditer(line):
        token = match.group()
        if token.startswith("#"):
            break
        count += 1
        # a quoted value that _CIF_TOKEN read as a bare word has no closing quote on this line
        open_quote = open_quote or (token[0] in "'\"" and (len(token) < 2 or token[-1] != token[0]))
    return count, open_quote


def _check_cif_end(text: str, path: Path) -> bool:
    """Refuse an mmCIF text cut inside its `_atom_site` loop; True when the loop runs to the end of a file that
    marks no end (no `#` line anywhere), so only the sequence can tell whether it was cut between rows."""
    found = _CIF_ATOM_LOOP.search(text)
    end_line = _line_count(text)
    if found is None:
        if "_atom_site." in text:
            return False  # a one-atom _atom_site written as pairs, not a loop: biotite decides
        if not text.strip():
            raise StructureError(
                f"{path}: the file is empty" if not text else f"{path}: the file holds only blank lines"
            )
        raise StructureError(
            f"{path}: line {end_line}: the file ends before any _atom_site loop (truncated, or not a structure file?)"
        )
    header = _CIF_ATOM_COLUMNS.match(text, text.rindex("\n", 0, found.end()) + 1)
    if header is None:  # the header line is cut inside "_atom_site." itself
        raise StructureError(
            f"{path}: line {end_line}: the file ends inside the _atom_site loop, before its first row (truncated?)"
        )
    columns, rows_start = header.group().count("_atom_site."), header.end()
    closed = _CIF_LOOP_STOP.search(text, rows_start)
    if closed is not None:
        return False  # the loop ends before the file does
    body = text[rows_start:]
    rows = [row for row in body.split("\n") if row.strip()]
    if not rows:
        raise StructureError(
            f"{path}: line {end_line}: the file ends inside the _atom_site loop, before its first row (truncated?)"
        )
    if "\n;" in "\n" + body:  # a ';' text field: count every value of the loop
        values, in_text = 0, False
        for row in rows:
            if row.startswith(";"):
                values += 0 if in_text else 1
                in_text = not in_text
            elif not in_text:
                values += _cif_values(row)[0]
        if in_text:
            raise StructureError(f"{path}: line {end_line}: the file ends inside a ';' text field (truncated?)")
        partial, open_quote = values % columns, False
    else:
        first = _cif_values(rows[0])[0]
        count, open_quote = _cif_values(rows[-1])
        if first == columns:  # one row per line (every common writer): the last line is the last row
            partial = count % columns
        else:
            partial = sum(_cif_values(row)[0] for row in rows) % columns
    if open_quote:
        raise StructureError(f"{path}: line {end_line}: the file ends inside a quoted value (truncated?)")
    if partial:
        raise StructureError(
            f"{path}: line {end_line}: the file ends inside an _atom_site row ({partial} of its {columns} values; "
            "truncated?)"
        )
    if not text.endswith("\n"):
        raise StructureError(
            f"{path}: line {end_line}: the file ends inside an _atom_site row (no end of line after its last "
            "value; truncated?)"
        )
    if _CIF_HASH_LINE.search(text):
        raise StructureError(
            f"{path}: line {end_line}: the file ends inside the _atom_site loop, without the '#' line that "
            "closes every other category of this file (truncated?)"
        )
    return True


def _read_structure(path: PathLike) -> tuple[struc.AtomArray, bool]:
    """Read the first model, first altloc, of a PDB or mmCIF file (gzipped or not), hydrogens removed.

    Returns:
        The atoms, and whether the file marks no end (a PDB file without any TER/END-style record, an mmCIF
        file without `#` lines whose `_atom_site` loop runs to its end) and so may have been cut between two
        atom records.

    Raises:
        StructureError: the file is missing, cut short (the message names the line) or unreadable, or holds no
            atoms.
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: no such structure file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise StructureError(f"{path}: the gzip stream ends early (truncated?)") from None
        except (OSError, zlib.error) as exc:
            raise StructureError(f"{path}: cannot decompress ({exc})") from None
    text = raw.decode("utf-8", errors="replace")
    names = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    is_cif = (bool(names) and names[-1] in (".cif", ".mmcif")) or text.lstrip().startswith("data_")
    open_end = _check_cif_end(text, path) if is_cif else _check_pdb_end(text, path)
    try:
        if is_cif:
            atoms = pdbx.get_structure(pdbx.CIFFile.read(io.StringIO(text)), model=1, altloc="first")
        else:
            atoms = pdb.get_structure(pdb.PDBFile.read(io.StringIO(text)), model=1, altloc="first")
    except Exception as exc:  # biotite raises many types on malformed input
        raise StructureError(
            f"{path}: cannot read as {'mmCIF' if is_cif else 'PDB'} ({type(exc).__name__}: {exc})"
        ) from None
    if atoms.array_length() == 0:
        raise StructureError(f"{path}: the structure holds no atoms")
    return atoms[(atoms.element != "H") & (atoms.element != "D")], open_end


def read_atoms(path: PathLike) -> struc.AtomArray:
    """Read the first model, first altloc, of a PDB or mmCIF file (gzipped or not), hydrogens removed.

    Args:
        path: the structure file.

    Returns:
        Its atoms (biotite `AtomArray`), every chain, without hydrogens.

    Raises:
        StructureError: the file is missing, cut short inside its atom records (the message names the line)
            or unreadable, or holds no atoms.
    """
    return _read_structure(path)[0]


def polymer_mask(atoms: struc.AtomArray) -> tuple[np.ndarray, str]:
    """Which atoms belong to the polymer a chain is made of: amino acids, or nucleotides where those are more.

    Args:
        atoms: the atoms of one chain.

    Returns:
        A boolean mask over the atoms [N] and the polymer's kind, "protein" or "nucleic".
    """
    amino = struc.filter_amino_acids(atoms)
    nucleic = struc.filter_nucleotides(atoms)
    if nucleic.sum() > amino.sum():
        return nucleic, "nucleic"
    return amino, "protein"


def _select_chain(atoms: struc.AtomArray, chain: str | None, path: PathLike) -> tuple[struc.AtomArray, str, str]:
    chain_ids = list(dict.fromkeys(str(c) for c in atoms.chain_id))
    if chain is None:
        for candidate in chain_ids:
            selected = atoms[atoms.chain_id == candidate]
            mask, kind = polymer_mask(selected)
            if mask.any():
                return selected[mask], candidate, kind
        raise StructureError(f"{path}: no protein or nucleic-acid chain found")
    wanted = "" if chain in BLANK_CHAIN_NAMES else chain
    matches = [c for c in chain_ids if c.strip() == wanted]
    if not matches:
        shown = ["'-' (blank)" if not c.strip() else c for c in chain_ids]
        raise ChainNotFoundError(f"{path}: chain {chain!r} not found; chains present: {', '.join(shown)}")
    selected = atoms[atoms.chain_id == matches[0]]
    mask, kind = polymer_mask(selected)
    if not mask.any():
        raise StructureError(f"{path}: chain {chain!r} has no amino-acid or nucleotide residues")
    return selected[mask], matches[0], kind


def _letter(res_name: str, kind: str) -> str:
    code = struc_info.one_letter_code(res_name)
    if code is None or len(code) != 1:
        return "X" if kind == "protein" else "N"
    return code.upper()


def _virtual_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Ideal C-beta from backbone N, CA, C (the trRosetta constants)."""
    b = ca - n
    c_vec = c - ca
    a = np.cross(b, c_vec)
    return -0.58273431 * a + 0.56802827 * b - 0.54067466 * c_vec + ca


def _representative(residue: struc.AtomArray, atom: str, kind: str) -> np.ndarray:
    """One coordinate per residue, NaN when the atoms needed are missing."""
    coords = {str(name): residue.coord[k] for k, name in enumerate(residue.atom_name)}
    missing = np.full(3, np.nan)
    if atom == "CB" and kind == "protein":
        if "CB" in coords:
            return coords["CB"]
        if str(residue.res_name[0]) == "GLY" or not all(a in coords for a in ("N", "CA", "C")):
            return coords.get("CA", missing)
        return _virtual_cb(coords["N"], coords["CA"], coords["C"])
    return coords.get(atom, missing)


def _chain_distances(
    chain_atoms: struc.AtomArray, starts: np.ndarray, atom: str, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Residue-residue distance matrix of the chain and its resolved mask."""
    bounds = [*list(starts), chain_atoms.array_length()]
    residues = [chain_atoms[bounds[n] : bounds[n + 1]] for n in range(len(starts))]
    if atom == "heavy":
        coords = chain_atoms.coord.astype(np.float64)
        atom_dist = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))
        per_row = np.minimum.reduceat(atom_dist, starts, axis=0)
        dist = np.minimum.reduceat(per_row, starts, axis=1)
        return dist, np.ones(len(starts), dtype=bool)
    points = np.stack([_representative(r, atom, kind) for r in residues]).astype(np.float64)
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    return dist, np.asarray(~np.isnan(points).any(axis=1))


def _check_sequence(sequence: str, where: str) -> None:
    if not sequence:
        raise EmptySequenceError(f"{where}: the sequence is empty")
    for position, letter in enumerate(sequence, start=1):
        if not ("A" <= letter <= "Z"):
            raise InvalidSequenceError(
                f"{where}: letter {letter!r} at position {position} is not an upper-case residue letter"
            )


def _align_to_sequence(
    structure_seq: str, sequence: str, kind: str, path: PathLike, chain: str, min_identity: float
) -> list[tuple[int, int]]:
    """Pairs (structure index, sequence index) from a global alignment with free end gaps."""
    if kind == "protein":
        known = set(ProteinSequence.alphabet.get_symbols())

        def to_seq(s: str) -> ProteinSequence:
            return ProteinSequence("".join(c if c in known else "X" for c in s))

        matrix = bioalign.SubstitutionMatrix.std_protein_matrix()
    else:
        known = set(NucleotideSequence.alphabet_amb.get_symbols())

        def to_seq(s: str) -> NucleotideSequence:
            return NucleotideSequence("".join(c if c in known else "N" for c in s.replace("U", "T")), ambiguous=True)

        matrix = bioalign.SubstitutionMatrix.std_nucleotide_matrix()
    alignment = bioalign.align_optimal(
        to_seq(structure_seq), to_seq(sequence), matrix, gap_penalty=(-10, -1), terminal_penalty=False, max_number=1
    )[0]
    pairs = [(int(a), int(b)) for a, b in alignment.trace if a >= 0 and b >= 0]
    identical = sum(structure_seq[a] == sequence[b] for a, b in pairs)
    identity = identical / len(pairs) if pairs else 0.0
    if not pairs or identity < min_identity or len(pairs) < min(len(structure_seq), len(sequence)) * 0.5:
        first_bad = next(((a, b) for a, b in pairs if structure_seq[a] != sequence[b]), None)
        detail = (
            f"; first mismatch: structure residue {first_bad[0] + 1} {structure_seq[first_bad[0]]!r} vs "
            f"sequence position {first_bad[1] + 1} {sequence[first_bad[1]]!r}"
            if first_bad
            else ""
        )
        raise SequenceMismatchError(
            f"{path}: chain {chain!r} ({len(structure_seq)} residues) does not match the sequence "
            f"({len(sequence)} residues): {len(pairs)} aligned, identity {identity:.2f} < {min_identity}{detail}"
        )
    return pairs


def _ends_the_file(atoms: struc.AtomArray, chain_atoms: struc.AtomArray) -> bool:
    """Whether the file's last atom (first model) is the last polymer atom of the chain read."""
    last, mine = atoms[-1], chain_atoms[-1]
    return bool(
        last.chain_id == mine.chain_id
        and last.res_id == mine.res_id
        and last.ins_code == mine.ins_code
        and last.atom_name == mine.atom_name
        and np.array_equal(last.coord, mine.coord)
    )


def _missing_in_last_residue(chain_atoms: struc.AtomArray, start: int, atom: str, kind: str) -> list[str]:
    """The atoms that `atom` needs and the chain's last residue lacks: what a cut inside that residue removed."""
    residue = chain_atoms[start:]
    present = {str(name) for name in residue.atom_name}
    res_name = str(residue.res_name[0])
    if atom == "heavy":
        try:
            reference = struc_info.residue(res_name)
        except Exception:  # a residue the chemical component dictionary does not know: nothing to compare
            return []
        wanted = [
            str(name)
            for name, element in zip(reference.atom_name, reference.element, strict=True)
            if element not in ("H", "D") and name not in ("OXT", "OP3")  # leaving atoms, absent inside a chain
        ]
    elif atom == "CB" and kind == "protein":
        wanted = ["CA"] if res_name == "GLY" else ["CB"]
    else:
        wanted = [atom]
    return [name for name in wanted if name not in present]


def _check_not_cut_short(
    path: PathLike, chain_id: str, resolved: np.ndarray, residue_ids: list[str | None], sequence: str
) -> None:
    """Refuse a chain that ends the file, in a file that marks no end, before the sequence's last residue."""
    where = np.flatnonzero(resolved)
    if where.size == 0 or where[-1] == len(sequence) - 1:
        return
    last, shown = int(where[-1]), chain_id.strip() or "-"
    raise StructureError(
        f"{path}: chain {shown!r} stops at residue {residue_ids[last]} (sequence position {last + 1} of "
        f"{len(sequence)}, {where.size} resolved) where the file ends, with no TER or END record: the file looks "
        f"truncated, {len(sequence) - 1 - last} residues short of the sequence's end; if the structure really "
        "stops there, end the file with an END record (mmCIF: a '#' line after the _atom_site loop)"
    )


def contact_map(
    path: PathLike,
    chain: str | None = None,
    sequence: str | None = None,
    atom: str | None = None,
    threshold: float = 8.0,
    *,
    min_identity: float = 0.9,
) -> ContactMap:
    """True contact map of one chain of a PDB/mmCIF file (gzipped or not).

    First model, first altloc; hydrogens are ignored. The chain is a nucleic acid when it has more nucleotide
    than amino-acid atoms, else a protein; see the module docstring for the distance conventions.

    Truncated files are refused, never scored. One pass over the text checks, before biotite reads it:

    - PDB: the file must not end inside a coordinate record (the last ATOM/HETATM line short of column 54
      or with x, y, z that do not parse; a last line without a newline shorter than the record before it);
      and a file that marks where its coordinates end anywhere (a TER, ENDMDL, END, CONECT, MASTER, HEADER
      or MODEL record) must have a record after its last coordinate record.
    - mmCIF: the file must hold an `_atom_site` loop; if that loop runs to the end of the file, its last row
      must have all the loop's values, no unclosed quote or text field, and an end of line, and the file
      must have no `#` line anywhere (PDBx writers, RCSB and biotite close every category with `#`, so a
      loop with no `#` after it was cut).
    - gzip: a compressed stream that stops early is refused.

    A file that marks no end (bare ATOM/HETATM lines; biotite's PDB output, CRYST1 and atoms) can still be
    cut between two records. Where the chain read is the last thing in such a file (no waters, ligands or
    other chains after it): its last residue must hold the atoms `atom` needs (C-beta, or C-alpha for
    glycine; the named atom; every heavy atom of the residue but leaving atoms for "heavy"), else the file
    ends inside that residue; and, with `sequence` given, the chain's last resolved residue must align to
    the sequence's last residue, else the file ends exactly where the chain stops short. Both are refused.
    A domain of a longer sequence or a disordered C-terminal tail is still read when the file ends with TER
    or END (as wwPDB and CASP files and biotite's mmCIF do) or other records follow the chain; unresolved
    residues inside the chain never count. Without `sequence` nothing says how long the chain should be, and
    such a file cut exactly between two residues reads as the residues it holds.

    Args:
        path: a PDB or mmCIF file (mmCIF by a ".cif"/".mmcif" suffix or a "data_" first line), gzipped or not.
        chain: chain id; None takes the first chain with polymer residues; "-" or "" a blank chain id.
        sequence: align the chain to it (biotite global alignment, free end gaps) and return everything in
            its index space, residues absent from the structure unresolved; None uses the chain's own
            sequence. Must be upper-case letters.
        atom: "CB" (protein default: C-beta, C-alpha for glycine, a virtual C-beta when missing), "CA",
            "heavy" (nucleic-acid default: the nearest pair of heavy atoms) or any atom name; None picks the
            default for the chain's kind.
        threshold: the contact cutoff in Angstrom; residues whose distance is strictly below it are in contact.
        min_identity: the smallest fraction of aligned residues that must be identical when `sequence` is
            given.

    Returns:
        The true contacts, distances and resolved mask of the chain, in the index space of `sequence` (or the
            chain's own).

    Raises:
        StructureError: if the file is missing or unreadable, is truncated (the message names the file and
            the line, or the residue where a file that marks no end stops short), holds no atoms or no
            protein or nucleic-acid chain, no residue has `atom`, or `threshold` is not a positive finite
            number.
        ChainNotFoundError: if `chain` is not in the structure (the message lists the chains present).
        SequenceMismatchError: if fewer than `min_identity` of the aligned residues are identical, or fewer
            than half of the shorter sequence aligns.
        EmptySequenceError: if `sequence` is empty.
        InvalidSequenceError: if `sequence` holds a character other than an upper-case letter.
    """
    _check_threshold(threshold)
    return read_chain(path, chain=chain, atom=atom).contact_map(sequence, threshold, min_identity=min_identity)


def _check_threshold(threshold: float) -> None:
    if not (threshold > 0 and math.isfinite(threshold)):
        raise StructureError(f"threshold must be a positive number of Angstrom; got {threshold}")


@dataclass(frozen=True)
class StructureChain:
    """One chain of a structure file, read and measured once (`read_chain`); `contact_map` then aligns it to
    any number of sequences without reading the file again.

    Attributes:
        path: the file it was read from.
        chain: the chain id as in the file (blank kept as is).
        kind: "protein" or "nucleic".
        atom: the atom that places each residue ("CB", "CA", "heavy" or an atom name).
        sequence: the chain's own sequence, one letter per residue of the structure.
        residue_ids: the structure's residue number plus insertion code of each residue.
        distances: [n, n] residue-residue distances in Angstrom (NaN where a residue lacks `atom`).
        has_atom: [n], True for a residue that has the coordinates `atom` needs.
        missing_at_end: the atoms the chain's last residue lacks where the file marks no end and the chain is
            the last thing in it (a cut inside that residue), else empty.
    """

    path: PathLike
    chain: str
    kind: str
    atom: str
    sequence: str
    residue_ids: tuple[str, ...]
    distances: np.ndarray
    has_atom: np.ndarray
    missing_at_end: tuple[str, ...]
    last_residue_name: str
    open_end: bool

    def contact_map(self, sequence: str | None = None, threshold: float = 8.0, *,
                    min_identity: float = 0.9) -> ContactMap:  # fmt: skip
        """The true contacts of this chain in the index space of `sequence` (see `interp.structures.structure.contact_map`).

        Args:
            sequence: align the chain to it; None uses the chain's own sequence.
            threshold: the contact cutoff in Angstrom.
            min_identity: the smallest fraction of aligned residues that must be identical.

        Returns:
            The `ContactMap`.

        Raises:
            StructureError: `threshold` is not a positive finite number, or the file ends inside the chain.
            SequenceMismatchError, EmptySequenceError, InvalidSequenceError: as for `contact_map`.
        """
        _check_threshold(threshold)
        path, chain_id = self.path, self.chain
        if sequence is None:
            out_seq = self.sequence
            index_pairs = [(n, n) for n in range(len(self.sequence))]
        else:
            _check_sequence(sequence, f"sequence for {path} chain {chain_id!r}")
            out_seq = sequence
            index_pairs = _align_to_sequence(self.sequence, sequence, self.kind, path, chain_id, min_identity)

        length = len(out_seq)
        struct_index = np.array([a for a, _ in index_pairs], dtype=np.int64)
        seq_index = np.array([b for _, b in index_pairs], dtype=np.int64)
        resolved = np.zeros(length, dtype=bool)
        resolved[seq_index] = self.has_atom[struct_index]
        distances = np.full((length, length), np.nan)
        distances[np.ix_(seq_index, seq_index)] = self.distances[np.ix_(struct_index, struct_index)]
        distances[~resolved, :] = np.nan
        distances[:, ~resolved] = np.nan
        residue_ids: list[str | None] = [None] * length
        for a, b in index_pairs:
            if self.has_atom[a]:
                residue_ids[b] = self.residue_ids[a]
        if self.missing_at_end:
            raise StructureError(
                f"{path}: chain {chain_id.strip() or '-'!r}: the file ends inside residue {self.residue_ids[-1]} "
                f"({self.last_residue_name}, no {', '.join(self.missing_at_end)}) with no TER or END record: the "
                "file looks truncated; if the structure really stops there, end the file with an END record "
                "(mmCIF: a '#' line after the _atom_site loop)"
            )
        if self.open_end and sequence is not None:
            _check_not_cut_short(path, chain_id, resolved, residue_ids, sequence)
        contacts = np.nan_to_num(distances, nan=np.inf) < threshold
        np.fill_diagonal(contacts, False)
        return ContactMap(
            sequence=out_seq,
            contacts=torch.from_numpy(contacts),
            distances=torch.from_numpy(distances.astype(np.float32)),
            resolved=torch.from_numpy(resolved),
            residue_ids=tuple(residue_ids),
            chain=chain_id.strip() or "-",
            kind=self.kind,
            atom=self.atom,
            threshold=float(threshold),
        )


def read_chain(path: PathLike, chain: str | None = None, atom: str | None = None) -> StructureChain:
    """Read one chain of a PDB/mmCIF file and measure its residue distances, once.

    `contact_map(path, ...)` is `read_chain(path, chain, atom).contact_map(sequence, threshold)`; read the chain
    yourself to score many sequences against one structure (`interp contacts --structure` does).

    Args:
        path: a PDB or mmCIF file, gzipped or not.
        chain: chain id; None takes the first chain with polymer residues; "-" or "" a blank chain id.
        atom: "CB", "CA", "heavy" or an atom name; None picks the default for the chain's kind.

    Returns:
        The `StructureChain`.

    Raises:
        StructureError: the file is missing, unreadable or truncated, holds no protein or nucleic-acid chain,
            or no residue has `atom`.
        ChainNotFoundError: `chain` is not in the structure.
    """
    atoms, open_end = _read_structure(path)
    chain_atoms, chain_id, kind = _select_chain(atoms, chain, path)
    atom = atom or ("CB" if kind == "protein" else "heavy")
    starts = struc.get_residue_starts(chain_atoms)
    structure_seq = "".join(_letter(str(chain_atoms.res_name[s]), kind) for s in starts)
    ids = tuple(f"{int(chain_atoms.res_id[s])}{str(chain_atoms.ins_code[s]).strip()}" for s in starts)
    dist, has_atom = _chain_distances(chain_atoms, starts, atom, kind)
    if not has_atom.any():
        raise StructureError(f"{path}: chain {chain_id!r}: no residue has the atom {atom!r}")
    chain_is_last = open_end and _ends_the_file(atoms, chain_atoms)
    missing = _missing_in_last_residue(chain_atoms, int(starts[-1]), atom, kind) if chain_is_last else []
    return StructureChain(
        path=path, chain=chain_id, kind=kind, atom=atom, sequence=structure_seq, residue_ids=ids, distances=dist,
        has_atom=has_atom, missing_at_end=tuple(missing), last_residue_name=str(chain_atoms.res_name[starts[-1]]),
        open_end=chain_is_last,
    )  # fmt: skip

__all__ = ["ContactMap", "StructureChain", "contact_map", "read_chain"]
