"""Test helpers: where the real data lives, and a skip with a clear message when it is absent."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interp.testing.data import find_data_dir

REPO = Path(__file__).resolve().parents[1]
DATA = find_data_dir(REPO.parent / "shared" / "data")  # $INTERP_DATA first
requires_data = pytest.mark.skipif(
    DATA is None, reason="real data not found: set INTERP_DATA or put shared/data beside the repository"
)


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """The installed `interp` command (or `python -m interp.cli`) in a subprocess, output captured."""
    exe = shutil.which("interp")
    command = [exe, *args] if exe else [sys.executable, "-m", "interp.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)


def families() -> list[dict[str, str]]:
    """Rows of families.tsv (empty without the data)."""
    if DATA is None:
        return []
    with open(DATA / "families.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def reference_postprocess(jac, symmetrize_tensor: bool = True):
    """The reference order written out with numpy loops: centre, symmetrise, norm, diag, APC, diag, symmetrise."""
    import numpy as np

    j = np.asarray(jac, dtype=np.float64).copy()
    for axis in range(4):
        if j.shape[axis] > 1:  # a size-1 axis (a one-letter fast Jacobian) would be zeroed, so it is skipped
            j = j - j.mean(axis=axis, keepdims=True)
    if symmetrize_tensor:
        j = (j + j.transpose(2, 3, 0, 1)) / 2
    length = j.shape[0]
    norm = np.zeros((length, length))
    for p in range(length):
        for q in range(length):
            norm[p, q] = np.sqrt((j[p, :, q, :] ** 2).sum())
    np.fill_diagonal(norm, 0)
    total = norm.sum()
    if total == 0:  # nothing to correct (documented: APC leaves an all-zero map alone)
        return norm
    corrected = np.zeros_like(norm)
    for p in range(length):
        for q in range(length):
            corrected[p, q] = norm[p, q] - norm[p, :].sum() * norm[:, q].sum() / total
    np.fill_diagonal(corrected, 0)
    return (corrected + corrected.T) / 2


def assert_maps_close(ours, want, rtol: float = 1e-5) -> None:
    """Relative agreement: elementwise rtol, with an absolute floor of rtol times the map's largest value."""
    import numpy as np

    ours = np.asarray(ours, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    np.testing.assert_allclose(ours, want, rtol=rtol, atol=rtol * np.abs(want).max())


def two_strand_reference(sequence: str, readout) -> np.ndarray:
    """Independent loop: effects on q > p read on the sequence, on q < p on its reverse complement.

    readout(seq) gives each residue's logits over ACGT, [L, 4] (rows the model never predicts are unused).
    """
    length, comp = len(sequence), {"A": "T", "C": "G", "G": "C", "T": "A"}
    expected = np.zeros((length, 4, length, 4))
    wild = readout(sequence)
    rc = "".join(comp[c] for c in reversed(sequence))
    rc_wild = readout(rc)
    for p in range(length):
        for a, letter in enumerate("ACGT"):
            mutant = readout(sequence[:p] + letter + sequence[p + 1 :]) - wild
            rc_p = length - 1 - p
            rc_mutant = readout(rc[:rc_p] + comp[letter] + rc[rc_p + 1 :]) - rc_wild
            for q in range(length):
                for b, other in enumerate("ACGT"):
                    if q > p:
                        expected[p, a, q, b] = mutant[q, b]
                    elif q < p:
                        expected[p, a, q, b] = rc_mutant[length - 1 - q, "ACGT".index(comp[other])]
    return expected


def kmer_marginal_logits(logits, vocab: dict[str, int], length: int) -> np.ndarray:
    """Nucleotide Transformer reference: [L, 4] per nucleotide, from token logits [T, V] of `<cls>` + 6-mers +
    single-letter tail: the log-sum-exp over every 6-mer with that letter at the nucleotide's offset."""
    import torch

    kmers = {token: index for token, index in vocab.items() if len(token) == 6 and set(token) <= set("ACGT")}
    out = np.zeros((length, 4))
    full = length // 6 * 6
    for q in range(length):
        token = 1 + (q // 6 if q < full else full // 6 + (q - full))
        for b, letter in enumerate("ACGT"):
            if q < full:
                members = [index for kmer, index in kmers.items() if kmer[q % 6] == letter]
                out[q, b] = float(torch.logsumexp(logits[token, members], dim=0))
            else:
                out[q, b] = float(logits[token, vocab[letter]])
    return out
