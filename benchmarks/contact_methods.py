"""The explainers `interp benchmark contacts` compares, and how each is prepared on the calibration proteins.

Every method is one explainer whose `attribute(sequence)` gives a contact map. Three of them are fitted first, on
the calibration proteins only (which are then left out of every method's scores):
- `attention-top-k`: the k heads ranked best on labelled proteins (default rule: the attention paper's, long-range
  P@L/2, pairs with j - i >= 24);
- `attention-logistic`: an L1-penalised logistic regression over all heads (ESM's contact-head recipe);
- `attention-calibrated`: the k heads that agree best with the categorical Jacobian (no structures used).
`esm-head` applies the model's own trained contact head (ESM-2's `esm.contact_head`), where it has one: only where
the checkpoint's weight files carry `contact_head` weights (`untrained_contact_head`), and never on the embedded
default model, whose head is in its file but was never trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.errors import InterpError
from interp.methods import benchmark_variants

BENCHMARK_METHODS: dict[str, str] = {name: variant.summary for name, (_, variant) in benchmark_variants().items()}
CALIBRATED = tuple(name for name, (_, variant) in benchmark_variants().items() if variant.fitted)


@dataclass(frozen=True)
class HeadRule:
    """How `attention-top-k` ranks heads: mean P@`k` over pairs with j - i >= `min_separation`.

    Attributes:
        k: "L", "L/2", "L/5" or a number of pairs.
        min_separation: the smallest sequence separation scored.
    """

    k: str = "L/2"
    min_separation: int = 24

    @classmethod
    def parse(cls, text: str) -> HeadRule:
        """Read "L/2@24" (P@L/2 at separation >= 24)."""
        k, _, separation = text.partition("@")
        if not k or not separation.isdigit():
            raise InterpError(f"head rule {text!r}: write it as K@SEPARATION, e.g. L/2@24")
        return cls(k=k, min_separation=int(separation))


def check_methods(names: Sequence[str]) -> list[str]:
    """The methods asked for, in the table's order; unknown names are an InterpError listing the known ones."""
    unknown = [name for name in names if name not in BENCHMARK_METHODS]
    if unknown:
        raise InterpError(f"unknown method(s) {unknown}; choose from {list(BENCHMARK_METHODS)}")
    return [name for name in BENCHMARK_METHODS if name in names]


def build_explainer(method: str, model: Any, tokenizer: Any, *, options: dict[str, Any]) -> Any:
    """An unfitted explainer for one benchmark method (a declared method with its variant's options).

    `options`: `memory_limit` (bytes, every explainer) and `batch_size` (the categorical Jacobians); each method
    keeps those it declares, and None values leave an explainer's own default.
    """
    declared, variant = benchmark_variants()[method]
    explainer = declared.build(model, tokenizer, **variant.options, **options)  # no contact head: InterpError
    if variant.options.get("combiner") == "esm_head":
        reason = untrained_contact_head(model)
        if reason is not None:
            raise InterpError(reason)
    return explainer


CONTACT_HEAD_KEY = "contact_head."
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def checkpoint_keys(source: str) -> set[str] | None:
    """The tensor names in a checkpoint's weight files, without loading a tensor.

    Args:
        source: a local model folder, or a Hub name whose files are in the local Hugging Face cache (as they are
            once `load_model` has read them; nothing is downloaded).

    Returns:
        The names from `model.safetensors`, `pytorch_model.bin` or their sharded indexes; None when no weight
        file is found.
    """
    from safetensors import safe_open

    folder = Path(source)
    found: list[Path] = []
    for name in WEIGHT_FILES:
        if folder.is_dir():
            path = folder / name
            if path.is_file():
                found.append(path)
            continue
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, name)
        except Exception:  # not a valid repository name, or no cache: nothing to read
            cached = None
        if isinstance(cached, str):
            found.append(Path(cached))
    if not found:
        return None
    keys: set[str] = set()
    for path in found:
        if path.name.endswith(".index.json"):
            keys.update(json.loads(path.read_text()).get("weight_map", {}))
        elif path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                keys.update(handle.keys())
        else:
            import torch

            keys.update(torch.load(path, map_location="cpu", weights_only=True, mmap=True))
    return keys


