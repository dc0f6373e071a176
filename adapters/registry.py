"""Which adapter fits a model: the named families by `config.model_type` (checked against the tokenizer), then
the generic adapters registered for any model type (`ANY_MODEL_TYPE`), chosen by what the tokenizer does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from interp.adapters.base import Adapter
from interp.adapters.huggingface import as_transformers_tokenizer
from interp.errors import InterpError
from interp.models.compat import compiled_original, peft_base_model

AdapterFactory = Callable[..., Adapter]
TokenizerCheck = Callable[[Any], bool]


@dataclass(frozen=True)
class _Entry:
    model_type: str
    factory: AdapterFactory
    accepts: TokenizerCheck | None
    name: str
    priority: int
    order: int  # registration count: later registrations win ties


_REGISTRY: list[_Entry] = []
USER_PRIORITY = 100
# built-in priorities, tried from highest: the stricter tokenizer check first, so the result never depends
# on which module registered first (a protein vocabulary holds A, C, G, T too and would pass the DNA check)
# the generic adapters (any model type, chosen by what the model and tokenizer can do) come after every family
PRIORITY = {"kmer": 60, "glm2": 50, "protein": 40, "rna": 30, "dna": 20, "model_type": 0,
            "per_residue": -10, "bpe": -20}  # fmt: skip
ANY_MODEL_TYPE = "*"
"""The `model_type` of a registration that serves every model with a config (the generic adapters)."""


def register_adapter(
    model_type: str,
    factory: AdapterFactory,
    *,
    accepts: TokenizerCheck | None = None,
    name: str | None = None,
    priority: int = USER_PRIORITY,
) -> None:
    """Register `factory(model, tokenizer, **options) -> Adapter` for models whose config.model_type matches.

    `get_adapter` then tries it, with the built-in entries, in order of priority.

    Args:
        model_type: the `config.model_type` it serves; `ANY_MODEL_TYPE` ("*") for every model with a config.
        factory: builds the adapter from (model, tokenizer, **options).
        accepts: tokenizer -> bool; picks between factories that share a model type (ESM-2 and the Nucleotide
            Transformer are both "esm"), e.g. `tokenizes_per_letter(alphabet)`. None accepts any tokenizer, or
            none.
        name: a label for messages and `registered_adapters()`.
        priority: entries are tried from the highest priority (`PRIORITY` for the built-ins; yours default to
            100, above every built-in); equal priorities: the later registration first.
    """
    label = name or str(getattr(factory, "__name__", model_type))
    _REGISTRY.append(_Entry(model_type, factory, accepts, label, priority, len(_REGISTRY)))
    _REGISTRY.sort(key=lambda entry: (-entry.priority, -entry.order))


_CLASS_REGISTRY: dict[str, AdapterFactory] = {}


def register_adapter_for_class(class_name: str, factory: AdapterFactory) -> None:
    """Register a factory for models with no `config.model_type`, by class name (e.g. Evo's bare `StripedHyena`).

    `get_adapter` looks the model's exact class name up (`type(model).__name__`, subclasses not included)
    before any `model_type` entry, and calls the factory with no tokenizer check. A later registration of the
    same name replaces the earlier one.

    Args:
        class_name: the model's class name, e.g. "ESMC".
        factory: builds the adapter from (model, tokenizer, **options).
    """
    _CLASS_REGISTRY[class_name] = factory


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module to adapt, out of the wrappers training setups put around it.

    `torch.compile(model)` hands over the module it compiled (explained eagerly: nothing recompiles, whatever
    the input shapes); a `peft` model (LoRA and friends) its base model, adapters injected and active (its
    forward is the adapted model's); `Evo(...)` objects their `.model` (a StripedHyena). Wrappers nest (a
    compiled LoRA model) and are peeled in any order.
    """
    while True:
        inner = compiled_original(model) or peft_base_model(model)
        if inner is None:
            held = getattr(model, "model", None)
            inner = held if not isinstance(model, nn.Module) and isinstance(held, nn.Module) else None
        if inner is None or inner is model:
            return model
        model = inner


def registered_adapters() -> list[tuple[str, str]]:
    """(model_type, adapter name) for every registration, in the order they are tried.

    Returns:
        One (model_type, name) pair per `register_adapter` call, highest priority first; class registrations
        (`register_adapter_for_class`) are not listed.
    """
    return [(entry.model_type, entry.name) for entry in _REGISTRY]


def get_adapter(model: nn.Module | Adapter, tokenizer: Any = None, **options: Any) -> Adapter:
    """The adapter for this model and tokenizer.

    Args:
        model: a Hugging Face model (the named families by `config.model_type` and how the tokenizer tokenises a
            real sequence; any other model type by what it can do: `PerResidueAdapter` for a per-letter
            tokenizer, the token-resolution adapter for a BPE one), a model without a config matched by class
            (`StripedHyena`, `ESMC`), an object holding one in `.model` (`evo.Evo`), or an `Adapter` (returned
            as it is).
        tokenizer: the model's tokenizer; a raw `tokenizers.Tokenizer` is wrapped.
        **options: passed to the adapter's constructor (e.g. `prepend_bos=False` for Evo).

    Returns:
        The adapter of the highest priority whose tokenizer check accepts the tokenizer.

    Raises:
        InterpError: no tokenizer was given where one is needed, the model has no config, or its tokenizer reads
            no alphabet one letter at a time and is not BPE (the message says what it lacks), or the chosen
            adapter cannot read the model (e.g. a classification head).

    Example:
        >>> from interp.adapters import get_adapter
        >>> from interp.testing.stand_ins import esm_model
        >>> model, tokenizer = esm_model("tiny")
        >>> adapter = get_adapter(model, tokenizer)
        >>> adapter
        EsmAdapter(esm, masked, alphabet='ACDEFGHIKLMNPQRSTVWY')
        >>> encoded = adapter.encode("MKTAYIAK")
        >>> encoded.input_ids.tolist()  # <cls>, one token per residue, <eos>
        [0, 20, 15, 11, 5, 19, 12, 5, 15, 2]
        >>> logits = adapter.forward(encoded.input_ids[None]).logits
        >>> adapter.residue_logits(logits, encoded).shape  # [B, L, A]
        torch.Size([1, 8, 20])
    """
    if isinstance(model, Adapter):
        return model
    tokenizer = as_transformers_tokenizer(tokenizer)
    model = unwrap_model(model)
    by_class = _CLASS_REGISTRY.get(type(model).__name__)
    if by_class is not None:
        return by_class(model, tokenizer, **options)
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type is None:
        raise InterpError(
            f"{type(model).__name__} has no config.model_type; wrap it with "
            "interp.adapters.CustomAdapter(module, alphabet=...) to say how it tokenizes"
        )
    for entry in _REGISTRY:
        if entry.model_type not in (model_type, ANY_MODEL_TYPE):
            continue
        if entry.accepts is None or (tokenizer is not None and entry.accepts(tokenizer)):
            return entry.factory(model, tokenizer, **options)
    if tokenizer is None:
        raise InterpError(
            f"{type(model).__name__}: pass the model's tokenizer (AutoTokenizer.from_pretrained): it says which "
            "tokens are residues"
        )
    from interp.adapters.generic import describe_tokenizer  # cycle: adapters.generic imports this module

    raise InterpError(
        describe_tokenizer(model, tokenizer) + " (or register_adapter(...) a factory for this model type)"
    )
