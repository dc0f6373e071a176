"""Readouts of the Jacobian's mutant sweep, each against a naive loop written here from the model's own forward
(not through interp's adapter): per-layer maps (every layer's hidden states, one mutant at a time), the attention
readout's per-layer maps (the model's own attention weights), and every single-mutant score (wild-type marginal,
masked marginal, mutant likelihood), on masked and causal stand-ins and on one real pretrained model."""

from __future__ import annotations

import importlib.metadata
import math

import pytest
import torch

import interp
from interp.errors import InterpError
from interp.testing.stand_ins import causal_protein_model, esm_model

SEQUENCE = "MKTAYIAKQRQISFVKSHFS"


# ------------------------------------------------------------------ the model's own forward, one sequence at a time


def masked_ids(tokenizer, sequence: str, mask_at: int | None = None) -> torch.Tensor:
    """<cls> residues <eos>, residue q at token q + 1 (ESM's layout), optionally one residue masked."""
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id  # BERT: [SEP]
    ids = [tokenizer.cls_token_id, *tokenizer.convert_tokens_to_ids(list(sequence)), end]
    if mask_at is not None:
        ids[mask_at + 1] = tokenizer.mask_token_id
    return torch.tensor([ids])


def causal_ids(tokenizer, sequence: str) -> torch.Tensor:
    """ProGen2's layout: "1" + residues + "2", residue q at token q + 1, predicted by the logits at token q."""
    return torch.tensor([tokenizer.convert_tokens_to_ids(["1", *sequence, "2"])])


def apc_map(norm: torch.Tensor) -> torch.Tensor:
    """Zero diagonal, average product correction, zero diagonal, symmetrise, written out."""
    out = norm.clone()
    out.fill_diagonal_(0)
    out = out - out.sum(1, keepdim=True) * out.sum(0, keepdim=True) / out.sum()
    out.fill_diagonal_(0)
    return (out + out.T) / 2


