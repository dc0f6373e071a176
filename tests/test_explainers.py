"""Explainers against independent naive loops (one forward per mutant, autograd per output, attention by hand).

Tiny models are built from the real ESM and BERT config classes (random weights, no download).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_maps_close, reference_postprocess

import interp
from interp.adapters import PROTEIN_ALPHABET, CustomAdapter, get_adapter
from interp.errors import (
    EmptySequenceError,
    InterpError,
    InvalidSequenceError,
    NonFiniteOutputError,
    SequenceTooLongError,
)
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian, RepresentationJacobian
from interp.maps.prediction import ContactPrediction
from interp.testing.stand_ins import esm_model, protbert_model

SEQ = "MKTAYIAKQRQISFVKSH"


@pytest.fixture(scope="module")
def esm():
    return esm_model("tiny", seed=1)


@pytest.fixture(scope="module")
def bert():
    return protbert_model(seed=2)


def naive_jacobian(model, tokenizer, sequence, spaced=False):
    """One forward per mutant through the model itself; logits of mutants (not minus the wild type)."""
    text = " ".join(sequence) if spaced else sequence
    ids = torch.tensor(tokenizer(text)["input_ids"])
    letters = [tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET]
    length = len(sequence)
    jac = np.zeros((length, 20, length, 20))
    with torch.no_grad():
        for p in range(length):
            for a, letter in enumerate(letters):
                mutant = ids.clone()
                mutant[p + 1] = letter
                logits = model(input_ids=mutant[None]).logits[0, 1 : length + 1][:, letters]
                jac[p, a] = logits.double().numpy()
    return jac


@pytest.mark.parametrize("which", ["esm", "bert"])
def test_categorical_jacobian_equals_naive_loop(which, esm, bert):
    model, tokenizer = esm if which == "esm" else bert
    jac = naive_jacobian(model, tokenizer, SEQ, spaced=which == "bert")
    pred = CategoricalJacobian(model, tokenizer, keep_jacobian=True).attribute(SEQ)
    assert isinstance(pred, ContactPrediction) and pred.contacts.dtype == torch.float32
    assert_maps_close(pred.contacts.numpy(), reference_postprocess(jac))
    # the kept tensor is mutant minus wild type: equal to the naive one up to the per-(q, b) wild-type offset
    wild = jac[0, PROTEIN_ALPHABET.index(SEQ[0])]
    np.testing.assert_allclose(pred.jacobian.numpy(), jac - wild[None, None], atol=2e-5)


def test_batch_size_does_not_change_the_map(esm):
    model, tokenizer = esm
    maps = [CategoricalJacobian(model, tokenizer, batch_size=b).attribute(SEQ).contacts for b in (1, 7, 64)]
    for other in maps[1:]:
        assert_maps_close(other.numpy(), maps[0].numpy())


def test_same_input_gives_bit_identical_maps(esm):
    model, tokenizer = esm
    explainer = CategoricalJacobian(model, tokenizer, batch_size=16)
    assert torch.equal(explainer.attribute(SEQ).contacts, explainer.attribute(SEQ).contacts)


def test_log_softmax_gives_the_same_map_as_raw_logits(esm):
    """log-softmax subtracts a per-position constant from the logits; centring removes it."""
    model, tokenizer = esm

    class LogSoftmaxModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids):
            return torch.log_softmax(self.inner(input_ids=input_ids).logits, dim=-1)

    adapter = CustomAdapter(
        LogSoftmaxModel(), PROTEIN_ALPHABET, token_ids={c: tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET},
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.eos_token_id, mask_token_id=tokenizer.mask_token_id,
    )  # fmt: skip
    raw = CategoricalJacobian(model, tokenizer).attribute(SEQ).contacts
    logsoft = CategoricalJacobian(adapter).attribute(SEQ).contacts
    assert_maps_close(logsoft.numpy(), raw.numpy(), rtol=1e-4)


def test_fast_jacobian_masks_each_position(esm):
    model, tokenizer = esm
    ids = torch.tensor(tokenizer(SEQ)["input_ids"])
    letters = [tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET]
    jac = np.zeros((len(SEQ), 1, len(SEQ), 20))
    with torch.no_grad():
        for p in range(len(SEQ)):
            mutant = ids.clone()
            mutant[p + 1] = tokenizer.mask_token_id
            jac[p, 0] = model(input_ids=mutant[None]).logits[0, 1:-1][:, letters].double().numpy()
    pred = CategoricalJacobian(model, tokenizer, fast=True).attribute(SEQ)
    assert pred.method == "fast_categorical_jacobian"
    assert_maps_close(pred.contacts.numpy(), reference_postprocess(jac, symmetrize_tensor=False))


def test_gradient_jacobian_equals_autograd_loop(esm):
    model, tokenizer = esm
    seq = SEQ[:10]
    ids = torch.tensor(tokenizer(seq)["input_ids"])[None]
    letters = [tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET]
    embedding = model.get_input_embeddings()
    onehot = torch.nn.functional.one_hot(ids, embedding.num_embeddings).float().requires_grad_(True)
    handle = embedding.register_forward_hook(lambda m, i, o: onehot @ embedding.weight)
    try:
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            logits = model(input_ids=ids).logits[0]
        jac = np.zeros((len(seq), 20, len(seq), 20))
        for q in range(len(seq)):
            for b, letter in enumerate(letters):
                (grad,) = torch.autograd.grad(logits[q + 1, letter], onehot, retain_graph=True)
                jac[:, :, q, b] = grad[0, 1 : len(seq) + 1][:, letters].double().numpy()
    finally:
        handle.remove()
    pred = GradientJacobian(model, tokenizer, keep_jacobian=True, chunk_size=37).attribute(seq)
    np.testing.assert_allclose(pred.jacobian.numpy(), jac, rtol=1e-4, atol=1e-5)
    assert_maps_close(pred.contacts.numpy(), reference_postprocess(jac), rtol=1e-4)
    assert model.config._attn_implementation == "sdpa"


def naive_attention_mean(model, tokenizer, sequence):
    ids = torch.tensor(tokenizer(sequence)["input_ids"])[None]
    eager, _ = esm_model("tiny", seed=1, attn_implementation="eager")
    eager.load_state_dict(model.state_dict())
    with torch.no_grad():
        attentions = eager(input_ids=ids, output_attentions=True).attentions
    length = len(sequence)
    maps = []
    for layer in attentions:
        for head in layer[0]:
            a = head[1 : length + 1, 1 : length + 1].double().numpy()
            s = a + a.T
            maps.append(s - s.sum(1, keepdims=True) * s.sum(0, keepdims=True) / s.sum())
    mean = np.mean(maps, axis=0)
    np.fill_diagonal(mean, 0)
    return (mean + mean.T) / 2


def test_attention_readout_on_sdpa_equals_eager_and_naive(esm):
    model, tokenizer = esm
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():  # what transformers gives an SDPA model: no weights at all
        assert not model(input_ids=torch.tensor(tokenizer(SEQ)["input_ids"])[None], output_attentions=True).attentions
    sdpa_map = AttentionReadout(model, tokenizer).attribute(SEQ).contacts
    assert model.config._attn_implementation == "sdpa"  # switched back after the readout pass
    eager, _ = esm_model("tiny", seed=1, attn_implementation="eager")
    eager.load_state_dict(model.state_dict())
    eager_map = AttentionReadout(eager, tokenizer).attribute(SEQ).contacts
    torch.testing.assert_close(sdpa_map, eager_map, rtol=1e-5, atol=1e-7)
    assert_maps_close(sdpa_map.numpy(), naive_attention_mean(model, tokenizer, SEQ))
    assert float(sdpa_map.abs().sum()) > 0


def test_attention_readout_refuses_a_model_without_weights(esm):
    model, tokenizer = esm

    class NoAttention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids, **kwargs):
            return self.inner(input_ids=input_ids)

    adapter = CustomAdapter(
        NoAttention(), PROTEIN_ALPHABET, token_ids={c: tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET}
    )
    with pytest.raises(InterpError, match="no attention weights"):
        AttentionReadout(adapter).attribute(SEQ)


def test_top_k_logistic_and_calibrated_combiners(esm, tmp_path):
    model, tokenizer = esm
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list(PROTEIN_ALPHABET), 30)) for _ in range(3)]
    truths = []
    for _ in sequences:
        t = rng.random((30, 30)) < 0.15
        truths.append(torch.from_numpy(t | t.T))
    readout = AttentionReadout(model, tokenizer, combiner="top_k")
    with pytest.raises(InterpError, match="not fitted"):
        readout.attribute(sequences[0])
    readout.fit(sequences, truths, k=3)
    assert len(readout.combiner.heads) == 3 and readout.combiner.scores == sorted(readout.combiner.scores, reverse=True)
    maps = readout.head_maps(sequences[0])
    fitted = readout.attribute(sequences[0]).contacts
    expected = maps[readout.combiner.heads].mean(0)
    expected.fill_diagonal_(0)
    torch.testing.assert_close(fitted, (expected + expected.T) / 2)
    readout.save(tmp_path / "heads.json")
    reloaded = AttentionReadout(model, tokenizer).load(tmp_path / "heads.json")
    torch.testing.assert_close(reloaded.attribute(sequences[0]).contacts, fitted)

    logistic = AttentionReadout(model, tokenizer, combiner="logistic").fit(sequences, truths, l1=1e-2)
    probs = logistic.attribute(sequences[1]).contacts
    assert probs.min() >= 0 and probs.max() <= 1 and len(logistic.combiner.weights) == maps.shape[0]

    calibrated = AttentionReadout(model, tokenizer, combiner="calibrated").calibrate(sequences[:2], k=4)
    assert calibrated.combiner.kind == "calibrated" and len(calibrated.combiner.heads) == 4
    (tmp_path / "bad.json").write_text('{"kind": "mean"}')
    with pytest.raises(InterpError, match="not a combiner file"):
        AttentionReadout(model, tokenizer).load(tmp_path / "bad.json")


def test_representation_jacobian_matches_naive_loop(esm):
    model, tokenizer = esm
    seq = SEQ[:8]
    ids = torch.tensor(tokenizer(seq)["input_ids"])
    letters = [tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET]
    jac = np.zeros((len(seq), 20, len(seq), 64))
    with torch.no_grad():
        for p in range(len(seq)):
            for a, letter in enumerate(letters):
                mutant = ids.clone()
                mutant[p + 1] = letter
                states = model(input_ids=mutant[None], output_hidden_states=True).hidden_states[1]
                jac[p, a] = states[0, 1:-1].double().numpy()
    pred = RepresentationJacobian(model, tokenizer, layer=1).attribute(seq)
    assert_maps_close(pred.contacts.numpy(), reference_postprocess(jac, symmetrize_tensor=False))


def test_custom_module_through_the_generic_adapter():
    """A model of the user's own: embedding, a position-mixing layer, a head over four letters."""
    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(5, 8)
            self.mix = torch.nn.Linear(8, 8)
            self.head = torch.nn.Linear(8, 5)

        def forward(self, input_ids):
            h = torch.tanh(self.embed(input_ids))
            h = h + torch.tanh(self.mix(h.mean(dim=1, keepdim=True))) * h.roll(1, dims=1)
            return self.head(h)

    module = Tiny().eval()
    adapter = CustomAdapter(module, "ACGU", mask_token_id=4)
    seq = "ACGUUGCA"
    jac = np.zeros((8, 4, 8, 4))
    ids = torch.tensor(["ACGU".index(c) for c in seq])
    with torch.no_grad():
        for p in range(8):
            for a in range(4):
                mutant = ids.clone()
                mutant[p] = a
                jac[p, a] = module(mutant[None])[0, :, :4].double().numpy()
    assert_maps_close(CategoricalJacobian(adapter).attribute(seq).contacts.numpy(), reference_postprocess(jac))
    grad = GradientJacobian(adapter).attribute(seq)
    assert grad.contacts.shape == (8, 8)


