"""The adapter contract: what an explainer needs to know about one model family, and nothing more.

An adapter turns a sequence into token ids (and says where each residue sits), names the token ids of
its alphabet and mask, says whether the model is masked or causal, and runs a forward that returns
logits and, on request, attentions or hidden states. Explainers never touch a model except through it.
`Adapter` is made of three parts, one job each: `SequenceEncoding` (adapters/encoding.py), `ModelRunner`
(adapters/running.py) and `AttentionReading` (adapters/attention_reading.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from interp.adapters.attention_reading import AttentionReading
from interp.adapters.encoding import DNA_ALPHABET, PROTEIN_ALPHABET, RNA_ALPHABET, Encoded, SequenceEncoding
from interp.adapters.running import EmbeddingSite, ForwardOutput, ModelRunner, ModelShape

__all__ = [
    "DNA_ALPHABET",
    "PROTEIN_ALPHABET",
    "RNA_ALPHABET",
    "Adapter",
    "AttentionReading",
    "EmbeddingSite",
    "Encoded",
    "ForwardOutput",
    "ModelRunner",
    "ModelShape",
    "SequenceEncoding",
]


class Adapter(SequenceEncoding, ModelRunner, AttentionReading):
    """Base adapter: how one model family tokenizes, which tokens form its alphabet, and how it runs.

    Three parts, one job each, which a family changes separately:

    - `SequenceEncoding`: the alphabet and each letter's token, the special tokens, validation, complexes,
      the length limit that decides windows, and the mutation table. A family overrides `token_ids_for`
      (always), and `encode`, `mutation_table` or `check_sequence` when its tokens are not one per letter.
    - `ModelRunner`: the forward, the logits read at each residue, the input embedding and the model's sizes.
      A family implements `_run` (how its model is called), and overrides `residue_logits`,
      `input_embedding`, `embedding_site` or `shape` where its model differs.
    - `AttentionReading`: where the attention weights come from (`attention_source`), collecting them where
      the forward returns none, and the model's own contact head. A family overrides `capture_attention`,
      `attention_weights_enabled` or `contact_head`.

    Explainers never touch the model except through its adapter. Use `interp.adapters.get_adapter` to pick
    one for a model, or `CustomAdapter` for a model of your own.

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
        self.chain_break_token_id = None
        self._letter_ids = None

    def __repr__(self) -> str:
        kind = "causal" if self.causal else "masked"
        return f"{type(self).__name__}({self.name}, {kind}, alphabet={self.alphabet!r})"
