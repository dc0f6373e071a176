"""Truncated structure files (issue 22, item 9): a cut file is a `StructureError`, never a score.

Real PDB and mmCIF files (the mmCIF ones written by biotite from real PDB files, one of them in the style of
writers that put no `#` between categories) are cut at every 10% of their bytes (mid-line, as the bytes
fall) and at the line boundary nearest each 10%. Every cut must raise `StructureError` naming the file, and
the line when the cut falls inside an atom record, or, where the chain survives whole, give exactly the
full file's map.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import biotite.structure.io.pdb as pdb
import biotite.structure.io.pdbx as pdbx
import numpy as np
import pytest
import torch
from biotite.structure import filter_amino_acids
from helpers import DATA, requires_data, run_cli

from interp.errors import StructureError
from interp.files.io import read_alignment, save_contacts
from interp.structures.structure import ContactMap, contact_map

FRACTIONS = [k / 10 for k in range(1, 10)]
ATOM_RECORDS = (b"ATOM", b"HETATM", b"ANISOU")


@dataclass(frozen=True)
class Case:
    """One real file to cut: its text, the name it is written under, the chain and sequence it is read with."""

    name: str
    text: bytes  # decompressed; written gzipped when `name` ends in .gz
    chain: str | None
    sequence: str | None
    marks_end: bool  # the file's writer marks where the atoms end before any cut (so a cut shows without a sequence)


def _query(msa: str) -> str:
    assert DATA is not None
    return read_alignment(DATA / msa)[0].sequence


def _to_cif(source: Path, *, trailing_category: bool, hashes: bool = True) -> bytes:
    """The first model of a real PDB file written as mmCIF by biotite (a `#` after each category)."""
    atoms = pdb.get_structure(pdb.PDBFile.read(str(source)), model=1)
    cif = pdbx.CIFFile()
    pdbx.set_structure(cif, atoms)
    if trailing_category:  # a category after _atom_site, as RCSB files have: cuts there leave the atoms whole
        cif.block["atom_type"] = pdbx.CIFCategory({"symbol": sorted({str(e) for e in atoms.element})})
    lines = str(cif).splitlines(keepends=True)
    if not hashes:  # the style of writers (gemmi's default) that separate categories with nothing
        lines = [line for line in lines if line.strip() != "#"]
    return "".join(lines).encode()


def _cases() -> list[Case]:
    if DATA is None:
        return []
    protein = DATA / "protein"
    a3a = (protein / "1a3a_A/1a3a.pdb").read_bytes()
    a3a_seq = contact_map(protein / "1a3a_A/1a3a.pdb", chain="A").sequence
    gz = DATA / "structures/2a08.pdb.gz"
    return [
        # no header; four chains with TER after each and waters, END at the end
        Case("1a3a.pdb", a3a, "A", a3a_seq, marks_end=False),
        # a full wwPDB entry (HEADER ... MASTER, END); 120 of the query's 123 residues resolved
        Case("1paz.pdb", (protein / "1paz_A/1paz.pdb").read_bytes(), "A", _query("protein/1paz_A/1pazA.a3m"), True),
        # a domain: residues 38-141 of a 183-residue query; REMARK, TER, END
        Case(
            "T0866-D1.pdb",
            (protein / "T0866-D1/T0866-D1.pdb").read_bytes(),
            None,
            _query("protein/T0866-D1/hhb-cov60.a3m"),
            marks_end=False,
        ),
        # bare ATOM lines only: nothing marks the end, so only the sequence shows a cut between records
        Case(
            "16pkA.pdb",
            (protein / "16pk_A_crop256/16pkA.pdb").read_bytes(),
            None,
            _query("protein/16pk_A_crop256/16pkA0.aln"),
            marks_end=False,
        ),
        # an RNA chain (nearest heavy atoms); REMARK, LINK, TER
        Case(
            "1ehz_A.pdb",
            (DATA / "rna/RF00005_1_1ehz/1ehz_A.pdb").read_bytes(),
            "A",
            _query("rna/RF00005_1_1ehz/RF00005_1.faclean"),
            marks_end=False,
        ),
        # gzipped, from the crystal-structure set
        Case("2a08.pdb.gz", gzip.decompress(gz.read_bytes()), None, contact_map(gz).sequence, marks_end=False),
        Case("1a3a.cif", _to_cif(protein / "1a3a_A/1a3a.pdb", trailing_category=True), "A", a3a_seq, True),
        Case(
            "1paz.cif.gz",
            _to_cif(protein / "1paz_A/1paz.pdb", trailing_category=False),
            "A",
            _query("protein/1paz_A/1pazA.a3m"),
            marks_end=True,
        ),
        Case(
            "T0866-D1.cif",
            _to_cif(protein / "T0866-D1/T0866-D1.pdb", trailing_category=True, hashes=False),
            None,
            _query("protein/T0866-D1/hhb-cov60.a3m"),
            marks_end=False,
        ),
    ]


CASES = _cases()


def _write(folder: Path, name: str, text: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(gzip.compress(text, mtime=0) if name.endswith(".gz") else text)
    return path


def _cut_points(text: bytes) -> list[int]:
    """Every 10% of the bytes, and the line boundary nearest each (a cut just after a newline)."""
    starts = np.array([0, *[i + 1 for i in range(len(text)) if text[i] == 10]])
    points = []
    for fraction in FRACTIONS:
        at = int(len(text) * fraction)
        points += [at, int(starts[np.abs(starts - at).argmin()])]
    return sorted(set(points))


def assert_same_map(got: ContactMap, want: ContactMap, what: str) -> None:
    assert got.sequence == want.sequence, f"{what}: a different sequence"
    assert got.residue_ids == want.residue_ids, f"{what}: different residues"
    assert (got.chain, got.kind, got.atom) == (want.chain, want.kind, want.atom), what
    assert torch.equal(got.resolved, want.resolved), f"{what}: a different resolved mask"
    assert torch.equal(got.contacts, want.contacts), f"{what}: different contacts"
    assert torch.equal(got.distances.isnan(), want.distances.isnan()), what
    assert torch.equal(got.distances.nan_to_num(-1.0), want.distances.nan_to_num(-1.0)), f"{what}: other distances"


def check_cut(case: Case, text: bytes, at: int, folder: Path, sequence: str | None, full: ContactMap) -> str:
    """Read the file cut at byte `at`: a StructureError naming it (and the line, inside an atom record) or the
    full map. Returns "refused" or "read"."""
    path = _write(folder / f"{'seq' if sequence else 'noseq'}_{at}", case.name, text[:at])
    line = text[:at].count(b"\n") + 1
    last_line = text[text.rfind(b"\n", 0, at) + 1 : at]
    inside_atom_record = at > 0 and text[at - 1] != 10 and last_line.startswith(ATOM_RECORDS)
    what = f"{case.name} cut at byte {at} of {len(text)} (line {line})"
    try:
        got = contact_map(path, chain=case.chain, sequence=sequence)
    except StructureError as exc:
        message = str(exc)
        assert case.name in message, f"{what}: the error does not name the file: {message}"
        if inside_atom_record:
            assert f"line {line}:" in message, f"{what}: the error does not name the line: {message}"
        return "refused"
    assert not inside_atom_record, f"{what}: a cut inside an atom record was read"
    assert_same_map(got, full, what)
    return "read"


@requires_data
def test_the_whole_files_read_with_and_without_their_sequence(tmp_path):
    """The checks refuse none of the real files (test_structure reads every other shipped structure)."""
    assert len(CASES) == 9
    for case in CASES:
        path = _write(tmp_path / "full", case.name, case.text)
        for sequence in (case.sequence, None):
            assert int(contact_map(path, chain=case.chain, sequence=sequence).resolved.sum()) >= 50, case.name


@requires_data
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_truncations_are_refused_or_read_as_the_whole_file(case, tmp_path):
    full = contact_map(_write(tmp_path / "full", case.name, case.text), chain=case.chain, sequence=case.sequence)
    outcomes = {at: check_cut(case, case.text, at, tmp_path, case.sequence, full) for at in _cut_points(case.text)}
    assert "refused" in outcomes.values()
    if case.sequence is not None:  # and without the sequence where the writer marks the end before the cut
        bare = contact_map(_write(tmp_path / "full", case.name, case.text), chain=case.chain)
        for at in _cut_points(case.text):
            cut_line_is_atom = case.text[case.text.rfind(b"\n", 0, at) + 1 : at].startswith(ATOM_RECORDS)
            if case.marks_end or (case.text[at - 1] != 10 and cut_line_is_atom):
                check_cut(case, case.text, at, tmp_path, None, bare)


@requires_data
def test_cuts_that_leave_the_chain_whole_read_as_the_whole_file(tmp_path):
    """Cuts among chain A's waters, after its TER, in 1paz's CONECT records or in the category after the mmCIF
    atoms leave the chain whole: read, with exactly the full file's map; a cut inside a water record is refused."""
    by_name = {case.name: case for case in CASES}
    a3a = by_name["1a3a.pdb"].text
    first_water = a3a.index(b"HETATM")
    ten_waters_on = first_water + len(b"".join(a3a[first_water:].splitlines(keepends=True)[:10]))
    ter = a3a.index(b"\nTER") + 1
    after_ter = a3a.index(b"\n", ter) + 1
    paz = by_name["1paz.pdb"].text
    cif = by_name["1a3a.cif"].text
    cuts = [
        ("1a3a.pdb", ten_waters_on, "read"),
        ("1a3a.pdb", ten_waters_on + 40, "refused"),  # inside a HETATM record
        ("1a3a.pdb", ter + 20, "read"),  # inside chain A's TER record
        ("1a3a.pdb", after_ter, "read"),
        ("1a3a.pdb", after_ter + 30, "refused"),  # inside chain B's first ATOM record
        ("1paz.pdb", paz.index(b"\nCONECT") + 1, "refused"),  # the waters end a file that marks its end
        ("1paz.pdb", paz.index(b"\n", paz.index(b"\nCONECT") + 1) + 1, "read"),
        ("1paz.pdb", paz.index(b"\nCONECT") + 15, "read"),  # inside a CONECT record: the atoms are whole
        ("1a3a.cif", cif.index(b"_atom_type.symbol") + 5, "read"),
    ]
    for name, at, outcome in cuts:
        case = by_name[name]
        for sequence in (case.sequence, None):
            full = contact_map(_write(tmp_path / "full", name, case.text), chain=case.chain, sequence=sequence)
            assert check_cut(case, case.text, at, tmp_path, sequence, full) == outcome, (name, at, sequence)


