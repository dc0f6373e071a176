"""Captum's own methods through an adapter (interp.explainers.captum_targets), and the explainers' Captum conventions.

Each Captum result is checked against something computed without Captum: integrated gradients against
completeness, saliency against a plain autograd pass through the model's own `inputs_embeds`, feature ablation
against a loop that replaces one residue at a time; the targets' values against the model's log-probabilities,
the gradient Jacobian and the attention readout.
"""

from __future__ import annotations

import captum.attr
import pytest
import torch
from captum.attr import FeatureAblation, IntegratedGradients, Saliency

from interp.adapters import get_adapter
from interp.errors import InterpError
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian
from interp.explainers.captum_targets import CaptumTarget, captum_target, residue_attributions
from interp.testing.stand_ins import bpe_protein_model, causal_protein_model, dna_model, esm_model

PROTEIN = "MKTAYIAKQRQISFVKSH"
DNA = "ACGTTGCAACGGTACCAT"


@pytest.fixture(scope="module")
def esm():
    return esm_model("tiny")


@pytest.fixture(scope="module")
def causal():
    return causal_protein_model()


@pytest.fixture(scope="module")
def masked_dna():
    return dna_model(causal=False)


@pytest.fixture(scope="module")
def causal_dna():
    return dna_model(causal=True)


def residues_of(target: CaptumTarget, per_token: torch.Tensor) -> torch.Tensor:
    """Sum over the embedding dimension at each residue's token, by hand: [1, T, H] -> [L]."""
    return torch.stack([per_token[0, int(t)].sum() for t in target.residue_tokens]).float().cpu()


# --- integrated gradients: completeness -----------------------------------------------------------
@pytest.mark.parametrize(
    ("pair", "baseline"), [("esm", None), ("esm", "average"), ("causal", None), ("causal", "zeros")]
)
@pytest.mark.parametrize("kind", ["log_likelihood", "logit", "contact"])
def test_integrated_gradients_are_complete(pair, baseline, kind, request):
    model, tokenizer = request.getfixturevalue(pair)
    position = (2, 11) if kind == "contact" else 7
    target = captum_target(model, tokenizer, PROTEIN, position=position, target=kind, baseline=baseline)
    attributions, delta = IntegratedGradients(target.forward_func).attribute(
        target.inputs, baselines=target.baselines, return_convergence_delta=True
    )
    with torch.no_grad():
        gap = float(target.forward_func(target.inputs)[0] - target.forward_func(target.baselines)[0])
    per_residue = target.per_residue(attributions)
    assert per_residue.shape == (len(PROTEIN),)
    tolerance = 0.01 * abs(gap) + 1e-5
    assert abs(float(delta)) < tolerance
    # special tokens equal their baseline: every attribution lies on a residue, and the residues sum to the gap
    assert float(per_residue.sum()) == pytest.approx(gap, abs=tolerance)
    assert float(attributions.sum()) == pytest.approx(float(per_residue.sum()), abs=1e-5)


def test_the_baselines_replace_residue_tokens_only(masked_dna, causal):
    model, tokenizer = masked_dna
    adapter = get_adapter(model, tokenizer)
    weight = model.get_input_embeddings().weight.detach()
    target = captum_target(model, tokenizer, DNA, position=4)  # a mask token: the mask baseline
    assert torch.allclose(
        target.baselines[0, target.residue_tokens], weight[adapter.mask_token_id].expand(len(DNA), -1)
    )
    _, delta = IntegratedGradients(target.forward_func).attribute(
        target.inputs, baselines=target.baselines, return_convergence_delta=True
    )
    with torch.no_grad():
        gap = float(target.forward_func(target.inputs)[0] - target.forward_func(target.baselines)[0])
    assert abs(float(delta)) < 0.01 * abs(gap) + 1e-5
    model, tokenizer = causal  # no mask token: the average letter
    adapter = get_adapter(model, tokenizer)
    weight = model.get_input_embeddings().weight.detach()
    target = captum_target(model, tokenizer, PROTEIN, position=4)
    average = weight[adapter.letter_token_ids].mean(0)
    assert torch.allclose(target.baselines[0, target.residue_tokens], average.expand(len(PROTEIN), -1), atol=1e-6)
    others = [t for t in range(target.inputs.shape[1]) if t not in target.residue_tokens.tolist()]
    assert others and torch.equal(target.baselines[0, others], target.inputs[0, others])  # special tokens kept
    zeros = captum_target(model, tokenizer, PROTEIN, position=4, baseline="zeros")
    assert torch.all(zeros.baselines[0, zeros.residue_tokens] == 0)


