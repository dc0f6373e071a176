"""The antibody panel shipped in the package: antibody variable domains numbered with ANARCII, checked entry by entry.

The shipped file's entries are checked against `contact_map` on their source structures (28 entries, a few seconds);
the build is rerun with ANARCII on the structure files that hold the shipped entries plus a T-cell receptor, a
low-scoring non-antibody chain and a protein that is no antibody (20 of the 148 files, 57 protein chains, about 20 s on
2 busy CPU cores; the full build of 308 chains, `python benchmarks/build_panel.py --panel antibody`, takes 60-90 s).
"""

from __future__ import annotations

import collections
import dataclasses
import importlib.util
import json
import re
import shutil
import sys
import time

import numpy as np
import pytest
import torch
from helpers import DATA, requires_data

from interp.errors import InterpError
from interp.structures.panel import (
    ANTIBODY_PANEL_PATH,
    BUILTIN_PANEL_PATH,
    Panel,
    _antibody_domain,
    _Chain,
    build_antibody_panel,
    builtin_panel,
    load_panel,
    read_builtin,
)
from interp.structures.structure import contact_map

AMINO_ACIDS = set("ACDEFGHIKLMNPQRSTVWY")
EXPECTED = {  # name -> chain type, as built from ../shared/data/structures with ANARCII 2.0.8
    **dict.fromkeys(
        ["2v17_H", "3d9a_H", "4g5z_H", "4uik_H", "5awn_H", "5fha_H", "5ggs_A", "5i66_A", "5myx_B", "5nph_H", "5ye3_B"],
        "heavy",
    ),
    **dict.fromkeys(["3k74_B", "4w6x_B", "5c2u_B", "5imk_B", "5m2j_D", "6ezw_B"], "nanobody"),
    **dict.fromkeys(
        ["2v17_L", "3d9a_L", "4g5z_L", "4uik_L", "5fha_L", "5ggs_B", "5i66_B", "5myx_A", "5nph_L", "5ye3_A"], "kappa"
    ),
    "5awn_L": "lambda",
}
requires_anarcii = pytest.mark.skipif(
    importlib.util.find_spec("anarcii") is None, reason='ANARCII is not installed: pip install ".[antibody]"'
)


def shipped(path=ANTIBODY_PANEL_PATH) -> tuple[dict[str, str], dict]:
    """A panel file's (the shipped one's) entry name -> structure file, and its metadata."""
    with np.load(path, allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)
        files = dict(zip((str(n) for n in data["names"]), (str(f) for f in data["files"]), strict=True))
        return files, json.loads(str(data["metadata"]))


def test_shipped_antibody_panel_loads_with_its_chain_types_and_provenance():
    assert ANTIBODY_PANEL_PATH.is_file() and ANTIBODY_PANEL_PATH.stat().st_size < 1e6
    files, metadata = shipped()
    panel = load_panel("antibody")
    assert isinstance(panel, Panel) and panel.source == "antibody" and panel.failures == []
    assert {e.name: e.chain_type for e in panel} == EXPECTED
    assert [e.name for e in panel] == sorted(EXPECTED) == sorted(files)
    counts = collections.Counter(e.chain_type for e in panel)
    assert counts == {"heavy": 11, "nanobody": 6, "kappa": 10, "lambda": 1} == metadata["counts"]["chain_types"]
    assert metadata["counts"]["entries"] + metadata["counts"]["left_out"] == metadata["counts"]["protein_chains"]
    assert metadata["counts"]["residues"] == sum(len(e.sequence) for e in panel)
    assert metadata["numbering"]["tool"] == "ANARCII" and metadata["numbering"]["scheme"] == "imgt"
    assert metadata["numbering"]["version"] and "BSD" in metadata["numbering"]["licence"]
    assert "public domain" in metadata["source"] and "public domain" in metadata["provenance"]
    assert set(metadata["entries"]) == set(EXPECTED)
    for name, info in metadata["entries"].items():
        assert info["chain_type"] == EXPECTED[name] and info["score"] >= 25.0, name
        assert (
            info["anarcii_chain_type"] == {"heavy": "H", "nanobody": "H", "kappa": "K", "lambda": "L"}[EXPECTED[name]]
        )
    nanobody_files = {files[name] for name, kind in EXPECTED.items() if kind == "nanobody"}
    light_files = {files[name] for name, kind in EXPECTED.items() if kind in ("kappa", "lambda")}
    assert not nanobody_files & light_files  # a nanobody's structure has no light chain
    assert {files[name] for name, kind in EXPECTED.items() if kind == "heavy"} <= light_files


def test_heavy_and_light_subsets_partition_the_panel():
    everything = load_panel("antibody")
    heavy, light = load_panel("antibody-heavy"), load_panel("antibody-light")
    assert (heavy.source, light.source) == ("antibody-heavy", "antibody-light")
    assert {e.chain_type for e in heavy} == {"heavy", "nanobody"} and {e.chain_type for e in light} == {
        "kappa",
        "lambda",
    }
    assert len(heavy) == 17 and len(light) == 11
    assert sorted([e.name for e in heavy] + [e.name for e in light]) == [e.name for e in everything]
    by_name = {e.name: e for e in everything}
    for entry in [*heavy, *light]:
        assert entry.sequence == by_name[entry.name].sequence
        assert torch.equal(entry.truth.contacts, by_name[entry.name].truth.contacts)
    assert [e.name for e in load_panel("antibody-light", limit=3)] == [e.name for e in light][:3]
    assert load_panel("antibody-heavy", threshold=6.0)[0].truth.threshold == 6.0


