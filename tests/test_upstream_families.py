"""Conformance against the families' own upstream code: every (family, explainer) cell, with the adapter
auto-detected and passed explicitly, ends in a result equal to an independent computation written here on
the family's **own** input layout, or in a typed InterpError that says why. Never an untyped exception,
never an all-zero map.

References: the categorical Jacobian is a naive mutate-and-forward loop on the family's own encoding
(its tokenizer, or Evo's `evo/scoring.py`); the gradient Jacobian an autograd loop, one output at a time,
through an embedding replaced in the test's own way; attention weights must reproduce the attention
output the model itself computed (weights @ V), and rows sum to one.

Set INTERP_CONFORMANCE_RESULTS=path.json to record each cell's outcome (benchmarks/family_table.py turns
the records of both transformers generations into the README's family table).
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import transformers
import upstream_families as uf
from helpers import kmer_marginal_logits

from interp.adapters import (
    ByteLevelDnaAdapter,
    CausalProteinAdapter,
    DnaAdapter,
    EsmcPackageAdapter,
    GLM2Adapter,
    NucleotideTransformerAdapter,
    TokenResolutionAdapter,
    get_adapter,
)
from interp.errors import InterpError, ModelCallError
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian

EXPLAINERS = ("categorical", "gradient", "attention")
EXPECTED = {  # "verified": equal to the reference; "refused": a typed InterpError
    "progen2": ("verified", "verified", "verified"),
    "hyenadna": ("verified", "verified", "refused"),
    "glm2": ("verified", "verified", "verified"),
    "evo (Hugging Face)": ("verified", "verified", "refused"),
    "evo (evo package)": ("verified", "verified", "refused"),
    "dnabert2": ("refused", "refused", "verified"),
    "nucleotide-transformer": ("verified", "refused", "verified"),
    "esmc (esm package)": ("verified", "verified", "verified"),
}
EXPLICIT = {
    "progen2": lambda f: CausalProteinAdapter(f.model, f.tokenizer),
    "hyenadna": lambda f: DnaAdapter(f.model, f.tokenizer),
    "glm2": lambda f: GLM2Adapter(f.model, f.tokenizer),
    "evo (Hugging Face)": lambda f: ByteLevelDnaAdapter(f.model, f.tokenizer),
    "evo (evo package)": lambda f: ByteLevelDnaAdapter(f.model, f.tokenizer),
    "dnabert2": lambda f: TokenResolutionAdapter(f.model, f.tokenizer),
    "nucleotide-transformer": lambda f: NucleotideTransformerAdapter(f.model, f.tokenizer),
    "esmc (esm package)": lambda f: EsmcPackageAdapter(f.model, f.tokenizer),
}
EMBEDDINGS = {  # where the test itself replaces the embedded sequence (independently of the adapters)
    "progen2": ("module", "transformer.wte"),
    "hyenadna": ("module", "hyena.backbone.embeddings.word_embeddings"),
    "glm2": ("module", "glm2.tok_embeddings"),
    "evo (Hugging Face)": ("embed", "backbone.embedding_layer"),
    "evo (evo package)": ("embed", "embedding_layer"),
    "esmc (esm package)": ("module", "embed"),
}
BF16 = {"evo (Hugging Face)", "evo (evo package)"}  # Evo runs in bf16: gradients round apart (measured 2e-4)
_FAMILIES: dict[str, uf.Family] = {}
RECORDS: list[dict[str, str]] = []


def family(name: str) -> uf.Family:
    if name not in _FAMILIES:
        _FAMILIES[name] = uf.BUILDERS[name]()
    return _FAMILIES[name]


def record(name: str, explainer: str, mode: str, outcome: str, detail: str = "") -> None:
    RECORDS.append({"family": name, "explainer": explainer, "mode": mode, "outcome": outcome, "detail": detail,
                    "transformers": transformers.__version__})  # fmt: skip
    path = os.environ.get("INTERP_CONFORMANCE_RESULTS")
    if path:
        Path(path).write_text(json.dumps(RECORDS, indent=1))


# --- the family's own layout, read independently of interp ------------------------------------------
def token_of(f: uf.Family, letter: str) -> int:
    if f.name.startswith("evo"):
        return ord(letter)
    if hasattr(f.tokenizer, "token_to_id"):  # a raw tokenizers.Tokenizer (ProGen2)
        return int(f.tokenizer.token_to_id(letter))
    return int(f.tokenizer.convert_tokens_to_ids(letter))


def residues_of(f: uf.Family, text: str) -> str:
    return text.replace("<+>", "").replace("<->", "")


def residue_positions(f: uf.Family, text: str) -> list[int]:
    """Token positions holding the residues in the family's own encoding, found by their token ids."""
    ids = f.own_ids(text)
    residues = residues_of(f, text)
    positions, start = [], 0
    for letter in residues:
        position = ids.index(token_of(f, letter), start)
        positions.append(position)
        start = position + 1
    return positions


