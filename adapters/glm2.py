"""gLM2 (mixed-modality genomic LM, remote code): proteins in upper case, nucleotides in lower case, each
genomic element opened by a strand token `<+>` or `<->`, e.g. "<+>MKTAYIAK<->atgcgt".

The Jacobian runs over the union alphabet (20 amino acids + a c g t): a residue is mutated only to
letters of its own kind and read only over letters of its kind; each (kind, kind) block is post-processed
on its own (`interp.maps.contacts.grouped_jacobian_to_contacts`). Strand tokens are in the input, never in the map.
"""

from __future__ import annotations

import re
from typing import Any, cast

import torch
from torch import nn

from interp.adapters.base import PROTEIN_ALPHABET, Encoded
from interp.adapters.huggingface import HFTokenAdapter, letter_token_id
from interp.adapters.registry import PRIORITY, register_adapter
from interp.errors import InterpError, InvalidSequenceError

NUCLEOTIDES = "acgt"
STRAND_TOKENS = ("<+>", "<->")
_PIECES = re.compile(r"<\+>|<->|.", re.S)


def tokenizes_glm2(tokenizer: Any) -> bool:
    """Registry check: amino acids, lower-case nucleotides and both strand tokens are single tokens."""
    try:
        return all(letter_token_id(tokenizer, t) is not None for t in (*PROTEIN_ALPHABET, *NUCLEOTIDES, *STRAND_TOKENS))
    except (KeyError, TypeError, AttributeError, ValueError):
        return False


class GLM2Adapter(HFTokenAdapter):
    """gLM2: one token per amino acid or nucleotide, strand tokens before each element.

    Parts changed from `HFTokenAdapter`: `SequenceEncoding` (strand tokens in `check_sequence` and `encode`,
    per-kind `mutation_table` and `letter_groups_for`, no complexes) and `ModelRunner` (`input_embedding` found
    at `glm2.tok_embeddings`).

    Masked. Sequences mix upper-case amino acids and lower-case nucleotides, each element opened by a strand
    token, e.g. "<+>MKTAYIAK<->atgcgt". The alphabet is the union `PROTEIN_ALPHABET + "acgt"`; a residue is
    mutated and read only over letters of its own kind (`letter_groups_for`). Attention weights are re-formed
    from its `scaled_dot_product_attention` calls. Chosen by `get_adapter` for `model_type` "glm2" or "gLM2"
    when the tokenizer holds the amino acids, the lower-case nucleotides and both strand tokens.

    Args:
        model: gLM2's `gLM2ForMaskedLM` (remote code).
        tokenizer: its tokenizer.
        **options: keyword options of `HFTokenAdapter` (`name` defaults to "glm2", `alphabet` to the union).

    Raises:
        InterpError: no tokenizer was given, or it has no single token for a letter of the alphabet.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, **options: Any) -> None:
        options.setdefault("name", "glm2")
        options.setdefault("alphabet", PROTEIN_ALPHABET + NUCLEOTIDES)
        super().__init__(model, tokenizer, **options)
        self._strand_ids = {t: letter_token_id(self.tokenizer, t) for t in STRAND_TOKENS}
        self.letter_groups = [
            torch.arange(len(PROTEIN_ALPHABET)),
            torch.arange(len(PROTEIN_ALPHABET), len(self.alphabet)),
        ]

    def input_embedding(self) -> nn.Embedding:
        """gLM2's remote code has no get_input_embeddings(): its embedding is `glm2.tok_embeddings`."""
        try:
            return super().input_embedding()
        except InterpError:
            for name, module in self.model.named_modules():
                if name.endswith("tok_embeddings") and isinstance(module, nn.Embedding):
                    return module
            raise

    def check_sequence(
        self, sequence: str, *, name: str | None = None, unknown: str = "error", check_length: bool = True
    ) -> str:
        """Checks the residues with the strand tokens `<+>`/`<->` left out; returns the sequence as given."""
        residues = "".join(piece for piece in _PIECES.findall(sequence) if piece not in STRAND_TOKENS)
        super().check_sequence(residues, name=name, unknown=unknown, check_length=check_length)
        return sequence

    def residue_kinds(self, residues: str) -> torch.Tensor:
        """0 for an amino acid, 1 for a nucleotide, per residue.

        Args:
            residues: the residues without strand tokens (`Encoded.sequence`).

        Returns:
            The kind of each residue [L] (long): 0 for an amino acid, 1 for a lower-case nucleotide.
        """
        return torch.tensor([1 if c in NUCLEOTIDES else 0 for c in residues], dtype=torch.long)

    def encode(self, sequence: str, *, name: str | None = None, unknown: str = "error") -> Encoded:
        """Token ids of a gLM2 input, strand tokens included; residue positions skip the strand tokens.

        Args:
            sequence: amino acids (upper case) and nucleotides (lower case), each element opened by `<+>` or
                `<->`, e.g. "<+>MKTAYIAK<->atgcgt".
            name: the record's name, for error messages.
            unknown: "error" refuses letters outside the alphabet; "mask" encodes them as the mask token.

        Returns:
            The token ids [T]; its `sequence` holds the residues alone (no strand tokens), L of them.

        Raises:
            InvalidSequenceError: the sequence holds whitespace or a letter outside the alphabet.
            InterpError: another check of `check_sequence` failed (empty, too long, no mask token).
        """
        pieces = _PIECES.findall(sequence)
        for index, piece in enumerate(pieces):
            if piece not in STRAND_TOKENS and not piece.strip():
                raise InvalidSequenceError(f"sequence {name or ''!r}: whitespace at piece {index + 1}")
        self.check_sequence(sequence, name=name, unknown=unknown)
        lookup = dict(zip(self.alphabet, self.letter_token_ids.tolist(), strict=True))
        body, positions, residues = [], [], []
        for piece in pieces:
            if piece in STRAND_TOKENS:
                body.append(self._strand_ids[piece])
                continue
            positions.append(len(body))
            residues.append(piece)
            body.append(lookup.get(piece, self.mask_token_id))  # unknown='mask' was checked: a mask token exists
        return self._assemble("".join(residues), cast(list[int], body), positions)

    def mutation_table(self, encoded: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """Letters of the residue's own kind; the other kind's slots hold the wild-type token (skipped)."""
        ids = self.letter_token_ids
        wild = encoded.input_ids[encoded.residue_positions]
        kinds = self.residue_kinds(encoded.sequence)
        table = wild[:, None].repeat(1, len(ids))
        for kind, letters in enumerate(self.letter_groups):
            rows = kinds == kind
            table[rows[:, None] & torch.isin(torch.arange(len(ids)), letters)[None, :]] = ids[letters].repeat(
                int(rows.sum())
            )
        return encoded.residue_positions, table

    def letter_groups_for(self, encoded: Encoded) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Two kinds: ([amino-acid residues, nucleotide residues], [letters 0..19, letters 20..23])."""
        kinds = self.residue_kinds(encoded.sequence)
        return [torch.nonzero(kinds == k).flatten() for k in range(2)], list(self.letter_groups)

    def encode_complex(self, chains: Any, **_: Any) -> Encoded:
        """Always raises `InterpError`: write the elements of one gLM2 input with their strand tokens instead."""
        raise InterpError(f"{self.name}: write the elements of a gLM2 input with their strand tokens instead")


for _model_type in ("glm2", "gLM2"):
    register_adapter(_model_type, GLM2Adapter, accepts=tokenizes_glm2, name="glm2", priority=PRIORITY["glm2"])
