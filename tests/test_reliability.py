"""Reliability: memory guards, determinism, reduced-precision tolerances, non-finite outputs, safe loading."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.adapters import get_adapter
from interp.errors import InsufficientMemoryError, InterpError, NonFiniteOutputError
from interp.explainers import AttentionReadout, CategoricalJacobian, GradientJacobian
from interp.explainers.memory import JacobianPlan, activation_bytes_per_sequence
from interp.models.embedded_model import default_model, default_target
from interp.testing.stand_ins import esm_model

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRLTMLLLQLPHIGQVQCGVWPAACRESVPALL"


@pytest.fixture(scope="module")
def tiny():
    return esm_model("tiny", seed=3)


@pytest.fixture(scope="module")
def trained():
    return default_model()


@contextlib.contextmanager
def counting_forwards(model):
    """The model's forward calls inside the block (a list that grows by one per call)."""
    calls = []
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def test_keep_jacobian_beyond_the_budget_is_refused_with_an_option_that_fits(tiny):
    model, tokenizer = tiny
    sequence = SEQ[:60]
    per_sequence = activation_bytes_per_sequence(get_adapter(model, tokenizer), 62)  # 60 residues + 2 specials
    plan = JacobianPlan(length=60, substitutions=20, width=20, copies=1, batch_size=4, per_sequence=per_sequence)
    budget = plan.needed_bytes + plan.buffer_bytes // 2  # one buffer and the batches fit, two buffers do not
    with counting_forwards(model) as calls:
        with pytest.raises(InsufficientMemoryError, match=r"sequence '#1'.*keep_jacobian=False") as error:
            CategoricalJacobian(model, tokenizer, keep_jacobian=True, batch_size=4, memory_limit=budget).attribute(
                sequence
            )
        assert calls == [], "refused only after running the model"
    assert "[60, 20, 60, 20]" in str(error.value) and "free on cpu" in str(error.value)
    # the option the message names runs within the same budget and gives the usual map
    lean = CategoricalJacobian(model, tokenizer, batch_size=4, memory_limit=budget).attribute(sequence)
    free = CategoricalJacobian(model, tokenizer, batch_size=4).attribute(sequence)
    assert torch.equal(lean.contacts, free.contacts)


def test_a_long_sequence_is_refused_before_any_forward_with_the_settings_that_fit(tiny):
    model, tokenizer = tiny
    with counting_forwards(model) as calls:
        with pytest.raises(InsufficientMemoryError) as error:
            CategoricalJacobian(model, tokenizer, memory_limit=10**8).attribute(SEQ * 2)
        assert calls == []
    message = str(error.value)
    assert f"length {len(SEQ) * 2}" in message
    assert "fast=True" in message and "windows of at most" in message and "AttentionReadout" in message
    fast = CategoricalJacobian(model, tokenizer, fast=True, memory_limit=10**8).attribute(SEQ * 2)
    assert fast.contacts.shape == (len(SEQ) * 2, len(SEQ) * 2)  # the first option runs within the budget
    fits = int(message.split("windows of at most ")[1].split()[0])
    window = CategoricalJacobian(model, tokenizer, batch_size=1, memory_limit=10**8)
    window.check_memory(window.adapter.encode(SEQ[:fits]))  # the window it names passes the same guard
    with pytest.raises(InsufficientMemoryError, match="GradientJacobian"):
        GradientJacobian(model, tokenizer, memory_limit=10**8).attribute(SEQ * 2)


def test_an_attention_readout_too_large_for_the_budget_is_refused_before_the_forward(tiny):
    model, tokenizer = tiny
    with counting_forwards(model) as calls:
        with pytest.raises(InsufficientMemoryError, match=r"sequence 'long'.*windows of at most \d+ residues"):
            AttentionReadout(model, tokenizer, memory_limit=10**7).attribute([SEQ], names=["long"])
        assert calls == []
    assert AttentionReadout(model, tokenizer, memory_limit=10**7).attribute(SEQ[:40]).contacts.shape == (40, 40)


def test_the_estimate_covers_the_real_buffer(tiny):
    model, tokenizer = tiny
    explainer = CategoricalJacobian(model, tokenizer, keep_jacobian=True, batch_size=8)
    pred = explainer.attribute(SEQ[:40])
    kept_bytes = pred.jacobian.numel() * 4
    with pytest.raises(InsufficientMemoryError):  # less than the kept tensor alone: must be refused
        CategoricalJacobian(model, tokenizer, keep_jacobian=True, memory_limit=kept_bytes).attribute(SEQ[:40])


@pytest.mark.parametrize("method", ["jacobian", "fast", "gradient", "attention"])
def test_same_input_gives_bit_identical_maps_across_fresh_runs(trained, method):
    model, tokenizer = trained
    sequence = default_target().sequence[:70]

    def build():
        return {
            "jacobian": lambda: CategoricalJacobian(model, tokenizer),
            "fast": lambda: CategoricalJacobian(model, tokenizer, fast=True),
            "gradient": lambda: GradientJacobian(model, tokenizer),
            "attention": lambda: AttentionReadout(model, tokenizer),
        }[method]()

    assert torch.equal(build().attribute(sequence).contacts, build().attribute(sequence).contacts)