def test_bad_sequences_raise_typed_errors_before_any_work(esm):
    model, tokenizer = esm
    explainer = CategoricalJacobian(model, tokenizer)
    with pytest.raises(InvalidSequenceError, match=r"sequence '#2': letter 'X' at position 3"):
        explainer.attribute(["MKT", "MKXT"])
    with pytest.raises(InvalidSequenceError, match="letter 'k' at position 2"):
        explainer.attribute("MkT")
    with pytest.raises(EmptySequenceError):
        explainer.attribute("")
    with pytest.raises(SequenceTooLongError, match="1025 residues"):
        CategoricalJacobian(model, tokenizer, long_sequences="error").attribute("A" * 1025)
    masked = CategoricalJacobian(model, tokenizer).attribute("MKXTAYIAK", unknown="mask")
    assert masked.contacts.shape == (9, 9)


def test_nan_logits_are_reported_with_the_position(esm):
    model, tokenizer = esm

    class Poisoned(torch.nn.Module):
        def forward(self, input_ids):
            logits = model(input_ids=input_ids).logits.clone()
            logits[input_ids[:, 3] == tokenizer.convert_tokens_to_ids("W")] = float("nan")
            return logits

    adapter = CustomAdapter(
        Poisoned(), PROTEIN_ALPHABET, token_ids={c: tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET},
        bos_token_id=0, eos_token_id=2,
    )  # fmt: skip
    with pytest.raises(
        NonFiniteOutputError,
        match=r"sequence .#1.: the model returned NaN or infinite outputs \(mutant W at residue 3\)",
    ):
        CategoricalJacobian(adapter, batch_size=5).attribute(SEQ)


