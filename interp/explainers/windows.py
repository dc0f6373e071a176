"""Sequences longer than a model takes: overlapping windows, each window's map stitched into the full map.

The approximation: a pair is scored only by windows that hold both residues, averaged where windows
overlap; each window's map is post-processed (centring, APC) on its own, so scales can differ between
windows; pairs farther apart than any window spans are never scored (0 in the map, False in `covered`).
"""

from __future__ import annotations

import torch

from interp.errors import InterpError


def window_spans(length: int, size: int, overlap: float = 0.5) -> list[tuple[int, int]]:
    """Half-open [start, end) windows of `size` residues covering 0..length, consecutive ones sharing
    about `overlap` of a window; the last window ends exactly at `length`."""
    if size < 2:
        raise InterpError(f"window size must be >= 2; got {size}")
    if not 0 <= overlap < 1:
        raise InterpError(f"overlap must be in [0, 1); got {overlap}")
    if length <= size:
        return [(0, length)]
    stride = max(1, int(size * (1 - overlap)))
    starts = [*range(0, length - size, stride), length - size]
    return [(start, start + size) for start in dict.fromkeys(starts)]


def stitch(length: int, spans: list[tuple[int, int]], maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Average window maps into an [L, L] map; returns (map, covered) where covered marks scored pairs."""
    total = torch.zeros(length, length, dtype=torch.float64)
    count = torch.zeros(length, length, dtype=torch.float64)
    for (start, end), window_map in zip(spans, maps, strict=True):
        if tuple(window_map.shape) != (end - start, end - start):
            raise InterpError(f"window [{start}, {end}) has a map of shape {tuple(window_map.shape)}")
        total[start:end, start:end] += window_map.double()
        count[start:end, start:end] += 1
    covered = count > 0
    stitched = torch.where(covered, total / count.clamp_min(1), torch.zeros_like(total))
    return stitched.float(), covered
