"""Nucleotide Transformer (6-mer tokens) at single-nucleotide resolution, against an independent loop:
each mutant is re-tokenised by the real tokenizer class, and k-mer logits are marginalised by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import assert_maps_close, kmer_marginal_logits, reference_postprocess

from interp.adapters import get_adapter
from interp.errors import InterpError, SequenceTooLongError
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian
from interp.testing.stand_ins import nucleotide_transformer_model


def test_kmer_jacobian_equals_retokenised_naive_loop():
    model, tokenizer = nucleotide_transformer_model(seed=5)
    sequence = "ATCGGATTTACGAG"  # two full 6-mers and two single nucleotides
    length = len(sequence)
    vocab = tokenizer.get_vocab()

    def nucleotide_logits(seq):
        ids = torch.tensor(tokenizer(seq)["input_ids"])
        with torch.no_grad():
            logits = model(input_ids=ids[None]).logits[0].double()
        return kmer_marginal_logits(logits, vocab, length)

    jac = np.zeros((length, 4, length, 4))
    for p in range(length):
        for a, letter in enumerate("ACGT"):
            jac[p, a] = nucleotide_logits(sequence[:p] + letter + sequence[p + 1 :])
    pred = CategoricalJacobian(model, tokenizer).attribute(sequence)
    # float32 logits from batched and single forwards differ by ~1e-7; log-sum-exp over 1,024 6-mers keeps that
    assert_maps_close(pred.contacts.numpy(), reference_postprocess(jac), rtol=1e-4)
    assert not math.isnan(float(pred.contacts.sum()))


def test_kmer_adapter_refuses_what_it_cannot_do():
    model, tokenizer = nucleotide_transformer_model()
    adapter = get_adapter(model, tokenizer)
    assert adapter.name == "nucleotide-transformer" and adapter.max_tokens == 1000
    with pytest.raises(InterpError, match="not per nucleotide"):
        GradientJacobian(adapter).attribute("ACGTACGT")
    with pytest.raises(InterpError, match="no mask token"):
        adapter.encode("ACGNAC", unknown="mask")
    with pytest.raises(InterpError, match="complexes"):
        CategoricalJacobian(adapter).attribute(("ACGTAC", "ACGTAC"))


def test_kmer_length_limit_counts_tokens():
    """The limit is in tokens: 6,000 nt are 1,000 6-mers and fit; 5,981 nt are 996 6-mers and a 5-letter tail,
    1,001 tokens, and do not. Over the limit: windows that each fit, or SequenceTooLongError, never IndexError."""
    model, tokenizer = nucleotide_transformer_model()
    adapter = get_adapter(model, tokenizer)
    rng = np.random.default_rng(0)
    long = "".join(rng.choice(list("ACGT"), 6000))
    assert adapter.fits(long) and adapter.token_count(long) == len(tokenizer(long)["input_ids"])
    tail = long[:5981]
    specials = len(adapter.prefix_ids) + len(adapter.suffix_ids)
    assert adapter.token_count(tail) == len(tokenizer(tail)["input_ids"]) == specials + 996 + 5
    assert not adapter.fits(tail)
    with pytest.raises(SequenceTooLongError, match=f"{specials + 1001} tokens"):
        AttentionReadout(adapter, long_sequences="error").attribute(tail)
    assert adapter.fits(long[: adapter.max_length + 5])  # any window, whatever its tail, fits
    with pytest.warns(UserWarning, match="windows"):
        pred = AttentionReadout(adapter).attribute(tail)
    assert pred.contacts.shape == (5981, 5981) and all(e - s == adapter.max_length for s, e in pred.metadata["windows"])
    assert AttentionReadout(adapter).attribute(long).contacts.shape == (6000, 6000)  # fits: one pass, no windows