def test_every_entry_is_a_whole_resolved_variable_domain():
    for entry in load_panel("antibody"):
        sequence, truth = entry.sequence, entry.truth
        assert set(sequence) <= AMINO_ACIDS and 105 <= len(sequence) <= 130, entry.name  # measured: 106 to 128
        assert truth.sequence == sequence and bool(truth.resolved.all()), entry.name
        assert torch.equal(truth.contacts, truth.contacts.T) and not truth.contacts.diagonal().any()
        # The conserved disulfide of a V domain (IMGT Cys23 - Cys104): two cysteines 60 to 90 residues apart in contact.
        cysteines = [n for n, letter in enumerate(sequence) if letter == "C"]
        bonded = [(i, j) for i in cysteines for j in cysteines if 60 <= j - i <= 90 and truth.contacts[i, j]]
        assert bonded and float(truth.distances[bonded[0]]) < 5.0, entry.name
        # The J region's conserved glycines (IMGT 119 and 121, G-x-G) lie within the domain's last 12 residues.
        assert re.search("G.G", sequence[-12:]), f"{entry.name}: no G-x-G at its end: {sequence[-12:]}"


@requires_data
def test_every_entry_equals_contact_map_of_its_domain():
    assert DATA is not None
    files, metadata = shipped()
    for entry in load_panel("antibody"):
        path = DATA / "structures" / files[entry.name]
        assert entry.name == f"{files[entry.name].split('.')[0]}_{entry.truth.chain}"
        want = contact_map(path, chain=entry.truth.chain, sequence=entry.sequence)
        assert entry.sequence == want.sequence and torch.equal(entry.truth.contacts, want.contacts), entry.name
        assert torch.equal(entry.truth.resolved, want.resolved) and entry.truth.residue_ids == want.residue_ids
        assert (entry.truth.atom, entry.truth.threshold) == (want.atom, want.threshold) == ("CB", 8.0)
        np.testing.assert_allclose(
            entry.truth.distances.double().numpy(), want.distances.double().numpy(), rtol=2.0**-11, atol=1e-6
        )
        chain = contact_map(path, chain=entry.truth.chain)  # the whole chain: the domain is a run of its residues
        first, last = metadata["entries"][entry.name]["chain_positions"]
        assert chain.sequence[first - 1 : last] == entry.sequence, entry.name
        assert chain.residue_ids[first - 1 : last] == entry.truth.residue_ids, entry.name
        assert torch.equal(chain.contacts[first - 1 : last, first - 1 : last], entry.truth.contacts), entry.name


def test_tcr_chains_are_left_out_with_their_reason():
    files, metadata = shipped()
    assert not any(name.startswith("4wnq") for name in files)
    reasons = dict(metadata["left_out"])
    for chain in "ABCD":
        assert reasons[f"4wnq_{chain}"].startswith("T-cell receptor: ANARCII chain type "), chain
    assert reasons["5ggs_C"].startswith("copy: ") and "5ggs_A" in reasons["5ggs_C"]  # the same heavy chain
    assert reasons["5ggs_Y"].startswith("low score: ")  # PD-1, an Ig-like domain of the antigen
    assert metadata["left_out_by_reason"]["T-cell receptor"] == 4
    assert sum(metadata["left_out_by_reason"].values()) == metadata["counts"]["left_out"] == len(reasons)


def test_builtin_panel_entries_have_no_chain_type():
    with np.load(BUILTIN_PANEL_PATH, allow_pickle=False) as data:
        assert "chain_types" not in data.files
    panel = builtin_panel()
    assert len(panel) >= 100 and {entry.chain_type for entry in panel} == {""}
    assert {entry.chain_type for entry in load_panel("builtin", limit=5)} == {""}


def test_unknown_source_names_the_shipped_panels(tmp_path):
    with pytest.raises(InterpError, match="antibody-heavy"):
        load_panel("antibody-kappa")
    with pytest.raises(InterpError, match="not a panel file"):
        read_builtin(tmp_path / "absent.npz", None, 8.0, frozenset({"heavy"}))


