"""Pure tensor functions that turn a Jacobian [L, A, L, A] into a contact map [L, L], and pick top pairs.

The reference order (ColabDesign's categorical Jacobian, Zhang et al. 2024) is: centre along all four axes,
symmetrise the tensor when both letter axes share one alphabet, Frobenius norm over the letter axes,
zero the diagonal, average product correction (APC), zero the diagonal, symmetrise the map.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from einops import rearrange, reduce

from interp.errors import ContactMapError


class Pair(NamedTuple):
    """One predicted contact: 0-based residue indices i < j and the map's score.

    Attributes:
        i: 0-based index of the first residue.
        j: 0-based index of the second residue (j > i).
        score: the contact map's value at [i, j].
    """

    i: int
    j: int
    score: float


def first_nonfinite(tensor: torch.Tensor, rows_per_block: int = 16) -> list[int] | None:
    """The index of the first NaN or infinite value, or None when every value is finite.

    Scanned in blocks of rows: `isfinite` on a whole [L, A, L, A] Jacobian would allocate temporaries several
    times its size. Integer tensors hold no NaN and are not scanned.

    Args:
        tensor: any tensor with at least one dimension.
        rows_per_block: how many rows of the first axis are scanned at a time.

    Returns:
        The full index of the first non-finite value (row-major order), or None.
    """
    if not tensor.is_floating_point():
        return None
    for start in range(0, tensor.shape[0], rows_per_block):
        bad = ~torch.isfinite(tensor[start : start + rows_per_block])
        if bool(bad.any()):
            index = torch.nonzero(bad)[0]
            index[0] += start
            return [int(i) for i in index]
    return None


def _check_jacobian(jacobian: torch.Tensor, *, scan_values: bool = True) -> None:
    if jacobian.dim() != 4 or jacobian.shape[0] != jacobian.shape[2]:
        raise ContactMapError(f"a Jacobian must have shape [L, A, L, B]; got {tuple(jacobian.shape)}")
    if scan_values:
        _check_finite(jacobian, "Jacobian")


def _check_map(contact_map: torch.Tensor) -> None:
    if contact_map.dim() != 2 or contact_map.shape[0] != contact_map.shape[1]:
        raise ContactMapError(f"a contact map must be square [L, L]; got {tuple(contact_map.shape)}")
    _check_finite(contact_map, "contact map")


def _check_finite(tensor: torch.Tensor, what: str) -> None:
    """Refuse NaN or inf, naming the first bad index (`first_nonfinite`)."""
    bad = first_nonfinite(tensor)
    if bad is not None:
        raise ContactMapError(f"{what} holds NaN or infinite values (first at index {bad})")


def center_jacobian(jacobian: torch.Tensor, *, inplace: bool = False, rows_per_block: int = 16) -> torch.Tensor:
    """Subtract the mean along each of the four axes in turn (axes of size 1 are left alone).

    Works block by block over the first axis, so `inplace=True` needs no temporary of the tensor's size.

    Args:
        jacobian: a Jacobian [L, A, L, B] (query residue, query letter, output residue, output letter).
        inplace: centre `jacobian` itself and return it; False centres a copy and leaves the input unchanged.
        rows_per_block: how many rows of the first axis are processed at a time (bounds the temporaries).

    Returns:
        The centred tensor, [L, A, L, B] with the input's dtype and device (the input itself when `inplace`).

    Raises:
        ContactMapError: if `jacobian` is not [L, A, L, B] or holds NaN or infinite values.
    """
    _check_jacobian(jacobian)
    return _center_axes(jacobian if inplace else jacobian.clone(), rows_per_block)


def _center_axes(centered: torch.Tensor, rows_per_block: int = 16) -> torch.Tensor:
    """Centre a 4-axis tensor in place along each axis of size > 1 (any shape: blocks may be rectangular)."""
    length = centered.shape[0]
    blocks = [slice(start, min(start + rows_per_block, length)) for start in range(0, length, rows_per_block)]
    if length > 1:
        total = torch.zeros(centered.shape[1:], dtype=centered.dtype, device=centered.device)
        for rows in blocks:
            total += centered[rows].sum(dim=0)
        mean = total / length
        for rows in blocks:
            centered[rows] -= mean
    for axis in (1, 2, 3):
        if centered.shape[axis] > 1:
            for rows in blocks:
                block = centered[rows]
                block -= block.mean(dim=axis, keepdim=True)
    return centered


def symmetrize_jacobian(jacobian: torch.Tensor) -> torch.Tensor:
    """Average J[i, a, j, b] with J[j, b, i, a]; needs both letter axes to have the same size.

    Args:
        jacobian: a Jacobian [L, A, L, A] whose two letter axes share one alphabet.

    Returns:
        A new tensor [L, A, L, A], (J[i, a, j, b] + J[j, b, i, a]) / 2.

    Raises:
        ContactMapError: if `jacobian` is not [L, A, L, B], its letter axes differ in size (A != B), or it holds
            NaN or infinite values.
    """
    _check_jacobian(jacobian)
    if jacobian.shape[1] != jacobian.shape[3]:
        raise ContactMapError(
            f"cannot symmetrise a Jacobian whose letter axes differ ({jacobian.shape[1]} vs {jacobian.shape[3]})"
        )
    return (jacobian + rearrange(jacobian, "i a j b -> j b i a")) / 2


def frobenius_norm(jacobian: torch.Tensor, *, checked: bool = False) -> torch.Tensor:
    """Frobenius norm over the two letter axes: [L, A, L, B] -> [L, L].

    Args:
        jacobian: a Jacobian [L, A, L, B].
        checked: the caller has already refused NaN and infinite values, so they are not scanned again.

    Returns:
        A map [L, L] with entry [i, j] = sqrt(sum over a, b of J[i, a, j, b]^2), in the input's dtype.

    Raises:
        ContactMapError: if `jacobian` is not [L, A, L, B] or holds NaN or infinite values.
    """
    _check_jacobian(jacobian, scan_values=not checked)
    return reduce(jacobian.square(), "i a j b -> i j", "sum").sqrt()


def zero_diagonal(contact_map: torch.Tensor) -> torch.Tensor:
    """A copy of the map with its diagonal set to zero.

    Args:
        contact_map: a square map [L, L].

    Returns:
        A new [L, L] tensor equal to `contact_map` except for a zero diagonal.

    Raises:
        ContactMapError: if `contact_map` is not square [L, L] or holds NaN or infinite values.
    """
    _check_map(contact_map)
    out = contact_map.clone()
    out.fill_diagonal_(0)
    return out


def symmetrize(contact_map: torch.Tensor) -> torch.Tensor:
    """Symmetrise a map: (M + M^T) / 2.

    Args:
        contact_map: a square map [L, L].

    Returns:
        A new symmetric [L, L] tensor, (M + M^T) / 2.

    Raises:
        ContactMapError: if `contact_map` is not square [L, L] or holds NaN or infinite values.
    """
    _check_map(contact_map)
    return (contact_map + contact_map.T) / 2


def apc(contact_map: torch.Tensor) -> torch.Tensor:
    """Average product correction: M - (row sums x column sums) / total sum (Dunn et al. 2008).

    The outer product of the full row and column sums, for one map [L, L] or a stack [..., L, L];
    a map whose total is zero is returned unchanged.

    Args:
        contact_map: a square map [L, L], or a stack of them [..., L, L] (each map corrected on its own).

    Returns:
        A new tensor of the input's shape, M - (row sums x column sums) / total sum per map.

    Raises:
        ContactMapError: if the last two axes are not square or the map holds NaN or infinite values.
    """
    if contact_map.dim() < 2 or contact_map.shape[-1] != contact_map.shape[-2]:
        raise ContactMapError(f"a contact map must be square [..., L, L]; got {tuple(contact_map.shape)}")
    _check_finite(contact_map, "contact map")
    total = contact_map.sum(dim=(-2, -1), keepdim=True)
    row = contact_map.sum(dim=-1, keepdim=True)
    col = contact_map.sum(dim=-2, keepdim=True)
    safe_total = torch.where(total == 0, torch.ones_like(total), total)
    return contact_map - torch.where(total == 0, torch.zeros_like(total), row * col / safe_total)


def symmetric_frobenius_norm(jacobian: torch.Tensor, *, rows_per_block: int = 16, checked: bool = False) -> torch.Tensor:
    """Frobenius norm of the symmetrised Jacobian, block by block, never materialising the symmetric tensor.

    Equal to `frobenius_norm(symmetrize_jacobian(J))` with memory of a few row blocks instead of a copy.

    Args:
        jacobian: a Jacobian [L, A, L, A] whose two letter axes share one alphabet.
        rows_per_block: how many rows of the first axis are processed at a time (bounds the temporaries).
        checked: the caller has already refused NaN and infinite values, so they are not scanned again.

    Returns:
        A map [L, L] in the input's dtype and on its device.

    Raises:
        ContactMapError: if `jacobian` is not [L, A, L, B], its letter axes differ in size, or it holds NaN or
            infinite values.
    """
    _check_jacobian(jacobian, scan_values=not checked)
    if jacobian.shape[1] != jacobian.shape[3]:
        raise ContactMapError(
            f"cannot symmetrise a Jacobian whose letter axes differ ({jacobian.shape[1]} vs {jacobian.shape[3]})"
        )
    length = jacobian.shape[0]
    out = torch.empty(length, length, dtype=jacobian.dtype, device=jacobian.device)
    for start in range(0, length, rows_per_block):
        rows = slice(start, min(start + rows_per_block, length))
        mirrored = rearrange(jacobian[:, :, rows, :], "q b p a -> p a q b")
        block = (jacobian[rows] + mirrored) / 2
        out[rows] = reduce(block.square(), "p a q b -> p q", "sum").sqrt()
    return out


def jacobian_to_contacts(
    jacobian: torch.Tensor,
    *,
    center: bool = True,
    symmetrize_tensor: bool | None = None,
    use_apc: bool = True,
    inplace: bool = False,
    checked: bool = False,
) -> torch.Tensor:
    """Post-process a Jacobian [L, A, L, B] into a symmetric contact map [L, L] with a zero diagonal.

    The reference order (see the module docstring): centre, symmetrise the tensor, Frobenius norm over the
    letter axes, zero diagonal, APC, zero diagonal, symmetrise the map.

    Args:
        jacobian: a Jacobian [L, A, L, B] (query residue, query letter, output residue, output letter).
        center: subtract the mean along each of the four axes first (`center_jacobian`).
        symmetrize_tensor: average J[i, a, j, b] with J[j, b, i, a] before the norm; None does so exactly when
            A == B (one alphabet on both letter axes).
        use_apc: apply the average product correction (`apc`).
        inplace: centre the given tensor in place, so no copy of it is ever made (for long sequences); the
            caller's `jacobian` is overwritten.
        checked: the caller has already refused NaN and infinite values (the explainers check each batch of
            model outputs as it arrives), so the tensor is not scanned again; the shape is still checked.

    Returns:
        A symmetric contact map [L, L] with a zero diagonal, in the Jacobian's dtype and on its device; higher
            scores mean more likely contacts.

    Raises:
        ContactMapError: if `jacobian` is not [L, A, L, B] or holds NaN or infinite values, or if
            `symmetrize_tensor=True` and A != B.

    Example:
        >>> import torch
        >>> from interp import jacobian_to_contacts
        >>> jacobian = torch.randn(10, 20, 10, 20, generator=torch.Generator().manual_seed(0))
        >>> contacts = jacobian_to_contacts(jacobian)
        >>> contacts.shape
        torch.Size([10, 10])
        >>> bool((contacts == contacts.T).all()), float(contacts.diagonal().abs().max())
        (True, 0.0)
    """
    _check_jacobian(jacobian, scan_values=not checked)
    if symmetrize_tensor is None:
        symmetrize_tensor = jacobian.shape[1] == jacobian.shape[3]
    if center:
        jacobian = _center_axes(jacobian if inplace else jacobian.clone())
    # checked above (or by the caller): the norms need not scan the tensor again
    if symmetrize_tensor:
        norm = symmetric_frobenius_norm(jacobian, checked=True)
    else:
        norm = frobenius_norm(jacobian, checked=True)
    return norm_map_to_contacts(norm, use_apc=use_apc)


def norm_map_to_contacts(norm_map: torch.Tensor, *, use_apc: bool = True) -> torch.Tensor:
    """The map half of the reference order: zero diagonal, APC, zero diagonal, symmetrise.

    Args:
        norm_map: a square map [L, L], e.g. the Frobenius norms of a Jacobian.
        use_apc: apply the average product correction (`apc`) between the two diagonal zeroings.

    Returns:
        A new symmetric [L, L] map with a zero diagonal.

    Raises:
        ContactMapError: if `norm_map` is not square [L, L] or holds NaN or infinite values.
    """
    out = zero_diagonal(norm_map)
    if use_apc:
        out = zero_diagonal(apc(out))
    return symmetrize(out)


def top_pairs(
    contact_map: torch.Tensor,
    k: int,
    min_separation: int = 6,
    max_separation: int | None = None,
) -> list[Pair]:
    """The k highest-scoring pairs i < j with min_separation <= j - i (<= max_separation), best first.

    Ties keep (i, j) order, so the result is deterministic. Fewer than k pairs come back when fewer exist.
    Only the upper triangle (i < j) is read.

    Args:
        contact_map: a square map [L, L]; higher scores rank first.
        k: how many pairs to return at most.
        min_separation: the smallest sequence separation j - i a pair may have (values below 1 count as 1).
        max_separation: the largest separation j - i (inclusive); None sets no upper limit.

    Returns:
        Up to k `Pair`s (0-based i < j, score), highest score first.

    Raises:
        ContactMapError: if `contact_map` is not square [L, L] or holds NaN or infinite values, or if k < 0.

    Example:
        >>> import torch
        >>> from interp import top_pairs
        >>> contacts = torch.zeros(30, 30)
        >>> contacts[2, 20] = contacts[20, 2] = 0.75
        >>> contacts[5, 11] = contacts[11, 5] = 0.5
        >>> contacts[3, 4] = contacts[4, 3] = 1.0  # j - i = 1 < min_separation: never ranked
        >>> top_pairs(contacts, k=2)
        [Pair(i=2, j=20, score=0.75), Pair(i=5, j=11, score=0.5)]
    """
    _check_map(contact_map)
    if k < 0:
        raise ContactMapError(f"k must be >= 0; got {k}")
    length = contact_map.shape[0]
    i, j = torch.triu_indices(length, length, offset=max(min_separation, 1))
    if max_separation is not None:
        keep = (j - i) <= max_separation
        i, j = i[keep], j[keep]
    scores = contact_map[i, j]
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    return [Pair(int(i[n]), int(j[n]), float(scores[n])) for n in order]


__all__ = [
    "Pair",
    "center_jacobian",
    "symmetrize_jacobian",
    "frobenius_norm",
    "zero_diagonal",
    "symmetrize",
    "apc",
    "jacobian_to_contacts",
    "symmetric_frobenius_norm",
    "norm_map_to_contacts",
    "top_pairs",
]


def grouped_jacobian_to_contacts(
    jacobian: torch.Tensor,
    residue_groups: list[torch.Tensor],
    letter_groups: list[torch.Tensor],
    *,
    checked: bool = False,
) -> torch.Tensor:
    """The reference order for a Jacobian over a union of alphabets (gLM2: amino acids and nucleotides).

    residue_groups[k]: the residues of kind k; letter_groups[k]: the letter indices valid for kind k.
    Every (kind_p, kind_q) block J[p in P, a in A_p, q in Q, b in B_q] is centred along its four axes on
    its own, the tensor is symmetrised (block (P, Q) with block (Q, P) transposed), normed per pair, and
    the map goes through zero diagonal, APC, zero diagonal, symmetrise. With one group this is exactly
    `jacobian_to_contacts`.

    Args:
        jacobian: a Jacobian [L, A, L, B] over the union alphabet(s).
        residue_groups: for each kind k, a 1-D index tensor of the residues of that kind.
        letter_groups: for each kind k, a 1-D index tensor of the letters valid for that kind (same length and
            order as `residue_groups`).
        checked: the caller has already refused NaN and infinite values (as in `jacobian_to_contacts`).

    Returns:
        A symmetric contact map [L, L] with a zero diagonal, in the Jacobian's dtype and on its device; pairs
            of residues in no group score 0 before APC.

    Raises:
        ContactMapError: if `jacobian` is not [L, A, L, B] or holds NaN or infinite values.
    """
    _check_jacobian(jacobian, scan_values=not checked)
    length = jacobian.shape[0]
    blocks = {}
    for kp, (rows, letters_p) in enumerate(zip(residue_groups, letter_groups, strict=True)):
        for kq, (cols, letters_q) in enumerate(zip(residue_groups, letter_groups, strict=True)):
            block = jacobian[rows][:, letters_p][:, :, cols][:, :, :, letters_q]
            blocks[kp, kq] = _center_axes(block) if block.numel() else block
    norm = torch.zeros(length, length, dtype=jacobian.dtype, device=jacobian.device)
    for (kp, kq), block in blocks.items():
        if not block.numel():
            continue
        mirrored = rearrange(blocks[kq, kp], "q b p a -> p a q b")
        symmetric = (block + mirrored) / 2
        norm[residue_groups[kp][:, None], residue_groups[kq][None, :]] = reduce(
            symmetric.square(), "p a q b -> p q", "sum"
        ).sqrt()
    return norm_map_to_contacts(norm)
