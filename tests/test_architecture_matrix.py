"""The conformance matrix over transformers' own architectures: every model type of the masked-LM and causal-LM
auto mappings, built tiny with random weights (tests/architecture_matrix.py) and given a per-letter protein
tokenizer saved and reloaded with `AutoTokenizer`, goes through `get_adapter` with no registration.

Per (architecture, explainer) the outcome is one of:
- ok: the categorical Jacobian equals an independent mutate-and-forward loop over the tokenizer's own layout,
  read as the model measurably is (causal or not); the gradient Jacobian and the attention readout run and
  return a finite, symmetric, non-zero map;
- refused: a typed `InterpError` that says why;
- skipped: the tiny model cannot be built or run here (the reason is recorded);
- untyped: any other exception (a defect);
- silent: a result that is wrong (a Jacobian unlike the loop, a causal model read as masked or the reverse, an
  all-zero or non-finite map) (a defect).
The test fails on untyped and silent cells. Set INTERP_MATRIX_RESULTS=path.json to record every cell;
`benchmarks/architecture_table.py` turns the records of each transformers version into the table of
docs/families.md.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import architecture_matrix as am
import pytest
import torch
import transformers

from interp.adapters import get_adapter
from interp.errors import InterpError
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian

EXPLAINERS = ("categorical", "gradient", "attention")
CASES = [(head, model_type) for head in am.HEADS for model_type in am.architectures(head)]
RECORDS: list[dict[str, str]] = []
DEFECTS = ("untyped", "silent")


def _record(head: str, model_type: str, class_name: str, explainer: str, outcome: str, detail: str = "") -> None:
    RECORDS.append({
        "head": head, "model_type": model_type, "class": class_name, "explainer": explainer, "outcome": outcome,
        "detail": detail, "transformers": transformers.__version__,
    })  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _write_records():
    yield
    target = os.environ.get("INTERP_MATRIX_RESULTS")
    if target and RECORDS:
        Path(target).write_text(json.dumps(RECORDS, indent=1))


def _check_map(contacts: torch.Tensor, length: int) -> str | None:
    """Why a contact map cannot be right, or None."""
    if tuple(contacts.shape) != (length, length):
        return f"map of shape {tuple(contacts.shape)} for {length} residues"
    if not bool(torch.isfinite(contacts).all()):
        return "non-finite values in the map"
    if not bool(contacts.any()):
        return "an all-zero map"
    if not torch.allclose(contacts, contacts.T, atol=1e-6):
        return "an asymmetric map"
    return None


def _categorical(built: am.Built, adapter, causal: bool) -> tuple[str, str]:
    if adapter.causal != causal:
        kind = "causal" if causal else "masked (bidirectional)"
        return "silent", f"the model is {kind} but the adapter reads it as {'causal' if adapter.causal else 'masked'}"
    prediction = CategoricalJacobian(adapter, keep_jacobian=True).attribute(am.SEQUENCE)
    reference = am.naive_jacobian(built, am.SEQUENCE, causal)
    error = float((prediction.jacobian.double() - reference).abs().max())
    scale = float(reference.abs().max())
    if error > 1e-5 * max(scale, 1.0):
        return "silent", f"differs from the naive loop by {error:.2e} (largest entry {scale:.2e})"
    problem = _check_map(prediction.contacts, len(am.SEQUENCE))
    return ("silent", problem) if problem else ("ok", f"equal to the naive loop within {error:.1e}")


def _runs(explainer_class, adapter) -> tuple[str, str]:
    prediction = explainer_class(adapter).attribute(am.SEQUENCE)
    problem = _check_map(prediction.contacts, len(am.SEQUENCE))
    return ("silent", problem) if problem else ("ok", "runs: finite, symmetric, non-zero map")


@pytest.mark.parametrize(("head", "model_type"), CASES, ids=[f"{h}-{t}" for h, t in CASES])
def test_architecture(head: str, model_type: str) -> None:
    with am.memory_cap():
        try:
            built = am.build(model_type, head)
        except am.NotBuildableError as reason:
            _skip(head, model_type, "", str(reason))
        except Exception as error:
            if not am.out_of_memory(error):
                raise
            _skip(head, model_type, "", f"needs more than {am.MEMORY_CAP >> 30} GiB at the harness's tiny sizes")
        outcomes = _explain(built)
    if any(am.out_of_memory(Exception(detail)) for _, detail in outcomes.values()):
        _skip(head, model_type, built.class_name, f"needs more than {am.MEMORY_CAP >> 30} GiB at the harness's sizes")
    for explainer, (outcome, detail) in outcomes.items():
        _record(head, model_type, built.class_name, explainer, outcome, detail)
    defects = {explainer: value for explainer, value in outcomes.items() if value[0] in DEFECTS}
    assert not defects, f"{built.class_name}: {defects}"


def _skip(head: str, model_type: str, class_name: str, reason: str) -> None:
    for explainer in EXPLAINERS:
        _record(head, model_type, class_name, explainer, "skipped", reason)
    pytest.skip(f"{model_type}: {reason}")


def _explain(built: am.Built) -> dict[str, tuple[str, str]]:
    """Each explainer's (outcome, detail) on one built architecture."""
    outcomes: dict[str, tuple[str, str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            adapter = get_adapter(built.model, built.tokenizer)
        except InterpError as error:
            adapter, outcomes = None, dict.fromkeys(EXPLAINERS, ("refused", str(error)))
        except Exception as error:
            adapter, outcomes = None, dict.fromkeys(EXPLAINERS, ("untyped", f"{type(error).__name__}: {error}"))
        if adapter is not None:
            causal = am.is_causal(built, am.SEQUENCE)
            checks = {
                "categorical": lambda: _categorical(built, adapter, causal),
                "gradient": lambda: _runs(GradientJacobian, adapter),
                "attention": lambda: _runs(AttentionReadout, adapter),
            }
            for explainer, check in checks.items():
                try:
                    outcomes[explainer] = check()
                except InterpError as error:
                    outcomes[explainer] = ("refused", str(error))
                except Exception as error:
                    outcomes[explainer] = ("untyped", f"{type(error).__name__}: {error}")
    return outcomes