def test_maps_agree_within_1e_5_across_batch_sizes(trained):
    model, tokenizer = trained
    sequence = default_target().sequence[:80]
    maps = [CategoricalJacobian(model, tokenizer, batch_size=b).attribute(sequence).contacts for b in (1, 13, 64)]
    scale = float(maps[0].abs().max())
    for other in maps[1:]:
        assert float((other - maps[0]).abs().max()) <= 1e-5 * scale


@pytest.mark.parametrize(
    ("dtype", "max_diff", "min_corr"), [(torch.bfloat16, 0.03, 0.999), (torch.float16, 0.005, 0.9999)]
)
def test_reduced_precision_agrees_with_fp32_within_the_stated_tolerance(trained, dtype, max_diff, min_corr):
    """The README's tolerance: on the trained model, bf16 within 3% and fp16 within 0.5% of the map's maximum."""
    model, tokenizer = trained
    target = default_target()
    exact = CategoricalJacobian(model, tokenizer).attribute(target.sequence)
    reduced = CategoricalJacobian(model, tokenizer, dtype=dtype).attribute(target.sequence)
    a, b = exact.contacts.double(), reduced.contacts.double()
    assert float((a - b).abs().max() / a.abs().max()) <= max_diff
    assert float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]) >= min_corr
    assert abs(exact.precision(target)["long_P@L"] - reduced.precision(target)["long_P@L"]) <= 0.02


def test_infinite_logits_name_the_record_and_the_mutant(tiny):
    model, tokenizer = tiny
    bad_letter = tokenizer.convert_tokens_to_ids("C")

    def poison(module, args, kwargs, output):  # a real model whose output breaks when residue 5 becomes C
        ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        output.logits[ids[:, 5] == bad_letter] = float("inf")
        return output

    handle = model.register_forward_hook(poison, with_kwargs=True)
    try:
        with pytest.raises(NonFiniteOutputError, match=r"sequence 'query': .* \(mutant C at residue 5\)"):
            CategoricalJacobian(model, tokenizer).attribute([SEQ[:20]], names=["query"])
    finally:
        handle.remove()


def test_weights_that_would_run_code_are_not_unpickled(tmp_path):
    """A .bin checkpoint with a pickled payload: refused (weights_only), the payload never runs."""
    from interp.models.loading import load_model

    model, tokenizer = esm_model("tiny", seed=0)
    folder = tmp_path / "hostile"
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({**model.state_dict(), "payload": Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(InterpError, match="weights_only"):
        load_model(str(folder))
    assert not marker.exists()


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def test_package_never_evaluates_strings_or_unpickles():
    """No eval/exec, no pickle, torch.load only with weights_only=True, np.load only with allow_pickle=False."""
    import interp
    import interp.adapters
    import interp.benchmarks
    import interp.callbacks

    roots = {Path(m.__file__).parent for m in (interp, interp.adapters, interp.callbacks, interp.benchmarks)}
    problems = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                    exceptions_only = all(a.name.endswith("Error") for a in node.names)  # e.g. UnpicklingError
                    pickling = any(n.split(".")[0] in {"pickle", "dill", "marshal", "shelve"} for n in names)
                    if pickling and not (isinstance(node, ast.ImportFrom) and exceptions_only):
                        problems.append(f"{path.name}:{node.lineno} imports a pickle module")
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                keywords = {k.arg: k.value for k in node.keywords}
                if isinstance(func, ast.Name) and name in FORBIDDEN_CALLS:
                    problems.append(f"{path.name}:{node.lineno} calls {name}()")
                owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
                if name == "load" and owner == "torch":
                    value = keywords.get("weights_only")
                    if not (isinstance(value, ast.Constant) and value.value is True):
                        problems.append(f"{path.name}:{node.lineno} torch.load without weights_only=True")
                if name == "load" and owner in {"np", "numpy"}:
                    value = keywords.get("allow_pickle")
                    if not (isinstance(value, ast.Constant) and value.value is False):
                        problems.append(f"{path.name}:{node.lineno} np.load without allow_pickle=False")
                if "trust_remote_code" in keywords:
                    value = keywords["trust_remote_code"]
                    if isinstance(value, ast.Constant) and value.value is True:
                        problems.append(f"{path.name}:{node.lineno} trust_remote_code=True hard-coded")
    assert problems == []


def test_numpy_files_with_objects_are_refused(tmp_path):
    from interp.files.io import load_contacts

    path = tmp_path / "objects.npz"
    np.savez(path, contacts=np.zeros((3, 3)), sequence=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InterpError, match=r"objects\.npz"):
        load_contacts(path)


def test_maps_are_bit_identical_across_processes(tmp_path):
    from interp.benchmarks.reliability import determinism_across_processes

    assert determinism_across_processes(tmp_path)["ok"]


def test_masked_lm_training_resumed_from_a_checkpoint_continues_the_callback_history(tmp_path):
    from interp.benchmarks.reliability import training_resume

    result = training_resume(tmp_path)
    assert result["steps_before"] == [2, 4] and result["steps_after_resume"] == [2, 4, 6]
    assert result["history_kept"] and result["ok"]