@requires_data
def test_a_gzip_stream_cut_short_is_refused(tmp_path):
    raw = (DATA / "structures/1a3a.pdb.gz").read_bytes()
    for fraction in FRACTIONS:
        path = _write(tmp_path / f"cut{fraction}", "1a3a.pdb", raw[: int(len(raw) * fraction)])
        path = path.rename(path.with_name("1a3a.pdb.gz"))
        with pytest.raises(StructureError, match=r"1a3a\.pdb\.gz: the gzip stream ends early"):
            contact_map(path, chain="A")


@requires_data
def test_the_reported_cuts_name_file_and_line(tmp_path):
    """The issue's cases: 1a3a cut mid-line (scored 0.0000) and at line 120 (scored nan)."""
    text = (DATA / "protein/1a3a_A/1a3a.pdb").read_bytes()
    sequence = contact_map(DATA / "protein/1a3a_A/1a3a.pdb", chain="A").sequence
    mid = len(text) // 2 + 17
    path = _write(tmp_path / "mid", "1a3a.pdb", text[:mid])
    line = text[:mid].count(b"\n") + 1
    with pytest.raises(StructureError, match=rf"1a3a\.pdb: line {line}: the file ends inside a HETATM record"):
        contact_map(path, sequence=sequence)
    at_120 = _write(tmp_path / "120", "1a3a.pdb", b"".join(text.splitlines(keepends=True)[:120]))
    with pytest.raises(
        StructureError, match=r"1a3a\.pdb: chain 'A': the file ends inside residue 19 \(ALA, no CB\) with no TER or END"
    ):
        contact_map(at_120, sequence=sequence)
    lines = text.splitlines(keepends=True)
    in_chain_b = next(n for n, line in enumerate(lines) if line.startswith(b"TER")) + 200
    path = _write(tmp_path / "b", "1a3a.pdb", b"".join(lines[:in_chain_b]))
    message = rf"1a3a\.pdb: line {in_chain_b}: the file ends with an ATOM record and no TER, ENDMDL or END record"
    with pytest.raises(StructureError, match=message):
        contact_map(path)  # chain B is cut; chain A whole, but the file says it ends with END