def naive_layer_maps(model, ids_of, sequence: str, substitutes: list[str]) -> torch.Tensor:
    """[layers, L, L]: every mutant run alone; each layer's [L, S, L, H] Jacobian centred along the letter, output
    residue and feature axes, normed over letters and features, then `apc_map`."""

    def states(ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states
        return torch.stack([h[0, 1 : 1 + len(sequence)] for h in hidden[1:]]).double()  # [layers, L, H]

    wild = states(ids_of(sequence, None))
    jacobian = torch.zeros(wild.shape[0], len(sequence), len(substitutes), len(sequence), wild.shape[2], dtype=torch.double)
    for p in range(len(sequence)):
        for s, letter in enumerate(substitutes):
            if letter == sequence[p]:
                continue
            ids = ids_of(sequence, p) if letter == "<mask>" else ids_of(sequence[:p] + letter + sequence[p + 1 :], None)
            jacobian[:, p, s] = states(ids) - wild
    maps = []
    for block in jacobian:  # [L, S, L, H]
        if block.shape[1] > 1:
            block = block - block.mean(1, keepdim=True)
        block = block - block.mean(2, keepdim=True)
        block = block - block.mean(3, keepdim=True)
        maps.append(apc_map(block.square().sum((1, 3)).sqrt()))
    return torch.stack(maps)


def masked_scores(model, tokenizer, sequence: str, alphabet: str) -> dict[str, torch.Tensor]:
    letter_ids = tokenizer.convert_tokens_to_ids(list(alphabet))

    def log_p(ids: torch.Tensor) -> torch.Tensor:  # [L, A], over the alphabet
        with torch.no_grad():
            logits = model(ids).logits[0, 1 : 1 + len(sequence)][:, letter_ids].double()
        return torch.log_softmax(logits, -1)

    wild_letters = [alphabet.index(c) for c in sequence]
    wild = log_p(masked_ids(tokenizer, sequence))
    wild_total = sum(wild[q, wild_letters[q]] for q in range(len(sequence)))
    out = {name: torch.zeros(len(sequence), len(alphabet), dtype=torch.double) for name in ("wt_marginal", "masked_marginal", "mutant_likelihood")}
    for p in range(len(sequence)):
        masked = log_p(masked_ids(tokenizer, sequence, mask_at=p))
        for a, letter in enumerate(alphabet):
            out["wt_marginal"][p, a] = wild[p, a] - wild[p, wild_letters[p]]
            out["masked_marginal"][p, a] = masked[p, a] - masked[p, wild_letters[p]]
            mutant = sequence[:p] + letter + sequence[p + 1 :]
            each = log_p(masked_ids(tokenizer, mutant))
            out["mutant_likelihood"][p, a] = sum(each[q, alphabet.index(mutant[q])] for q in range(len(sequence))) - wild_total
    return out


def causal_scores(model, tokenizer, sequence: str, alphabet: str) -> dict[str, torch.Tensor]:
    letter_ids = tokenizer.convert_tokens_to_ids(list(alphabet))

    def log_p(text: str) -> torch.Tensor:  # [L, A]: residue q read from the logits at token q (the prefix before it)
        with torch.no_grad():
            logits = model(causal_ids(tokenizer, text)).logits[0, : len(text)][:, letter_ids].double()
        return torch.log_softmax(logits, -1)

    def log_likelihood(text: str) -> torch.Tensor:
        each = log_p(text)
        return sum(each[q, alphabet.index(text[q])] for q in range(len(text)))

    wild = log_p(sequence)
    wild_total = log_likelihood(sequence)
    out = {name: torch.zeros(len(sequence), len(alphabet), dtype=torch.double) for name in ("wt_marginal", "mutant_likelihood")}
    for p in range(len(sequence)):
        for a, letter in enumerate(alphabet):
            out["wt_marginal"][p, a] = wild[p, a] - wild[p, alphabet.index(sequence[p])]
            out["mutant_likelihood"][p, a] = log_likelihood(sequence[:p] + letter + sequence[p + 1 :]) - wild_total
    return out


def assert_close(ours: torch.Tensor, naive: torch.Tensor, what: str) -> None:
    naive = naive.double()
    scale = float(naive.abs().max())
    assert scale > 1e-3, f"{what}: the naive result is ~0, the comparison would prove nothing"
    error = float((ours.double() - naive).abs().max())
    assert error <= 1e-4 * scale, f"{what}: max error {error:.3g} against a scale of {scale:.3g}"


# ------------------------------------------------------------------ per-layer maps


@pytest.mark.parametrize("fast", [False, True], ids=["letters", "mask"])
def test_per_layer_jacobian_maps_equal_the_naive_loop_on_a_masked_model(fast):
    model, tokenizer = esm_model("tiny")
    explainer = interp.CategoricalJacobian(model, tokenizer, per_layer=True, fast=fast, batch_size=7)  # rows straddle
    prediction = explainer.attribute(SEQUENCE)
    substitutes = ["<mask>"] if fast else list(explainer.adapter.alphabet)
    naive = naive_layer_maps(model, lambda s, p: masked_ids(tokenizer, s, p), SEQUENCE, substitutes)
    assert prediction.layer_contacts is not None
    assert prediction.layer_contacts.shape == (model.config.num_hidden_layers, len(SEQUENCE), len(SEQUENCE))
    assert_close(prediction.layer_contacts, naive, "per-layer maps")
    # the usual map is unchanged by asking for the per-layer ones
    plain = interp.CategoricalJacobian(model, tokenizer, fast=fast, batch_size=7).attribute(SEQUENCE)
    assert torch.equal(plain.contacts, prediction.contacts)


def test_per_layer_jacobian_maps_equal_the_naive_loop_on_a_causal_model():
    model, tokenizer = causal_protein_model()
    explainer = interp.CategoricalJacobian(model, tokenizer, per_layer=True, batch_size=5)
    prediction = explainer.attribute(SEQUENCE)
    naive = naive_layer_maps(model, lambda s, p: causal_ids(tokenizer, s), SEQUENCE, list(explainer.adapter.alphabet))
    assert_close(prediction.layer_contacts, naive, "causal per-layer maps")


def test_the_representation_jacobian_gives_per_layer_maps_too():
    model, tokenizer = esm_model("tiny")
    prediction = interp.RepresentationJacobian(model, tokenizer, per_layer=True, batch_size=16).attribute(SEQUENCE)
    naive = naive_layer_maps(model, lambda s, p: masked_ids(tokenizer, s, p), SEQUENCE, list("ACDEFGHIKLMNPQRSTVWY"))
    assert_close(prediction.layer_contacts, naive, "per-layer maps from the representation Jacobian")


def test_per_layer_attention_maps_equal_each_layers_heads_averaged():
    model, tokenizer = esm_model("tiny", attn_implementation="eager")
    prediction = interp.AttentionReadout(model, tokenizer, per_layer=True).attribute(SEQUENCE)
    with torch.no_grad():
        attentions = model(masked_ids(tokenizer, SEQUENCE), output_attentions=True).attentions
    length = len(SEQUENCE)
    for layer, weights in enumerate(attentions):
        heads = weights[0, :, 1 : 1 + length, 1 : 1 + length].double()
        corrected = []
        for head in heads:
            sym = head + head.T
            corrected.append(sym - sym.sum(1, keepdim=True) * sym.sum(0, keepdim=True) / sym.sum())
        expected = torch.stack(corrected).mean(0)
        expected.fill_diagonal_(0)
        assert_close(prediction.layer_contacts[layer], (expected + expected.T) / 2, f"attention layer {layer + 1}")


def test_per_layer_maps_survive_saving(tmp_path):
    model, tokenizer = esm_model("tiny")
    prediction = interp.CategoricalJacobian(model, tokenizer, per_layer=True, fast=True).attribute(SEQUENCE)
    prediction.save(tmp_path / "p.npz")
    loaded = interp.ContactPrediction.load(tmp_path / "p.npz")
    assert torch.equal(loaded.layer_contacts, prediction.layer_contacts)


def test_layer_precision_needs_per_layer_maps():
    model, tokenizer = esm_model("tiny")
    prediction = interp.CategoricalJacobian(model, tokenizer, fast=True).attribute(SEQUENCE)
    with pytest.raises(InterpError, match="per_layer=True"):
        prediction.layer_precision(torch.zeros(len(SEQUENCE), len(SEQUENCE), dtype=torch.bool))


# ------------------------------------------------------------------ single-mutant scores


def test_mutation_scores_equal_the_naive_loops_on_a_masked_model():
    model, tokenizer = esm_model("tiny")
    table = interp.MutationEffects(model, tokenizer, batch_size=9).attribute(SEQUENCE)
    naive = masked_scores(model, tokenizer, SEQUENCE, table.alphabet)
    assert list(table.scores) == ["wt_marginal", "masked_marginal", "mutant_likelihood"]
    for name, values in table.scores.items():
        assert_close(values, naive[name], name)


def test_mutation_scores_equal_the_naive_loops_on_a_causal_model():
    model, tokenizer = causal_protein_model()
    table = interp.MutationEffects(model, tokenizer, batch_size=6).attribute(SEQUENCE)
    naive = causal_scores(model, tokenizer, SEQUENCE, table.alphabet)
    assert list(table.scores) == ["wt_marginal", "mutant_likelihood"]  # a causal model has no masked marginal
    for name, values in table.scores.items():
        assert_close(values, naive[name], name)


def test_the_jacobian_reads_the_same_scores_from_its_own_sweep():
    """CategoricalJacobian(effects=True): the wild-type marginal and mutant likelihood of the contact-map sweep
    equal MutationEffects'; the fast sweep gives the masked marginal."""
    model, tokenizer = esm_model("tiny")
    table = interp.MutationEffects(model, tokenizer).attribute(SEQUENCE)
    full = interp.CategoricalJacobian(model, tokenizer, effects=True).attribute(SEQUENCE).effects
    fast = interp.CategoricalJacobian(model, tokenizer, effects=True, fast=True).attribute(SEQUENCE).effects
    assert torch.allclose(full.scores["mutant_likelihood"], table.scores["mutant_likelihood"], atol=1e-5)
    assert torch.allclose(full.scores["wt_marginal"], table.scores["wt_marginal"], atol=1e-5)
    assert torch.allclose(fast.scores["masked_marginal"], table.scores["masked_marginal"], atol=1e-5)


def test_asking_only_for_the_wild_type_marginal_runs_one_forward():
    model, tokenizer = esm_model("tiny")
    calls = []
    handle = model.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0] if args else 1))
    try:
        table = interp.MutationEffects(model, tokenizer, scores=["wt_marginal"]).attribute(SEQUENCE)
    finally:
        handle.remove()
    assert sum(calls) == 1 and list(table.scores) == ["wt_marginal"]


