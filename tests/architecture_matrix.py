"""Tiny random-weight models of every architecture in transformers' masked-LM and causal-LM auto mappings, each
with a per-letter protein tokenizer saved and reloaded through `AutoTokenizer`, and the independent references
the conformance matrix (tests/test_architecture_matrix.py) checks the explainers against.

Nothing here knows interp's adapters: the reference reads the model as its tokenizer writes a sequence (the
tokenizer's own special tokens, `special_tokens_mask` for where residues sit) and whether the model is causal
is measured (a change to the last residue either moves an earlier token's logits or not), not assumed.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

LETTERS = "ACDEFGHIKLMNPQRSTVWY"
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "<mask>", *LETTERS]
SEQUENCE = "MKTAYIAK"
HEADS = ("masked", "causal")

# the sizes every config is shrunk to, under whichever of these names it has (2 layers, 32 wide, 4 heads)
TINY: dict[str, Any] = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
    "intermediate_size": 64, "head_dim": 8, "embedding_size": 32, "max_position_embeddings": 64,
    "n_positions": 64, "n_ctx": 64, "d_model": 32, "d_ff": 64, "d_kv": 8, "num_layers": 2, "num_heads": 4,
    "n_layer": 2, "n_head": 4, "n_embd": 32, "n_inner": 64, "ffn_dim": 64, "encoder_layers": 2, "decoder_layers": 2,
    "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
    "moe_intermediate_size": 32, "shared_expert_intermediate_size": 32, "num_experts": 4, "num_local_experts": 4,
    "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1, "kv_lora_rank": 16, "q_lora_rank": 16,
    "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8, "state_size": 8, "time_step_rank": 4,
    "sliding_window": 64, "attention_window": 8, "vocab_size": len(VOCAB), "pad_token_id": 0, "bos_token_id": 1,
    "eos_token_id": 2, "decoder_start_token_id": 1, "cls_token_id": 1, "sep_token_id": 2, "mask_token_id": 4,
    "use_cache": False, "tie_word_embeddings": False, "entity_vocab_size": 16, "entity_emb_size": 16,
    "encoder_hash_byte_group_vocab": 64, "num_channels": 3, "image_size": 32, "patch_size": 8, "rotary_dim": 4,
    "linear_num_key_heads": 2, "linear_num_value_heads": 2, "linear_key_head_dim": 8, "linear_value_head_dim": 8,
    "mamba_n_heads": 4, "mamba_d_head": 16, "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 8,
    "mamba_d_state": 8, "mamba_n_groups": 1, "n_groups": 1, "mamba_d_conv": 4, "conv_kernel": 4, "d_state": 8,
    "num_experts_per_token": 2, "model_max_length": 64,
}  # fmt: skip
MAX_PARAMETERS = 3_000_000  # a config whose other defaults keep it bigger than this is skipped, never built


def architectures(head: str) -> list[str]:
    """The model types of transformers' masked-LM ("masked") or causal-LM ("causal") auto mapping."""
    from transformers.models.auto import modeling_auto

    if head == "masked":
        return sorted(modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    return sorted(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


@cache
def tokenizer_folder(head: str) -> str:
    """A per-letter fast tokenizer written with `save_pretrained`: `<s>` + letters + `</s>` for a masked model,
    `<s>` + letters for a causal one."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({token: i for i, token in enumerate(VOCAB)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    template = "<s> $A </s>" if head == "masked" else "<s> $A"
    backend.post_processor = processors.TemplateProcessing(single=template, special_tokens=[("<s>", 1), ("</s>", 2)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>",
    )  # fmt: skip
    folder = tempfile.mkdtemp(prefix=f"interp-letters-{head}-")
    tokenizer.save_pretrained(folder)
    return folder


def load_tokenizer(head: str) -> Any:
    """The per-letter tokenizer reloaded with `AutoTokenizer.from_pretrained`, as a user's would be."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_folder(head))


class NotBuildableError(Exception):
    """The tiny model cannot be built or run on this machine (the reason is the message)."""


def _settings_for(config_class: Any) -> dict[str, Any]:
    """The TINY sizes this config class takes: the constructor's parameters, its defaults and attribute map."""
    try:
        default = config_class()
    except Exception as error:
        raise NotBuildableError(f"its config cannot be built with defaults ({type(error).__name__}: {error})") from None
    known = set(vars(default)) | set(inspect.signature(config_class.__init__).parameters)
    known |= set(getattr(config_class, "attribute_map", {}))
    settings = {key: value for key, value in TINY.items() if key in known}
    for sub_name, sub_class in (getattr(config_class, "sub_configs", None) or {}).items():
        with contextlib.suppress(NotBuildableError, TypeError):
            settings[sub_name] = _settings_for(_config_class_of(sub_class, default, sub_name))
    for key, kinds in vars(default).items():  # per-layer kinds (layer_types, mlp_layer_types): two of them,
        if key.endswith("layer_types") and isinstance(kinds, list) and kinds:  # a full-attention one kept
            second = next((kind for kind in kinds if "full" in str(kind)), kinds[1 if len(kinds) > 1 else 0])
            settings[key] = [kinds[0], second]
    return settings


MEMORY_CAP = 4 * 2**30


@contextlib.contextmanager
def memory_cap(extra: int = MEMORY_CAP):
    """Within the block the process may map at most `extra` more bytes (RLIMIT_AS): an architecture whose
    defaults the harness does not shrink fails to allocate instead of exhausting the machine."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as handle:
        mapped = int(handle.read().split()[0]) * resource.getpagesize()
    cap = mapped + extra if hard == resource.RLIM_INFINITY else min(mapped + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def out_of_memory(error: BaseException) -> bool:
    """Whether an error (or the one it was raised from) is an allocation failure under `memory_cap`."""
    while error is not None:
        if isinstance(error, MemoryError) or "can't allocate memory" in str(error):
            return True
        error = error.__cause__  # type: ignore[assignment]
    return False


def _config_class_of(sub_class: Any, default: Any, name: str) -> Any:
    if isinstance(sub_class, type):
        return sub_class
    held = getattr(default, name, None)
    if held is None:
        raise NotBuildableError(f"sub-config {name} is not a class")
    return type(held)


@dataclass
class Built:
    """One architecture, built tiny: the model in eval mode, its reloaded tokenizer, and the class name."""

    model_type: str
    head: str
    model: Any
    tokenizer: Any
    class_name: str


def build(model_type: str, head: str, seed: int = 0) -> Built:
    """A tiny random-weight model of `model_type` with the mapping's `head`, and the per-letter tokenizer.

    Raises:
        NotBuildableError: the config or model cannot be built here (missing package, CUDA-only kernels, a config
            whose defaults do not construct), or the model's own forward fails on plain `input_ids`.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

    auto = AutoModelForMaskedLM if head == "masked" else AutoModelForCausalLM
    try:
        config_class = type(AutoConfig.for_model(model_type))
    except Exception as error:
        raise NotBuildableError(f"no config ({type(error).__name__}: {error})") from None
    settings = _settings_for(config_class)
    try:
        config_class(**settings)
    except Exception:  # per-layer kinds that the config derives itself (a property without a setter)
        settings.pop("layer_types", None)
    if head == "causal" and "is_decoder" in set(inspect.signature(config_class.__init__).parameters) | set(
        vars(config_class())
    ):
        settings["is_decoder"] = True  # an encoder family's causal head (BertLMHeadModel) is causal only so
    torch.manual_seed(seed)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            config = config_class(**settings)
            with torch.device("meta"):  # sized before any memory is spent on it
                size = sum(p.numel() for p in auto.from_config(config).parameters())
            if size > MAX_PARAMETERS:
                raise NotBuildableError(f"its config keeps {size / 1e6:.0f}M parameters at the harness's tiny sizes")
            model = auto.from_config(config).eval()
    except NotBuildableError:
        raise
    except Exception as error:
        raise NotBuildableError(
            f"the tiny model cannot be built ({type(error).__name__}: {_first_line(error)})"
        ) from None
    tokenizer = load_tokenizer(head)
    ids = torch.tensor([tokenizer(SEQUENCE)["input_ids"]])
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = model(input_ids=ids)
    except Exception as error:
        raise NotBuildableError(
            f"its own forward fails on input_ids ({type(error).__name__}: {_first_line(error)})"
        ) from None
    if getattr(out, "logits", None) is None or out.logits.shape[:2] != ids.shape:
        raise NotBuildableError("its forward returns no per-token logits")
    return Built(model_type, head, model, tokenizer, type(model).__name__)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 160 else line[:157] + "..."


def residue_logits(built: Built, sequences: list[str], causal: bool) -> torch.Tensor:
    """Logits over the 20 letters at each residue [N, L, 20] (float64), as the tokenizer writes the sequences:
    read at the residue's own token (masked) or at the token before it (causal)."""
    tokenizer = built.tokenizer
    encoded = tokenizer(sequences, return_special_tokens_mask=True)
    ids = torch.tensor(encoded["input_ids"])
    residues = [i for i, special in enumerate(encoded["special_tokens_mask"][0]) if not special]
    readout = torch.tensor([i - 1 for i in residues] if causal else residues)
    letters = torch.tensor(tokenizer.convert_tokens_to_ids(list(LETTERS)))
    with torch.no_grad():
        logits = built.model(input_ids=ids).logits.double()
    return logits[:, readout][:, :, letters]


def naive_jacobian(built: Built, sequence: str, causal: bool) -> torch.Tensor:
    """J[p, a, q, b] = logit(b at q | x with x_p = a) - logit(b at q | x), one mutant sequence at a time through
    the tokenizer (batched in one forward), float64."""
    mutants = [sequence[:p] + a + sequence[p + 1 :] for p in range(len(sequence)) for a in LETTERS]
    wild = residue_logits(built, [sequence], causal)[0]
    moved = residue_logits(built, mutants, causal) - wild
    return moved.reshape(len(sequence), len(LETTERS), len(sequence), len(LETTERS))


def is_causal(built: Built, sequence: str) -> bool:
    """Measured: a change to the last residue leaves every earlier token's logits unchanged."""
    tokenizer = built.tokenizer
    other = sequence[:-1] + ("A" if sequence[-1] != "A" else "C")
    encoded = tokenizer([sequence, other], return_special_tokens_mask=True)
    last = [i for i, special in enumerate(encoded["special_tokens_mask"][0]) if not special][-1]
    with torch.no_grad():
        logits = built.model(input_ids=torch.tensor(encoded["input_ids"])).logits.double()
    return bool(torch.allclose(logits[0, :last], logits[1, :last], atol=1e-6, rtol=0))
