"""The adapter's third part: reading attention weights.

`AttentionReading` says where a family's attention weights come from (`attention_source`), collects them
where the model's forward does not return them, refuses them for a model without attention layers, and
hands out the model's own contact head over its attention maps where it has one.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import nn

from interp.adapters.attention_capture import capture_sdpa_weights
from interp.errors import InterpError

if TYPE_CHECKING:
    from interp.adapters.running import ForwardOutput


class AttentionReading:
    """Part of every adapter: where the attention weights come from, and how they are read.

    Its job: `attention_source` ("outputs": `forward(output_attentions=True)` returns them; "sdpa": re-formed
    from every `scaled_dot_product_attention` call; "hooks": the family's `capture_attention`; "none": refused
    with `attention_refusal`), `capture_attention`, `attention_weights_enabled` (e.g. eager attention for the
    block) and `contact_head`. `ModelRunner.forward` calls `_run_reading_attention` whenever attentions are
    asked of a source other than "outputs"; it reads `name` and `_run` (the family's call of its model) from
    the adapter. A family whose forward returns no weights overrides `capture_attention`; one with a
    supervised contact head overrides `contact_head`.

    Attributes:
        attention_source: where attention weights come from: "outputs", "sdpa", "hooks" or "none".
        attention_refusal: why there are no attention weights, when `attention_source` is "none".
    """

    # where attention weights come from: "outputs" (forward(output_attentions=True) returns them), "sdpa"
    # (re-formed from every scaled_dot_product_attention call), "hooks" (the adapter's `capture_attention`),
    # or "none" (no attention layers: `attention_refusal` says why)
    attention_source: str = "outputs"
    attention_refusal: str | None = None
    name: str  # set by the adapter

    if TYPE_CHECKING:  # from ModelRunner

        def _run(
            self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool
        ) -> ForwardOutput: ...

    def _run_reading_attention(self, input_ids: torch.Tensor, *, output_hidden_states: bool) -> ForwardOutput:
        """Run the model with its attention weights taken from `capture_attention` (a source other than
        "outputs"), or refuse them for a model without attention layers."""
        if self.attention_source == "none":
            raise InterpError(
                f"{self.name}: no attention weights to read ({self.attention_refusal or 'no attention layers'}); "
                "use CategoricalJacobian or GradientJacobian"
            )
        with self.capture_attention() as captured:
            out = self._run(input_ids, output_attentions=False, output_hidden_states=output_hidden_states)
        if not captured:
            raise InterpError(f"{self.name}: no attention layer ran during the forward; use a Jacobian explainer")
        out.attentions = tuple(captured)
        return out

    def capture_attention(self) -> contextlib.AbstractContextManager[list[torch.Tensor]]:
        """A block within which each attention layer appends its weights [B, heads, T, T], in layer order.

        Used by `forward` when `attention_source` is "sdpa" or "hooks".

        Returns:
            A context manager that yields the list the weights are appended to.

        Raises:
            InterpError: `attention_source` is not "sdpa" and the adapter does not override this method.
        """
        if self.attention_source == "sdpa":
            return capture_sdpa_weights()
        raise InterpError(f"{self.name}: attention_source={self.attention_source!r} needs capture_attention()")

    def attention_weights_enabled(self) -> contextlib.AbstractContextManager[None]:
        """Within this block, forwards can return attention weights (e.g. eager attention instead of SDPA).

        Returns:
            A context manager; by default it changes nothing.
        """
        return contextlib.nullcontext()

    def contact_head(self) -> nn.Linear | None:
        """The model's own supervised contact head over its attention heads, where it carries one.

        ESM-2's `EsmContactPredictionHead` is a logistic regression over every layer's and head's attention map
        (symmetrised, APC-corrected; heads in layer-major order), trained by its authors on structures. The
        attention readout's "esm_head" combiner applies its weights.

        Returns:
            The regression layer (weight [1, layers * heads], bias [1]), or None for a model without one
            (the default).
        """
        return None
