"""Tiny random-weight models built from the model families' own remote code in ../shared/upstream.

Each builder imports the family's files unmodified, the way `trust_remote_code=True` does (transformers'
`get_class_from_dynamic_module` on the folder, or a plain package import for the `evo` and `stripedhyena`
packages), builds a 2-layer model with random weights, and returns it with the family's real tokenizer
and a function that writes a sequence in the family's **own** input layout (its tokenizer, or Evo's
`evo/scoring.py`), which the conformance tests use as the independent reference.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])


def upstream_dir() -> Path:
    """../shared/upstream (or $INTERP_UPSTREAM); the test is skipped, saying so, when it is absent."""
    env = os.environ.get("INTERP_UPSTREAM")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here.parent.parent / "shared" / "upstream", here.parent / "shared" / "upstream"]
    for candidate in candidates:
        if (candidate / "README.md").is_file():
            return candidate
    pytest.skip("the families' upstream code is not here: set INTERP_UPSTREAM or put shared/upstream beside the repo")


def remote_class(folder: str, reference: str) -> Any:
    """A class from a remote-code folder, loaded by transformers' own dynamic-module loader."""
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    return get_class_from_dynamic_module(reference, str(upstream_dir() / folder))


def needs_transformers_4(family: str) -> None:
    if TRANSFORMERS_MAJOR >= 5:
        pytest.skip(f"{family}'s remote code imports only under transformers 4.x (this is {transformers.__version__})")


@dataclass
class Family:
    """One family: model, tokenizer, the sequence tested, and its own input layout."""

    name: str
    model: Any
    tokenizer: Any
    sequence: str
    own_ids: Callable[[str], list[int]]  # the family's own encoding of a sequence
    alphabet: str
    causal: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


# --- ProGen2 (transformers 4.x) -------------------------------------------------------------------
def progen2() -> Family:
    needs_transformers_4("ProGen2")
    config_class = remote_class("progen_pkg", "configuration_progen.ProGenConfig")
    model_class = remote_class("progen_pkg", "modeling_progen.ProGenForCausalLM")
    _seeded(1)
    config = config_class(vocab_size=32, n_positions=256, n_ctx=256, n_embd=64, n_layer=2, n_head=8, rotary_dim=4,
                          bos_token_id=1, eos_token_id=2)  # fmt: skip  (n_head a multiple of 8: mp_num=8)
    model = model_class(config).eval()
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(upstream_dir() / "progen_pkg" / "tokenizer.json"))  # what sample.py loads
    return Family("progen2", model, raw, "MKTAYIAKQRQISFV", lambda s: raw.encode("1" + s + "2").ids,
                  "ACDEFGHIKLMNPQRSTVWY", causal=True)  # fmt: skip


# --- HyenaDNA ---------------------------------------------------------------------------------------
def hyena_tokenizer() -> Any:
    """HyenaDNA's CharacterTokenizer (hg38_char_tokenizer.py, unmodified) with the one fix every recent
    transformers needs: its vocabulary exists before `super().__init__()` and `get_vocab()` returns it
    (the upstream class raises NotImplementedError otherwise)."""
    folder = str(upstream_dir() / "hyenadna_pkg")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    character_tokenizer = importlib.import_module("hg38_char_tokenizer").CharacterTokenizer

    class HyenaCharacterTokenizer(character_tokenizer):  # type: ignore[misc, valid-type]
        def __init__(self, characters: list[str], model_max_length: int, **kwargs: Any) -> None:
            specials = ["[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]"]
            self._vocab_str_to_int = {**{t: i for i, t in enumerate(specials)},
                                      **{c: i + 7 for i, c in enumerate(characters)}}  # fmt: skip
            super().__init__(characters, model_max_length, **kwargs)

        def get_vocab(self) -> dict[str, int]:
            return dict(self._vocab_str_to_int)

    return HyenaCharacterTokenizer(characters=["A", "C", "G", "T", "N"], model_max_length=258)


def hyenadna() -> Family:
    config_class = remote_class("hyenadna_pkg", "configuration_hyena.HyenaConfig")
    model_class = remote_class("hyenadna_pkg", "modeling_hyena.HyenaDNAForCausalLM")
    settings = json.loads((upstream_dir() / "hyenadna_pkg" / "config.json").read_text())
    settings.update(d_model=32, n_layer=2, d_inner=64, max_seq_len=256)
    for key in ("architectures", "auto_map", "id2label", "label2id", "problem_type", "transformers_version", "dtype"):
        settings.pop(key, None)
    _seeded(2)
    model = model_class(config_class(**settings)).eval()
    tokenizer = hyena_tokenizer()
    return Family("hyenadna", model, tokenizer, "GGATCCGATTAGCTA", lambda s: list(tokenizer(s)["input_ids"]),
                  "ACGT", causal=True)  # fmt: skip


