"""Explainers: captum-style objects whose `attribute()` returns contact predictions."""

from typing import Any

from interp.explainers.attention import AttentionReadout
from interp.explainers.base import Explainer
from interp.explainers.captum_targets import CaptumTarget, captum_target, residue_attributions
from interp.explainers.categorical import CategoricalJacobian, RepresentationJacobian
from interp.explainers.effects import MutationEffects
from interp.explainers.gradient import GradientJacobian
from interp.methods import METHOD_NAMES, check_method

METHODS = METHOD_NAMES  # the names of interp.methods.METHODS


def make_explainer(method: str, model: Any, tokenizer: Any = None, **options: Any) -> Explainer:
    """The explainer a method name stands for (its declaration in `interp.methods`), built on a model or an adapter.

    "jacobian" is a `CategoricalJacobian`, "fast-jacobian" one with `fast=True`, "attention" an `AttentionReadout`,
    "gradient" a `GradientJacobian`, "representation-jacobian" a `RepresentationJacobian` (and
    "fast-representation-jacobian" one with `fast=True`).

    Args:
        method: a name of `METHODS`.
        model: a model (an `nn.Module`, with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer (None when `model` is an adapter).
        **options: keyword arguments of the explainer's constructor (batch_size, combiner, memory_limit, ...);
            the shared ones (`interp.methods.SHARED_OPTIONS`) that this method does not take are left out.

    Returns:
        The explainer, ready for `attribute`.

    Raises:
        InterpError: an unknown method name, or the explainer refuses the model or an option (see its class).

    Example:
        >>> from interp.explainers import make_explainer
        >>> from interp.testing.stand_ins import esm_model
        >>> model, tokenizer = esm_model("tiny")
        >>> make_explainer("fast-jacobian", model, tokenizer).attribute("MKTAYIAKQR").method
        'fast_categorical_jacobian'
    """
    explainer: Explainer = check_method(method).build(model, tokenizer, **options)
    return explainer


__all__ = ["METHODS", "AttentionReadout", "CaptumTarget", "CategoricalJacobian", "Explainer", "GradientJacobian",
           "MutationEffects", "RepresentationJacobian", "captum_target", "make_explainer", "residue_attributions"]  # fmt: skip