@requires_data
def test_open_ended_files_are_judged_by_the_sequence(tmp_path):
    """A file that marks no end (bare ATOM lines, biotite's PDB output) cut between residues: without a sequence
    it reads as the residues it holds (nothing says how long the chain is); with one it is refused; an END record
    says the structure really stops there."""
    text = (DATA / "protein/16pk_A_crop256/16pkA.pdb").read_bytes()
    query = _query("protein/16pk_A_crop256/16pkA0.aln")
    lines = text.splitlines(keepends=True)
    first_of_200 = next(n for n, line in enumerate(lines) if line[22:26] == b" 200")
    cut = _write(tmp_path / "cut", "16pkA.pdb", b"".join(lines[:first_of_200]))
    assert len(contact_map(cut)) == 199
    with pytest.raises(StructureError, match=r"16pkA\.pdb: chain '-' stops at residue 199 .*57 residues short"):
        contact_map(cut, sequence=query)
    ended = _write(tmp_path / "ended", "16pkA.pdb", b"".join(lines[:first_of_200]) + b"END\n")
    assert int(contact_map(ended, sequence=query).resolved.sum()) == 199

    # biotite writes CRYST1 and ATOM/HETATM records, no TER or END. 1paz resolves 120 of its 123 residues, the
    # last three missing: its copper ion and waters follow the chain, so the chain is whole; without them the
    # file could have been cut there
    atoms = pdb.get_structure(pdb.PDBFile.read(str(DATA / "protein/1paz_A/1paz.pdb")), model=1)
    query = _query("protein/1paz_A/1pazA.a3m")
    for name, selected in (("waters.pdb", atoms), ("protein.pdb", atoms[filter_amino_acids(atoms)])):
        out = pdb.PDBFile()
        pdb.set_structure(out, selected)
        out.write(str(tmp_path / name))
    assert int(contact_map(tmp_path / "waters.pdb", sequence=query).resolved.sum()) == 120
    with pytest.raises(StructureError, match=r"protein\.pdb: chain 'A' stops at residue 120 .*3 residues short"):
        contact_map(tmp_path / "protein.pdb", sequence=query)
    (tmp_path / "protein.pdb").write_text((tmp_path / "protein.pdb").read_text() + "END\n")
    assert int(contact_map(tmp_path / "protein.pdb", sequence=query).resolved.sum()) == 120


