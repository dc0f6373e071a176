"""Real pretrained antibody language models (AntiBERTy, Sapiens heavy and light), with the weights their PyPI
packages ship: loaded by name, checked against a forward written here from the checkpoints' own tensors, and
explained end to end. Skipped with the install command when the packages are absent (CI installs them)."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_maps_close, run_cli

import interp
from interp.benchmarks.pretrained_recovery import masked_recovery
from interp.errors import InterpError
from interp.models.pretrained import PRETRAINED_MODELS, load_pretrained

# masked-residue recovery measured over the whole antibody panel (benchmarks/pretrained_recovery.py): the lowest chain
# 0.578 for AntiBERTy, 0.550 for Sapiens-heavy (a camelid nanobody), 0.636 for Sapiens-light; chance is 0.05
RECOVERY_THRESHOLD = 0.5


def _installed(package: str, version: str) -> bool:
    try:
        return importlib.metadata.version(package) == version
    except importlib.metadata.PackageNotFoundError:
        return False


requires_antiberty = pytest.mark.skipif(
    not _installed("antiberty", "0.1.3"), reason='AntiBERTy weights absent: pip install ".[antibody]"'
)
requires_sapiens = pytest.mark.skipif(
    not _installed("sapiens", "1.0.5"), reason="Sapiens weights absent: pip install --no-deps sapiens==1.0.5"
)


def _folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _chains(kind: str, count: int) -> list[str]:
    """Real antibody variable domains from the shipped antibody panel (crystal structures)."""
    return [entry.sequence for entry in interp.load_panel(f"antibody-{kind}", limit=count)]


# ------------------------------------------------------------------ independent forwards from the raw tensors


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _attention(x: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    batch, tokens, width = x.shape
    size = width // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(batch, tokens, heads, size).transpose(1, 2)

    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(size)
    return (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(batch, tokens, width)


def _post_ln_encoder(x, tensor, layers, heads, names, eps):
    """A post-layer-norm transformer encoder written out from named tensors (float64)."""
    for n in range(layers):
        t = {key: tensor(f"{names['layer']}.{n}.{value}") for key, value in names.items() if key != "layer"}
        q, k, v = (x @ t[f"{p}_w"].T + t[f"{p}_b"] for p in ("q", "k", "v"))
        x = _layer_norm(x + _attention(x, q, k, v, heads) @ t["o_w"].T + t["o_b"], t["ln1_w"], t["ln1_b"], eps)
        hidden = _gelu(x @ t["fc1_w"].T + t["fc1_b"]) @ t["fc2_w"].T + t["fc2_b"]
        x = _layer_norm(x + hidden, t["ln2_w"], t["ln2_b"], eps)
    return x


def sapiens_reference(checkpoint_name: str, ids: torch.Tensor) -> torch.Tensor:
    """Logits [B, T, V] of a Sapiens fairseq checkpoint, from its `model` tensors alone, in float64."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        ck = torch.load(_folder("sapiens") / "models" / "v1" / checkpoint_name, map_location="cpu", weights_only=True)
    raw, options = ck["model"], vars(ck["args"])

    def tensor(name: str) -> torch.Tensor:
        return raw[f"decoder.{name}"].double()

    enc = "sentence_encoder"
    positions = torch.arange(ids.shape[1]) + 2  # fairseq: positions count from padding_idx + 1 (no padding here)
    x = tensor(f"{enc}.embed_tokens.weight")[ids] + tensor(f"{enc}.embed_positions.weight")[positions]
    x = _layer_norm(x, tensor(f"{enc}.emb_layer_norm.weight"), tensor(f"{enc}.emb_layer_norm.bias"), 1e-5)
    names = {"layer": f"{enc}.layers", "q_w": "self_attn.q_proj.weight", "q_b": "self_attn.q_proj.bias",
             "k_w": "self_attn.k_proj.weight", "k_b": "self_attn.k_proj.bias", "v_w": "self_attn.v_proj.weight",
             "v_b": "self_attn.v_proj.bias", "o_w": "self_attn.out_proj.weight", "o_b": "self_attn.out_proj.bias",
             "ln1_w": "self_attn_layer_norm.weight", "ln1_b": "self_attn_layer_norm.bias", "fc1_w": "fc1.weight",
             "fc1_b": "fc1.bias", "fc2_w": "fc2.weight", "fc2_b": "fc2.bias", "ln2_w": "final_layer_norm.weight",
             "ln2_b": "final_layer_norm.bias"}  # fmt: skip
    x = _post_ln_encoder(x, tensor, options["encoder_layers"], options["encoder_attention_heads"], names, 1e-5)
    x = _gelu(x @ tensor("lm_head.dense.weight").T + tensor("lm_head.dense.bias"))
    x = _layer_norm(x, tensor("lm_head.layer_norm.weight"), tensor("lm_head.layer_norm.bias"), 1e-5)
    return x @ tensor("lm_head.weight").T + tensor("lm_head.bias")


