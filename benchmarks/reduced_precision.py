"""Reduced precision on a trained model: the categorical Jacobian in bf16 (and fp16) autocast against fp32
on the embedded 1a3a model, scored against the structure.

    python benchmarks/reduced_precision.py
"""

from __future__ import annotations

import argparse
import functools

import torch

from interp.benchmarks.common import add_out_argument, machine, markdown_table, timed, write_results
from interp.explainers import CategoricalJacobian
from interp.models.embedded_model import default_model, default_target
from interp.scoring.metrics import precision_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float16"])
    add_out_argument(parser)
    args = parser.parse_args(argv)
    out = args.out
    model, tokenizer = default_model()
    target = default_target()
    seconds, reference = timed(
        lambda: CategoricalJacobian(model, tokenizer, keep_jacobian=True).attribute(target.sequence)
    )
    rows = [{"dtype": "float32", "seconds": seconds, **_scores(reference, reference, target)}]
    for name in args.dtypes:
        explainer = CategoricalJacobian(model, tokenizer, keep_jacobian=True, dtype=getattr(torch, name))
        seconds, result = timed(functools.partial(explainer.attribute, target.sequence))
        rows.append({"dtype": name, "seconds": seconds, **_scores(result, reference, target)})
        print(rows[-1], flush=True)
    columns = [
        "dtype",
        "seconds",
        "map_corr",
        "map_max_diff",
        "jacobian_rel_err",
        "long_P@L",
        "long_P@L/5",
        "medium_P@L",
    ]
    text = f"Embedded 1a3a model, L = {len(target.sequence)}, autocast on CPU.\n\n" + markdown_table(rows, columns)
    path = write_results("reduced_precision", {"machine": machine(), "results": rows}, text, out)
    print(path.read_text())


def _scores(result, reference, target) -> dict[str, float]:
    x, y = reference.contacts.flatten(), result.contacts.flatten()
    table = precision_table(result.contacts, target)
    return {
        "map_corr": float(torch.corrcoef(torch.stack([x, y]).double())[0, 1]),
        "map_max_diff": float((x - y).abs().max() / x.abs().max()),
        "jacobian_rel_err": float((result.jacobian - reference.jacobian).norm() / reference.jacobian.norm()),
        **{k: table[k] for k in ("long_P@L", "long_P@L/5", "medium_P@L")},
    }


if __name__ == "__main__":
    main()
