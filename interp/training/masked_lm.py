"""Train a small masked language model on one family's alignment with Lightning: the recipe behind the
embedded default model and `benchmarks/family_training.py`.

Rows keep their gaps as a token and positions are learned (absolute), so a column is a fixed place in the
model's input, as in a Potts model; the query (ungapped in its own columns) is what the explainers read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler
from transformers import EsmConfig, EsmForMaskedLM

from interp.errors import InterpError
from interp.testing.stand_ins import esm_tokenizer


def family_model(
    length: int, *, kind: str = "protein", layers: int = 1, width: int = 64, heads: int = 4, seed: int = 0
) -> tuple[Any, Any]:
    """A fresh, randomly initialised masked language model for one family, and its tokenizer.

    The protein model is a transformers `EsmForMaskedLM` over ESM-2's 33-token vocabulary; kind "rna" builds a
    multimolecule `RnaFmForMaskedLM` (needs the `[rna]` extra) with its `RnaTokenizer`. Both use learned
    absolute positions (room for `length` residues plus special tokens), no dropout and no token dropout,
    and a feed-forward width of 2 * `width`. Nothing is downloaded.

    Args:
        length: the longest sequence (alignment width) the model will read.
        kind: "protein" or "rna" (any value but "rna" builds the protein model).
        layers: the number of transformer layers.
        width: the hidden size.
        heads: the number of attention heads (must divide `width`).
        seed: the seed set on torch's global RNG before the weights are drawn.

    Returns:
        The pair (model, tokenizer); the model is in training mode.
    """
    torch.manual_seed(seed)
    shape: dict[str, Any] = {"hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
             "intermediate_size": 2 * width, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}  # fmt: skip
    if kind == "rna":
        import multimolecule  # optional: the rna extra

        tokenizer = multimolecule.RnaTokenizer()
        config = multimolecule.RnaFmConfig(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            mask_token_id=tokenizer.mask_token_id,
            position_embedding_type="absolute",
            max_position_embeddings=length + 4,
            token_dropout=False,
            **shape,
        )
        return multimolecule.RnaFmForMaskedLM(config), tokenizer
    config = EsmConfig(
        vocab_size=33, pad_token_id=1, mask_token_id=32, position_embedding_type="absolute",
        max_position_embeddings=length + 4, token_dropout=False, emb_layer_norm_before=False, **shape,
    )  # fmt: skip
    return EsmForMaskedLM(config), esm_tokenizer()


def encode_rows(rows: Sequence[str], tokenizer: Any) -> torch.Tensor:
    """Token ids of aligned rows: `<cls>`, one token per letter (the gap '-' included), `<eos>`.

    Letters are looked up in the tokenizer's vocabulary one by one; those without a token become `<unk>`.

    Args:
        rows: aligned rows, all of the same length L (e.g. `FamilyAlignment.rows`).
        tokenizer: a Hugging Face tokenizer whose vocabulary has a '-' token (e.g. from `family_model`).

    Returns:
        A long tensor [N, L + 2] of token ids.

    Raises:
        InterpError: if the tokenizer has no '-' token.
    """
    vocab = tokenizer.get_vocab()
    unknown = tokenizer.unk_token_id
    if "-" not in vocab:
        raise InterpError("the tokenizer has no '-' token for alignment gaps")
    ids = [
        [tokenizer.cls_token_id, *(vocab.get(letter, unknown) for letter in row), tokenizer.eos_token_id]
        for row in rows
    ]
    return torch.tensor(ids, dtype=torch.long)


class MaskedLMModule(pl.LightningModule):
    """Masked-LM training of a Hugging Face model, AdamW with linear warm-up then cosine decay to zero.

    A fraction of residue tokens (never `<cls>`/`<eos>`) is selected; of those, `random_fraction` become a random
    letter from `replacement_ids`, `keep_fraction` stay as they are, the rest become `<mask>` (BERT's 80/10/10
    by default); cross-entropy on all selected ones. The kept and replaced ones matter here: they train
    the logits at visible positions, which is where the categorical Jacobian reads a mutation's effect.

    Batches are 1-tuples `(ids,)` of token rows [B, L + 2] as `alignment_loader` yields them; the loss is
    logged as `train/loss`.

    Args:
        model: a Hugging Face masked LM called as `model(input_ids=...)` and returning `.logits`.
        mask_token_id: the id of the `<mask>` token.
        mask_fraction: the probability that a residue token is selected for the loss, in (0, 1).
        lr: the peak learning rate of AdamW.
        weight_decay: AdamW's weight decay.
        warmup_steps: optimizer steps of linear warm-up to `lr`.
        total_steps: the step at which the cosine decay reaches zero (it stays there after).
        random_fraction: of the selected tokens, the fraction replaced by a random letter.
        keep_fraction: of the selected tokens, the fraction left unchanged.
        replacement_ids: the token ids random replacements draw from (e.g. from `letter_ids`); required when
            `random_fraction` > 0, which it is by default.

    Raises:
        InterpError: if `mask_fraction` is not in (0, 1), `random_fraction` or `keep_fraction` is negative or
            they sum to more than 1, or `random_fraction` > 0 without `replacement_ids`.
    """

    def __init__(
        self,
        model: nn.Module,
        mask_token_id: int,
        *,
        mask_fraction: float = 0.4,
        lr: float = 3e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
        total_steps: int = 3000,
        random_fraction: float = 0.1,
        keep_fraction: float = 0.1,
        replacement_ids: Sequence[int] | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < mask_fraction < 1.0:
            raise InterpError(f"mask_fraction must lie in (0, 1); got {mask_fraction}")
        self.model = model
        self.mask_token_id = mask_token_id
        self.mask_fraction, self.lr, self.weight_decay = mask_fraction, lr, weight_decay
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        if random_fraction < 0 or keep_fraction < 0 or random_fraction + keep_fraction > 1:
            raise InterpError(f"random_fraction {random_fraction} and keep_fraction {keep_fraction} must sum to <= 1")
        if random_fraction > 0 and replacement_ids is None:
            raise InterpError("random_fraction > 0 needs replacement_ids (the token ids of the letters)")
        self.random_fraction, self.keep_fraction = random_fraction, keep_fraction
        ids = torch.as_tensor(replacement_ids if replacement_ids is not None else [], dtype=torch.long)
        self.register_buffer("replacement_ids", ids, persistent=False)

    def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
        """Select, corrupt and predict residue tokens of a batch `(ids,)`; logs and returns the loss."""
        (ids,) = batch
        selected = torch.rand(ids.shape, device=ids.device) < self.mask_fraction
        selected[:, 0] = selected[:, -1] = False
        action = torch.rand(ids.shape, device=ids.device)
        masked = selected & (action >= self.random_fraction + self.keep_fraction)
        inputs = ids.masked_fill(masked, self.mask_token_id)
        replaced = selected & (action < self.random_fraction)
        if bool(replaced.any()):
            replacements = cast(torch.Tensor, self.replacement_ids)  # a registered buffer
            draws = torch.randint(len(replacements), (int(replaced.sum()),), device=ids.device)
            inputs[replaced] = replacements[draws]
        logits = self.model(input_ids=inputs).logits
        loss = nn.functional.cross_entropy(logits[selected], ids[selected])
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> Any:
        """AdamW with a per-step schedule: linear warm-up over `warmup_steps`, then cosine decay to zero."""
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

        def schedule(step: int) -> float:
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
            return 0.5 * (1.0 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def letter_ids(ids: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """The token ids that occur in encoded rows, special tokens left out: what random replacement draws from.

    Args:
        ids: token ids, e.g. [N, L + 2] from `encode_rows`.
        tokenizer: the tokenizer that made them (its `all_special_ids` are left out).

    Returns:
        A sorted 1-D long tensor of the distinct non-special ids (the gap token included if present); pass it
        as `MaskedLMModule(replacement_ids=...)`.
    """
    present = torch.unique(ids)
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    return present[~torch.isin(present, special)]


def alignment_loader(
    ids: torch.Tensor, *, batch_size: int = 64, weights: torch.Tensor | None = None, seed: int = 0
) -> DataLoader:
    """Batches of token rows, drawn with replacement in proportion to `weights` (uniform when None).

    An epoch draws N rows; when there are more rows than `batch_size`, the last incomplete batch is dropped.

    Args:
        ids: token rows [N, L + 2] (e.g. from `encode_rows`).
        batch_size: rows per batch.
        weights: per-row sampling weights [N] (e.g. `FamilyAlignment.weights()`); None draws uniformly.
        seed: the seed of the sampler's generator.

    Returns:
        A DataLoader that yields 1-tuples `(ids,)` of at most `batch_size` rows, as `MaskedLMModule` expects.
    """
    generator = torch.Generator().manual_seed(seed)
    weights = torch.ones(len(ids)) if weights is None else weights
    sampler = WeightedRandomSampler(cast(Any, weights.double()), num_samples=len(ids), replacement=True, generator=generator)
    return DataLoader(TensorDataset(ids), batch_size=batch_size, sampler=sampler, drop_last=len(ids) > batch_size)
