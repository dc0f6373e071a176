"""Masked-residue recovery of the pretrained antibody models on the antibody panel: a sanity figure for their weights.

    python -m interp.benchmarks.pretrained_recovery --out docs/results

Each residue of each chain is masked in turn (one forward per residue, the rest of the chain as it is) and the
model's most likely letter among the 20 amino acids is compared with the true one. AntiBERTy reads every chain of
the panel, Sapiens-heavy the heavy chains (nanobodies included), Sapiens-light the light chains. Random weights
recover about 1/20 = 0.05. Writes `pretrained_recovery.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from interp.adapters.base import PROTEIN_ALPHABET as AMINO_ACIDS
from interp.benchmarks.common import default_results_dir, machine, markdown_table
from interp.files.io import atomic_write

PANELS = {"antiberty": "antibody", "sapiens-heavy": "antibody-heavy", "sapiens-light": "antibody-light"}


def masked_recovery(model: Any, tokenizer: Any, sequence: str) -> float:
    """Fraction of residues whose true letter is the model's top letter with that residue alone masked.

    Args:
        model: a masked LM whose tokenizer puts one start token before the residues, one token per residue.
        tokenizer: its tokenizer (letters spaced where it is a WordPiece tokenizer, as AntiBERTy's runner does).
        sequence: the chain, 20 standard amino acids.

    Returns:
        The recovered fraction, in [0, 1].
    """
    text = " ".join(sequence) if type(tokenizer).__name__.startswith("Bert") else sequence
    ids = torch.tensor(tokenizer(text)["input_ids"])
    if len(ids) != len(sequence) + 2:
        raise ValueError(f"expected one token per residue plus two special tokens; got {len(ids)} for {len(sequence)}")
    letter_ids = torch.tensor(tokenizer.convert_tokens_to_ids(list(AMINO_ACIDS)))
    rows = torch.arange(len(sequence))
    masked = ids.repeat(len(sequence), 1)
    masked[rows, rows + 1] = tokenizer.mask_token_id
    with torch.no_grad():
        logits = torch.cat([model(input_ids=masked[s : s + 64]).logits for s in range(0, len(sequence), 64)])
    best = logits[rows, rows + 1][:, letter_ids].argmax(-1)
    truth = torch.tensor([AMINO_ACIDS.index(letter) for letter in sequence])
    return float((best == truth).double().mean())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure every model on its chains; print and write the table."""
    from interp.models.loading import load_model
    from interp.structures.panel import load_panel

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=default_results_dir())
    args = parser.parse_args(argv)
    rows, per_chain = [], {}
    for name, panel_name in PANELS.items():
        model, tokenizer = load_model(name)
        panel = load_panel(panel_name)
        scores = {entry.name: masked_recovery(model, tokenizer, entry.sequence) for entry in panel}
        per_chain[name] = scores
        rows.append({"model": name, "panel": panel_name, "chains": len(scores),
                     "mean_recovery": statistics.mean(scores.values()), "min_recovery": min(scores.values()),
                     "max_recovery": max(scores.values())})  # fmt: skip
    payload = {"machine": machine(), "summary": rows, "per_chain": per_chain}
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "pretrained_recovery.json") as handle:
        json.dump(payload, handle, indent=1)
    table = markdown_table(rows, ["model", "panel", "chains", "mean_recovery", "min_recovery", "max_recovery"])
    text = "# Masked-residue recovery on the antibody panel\n\n" + table + "\n"
    with atomic_write(args.out / "pretrained_recovery.md") as handle:
        handle.write(text)
    print(text)
    return payload


if __name__ == "__main__":
    main()