# --- gLM2 (transformers 4.x) ------------------------------------------------------------------------
def glm2() -> Family:
    needs_transformers_4("gLM2")
    config_class = remote_class("glm2_pkg", "configuration_glm2.gLM2Config")
    model_class = remote_class("glm2_pkg", "modeling_glm2.gLM2ForMaskedLM")
    from interp.testing.stand_ins import GLM2_VOCAB, _vocab_file

    _seeded(3)
    model = model_class(config_class(dim=64, depth=2, heads=4, vocab_size=len(GLM2_VOCAB), swiglu_multiple_of=16)).eval()
    from transformers import EsmTokenizer

    # gLM2 ships no tokenizer file; these are the ids its own categorical-Jacobian notebook uses
    tokenizer = EsmTokenizer(_vocab_file(GLM2_VOCAB, "glm2_vocab.txt"))
    return Family("glm2", model, tokenizer, "<+>MKTAYIAK<->atgcat", lambda s: list(tokenizer(s)["input_ids"]),
                  "ACDEFGHIKLMNPQRSTVWYacgt", causal=False)  # fmt: skip


# --- Evo --------------------------------------------------------------------------------------------
EVO_SMALL = {"hidden_size": 32, "num_filters": 32, "num_layers": 2, "attn_layer_idxs": [], "hyena_layer_idxs": [0, 1],
             "num_attention_heads": 4, "inner_mlp_size": 64, "max_seqlen": 256, "state_size": 2, "vocab_size": 512,
             "use_flash_attention_2": False, "use_flash_rmsnorm": False, "use_flash_depthwise": False,
             "use_flashfft": False}  # fmt: skip  (attention blocks need flash-attn: hyena layers only)


def _evo_paths() -> None:
    root = upstream_dir()
    # evo_pkg's engine.py and layers.py import `utils` absolutely: the folder itself must be importable
    for path in (root / "evo_design", root / "stripedhyena_pkg", root / "evo_pkg", root):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def evo_scoring_ids(sequence: str, prepend_bos: bool = True) -> list[int]:
    """Evo's own input layout: `evo.scoring.prepare_batch` with its CharLevelTokenizer."""
    _evo_paths()
    scoring = importlib.import_module("evo.scoring")
    tokenizer = importlib.import_module("evo.tokenizer").CharLevelTokenizer(512)
    ids, _ = scoring.prepare_batch([sequence], tokenizer, prepend_bos=prepend_bos, device="cpu")
    return [int(i) for i in ids[0].tolist()]


def evo_hf() -> Family:
    """The Hugging Face remote code (`StripedHyenaModelForCausalLM`), in bf16 as its `force_dtype` leaves it."""
    _evo_paths()
    config_module = importlib.import_module("evo_pkg.configuration_hyena")
    modeling = importlib.import_module("evo_pkg.modeling_hyena")
    settings = json.loads((upstream_dir() / "evo_pkg" / "config.json").read_text())
    settings.update(EVO_SMALL)
    for key in ("auto_map", "architectures", "_name_or_path", "_commit_hash", "transformers_version", "torch_dtype"):
        settings.pop(key, None)
    _seeded(4)
    model = modeling.StripedHyenaModelForCausalLM(config_module.StripedHyenaConfig(**settings)).eval()
    tokenizer = importlib.import_module("evo_pkg.tokenizer").ByteTokenizer()
    return Family("evo (Hugging Face)", model, tokenizer, "GGATCCGATTAGCTA", evo_scoring_ids, "ACGT", causal=True)


def evo_package(convert: bool = True) -> Family:
    """`Evo(...).model` as the `evo` package builds it: a bare StripedHyena from its YAML config, in bf16
    except poles and residues (what `load_checkpoint` does after loading weights); convert=False leaves it as
    `StripedHyena(config)` builds it, bf16 MLPs beside fp32 Hyena blocks (on which its own forward fails)."""
    _evo_paths()
    import yaml

    settings = yaml.safe_load((upstream_dir() / "evo_design/evo/configs/evo-1-8k-base_inference.yml").read_text())
    settings.update(EVO_SMALL, use_flash_attn=False, mlp_init_method=None, mlp_output_init_method=None)
    striped_hyena = importlib.import_module("stripedhyena.model").StripedHyena
    dotdict = importlib.import_module("stripedhyena.utils").dotdict
    _seeded(5)
    model = striped_hyena(dotdict(settings)).eval()
    if convert:
        model.to_bfloat16_except_poles_residues()
    tokenizer = importlib.import_module("evo.tokenizer").CharLevelTokenizer(512)
    return Family("evo (evo package)", model, tokenizer, "GGATCCGATTAGCTA", evo_scoring_ids, "ACGT", causal=True)