def test_build_without_anarcii_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anarcii", None)  # import anarcii raises ImportError
    with pytest.raises(InterpError, match=r'pip install "\.\[antibody\]"'):
        build_antibody_panel(tmp_path, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


@requires_data
def test_antibody_rule_on_a_real_chain():
    """The rule's branches on 5ggs chain A with made-up ANARCII results: a non-standard residue outside the span is
    trimmed away, one inside leaves the chain out; TCR types, low scores and no numbering leave it out; a heavy
    chain is a nanobody only without a light chain in the file."""
    assert DATA is not None
    path = DATA / "structures" / "5ggs.pdb.gz"
    ca = contact_map(path, chain="A", atom="CA")
    odd = _Chain(path, "A", dataclasses.replace(ca, sequence="X" + ca.sequence[1:]))

    def result(start: int, end: int, kind: str = "H", score: float = 30.0) -> dict:
        letters = odd.ca.sequence[start : end + 1]
        return {"chain_type": kind, "score": score, "query_start": start, "query_end": end, "error": None,
                "numbering": [((n + 1, " "), letter) for n, letter in enumerate(letters)]}  # fmt: skip

    assert _antibody_domain(odd, result(1, 118), light_in_file=True) == (1, 119, "heavy")
    assert _antibody_domain(odd, result(1, 118), light_in_file=False) == (1, 119, "nanobody")
    assert str(_antibody_domain(odd, result(0, 118), light_in_file=True)).startswith("non-standard: ")
    assert str(_antibody_domain(odd, result(1, 118, "A"), light_in_file=True)).startswith("T-cell receptor: ")
    assert str(_antibody_domain(odd, result(1, 118, "K", 16.0), light_in_file=True)).startswith("low score: ")
    assert str(_antibody_domain(odd, result(1, 20), light_in_file=True)).startswith("length: ")
    failed = {
        "chain_type": "F",
        "score": 13.0,
        "query_start": None,
        "query_end": None,
        "error": "Score less than cut off.",
    }
    assert str(_antibody_domain(odd, failed, light_in_file=True)).startswith("not antibody: ")
    shifted = result(1, 118) | {"query_end": 117}  # numbered letters that are not the span's residues
    assert str(_antibody_domain(odd, shifted, light_in_file=True)).startswith("numbering mismatch: ")
    broken = _Chain(path, "A", dataclasses.replace(ca, distances=ca.distances.clone()))
    broken.ca.distances[50, 51] = broken.ca.distances[51, 50] = 6.0  # a missing residue between 51 and 52
    assert _antibody_domain(broken, result(52, 118), light_in_file=True) == (52, 119, "heavy")  # the break lies outside
    found = _antibody_domain(broken, result(1, 118), light_in_file=True)
    assert str(found).startswith("chain break: CA-CA 6.00 A between residues "), found


@requires_data
@requires_anarcii
def test_build_reproduces_the_shipped_entries(tmp_path):
    """Rebuild from the structure files that hold the shipped entries, plus a TCR (4wnq), a low-scoring non-antibody
    chain (1inl C) and a protein that is no antibody (1a3a): the same entries, bit for bit, and the same reasons."""
    assert DATA is not None
    files, metadata = shipped()
    chosen = sorted(set(files.values()) | {"4wnq.pdb.gz", "1inl.pdb.gz", "1a3a.pdb.gz"})
    for name in chosen:
        shutil.copy(DATA / "structures" / name, tmp_path / name)
    threads, start = torch.get_num_threads(), time.perf_counter()
    report = build_antibody_panel(tmp_path, tmp_path / "antibody.npz")
    seconds = time.perf_counter() - start
    assert torch.get_num_threads() == threads  # ANARCII sets the process's thread count; the build restores it
    assert report["entries"] == len(EXPECTED) and report["chain_types"] == metadata["counts"]["chain_types"]
    built = read_builtin(tmp_path / "antibody.npz", None, 8.0)
    ours = read_builtin(ANTIBODY_PANEL_PATH, None, 8.0)
    assert [(e.name, e.chain_type, e.sequence) for e in built] == [(e.name, e.chain_type, e.sequence) for e in ours]
    for a, b in zip(built, ours, strict=True):
        assert torch.equal(a.truth.contacts, b.truth.contacts) and torch.equal(a.truth.resolved, b.truth.resolved)
        assert torch.equal(a.truth.distances.isnan(), b.truth.distances.isnan()), a.name
        assert torch.equal(a.truth.distances.nan_to_num(), b.truth.distances.nan_to_num()), a.name
        assert a.truth.residue_ids == b.truth.residue_ids and a.truth.chain == b.truth.chain
    _, new_metadata = shipped(tmp_path / "antibody.npz")
    shipped_reasons = {name: reason.partition(": ")[0] for name, reason in metadata["left_out"]}
    for name, reason in new_metadata["left_out"]:
        assert reason.partition(": ")[0] == shipped_reasons[name], name
    for name, info in new_metadata["entries"].items():
        assert info["chain_positions"] == metadata["entries"][name]["chain_positions"], name
        assert abs(info["score"] - metadata["entries"][name]["score"]) < 0.05, name
    assert seconds < 120, f"the build of {len(chosen)} files took {seconds:.0f} s (about 20 s on 2 busy CPU cores)"


@requires_data
@requires_anarcii
def test_the_build_script_checks_pass_on_the_shipped_file():
    """`benchmarks/build_panel.py --check-only --panel antibody`'s checks: contact maps and re-numbered chain types."""
    from interp.benchmarks.build_panel import check_chain_types, check_panel

    assert DATA is not None
    assert check_panel(ANTIBODY_PANEL_PATH, DATA / "structures") == (len(EXPECTED), [])
    assert check_chain_types(ANTIBODY_PANEL_PATH) == (len(EXPECTED), [])
