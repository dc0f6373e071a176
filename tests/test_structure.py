"""Structures to contact maps, checked against an independent PDB column parser and plain numpy distances."""

from __future__ import annotations

import gzip
from pathlib import Path

import biotite.structure.io.pdb as pdb
import biotite.structure.io.pdbx as pdbx
import numpy as np
import pytest
from helpers import DATA, families, requires_data

from interp.errors import ChainNotFoundError, InvalidSequenceError, SequenceMismatchError, StructureError
from interp.files.io import read_alignment
from interp.structures.structure import contact_map

THREE_TO_ONE = dict(
    ALA="A", ARG="R", ASN="N", ASP="D", CYS="C", GLN="Q", GLU="E", GLY="G", HIS="H", ILE="I",
    LEU="L", LYS="K", MET="M", PHE="F", PRO="P", SER="S", THR="T", TRP="W", TYR="Y", VAL="V", MSE="M",
)  # fmt: skip

STRUCTURES = sorted((DATA / "structures").glob("*.pdb.gz")) if DATA else []


def read_text(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return handle.read().splitlines()


def independent_cb_map(lines: list[str], chain: str | None = None):
    """Parse ATOM (and HETATM MSE) columns by hand: first model, first altloc per residue, C-beta rules."""
    residues: dict[tuple, dict] = {}
    for line in lines:
        if line.startswith("ENDMDL"):
            break
        record, name = line[:6], line[17:20].strip()
        if record != "ATOM  " and not (record == "HETATM" and name == "MSE"):
            continue
        if name not in THREE_TO_ONE:
            continue
        atom, element = line[12:16].strip(), line[76:78].strip()
        if element in ("H", "D") or (not element and atom.startswith("H")):
            continue
        key = (line[21], int(line[22:26]), line[26].strip())
        if chain is not None and key[0].strip() != chain:
            continue
        residue = residues.setdefault(key, {"name": name, "atoms": {}, "altloc": None})
        altloc = line[16]
        if altloc != " ":
            if residue["altloc"] is None:
                residue["altloc"] = altloc
            elif altloc != residue["altloc"]:
                continue
        residue["atoms"].setdefault(atom, np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])]))
    first_chain = next(iter(residues))[0] if residues else None
    keys = [k for k in residues if k[0] == first_chain]
    points = []
    for key in keys:
        atoms, name = residues[key]["atoms"], residues[key]["name"]
        if "CB" in atoms:
            points.append(atoms["CB"])
        elif name == "GLY" or not all(a in atoms for a in ("N", "CA", "C")):
            points.append(atoms.get("CA", np.full(3, np.nan)))
        else:
            b, c = atoms["CA"] - atoms["N"], atoms["C"] - atoms["CA"]
            points.append(-0.58273431 * np.cross(b, c) + 0.56802827 * b - 0.54067466 * c + atoms["CA"])
    points = np.array(points)
    dist = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    finite = ~np.isnan(points).any(axis=1)  # a residue with neither C-beta nor C-alpha has no coordinates
    ids = [f"{k[1]}{k[2]}" for k, ok in zip(keys, finite, strict=False) if ok]
    sequence = "".join(THREE_TO_ONE[residues[k]["name"]] for k, ok in zip(keys, finite, strict=False) if ok)
    return ids, sequence, dist[np.ix_(finite, finite)]