# --- DNABERT-2 --------------------------------------------------------------------------------------
def dnabert2(remote_config: bool = False) -> Family:
    """DNABERT-2's bert_layers.BertForMaskedLM with transformers' BertConfig (its model card's advice for
    recent transformers), or with its own remote BertConfig (model_type ''); its real BPE tokenizer."""
    from transformers import BertConfig, PreTrainedTokenizerFast

    model_class = remote_class("dnabert2_pkg", "bert_layers.BertForMaskedLM")
    settings = {"vocab_size": 4096, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                "intermediate_size": 128, "alibi_starting_size": 128, "attention_probs_dropout_prob": 0.0,
                "hidden_dropout_prob": 0.0}  # fmt: skip
    config_class = remote_class("dnabert2_pkg", "configuration_bert.BertConfig") if remote_config else BertConfig
    if remote_config:  # its own config class has no defaults: start from the checkpoint's config.json
        shipped = json.loads((upstream_dir() / "dnabert2_pkg" / "config.json").read_text())
        for key in ("_name_or_path", "auto_map", "transformers_version", "torch_dtype"):
            shipped.pop(key, None)
        settings = {**shipped, **settings}
    _seeded(6)
    model = model_class(config_class(**settings)).eval()
    folder = upstream_dir() / "dnabert2_pkg"
    options = json.loads((folder / "tokenizer_config.json").read_text())
    options.pop("tokenizer_class", None)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), **options)
    return Family("dnabert2", model, tokenizer, "ACGTAGCTAGCTAGGATCGATCGGGCTAAT",
                  lambda s: list(tokenizer(s)["input_ids"]), "ACGT", causal=False)  # fmt: skip


# --- Nucleotide Transformer (native transformers esm, 6-mer vocabulary) -----------------------------
def nucleotide_transformer() -> Family:
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    vocab = upstream_dir() / "nucleotide_transformer_vocab.txt"
    tokens = vocab.read_text().split()
    tokenizer = EsmTokenizer(str(vocab), cls_token="<cls>", eos_token=None, pad_token="<pad>",
                             mask_token="<mask>", unk_token="<unk>")  # fmt: skip
    _seeded(7)
    config = EsmConfig(vocab_size=len(tokens), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=128, max_position_embeddings=1002, pad_token_id=tokens.index("<pad>"),
                       mask_token_id=tokens.index("<mask>"), position_embedding_type="rotary", token_dropout=False)  # fmt: skip
    model = EsmForMaskedLM(config).eval()
    return Family("nucleotide-transformer", model, tokenizer, "ATCGGATTTACGAG",
                  lambda s: list(tokenizer(s)["input_ids"]), "ACGT", causal=False)  # fmt: skip


# --- ESM C from EvolutionaryScale's esm package (its own test environment: it needs transformers<4.48.2) --
def esmc_package() -> Family:
    try:
        esmc_class = importlib.import_module("esm.models.esmc").ESMC
        tokenizer_class = importlib.import_module("esm.tokenization").EsmSequenceTokenizer
    except ImportError as error:
        pytest.skip(f"EvolutionaryScale's esm package is not installed here ({error}); see docs/families.md, ESM C")
    tokenizer = tokenizer_class()
    _seeded(8)
    model = esmc_class(d_model=64, n_heads=4, n_layers=2, tokenizer=tokenizer).eval()
    return Family("esmc (esm package)", model, tokenizer, "MKTAYIAKQRQISFV", lambda s: list(tokenizer(s)["input_ids"]),
                  "ACDEFGHIKLMNPQRSTVWY", causal=False)  # fmt: skip


BUILDERS: dict[str, Callable[[], Family]] = {
    "progen2": progen2,
    "hyenadna": hyenadna,
    "glm2": glm2,
    "evo (Hugging Face)": evo_hf,
    "evo (evo package)": evo_package,
    "dnabert2": dnabert2,
    "nucleotide-transformer": nucleotide_transformer,
    "esmc (esm package)": esmc_package,
}
