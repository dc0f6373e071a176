"""Matplotlib pictures of contact maps: prediction above the diagonal, true contacts below, top pairs marked."""

from __future__ import annotations

from typing import Any

import torch


def plot_contact_map(prediction: Any, truth: Any = None, *, ax: Any = None, k: int | None = None,
                     min_separation: int = 6) -> Any:  # fmt: skip
    """Draw one prediction; returns the matplotlib Figure. Hits among the top-k are blue, misses red."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    contacts = prediction.contacts.detach().float().cpu()
    length = contacts.shape[0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    upper = torch.triu(contacts, diagonal=1)
    ax.imshow(upper.numpy(), cmap="Greys", origin="upper")
    true_map = None
    if truth is not None:
        true_map = torch.as_tensor(truth.contacts if hasattr(truth, "contacts") else truth).bool()
        ii, jj = torch.nonzero(torch.tril(true_map, diagonal=-min_separation), as_tuple=True)
        ax.scatter(jj.numpy(), ii.numpy(), s=4, c="0.6", marker="s", linewidths=0, label="true contacts")
    pairs = prediction.top(k if k is not None else length, min_separation=min_separation)
    if pairs:
        hit = [bool(true_map[p.i, p.j]) if true_map is not None else True for p in pairs]
        colors = ["tab:blue" if h else "tab:red" for h in hit]
        ax.scatter([p.j for p in pairs], [p.i for p in pairs], s=6, c=colors, marker="o", linewidths=0)
    title = prediction.name or prediction.method
    ax.set_title(f"{title} (L={length}; top {len(pairs)} marked)")
    ax.set_xlim(-0.5, length - 0.5)
    ax.set_ylim(length - 0.5, -0.5)
    return fig