@requires_data
def test_every_crystal_structure_parses_and_matches_an_independent_computation():
    assert len(STRUCTURES) == 148
    insertion_codes = 0
    for path in STRUCTURES:
        ours = contact_map(path)
        ids, sequence, dist = independent_cb_map(read_text(path))
        index = {rid: n for n, rid in enumerate(ours.residue_ids) if rid is not None}
        assert set(ids) <= set(index), f"{path.name}: residues missing from the parsed chain"
        extra = [rid for rid in index if rid not in set(ids)]
        assert len(extra) <= 0.05 * len(ids), f"{path.name}: {len(extra)} residues beyond ATOM records: {extra[:5]}"
        rows = [index[rid] for rid in ids]
        assert "".join(ours.sequence[r] for r in rows) == sequence, path.name
        np.testing.assert_allclose(ours.distances.numpy()[np.ix_(rows, rows)], dist, atol=2e-3, err_msg=path.name)
        contacts = dist < 8.0
        np.fill_diagonal(contacts, False)
        assert np.array_equal(ours.contacts.numpy()[np.ix_(rows, rows)], contacts), path.name
        insertion_codes += sum(not rid[-1].isdigit() for rid in ids)
    assert insertion_codes > 0  # the set holds residues numbered with insertion codes


@requires_data
@pytest.mark.parametrize("family", families(), ids=lambda f: f["id"])
def test_family_structure_matches_alignment_query(family):
    rows = read_alignment(DATA / family["msa"])
    query = rows[0].sequence
    assert len(query) == int(family["query_length"]) and len(rows) == int(family["sequences"])
    chain = None if family["chain"] == "-" else family["chain"]
    truth = contact_map(DATA / family["structure"], chain=chain, sequence=query)
    assert len(truth) == len(query)
    assert int(truth.resolved.sum()) == int(family["resolved"])
    resolved = truth.resolved.numpy()
    assert np.isnan(truth.distances.numpy()[~resolved]).all()
    assert not truth.contacts.numpy()[~resolved].any()
    assert truth.kind == ("protein" if family["kind"] == "protein" else "nucleic")


@requires_data
def test_structure_not_starting_at_one_is_placed_by_alignment(data_dir):
    query = read_alignment(data_dir / "protein/T0866-D1/hhb-cov60.a3m")[0].sequence
    truth = contact_map(data_dir / "protein/T0866-D1/T0866-D1.pdb", sequence=query)
    resolved = np.flatnonzero(truth.resolved.numpy())
    assert resolved[0] == 37 and resolved[-1] == 140  # query residues 38-141
    assert truth.residue_ids[37] == "38"


@requires_data
def test_rna_atom_choices(data_dir):
    path = data_dir / "rna/RF00005_1_1ehz/1ehz_A.pdb"
    heavy = contact_map(path, chain="A")
    c1 = contact_map(path, chain="A", atom="C1'")
    assert heavy.atom == "heavy" and heavy.sequence.startswith("GCGGAUUUA")
    d_heavy, d_c1 = heavy.distances.numpy(), c1.distances.numpy()
    off = ~np.eye(len(heavy), dtype=bool)
    assert (d_heavy[off] <= d_c1[off] + 1e-4).all()  # the closest heavy atoms are never further than C1'
    assert heavy.contacts.sum() > c1.contacts.sum()


@requires_data
def test_gzipped_mmcif_gives_the_same_map(data_dir, tmp_path):
    source = data_dir / "protein/1a3a_A/1a3a.pdb"
    atoms = pdb.get_structure(pdb.PDBFile.read(str(source)), model=1)
    cif = pdbx.CIFFile()
    pdbx.set_structure(cif, atoms)
    plain = tmp_path / "1a3a.cif"
    cif.write(str(plain))
    gz = tmp_path / "1a3a.cif.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    from_pdb, from_cif = contact_map(source, chain="A"), contact_map(gz, chain="A")
    assert from_cif.sequence == from_pdb.sequence
    np.testing.assert_allclose(from_cif.distances.numpy(), from_pdb.distances.numpy(), atol=1e-3)


@requires_data
def test_missing_cb_is_rebuilt_virtually(data_dir, tmp_path):
    lines = read_text(data_dir / "protein/1a3a_A/1a3a.pdb")
    stripped = [ln for ln in lines if not (ln.startswith("ATOM") and ln[12:16].strip() == "CB")]
    path = tmp_path / "no_cb.pdb"
    path.write_text("\n".join(stripped) + "\n")
    real, virtual = contact_map(data_dir / "protein/1a3a_A/1a3a.pdb", "A"), contact_map(path, "A")
    diff = np.abs(real.distances.numpy() - virtual.distances.numpy())
    assert virtual.resolved.all() and np.nanmax(diff) < 1.0  # ideal geometry sits within tenths of an Angstrom


