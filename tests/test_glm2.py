"""gLM2: proteins and nucleotides in one input, strand tokens between elements; the Jacobian over the
union alphabet with each (kind, kind) block post-processed on its own, against an independent loop.

The stand-in is an EsmForMaskedLM with gLM2's vocabulary (gLM2 itself needs remote code).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_maps_close

from interp.adapters import get_adapter
from interp.errors import InvalidSequenceError
from interp.explainers import CategoricalJacobian
from interp.maps.contacts import grouped_jacobian_to_contacts, jacobian_to_contacts
from interp.testing.stand_ins import glm2_model

PROTEIN, NUCLEOTIDES = "ACDEFGHIKLMNPQRSTVWY", "acgt"


def test_one_group_is_the_plain_reference():
    jac = torch.randn(9, 5, 9, 5, dtype=torch.float64)
    grouped = grouped_jacobian_to_contacts(jac.clone(), [torch.arange(9)], [torch.arange(5)])
    torch.testing.assert_close(grouped, jacobian_to_contacts(jac))


def centred(block):
    for axis in range(4):
        if block.shape[axis] > 1:
            block = block - block.mean(axis=axis, keepdims=True)
    return block


def test_glm2_jacobian_equals_a_naive_per_kind_loop():
    model, tokenizer = glm2_model(seed=7)
    text = "<+>MKTAYIAK<->atgcat"
    residues = "MKTAYIAKatgcat"
    length = len(residues)
    kinds = [1 if c in NUCLEOTIDES else 0 for c in residues]
    union = PROTEIN + NUCLEOTIDES
    letter_ids = [tokenizer.convert_tokens_to_ids(c) for c in union]
    ids = torch.tensor(tokenizer(text)["input_ids"])
    token_of = [i for i, t in enumerate(tokenizer.convert_ids_to_tokens(ids.tolist())) if t in union]
    jac = np.zeros((length, 24, length, 24))
    with torch.no_grad():
        for p in range(length):
            for a, letter in enumerate(union):
                if (letter in NUCLEOTIDES) != bool(kinds[p]):
                    continue  # a residue is mutated only to letters of its own kind
                mutant = ids.clone()
                mutant[token_of[p]] = letter_ids[a]
                jac[p, a] = model(input_ids=mutant[None]).logits[0, token_of][:, letter_ids].double().numpy()
    groups = [np.array([i for i in range(length) if kinds[i] == k]) for k in (0, 1)]
    letters = [np.arange(20), np.arange(20, 24)]
    blocks = {
        (kp, kq): centred(jac[np.ix_(groups[kp], letters[kp], groups[kq], letters[kq])])
        for kp in (0, 1)
        for kq in (0, 1)
    }
    norm = np.zeros((length, length))
    for (kp, kq), block in blocks.items():
        sym = (block + blocks[kq, kp].transpose(2, 3, 0, 1)) / 2
        norm[np.ix_(groups[kp], groups[kq])] = np.sqrt((sym**2).sum(axis=(1, 3)))
    np.fill_diagonal(norm, 0)
    apc = norm - norm.sum(1, keepdims=True) * norm.sum(0, keepdims=True) / norm.sum()
    np.fill_diagonal(apc, 0)
    expected = (apc + apc.T) / 2

    adapter = get_adapter(model, tokenizer)
    pred = CategoricalJacobian(adapter).attribute(text)
    assert pred.sequence == residues and pred.contacts.shape == (length, length)
    assert_maps_close(pred.contacts.numpy(), expected)


def test_glm2_input_errors_name_the_position():
    model, tokenizer = glm2_model()
    adapter = get_adapter(model, tokenizer)
    with pytest.raises(InvalidSequenceError, match="'u' at position 3"):
        adapter.encode("<+>MK<->u")
    with pytest.raises(InvalidSequenceError, match="position 2"):
        adapter.encode("<+>M<*>K")
