"""Real pretrained models whose weights ship inside PyPI packages, loaded by name and offline.

Three antibody language models, each a Hugging Face masked LM once loaded:

- ``antiberty``: AntiBERTy (Ruffolo et al. 2021, arXiv:2112.07782), a BERT masked LM, 8 layers x 8 heads, 512 wide,
  26 M parameters, trained on 558 M natural antibody sequences (heavy and light chains, six species) from the
  Observed Antibody Space. Weights: ``antiberty/trained_models/AntiBERTy_md_smooth`` in the ``antiberty==0.1.3``
  wheel (later versions download them); MIT licence. Loaded into `BertForMaskedLM`; AntiBERTy's species, chain
  and graft classifiers are left out (they read the pooled output, never the residues).
- ``sapiens-heavy`` and ``sapiens-light``: Sapiens (Prihoda et al. 2022, mAbs 14:2020203), two fairseq RoBERTa
  masked LMs, 4 layers x 8 heads, 128 wide, 0.6 M parameters each, trained on 20 M human heavy chains and 19 M
  human light chains (kappa and lambda) from the Observed Antibody Space. Weights:
  ``sapiens/models/v1/checkpoint_vh.pt`` and ``checkpoint_vl.pt`` in the ``sapiens==1.0.5`` wheel, installed with
  ``pip install --no-deps sapiens==1.0.5`` (the package itself requires fairseq; nothing of it is imported
  here); MIT licence. The fairseq checkpoint is converted to `RobertaForMaskedLM` by `convert_sapiens`, with
  no fairseq dependency.

Install: ``pip install ".[antibody]"`` (AntiBERTy) and ``pip install --no-deps sapiens==1.0.5`` (Sapiens).
The packages are located on disk and never imported (their own imports need fairseq or download weights), and
the weights are read with ``torch.load(weights_only=True)``: tensors, plus, for the fairseq checkpoint, the
``argparse.Namespace`` of its training options (plain values), allowed by name.

Example:
    >>> from interp.models.pretrained import PRETRAINED_MODELS
    >>> sorted(PRETRAINED_MODELS)
    ['antiberty', 'sapiens-heavy', 'sapiens-light']
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertTokenizer,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForMaskedLM,
)

from interp.errors import InterpError

__all__ = ["PRETRAINED_MODELS", "PretrainedModel", "convert_sapiens", "load_pretrained", "package_folder", "sapiens_tokenizer"]

FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq's Dictionary puts these first, <mask> last


@dataclass(frozen=True)
class PretrainedModel:
    """A pretrained model whose weights ship in a PyPI package.

    Attributes:
        name: the name `load_model` and `--model` take.
        package: the PyPI distribution holding the weights.
        version: the version that ships them.
        install: the command that installs it.
        weights: the weights' path inside the installed package.
        licence: the weights' licence.
        trained_on: what the model was trained on.
        reference: the paper.
        loader: builds (model, tokenizer) from the package's folder.

    Example:
        >>> from interp.models.pretrained import PRETRAINED_MODELS
        >>> entry = PRETRAINED_MODELS["sapiens-heavy"]
        >>> entry.package, entry.version, entry.licence
        ('sapiens', '1.0.5', 'MIT')
    """

    name: str
    package: str
    version: str
    install: str
    weights: str
    licence: str
    trained_on: str
    reference: str
    loader: Callable[[Path], tuple[Any, Any]]


def package_folder(entry: PretrainedModel) -> Path:
    """The installed package's folder, found without importing it.

    Args:
        entry: the pretrained model.

    Returns:
        The folder holding the package's files.

    Raises:
        InterpError: the package is not installed, or is another version than the one that ships the weights.
    """
    from importlib.metadata import PackageNotFoundError, version  # per call: tests patch metadata.version

    try:
        installed = version(entry.package)
    except PackageNotFoundError:
        raise InterpError(f"{entry.name}: its weights ship in {entry.package}=={entry.version}, which is not "
                          f"installed; run: {entry.install}") from None  # fmt: skip
    if installed != entry.version:
        raise InterpError(f"{entry.name}: {entry.package} {installed} is installed, but only {entry.version} ships "
                          f"the weights; run: {entry.install}")  # fmt: skip
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise InterpError(f"{entry.name}: {entry.package} is installed but its folder cannot be found")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / entry.weights).is_file():
        raise InterpError(f"{entry.name}: {folder / entry.weights} is missing; reinstall with: {entry.install}")
    return folder


# ------------------------------------------------------------------------------------------------ AntiBERTy


def _load_antiberty(folder: Path) -> tuple[Any, Any]:
    """AntiBERTy's BERT and LM head as `BertForMaskedLM`, with its own WordPiece vocabulary."""
    weights_dir = folder / "trained_models" / "AntiBERTy_md_smooth"
    settings = json.loads((weights_dir / "config.json").read_text())
    for key in ("_name_or_path", "architectures", "transformers_version", "gradient_checkpointing"):
        settings.pop(key, None)
    config = BertConfig(**settings, architectures=["BertForMaskedLM"])
    state = torch.load(weights_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    # the species, chain and graft classifiers and the pooler read the [CLS] summary, never a residue's letter
    kept = {key: value for key, value in state.items()
            if not key.startswith(("cls.species", "cls.chain", "cls.graft", "bert.pooler"))}  # fmt: skip
    model = BertForMaskedLM(config)
    _load_exactly(model, kept, "antiberty")
    tokenizer = BertTokenizer(str(folder / "trained_models" / "vocab.txt"), do_lower_case=False)
    return model.eval(), tokenizer


# -------------------------------------------------------------------------------------------------- Sapiens


def sapiens_tokenizer(letters: list[str]) -> Any:
    """A fast tokenizer with fairseq's dictionary order: `<s> <pad> </s> <unk>`, the letters, `<mask>`.

    Each character is one token; a sequence is wrapped as `<s> ... </s>`, as fairseq's masked-LM task does.

    Args:
        letters: the dictionary's symbols in file order (Sapiens: the 20 amino acids).

    Returns:
        A `PreTrainedTokenizerFast` that saves and reloads with `AutoTokenizer`.
    """
    vocab = {token: index for index, token in enumerate([*FAIRSEQ_SPECIALS, *letters, "<mask>"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"<mask>|\S"), behavior="isolated")
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>")  # fmt: skip


def convert_sapiens(checkpoint: dict[str, Any], letters: list[str]) -> Any:
    """A fairseq RoBERTa masked-LM checkpoint as transformers' `RobertaForMaskedLM`, weights copied exactly.

    fairseq and transformers compute the same function: post-layer-norm blocks, learned positions that start
    after the padding index, an embedding layer norm, GELU, an LM head of dense, GELU, layer norm and the
    output projection. fairseq has no token-type embedding (here one zero row) and uses layer-norm eps 1e-5.

    Args:
        checkpoint: the loaded checkpoint, with "args" (fairseq's training options) and "model" (tensors named
            `decoder.sentence_encoder.*` and `decoder.lm_head.*`, fairseq before 0.10, or `encoder.*`).
        letters: the dictionary's symbols in file order.

    Returns:
        The `RobertaForMaskedLM` in eval mode.

    Raises:
        InterpError: the checkpoint is not a fairseq RoBERTa masked LM this converter knows (a tensor left
            over or missing, another activation, pre-layer-norm blocks).
    """
    options = vars(checkpoint["args"])
    tensors = {key.replace("decoder.sentence_encoder.", "encoder.sentence_encoder.").replace("decoder.lm_head.", "encoder.lm_head."): value
               for key, value in checkpoint["model"].items()}  # fmt: skip
    if options.get("encoder_normalize_before") or options.get("activation_fn", "gelu") != "gelu":
        raise InterpError("fairseq checkpoint: only post-layer-norm RoBERTa with GELU converts")
    embed = tensors["encoder.sentence_encoder.embed_tokens.weight"]
    positions = tensors["encoder.sentence_encoder.embed_positions.weight"]
    vocab_size, hidden = embed.shape
    if vocab_size != len(FAIRSEQ_SPECIALS) + len(letters) + 1:
        raise InterpError(f"fairseq checkpoint: {vocab_size} embeddings for {len(letters)} letters, 4 specials, mask")
    config = RobertaConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=options["encoder_layers"],
        num_attention_heads=options["encoder_attention_heads"], intermediate_size=options["encoder_ffn_embed_dim"],
        hidden_act="gelu", max_position_embeddings=positions.shape[0], type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, architectures=["RobertaForMaskedLM"],
    )  # fmt: skip
    state = {
        "roberta.embeddings.word_embeddings.weight": embed,
        "roberta.embeddings.position_embeddings.weight": positions,
        "roberta.embeddings.token_type_embeddings.weight": torch.zeros(1, hidden),
        "roberta.embeddings.LayerNorm.weight": tensors.pop("encoder.sentence_encoder.emb_layer_norm.weight"),
        "roberta.embeddings.LayerNorm.bias": tensors.pop("encoder.sentence_encoder.emb_layer_norm.bias"),
        "lm_head.dense.weight": tensors.pop("encoder.lm_head.dense.weight"),
        "lm_head.dense.bias": tensors.pop("encoder.lm_head.dense.bias"),
        "lm_head.layer_norm.weight": tensors.pop("encoder.lm_head.layer_norm.weight"),
        "lm_head.layer_norm.bias": tensors.pop("encoder.lm_head.layer_norm.bias"),
        "lm_head.decoder.weight": tensors.pop("encoder.lm_head.weight"),
        "lm_head.bias": tensors.pop("encoder.lm_head.bias"),
    }
    del tensors["encoder.sentence_encoder.embed_tokens.weight"], tensors["encoder.sentence_encoder.embed_positions.weight"]
    names = {"self_attn.q_proj": "attention.self.query", "self_attn.k_proj": "attention.self.key",
             "self_attn.v_proj": "attention.self.value", "self_attn.out_proj": "attention.output.dense",
             "self_attn_layer_norm": "attention.output.LayerNorm", "fc1": "intermediate.dense",
             "fc2": "output.dense", "final_layer_norm": "output.LayerNorm"}  # fmt: skip
    for layer in range(config.num_hidden_layers):
        for fairseq_name, hf_name in names.items():
            for kind in ("weight", "bias"):
                source = f"encoder.sentence_encoder.layers.{layer}.{fairseq_name}.{kind}"
                state[f"roberta.encoder.layer.{layer}.{hf_name}.{kind}"] = tensors.pop(source)
    if tensors:
        raise InterpError(f"fairseq checkpoint: tensors this converter does not know: {sorted(tensors)[:5]}")
    model = RobertaForMaskedLM(config)
    _load_exactly(model, state, "sapiens")
    return model.eval()


def _sapiens_loader(checkpoint_name: str) -> Callable[[Path], tuple[Any, Any]]:
    def load(folder: Path) -> tuple[Any, Any]:
        model_dir = folder / "models" / "v1"
        letters = [line.split()[0] for line in (model_dir / "dict.txt").read_text().splitlines() if line.strip()]
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(model_dir / checkpoint_name, map_location="cpu", weights_only=True)
        return convert_sapiens(checkpoint, letters), sapiens_tokenizer(letters)

    return load


def _load_exactly(model: torch.nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """Load `state` into `model`; every parameter must come from it (buffers such as position ids may not)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"cls.predictions.decoder.bias", "lm_head.decoder.bias"}  # tied to the head's own bias
    buffers = ("position_ids", "token_type_ids")  # persistent buffers in some transformers versions, not in others
    missing = [key for key in missing if key not in tied and not key.endswith(buffers)]
    unexpected = [key for key in unexpected if not key.endswith(buffers)]
    if missing or unexpected:
        raise InterpError(f"{name}: the checkpoint does not fit the model (missing {missing[:5]}, left over "
                          f"{unexpected[:5]})")  # fmt: skip


OAS = "the Observed Antibody Space (OAS)"
PRETRAINED_MODELS: dict[str, PretrainedModel] = {
    "antiberty": PretrainedModel(
        name="antiberty", package="antiberty", version="0.1.3", install='pip install ".[antibody]"',
        weights="trained_models/AntiBERTy_md_smooth/pytorch_model.bin", licence="MIT",
        trained_on=f"558 M natural antibody sequences (heavy and light chains, six species) from {OAS}",
        reference="Ruffolo, Gray and Sulam 2021, arXiv:2112.07782", loader=_load_antiberty,
    ),
    "sapiens-heavy": PretrainedModel(
        name="sapiens-heavy", package="sapiens", version="1.0.5", install="pip install --no-deps sapiens==1.0.5",
        weights="models/v1/checkpoint_vh.pt", licence="MIT",
        trained_on=f"20 M human antibody heavy chains (variable domains) from {OAS}",
        reference="Prihoda et al. 2022, mAbs 14:2020203", loader=_sapiens_loader("checkpoint_vh.pt"),
    ),
    "sapiens-light": PretrainedModel(
        name="sapiens-light", package="sapiens", version="1.0.5", install="pip install --no-deps sapiens==1.0.5",
        weights="models/v1/checkpoint_vl.pt", licence="MIT",
        trained_on=f"19 M human antibody light chains (kappa and lambda variable domains) from {OAS}",
        reference="Prihoda et al. 2022, mAbs 14:2020203", loader=_sapiens_loader("checkpoint_vl.pt"),
    ),
}  # fmt: skip


def load_pretrained(name: str) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) of a pretrained model in `PRETRAINED_MODELS`, offline.

    Args:
        name: "antiberty", "sapiens-heavy" or "sapiens-light".

    Returns:
        The Hugging Face masked LM (`BertForMaskedLM` or `RobertaForMaskedLM`) and its tokenizer.

    Raises:
        InterpError: an unknown name, or the package that ships the weights is missing or another version
            (the message gives the install command).
    """
    if name not in PRETRAINED_MODELS:
        raise InterpError(f"unknown pretrained model {name!r}; known: {', '.join(sorted(PRETRAINED_MODELS))}")
    entry = PRETRAINED_MODELS[name]
    return entry.loader(package_folder(entry))
