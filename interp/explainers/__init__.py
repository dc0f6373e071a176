"""Explainers: captum-style objects whose `attribute()` returns contact predictions."""

from interp.explainers.attention import AttentionReadout
from interp.explainers.base import Explainer
from interp.explainers.categorical import CategoricalJacobian, RepresentationJacobian
from interp.explainers.gradient import GradientJacobian
from interp.methods import METHOD_NAMES, check_method

METHODS = METHOD_NAMES  # the names of interp.methods.METHODS


def make_explainer(method: str, model, tokenizer=None, **options) -> Explainer:
    """The explainer a method name of `interp.methods` stands for ("jacobian", "fast-jacobian", "attention",
    "gradient"), built on a model (with its tokenizer) or an adapter; options go to its constructor.

    Raises:
        InterpError: an unknown method name.
    """
    check_method(method)
    if method == "attention":
        return AttentionReadout(model, tokenizer, **options)
    if method == "gradient":
        return GradientJacobian(model, tokenizer, **options)
    return CategoricalJacobian(model, tokenizer, fast=method == "fast-jacobian", **options)


__all__ = ["METHODS", "AttentionReadout", "CategoricalJacobian", "Explainer", "GradientJacobian", "RepresentationJacobian",
           "make_explainer"]  # fmt: skip
