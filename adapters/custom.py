"""Wrap any `nn.Module` that maps token ids [B, T] to logits [B, T, V], given its alphabet explicitly."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from interp.adapters.base import Adapter, ForwardOutput
from interp.errors import InterpError


class CustomAdapter(Adapter):
    """An adapter for a model of your own, given its alphabet explicitly.

    Parts changed from `Adapter`: `SequenceEncoding` (`token_ids_for` from `token_ids`) and `ModelRunner`
    (`_run`: `module(input_ids)`; `input_embedding`: the one given or the module's first).

    The module is called as `module(input_ids)` with ids [B, T] and may return the logits [B, T, V] as a
    tensor, a tuple whose first item is the logits, or an object with `.logits` (and `.attentions` when called
    with `output_attentions=True`, `.hidden_states` with `output_hidden_states=True`). Pass the adapter to any
    explainer in place of the model.

    Args:
        module: the model: token ids [B, T] -> logits [B, T, V].
        alphabet: the residue letters, in the order of every letter axis (e.g. `PROTEIN_ALPHABET`, "ACGU").
        token_ids: letter -> token id for every letter of the alphabet; None: the letters are ids 0..A-1 in
            alphabet order.
        bos_token_id: a token id added before the residues; None for none.
        eos_token_id: a token id added after the residues; None for none.
        mask_token_id: the mask token's id (needed for `unknown="mask"`); None for none.
        causal: True when logits at token t predict token t+1 (then residue i is read off the token before it,
            and a `bos_token_id` is needed).
        max_length: the most residues one forward takes; None for no limit.
        embedding: the input embedding, for the gradient Jacobian; None: the module's first `nn.Embedding`.
        name: a label for messages.

    Raises:
        InterpError: the alphabet is empty or repeats a letter, or `token_ids` lacks a letter.

    Example:
        >>> import torch
        >>> from interp.adapters import CustomAdapter
        >>> module = torch.nn.Sequential(torch.nn.Embedding(5, 8), torch.nn.Linear(8, 5))  # ids -> logits
        >>> adapter = CustomAdapter(module, alphabet="ACGU", mask_token_id=4)
        >>> adapter
        CustomAdapter(custom, masked, alphabet='ACGU')
        >>> encoded = adapter.encode("GAUUACA")
        >>> encoded.input_ids.tolist()
        [2, 0, 3, 3, 0, 1, 0]
        >>> adapter.forward(encoded.input_ids[None]).logits.shape
        torch.Size([1, 7, 5])
    """

    def __init__(
        self,
        module: nn.Module,
        alphabet: str,
        *,
        token_ids: Mapping[str, int] | None = None,
        bos_token_id: int | None = None,
        eos_token_id: int | None = None,
        mask_token_id: int | None = None,
        causal: bool = False,
        max_length: int | None = None,
        embedding: nn.Embedding | None = None,
        name: str = "custom",
    ) -> None:
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise InterpError(f"alphabet must be non-empty letters without repeats; got {alphabet!r}")
        self.alphabet = alphabet
        self.causal = causal
        self.name = name
        self._token_ids = dict(token_ids) if token_ids is not None else {c: i for i, c in enumerate(alphabet)}
        missing = [c for c in alphabet if c not in self._token_ids]
        if missing:
            raise InterpError(f"token_ids has no id for letters {missing}")
        self._embedding = embedding
        super().__init__(
            module,
            prefix_ids=[] if bos_token_id is None else [bos_token_id],
            suffix_ids=[] if eos_token_id is None else [eos_token_id],
            mask_token_id=mask_token_id,
            max_length=max_length,
        )

    def token_ids_for(self, letter: str) -> int:
        """The id `token_ids` gives the letter (by default its index in the alphabet)."""
        return int(self._token_ids[letter])

    def input_embedding(self) -> nn.Embedding:
        """The embedding passed as `embedding=`, else the module's first `nn.Embedding`.

        Returns:
            The module that maps token ids to vectors (the gradient Jacobian hooks it).

        Raises:
            InterpError: no `embedding=` was passed and the module holds no `nn.Embedding`.
        """
        if self._embedding is not None:
            return self._embedding
        for module in self.model.modules():
            if isinstance(module, nn.Embedding):
                return module
        raise InterpError(f"{self.name}: no nn.Embedding found; pass embedding= to CustomAdapter")

    def _run(self, input_ids: torch.Tensor, *, output_attentions: bool, output_hidden_states: bool) -> ForwardOutput:
        return self._call_model(
            self.model, input_ids, keyword=False, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )  # fmt: skip
