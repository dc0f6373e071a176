"""The adapter's second part: running the model.

`ModelRunner` owns the forward (ids on the model's device, the model's own failures typed), the logits it
reads at each residue, where the embedded sequence enters the network, and the model's sizes.
`ForwardOutput`, `EmbeddingSite` and `ModelShape` are what it returns.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from interp.adapters.encoding import Encoded
from interp.errors import InterpError, ModelCallError

if TYPE_CHECKING:
    from interp.adapters.base import Adapter


@dataclass
class ForwardOutput:
    """What `Adapter.forward` returns.

    Attributes:
        logits: token logits [B, T, V]; None for a model without an LM head (ProtT5 encoder).
        attentions: one tensor [B, heads, T, T] per layer, in layer order, when asked for; else None.
        hidden_states: the hidden states [B, T, H] as the model returns them (for Hugging Face models the
            embedding output, then each layer's), when asked for; else None.
    """

    logits: torch.Tensor | None
    attentions: tuple[torch.Tensor, ...] | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass(frozen=True)
class EmbeddingSite:
    """Where the embedded sequence enters the network, for the gradient Jacobian to replace it there.

    Attributes:
        module: the module whose output (at="output") or first positional input (at="input") is the embedded
            sequence [B, T, H].
        weight: the vector of every token [V, H] (the embedding matrix).
        at: "output" (the embedding module itself) or "input" (e.g. the first block, for Evo).
    """

    module: nn.Module
    weight: torch.Tensor
    at: str = "output"


@dataclass(frozen=True)
class ModelShape:
    """The sizes explainers and memory estimates need, read from the model's configuration (`Adapter.shape`).

    Attributes:
        layers: number of layers (blocks).
        heads: attention heads per layer.
        hidden: hidden width.
        intermediate: feed-forward width.
        vocab: vocabulary size.
    """

    layers: int
    heads: int
    hidden: int
    intermediate: int
    vocab: int


# configuration names of each size across families (ESM/BERT, T5, GPT-2/ProGen2, gLM2, StripedHyena, HyenaDNA)
_SHAPE_NAMES = {
    "layers": ("num_hidden_layers", "num_layers", "n_layer", "depth"),
    "heads": ("num_attention_heads", "num_heads", "n_head", "heads"),
    "hidden": ("hidden_size", "d_model", "n_embd", "dim"),
    "intermediate": ("intermediate_size", "d_ff", "n_inner", "inner_mlp_size", "d_inner"),
    "vocab": ("vocab_size",),
}
# where a configuration does not say: sizes that over- rather than under-estimate a small model's memory
_SHAPE_FALLBACK = {"layers": 12, "heads": 8, "hidden": 512, "vocab": 64}


class ModelRunner:
    """Part of every adapter: runs the model on token ids and reads what comes out.

    Its job: `forward` (ids moved to the model's `device`, the model's own failures raised as
    `ModelCallError` saying what to change), `_run` (how the family calls its model: every adapter implements
    it, most through `_call_model`), `residue_logits` (the alphabet's logits at each residue's readout token),
    `input_embedding` and `embedding_site` (where the gradient Jacobian hooks), `shape` (sizes from the
    model's configuration) and `with_model`. It reads `name`, the `letter_token_ids` of `SequenceEncoding`,
    and, from `AttentionReading`, `attention_source` and `_run_reading_attention` (attention weights asked of
    a model whose forward does not return them).

    Attributes:
        model: the model, mapping token ids [B, T] to logits [B, T, V] (set by `Adapter.__init__`).
        has_lm_head: whether the model returns per-token logits.
    """

    has_lm_head: bool = True
    # set by Adapter.__init__, or read from the other parts
    model: nn.Module
    name: str
    attention_source: str

    if TYPE_CHECKING:  # from SequenceEncoding and AttentionReading

        @property
        def letter_token_ids(self) -> torch.Tensor: ...

        def _run_reading_attention(self, input_ids: torch.Tensor, *, output_hidden_states: bool) -> ForwardOutput: ...

    # --- what the model is -------------------------------------------------------------------
    @property
    def shape(self) -> ModelShape:
        """Layers, heads and widths from the model's configuration (names differ by family; where a configuration
        does not give a size, a generous fallback, so memory estimates err on the safe side)."""
        config = getattr(self.model, "config", None)
        sizes: dict[str, int] = {}
        for field, names in _SHAPE_NAMES.items():
            value = next((getattr(config, n, None) for n in names if isinstance(getattr(config, n, None), int)), None)
            if value:
                sizes[field] = int(value)
        hidden = sizes.get("hidden", _SHAPE_FALLBACK["hidden"])
        return ModelShape(
            layers=sizes.get("layers", _SHAPE_FALLBACK["layers"]),
            heads=sizes.get("heads", _SHAPE_FALLBACK["heads"]),
            hidden=hidden,
            intermediate=sizes.get("intermediate", 4 * hidden),
            vocab=sizes.get("vocab", _SHAPE_FALLBACK["vocab"]),
        )

    @property
    def device(self) -> torch.device:
        """The device of the model's first parameter (CPU for a model without parameters)."""
        for parameter in self.model.parameters():
            return parameter.device
        return torch.device("cpu")

    def input_embedding(self) -> nn.Embedding:
        """The module that maps token ids to vectors (the gradient Jacobian hooks it).

        Returns:
            The model's input embedding, from `model.get_input_embeddings()`.

        Raises:
            InterpError: the model has no `get_input_embeddings()`, or it returns something other than an
                `nn.Embedding`.
        """
        try:
            embedding = self.model.get_input_embeddings()  # type: ignore[operator]
        except (NotImplementedError, AttributeError, TypeError):
            embedding = None
        if not isinstance(embedding, nn.Embedding):
            raise InterpError(
                f"{self.name}: the model's input embedding is not an nn.Embedding (or get_input_embeddings() is "
                "missing); pass embedding= to CustomAdapter, or use CategoricalJacobian"
            )
        return embedding

    def embedding_site(self) -> EmbeddingSite:
        """Where the embedded sequence enters the network (the gradient Jacobian replaces it there).

        Default: the output of `input_embedding()`. Models that call their embedding through a method other
        than `__call__` (Evo's `embed()`), where forward hooks never fire, hook the first block's input instead.

        Returns:
            The module to hook, whether its input or its output is the embedded sequence, and the embedding
            matrix [V, H].

        Raises:
            InterpError: the model has no usable input embedding (see `input_embedding`).
        """
        embedding = self.input_embedding()
        return EmbeddingSite(module=embedding, weight=embedding.weight, at="output")

    # --- reading residues (overridden by k-mer adapters) -----------------------------------------
    def residue_logits(self, logits: torch.Tensor, encoded: Encoded) -> torch.Tensor:
        """Logits over the alphabet for every residue, read at each residue's readout token.

        Args:
            logits: token logits [B, T, V], as `forward` returns them.
            encoded: the encoding the logits were computed from.

        Returns:
            Logits over the alphabet for every residue [B, L, A], in `alphabet` order.
        """
        positions = encoded.readout_positions.to(logits.device)
        return logits.index_select(1, positions).index_select(2, self.letter_token_ids.to(logits.device))

    # --- running the model -------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> ForwardOutput:
        """Run the model on a batch of equal-length token ids [B, T].

        Attention weights come from the model's outputs or, where its forward returns none, from
        `capture_attention` (`attention_source`). Wrap the call in `attention_weights_enabled()` when asking
        for them, so that models running SDPA or flash attention switch to eager attention.

        Args:
            input_ids: token ids [B, T] (moved to the model's device).
            output_attentions: also return one attention tensor [B, heads, T, T] per layer.
            output_hidden_states: also return the hidden states.

        Returns:
            The logits [B, T, V] and, when asked for, the attentions and hidden states.

        Raises:
            InterpError: attentions were asked of a model without attention layers (`attention_refusal`), or no
                attention layer ran during the forward.
            ModelCallError: the model's own forward failed on these ids (its error chained; for parameters in
                mixed dtypes the message says what to change).
        """
        input_ids = input_ids.to(self.device)
        try:
            if output_attentions and self.attention_source != "outputs":
                return self._run_reading_attention(input_ids, output_hidden_states=output_hidden_states)
            return self._run(input_ids, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        except InterpError:
            raise
        except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError on any device
            raise
        except Exception as error:  # the model's own code failed: say so, typed, with what to change where known
            raise ModelCallError(self._describe_call_failure(input_ids, error)) from error

    def _describe_call_failure(self, input_ids: torch.Tensor, error: Exception) -> str:
        """What failed, on which input, and (for parameters in mixed dtypes) what to change."""
        message = (
            f"{self.name}: the model's own forward failed on token ids of shape {tuple(input_ids.shape)} "
            f"({type(error).__name__}: {error})"
        )
        dtypes: dict[torch.dtype, str] = {}
        for name, parameter in self.model.named_parameters():
            dtypes.setdefault(parameter.dtype, name)
        if "dtype" in str(error) and len(dtypes) > 1:
            where = ", ".join(f"{dtype} (e.g. {name})" for dtype, name in dtypes.items())
            message += (
                f". Its parameters are in mixed dtypes: {where}, and its own forward fails the same way on them. "
                "Cast the model to one dtype first (model.to(torch.float32), or model.to(torch.bfloat16)); "
                f"{self._dtype_hint()}"
            )
        return message

    def _dtype_hint(self) -> str:
        return "the explainers then run it in that dtype."

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        raise NotImplementedError

    @staticmethod
    def _call_model(
        model: nn.Module, input_ids: torch.Tensor, *, keyword: bool, output_attentions: bool, output_hidden_states: bool
    ) -> ForwardOutput:
        """Call a model (ids by keyword for Hugging Face, positionally otherwise), asking only for what is needed,
        and unpack a tensor, a tuple (logits first) or an output object with .logits/.attentions/.hidden_states."""
        kwargs: dict[str, bool] = {}
        if output_attentions:
            kwargs["output_attentions"] = True
        if output_hidden_states:
            kwargs["output_hidden_states"] = True
        out = model(input_ids=input_ids, **kwargs) if keyword else model(input_ids, **kwargs)
        if isinstance(out, torch.Tensor):
            return ForwardOutput(logits=out)
        if isinstance(out, tuple):
            return ForwardOutput(logits=out[0])
        # an encoder-decoder model (BART-style masked LMs) returns its encoder's self-attention over the input
        attentions = getattr(out, "attentions", None)
        if attentions is None:
            attentions = getattr(out, "encoder_attentions", None)
        hidden_states = getattr(out, "hidden_states", None)
        if hidden_states is None:
            hidden_states = getattr(out, "encoder_hidden_states", None)
        return ForwardOutput(logits=getattr(out, "logits", None), attentions=attentions, hidden_states=hidden_states)

    def with_model(self, model: nn.Module) -> Adapter:
        """The same adapter running another module with the same parameters (e.g. `torch.compile(model)`).

        Args:
            model: the module to run instead, taking the same token ids.

        Returns:
            A shallow copy of this adapter whose `model` is `model`.
        """
        clone = copy.copy(self)
        clone.model = model
        return clone  # type: ignore[return-value]  # every ModelRunner is an Adapter's part