def test_training_mode_is_restored(esm):
    model, tokenizer = esm
    model.train()
    try:
        a = CategoricalJacobian(model, tokenizer).attribute(SEQ[:6]).contacts
        b = CategoricalJacobian(model, tokenizer).attribute(SEQ[:6]).contacts
        assert model.training and torch.equal(a, b)
    finally:
        model.eval()


def test_list_input_returns_list_and_names(esm, tmp_path):
    model, tokenizer = esm
    preds = AttentionReadout(model, tokenizer).attribute([SEQ, SEQ[:12]], names=["a", "b"])
    assert [p.name for p in preds] == ["a", "b"] and preds[1].contacts.shape == (12, 12)
    preds[0].save(tmp_path / "a.npz")
    back = ContactPrediction.load(tmp_path / "a.npz")
    assert back.sequence == SEQ and torch.equal(back.contacts, preds[0].contacts) and back.name == "a"
    interp.save_contacts(tmp_path / "bare.npz", preds[0].contacts)  # a map saved without its sequence
    with pytest.raises(interp.ContactMapError, match="holds no sequence"):
        ContactPrediction.load(tmp_path / "bare.npz")
    assert len(preds[0].top(5, min_separation=3)) == 5
    fig = preds[0].plot(truth=torch.rand(len(SEQ), len(SEQ)) < 0.2)
    fig.savefig(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_registry_errors_are_clear(esm):
    model, _ = esm
    with pytest.raises(InterpError, match="pass the model's tokenizer"):
        get_adapter(model, None)
    with pytest.raises(InterpError, match="CustomAdapter"):
        get_adapter(torch.nn.Linear(3, 3))


def test_each_submodule_keeps_its_own_mode(esm):
    model, tokenizer = esm

    class Wrapper(torch.nn.Module):  # created in training mode, wrapping a model in eval mode
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids):
            return self.inner(input_ids=input_ids).logits

    wrapper = Wrapper()
    adapter = CustomAdapter(
        wrapper, PROTEIN_ALPHABET, token_ids={c: tokenizer.convert_tokens_to_ids(c) for c in PROTEIN_ALPHABET}
    )
    CategoricalJacobian(adapter).attribute(SEQ[:5])
    assert wrapper.training and not model.training