def test_a_score_the_family_cannot_give_is_refused_with_why():
    model, tokenizer = causal_protein_model()
    with pytest.raises(InterpError, match="no masked_marginal: a causal model"):
        interp.MutationEffects(model, tokenizer, scores=["masked_marginal"])
    with pytest.raises(InterpError, match="unknown score 'pll'"):
        interp.MutationEffects(model, tokenizer, scores=["pll"])


def test_a_residue_outside_the_alphabet_scores_nan_not_a_number(tmp_path):
    model, tokenizer = esm_model("tiny")
    table = interp.MutationEffects(model, tokenizer).attribute("MKTAYXAKQR", unknown="mask")
    for values in table.scores.values():
        assert bool(values[5].isnan().all()) and not bool(values[4].isnan().any())
    table.write_tsv(tmp_path / "e.tsv")
    rows = interp.maps.effects.read_effects_tsv(tmp_path / "e.tsv")
    assert any(math.isnan(r["wt_marginal"]) for r in rows if r["position"] == 6)


def test_the_table_names_each_mutation_and_its_convention(tmp_path):
    model, tokenizer = esm_model("tiny")
    table = interp.MutationEffects(model, tokenizer).attribute(SEQUENCE, names=["toy"])
    path = tmp_path / "toy.tsv"
    table.write_tsv(path)
    text = path.read_text().splitlines()
    assert text[0].startswith("# single-mutant scores of toy (L=20)")
    assert any(line.startswith("# masked_marginal: ") for line in text)
    rows = interp.maps.effects.read_effects_tsv(path)
    assert len(rows) == len(SEQUENCE) * (len(table.alphabet) - 1)  # wild-type letters left out
    first = rows[0]
    assert first["mutation"] == f"M1{table.alphabet[0]}" and first["position"] == 1
    a = table.alphabet.index(first["mut"])
    assert first["masked_marginal"] == pytest.approx(float(table.scores["masked_marginal"][0, a]), rel=1e-5)


