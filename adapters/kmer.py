"""Nucleotide Transformer: an `EsmForMaskedLM` whose tokenizer reads DNA as non-overlapping 6-mers.

Resolution is the single nucleotide, as for every other family:
- a mutation of nucleotide p replaces the 6-mer token that holds it by the 6-mer with the new letter
  (nucleotides left over after the last full 6-mer are single-letter tokens, as the tokenizer makes them);
- the readout for nucleotide q is the k-mer distribution at q's token, marginalised to the letter at
  q's offset: log-sum-exp of the logits of every k-mer with letter b there (the log-marginal up to a
  constant that centring removes).
Nucleotides in one 6-mer share a token, so the attention readout gives them the same row; the gradient
Jacobian (a derivative with respect to one-hot tokens) is not defined per nucleotide and is refused.
"""

from __future__ import annotations

import itertools
from typing import Any, cast

import torch
from torch import nn

from interp.adapters.base import DNA_ALPHABET, Encoded
from interp.adapters.huggingface import HFTokenAdapter, letter_token_id
from interp.adapters.registry import PRIORITY, register_adapter
from interp.errors import InterpError

KMER = 6


def tokenizes_kmers(tokenizer: Any) -> bool:
    """Registry check: the tokenizer holds every 6-mer and reads "ACGTAC" as one token."""
    try:
        kmer_id = letter_token_id(tokenizer, "ACGTAC")
        return kmer_id is not None and list(tokenizer("ACGTAC", add_special_tokens=False)["input_ids"]) == [kmer_id]
    except (KeyError, TypeError, AttributeError, ValueError):
        return False


