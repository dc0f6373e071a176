"""Hostile input, fuzzed with hypothesis through the real API (the targets of benchmarks/reliability.py):
every case ends in a correct result or a typed InterpError naming what was wrong; never an untyped
exception, a map of the wrong shape, a file outside the output folder or a half-written one."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import DATA
from hypothesis import HealthCheck, given, settings

from interp.benchmarks.reliability import FuzzBugError, Targets, fuzz_plan, kill_and_resume, outcome, structure_sample
from interp.errors import InterpError

SAMPLE = structure_sample(DATA) if DATA is not None else None
BOUNDED = settings(max_examples=40, deadline=20_000, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def targets(tmp_path_factory) -> Targets:
    return Targets(tmp_path_factory.mktemp("fuzz"), SAMPLE)


def plan_entry(targets: Targets, prefix: str):
    return next(entry for entry in fuzz_plan(targets) if entry[0].startswith(prefix))


@pytest.mark.parametrize(
    "target", ["sequences", "structure", "alignments", "RR", "FASTA through `interp", "FASTA through Trainer"]
)
def test_hostile_inputs_end_in_a_result_or_a_typed_error(targets, target):
    _, strategy, call = plan_entry(targets, target)

    @BOUNDED
    @given(strategy)
    def case(arguments):
        ended = outcome(lambda: call(*arguments))
        assert not ended.startswith("BUG"), f"{ended} for {arguments!r:.300}"

    case()


def test_the_outcome_classifier_flags_untyped_errors_and_wrong_results():
    """The fuzz oracle itself: a KeyError or a wrong result counts as a bug, an InterpError does not."""
    assert outcome(lambda: {}["x"]).startswith("BUG: KeyError")
    assert outcome(lambda: (_ for _ in ()).throw(FuzzBugError("bad map"))) == "BUG: bad map"
    assert outcome(lambda: (_ for _ in ()).throw(InterpError("x"))) == "InterpError"
    assert outcome(lambda: None) == "correct result"


def test_known_hostile_cases(targets, tmp_path):
    """The cases the issue names, each checked for the error it must give."""
    assert outcome(lambda: targets.sequence("MKT\x00AY")) == "InvalidSequenceError"
    assert outcome(lambda: targets.sequence("")) == "EmptySequenceError"
    assert outcome(lambda: targets.sequence("A" * 1100)) == "SequenceTooLongError"  # the window path ran first
    assert outcome(lambda: targets.alignment(["ACDE", "ACD"], "fasta")) == "AlignmentFormatError"
    assert outcome(lambda: targets.rr(10, [(3, 12, 0.5)], True)) == "RRFormatError"
    for bad_pair in ((0, 3, 0.5), (2, 2, 0.5), (1, 3, float("nan")), (1, 11, 0.5)):
        assert outcome(lambda bad_pair=bad_pair: targets.rr(10, [(1, 5, 0.2), bad_pair], False)) == "RRFormatError"
    assert outcome(lambda: targets.rr(10, [(1, 5, 0.2), (5, 1, 0.7), (2, 10, 0.1)], False)) == "correct result"
    assert outcome(lambda: targets.structure(b"\x1f\x8b\x08garbage", ".pdb.gz")) == "StructureError"
    assert outcome(lambda: targets.fasta(["../../x", "a/b", "x\x00y"], ["MKTAYIAKQR"] * 3)) == "correct result"
    assert outcome(lambda: targets.fasta(["dup", "dup"], ["MKT", "MKT"])) == "correct result"  # dup, dup-2
    assert outcome(lambda: targets.extraction(["../../x", "a/b", "x\x00y"], ["MKTAYIAKQR"] * 3)) == "correct result"
    for run in (targets.fasta, targets.extraction):  # ids that sanitise alike must still get a file each
        assert outcome(lambda run=run: run(["a/b", "a_b", "a:b"], ["MKTAYIAKQR"] * 3)) == "correct result"
    assert outcome(lambda: targets.extraction(["ok", "bad"], ["MKTAYIAKQR", "MK1T"])) == "RecordsRefusedError"
    assert outcome(lambda: targets.extraction(["dup", "dup"], ["MKT", "MKT"])) == "FastaFormatError"


@pytest.mark.skipif(
    SAMPLE is None, reason="real data not found: set INTERP_DATA or put shared/data beside the repository"
)
def test_truncated_real_structures_are_refused_or_read(targets):
    for fraction in (0.0, 0.01, 0.3, 0.77, 1.0):
        ended = outcome(lambda fraction=fraction: targets.structure(b"", Path(SAMPLE).suffix, fraction))
        assert ended in {"correct result", "StructureError", "ChainNotFoundError"}, ended
    assert outcome(lambda: targets.structure(b"", ".pdb", 1.0)) == "correct result"


def test_a_prediction_run_killed_with_sigkill_finishes_on_restart_without_loss_or_repeats(tmp_path):
    result = kill_and_resume(tmp_path, records=16, kill_after=5)
    assert result["indexed_when_killed"] < result["records"], "the run finished before it was killed"
    assert result["ok"] and result["missing"] == 0 and result["written_twice"] == 0
    assert result["npz_files"] == result["records"] and result["temporary_files_left"] == 0
