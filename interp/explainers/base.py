"""The explainer base class: reads contacts out of a model through its adapter, with Captum's conventions."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

import torch
from torch import nn

from interp.adapters.base import Adapter, Encoded
from interp.adapters.registry import get_adapter
from interp.errors import InsufficientMemoryError, InterpError, NonFiniteOutputError, SequenceTooLongError
from interp.explainers.windows import stitch, window_spans
from interp.maps.contacts import first_nonfinite, grouped_jacobian_to_contacts, jacobian_to_contacts
from interp.maps.prediction import ContactPrediction


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Run the block with the model in eval mode (no dropout), then restore every submodule's own mode."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def available_memory_bytes(device: torch.device) -> int:
    """Free memory on the device: CUDA's free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_finite_output(values: torch.Tensor, what: str, describe: Callable[[int], str] | None = None) -> None:
    """Refuse NaN or infinite model outputs, naming the row (e.g. the mutant) that produced them.

    Checked in blocks of rows (`interp.maps.contacts.first_nonfinite`). The explainers check every output as it
    arrives, so the Jacobian they assemble is not scanned again (`jacobian_to_contacts(checked=True)`).
    """
    bad = first_nonfinite(values)
    if bad is not None:
        where = f" ({describe(bad[0])})" if describe is not None else ""
        raise NonFiniteOutputError(f"the model returned NaN or infinite {what}{where}")


def model_name(model: Any) -> str:
    """The model's name for `ContactPrediction.metadata["model"]`: the checkpoint it was loaded from (a hub id
    such as "facebook/esm2_t6_8M_UR50D", or a local folder's name), else the model's class name."""
    path = str(getattr(getattr(model, "config", None), "_name_or_path", "") or "")
    if not path:
        return type(model).__name__
    if os.path.isabs(path) or os.path.isdir(path):  # a local checkpoint: its folder's name, not the machine's path
        return os.path.basename(os.path.normpath(path)) or path
    return path


