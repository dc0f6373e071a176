"""Structure file -> true contact map, with biotite.

Protein chains: C-beta distances (C-alpha for glycine; a virtual C-beta built from N, CA and C when the
C-beta is missing). Nucleic-acid chains: by default the minimum distance between any two heavy atoms of
the two nucleotides (the convention of RNA contact benchmarks); `atom="C1'"` (or any atom name) uses
that atom instead. Two residues are in contact when their distance is below `threshold` (8 Angstrom).
First model, first altloc, hydrogens ignored; modified residues take their parent's letter (MSE -> M).
"""

from __future__ import annotations

import gzip
import io
import math
import os
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


def _read_atoms(path: PathLike) -> struc.AtomArray:
    """Read the first model, first altloc, of a PDB or mmCIF file (gzipped or not)."""
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: no such structure file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise StructureError(f"{path}: cannot decompress ({exc})") from None
    text = raw.decode("utf-8", errors="replace")
    names = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    is_cif = (bool(names) and names[-1] in (".cif", ".mmcif")) or text.lstrip().startswith("data_")
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
    return atoms[(atoms.element != "H") & (atoms.element != "D")]


def _polymer_mask(atoms: struc.AtomArray) -> tuple[np.ndarray, str]:
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
            mask, kind = _polymer_mask(selected)
            if mask.any():
                return selected[mask], candidate, kind
        raise StructureError(f"{path}: no protein or nucleic-acid chain found")
    wanted = "" if chain in BLANK_CHAIN_NAMES else chain
    matches = [c for c in chain_ids if c.strip() == wanted]
    if not matches:
        shown = ["'-' (blank)" if not c.strip() else c for c in chain_ids]
        raise ChainNotFoundError(f"{path}: chain {chain!r} not found; chains present: {', '.join(shown)}")
    selected = atoms[atoms.chain_id == matches[0]]
    mask, kind = _polymer_mask(selected)
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
        StructureError: if the file is missing or unreadable, holds no atoms or no protein or nucleic-acid
            chain, no residue has `atom`, or `threshold` is not a positive finite number.
        ChainNotFoundError: if `chain` is not in the structure (the message lists the chains present).
        SequenceMismatchError: if fewer than `min_identity` of the aligned residues are identical, or fewer
            than half of the shorter sequence aligns.
        EmptySequenceError: if `sequence` is empty.
        InvalidSequenceError: if `sequence` holds a character other than an upper-case letter.
    """
    if not (threshold > 0 and math.isfinite(threshold)):
        raise StructureError(f"threshold must be a positive number of Angstrom; got {threshold}")
    atoms = _read_atoms(path)
    chain_atoms, chain_id, kind = _select_chain(atoms, chain, path)
    atom = atom or ("CB" if kind == "protein" else "heavy")
    starts = struc.get_residue_starts(chain_atoms)
    structure_seq = "".join(_letter(str(chain_atoms.res_name[s]), kind) for s in starts)
    ids = [f"{int(chain_atoms.res_id[s])}{str(chain_atoms.ins_code[s]).strip()}" for s in starts]
    dist, has_atom = _chain_distances(chain_atoms, starts, atom, kind)
    if not has_atom.any():
        raise StructureError(f"{path}: chain {chain_id!r}: no residue has the atom {atom!r}")

    if sequence is None:
        out_seq = structure_seq
        index_pairs = [(n, n) for n in range(len(structure_seq))]
    else:
        _check_sequence(sequence, f"sequence for {path} chain {chain_id!r}")
        out_seq = sequence
        index_pairs = _align_to_sequence(structure_seq, sequence, kind, path, chain_id, min_identity)

    length = len(out_seq)
    struct_index = np.array([a for a, _ in index_pairs], dtype=np.int64)
    seq_index = np.array([b for _, b in index_pairs], dtype=np.int64)
    resolved = np.zeros(length, dtype=bool)
    resolved[seq_index] = has_atom[struct_index]
    distances = np.full((length, length), np.nan)
    distances[np.ix_(seq_index, seq_index)] = dist[np.ix_(struct_index, struct_index)]
    distances[~resolved, :] = np.nan
    distances[:, ~resolved] = np.nan
    residue_ids: list[str | None] = [None] * length
    for a, b in index_pairs:
        if has_atom[a]:
            residue_ids[b] = ids[a]
    contacts = np.nan_to_num(distances, nan=np.inf) < threshold
    np.fill_diagonal(contacts, False)
    return ContactMap(
        sequence=out_seq,
        contacts=torch.from_numpy(contacts),
        distances=torch.from_numpy(distances.astype(np.float32)),
        resolved=torch.from_numpy(resolved),
        residue_ids=tuple(residue_ids),
        chain=chain_id.strip() or "-",
        kind=kind,
        atom=atom,
        threshold=float(threshold),
    )


__all__ = ["ContactMap", "contact_map"]