class NucleotideTransformerAdapter(HFTokenAdapter):
    """Nucleotide Transformer (v1, v2): 6-mer tokens, read and mutated at single-nucleotide resolution.

    Parts changed from `HFTokenAdapter`: `SequenceEncoding` (6-mer `encode`, `mutation_table`, a limit in tokens:
    `token_count`, `fits`) and `ModelRunner` (`residue_logits` marginalised per nucleotide; `input_embedding`
    refused).

    Masked. The tokenizer reads DNA as non-overlapping 6-mers, leftover nucleotides as single tokens; maps stay
    [L, L] over nucleotides (see `mutation_table`, `residue_logits`). `max_tokens` is the model's limit in body
    tokens; `max_length` is the window size in nucleotides that always fits (a multiple of 6). No mask token
    (unknown="mask" is refused) and no gradient Jacobian. Chosen by `get_adapter` for `model_type` "esm" when
    the tokenizer reads "ACGTAC" as one token.

    Args:
        model: the `EsmForMaskedLM`.
        tokenizer: its 6-mer tokenizer.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to "nucleotide-transformer",
            `alphabet` to "ACGT", `letter_aliases` to {"U": "T"}).

    Raises:
        InterpError: no tokenizer was given, or it lacks a single nucleotide or a 6-mer.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "nucleotide-transformer")
        options.setdefault("alphabet", DNA_ALPHABET)
        options.setdefault("letter_aliases", {"U": "T"})
        super().__init__(model, tokenizer, **options)
        # the model counts tokens: `max_tokens` body tokens fit between the special tokens. A sequence fits when
        # its 6-mers plus the single-letter tail do; `max_length` is the window size in nucleotides that always
        # fits whatever the tail (six nucleotides short of five spare tokens), a multiple of 6.
        self.max_tokens: int | None = self.max_length
        if self.max_tokens is not None:
            self.max_length = KMER * max(self.max_tokens - (KMER - 1), 1)
        kmers = ["".join(p) for p in itertools.product(DNA_ALPHABET, repeat=KMER)]
        ids = [letter_token_id(self.tokenizer, k) for k in kmers]
        if None in ids:
            raise InterpError(f"{self.name}: the tokenizer lacks 6-mer {kmers[ids.index(None)]!r}")
        self._kmer_id = dict(zip(kmers, cast(list[int], ids), strict=True))  # every id checked just above
        # marginal[o, b] lists the ids of every 6-mer with letter b at offset o: [6, 4, 4**5]
        groups = [
            [[self._kmer_id[k] for k in kmers if k[offset] == letter] for letter in DNA_ALPHABET]
            for offset in range(KMER)
        ]
        self._marginal = torch.tensor(groups, dtype=torch.long)
        self.mask_token_id = None  # masking one nucleotide of a 6-mer has no token: unknown='mask' is refused

    @staticmethod
    def _body_tokens(sequence: str) -> int:
        """One token per full 6-mer, one per nucleotide of the tail."""
        return len(sequence) // KMER + len(sequence) % KMER

    def token_count(self, sequence: str) -> int:
        """Tokens the model sees: the body tokens and the special tokens."""
        return len(self.prefix_ids) + self._body_tokens(sequence) + len(self.suffix_ids)

    def _token_limit_note(self) -> str:
        return f" whatever their tail, and sequences of up to {self.max_tokens} body tokens"

    def fits(self, sequence: str) -> bool:
        """Counts tokens, not nucleotides: True when the 6-mers and the tail take at most `max_tokens`."""
        if self.max_tokens is None:
            return True
        return self._body_tokens(sequence) <= self.max_tokens

    def encode(self, sequence: str, *, name: str | None = None, unknown: str = "error") -> Encoded:
        """6-mer tokens as the tokenizer splits them; `offsets` says where each nucleotide sits in its token."""
        self.check_sequence(sequence, name=name, unknown=unknown)
        sequence_t = "".join(self.letter_aliases.get(c, c) for c in sequence)
        full = len(sequence_t) // KMER * KMER
        body = [self._kmer_id[sequence_t[i : i + KMER]] for i in range(0, full, KMER)]
        body += [self.token_ids_for(c) for c in sequence_t[full:]]
        token_of = [i // KMER if i < full else full // KMER + (i - full) for i in range(len(sequence_t))]
        offsets = [i % KMER if i < full else -1 for i in range(len(sequence_t))]
        encoded = self._assemble(sequence, body, token_of)
        return Encoded(encoded.sequence, encoded.input_ids, encoded.residue_positions, encoded.readout_positions,
                       torch.tensor(offsets, dtype=torch.long))  # fmt: skip

    def encode_complex(self, chains: Any, **_: Any) -> Encoded:
        """Always raises `InterpError`: complexes are not defined for a 6-mer DNA model."""
        raise InterpError(f"{self.name}: complexes are not defined for a 6-mer DNA model")

    def mutation_table(self, encoded: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """Mutating nucleotide p replaces its 6-mer token by the 6-mer with the new letter at p's offset.

        Args:
            encoded: the encoded sequence (from `encode`, with `offsets`).

        Returns:
            A pair: the token holding each nucleotide [L], and the id of the token that puts letter a at
            nucleotide p [L, 4] (a 6-mer, or a single-letter token for the tail).
        """
        sequence = "".join(self.letter_aliases.get(c, c) for c in encoded.sequence)
        assert encoded.offsets is not None
        table = []
        for index, offset in enumerate(encoded.offsets.tolist()):
            if offset < 0:
                table.append(self.letter_token_ids.tolist())
                continue
            start = index - offset
            kmer = sequence[start : start + KMER]
            table.append([self._kmer_id[kmer[:offset] + letter + kmer[offset + 1 :]] for letter in DNA_ALPHABET])
        return encoded.residue_positions, torch.tensor(table, dtype=torch.long)

    def residue_logits(self, logits: torch.Tensor, encoded: Encoded) -> torch.Tensor:
        """Logits per nucleotide, marginalised from the 6-mer logits at its token.

        Args:
            logits: token logits [B, T, V].
            encoded: the encoding the logits were computed from (from `encode`, with `offsets`).

        Returns:
            Logits over "ACGT" for every nucleotide [B, L, 4] (float32): for a nucleotide in a 6-mer, the
            log-sum-exp of the logits of every 6-mer with letter b at its offset (the log-marginal up to a
            constant); for a tail nucleotide, its single-letter logits.
        """
        assert encoded.offsets is not None
        device = logits.device
        at_tokens = logits.index_select(1, encoded.readout_positions.to(device))  # [B, L, V]
        offsets = encoded.offsets.to(device)
        groups = self._marginal.to(device)[offsets.clamp_min(0)]  # [L, 4, 1024]
        length = len(offsets)
        gathered = torch.gather(
            at_tokens.unsqueeze(2).expand(-1, -1, 4, -1), 3, groups.unsqueeze(0).expand(len(logits), -1, -1, -1)
        )
        marginal = torch.logsumexp(gathered.float(), dim=-1)  # [B, L, 4]
        single = at_tokens.index_select(2, self.letter_token_ids.to(device)).float()
        is_single = (offsets < 0).view(1, length, 1)
        return torch.where(is_single, single, marginal)

    def input_embedding(self) -> nn.Embedding:
        """Always raises `InterpError`: gradients with respect to 6-mer tokens are not per nucleotide."""
        raise InterpError(f"{self.name}: gradients with respect to 6-mer tokens are not per nucleotide; "
                          "use CategoricalJacobian")  # fmt: skip


register_adapter("esm", NucleotideTransformerAdapter, accepts=tokenizes_kmers, name="nucleotide-transformer",
                 priority=PRIORITY["kmer"])  # fmt: skip
