"""Explainers: captum-style objects whose `attribute()` returns contact predictions."""

from interp.errors import InterpError
from interp.explainers.attention import AttentionReadout
from interp.explainers.base import Explainer
from interp.explainers.categorical import CategoricalJacobian, RepresentationJacobian
from interp.explainers.gradient import GradientJacobian

METHODS = ("jacobian", "fast-jacobian", "attention", "gradient")


def make_explainer(method: str, model, tokenizer=None, **options) -> Explainer:
    """The explainer a method name stands for ("jacobian", "fast-jacobian", "attention", "gradient"), built
    on a model (with its tokenizer) or an adapter; options go to its constructor."""
    if method not in METHODS:
        raise InterpError(f"method={method!r}; choose one of {METHODS}")
    if method == "attention":
        return AttentionReadout(model, tokenizer, **options)
    if method == "gradient":
        return GradientJacobian(model, tokenizer, **options)
    return CategoricalJacobian(model, tokenizer, fast=method == "fast-jacobian", **options)


__all__ = ["METHODS", "AttentionReadout", "CategoricalJacobian", "Explainer", "GradientJacobian", "RepresentationJacobian",
           "make_explainer"]  # fmt: skip
