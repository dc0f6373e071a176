"""The panel of proteins with known structures: the shipped file, folder and TSV panels, re-thresholding.

The shipped file is checked entry by entry against `contact_map` on its source structure (all 120 entries, about
6 s on a CPU); `python benchmarks/build_panel.py --check-only` runs the same check from the command line.
"""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import torch
from helpers import DATA, requires_data

from interp.errors import InterpError
from interp.structures.panel import BUILTIN_PANEL_PATH, Panel, PanelEntry, builtin_panel, load_panel
from interp.structures.structure import contact_map

AMINO_ACIDS = set("ACDEFGHIKLMNPQRSTVWY")


def assert_matches(entry: PanelEntry, truth, *, float16: bool) -> None:
    """The entry's truth equals `truth` (contacts, resolved, residue ids exactly; distances within float16 rounding
    when `float16`, else exactly)."""
    ours = entry.truth
    assert entry.sequence == ours.sequence == truth.sequence, entry.name
    assert torch.equal(ours.contacts, truth.contacts), entry.name
    assert torch.equal(ours.resolved, truth.resolved), entry.name
    assert ours.residue_ids == truth.residue_ids, entry.name
    assert (ours.chain, ours.kind, ours.atom, ours.threshold) == (truth.chain, truth.kind, truth.atom, truth.threshold)
    got, want = ours.distances.double().numpy(), truth.distances.double().numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want)), entry.name
    rtol = 2.0**-11 if float16 else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6, equal_nan=True, err_msg=entry.name)


def test_shipped_file_is_plain_arrays_with_provenance():
    assert BUILTIN_PANEL_PATH.is_file() and BUILTIN_PANEL_PATH.stat().st_size < 5e6
    with np.load(BUILTIN_PANEL_PATH, allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)
        metadata = json.loads(str(data["metadata"]))
        names = [str(n) for n in data["names"]]
    assert "public domain" in metadata["source"] and "public domain" in metadata["provenance"]
    assert (metadata["threshold"], metadata["atom"]) == (8.0, "CB")
    assert metadata["counts"]["entries"] == len(names)
    assert metadata["counts"]["entries"] + metadata["counts"]["left_out"] == metadata["counts"]["files"]
    panel = load_panel()
    assert isinstance(panel, Panel) and panel.source == "builtin" and panel.failures == []
    assert [e.name for e in panel] == sorted(names)
    for entry in panel:
        assert 30 <= len(entry.sequence) <= 1000 and set(entry.sequence) <= AMINO_ACIDS, entry.name
        assert bool(entry.truth.resolved.all()), entry.name
        assert torch.equal(entry.truth.contacts, entry.truth.contacts.T) and not entry.truth.contacts.diagonal().any()


@requires_data
def test_every_shipped_entry_equals_contact_map_on_its_structure():
    assert DATA is not None
    with np.load(BUILTIN_PANEL_PATH, allow_pickle=False) as data:
        files = dict(zip((str(n) for n in data["names"]), (str(f) for f in data["files"]), strict=True))
    panel = builtin_panel()
    assert len(panel) >= 100
    for entry in panel:
        assert entry.name == f"{files[entry.name].split('.')[0]}_{entry.truth.chain}"
        assert_matches(
            entry, contact_map(DATA / "structures" / files[entry.name], chain=entry.truth.chain), float16=True
        )


def test_builtin_subset_is_the_first_entries_by_name_and_deterministic():
    everything = builtin_panel()
    five = builtin_panel(5)
    assert len(five) == 5 and [e.name for e in five] == sorted(e.name for e in everything)[:5]
    again = builtin_panel(5)
    assert [e.name for e in again] == [e.name for e in five]
    for a, b in zip(five, again, strict=True):
        assert a.sequence == b.sequence and torch.equal(a.truth.contacts, b.truth.contacts)
    sliced = everything[:5]
    assert isinstance(sliced, Panel) and [e.name for e in sliced] == [e.name for e in five]
    assert isinstance(everything[0], PanelEntry) and everything[-1].name == max(e.name for e in everything)
    assert [e.name for e in load_panel(limit=5)] == [e.name for e in five]
    with pytest.raises(InterpError, match="size"):
        builtin_panel(0)


