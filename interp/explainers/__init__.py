"""Explainers: captum-style objects whose `attribute()` returns contact predictions."""

from interp.explainers.attention import AttentionReadout
from interp.explainers.base import Explainer
from interp.explainers.categorical import CategoricalJacobian, RepresentationJacobian
from interp.explainers.gradient import GradientJacobian

__all__ = ["AttentionReadout", "CategoricalJacobian", "Explainer", "GradientJacobian", "RepresentationJacobian"]