def test_compiled_path_matches_eager(esm):
    model, tokenizer = esm
    eager = CategoricalJacobian(model, tokenizer, batch_size=9).attribute(SEQ[:10]).contacts
    compiled = CategoricalJacobian(model, tokenizer, batch_size=9, compile=True).attribute(SEQ[:10]).contacts
    assert_maps_close(compiled.numpy(), eager.numpy(), rtol=1e-4)
    assert not hasattr(model, "_orig_mod")  # the model itself is untouched


def test_bfloat16_autocast_stays_close_to_fp32(esm):
    """bf16 keeps 8 mantissa bits: the raw Jacobian stays within 10% (relative Frobenius error) of fp32.

    (The post-processed map of a random-weight model is itself mostly noise, so it is not compared here;
    the benchmark reports the map deviation.)
    """
    model, tokenizer = esm
    fp32 = CategoricalJacobian(model, tokenizer).jacobian(SEQ)
    bf16 = CategoricalJacobian(model, tokenizer, dtype=torch.bfloat16).jacobian(SEQ)
    assert float((bf16 - fp32).norm() / fp32.norm()) < 0.1


def test_partial_jacobian_rows(esm):
    model, tokenizer = esm
    explainer = CategoricalJacobian(model, tokenizer, batch_size=8)
    full = explainer.jacobian(SEQ)
    part = explainer.jacobian(SEQ, positions=[2, 5])
    torch.testing.assert_close(part[[2, 5]], full[[2, 5]], rtol=1e-5, atol=1e-6)
    assert not part[[0, 1, 3, 4]].any()
    with pytest.raises(InterpError, match="positions must lie"):
        explainer.jacobian(SEQ, positions=[99])


