"""Family alignments, sequence weights, the pseudo-likelihood Potts baseline and the masked-LM module."""

from __future__ import annotations

import pytest
import torch
from helpers import requires_data

from interp.errors import InterpError
from interp.scoring.metrics import contact_precision
from interp.training.alignments import FamilyAlignment, load_family, sequence_weights
from interp.training.masked_lm import MaskedLMModule, encode_rows, family_model, letter_ids
from interp.training.planted_potts import gibbs_sample, planted_potts
from interp.training.pseudo_likelihood import fit_potts


def test_sequence_weights_match_a_naive_loop():
    rows = torch.randint(0, 3, (40, 10))
    rows[5] = rows[6]  # a duplicate pair
    weights = sequence_weights(rows, 3, identity=0.8, chunk=7)
    for n in range(40):
        neighbours = sum(int((rows[n] == rows[m]).float().mean() >= 0.8) for m in range(40))
        assert float(weights[n]) == pytest.approx(1.0 / neighbours)
    assert float(weights[5]) <= 0.5


def test_family_alignment_keeps_the_query_columns(tmp_path):
    path = tmp_path / "family.fasta"
    path.write_text(">q\nAC-DE\n>a\nAXGDT\n>b\n-C-D-\n")
    family = load_family(path, kind="rna")
    assert family.query == "ACDE" and family.rows == ["ACDE", "AXDU", "-CD-"]
    protein = load_family(path)
    encoded = protein.encode()
    assert encoded.shape == (3, 4) and int(encoded[1, 1]) == len(protein.states) - 1  # X read as a gap
    assert protein.ungapped() == ["ACDE", "AXDT", "CD"]
    with pytest.raises(InterpError, match="kind"):
        load_family(path, kind="dna")


def test_potts_fit_recovers_planted_couplings():
    pairs = [(0, 7), (2, 10), (4, 11)]
    potts = planted_potts(12, pairs, q=4, strength=2.5, seed=3)
    states = gibbs_sample(potts, 1500, sweeps=20, seed=4)
    fit = fit_potts(states, n_states=4, max_iterations=60)
    contacts = fit.contacts(drop_last_state=False)
    assert fit.couplings.shape == (12, 4, 12, 4) and torch.allclose(fit.couplings, fit.couplings.permute(2, 3, 0, 1))
    assert contact_precision(contacts, potts.contact_map(), k=3, min_separation=1) == 1.0
    with pytest.raises(InterpError, match="letters must lie"):
        fit_potts(states, n_states=3)


def test_potts_fit_reports_the_loss_at_its_fitted_parameters():
    """`PottsFit.loss` is the objective at the fitted fields and couplings (recomputed here with a loop over
    sites), not L-BFGS's first evaluation (N * L * log q at all-zero parameters)."""
    import math

    potts = planted_potts(6, [(0, 4)], q=3, strength=2.0, seed=0)
    states = gibbs_sample(potts, 200, sweeps=10, seed=1)
    fit = fit_potts(states, n_states=3, max_iterations=30, l2_fields=0.01, l2_couplings=0.2)
    n, length = states.shape
    nll = 0.0
    for i in range(length):
        logits = fit.fields[i] + sum(fit.couplings[i, :, j, states[:, j]].T for j in range(length) if j != i)
        nll -= torch.log_softmax(logits, dim=-1).gather(1, states[:, i : i + 1]).sum().item()
    penalty = 0.01 * fit.fields.pow(2).sum().item() + 0.5 * 0.2 * fit.couplings.pow(2).sum().item()
    assert math.isclose(fit.loss, nll + penalty, rel_tol=1e-4)
    assert fit.loss < n * length * math.log(3) * 0.99  # below the all-zero start


@requires_data
def test_potts_baseline_on_1a3a_finds_long_range_contacts(data_dir):
    from interp.structures.structure import contact_map

    family = load_family(data_dir / "protein/1a3a_A/1a3a_1_A.a3m")
    truth = contact_map(data_dir / "protein/1a3a_A/1a3a.pdb", sequence=family.query)
    fit = fit_potts(family.encode(), family.weights(), n_states=len(family.states), max_iterations=15)
    assert contact_precision(fit.contacts(), truth, k="L/5") >= 0.5  # published-grade coevolution signal


def test_masked_lm_step_selects_residues_and_replaces_with_letters():
    model, tokenizer = family_model(12, width=32, heads=2)
    ids = encode_rows(["ACDEFGHIKL-M"] * 8, tokenizer)
    letters = letter_ids(ids, tokenizer)
    assert set(letters.tolist()) == {tokenizer.convert_tokens_to_ids(c) for c in "ACDEFGHIKLM-"}
    module = MaskedLMModule(model, tokenizer.mask_token_id, mask_fraction=0.5, replacement_ids=letters)
    seen = {}

    def capture(_, args, kwargs):
        seen["inputs"] = kwargs["input_ids"].clone()

    handle = model.register_forward_pre_hook(capture, with_kwargs=True)
    loss = module.training_step((ids,), 0)
    handle.remove()
    inputs = seen["inputs"]
    assert torch.isfinite(loss) and (inputs[:, 0] == ids[:, 0]).all() and (inputs[:, -1] == ids[:, -1]).all()
    changed = inputs != ids
    assert bool((inputs == tokenizer.mask_token_id).any())
    assert set(inputs[changed & (inputs != tokenizer.mask_token_id)].tolist()) <= set(letters.tolist())
    with pytest.raises(InterpError, match="replacement_ids"):
        MaskedLMModule(model, tokenizer.mask_token_id)
    with pytest.raises(InterpError, match="mask_fraction"):
        MaskedLMModule(model, tokenizer.mask_token_id, mask_fraction=1.5, replacement_ids=letters)


def test_family_models_take_exactly_their_length():
    from interp.adapters import get_adapter

    for kind in ("protein", "rna"):
        model, tokenizer = family_model(30, kind=kind, width=32, heads=2)
        adapter = get_adapter(model, tokenizer)
        assert adapter.max_length == 30
        model(input_ids=encode_rows(["A" * 30], tokenizer))
        with pytest.raises(IndexError):
            model(input_ids=encode_rows(["A" * 31], tokenizer))


def test_family_alignment_dataclass_defaults():
    family = FamilyAlignment(query="AC", rows=["AC"], states="AC-")
    assert family.kind == "protein" and family.gap == "-"