# --- saliency: one autograd pass through the model's own inputs_embeds ------------------------------
def own_log_likelihood(model, ids: torch.Tensor, letter_ids: torch.Tensor, read_at: int, letter: int):
    """The embedded tokens (a leaf) and log p(letter) at token `read_at` among the letters, from the model itself."""
    embedded = model.get_input_embeddings()(ids[None]).detach().requires_grad_(True)
    logits = model(inputs_embeds=embedded).logits[0, read_at]
    return embedded, torch.log_softmax(logits[letter_ids], dim=-1)[letter]


@pytest.mark.parametrize("pair", ["causal", "masked_dna"])
def test_saliency_is_the_gradient_of_the_log_likelihood(pair, request):
    model, tokenizer = request.getfixturevalue(pair)
    sequence = PROTEIN if pair == "causal" else DNA
    adapter = get_adapter(model, tokenizer)
    position = 9
    encoded = adapter.encode(sequence)
    ids = encoded.input_ids.clone()
    residue_token = int(encoded.residue_positions[position])
    if adapter.causal:
        read_at = residue_token - 1  # the token before predicts the residue
    else:
        ids[residue_token] = adapter.mask_token_id
        read_at = residue_token
    letter_ids = torch.tensor([tokenizer.convert_tokens_to_ids(c) for c in adapter.alphabet])
    embedded, value = own_log_likelihood(model, ids, letter_ids, read_at, adapter.alphabet.index(sequence[position]))
    (gradient,) = torch.autograd.grad(value, embedded)

    target = captum_target(model, tokenizer, sequence, position=position)
    with torch.no_grad():
        assert float(target.forward_func(target.inputs)[0]) == pytest.approx(float(value), abs=1e-5)
    saliency = Saliency(target.forward_func).attribute(target.inputs.clone().requires_grad_(True), abs=False)
    assert torch.allclose(saliency, gradient, atol=1e-5)
    expected = residues_of(target, gradient.abs())
    assert torch.allclose(
        residue_attributions("saliency", model, tokenizer, sequence, position=position), expected, atol=1e-5
    )
    signed = residue_attributions("saliency", model, tokenizer, sequence, position=position, abs=False)
    assert torch.allclose(signed, residues_of(target, gradient), atol=1e-5)
    if adapter.causal:  # a causal model's prediction of residue 9 reads nothing at or after it
        assert torch.all(expected[position:] == 0) and torch.all(expected[:position] > 0)


def test_the_log_likelihood_of_a_masked_model_masks_the_residue(esm):
    model, tokenizer = esm
    adapter = get_adapter(model, tokenizer)
    position = 5
    encoded = adapter.encode(PROTEIN)
    ids = encoded.input_ids.clone()
    ids[encoded.residue_positions[position]] = adapter.mask_token_id
    with torch.no_grad():
        logits = model(input_ids=ids[None]).logits[0, encoded.residue_positions[position]]
        expected = torch.log_softmax(logits[adapter.letter_token_ids], dim=-1)[
            adapter.alphabet.index(PROTEIN[position])
        ]
        target = captum_target(model, tokenizer, PROTEIN, position=position)
        assert float(target.forward_func(target.inputs)[0]) == pytest.approx(float(expected), abs=1e-5)
    # the masked residue holds the mask token in the input and the baseline: nothing to attribute there
    assert torch.equal(
        target.inputs[0, encoded.residue_positions[position]], target.baselines[0, encoded.residue_positions[position]]
    )
    for method in ("integrated_gradients", "feature_ablation"):
        assert residue_attributions(method, model, tokenizer, PROTEIN, position=position)[position] == 0