@requires_data
def test_selenomethionine_reads_as_methionine(data_dir, tmp_path):
    lines = read_text(data_dir / "protein/1a3a_A/1a3a.pdb")
    edited = []
    for ln in lines:
        if ln.startswith("ATOM") and ln[17:20] == "MET":
            ln = "HETATM" + ln[6:17] + "MSE" + ln[20:]
            if ln[12:16].strip() == "SD":
                ln = ln[:12] + " SE " + ln[16:76] + "SE" + ln[78:]
        edited.append(ln)
    path = tmp_path / "mse.pdb"
    path.write_text("\n".join(edited) + "\n")
    assert contact_map(path, "A").sequence == contact_map(data_dir / "protein/1a3a_A/1a3a.pdb", "A").sequence


def _atom_line(serial, name, resname, resseq, x, altloc=" ", element="C"):
    return (
        f"ATOM  {serial:5d} {name:<4s}{altloc}{resname:3s} A{resseq:4d}    "
        f"{x:8.3f}{0.0:8.3f}{0.0:8.3f}  1.00  0.00          {element:>2s}"
    )


def test_first_altloc_and_glycine_ca(tmp_path):
    lines = [
        _atom_line(1, "CA", "GLY", 1, 0.0),
        _atom_line(2, "CA", "ALA", 2, 3.8),
        _atom_line(3, "CB", "ALA", 2, 5.0, altloc="A"),
        _atom_line(4, "CB", "ALA", 2, 50.0, altloc="B"),
        _atom_line(5, "CA", "GLY", 3, 20.0),
    ]
    path = tmp_path / "tiny.pdb"
    path.write_text("\n".join(lines) + "\nEND\n")
    truth = contact_map(path)
    assert truth.sequence == "GAG"
    assert truth.distances[0, 1].item() == pytest.approx(5.0)  # altloc A's C-beta, glycine's C-alpha
    assert bool(truth.contacts[0, 1]) and not bool(truth.contacts[0, 2]) and not bool(truth.contacts[0, 0])


def test_bad_structure_files_raise_typed_errors(tmp_path):
    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    with pytest.raises(StructureError, match=r"empty\.pdb"):
        contact_map(empty)
    garbage = tmp_path / "garbage.cif"
    garbage.write_bytes(b"\x00\x01 not a structure \xff" * 20)
    with pytest.raises(StructureError, match=r"garbage\.cif"):
        contact_map(garbage)
    broken_gz = tmp_path / "broken.pdb.gz"
    broken_gz.write_bytes(gzip.compress(b"ATOM  " * 100)[:30])
    with pytest.raises(StructureError, match=r"broken\.pdb\.gz"):
        contact_map(broken_gz)
    with pytest.raises(StructureError, match="no such"):
        contact_map(tmp_path / "absent.pdb")


@requires_data
def test_chain_and_sequence_errors_name_what_is_wrong(data_dir):
    path = data_dir / "protein/1a3a_A/1a3a.pdb"
    with pytest.raises(ChainNotFoundError, match="chain 'Q' not found; chains present: A"):
        contact_map(path, chain="Q")
    query = contact_map(path, "A").sequence
    shuffled = "".join(sorted(query))
    with pytest.raises(SequenceMismatchError, match="does not match"):
        contact_map(path, "A", sequence=shuffled)
    with pytest.raises(InvalidSequenceError, match="position 3"):
        contact_map(path, "A", sequence=query[:2] + "-" + query[3:])
    with pytest.raises(StructureError, match="no residue has the atom"):
        contact_map(path, "A", atom="P")