def antiberty_reference(ids: torch.Tensor) -> torch.Tensor:
    """Logits [B, T, V] of AntiBERTy from the tensors of its `pytorch_model.bin` alone, in float64."""
    weights = _folder("antiberty") / "trained_models" / "AntiBERTy_md_smooth" / "pytorch_model.bin"
    raw = torch.load(weights, map_location="cpu", weights_only=True)

    def tensor(name: str) -> torch.Tensor:
        return raw[name].double()

    emb = "bert.embeddings"
    x = (tensor(f"{emb}.word_embeddings.weight")[ids] + tensor(f"{emb}.position_embeddings.weight")[: ids.shape[1]]
         + tensor(f"{emb}.token_type_embeddings.weight")[0])  # fmt: skip
    x = _layer_norm(x, tensor(f"{emb}.LayerNorm.weight"), tensor(f"{emb}.LayerNorm.bias"), 1e-12)
    names = {"layer": "bert.encoder.layer", "q_w": "attention.self.query.weight", "q_b": "attention.self.query.bias",
             "k_w": "attention.self.key.weight", "k_b": "attention.self.key.bias",
             "v_w": "attention.self.value.weight", "v_b": "attention.self.value.bias",
             "o_w": "attention.output.dense.weight", "o_b": "attention.output.dense.bias",
             "ln1_w": "attention.output.LayerNorm.weight", "ln1_b": "attention.output.LayerNorm.bias",
             "fc1_w": "intermediate.dense.weight", "fc1_b": "intermediate.dense.bias", "fc2_w": "output.dense.weight",
             "fc2_b": "output.dense.bias", "ln2_w": "output.LayerNorm.weight", "ln2_b": "output.LayerNorm.bias"}  # fmt: skip
    x = _post_ln_encoder(x, tensor, 8, 8, names, 1e-12)
    head = "cls.predictions"
    x = _gelu(x @ tensor(f"{head}.transform.dense.weight").T + tensor(f"{head}.transform.dense.bias"))
    x = _layer_norm(x, tensor(f"{head}.transform.LayerNorm.weight"), tensor(f"{head}.transform.LayerNorm.bias"), 1e-12)
    return x @ tensor(f"{head}.decoder.weight").T + tensor(f"{head}.bias")


def _ids(name: str, tokenizer, sequences: list[str]) -> torch.Tensor:
    """Token ids as each model's own code builds them: AntiBERTy's runner spaces the letters, Sapiens' does not."""
    text = [" ".join(s) for s in sequences] if name == "antiberty" else sequences
    return torch.tensor(tokenizer(text)["input_ids"])


def _reference(name: str, ids: torch.Tensor) -> torch.Tensor:
    if name == "antiberty":
        return antiberty_reference(ids)
    return sapiens_reference("checkpoint_vh.pt" if name == "sapiens-heavy" else "checkpoint_vl.pt", ids)


MODELS = [
    pytest.param("antiberty", "heavy", marks=requires_antiberty),
    pytest.param("sapiens-heavy", "heavy", marks=requires_sapiens),
    pytest.param("sapiens-light", "light", marks=requires_sapiens),
]


@pytest.mark.parametrize(("name", "kind"), MODELS)
def test_logits_equal_a_forward_written_from_the_checkpoint_tensors(name, kind):
    """Both in float64, so that 1e-5 measures the conversion and not float32 rounding (in float32 the two differ
    by about 1e-5 on AntiBERTy's 8 layers, by rounding alone)."""
    model, tokenizer = interp.load_model(name, dtype=torch.float64)
    chains = _chains(kind, 3)
    for chain in chains:  # one at a time: no padding in either forward
        ids = _ids(name, tokenizer, [chain])
        assert ids.shape[1] == len(chain) + 2  # one token per residue, plus the start and end tokens
        with torch.no_grad():
            ours = model(input_ids=ids).logits
        want = _reference(name, ids)
        assert torch.allclose(ours, want, atol=1e-5, rtol=0), (ours - want).abs().max()


