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

from interp.errors import InterpError


def family_model(
    length: int, *, kind: str = "protein", layers: int = 1, width: int = 64, heads: int = 4, seed: int = 0
):
    """(A fresh EsmForMaskedLM with learned positions and no dropout, its ESM-2 tokenizer) for sequences of
    up to `length` residues; kind "rna" builds a multimolecule RNA-FM-shaped model with its RnaTokenizer."""
    torch.manual_seed(seed)
    shape: dict[str, Any] = {"hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
             "intermediate_size": 2 * width, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}  # fmt: skip
    if kind == "rna":
        import multimolecule

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
    from transformers import EsmConfig, EsmForMaskedLM

    from interp.stand_ins import esm_tokenizer

    config = EsmConfig(
        vocab_size=33, pad_token_id=1, mask_token_id=32, position_embedding_type="absolute",
        max_position_embeddings=length + 4, token_dropout=False, emb_layer_norm_before=False, **shape,
    )  # fmt: skip
    return EsmForMaskedLM(config), esm_tokenizer()


def encode_rows(rows: Sequence[str], tokenizer: Any) -> torch.Tensor:
    """Aligned rows -> [N, L + 2] token ids: <cls> letters <eos>, one token per letter ('-' is a token);
    letters without a token become <unk>."""
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

    A fraction of residue tokens (never <cls>/<eos>) is selected; of those, `random_fraction` become a random
    letter from `replacement_ids`, `keep_fraction` stay as they are, the rest become <mask> (BERT's 80/10/10
    by default); cross-entropy on all selected ones. The kept and replaced ones matter here: they train
    the logits at visible positions, which is where the categorical Jacobian reads a mutation's effect.
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
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

        def schedule(step: int) -> float:
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
            return 0.5 * (1.0 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def letter_ids(ids: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """The token ids that occur in encoded rows, special tokens left out: what random replacement draws from."""
    present = torch.unique(ids)
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    return present[~torch.isin(present, special)]


def alignment_loader(
    ids: torch.Tensor, *, batch_size: int = 64, weights: torch.Tensor | None = None, seed: int = 0
) -> DataLoader:
    """Batches of token rows, drawn with replacement in proportion to `weights` (uniform when None)."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.ones(len(ids)) if weights is None else weights
    sampler = WeightedRandomSampler(cast(Any, weights.double()), num_samples=len(ids), replacement=True, generator=generator)
    return DataLoader(TensorDataset(ids), batch_size=batch_size, sampler=sampler, drop_last=len(ids) > batch_size)