def untrained_contact_head(model: Any) -> str | None:
    """Why `esm-head` must not run on this model, or None where its contact head was trained.

    transformers gives every `EsmForMaskedLM` a contact head, randomly initialised where the checkpoint has none,
    so the head counts as trained only where the checkpoint's own weight files carry `contact_head` weights (the
    released ESM-2 checkpoints do). The embedded default model's file carries them too, but that model was trained
    on masked-LM loss alone, so its head never was.

    Args:
        model: the loaded model; `model.config._name_or_path` names the folder or Hub name it was read from.

    Returns:
        The reason, for the summary's "Not available on this model" list; None where the head may be used.
    """
    from interp.models.embedded_model import DEFAULT_MODEL_DIR

    source = str(getattr(model.config, "_name_or_path", "") or "")
    if not source:
        return "the model does not name the checkpoint it was read from, so its contact head cannot be told trained"
    if Path(source).is_dir() and Path(source).resolve() == DEFAULT_MODEL_DIR.resolve():
        return ("the embedded default model was trained on masked-LM loss only: its contact head is untrained "
                "(randomly initialised weights saved with the model)")  # fmt: skip
    keys = checkpoint_keys(source)
    if keys is None:
        return f"{source}: no weight file found to tell whether its contact head was trained"
    if not any(CONTACT_HEAD_KEY in key for key in keys):
        return (f"{source}: its checkpoint carries no contact_head weights, so the model's contact head is "
                "untrained (initialised randomly on loading)")  # fmt: skip
    return None


@dataclass(frozen=True)
class CroppedTruth:
    """True contacts of a protein's first residues (what `true_contacts` reads: `.contacts` and `.resolved`)."""

    contacts: Any
    resolved: Any


def fitting_data(calibration: Sequence[Any], adapter: Any) -> tuple[list[str], list[Any], list[str]]:
    """(sequences, truths, names of the cropped proteins) for fitting heads.

    Head maps come from one forward, so a calibration protein longer than the model takes is cropped to its first
    `adapter.max_length` residues (its true map cropped alike); windows would average heads across forwards.
    """
    limit = adapter.max_length
    sequences, truths, cropped = [], [], []
    for entry in calibration:
        if limit is None or len(entry.sequence) <= limit:
            sequences.append(entry.sequence)
            truths.append(entry.truth)
            continue
        sequences.append(entry.sequence[:limit])
        truths.append(CroppedTruth(entry.truth.contacts[:limit, :limit], entry.truth.resolved[:limit]))
        cropped.append(entry.name)
    return sequences, truths, cropped


def heads_to_keep(adapter: Any, top_k: int | None) -> int:
    """`top_k`, or by default 16 heads, at most a quarter of the model's (a small model's 8 heads give 2)."""
    if top_k is not None:
        return top_k
    shape = adapter.shape
    return max(1, min(16, shape.layers * shape.heads // 4))


def prepare(
    method: str,
    explainer: Any,
    calibration: Sequence[Any],
    *,
    top_k: int | None,
    rule: HeadRule,
    saved: Path,
) -> Any:
    """Fit a calibrated method on the calibration panel entries, or reload what an earlier run fitted.

    Args:
        method: the method name.
        explainer: its explainer from `build_explainer`.
        calibration: panel entries (`.sequence`, `.truth`) used for fitting and never scored.
        top_k: how many heads the top-k and calibrated readouts keep (None: `heads_to_keep`'s default).
        rule: how top-k ranks heads.
        saved: the JSON file the fitted combiner is written to (and read back from on resume).

    Returns:
        The explainer, ready for `attribute`. Calibration proteins longer than the model takes are fitted on
        their first residues (`fitting_data`).

    Raises:
        InterpError: a calibrated method with no calibration proteins.
    """
    if method not in CALIBRATED:
        return explainer
    if saved.is_file():
        return explainer.load(saved)
    if not calibration:
        raise InterpError(f"{method} is fitted on calibration proteins: give --calibration N with N >= 1")
    sequences, truths, _ = fitting_data(calibration, explainer.adapter)
    top_k = heads_to_keep(explainer.adapter, top_k)
    combiner = benchmark_variants()[method][1].options["combiner"]
    if combiner == "top_k":
        explainer.fit(sequences, truths, k=top_k, combiner="top_k", rank_by=rule.k, min_separation=rule.min_separation)
    elif combiner == "logistic":
        explainer.fit(sequences, truths, combiner="logistic")
    else:
        explainer.calibrate(sequences, k=top_k)
    saved.parent.mkdir(parents=True, exist_ok=True)
    explainer.save(saved)
    return explainer


def describe_fit(saved: Path) -> dict[str, Any]:
    """What a fitted combiner file holds, for the summary (heads chosen, or the number of weights)."""
    data = json.loads(saved.read_text())
    if "heads" in data:
        return {"kind": data["kind"], "heads": data["heads"]}
    return {"kind": data["kind"], "weights": len(data.get("weights", []))}
