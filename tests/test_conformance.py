"""One conformance suite for every registered adapter family, each with the tokenizer it really has.

Native architectures are built from their real config classes with random weights (ESM-2, ESM C,
ProtBert, ProtT5 encoder, RNA-FM from multimolecule). ProGen2 needs remote code, so its adapter logic is
tested on GPT-2 (native, causal) with ProGen2's character vocabulary and "1"/"2" terminals: the same
call signature and vocabulary, not the real ProGen2 weights or layers. Likewise HyenaDNA and Evo
(causal, one token per nucleotide) are stood in for by GPT-2 with a nucleotide vocabulary, and Caduceus
(masked, remote code) by BERT with a nucleotide vocabulary.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from helpers import two_strand_reference

from interp.adapters import get_adapter
from interp.errors import InterpError, InvalidSequenceError
from interp.explainers import AttentionReadout, CategoricalJacobian, RepresentationJacobian
from interp.testing.stand_ins import SAMPLE_SEQUENCES, STAND_INS, dna_model, rnafm_model

HAS_MULTIMOLECULE = importlib.util.find_spec("multimolecule") is not None

FAMILIES = {  # every stand-in of interp.testing.stand_ins whose tokenizer the conformance tests can read
    name: (stand_in.build, SAMPLE_SEQUENCES[stand_in.kind], stand_in.causal, stand_in.needs)
    for name, stand_in in STAND_INS.items()
    if stand_in.conformance
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request):
    name = request.param
    build, sequence, causal, needs = FAMILIES[name]
    if needs == "rna" and not HAS_MULTIMOLECULE:
        pytest.skip("multimolecule (the [rna] extra) is not installed")
    try:
        model, tokenizer = build()
    except ImportError as error:  # ESM C is native only in transformers 5
        pytest.skip(f"{name} cannot be built with this transformers: {error}")
    return name, model, tokenizer, get_adapter(model, tokenizer), sequence, causal


def _jacobian_explainer(adapter, **options):
    if adapter.has_lm_head:
        return CategoricalJacobian(adapter, **options)
    return RepresentationJacobian(adapter, **options)


def test_alphabet_ids_are_valid_and_distinct(family):
    _, model, tokenizer, adapter, _, _ = family
    ids = adapter.letter_token_ids
    assert len(ids) == len(adapter.alphabet) == len(set(ids.tolist()))
    assert int(ids.min()) >= 0 and int(ids.max()) < model.get_input_embeddings().num_embeddings
    specials = set(tokenizer.all_special_ids)
    assert not specials & set(ids.tolist())
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    assert [t.lstrip("\u2581") for t in tokens] == list(adapter.alphabet)


def test_residue_positions_hold_the_residues(family):
    _, _, tokenizer, adapter, sequence, _ = family
    encoded = adapter.encode(sequence)
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids[encoded.residue_positions].tolist())
    if encoded.offsets is not None:  # k-mer tokens: the residue is the letter at its offset in the token
        tokens = [t[o] if o >= 0 else t for t, o in zip(tokens, encoded.offsets.tolist(), strict=True)]
    assert "".join(t.lstrip("\u2581") for t in tokens) == sequence
    offset = 1 if adapter.causal else 0
    assert torch.equal(encoded.readout_positions, (encoded.residue_positions - offset).clamp_min(0))
    assert encoded.first_unpredicted == bool(adapter.causal and int(encoded.residue_positions[0]) == 0)


def test_encoding_matches_the_tokenizer(family):
    _, _, tokenizer, adapter, sequence, _ = family
    kind = type(adapter).__name__
    text = " ".join(sequence) if kind in ("ProtBertAdapter", "ProtT5EncoderAdapter") else sequence
    if kind == "CausalProteinAdapter":  # ProGen2's terminal tokens
        text = "1" + sequence + "2"
    expected = list(tokenizer(text)["input_ids"])  # the family's own layout: no start token added for DNA
    assert adapter.encode(sequence).input_ids.tolist() == expected


def test_jacobian_shape_determinism_and_batch_independence(family):
    _, model, _, adapter, sequence, _ = family
    length, letters = len(sequence), len(adapter.alphabet)
    jac_a = _jacobian_explainer(adapter, batch_size=4).jacobian(sequence)
    jac_b = _jacobian_explainer(adapter, batch_size=4).jacobian(sequence)
    jac_c = _jacobian_explainer(adapter, batch_size=23).jacobian(sequence)
    width = (
        letters
        if adapter.has_lm_head
        else model.config.hidden_size
        if hasattr(model.config, "hidden_size")
        else model.config.d_model
    )
    assert jac_a.shape == (length, letters, length, width)
    assert torch.equal(jac_a, jac_b)
    torch.testing.assert_close(jac_c, jac_a, rtol=1e-5, atol=1e-5)
    assert float(jac_a.abs().sum()) > 0


def test_causal_masking_is_respected(family):
    """A causal model's mutation at p reaches only q > p; a masked model's reaches both sides."""
    _, _, _, adapter, sequence, causal = family
    if not adapter.has_lm_head:
        pytest.skip("no LM head: the representation Jacobian is not about prediction order")
    jac = CategoricalJacobian(adapter).jacobian(sequence)
    norm = jac.square().sum(dim=(1, 3)).sqrt()
    length = len(sequence)
    lower = norm[torch.tril(torch.ones(length, length, dtype=torch.bool), diagonal=0)]  # q <= p
    upper = norm[torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)]
    assert causal == adapter.causal
    if causal:
        assert float(lower.abs().max()) == 0.0 and float(upper.min()) > 0
    else:
        assert float(lower.max()) > 0 and float(upper.max()) > 0


def test_contact_map_and_attention_readout(family):
    _, _, _, adapter, sequence, _ = family
    pred = _jacobian_explainer(adapter).attribute(sequence)
    contacts = pred.contacts.numpy()
    assert contacts.shape == (len(sequence),) * 2 and np.allclose(contacts, contacts.T)
    assert np.isfinite(contacts).all() and (np.diag(contacts) == 0).all()
    attention = AttentionReadout(adapter).attribute(sequence)
    assert attention.contacts.shape == (len(sequence),) * 2 and float(attention.contacts.abs().sum()) > 0


def test_unknown_letter_policy(family):
    _, _, _, adapter, sequence, _ = family
    bad = sequence[:3] + "X" + sequence[4:] if adapter.alphabet != "ACGU" else sequence[:3] + "N" + sequence[4:]
    with pytest.raises(InvalidSequenceError, match="position 4"):
        adapter.encode(bad)
    if adapter.mask_token_id is None:
        with pytest.raises(InterpError, match="no mask token"):
            adapter.encode(bad, unknown="mask")
    else:
        encoded = adapter.encode(bad, unknown="mask")
        assert int(encoded.input_ids[encoded.residue_positions[3]]) == adapter.mask_token_id


def test_rna_reads_t_as_u():
    if not HAS_MULTIMOLECULE:
        pytest.skip("multimolecule (the [rna] extra) is not installed")
    model, tokenizer = rnafm_model()
    adapter = get_adapter(model, tokenizer)
    assert torch.equal(adapter.encode("GGATCC").input_ids, adapter.encode("GGAUCC").input_ids)


def test_causal_dna_fills_the_other_triangle_by_reverse_complement():
    """Independent loop: the effect of a at p on b at q < p is read on the reverse-complement strand."""
    model, tokenizer = dna_model(causal=True, seed=4)
    adapter = get_adapter(model, tokenizer)
    sequence = "GGATCCGATTAG"
    letters = [tokenizer.convert_tokens_to_ids(c) for c in "ACGT"]

    def readout(seq):  # the tokenizer's layout, no start token: residue 0 is never predicted (row left 0)
        ids = torch.tensor(tokenizer(seq)["input_ids"])
        with torch.no_grad():
            logits = model(input_ids=ids[None]).logits[0].double()
        per_residue = torch.zeros(len(seq), 4, dtype=torch.float64)
        per_residue[1:] = logits[: len(seq) - 1][:, letters]
        return per_residue

    expected = two_strand_reference(sequence, readout)
    pred = CategoricalJacobian(adapter, keep_jacobian=True).attribute(sequence)
    np.testing.assert_allclose(pred.jacobian.numpy(), expected, atol=1e-5)


def test_the_adapter_reads_the_model_shape(family):
    """Layers, heads and width come from the adapter (the only door to the model), equal to the real modules."""
    _, model, _, adapter, _, _ = family
    shape = adapter.shape
    assert shape.hidden == model.get_input_embeddings().embedding_dim
    assert shape.vocab == model.get_input_embeddings().num_embeddings or shape.vocab >= len(adapter.alphabet)
    config = model.config
    layers = next(getattr(config, n) for n in ("num_hidden_layers", "num_layers", "n_layer") if hasattr(config, n))
    assert shape.layers == layers and shape.heads > 0
