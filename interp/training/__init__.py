"""interp.training: the training side, apart from the explainers.

- `alignments`: family alignments over the query's columns, letters as integers, sequence weights.
- `pseudo_likelihood`: a Potts model fitted by pseudo-likelihood (GREMLIN / CCMpred style), the coevolution
  baseline that language-model contact maps are measured against.
- `planted_potts`: Potts models with planted couplings and Gibbs sampling (families with known contacts).
- `masked_lm`: a small masked language model trained on one family with Lightning (the embedded model's recipe).
"""

from interp.training.alignments import FamilyAlignment, load_family, sequence_weights
from interp.training.masked_lm import MaskedLMModule, alignment_loader, encode_rows, family_model, letter_ids
from interp.training.planted_potts import gibbs_sample, planted_potts, to_strings
from interp.training.pseudo_likelihood import PottsFit, fit_potts

__all__ = [
    "FamilyAlignment",
    "MaskedLMModule",
    "PottsFit",
    "alignment_loader",
    "encode_rows",
    "family_model",
    "fit_potts",
    "gibbs_sample",
    "letter_ids",
    "load_family",
    "planted_potts",
    "sequence_weights",
    "to_strings",
]
