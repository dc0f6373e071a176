"""The adapter's first part: encoding a sequence as the model reads it.

`SequenceEncoding` owns the alphabet and its token ids, the special tokens around a sequence, validation,
chains joined into complexes, the length limit that decides windows, and the mutation table that says
which token to swap for each letter. `Encoded` is what it makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.errors import EmptySequenceError, InterpError, InvalidSequenceError, SequenceTooLongError

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


class SequenceEncoding:
    """Part of every adapter: turns residues into token ids and says where each residue sits among them.

    Its job: the alphabet and each letter's token (`token_ids_for`, `letter_token_ids`), the special tokens
    (`prefix_ids`, `suffix_ids`), the mask token for `unknown="mask"`, validation (`check_sequence`), the
    encoding itself (`encode`; `encode_complex` with `chain_linker_ids`), the length limit explainers split
    windows by (`token_count`, `fits`, `max_length`), and how a residue is mutated (`mutation_table`,
    `letter_groups_for`). It reads `name` (for messages) from the adapter; `Adapter.__init__` sets the
    instance attributes below. A family whose tokenizer is not one token per letter (k-mers, BPE, gLM2's
    strand tokens) overrides `encode` and `mutation_table`; one with another id per letter overrides
    `token_ids_for`.

    Attributes:
        alphabet: the residue letters, in the order of every letter axis.
        causal: True for a causal model: residue i is read off the token before it (`Encoded.readout_positions`).
        letter_aliases: letters read as another letter, e.g. {"T": "U"} for RNA.
        reverse_complement: causal DNA models: the explainers fill the other triangle by a reverse-complement
            pass (so a missing start token is allowed).
        mutation_refusal: why no Jacobian is defined for this family; None when it is.
        prefix_ids: special token ids placed before the residues.
        suffix_ids: special token ids placed after the residues.
        mask_token_id: the mask token's id; None when the family has none.
        max_length: the most residues one forward takes; None for no limit.
        chain_break_token_id: the token placed between chains, if the family has one.
    """

    alphabet: str = PROTEIN_ALPHABET
    causal: bool = False
    letter_aliases: dict[str, str] = {}  # noqa: RUF012 - read-only class default, e.g. {"T": "U"} for RNA
    reverse_complement: bool = False  # causal DNA models: fill the other triangle by a reverse-complement pass
    mutation_refusal: str | None = None  # why no Jacobian is defined for this family (None: it is)
    # set by Adapter.__init__
    name: str
    prefix_ids: list[int]
    suffix_ids: list[int]
    mask_token_id: int | None
    max_length: int | None
    chain_break_token_id: int | None
    _letter_ids: torch.Tensor | None

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

    # --- mutating residues (overridden by k-mer adapters and gLM2) -------------------------------
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
