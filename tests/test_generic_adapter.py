"""Any Hugging Face model with a per-residue tokenizer, with no registration: `PerResidueAdapter`.

The architecture matrix (test_architecture_matrix.py) runs every transformers architecture; here: the reading
the adapter chooses (masked, causal, measured), its refusals, and the command line on local model folders of
architectures no family names (RoBERTa as Sapiens is, DeBERTa-v2, Llama).
"""

from __future__ import annotations

import architecture_matrix as am
import pytest
import torch
from helpers import requires_data, run_cli

from interp.adapters import PerResidueAdapter, get_adapter, model_head
from interp.adapters.base import DNA_ALPHABET
from interp.errors import InterpError, ModelCallError
from interp.explainers import CategoricalJacobian


def _tiny(config_class, model_class, head: str, **extra):
    config = config_class(**{**am._settings_for(config_class), **extra})
    torch.manual_seed(0)
    return model_class(config).eval(), am.load_tokenizer(head)


def _roberta(model_class_name: str = "RobertaForMaskedLM", **extra):
    import transformers

    return _tiny(transformers.RobertaConfig, getattr(transformers, model_class_name), "masked", **extra)


def test_a_roberta_protein_model_needs_no_registration():
    """The Sapiens case: a RoBERTa masked LM with a per-letter tokenizer, chosen by what it is."""
    model, tokenizer = _roberta()
    adapter = get_adapter(model, tokenizer)
    assert isinstance(adapter, PerResidueAdapter) and not adapter.causal
    assert adapter.encode("MKTA").input_ids.tolist() == tokenizer("MKTA")["input_ids"]
    assert adapter.mask_token_id == tokenizer.mask_token_id
    # learned positions count from padding_idx + 1: the limit is what the model's positions hold
    assert adapter.max_length == model.config.max_position_embeddings - 2 - (model.config.pad_token_id + 1)
    prediction = CategoricalJacobian(model, tokenizer, keep_jacobian=True).attribute(am.SEQUENCE)
    want = am.naive_jacobian(am.Built("roberta", "masked", model, tokenizer, "RobertaForMaskedLM"), am.SEQUENCE, False)
    torch.testing.assert_close(prediction.jacobian.double(), want, atol=1e-5, rtol=0)


def test_the_reading_is_measured_not_assumed():
    """An encoder family's causal head built without is_decoder attends both ways: read as the masked model it
    is; with is_decoder=True it is causal, read off the token before each residue."""
    both_ways, tokenizer = _roberta("RobertaForCausalLM", is_decoder=False)
    assert model_head(both_ways) == "masked" and not get_adapter(both_ways, tokenizer).causal
    left_to_right, _ = _roberta("RobertaForCausalLM", is_decoder=True)
    adapter = get_adapter(left_to_right, tokenizer)
    assert model_head(left_to_right) == "causal" and adapter.causal
    encoded = adapter.encode("MKTA")
    assert torch.equal(encoded.readout_positions, encoded.residue_positions - 1)


def test_models_it_cannot_read_are_refused_with_the_reason():
    import transformers

    classifier, tokenizer = _tiny(transformers.RobertaConfig, transformers.RobertaForSequenceClassification, "masked")
    with pytest.raises(InterpError, match="neither a masked nor a causal language model"):
        get_adapter(classifier, tokenizer)
    model, _ = _roberta()
    words = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_word_tokenizer(["<unk>", "hello", "world", "A", "C"]), unk_token="<unk>"
    )
    with pytest.raises(InterpError, match=r"no single token for the .* letters"):
        get_adapter(model, words)
    with pytest.raises(InterpError, match="pass the model's tokenizer"):
        get_adapter(model)


def _word_tokenizer(vocab):
    from tokenizers import Tokenizer, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel({token: i for i, token in enumerate(vocab)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return backend


def test_a_causal_dna_model_of_any_architecture_reads_both_strands():
    """A Llama over single nucleotides: the DNA alphabet from the vocabulary, and the reverse-complement pass
    that fills the other triangle, as for HyenaDNA."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = ["<pad>", "<s>", "</s>", "<unk>", *DNA_ALPHABET]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                                     unk_token="<unk>", pad_token="<pad>")  # fmt: skip
    settings = {**am._settings_for(transformers.LlamaConfig), "vocab_size": len(vocab)}
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**settings)).eval()
    adapter = get_adapter(model, tokenizer)
    assert adapter.alphabet == DNA_ALPHABET and adapter.causal and adapter.reverse_complement
    jacobian = CategoricalJacobian(adapter, keep_jacobian=True).attribute("GGATCCGATT").jacobian
    norm = jacobian.square().sum(dim=(1, 3))
    upper = torch.ones_like(norm, dtype=torch.bool).triu(1)
    assert float(norm[upper].min()) > 0 and float(norm[upper.T].min()) > 0  # both triangles filled


def test_a_failing_forward_is_a_typed_error_that_says_what_to_change():
    """Parameters in mixed dtypes (what Evo's StripedHyena is before `to_bfloat16_except_poles_residues`):
    the model's own forward fails, and interp says so, typed, naming the dtypes."""
    model, tokenizer = _roberta()
    model.lm_head.dense.to(torch.bfloat16)
    with pytest.raises(ModelCallError, match=r"mixed dtypes: torch.float32 .* torch.bfloat16") as caught:
        CategoricalJacobian(model, tokenizer).attribute("MKTAYIAK")
    assert isinstance(caught.value.__cause__, RuntimeError)


def _save(model, tokenizer, folder):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@requires_data
@pytest.mark.parametrize("architecture", ["roberta", "deberta-v2", "llama"])
def test_the_command_line_explains_and_benchmarks_a_local_folder_with_no_registration(architecture, tmp_path):
    """`interp contacts` and `interp benchmark contacts` on a saved model of an architecture no family names."""
    import transformers

    head = "causal" if architecture == "llama" else "masked"
    classes = {"roberta": ("RobertaConfig", "RobertaForMaskedLM"), "deberta-v2": ("DebertaV2Config",
               "DebertaV2ForMaskedLM"), "llama": ("LlamaConfig", "LlamaForCausalLM")}  # fmt: skip
    config_name, model_name = classes[architecture]
    model, tokenizer = _tiny(getattr(transformers, config_name), getattr(transformers, model_name), head,
                             max_position_embeddings=512)  # fmt: skip
    folder = _save(model, tokenizer, tmp_path / "model")
    (tmp_path / "in.fa").write_text(">probe\nMKTAYIAKQRQISFVKSHFSRQ\n")
    result = run_cli("contacts", "--fasta", str(tmp_path / "in.fa"), "--out", str(tmp_path / "maps"), "--model",
                      folder, "--method", "jacobian")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "maps" / "probe.categorical_jacobian.npz").exists()
    bench = run_cli("benchmark", "contacts", "--model", folder, "--panel", "builtin", "--limit", "2",
                     "--calibration", "1", "--methods", "fast-jacobian", "attention-mean", "--out", str(tmp_path / "bench"))  # fmt: skip
    assert bench.returncode == 0, bench.stderr + bench.stdout
    assert "not available" not in bench.stdout
    summary = (tmp_path / "bench" / "summary.md").read_text()
    assert "fast-jacobian" in summary and "attention-mean" in summary