def test_symmetrized_apc_equals_apc_of_the_symmetric_map():
    from interp.explainers.attention import symmetrized_apc
    from interp.maps.contacts import apc

    maps = torch.rand(5, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(symmetrized_apc(maps), apc(maps + maps.transpose(1, 2)))


def test_prediction_precision_against_a_structure_file(esm, data_dir):
    from interp.scoring.metrics import precision_table
    from interp.structures.structure import contact_map

    model, tokenizer = esm
    structure = data_dir / "protein/1a3a_A/1a3a.pdb"
    sequence = contact_map(structure, chain="A").sequence
    pred = AttentionReadout(model, tokenizer).attribute(sequence)
    table = pred.precision(structure, chain="A")
    assert set(table) >= {"long_P@L", "medium_P@L/2", "short_P@L/5"}
    assert table == precision_table(pred.contacts, contact_map(structure, chain="A", sequence=sequence))


def test_attention_readout_on_a_model_unpickled_in_a_fresh_process(esm):
    """transformers 5 registers recordable outputs in PreTrainedModel.__init__, which unpickling skips (as in
    Lightning's ddp_spawn workers): simulate the fresh process by dropping the registry entries."""
    registry = pytest.importorskip("transformers.utils.output_capturing", reason="transformers 4.x has no registry")
    _CAN_RECORD_REGISTRY = registry._CAN_RECORD_REGISTRY

    model, tokenizer = esm
    saved = dict(_CAN_RECORD_REGISTRY)
    try:
        _CAN_RECORD_REGISTRY.clear()
        with torch.no_grad():
            ids = torch.tensor(tokenizer(SEQ)["input_ids"])[None]
            model.set_attn_implementation("eager")
            assert model(input_ids=ids, output_attentions=True).attentions is None  # the failure mode
            model.set_attn_implementation("sdpa")
        assert AttentionReadout(model, tokenizer).attribute(SEQ).contacts.abs().sum() > 0
    finally:
        _CAN_RECORD_REGISTRY.clear()
        _CAN_RECORD_REGISTRY.update(saved)


class _ScaleWithoutVmap(torch.autograd.Function):
    """An autograd.Function with no vmap rule (like DNABERT-2's padding helpers): vmap over it raises."""

    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0


class _TinyMixer(torch.nn.Module):
    def __init__(self, vocab: int = 6, hidden: int = 8, length: int = 7, custom: bool = True) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.embed = torch.nn.Embedding(vocab, hidden)
        self.mix = torch.nn.Linear(length * hidden, length * hidden)
        self.head = torch.nn.Linear(hidden, vocab)
        self.custom = custom

    def forward(self, ids):
        x = self.embed(ids)
        if self.custom:
            x = _ScaleWithoutVmap.apply(x)
        batch, length, hidden = x.shape
        x = torch.tanh(self.mix(x.reshape(batch, -1))).reshape(batch, length, hidden)
        return self.head(x)


def _autograd_reference(module, ids, alphabet_ids):
    embedding = module.embed
    onehot = torch.nn.functional.one_hot(ids, embedding.num_embeddings).float().requires_grad_(True)
    handle = embedding.register_forward_hook(lambda m, i, o: onehot @ embedding.weight)
    try:
        logits = module(ids)[0]
    finally:
        handle.remove()
    length, letters = ids.shape[1], len(alphabet_ids)
    jac = np.zeros((length, letters, length, letters))
    for q in range(length):
        for b, token in enumerate(alphabet_ids):
            (grad,) = torch.autograd.grad(logits[q, token], onehot, retain_graph=True)
            jac[:, :, q, b] = grad[0][:, alphabet_ids].double().numpy()
    return jac


def test_gradient_jacobian_loops_where_vmap_cannot_run():
    """An autograd.Function without a vmap rule: the pullback runs one output at a time, same result."""

    module = _TinyMixer().eval()
    adapter = CustomAdapter(module, "ACGT", token_ids={"A": 1, "C": 2, "G": 3, "T": 4})
    with pytest.raises(RuntimeError):  # the premise: vmap itself refuses this module
        torch.func.vmap(lambda e: _ScaleWithoutVmap.apply(e))(torch.ones(2, 3))
    sequence = "ACGTTGC"
    pred = GradientJacobian(adapter, keep_jacobian=True, chunk_size=5).attribute(sequence)
    ids = adapter.encode(sequence).input_ids[None]
    np.testing.assert_allclose(pred.jacobian.numpy(), _autograd_reference(module, ids, [1, 2, 3, 4]), atol=1e-5)


def test_gradient_jacobian_refuses_an_embedding_the_model_never_calls():
    """An embedding called through another method than __call__ (Evo's embed()) never fires a hook: refused."""

    module = _TinyMixer(custom=False).eval()
    module.forward = lambda ids: module.head(torch.tanh(module.embed.forward(ids)))  # bypasses __call__
    adapter = CustomAdapter(module, "ACGT", token_ids={"A": 1, "C": 2, "G": 3, "T": 4})
    with pytest.raises(InterpError, match="never called"):
        GradientJacobian(adapter).attribute("ACGTTGC")


def test_jacobians_refuse_an_all_zero_result():
    """A model whose outputs do not depend on the residues gives an all-zero Jacobian: an error, not a map."""

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(6, 4)
            self.bias = torch.nn.Parameter(torch.randn(6))

        def forward(self, ids):
            return self.embed(ids).sum(-1, keepdim=True) * 0 + self.bias

    adapter = CustomAdapter(Constant().eval(), "ACGT", token_ids={"A": 1, "C": 2, "G": 3, "T": 4})
    for explainer in (CategoricalJacobian(adapter), GradientJacobian(adapter)):
        with pytest.raises(InterpError, match="all-zero Jacobian"):
            explainer.attribute("ACGTTGC")