@requires_data
def test_folder_panel_loads_the_good_file_and_names_the_corrupt_one(tmp_path):
    assert DATA is not None
    shutil.copy(DATA / "structures" / "1a3a.pdb.gz", tmp_path / "1a3a.pdb.gz")
    (tmp_path / "bad.pdb").write_bytes(random.Random(0).randbytes(4000))
    (tmp_path / "notes.txt").write_text("not a structure")
    panel = load_panel(tmp_path)
    assert [e.name for e in panel] == ["1a3a_A"] and panel.source == str(tmp_path)
    assert [name for name, _ in panel.failures] == ["bad.pdb"] and panel.failures[0][1]
    assert_matches(panel[0], contact_map(tmp_path / "1a3a.pdb.gz", chain="A"), float16=False)
    builtin = {e.name: e for e in builtin_panel()}
    assert panel[0].sequence == builtin["1a3a_A"].sequence  # the same chain rule as the shipped panel
    (tmp_path / "1a3a.pdb.gz").unlink()
    with pytest.raises(InterpError, match="no entries"):
        load_panel(tmp_path)


@requires_data
def test_tsv_panel_matches_contact_map_with_its_sequence(tmp_path):
    assert DATA is not None
    shutil.copy(DATA / "structures" / "1a3a.pdb.gz", tmp_path / "1a3a.pdb.gz")
    (tmp_path / "sub").mkdir()
    shutil.copy(DATA / "structures" / "1gk6.pdb.gz", tmp_path / "sub" / "1gk6.pdb.gz")
    first = contact_map(tmp_path / "1a3a.pdb.gz", chain="A").sequence
    second = contact_map(tmp_path / "sub" / "1gk6.pdb.gz").sequence
    query = first[3:] + "GSHHHHHH"  # another index space: three residues fewer, a tag the structure lacks
    rows = [
        "sequence\tstructure\tchain",
        f"{query}\t1a3a.pdb.gz\tA",
        f"{second}\tsub/1gk6.pdb.gz\t",
        f"{first}\tmissing.pdb\tA",
    ]
    (tmp_path / "panel.tsv").write_text("\n".join(rows) + "\n")
    panel = load_panel(tmp_path / "panel.tsv")
    assert [e.name for e in panel] == ["1a3a_A", "1gk6_A"]  # an empty chain: the first polymer chain
    assert [name for name, _ in panel.failures] == ["missing_A"]
    assert_matches(panel[0], contact_map(tmp_path / "1a3a.pdb.gz", chain="A", sequence=query), float16=False)
    assert_matches(panel[1], contact_map(tmp_path / "sub" / "1gk6.pdb.gz", sequence=second), float16=False)
    ids = contact_map(tmp_path / "1a3a.pdb.gz", chain="A").residue_ids
    assert panel[0].truth.residue_ids[0] == ids[3] and not bool(panel[0].truth.resolved[-8:].any())
    (tmp_path / "named.tsv").write_text(f"name\tsequence\tstructure\tchain\nmine\t{query}\t1a3a.pdb.gz\tA\n")
    assert [e.name for e in load_panel(tmp_path / "named.tsv")] == ["mine"]
    (tmp_path / "columns.tsv").write_text(f"sequence\tstructure\n{query}\t1a3a.pdb.gz\n")
    with pytest.raises(InterpError, match="chain"):
        load_panel(tmp_path / "columns.tsv")


@requires_data
@pytest.mark.parametrize("threshold", [6.0, 10.5])
def test_rethresholding_agrees_with_contact_map_away_from_the_cutoff(threshold):
    assert DATA is not None
    with np.load(BUILTIN_PANEL_PATH, allow_pickle=False) as data:
        files = dict(zip((str(n) for n in data["names"]), (str(f) for f in data["files"]), strict=True))
    panel = builtin_panel(6, threshold=threshold)
    for entry in panel:
        want = contact_map(DATA / "structures" / files[entry.name], chain=entry.truth.chain, threshold=threshold)
        assert entry.truth.threshold == threshold and entry.truth.contacts.shape == want.contacts.shape
        distances = want.distances.double()
        far = ~((distances - threshold).abs() < 0.01)
        assert torch.equal(entry.truth.contacts[far], want.contacts[far]), entry.name
        assert not entry.truth.contacts.diagonal().any()
    base = builtin_panel(6)
    assert sum(int(e.truth.contacts.sum()) for e in panel) != sum(int(e.truth.contacts.sum()) for e in base)


def test_unknown_sources_and_bad_options_raise(tmp_path):
    with pytest.raises(InterpError, match="unknown panel source"):
        load_panel(tmp_path / "nowhere")
    (tmp_path / "panel.txt").write_text("sequence\tstructure\tchain\n")
    with pytest.raises(InterpError, match="unknown panel source"):
        load_panel(tmp_path / "panel.txt")
    with pytest.raises(InterpError, match="limit"):
        load_panel(limit=0)
    with pytest.raises(InterpError, match="threshold"):
        load_panel(threshold=-1.0)