# ------------------------------------------------------------------ one real pretrained model


def _installed(package: str, version: str) -> bool:
    try:
        return importlib.metadata.version(package) == version
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _installed("antiberty", "0.1.3"), reason='AntiBERTy weights absent: pip install ".[antibody]"')
def test_per_layer_maps_and_scores_equal_the_naive_loops_on_real_antiberty_weights():
    """AntiBERTy (8 layers, real weights) on the first 14 residues of a real heavy chain: every layer's map and every
    score against the loops above, run on the Hugging Face model directly."""
    model, tokenizer = interp.load_model("antiberty")
    chain = interp.load_panel("antibody-heavy", limit=1)[0].sequence[:14]
    explainer = interp.CategoricalJacobian(model, tokenizer, per_layer=True, batch_size=32)
    prediction = explainer.attribute(chain)
    naive = naive_layer_maps(model, lambda s, p: masked_ids(tokenizer, s, p), chain, list(explainer.adapter.alphabet))
    assert prediction.layer_contacts.shape[0] == model.config.num_hidden_layers
    assert_close(prediction.layer_contacts, naive, "AntiBERTy per-layer maps")
    table = interp.MutationEffects(model, tokenizer, batch_size=32).attribute(chain)
    expected = masked_scores(model, tokenizer, chain, table.alphabet)
    for name, values in table.scores.items():
        assert_close(values, expected[name], f"AntiBERTy {name}")