def records(inputs: str | list[str], names: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The sequences of one input or a list, and the label each is reported by: its name, else "#1", "#2", ...

    Raises:
        InterpError: `names` does not give one name per sequence.
    """
    sequences = [inputs] if isinstance(inputs, str) else list(inputs)
    if names is not None and len(names) != len(sequences):
        raise InterpError(f"{len(names)} names for {len(sequences)} sequences")
    return sequences, list(names) if names is not None else [f"#{n + 1}" for n in range(len(sequences))]


class Explainer:
    """Base class: `attribute(sequence or list of sequences)` -> ContactPrediction or list of them.

    Captum's conventions (an `attribute()` method, typed results) without subclassing `captum.attr.Attribution`:
    the inputs are sequences, not tensors. To run Captum's own methods through an adapter, see
    `interp.explainers.captum_targets`.

    Every input is validated before any model call, so a bad record fails fast and nothing is half-done.
    A sequence longer than the model takes is split into overlapping windows whose maps are stitched
    (`long_sequences="window"`, with a warning and `metadata["windows"]`/`["covered"]`), or refused
    (`long_sequences="error"`); never truncated. Subclasses implement the per-sequence computation.

    Args:
        model: a model (with `tokenizer`) or an `Adapter`.
        tokenizer: the model's tokenizer (None when `model` is an adapter).
        adapter: an explicit adapter, used instead of detecting one from the model and tokenizer.
        show_progress: show a progress bar over the model calls (where the explainer makes several).
        long_sequences: "window" (split a too-long sequence into overlapping windows and stitch their
            maps; pairs no window holds score 0) or "error" (refuse it).
        window_overlap: the fraction of a window consecutive windows share, in [0, 1).
        memory_limit: bytes a run may use (None: the device's free memory, see `memory_budget`).

    Raises:
        InterpError: `long_sequences` is neither "window" nor "error", or no adapter recognises the model.
    """

    method = "explainer"

    def __init__(
        self,
        model: nn.Module | Adapter,
        tokenizer: Any = None,
        *,
        adapter: Adapter | None = None,
        show_progress: bool = False,
        long_sequences: str = "window",
        window_overlap: float = 0.5,
        memory_limit: int | None = None,
    ) -> None:
        self.adapter = adapter if adapter is not None else get_adapter(model, tokenizer)
        self.show_progress = show_progress
        self.memory_limit = memory_limit
        if long_sequences not in ("window", "error"):
            raise InterpError(f"long_sequences={long_sequences!r}; choose 'window' or 'error'")
        self.long_sequences = long_sequences
        self.window_overlap = window_overlap

    def memory_budget(self) -> int:
        """Bytes a run may use: `memory_limit` when given, else the device's free memory.

        Returns:
            The budget in bytes: `memory_limit`, or the free memory of the adapter's device (CUDA's free
            memory on a GPU, the host's MemAvailable on a CPU), read at the time of the call.
        """
        return self.memory_limit if self.memory_limit is not None else available_memory_bytes(self.adapter.device)

    def _require_mutations(self) -> None:
        """Jacobian explainers call this: some families (BPE tokens) define no per-residue mutation."""
        if self.adapter.mutation_refusal:
            raise InterpError(
                f"{self.adapter.name}: {type(self).__name__} is not available: {self.adapter.mutation_refusal}"
            )

    @overload
    def attribute(
        self, inputs: tuple[str, ...], *, names: Sequence[str] | None = None, unknown: str = "error"
    ) -> ContactPrediction: ...

    @overload
    def attribute(self, inputs: str, *, names: Sequence[str] | None = None, unknown: str = "error") -> ContactPrediction: ...

    @overload
    def attribute(
        self, inputs: list[str], *, names: Sequence[str] | None = None, unknown: str = "error"
    ) -> list[ContactPrediction]: ...

    def attribute(
        self,
        inputs: str | list[str] | tuple[str, ...],
        *,
        names: Sequence[str] | None = None,
        unknown: str = "error",
    ) -> ContactPrediction | list[ContactPrediction]:
        """Contact maps for one sequence, a list of sequences, or one complex.

        Args:
            inputs: a sequence (one prediction), a list of sequences (a list of predictions), or a tuple of
                chains (one complex: chains joined by the family's linker, one full map with chain boundaries).
            names: record names, one per sequence (errors and predictions carry them).
            unknown: "error" refuses letters outside the alphabet; "mask" puts the mask token there.

        Returns:
            A `ContactPrediction`, or a list of them for a list input.

        Raises:
            InterpError: a record is invalid (named, with the position), too long with long_sequences="error",
                or would not fit in memory; every record is checked before any model call.

        Example:
            >>> from interp import CategoricalJacobian
            >>> from interp.testing.stand_ins import esm_model
            >>> model, tokenizer = esm_model("tiny")
            >>> CategoricalJacobian(model, tokenizer).attribute("MKTAYIAKQR").contacts.shape
            torch.Size([10, 10])
        """
        if isinstance(inputs, tuple):  # one complex: chains joined by the family's linker
            return self._explain_complex(inputs, name=None if names is None else names[0], unknown=unknown)
        single = isinstance(inputs, str)
        sequences, labels = records(inputs, names)
        # every record checked (once: encoding checks it) before any model call
        prepared = [self._prepare(seq, label, unknown) for seq, label in zip(sequences, labels, strict=True)]
        with eval_mode(self.adapter.model):
            results = [
                self._explain_any_length(item, label, None if names is None else label, unknown)
                for item, label in zip(prepared, labels, strict=True)
            ]
        return results[0] if single else results

    def _prepare(self, sequence: str, label: str, unknown: str) -> Encoded | str:
        """The record encoded (which checks it), or, where it is longer than the model takes and is computed in
        windows, the sequence after the checks of its letters (each window is encoded when it runs)."""
        try:
            return self.adapter.encode(sequence, name=label, unknown=unknown)
        except SequenceTooLongError:
            if self.long_sequences != "window":
                raise
        self.adapter.check_sequence(sequence, name=label, unknown=unknown, check_length=False)
        return sequence

    def _explain_any_length(self, item: Encoded | str, label: str, name: str | None, unknown: str) -> ContactPrediction:
        """One record; beyond the model's maximum length, overlapping windows stitched (interp.explainers.windows)."""
        try:
            if isinstance(item, Encoded):
                return self._explain(item, name)
            return self._explain_windows(item, label, name, unknown)
        except (NonFiniteOutputError, InsufficientMemoryError) as error:  # reported with the record's name
            raise type(error)(f"sequence {label!r}: {error}") from None

    def _explain_windows(self, sequence: str, label: str, name: str | None, unknown: str) -> ContactPrediction:
        limit = self.adapter.max_length
        assert limit is not None  # only sequences that do not fit come here
        if getattr(self, "effects", False):  # a window's scores would read the sequence without its other residues
            raise InterpError(f"sequence {label!r} has {len(sequence)} residues, more than {self.adapter.name}'s "
                              f"{limit}: mutation effects are read over the whole sequence, not in windows")  # fmt: skip
        spans = window_spans(len(sequence), limit, self.window_overlap)
        warnings.warn(
            f"sequence {label!r} has {len(sequence)} residues, more than {self.adapter.name}'s {limit}: "
            f"computed in {len(spans)} overlapping windows and stitched (pairs no window holds score 0)",
            stacklevel=3,
        )
        parts = [
            self._explain(self.adapter.encode(sequence[s:e], name=f"{label}[{s + 1}-{e}]", unknown=unknown), name)
            for s, e in spans
        ]
        contacts, covered = stitch(len(sequence), spans, [p.contacts for p in parts])
        metadata = {**parts[0].metadata, "windows": spans, "covered": covered}
        prediction = ContactPrediction(sequence, parts[0].method, contacts, name=name, metadata=metadata)
        layers = [p.layer_contacts for p in parts if p.layer_contacts is not None]
        if len(layers) == len(parts):  # each layer's maps stitched as the map is
            prediction.layer_contacts = torch.stack([
                stitch(len(sequence), spans, [part[n] for part in layers])[0] for n in range(len(layers[0]))
            ])  # fmt: skip
        return prediction

    def _explain_complex(self, chains: tuple[str, ...], *, name: str | None, unknown: str) -> ContactPrediction:
        """The full map of several chains; `metadata["chain_boundaries"]` holds [0, L1, L1 + L2, ...]."""
        encoded = self.adapter.encode_complex(list(chains), name=name, unknown=unknown)
        with eval_mode(self.adapter.model):
            pred = self._explain(encoded, name)
        bounds = [0]
        for chain in chains:
            bounds.append(bounds[-1] + len(chain))
        pred.metadata["chain_boundaries"] = bounds
        return pred

    def _explain(self, encoded: Encoded, name: str | None) -> ContactPrediction:
        raise NotImplementedError

    def _needs_both_strands(self) -> bool:
        """Causal DNA models: one pass fills one triangle, a reverse-complement pass the other."""
        return self.adapter.causal and self.adapter.reverse_complement

    def _strand_jacobian(self, encoded: Encoded, jacobian: Callable[[Encoded], torch.Tensor]) -> torch.Tensor:
        """The Jacobian of both strands where the family needs them, else of the sequence as written."""
        return self._both_strands(encoded, jacobian) if self._needs_both_strands() else jacobian(encoded)

    def _both_strands(self, encoded: Encoded, jacobian: Callable[[Encoded], torch.Tensor]) -> torch.Tensor:
        """A causal DNA model: the forward pass fills q > p, the reverse complement's pass fills q < p.

        J_rc[L-1-p, comp(a), L-1-q, comp(b)] is the effect of a at p on b at q, read on the other strand.
        """
        forward = jacobian(encoded)
        complement = str.maketrans("ACGT", "TGCA")
        reverse = encoded.sequence.translate(complement)[::-1]
        backward = jacobian(self.adapter.encode(reverse))
        letter_flip = torch.tensor([self.adapter.alphabet.index(c) for c in self.adapter.alphabet.translate(complement)])
        mapped = backward.flip(0, 2).index_select(1, letter_flip.to(backward.device))
        if mapped.shape[3] == len(letter_flip):
            mapped = mapped.index_select(3, letter_flip.to(backward.device))
        return forward + mapped

    def _jacobian_prediction(
        self, encoded: Encoded, jac: torch.Tensor, name: str | None, keep_jacobian: bool
    ) -> ContactPrediction:
        """Post-process a raw Jacobian (in place, so no second copy unless it is kept) into a prediction.

        Every model output in `jac` was checked for NaN as it arrived (`check_finite_output`), so the reduction
        does not scan the whole tensor again (the map it gives is still checked).
        """
        if not bool(jac.any()):  # no |J| temporary: a Jacobian can be most of the memory budget
            raise InterpError(
                f"{self.adapter.name}: {type(self).__name__} found the model's outputs independent of every residue "
                "(an all-zero Jacobian): the model does not read the input this adapter writes"
            )
        kept = jac.clone().cpu() if keep_jacobian else None
        groups = self.adapter.letter_groups_for(encoded)
        if groups is None:
            contacts = jacobian_to_contacts(jac, inplace=True, checked=True).float().cpu()
        else:  # a union of alphabets: each (kind, kind) block post-processed on its own
            residues, letters = (tuple(g.to(jac.device) for g in group) for group in groups)
            contacts = grouped_jacobian_to_contacts(jac, list(residues), list(letters), checked=True).float().cpu()
        return ContactPrediction(
            sequence=encoded.sequence,
            method=self.method,
            contacts=contacts,
            jacobian=kept,
            name=name,
            metadata={"adapter": self.adapter.name, "model": model_name(self.adapter.model)},
        )
