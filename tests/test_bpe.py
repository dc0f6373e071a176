"""BPE models (ProtGPT2, DNABERT-2): attention readout at token resolution; Jacobians refused with a reason.

The stand-in is GPT-2 (native) with a byte-level BPE tokenizer trained in the test on random protein
strings: the call signature and tokenization style of ProtGPT2, not its weights or 50k merges.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.adapters import get_adapter
from interp.errors import InterpError
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian, RepresentationJacobian
from interp.testing.stand_ins import bpe_protein_model

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


def test_residues_take_the_rows_of_their_tokens():
    model, tokenizer = bpe_protein_model()
    adapter = get_adapter(model, tokenizer)
    assert type(adapter).__name__ == "TokenResolutionAdapter" and adapter.alphabet == "ACDEFGHIKLMNPQRSTVWY"
    encoded = adapter.encode(SEQUENCE)
    offsets = tokenizer(SEQUENCE, return_offsets_mapping=True)["offset_mapping"]
    assert encoded.input_ids.tolist() == tokenizer(SEQUENCE)["input_ids"]
    for residue, token in enumerate(encoded.residue_positions.tolist()):
        start, end = offsets[token]
        assert start <= residue < end
    assert len(set(encoded.residue_positions.tolist())) < len(SEQUENCE)  # some tokens hold several residues

    pred = AttentionReadout(adapter).attribute(SEQUENCE)
    tokens = encoded.residue_positions
    with torch.no_grad(), adapter.attention_weights_enabled():  # GPT-2 loads with SDPA: weights need eager
        attentions = model(input_ids=encoded.input_ids[None], output_attentions=True).attentions
    maps = []
    for layer in attentions:
        for head in layer[0]:
            a = head.double().numpy()[np.ix_(tokens.numpy(), tokens.numpy())]
            sym = a + a.T
            maps.append(sym - sym.sum(1, keepdims=True) * sym.sum(0, keepdims=True) / sym.sum())
    mean = np.mean(maps, axis=0)
    np.fill_diagonal(mean, 0)
    np.testing.assert_allclose(pred.contacts.numpy(), (mean + mean.T) / 2, rtol=1e-5, atol=1e-7)


def test_jacobians_are_refused_with_the_reason():
    model, tokenizer = bpe_protein_model()
    adapter = get_adapter(model, tokenizer)
    for explainer in (CategoricalJacobian, GradientJacobian, RepresentationJacobian):
        with pytest.raises(InterpError, match="is not available: a one-residue mutation can re-tokenise"):
            explainer(adapter)
    with pytest.raises(InterpError, match="unknown='mask'"):
        adapter.encode(SEQUENCE, unknown="mask")
