"""Every explainer method, declared once: the command line, the training callback, `Trainer.predict` extraction,
the contact benchmark, `make_explainer` and the docs' method table all read these declarations.

A declaration names the explainer class by its import path, so this module imports nothing heavy: the command
line checks a method name (and prints its help) before torch is loaded. Adding an explainer is its module plus
one `Method(...)` entry in `DECLARED` (see docs/design.md, "What a change touches").
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from interp.errors import InterpError

#: Constructor keywords that callers pass to any method (the command line, the benchmark, the callback); each
#: method keeps those it declares in `Method.options` and ignores the rest.
SHARED_OPTIONS = ("batch_size", "dtype", "layer", "memory_limit", "per_layer", "show_progress")


@dataclass(frozen=True)
class Variant:
    """A named setting of a method that the contact benchmark compares (e.g. attention with fitted heads).

    Attributes:
        name: the benchmark's `--methods` name ("attention-top-k").
        summary: one line for the benchmark's method table.
        options: constructor keywords this setting fixes (`{"combiner": "top_k"}`).
        fitted: whether it is fitted on the calibration proteins before it is scored.
        fitted_how: how, for the docs ("heads chosen with their structures").
    """

    name: str
    summary: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    fitted: bool = False
    fitted_how: str = "no"


@dataclass(frozen=True)
class Method:
    """One explainer method, as users name it.

    Attributes:
        name: what users type (CLI `--method`, `make_explainer`, the callback's `explainer=`).
        explainer: the explainer class, as "module:Class" (imported on first `build`).
        recorded_as: `ContactPrediction.method` of its results (attention: the combiner is appended).
        summary: one line for help texts and the docs.
        needs: what it needs from a model's adapter (the explainer refuses a model without it, saying why).
        options: the keywords of `SHARED_OPTIONS` its constructor takes.
        preset: constructor keywords fixed by the name (`fast=True` for "fast-jacobian").
        in_training: whether the contact-precision callback offers it (gradients are not run during training).
        variants: the settings the contact benchmark compares; by default one, under the method's name.
    """

    name: str
    explainer: str
    recorded_as: str
    summary: str
    needs: str
    options: tuple[str, ...] = ("memory_limit", "show_progress")
    preset: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    in_training: bool = True
    variants: tuple[Variant, ...] = ()

    def explainer_class(self) -> type:
        """The explainer class (imports its module)."""
        module, _, name = self.explainer.partition(":")
        explainer_type: type = getattr(importlib.import_module(module), name)
        return explainer_type

    def build(self, model: Any, tokenizer: Any = None, **options: Any) -> Any:
        """The explainer, built on a model (with its tokenizer) or an adapter.

        Args:
            model: a model (`nn.Module`) or an `Adapter`.
            tokenizer: the model's tokenizer (None when `model` is an adapter).
            **options: constructor keywords; those of `SHARED_OPTIONS` this method does not declare, and None
                values of shared options, are left out (the explainer's own default applies); any other keyword
                goes to the constructor as given.

        Returns:
            The explainer.

        Raises:
            InterpError: the explainer refuses the model or an option.
        """
        kept = {
            key: value
            for key, value in options.items()
            if key not in SHARED_OPTIONS or (key in self.options and value is not None)
        }
        return self.explainer_class()(model, tokenizer, **self.preset, **kept)

    @property
    def gives_per_layer(self) -> bool:
        """Whether it can also give one map per layer (`per_layer=True`, `ContactPrediction.layer_contacts`)."""
        return "per_layer" in self.options

    @property
    def benchmark_variants(self) -> tuple[Variant, ...]:
        """The settings the contact benchmark compares (one, named as the method, unless declared)."""
        return self.variants or (Variant(self.name, self.summary),)


_CATEGORICAL = "interp.explainers.categorical:CategoricalJacobian"
_REPRESENTATION = "interp.explainers.categorical:RepresentationJacobian"
_JACOBIAN_OPTIONS = ("batch_size", "dtype", "memory_limit", "per_layer", "show_progress")

DECLARED: tuple[Method, ...] = (
    Method(
        "jacobian", _CATEGORICAL, "categorical_jacobian",
        "categorical Jacobian: every residue mutated to every letter (19L + 1 forwards)",
        "a language-model head and a per-residue alphabet", _JACOBIAN_OPTIONS,
    ),
    Method(
        "fast-jacobian", _CATEGORICAL, "fast_categorical_jacobian",
        "categorical Jacobian with the mask token (L + 1 forwards)",
        "a language-model head, a per-residue alphabet and a mask token", _JACOBIAN_OPTIONS,
        preset=MappingProxyType({"fast": True}),
    ),
    Method(
        "gradient", "interp.explainers.gradient:GradientJacobian", "gradient_jacobian",
        "gradient Jacobian by autograd", "a language-model head and a per-residue alphabet", in_training=False,
    ),
    Method(
        "attention", "interp.explainers.attention:AttentionReadout", "attention_mean",
        "attention readout: one forward, heads averaged",
        "attention weights (softmax attention layers)", ("memory_limit", "per_layer", "show_progress"),
        variants=(
            Variant("attention-mean", "attention readout, every head averaged (one forward)",
                    MappingProxyType({"combiner": "mean"})),
            Variant("attention-top-k", "attention readout, the k heads ranked best on the calibration proteins",
                    MappingProxyType({"combiner": "top_k"}), fitted=True,
                    fitted_how="heads chosen with their structures"),
            Variant("attention-logistic",
                    "attention readout, logistic regression over heads fitted on the calibration proteins",
                    MappingProxyType({"combiner": "logistic"}), fitted=True,
                    fitted_how="weights fitted with their structures"),
            Variant("attention-calibrated",
                    "attention readout, the k heads that agree best with the Jacobian (no structures)",
                    MappingProxyType({"combiner": "calibrated"}), fitted=True,
                    fitted_how="heads chosen without structures"),
            Variant("esm-head", "attention readout through the model's own trained contact head (ESM-2)",
                    MappingProxyType({"combiner": "esm_head"}), fitted_how="no (the model's own weights)"),
        ),
    ),
    Method(
        "representation-jacobian", _REPRESENTATION, "representation_jacobian",
        "categorical Jacobian of one layer's hidden states (19L + 1 forwards; no LM head needed)",
        "a per-residue alphabet (hidden states of every layer)", (*_JACOBIAN_OPTIONS, "layer"),
    ),
    Method(
        "fast-representation-jacobian", _REPRESENTATION, "fast_representation_jacobian",
        "representation Jacobian with the mask token (L + 1 forwards)",
        "a per-residue alphabet and a mask token", (*_JACOBIAN_OPTIONS, "layer"),
        preset=MappingProxyType({"fast": True}),
    ),
)  # fmt: skip

METHODS: dict[str, Method] = {method.name: method for method in DECLARED}
METHOD_NAMES = tuple(METHODS)
TRAINING_METHODS = tuple(name for name, method in METHODS.items() if method.in_training)
#: attention's combiners, as its declared variants name them (`AttentionReadout(combiner=...)`)
COMBINERS = tuple(str(variant.options["combiner"]) for variant in METHODS["attention"].variants)


def check_method(name: str, *, training: bool = False) -> Method:
    """The method a name stands for.

    Args:
        name: a method name (one of `METHOD_NAMES`).
        training: only the methods the training callback offers.

    Returns:
        The `Method`.

    Raises:
        InterpError: the name is not a method (the message lists those that are).

    Example:
        >>> check_method("fast-jacobian").recorded_as
        'fast_categorical_jacobian'
    """
    allowed = TRAINING_METHODS if training else METHOD_NAMES
    if name not in allowed:
        raise InterpError(f"method {name!r} is not one of {allowed}")
    return METHODS[name]


def method_recorded_as(recorded: str) -> Method | None:
    """The method whose predictions record this name (e.g. "fast_categorical_jacobian"), if any."""
    return next((m for m in METHODS.values() if m.recorded_as == recorded), None)


def benchmark_variants() -> dict[str, tuple[Method, Variant]]:
    """Every setting the contact benchmark can compare, by its `--methods` name, in declaration order."""
    return {variant.name: (method, variant) for method in DECLARED for variant in method.benchmark_variants}


def methods_table() -> str:
    """The docs' table of methods (docs/explainers.md shows it; a test keeps the page equal to this).

    Returns:
        A Markdown table: method, what it is, what it needs, whether the training callback offers it, whether it
        gives per-layer maps (`per_layer=True`).
    """
    rows = ["| method | what it is | needs from the model | in the training callback | per-layer maps |",
            "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for method in DECLARED:
        yes_no = ("yes" if method.in_training else "no", "yes" if method.gives_per_layer else "no")
        rows.append(f"| `{method.name}` | {method.summary} | {method.needs} | {yes_no[0]} | {yes_no[1]} |")
    return "\n".join(rows)


def benchmark_methods_table() -> str:
    """The contact benchmark docs' table of methods (docs/contact-benchmark.md shows it; a test keeps them equal).

    Returns:
        A Markdown table: benchmark method, what it is, whether it is fitted on the calibration proteins.
    """
    rows = ["| method | what it is | fitted on the calibration proteins |", "| --- | --- | --- |"]
    for name, (_, variant) in benchmark_variants().items():
        rows.append(f"| `{name}` | {variant.summary} | {variant.fitted_how} |")
    return "\n".join(rows)
