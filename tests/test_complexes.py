"""Complexes: chains joined by each family's linker, one full map, and the inter-chain block."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_maps_close, reference_postprocess

from interp.adapters import PROTEIN_ALPHABET, CustomAdapter, get_adapter
from interp.errors import InterpError, InvalidSequenceError, SequenceTooLongError
from interp.explainers import AttentionReadout, CategoricalJacobian
from interp.testing.stand_ins import esm_model, esmc_model

CHAINS = ("MKTAYIAKQ", "RQISFVKSHF")


def test_esm_complex_uses_a_glycine_linker_and_equals_a_naive_loop():
    model, tokenizer = esm_model("tiny", seed=3)
    adapter = get_adapter(model, tokenizer)
    encoded = adapter.encode_complex(list(CHAINS))
    linked = CHAINS[0] + "G" * 25 + CHAINS[1]
    assert encoded.input_ids.tolist() == list(tokenizer(linked)["input_ids"])
    residue_tokens = [1 + i for i in range(9)] + [1 + 9 + 25 + i for i in range(10)]
    assert encoded.residue_positions.tolist() == residue_tokens

    letters = [tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET]
    ids = torch.tensor(tokenizer(linked)["input_ids"])
    jac = np.zeros((19, 20, 19, 20))
    with torch.no_grad():
        for p, token in enumerate(residue_tokens):
            for a, letter in enumerate(letters):
                mutant = ids.clone()
                mutant[token] = letter
                jac[p, a] = model(input_ids=mutant[None]).logits[0, residue_tokens][:, letters].double().numpy()
    pred = CategoricalJacobian(model, tokenizer).attribute(CHAINS)
    assert pred.sequence == "".join(CHAINS) and pred.chain_boundaries == [0, 9, 19]
    assert_maps_close(pred.contacts.numpy(), reference_postprocess(jac))
    block = pred.inter_chain(0, 1)
    assert block.shape == (9, 10) and torch.equal(block, pred.contacts[:9, 9:])
    with pytest.raises(InterpError, match="has 2 chain"):
        pred.inter_chain(0, 2)


def test_esmc_complex_uses_its_chain_break_token():
    model, tokenizer = esmc_model()
    adapter = get_adapter(model, tokenizer)
    encoded = adapter.encode_complex(list(CHAINS))
    assert encoded.input_ids.tolist() == list(tokenizer(CHAINS[0] + "|" + CHAINS[1])["input_ids"])
    pred = AttentionReadout(model, tokenizer).attribute(CHAINS)
    assert pred.contacts.shape == (19, 19) and pred.inter_chain(1, 0).shape == (10, 9)


def test_complex_errors_name_the_chain():
    model, tokenizer = esm_model("tiny")
    explainer = CategoricalJacobian(model, tokenizer)
    with pytest.raises(InvalidSequenceError, match=r"complex chain 2.*position 3"):
        explainer.attribute(("MKT", "MKXT"))
    with pytest.raises(InterpError, match="at least two chains"):
        explainer.adapter.encode_complex(["MKT"])
    with pytest.raises(SequenceTooLongError, match="complexes are not split"):
        explainer.attribute(("A" * 600, "A" * 600))
    rna = CustomAdapter(torch.nn.Sequential(torch.nn.Embedding(4, 4)), "ACGU")
    with pytest.raises(InterpError, match="no chain separator"):
        rna.encode_complex(["ACG", "UGC"])
