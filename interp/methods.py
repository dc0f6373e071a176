"""The explainer methods users name, in one table: the CLI, the training callback, `Trainer.predict`
extraction and `make_explainer` all read it (a plain table: the module imports nothing but interp.errors).

A method has the name users type ("fast-jacobian"), the name its predictions record ("fast_categorical_jacobian",
also the middle of output file names), and whether the training callback offers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from interp.errors import InterpError


@dataclass(frozen=True)
class Method:
    """One explainer method.

    Attributes:
        name: what users type (CLI `--method`, `make_explainer`, the callback's `explainer=`).
        recorded_as: `ContactPrediction.method` of its results (attention: the combiner is appended).
        summary: one line for help texts.
        in_training: whether the contact-precision callback offers it (gradients are not run during training).
    """

    name: str
    recorded_as: str
    summary: str
    in_training: bool = True


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("jacobian", "categorical_jacobian", "categorical Jacobian: every residue mutated to every letter"),
        Method("fast-jacobian", "fast_categorical_jacobian", "categorical Jacobian with the mask token: L forwards"),
        Method("attention", "attention_mean", "attention readout: one forward, heads averaged"),
        Method("gradient", "gradient_jacobian", "gradient Jacobian by autograd", in_training=False),
    )
}
METHOD_NAMES = tuple(METHODS)
TRAINING_METHODS = tuple(name for name, method in METHODS.items() if method.in_training)


def check_method(name: str, *, training: bool = False) -> Method:
    """The method a name stands for.

    Args:
        name: a method name ("jacobian", "fast-jacobian", "attention", "gradient").
        training: only the methods the training callback offers.

    Returns:
        The `Method`.

    Raises:
        InterpError: the name is not a method (the message lists those that are).
    """
    allowed = TRAINING_METHODS if training else METHOD_NAMES
    if name not in allowed:
        raise InterpError(f"method {name!r} is not one of {allowed}")
    return METHODS[name]


def method_recorded_as(recorded: str) -> Method | None:
    """The method whose predictions record this name (e.g. "fast_categorical_jacobian"), if any."""
    return next((m for m in METHODS.values() if m.recorded_as == recorded), None)