@pytest.mark.parametrize(("name", "kind"), MODELS)
def test_masked_residue_recovery_on_real_chains(name, kind):
    """Sanity figure: each model names the masked residue of a real chain far above chance (1/20)."""
    model, tokenizer = interp.load_model(name)
    scores = [masked_recovery(model, tokenizer, chain) for chain in _chains(kind, 3)]
    assert min(scores) > RECOVERY_THRESHOLD, scores


@requires_sapiens
def test_sapiens_categorical_jacobian_equals_the_naive_loop_on_real_weights():
    """Single mutants of a real light chain through the forward written here (float64), one mutated position in
    three (every letter there, every position read), against the explainer's Jacobian tensor."""
    model, tokenizer = interp.load_model("sapiens-light")
    chain = _chains("light", 1)[0]
    explainer = interp.CategoricalJacobian(model, tokenizer)
    alphabet = explainer.adapter.alphabet
    letter_ids = tokenizer.convert_tokens_to_ids(list(alphabet))
    positions = list(range(0, len(chain), 3))
    mutants = [chain[:p] + a + chain[p + 1 :] for p in positions for a in alphabet]

    def residue_logits(sequences: list[str]) -> torch.Tensor:
        logits = sapiens_reference("checkpoint_vl.pt", _ids("sapiens-light", tokenizer, sequences))
        return logits[:, 1:-1][:, :, letter_ids]  # residue q is token q + 1 (after <s>)

    wild = residue_logits([chain])[0]
    moved = torch.cat([residue_logits(mutants[s : s + 256]) for s in range(0, len(mutants), 256)]) - wild
    naive = moved.reshape(len(positions), len(alphabet), len(chain), len(alphabet))
    ours = explainer.jacobian(chain).double()
    assert ours.shape == (len(chain), len(alphabet), len(chain), len(alphabet))
    assert naive.abs().max() > 1
    assert torch.allclose(ours[positions], naive, atol=1e-4 * naive.abs().max(), rtol=0), (ours[positions] - naive).abs().max()


@requires_antiberty
def test_antiberty_attention_readout_agrees_under_sdpa_and_eager():
    model, tokenizer = interp.load_model("antiberty")
    chain = _chains("heavy", 1)[0]
    maps = {}
    for implementation in ("sdpa", "eager"):
        model.config._attn_implementation = implementation
        maps[implementation] = interp.AttentionReadout(model, tokenizer).attribute(chain).contacts
    assert maps["sdpa"].abs().max() > 0
    assert_maps_close(maps["sdpa"], maps["eager"], rtol=1e-5)


@pytest.mark.parametrize(("name", "kind"), MODELS)
def test_command_line_explains_a_real_chain_by_model_name(name, kind, tmp_path):
    chain = _chains(kind, 1)[0]
    fasta = tmp_path / "chain.fa"
    fasta.write_text(f">chain\n{chain}\n")
    result = run_cli("contacts", "--fasta", str(fasta), "--out", str(tmp_path / "maps"), "--model", name,
                     "--method", "attention")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = np.load(tmp_path / "maps" / "chain.attention_mean.npz")
    assert data["contacts"].shape == (len(chain), len(chain))


def test_every_pretrained_model_says_where_its_weights_come_from():
    for entry in PRETRAINED_MODELS.values():
        assert entry.licence == "MIT" and entry.trained_on and entry.reference
        assert entry.install.startswith("pip install")


def test_an_absent_or_wrong_package_names_the_install_command(monkeypatch):
    def absent(package: str) -> str:
        raise importlib.metadata.PackageNotFoundError(package)

    monkeypatch.setattr(importlib.metadata, "version", absent)
    with pytest.raises(InterpError, match=r"pip install --no-deps sapiens==1\.0\.5"):
        load_pretrained("sapiens-heavy")
    monkeypatch.setattr(importlib.metadata, "version", lambda package: "0.1.4")
    with pytest.raises(InterpError, match=r"antiberty 0\.1\.4 is installed, but only 0\.1\.3 ships"):
        load_pretrained("antiberty")
    with pytest.raises(InterpError, match="unknown pretrained model 'ablang'"):
        load_pretrained("ablang")