# --- feature ablation: one residue at a time, by hand ------------------------------------------------
@pytest.mark.parametrize(
    ("pair", "kind"), [("esm", "log_likelihood"), ("causal", "logit"), ("causal_dna", "log_likelihood")]
)
def test_feature_ablation_replaces_one_residue_at_a_time(pair, kind, request):
    model, tokenizer = request.getfixturevalue(pair)
    sequence = DNA if pair == "causal_dna" else PROTEIN
    target = captum_target(model, tokenizer, sequence, position=12, target=kind)
    with torch.no_grad():
        full = target.forward_func(target.inputs)[0]
        naive = []
        for token in target.residue_tokens.tolist():
            ablated = target.inputs.clone()
            ablated[0, token] = target.baselines[0, token]
            naive.append(float(full - target.forward_func(ablated)[0]))
    captum_result = FeatureAblation(target.forward_func).attribute(
        target.inputs, baselines=target.baselines, feature_mask=target.feature_mask
    )
    # every coordinate of a residue's token carries the whole effect of ablating that residue
    tokens = captum_result[0, target.residue_tokens]
    assert torch.equal(tokens, tokens[:, :1].expand_as(tokens))
    assert torch.allclose(target.per_residue(captum_result, grouped=True), torch.tensor(naive), atol=1e-5)
    ours = residue_attributions("feature_ablation", model, tokenizer, sequence, position=12, target=kind)
    assert torch.allclose(ours, torch.tensor(naive), atol=1e-5)
    if get_adapter(model, tokenizer).causal:
        assert torch.all(ours[12:] == 0)


# --- what the contact targets are --------------------------------------------------------------------
def test_the_logit_targets_gradient_is_the_gradient_jacobian(esm):
    model, tokenizer = esm
    adapter = get_adapter(model, tokenizer)
    q = 10
    b = adapter.alphabet.index(PROTEIN[q])
    jacobian = GradientJacobian(model, tokenizer, chunk_size=None).jacobian(PROTEIN)  # [L, A, L, A]
    target = captum_target(model, tokenizer, PROTEIN, position=q, target="logit")
    gradient = Saliency(target.forward_func).attribute(target.inputs.clone().requires_grad_(True), abs=False)[0]
    letter_vectors = model.get_input_embeddings().weight.detach()[adapter.letter_token_ids]  # [A, H]
    projected = gradient[target.residue_tokens] @ letter_vectors.T  # [L, A]: d logit[q, b] / d one-hot[p, a]
    assert torch.allclose(projected, jacobian[:, :, q, b], atol=1e-5)
    other = captum_target(model, tokenizer, PROTEIN, position=q, target="logit", letter="W")
    gradient_w = Saliency(other.forward_func).attribute(other.inputs.clone().requires_grad_(True), abs=False)[0]
    projected_w = gradient_w[other.residue_tokens] @ letter_vectors.T
    assert torch.allclose(projected_w, jacobian[:, :, q, adapter.alphabet.index("W")], atol=1e-5)


@pytest.mark.parametrize("pair", ["esm", "causal"])
def test_the_contact_target_is_the_attention_readouts_score(pair, request):
    model, tokenizer = request.getfixturevalue(pair)
    contacts = AttentionReadout(model, tokenizer).attribute(PROTEIN).contacts
    for i, j in [(2, 11), (11, 2), (0, 17)]:
        target = captum_target(model, tokenizer, PROTEIN, position=(i, j), target="contact")
        with torch.no_grad():
            assert float(target.forward_func(target.inputs)[0]) == pytest.approx(float(contacts[i, j]), abs=1e-5)


# --- the model's own state ----------------------------------------------------------------------------
def test_targets_run_the_model_in_eval_mode_and_give_its_mode_back():
    model, tokenizer = esm_model("tiny", hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.5)
    model.train()
    first = residue_attributions("saliency", model, tokenizer, PROTEIN, position=4)
    second = residue_attributions("saliency", model, tokenizer, PROTEIN, position=4)
    assert torch.equal(first, second)  # no dropout
    assert model.training and all(module.training for module in model.modules())
    assert all(parameter.grad is None for parameter in model.parameters())  # input gradients only