def test_mid_record_cuts_of_small_files(tmp_path):
    """No data needed: the PDB and mmCIF end checks on hand-written files."""
    atom = "ATOM      1  CA  GLY A   1      11.104   6.134  -6.504  1.00  0.00           C  \n"
    for n, partial in enumerate([atom[:20], atom[:50], atom[:40] + "x" * 14, atom[:60]]):
        path = _write(tmp_path / str(n), "tiny.pdb", (atom * 2 + partial).encode())
        with pytest.raises(StructureError, match=r"tiny\.pdb: line 3: the file ends inside an ATOM record"):
            contact_map(path)
    with pytest.raises(StructureError, match=r"tiny\.pdb: line 2: .* no TER, ENDMDL or END record"):
        contact_map(_write(tmp_path / "ter", "tiny.pdb", ("HEADER    X\n" + atom).encode()))
    assert len(contact_map(_write(tmp_path / "ok", "tiny.pdb", (atom + "END\n").encode()))) == 1
    with pytest.raises(StructureError, match=r"tiny\.pdb: line 1: the file ends before any ATOM or HETATM record"):
        contact_map(_write(tmp_path / "hdr", "tiny.pdb", b"HEADER    TRUNCATED BEFORE THE ATO"))
    header = "data_x\n#\nloop_\n_atom_site.group_PDB\n_atom_site.label_atom_id\n_atom_site.auth_comp_id\n"
    cases = {
        "data_x\n#\n_entry.id x\n": r"line 3: the file ends before any _atom_site loop",
        header[:-10]: r"line 6: the file ends inside the _atom_site loop, before its first row",
        header + "ATOM CA": r"line 7: the file ends inside an _atom_site row \(2 of its 3 values",
        header + "ATOM CA 'GL": r"line 7: the file ends inside a quoted value",
        header + "ATOM CA GL": r"line 7: the file ends inside an _atom_site row \(no end of line",
        header + "ATOM CA GLY\n": r"line 7: the file ends inside the _atom_site loop, without the '#' line",
        header + "ATOM\n;CA\n": r"line 8: the file ends inside a ';' text field",
    }
    for n, (text, message) in enumerate(cases.items()):
        with pytest.raises(StructureError, match=rf"tiny\.cif: {message}"):
            contact_map(_write(tmp_path / f"cif{n}", "tiny.cif", text.encode()))


@requires_data
def test_score_on_a_truncated_file_exits_2_with_one_error_line(tmp_path):
    """Through the command line: `interp score` on a cut copy prints `error: ...` naming the file, exit 2."""
    source = DATA / "protein/1a3a_A/1a3a.pdb"
    sequence = contact_map(source, chain="A").sequence
    prediction = tmp_path / "1a3a_A.npz"
    save_contacts(prediction, torch.rand(len(sequence), len(sequence), generator=torch.Generator().manual_seed(0)),
                  sequence=sequence)  # fmt: skip
    text = source.read_bytes()
    for name, cut in (("mid.pdb", text[: len(text) // 2 + 17]), ("at120.pdb", b"".join(text.splitlines(True)[:120]))):
        path = _write(tmp_path, name, cut)
        result = run_cli("score", str(prediction), str(path))
        assert result.returncode == 2, (result.stdout, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and name in errors[0], result.stderr
        assert "nan" not in result.stdout and "P@L" not in result.stdout