def call(f: uf.Family, tensor: torch.Tensor) -> torch.Tensor:
    """The family's own forward call, its logits [B, T, V]."""
    if f.name == "evo (evo package)":
        return f.model(tensor)[0]  # a bare StripedHyena takes a tensor and returns (logits, state)
    if f.name == "esmc (esm package)":
        return f.model(sequence_tokens=tensor).sequence_logits
    out = f.model(input_ids=tensor)
    return out[0] if isinstance(out, tuple) else out.logits


def logits_of(f: uf.Family, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return call(f, torch.tensor([ids]))[0].double()


def kmer_readout(f: uf.Family, text: str) -> np.ndarray:
    """Nucleotide Transformer: the 6-mer distribution at each nucleotide's token, marginalised to the letter at
    its offset (log-sum-exp over the 6-mers with that letter there); tail nucleotides are single tokens."""
    return kmer_marginal_logits(logits_of(f, f.own_ids(text)), f.tokenizer.get_vocab(), len(text))


def readout(f: uf.Family, text: str) -> np.ndarray:
    """[L, A] logits predicting each residue over the alphabet (a causal row 0 without a start token: 0)."""
    if f.name == "nucleotide-transformer":
        return kmer_readout(f, text)
    positions = residue_positions(f, text)
    logits = logits_of(f, f.own_ids(text))[:, [token_of(f, c) for c in f.alphabet]]
    out = np.zeros((len(positions), len(f.alphabet)))
    for i, position in enumerate(positions):
        source = position - 1 if f.causal else position
        if source >= 0:
            out[i] = logits[source].numpy()
    return out


def mutate(text: str, f: uf.Family, p: int, letter: str) -> str:
    pieces, seen = [], -1
    index = 0
    while index < len(text):
        if text.startswith(("<+>", "<->"), index):
            pieces.append(text[index : index + 3])
            index += 3
            continue
        seen += 1
        pieces.append(letter if seen == p else text[index])
        index += 1
    return "".join(pieces)


def naive_categorical(f: uf.Family) -> np.ndarray:
    text = f.sequence
    residues = residues_of(f, text)
    if f.causal and set(f.alphabet) == set("ACGT"):
        from helpers import two_strand_reference

        return two_strand_reference(residues, lambda seq: readout(f, seq))
    wild = readout(f, text)
    length, letters = len(residues), len(f.alphabet)
    jac = np.zeros((length, letters, length, letters))
    for p in range(length):
        own_kind = "acgt" if residues[p] in "acgt" else "ACDEFGHIKLMNPQRSTVWY"
        for a, letter in enumerate(f.alphabet):
            if letter == residues[p] or letter not in own_kind:
                continue  # the wild type's row is zero; gLM2 mutates a residue only within its kind
            jac[p, a] = readout(f, mutate(text, f, p, letter)) - wild
    return jac


def _embedding_module(f: uf.Family) -> torch.nn.Module:
    return f.model.get_submodule(EMBEDDINGS[f.name][1])


def gradient_one_strand(f: uf.Family, text: str) -> np.ndarray:
    """d logit[q, b] / d onehot[p, a] by plain autograd, one output at a time."""
    ids = f.own_ids(text)
    positions = residue_positions(f, text)
    module = _embedding_module(f)
    table = module.weight.detach()
    embedded = table[torch.tensor([ids])].clone().requires_grad_(True)
    with ExitStack() as stack:
        if EMBEDDINGS[f.name][0] == "module":
            handle = module.register_forward_hook(lambda m, a, o: embedded)
            stack.callback(handle.remove)
        else:  # Evo calls embed(), not __call__: the test swaps that method for the leaf
            stack.enter_context(mock.patch.object(module, "embed", lambda x: embedded))
        logits = call(f, torch.tensor([ids]))[0]
    letters = [token_of(f, c) for c in f.alphabet]
    vectors = table[letters].double()
    length, n = len(positions), len(letters)
    jac = np.zeros((length, n, length, n))
    for q, position in enumerate(positions):
        source = position - 1 if f.causal else position
        if source < 0:
            continue
        for b, token in enumerate(letters):
            (grad,) = torch.autograd.grad(logits[source, token], embedded, retain_graph=True)
            rows = grad[0, positions].double()  # [L, H]
            jac[:, :, q, b] = (rows @ vectors.T).numpy()
    return jac


def naive_gradient(f: uf.Family) -> np.ndarray:
    forward = gradient_one_strand(f, f.sequence)
    if not (f.causal and set(f.alphabet) == set("ACGT")):
        return forward
    complement = {"A": "T", "C": "G", "G": "C", "T": "A"}
    reverse = "".join(complement[c] for c in reversed(f.sequence))
    backward = gradient_one_strand(f, reverse)
    length = len(f.sequence)
    jac = np.triu(np.ones((length, length)), 1)[:, None, :, None] * forward
    for p in range(length):
        for q in range(p):  # q < p: the reverse strand, positions mirrored and letters complemented
            for a, x in enumerate("ACGT"):
                for b, y in enumerate("ACGT"):
                    jac[p, a, q, b] = backward[length - 1 - p, "ACGT".index(complement[x]),
                                               length - 1 - q, "ACGT".index(complement[y])]  # fmt: skip
    return jac


# --- the cells ----------------------------------------------------------------------------------------
def adapter_for(f: uf.Family, mode: str):
    return get_adapter(f.model, f.tokenizer) if mode == "auto" else EXPLICIT[f.name](f)


def check_categorical(f: uf.Family, adapter) -> None:
    pred = CategoricalJacobian(adapter, keep_jacobian=True, batch_size=7).attribute(f.sequence)
    ours, want = pred.jacobian.double().numpy(), naive_categorical(f)
    scale = np.abs(want).max()
    assert scale > 0 and np.isfinite(pred.contacts.numpy()).all() and float(pred.contacts.abs().max()) > 0
    np.testing.assert_allclose(ours, want, atol=(1e-3 if f.name in BF16 else 1e-5) * scale)


def check_gradient(f: uf.Family, adapter) -> None:
    pred = GradientJacobian(adapter, keep_jacobian=True).attribute(f.sequence)
    ours, want = pred.jacobian.double().numpy(), naive_gradient(f)
    scale = np.abs(want).max()
    assert scale > 0 and float(pred.contacts.abs().max()) > 0
    np.testing.assert_allclose(ours, want, atol=(1e-3 if f.name in BF16 else 1e-5) * scale)


def attention_outputs(f: uf.Family, adapter) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(weights the adapter reads, the V each layer used, the attention output the layer computed)."""
    ids = adapter.encode(f.sequence).input_ids[None]
    values, outputs = [], []
    if f.name == "glm2":  # its Attention: qkv -> rotary -> SDPA -> wo; V and the SDPA output read by hooks
        def keep_value(module, args, output):
            qkv = output.view(1, ids.shape[1], 3, module_heads, -1)
            values.append(qkv[:, :, 2].transpose(1, 2))

        layers = [m for m in f.model.modules() if type(m).__name__ == "Attention"]
        module_heads = layers[0].n_heads
        handles = [m.wqkv.register_forward_hook(keep_value) for m in layers]
        handles += [m.wo.register_forward_hook(lambda m, a, o: outputs.append(a[0])) for m in layers]
    elif f.name == "esmc (esm package)":  # MultiHeadAttention: layernorm_qkv -> q/k norm, rotary -> SDPA -> out_proj
        layers = [m for m in f.model.modules() if type(m).__name__ == "MultiHeadAttention"]
        module_heads = layers[0].n_heads

        def keep_esmc_value(module, args, output):
            value = torch.chunk(output, 3, dim=-1)[2]
            values.append(value.view(1, ids.shape[1], module_heads, -1).transpose(1, 2))

        handles = [m.layernorm_qkv.register_forward_hook(keep_esmc_value) for m in layers]
        handles += [m.out_proj.register_forward_hook(lambda m, a, o: outputs.append(a[0])) for m in layers]
    else:  # DNABERT-2: BertUnpadSelfAttention's own output (unpadded tokens, heads * head size)
        def keep(module, args, output):
            qkv = module.Wqkv(args[0]).view(1, ids.shape[1], 3, module.num_attention_heads, -1)
            values.append(qkv[:, :, 2].transpose(1, 2))
            outputs.append(output)

        handles = [m.register_forward_hook(keep) for m in f.model.modules()
                   if type(m).__name__ == "BertUnpadSelfAttention"]  # fmt: skip
    try:
        with torch.no_grad():
            weights = adapter.forward(ids, output_attentions=True).attentions
    finally:
        for handle in handles:
            handle.remove()
    return list(weights), values, outputs


def apc_mean_reference(attentions: list[torch.Tensor], positions: list[int]) -> np.ndarray:
    maps = []
    for layer in attentions:
        for head in layer[0]:
            m = head.double().numpy()[np.ix_(positions, positions)]
            m = m + m.T
            maps.append(m - m.sum(1, keepdims=True) * m.sum(0, keepdims=True) / m.sum())
    return np.stack(maps)


def check_attention(f: uf.Family, adapter) -> None:
    explainer = AttentionReadout(adapter)
    pred = explainer.attribute(f.sequence)
    assert float(pred.contacts.abs().max()) > 0
    if adapter.attention_source == "outputs":  # weights the model returns: our per-head maps from them
        ids = adapter.encode(f.sequence).input_ids[None]
        previous = f.model.config._attn_implementation
        switch = getattr(f.model, "set_attn_implementation", None)  # transformers < 4.50 has none
        if switch is not None:
            switch("eager")  # SDPA returns no weights: the reference runs eager attention
        try:
            with torch.no_grad():
                attentions = f.model(input_ids=ids, output_attentions=True).attentions
        finally:
            if switch is not None:
                switch(previous)
        positions = adapter.encode(f.sequence).residue_positions.tolist()
        np.testing.assert_allclose(explainer.head_maps(f.sequence).double().numpy(),
                                   apc_mean_reference(list(attentions), positions), atol=1e-5)  # fmt: skip
        return
    weights, values, outputs = attention_outputs(f, adapter)
    assert len(weights) == len(values) == len(outputs) > 0
    for weight, value, output in zip(weights, values, outputs, strict=True):
        torch.testing.assert_close(weight.sum(-1), torch.ones_like(weight.sum(-1)))
        applied = torch.matmul(weight, value.float())  # [1, heads, T, d]: what the layer must have computed
        if f.name in ("glm2", "esmc (esm package)"):
            torch.testing.assert_close(applied.transpose(1, 2).reshape(output.shape), output.float(),
                                       rtol=1e-4, atol=1e-5)  # fmt: skip
        else:
            torch.testing.assert_close(applied.transpose(1, 2).reshape(output.shape[0], -1), output.float(),
                                       rtol=1e-4, atol=1e-5)  # fmt: skip


CHECKS = {"categorical": check_categorical, "gradient": check_gradient, "attention": check_attention}
EXPLAINER_CLASSES = {"categorical": CategoricalJacobian, "gradient": GradientJacobian, "attention": AttentionReadout}
CASES = [(name, explainer, mode) for name in EXPECTED for explainer in EXPLAINERS for mode in ("auto", "explicit")]


@pytest.mark.parametrize(("name", "explainer", "mode"), CASES, ids=["-".join(c) for c in CASES])
def test_cell(name: str, explainer: str, mode: str) -> None:
    f = family(name)
    expected = EXPECTED[name][EXPLAINERS.index(explainer)]
    adapter = adapter_for(f, mode)
    if expected == "refused":
        with pytest.raises(InterpError) as refusal:
            EXPLAINER_CLASSES[explainer](adapter).attribute(f.sequence)
        message = str(refusal.value)
        assert "use " in message or "only " in message, f"the refusal does not say what to use instead: {message}"
        record(name, explainer, mode, "refused", message)
        return
    CHECKS[explainer](f, adapter)
    record(name, explainer, mode, "verified")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_encoding_equals_the_familys_own(name: str) -> None:
    """The adapter writes exactly the ids of the family's own tokenizer or scoring code."""
    f = family(name)
    adapter = get_adapter(f.model, f.tokenizer)
    assert adapter.encode(f.sequence).input_ids.tolist() == f.own_ids(f.sequence)


def test_evo_without_start_token_is_the_other_layout() -> None:
    f = family("evo (Hugging Face)")
    adapter = ByteLevelDnaAdapter(f.model, prepend_bos=False)
    assert adapter.encode(f.sequence).input_ids.tolist() == uf.evo_scoring_ids(f.sequence, prepend_bos=False)
    bare = uf.Family(f.name, f.model, f.tokenizer, f.sequence, lambda s: uf.evo_scoring_ids(s, prepend_bos=False),
                     f.alphabet, causal=True)  # fmt: skip
    check_categorical(bare, adapter)


def test_dnabert2_is_detected_from_real_tokenization() -> None:
    """DNABERT-2's BPE splits spaced letters one by one, but a real sequence into multi-letter tokens: it gets
    the token-resolution adapter with the DNA alphabet, under transformers' BertConfig and its own config."""
    for remote_config in (False, True) if uf.TRANSFORMERS_MAJOR < 5 else (False,):  # its config fails on 5.x
        f = uf.dnabert2(remote_config=remote_config)
        adapter = get_adapter(f.model, f.tokenizer)
        assert isinstance(adapter, TokenResolutionAdapter) and adapter.alphabet == "ACGT"


def test_progen2_accepts_its_raw_tokenizer() -> None:
    f = family("progen2")
    adapter = get_adapter(f.model, f.tokenizer)  # a tokenizers.Tokenizer, as progen2's sample.py loads it
    assert isinstance(adapter, CausalProteinAdapter)


def test_evo_object_is_accepted() -> None:
    """`Evo(...)` objects hand over their `.model` (a bare StripedHyena) and CharLevelTokenizer."""
    f = family("evo (evo package)")

    class EvoLike:  # the shape of evo.Evo: .model and .tokenizer, not an nn.Module
        model, tokenizer = f.model, f.tokenizer

    adapter = get_adapter(EvoLike(), EvoLike.tokenizer)
    assert isinstance(adapter, ByteLevelDnaAdapter) and adapter.model is f.model


def test_caduceus_configuration_and_tokenizer() -> None:
    """Caduceus' model imports mamba_ssm (CUDA kernels): on a CPU its configuration and tokenizer are what runs.
    The tokenizer's own encoding is what the DNA adapter writes; the model itself is not run here."""
    root = uf.upstream_dir()
    config_class = uf.remote_class("caduceus_pkg", "configuration_caduceus.CaduceusConfig")
    tokenizer_class = uf.remote_class("caduceus_pkg", "tokenization_caduceus.CaduceusTokenizer")
    config = config_class(d_model=32, n_layer=2, vocab_size=12)
    assert config.model_type == "caduceus" and root.is_dir()
    tokenizer = tokenizer_class(model_max_length=64)
    text = "GGATCCGATTAG"
    model = torch.nn.Module()  # no model can be built without mamba_ssm; the adapter's encoding is checked alone
    model.config = config  # type: ignore[assignment]
    adapter = DnaAdapter(model, tokenizer)
    assert adapter.encode(text).input_ids.tolist() == list(tokenizer(text)["input_ids"])
    assert adapter.attention_source == "none" and not adapter.causal


@pytest.mark.parametrize("name", ["evo (Hugging Face)", "evo (evo package)", "glm2", "esmc (esm package)"])
def test_the_adapter_reads_the_shape_of_models_without_standard_config_names(name: str) -> None:
    f = family(name)
    shape = get_adapter(f.model, f.tokenizer).shape
    embedding = EMBEDDINGS[name][1]
    assert shape.hidden == f.model.get_submodule(embedding).weight.shape[1] and shape.layers == 2


@pytest.mark.parametrize("explainer", ["categorical", "gradient"])
def test_evo_in_mixed_dtypes_is_refused_with_what_to_change(explainer: str) -> None:
    """`StripedHyena(config)` before `to_bfloat16_except_poles_residues()` holds bf16 MLPs beside fp32 Hyena blocks:
    its own forward fails on them. Auto-detected or explicit, the explainers say so with a typed error naming the
    dtypes and the call that fixes it (not a bare RuntimeError)."""
    mixed = uf.evo_package(convert=False)
    with pytest.raises(RuntimeError, match="same dtype"):  # the model's own forward, with no interp involved
        mixed.model(torch.tensor([mixed.own_ids(mixed.sequence)]))
    explainer_class = {"categorical": CategoricalJacobian, "gradient": GradientJacobian}[explainer]
    for adapter in (get_adapter(mixed.model, mixed.tokenizer), ByteLevelDnaAdapter(mixed.model, mixed.tokenizer)):
        with pytest.raises(ModelCallError, match=r"mixed dtypes.*to_bfloat16_except_poles_residues\(\)"):
            explainer_class(adapter).attribute(mixed.sequence)
