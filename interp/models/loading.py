"""Load a model and tokenizer by Hub name, local folder, "default" (the embedded model) or the name of a pretrained
model whose weights ship in a PyPI package ("antiberty", "sapiens-heavy", "sapiens-light"), safely:
no remote code unless the caller turns it on, weights from safetensors (or `torch.load(weights_only=True)`,
which transformers uses for .bin files)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from pickle import UnpicklingError  # the exception class only: nothing here unpickles
from typing import Any

from huggingface_hub import constants, get_session, try_to_load_from_cache
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

from interp.errors import InterpError
from interp.models.embedded_model import default_model
from interp.models.pretrained import PRETRAINED_MODELS, load_pretrained

DEFAULT = "default"

__all__ = ["DEFAULT", "load_model"]


def load_model(name_or_path: str, *, trust_remote_code: bool = False, device: str | None = None,
               dtype: Any = None) -> tuple[Any, Any]:  # fmt: skip
    """(model in eval mode, tokenizer). Tries a masked-LM head, then a causal-LM head, then the bare encoder
    (ProtT5-style), causal first where the checkpoint's saved `architectures` name a causal LM; "default" is
    the embedded 1a3a model, and "antiberty", "sapiens-heavy" and "sapiens-light" are the antibody language
    models whose weights ship in PyPI packages (`interp.models.pretrained`), all offline.

    Weights come from safetensors, or from .bin files through `torch.load(weights_only=True)`; a repository's
    own code runs only with `trust_remote_code=True`. RNA models register through `multimolecule` when it is
    installed.

    Args:
        name_or_path: a Hugging Face Hub name ("facebook/esm2_t6_8M_UR50D"), a local model folder, or
            "default" for the embedded model, or a name in `interp.models.pretrained.PRETRAINED_MODELS`.
        trust_remote_code: allow the model's repository to run its own code (read it first).
        device: where to move the model ("cpu", "cuda", "cuda:1"); None leaves it where it loads.
        dtype: a torch dtype to cast the model to (e.g. torch.bfloat16); None keeps the stored one.

    Returns:
        The Hugging Face model in eval mode and its tokenizer, as a tuple (model, tokenizer).

    Raises:
        InterpError: if a pretrained model's package is missing (the message gives the install command), the
            model needs remote code and `trust_remote_code` is False, its config cannot be read, it is neither a
            local folder nor in the cache while the Hub is unreachable or offline mode is on (after one 5 s
            probe, not huggingface_hub's five retries; the message says how to use a local folder), its weights
            file holds Python objects besides tensors, or no model class loads it.
    """
    if name_or_path == DEFAULT:
        model, tokenizer = default_model()
        return _place(model, device, dtype), tokenizer
    if name_or_path in PRETRAINED_MODELS and not Path(name_or_path).exists():
        model, tokenizer = load_pretrained(name_or_path)
        return _place(model, device, dtype), tokenizer
    hub = {"local_files_only": True} if _needs_cache_only(name_or_path) else {}
    with contextlib.suppress(ImportError):
        import multimolecule  # noqa: F401  (optional rna extra: registers RNA models with the Auto classes)
    try:
        config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **hub)
    except ValueError as error:
        if "trust_remote_code" in str(error):
            raise InterpError(
                f"{name_or_path}: this model runs code from its repository; read that code, then pass "
                "trust_remote_code=True (CLI: --trust-remote-code) if you trust it"
            ) from None
        raise InterpError(f"{name_or_path}: cannot read its config ({error})") from None
    except OSError as error:
        raise InterpError(f"{name_or_path}: not a local model folder and not reachable on the Hub ({error})") from None
    errors = []
    for auto in _auto_classes_in_order(config, AutoModelForMaskedLM, AutoModelForCausalLM, AutoModel):
        try:
            model = auto.from_pretrained(name_or_path, config=config, trust_remote_code=trust_remote_code, **hub)
            break
        except UnpicklingError as error:  # torch.load(weights_only=True) met something other than tensors
            raise InterpError(
                f"{name_or_path}: its weights file holds Python objects besides tensors; refused to unpickle it "
                f"(torch.load weights_only=True). Convert it to safetensors. ({str(error).splitlines()[-1]})"
            ) from None
        except (ValueError, KeyError, OSError) as error:
            errors.append(f"{auto.__name__}: {error}")
    else:
        raise InterpError(f"{name_or_path}: no loadable model class ({'; '.join(errors)})")
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **hub)
    return _place(model.eval(), device, dtype), tokenizer


def _needs_cache_only(name_or_path: str) -> bool:
    """Whether a Hub name must be read from the local cache: the Hub cannot be reached, so that
    huggingface_hub would retry each file five times, 8 s apart, before failing.

    One request to the Hub's endpoint (5 s at most) decides; a local folder needs none, and offline mode
    (`HF_HUB_OFFLINE=1` or `TRANSFORMERS_OFFLINE=1`) reads the cache without asking.

    Raises:
        InterpError: the model is neither a local folder nor in the local cache, and the Hub cannot be reached
            or offline mode is on (the message says how to use a local folder).
    """
    if Path(name_or_path).exists():
        return False
    if constants.HF_HUB_OFFLINE:
        reason = "offline mode is on (HF_HUB_OFFLINE)"
    else:
        try:
            get_session().head(constants.ENDPOINT, timeout=5)
            return False
        except Exception as error:  # requests or httpx errors, by huggingface_hub version: any failure counts
            reason = f"{constants.ENDPOINT} cannot be reached ({str(error) or type(error).__name__})"
    if isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
        return True
    raise InterpError(
        f"{name_or_path}: not a local folder, not in the Hugging Face cache, and {reason}. On a machine with "
        f"network, run `hf download {name_or_path} --local-dir MODEL_DIR` (or `huggingface-cli download` on older "
        "huggingface_hub), copy MODEL_DIR here and pass its path as the model (CLI: --model MODEL_DIR)"
    )


def _auto_classes_in_order(config: Any, masked: Any, causal: Any, bare: Any) -> tuple[Any, ...]:
    """Masked LM, causal LM, bare model; causal first where the saved architecture is a causal LM (a
    `RobertaForCausalLM` checkpoint would otherwise load into `RobertaForMaskedLM` and be read both ways)."""
    saved = " ".join(getattr(config, "architectures", None) or [])
    if any(marker in saved for marker in ("ForCausalLM", "LMHeadModel")) and "ForMaskedLM" not in saved:
        return causal, masked, bare
    return masked, causal, bare


def _place(model: Any, device: str | None, dtype: Any) -> Any:
    if dtype is not None:
        model = model.to(dtype=dtype)
    if device is not None:
        model = model.to(device)
    return model
