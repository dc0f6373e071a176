"""Readers and writers: alignments in every format of the real data, FASTA, RR round trips, .npz maps."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch
from helpers import DATA, families, requires_data

from interp.errors import AlignmentFormatError, EmptySequenceError, FastaFormatError, RRFormatError
from interp.files.io import atomic_write, load_contacts, read_alignment, read_fasta, read_rr, save_contacts, write_rr


@requires_data
@pytest.mark.parametrize("family", families(), ids=lambda f: f["id"])
def test_family_alignments_read_with_query_first(family):
    rows = read_alignment(DATA / family["msa"])
    assert len(rows) == int(family["sequences"])
    assert {len(r.sequence) for r in rows} == {int(family["query_length"])}
    assert "-" not in rows[0].sequence and rows[0].sequence.isupper()


def test_a3m_drops_insertions(tmp_path):
    path = tmp_path / "x.a3m"
    path.write_text("#A3M#\n>query\nACDE\n>hit1 desc\nA-abcD.E\n>hit2\nacAC--\n")
    rows = read_alignment(path)
    assert [r.sequence for r in rows] == ["ACDE", "A-DE", "AC--"]
    assert rows[1].name == "hit1 desc"


def test_psicov_and_aligned_fasta(tmp_path):
    aln = tmp_path / "x.aln"
    aln.write_text("ACDE\nA-DE\n\n")
    assert [tuple(r) for r in read_alignment(aln)] == [("0", "ACDE"), ("1", "A-DE")]
    fasta = tmp_path / "x.faclean"
    fasta.write_text(">q\nACGU\n>s\nac.u\n")
    assert [r.sequence for r in read_alignment(fasta)] == ["ACGU", "AC-U"]


def test_ragged_alignment_names_the_row(tmp_path):
    path = tmp_path / "bad.a3m"
    path.write_text(">q\nACDE\n>ok\nACDE\n>short one\nACD\n")
    with pytest.raises(
        AlignmentFormatError, match=r"bad.a3m: row 3 \('short one'\) has 3 aligned columns; the query has 4"
    ):
        read_alignment(path)
    empty = tmp_path / "empty.fasta"
    empty.write_text("\n\n")
    with pytest.raises(AlignmentFormatError, match="empty"):
        read_alignment(empty)
    with pytest.raises(AlignmentFormatError, match="unknown alignment format"):
        read_alignment(path, fmt="stockholm")


def test_fasta_reading_and_errors(tmp_path):
    path = tmp_path / "x.fa.gz"
    path.write_bytes(gzip.compress(b">one first\nMKT\nAYI\n>two\nMK T\n"))
    assert [tuple(r) for r in read_fasta(path)] == [("one first", "MKTAYI"), ("two", "MKT")]
    headless = tmp_path / "headless.fa"
    headless.write_text("MKT\n>a\nMK\n")
    with pytest.raises(FastaFormatError, match="line 1"):
        read_fasta(headless)
    empty_record = tmp_path / "empty_record.fa"
    empty_record.write_text(">a\nMK\n>b\n>c\nMK\n")
    with pytest.raises(EmptySequenceError, match=r"record 2 \('b'\)"):
        read_fasta(empty_record)


def test_rr_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    m = torch.from_numpy(rng.random((30, 30)))
    m = (m + m.T) / 2
    sequence = "ACDEFGHIKLMNPQRSTVWY" + "ACDEFGHIKL"
    path = tmp_path / "x.rr"
    write_rr(path, m, sequence, k=50, min_separation=6)
    rr = read_rr(path)
    assert rr.sequence == sequence and rr.i.numel() == 50
    assert bool((rr.j - rr.i >= 6).all())
    back = rr.to_map()
    listed = torch.isfinite(back)
    order_in = m[listed].argsort()
    order_out = back[listed].argsort()
    assert torch.equal(order_in, order_out)  # the ranking survives the [0, 1] scaling


def test_rr_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.rr"
    path.write_text("PFRMAT RR\nMKTAY\n1 3 0 8 0.5\n2 x 0 8 0.1\n")
    with pytest.raises(RRFormatError, match="line 4"):
        read_rr(path)
    path.write_text("MKTAY\n1 9 0 8 0.5\n")
    with pytest.raises(RRFormatError, match="residue 9 is beyond"):
        read_rr(path)
    path.write_text("1 1 0 8 0.5\n")
    with pytest.raises(RRFormatError, match="line 1"):
        read_rr(path)
    path.write_text("1 5 0.5\n")
    with pytest.raises(RRFormatError, match="pass length"):
        read_rr(path).to_map()
    assert read_rr(path).to_map(6)[0, 4] == 0.5 and read_rr(path).to_map(6)[0, 1] == -math.inf


def test_npz_round_trip_without_pickles(tmp_path):
    m = torch.rand(5, 5)
    path = tmp_path / "sub" / "x.npz"
    save_contacts(path, m, sequence="MKTAY", method="test", resolved=torch.ones(5, dtype=torch.bool))
    data = load_contacts(path)
    assert torch.equal(data["contacts"], m) and data["sequence"] == "MKTAY" and data["method"] == "test"
    assert data["resolved"].dtype == torch.bool


def test_interrupted_write_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "x.rr"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path) as handle:
        handle.write("partial")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.rr"]
    with pytest.raises(RRFormatError, match="sequence has 3 residues, the map 5"):
        write_rr(tmp_path / "y.rr", torch.rand(5, 5), "MKT")
    assert not (tmp_path / "y.rr").exists()