# --- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"position": 18}, r"position 18 is outside the sequence \(18 residues; 0-based positions 0 to 17\)"),
        ({"position": -1}, r"position -1 is outside"),
        ({"position": True}, r"position True is not a residue index"),
        ({"position": 2.0}, r"position 2.0 is not a residue index"),
        ({"position": (3, 3), "target": "contact"}, r"position \(3, 3\): a contact needs two different residues"),
        ({"position": (3, 40), "target": "contact"}, r"position j 40 is outside"),
        ({"position": 3, "target": "contact"}, r"target='contact' needs position=\(i, j\)"),
        ({"position": 3, "target": "attention"}, r"target='attention'; choose one of"),
        ({"position": 3, "baseline": "ones"}, r"baseline='ones'; choose one of"),
        ({"position": 3, "target": "logit", "letter": "Z"}, r"letter 'Z' is not in the esm alphabet"),
        ({"position": 3, "letter": "A"}, r"letter='A' is for target='logit'"),
    ],
)
def test_bad_requests_are_refused_naming_what_is_wrong(esm, options, message):
    model, tokenizer = esm
    with pytest.raises(InterpError, match=message):
        captum_target(model, tokenizer, PROTEIN, **options)
    with pytest.raises(InterpError, match=message):
        residue_attributions("saliency", model, tokenizer, PROTEIN, **options)


def test_a_named_record_is_named(esm):
    model, tokenizer = esm
    with pytest.raises(InterpError, match=r"position 30 is outside sequence 'sp\|P1' \(18 residues"):
        residue_attributions("saliency", model, tokenizer, PROTEIN, position=30, name="sp|P1")
    with pytest.raises(InterpError, match=r"letter 'B' at position 3"):
        residue_attributions("saliency", model, tokenizer, "MKBT", position=1)


def test_refusals_of_the_method_and_of_models_that_cannot_give_the_target(esm, causal_dna):
    model, tokenizer = esm
    with pytest.raises(InterpError, match=r"method='occlusion'; choose one of"):
        residue_attributions("occlusion", model, tokenizer, PROTEIN, position=3)
    with pytest.raises(InterpError, match="return_convergence_delta"):
        residue_attributions(
            "integrated_gradients", model, tokenizer, PROTEIN, position=3, return_convergence_delta=True
        )
    dna, dna_tokenizer = causal_dna
    with pytest.raises(InterpError, match=r"position 0: .* no start token"):
        residue_attributions("saliency", dna, dna_tokenizer, DNA, position=0)
    assert residue_attributions("saliency", dna, dna_tokenizer, DNA, position=1).shape == (len(DNA),)
    causal_model, causal_tokenizer = causal_protein_model()
    with pytest.raises(InterpError, match="has no mask token: use baseline='average' or 'zeros'"):
        residue_attributions(
            "integrated_gradients", causal_model, causal_tokenizer, PROTEIN, position=3, baseline="mask"
        )
    bpe, bpe_tokenizer = bpe_protein_model()
    with pytest.raises(InterpError, match="several residues share one token"):
        residue_attributions("saliency", bpe, bpe_tokenizer, PROTEIN, position=3)
    target = captum_target(model, tokenizer, PROTEIN, position=3)
    with pytest.raises(InterpError, match="not laid out as the inputs"):
        target.per_residue(torch.zeros(2, *target.inputs.shape[1:]))


# --- the explainers keep Captum's conventions without subclassing Attribution ----------------------
def test_explainers_are_not_captum_attributions_and_still_attribute(esm):
    model, tokenizer = esm
    explainer = CategoricalJacobian(model, tokenizer)
    assert not isinstance(explainer, captum.attr.Attribution)
    assert not hasattr(explainer, "has_convergence_delta")
    prediction = explainer.attribute(PROTEIN[:10])
    assert prediction.contacts.shape == (10, 10)
    assert [p.contacts.shape for p in explainer.attribute([PROTEIN[:8], PROTEIN[:6]])] == [(8, 8), (6, 6)]
