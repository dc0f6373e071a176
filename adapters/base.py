"""The adapter contract: what an explainer needs to know about one model family, and nothing more.

An adapter turns a sequence into token ids (and says where each residue sits), names the token ids of
its alphabet and mask, says whether the model is masked or causal, and runs a forward that returns
logits and, on request, attentions or hidden states. Explainers never touch a model except through it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from interp.adapters.attention_capture import capture_sdpa_weights
from interp.errors import EmptySequenceError, InterpError, InvalidSequenceError, ModelCallError, SequenceTooLongError

PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY"
RNA_ALPHABET = "ACGU"
DNA_ALPHABET = "ACGT"
UNKNOWN_POLICIES = ("error", "mask")


@dataclass(frozen=True)
class Encoded:
    """One sequence as the model sees it: its token ids and where each residue sits among them.

    Made by `Adapter.encode` (or `Adapter.encode_complex`) and read by the explainers. T is the number of
    tokens (special tokens, linkers and strand tokens included), L the number of residues.

    Attributes:
        sequence: the residues, as given (for a complex the chains joined, for gLM2 without its strand tokens).
        input_ids: token ids [T] (long), special tokens included.
        residue_positions: [L] (long): the token holding residue i (several residues share one for BPE and
            6-mer tokens).
        readout_positions: [L] (long): the token whose logits predict residue i: the same token for a masked
            model, the one before it for a causal one (clamped to 0 where no token precedes it).
        offsets: [L] (long) for k-mer tokenizers: where in its token each residue sits (-1 for a single-letter
            token); None for every other family.
        first_unpredicted: True for a causal model with no start token, which never predicts residue 0 on this
            strand (its column comes from the reverse-complement pass).
    """

    sequence: str
    input_ids: torch.Tensor
    residue_positions: torch.Tensor
    readout_positions: torch.Tensor
    offsets: torch.Tensor | None = None  # k-mer tokenizers: where in its token each residue sits
    first_unpredicted: bool = False  # a causal model with no start token never predicts residue 0


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


class Adapter:
    """Base adapter: how one model family tokenizes, which tokens form its alphabet, and how it runs.

    Subclasses set the class attributes below and implement `token_ids_for` and `_run`. Explainers never touch
    the model except through its adapter. Use `interp.adapters.get_adapter` to pick one for a model, or
    `CustomAdapter` for a model of your own.

    Args:
        model: the model, mapping token ids [B, T] to logits [B, T, V].
        prefix_ids: special token ids placed before the residues (e.g. `<cls>`).
        suffix_ids: special token ids placed after the residues (e.g. `<eos>`).
        mask_token_id: the mask token's id; None when the family has none (then `unknown="mask"` is refused).
        max_length: the most residues one forward takes; None for no limit. Explainers split longer sequences
            into windows.

    Attributes:
        name: the family's label, used in messages.
        alphabet: the residue letters, in the order of every letter axis (`PROTEIN_ALPHABET`, `DNA_ALPHABET`,
            `RNA_ALPHABET`).
        causal: True for a causal (left-to-right) model, False for a masked one.
        has_lm_head: whether the model returns per-token logits.
        letter_aliases: letters read as another letter, e.g. {"T": "U"} for RNA.
        reverse_complement: causal DNA models: the explainers fill the other triangle by a reverse-complement
            pass.
        mutation_refusal: why no Jacobian is defined for this family; None when it is.
        attention_source: where attention weights come from: "outputs", "sdpa", "hooks" or "none".
        attention_refusal: why there are no attention weights, when `attention_source` is "none".
        chain_break_token_id: the token placed between chains, if the family has one (see `chain_linker_ids`).
    """

    name: str = "adapter"
    alphabet: str = PROTEIN_ALPHABET
    causal: bool = False
    has_lm_head: bool = True
    letter_aliases: dict[str, str] = {}  # noqa: RUF012 - read-only class default, e.g. {"T": "U"} for RNA
    reverse_complement: bool = False  # causal DNA models: fill the other triangle by a reverse-complement pass
    mutation_refusal: str | None = None  # why no Jacobian is defined for this family (None: it is)
    # where attention weights come from: "outputs" (forward(output_attentions=True) returns them), "sdpa"
    # (re-formed from every scaled_dot_product_attention call), "hooks" (the adapter's `capture_attention`),
    # or "none" (no attention layers: `attention_refusal` says why)
    attention_source: str = "outputs"
    attention_refusal: str | None = None

    def __init__(
        self,
        model: nn.Module,
        *,
        prefix_ids: Sequence[int] = (),
        suffix_ids: Sequence[int] = (),
        mask_token_id: int | None = None,
        max_length: int | None = None,
    ) -> None:
        self.model = model
        self.prefix_ids = list(prefix_ids)
        self.suffix_ids = list(suffix_ids)
        self.mask_token_id = mask_token_id
        self.max_length = max_length
        self.chain_break_token_id: int | None = None
        self._letter_ids: torch.Tensor | None = None

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

    @property
    def letter_token_ids(self) -> torch.Tensor:
        """Token ids of the alphabet's letters, in alphabet order [A]."""
        if self._letter_ids is None:
            self._letter_ids = torch.tensor([self.token_ids_for(c) for c in self.alphabet], dtype=torch.long)
        return self._letter_ids

    def token_ids_for(self, letter: str) -> int:
        """Token id of one residue letter.

        Args:
            letter: one letter of `alphabet`.

        Returns:
            The id of the token that holds this letter alone.
        """
        raise NotImplementedError

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

    # --- sequences -----------------------------------------------------------------------------
    def token_count(self, sequence: str) -> int:
        """How many tokens the model sees for this sequence, special tokens included.

        Args:
            sequence: the residues.

        Returns:
            The number of tokens: by default one per residue plus the prefix and suffix tokens.
        """
        return len(self.prefix_ids) + len(sequence) + len(self.suffix_ids)

    def fits(self, sequence: str) -> bool:
        """Whether the sequence, as tokenised, is within the model's limit (`max_length`).

        Args:
            sequence: the residues.

        Returns:
            True when the sequence fits in one forward (by default: at most `max_length` residues, or no limit).
        """
        return self.max_length is None or len(sequence) <= self.max_length

    def _token_limit_note(self) -> str:
        return ""

    def check_sequence(
        self, sequence: str, *, name: str | None = None, unknown: str = "error", check_length: bool = True
    ) -> str:
        """Validate a sequence against the alphabet. Errors name the record and the position.

        Args:
            sequence: the residues.
            name: the record's name, for error messages.
            unknown: what to do with letters outside the alphabet (and its aliases): "error" refuses them,
                "mask" lets `encode` replace them by the mask token.
            check_length: whether to refuse a sequence that does not `fit`.

        Returns:
            The sequence, unchanged.

        Raises:
            InterpError: `unknown` is not "error" or "mask", or it is "mask" and the family has no mask token.
            InvalidSequenceError: the sequence is not a str, or (with unknown="error") holds a letter outside
                the alphabet.
            EmptySequenceError: the sequence is empty.
            SequenceTooLongError: `check_length` is set and the sequence does not fit (`max_length`).
        """
        where = f"sequence {name!r}" if name is not None else "sequence"
        if unknown not in UNKNOWN_POLICIES:
            raise InterpError(f"unknown={unknown!r}; choose one of {UNKNOWN_POLICIES}")
        if not isinstance(sequence, str):
            raise InvalidSequenceError(f"{where}: expected a str, got {type(sequence).__name__}")
        if not sequence:
            raise EmptySequenceError(f"{where} is empty")
        if check_length and not self.fits(sequence):
            raise SequenceTooLongError(
                f"{where} has {len(sequence)} residues ({self.token_count(sequence)} tokens); {self.name} takes at "
                f"most {self.max_length} residues{self._token_limit_note()} "
                "(explainers split longer sequences into windows unless long_sequences='error')"
            )
        if unknown == "mask" and self.mask_token_id is None:
            raise InterpError(f"{self.name} has no mask token, so unknown='mask' is not available")
        allowed = set(self.alphabet) | set(self.letter_aliases)
        for position, letter in enumerate(sequence, start=1):
            if letter not in allowed and unknown == "error":
                raise InvalidSequenceError(
                    f"{where}: letter {letter!r} at position {position} is not in the {self.name} alphabet "
                    f"{self.alphabet!r} (pass unknown='mask' to mask non-canonical letters)"
                )
        return sequence

    def _body_ids(self, sequence: str) -> list[int]:
        lookup = dict(zip(self.alphabet, self.letter_token_ids.tolist(), strict=True))
        lookup.update({alias: lookup[letter] for alias, letter in self.letter_aliases.items()})
        return [lookup.get(letter, self.mask_token_id) for letter in sequence]  # type: ignore[misc]

    def _assemble(self, sequence: str, body: list[int], positions: list[int]) -> Encoded:
        ids = torch.tensor(self.prefix_ids + body + self.suffix_ids, dtype=torch.long)
        residue_positions = torch.tensor(positions, dtype=torch.long) + len(self.prefix_ids)
        readout = residue_positions - 1 if self.causal else residue_positions
        first_unpredicted = bool((readout < 0).any())
        if first_unpredicted and not self.reverse_complement:
            raise InterpError(f"{self.name}: a causal model needs a start token before the first residue")
        # with no start token residue 0 is never predicted on this strand: its column is zeroed by the
        # explainer and comes from the reverse-complement pass instead
        return Encoded(sequence, ids, residue_positions, readout.clamp_min(0), first_unpredicted=first_unpredicted)

    def encode(self, sequence: str, *, name: str | None = None, unknown: str = "error") -> Encoded:
        """Token ids with the family's special tokens; letters outside the alphabet masked if asked.

        Args:
            sequence: the residues, in the letters of `alphabet` (or its `letter_aliases`).
            name: the record's name, for error messages.
            unknown: "error" refuses letters outside the alphabet; "mask" encodes them as the mask token.

        Returns:
            The token ids [T] and, for each residue, the token that holds it and the token whose logits predict
            it.

        Raises:
            InvalidSequenceError: the sequence holds a letter outside the alphabet (with unknown="error").
            EmptySequenceError: the sequence is empty.
            SequenceTooLongError: the sequence does not fit (`max_length`).
            InterpError: another check of `check_sequence` failed, or a causal model has neither a start token
                nor a reverse-complement pass.
        """
        self.check_sequence(sequence, name=name, unknown=unknown)
        return self._assemble(sequence, self._body_ids(sequence), list(range(len(sequence))))

    # --- complexes -------------------------------------------------------------------------------
    def chain_linker_ids(self) -> list[int]:
        """Tokens placed between two chains. The linker is in the input, never in the map.

        Returns:
            The family's chain-break token (`chain_break_token_id`) if it has one, else, for protein models, a
            25-glycine linker (the ESMFold convention).

        Raises:
            InterpError: the family has no chain-break token and is not a protein model.
        """
        if self.chain_break_token_id is not None:
            return [self.chain_break_token_id]
        if self.alphabet == PROTEIN_ALPHABET:
            return [self.token_ids_for("G")] * 25
        raise InterpError(f"{self.name}: no chain separator known for this family; set adapter.chain_break_token_id")

    def encode_complex(self, chains: Sequence[str], *, name: str | None = None, unknown: str = "error") -> Encoded:
        """Several chains joined by the family's linker (`chain_linker_ids`); residue positions skip the linker.

        Args:
            chains: two or more sequences.
            name: the complex's name, for error messages (chains are named "<name> chain <i>").
            unknown: "error" refuses letters outside the alphabet; "mask" encodes them as the mask token.

        Returns:
            One encoding of the chains joined (its `sequence` is their concatenation), with L the total number of
            residues over all chains.

        Raises:
            InterpError: fewer than two chains, no linker known for the family, or a chain fails
                `check_sequence` (lengths are checked for the whole complex).
            SequenceTooLongError: the chains and linkers together exceed `max_length` (complexes are not split
                into windows).
        """
        if len(chains) < 2:
            raise InterpError("a complex needs at least two chains")
        label = name if name is not None else "complex"
        for index, chain in enumerate(chains, start=1):
            self.check_sequence(chain, name=f"{label} chain {index}", unknown=unknown, check_length=False)
        linker = self.chain_linker_ids()
        body: list[int] = []
        positions: list[int] = []
        for index, chain in enumerate(chains):
            if index:
                body += linker
            positions += range(len(body), len(body) + len(chain))
            body += self._body_ids(chain)
        if self.max_length is not None and len(body) > self.max_length:
            raise SequenceTooLongError(
                f"{label}: {len(chains)} chains with linkers make {len(body)} tokens; {self.name} takes at most "
                f"{self.max_length} (complexes are not split into windows)"
            )
        return self._assemble("".join(chains), body, positions)

    # --- mutating and reading residues (overridden by k-mer adapters) -------------------------
    def mutation_table(self, encoded: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """How to mutate each residue: which token to replace, and by which id for each letter.

        Args:
            encoded: the encoded sequence.

        Returns:
            A pair: the token position holding each residue [L], and the token id that puts letter a at residue
            p [L, A] (by default the letter's own token for every residue).
        """
        length = len(encoded.residue_positions)
        return encoded.residue_positions, self.letter_token_ids.expand(length, -1)

    def letter_groups_for(self, encoded: Encoded) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
        """For a union of alphabets (gLM2), which residues and letters belong to each kind.

        Args:
            encoded: the encoded sequence.

        Returns:
            None for a single alphabet (the default). For a union: (residue indices of each kind, letter indices
            of each kind), each a list of 1-D long tensors, one per kind.
        """
        return None

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
            return self._forward(input_ids, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
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

    def _forward(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        if not output_attentions or self.attention_source == "outputs":
            return self._run(input_ids, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
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
        return clone

    def attention_weights_enabled(self) -> contextlib.AbstractContextManager[None]:
        """Within this block, forwards can return attention weights (e.g. eager attention instead of SDPA).

        Returns:
            A context manager; by default it changes nothing.
        """
        return contextlib.nullcontext()

    def __repr__(self) -> str:
        kind = "causal" if self.causal else "masked"
        return f"{type(self).__name__}({self.name}, {kind}, alphabet={self.alphabet!r})"
