"""Contact math against an independent numpy transcription of the reference (ColabDesign) post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import reference_postprocess
from hypothesis import given, settings
from hypothesis import strategies as st

from interp.errors import ContactMapError
from interp.maps.contacts import (
    apc,
    center_jacobian,
    frobenius_norm,
    jacobian_to_contacts,
    symmetrize_jacobian,
    top_pairs,
)

reference_contacts = reference_postprocess


def test_jacobian_to_contacts_matches_reference():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(12, 5, 12, 5))
    ours = jacobian_to_contacts(torch.from_numpy(jac)).numpy()
    np.testing.assert_allclose(ours, reference_contacts(jac), rtol=1e-10, atol=1e-12)
    assert np.allclose(ours, ours.T) and np.all(np.diag(ours) == 0)


def test_float32_input_stays_float32_and_close():
    rng = np.random.default_rng(1)
    jac = rng.normal(size=(9, 4, 9, 4))
    ours = jacobian_to_contacts(torch.from_numpy(jac).float())
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), reference_contacts(jac), rtol=1e-5, atol=1e-5)


def test_centering_removes_every_axis_mean():
    jac = torch.randn(6, 3, 6, 3, dtype=torch.float64)
    centered = center_jacobian(jac)
    for axis in range(4):
        assert centered.mean(dim=axis).abs().max() < 1e-12


def test_adding_per_axis_offsets_changes_nothing_after_centering():
    """Subtracting wild-type logits (a per-(q, b) offset) or a per-position shift is removed by centring."""
    jac = torch.randn(7, 4, 7, 4, dtype=torch.float64)
    offset = torch.randn(1, 1, 7, 4, dtype=torch.float64) + torch.randn(7, 4, 1, 1, dtype=torch.float64)
    torch.testing.assert_close(jacobian_to_contacts(jac), jacobian_to_contacts(jac + offset))


def test_apc_is_the_full_outer_product_not_a_constant_shift():
    m = torch.tensor([[0.0, 1.0, 4.0], [1.0, 0.0, 2.0], [4.0, 2.0, 0.0]], dtype=torch.float64)
    out = apc(m)
    expected = m - m.sum(1, keepdim=True) * m.sum(0, keepdim=True) / m.sum()
    torch.testing.assert_close(out, expected)
    shifts = (m - out)[~torch.eye(3, dtype=torch.bool)]
    assert shifts.unique().numel() > 1


def test_symmetrize_jacobian_needs_one_alphabet():
    with pytest.raises(ContactMapError, match="letter axes differ"):
        symmetrize_jacobian(torch.zeros(3, 2, 3, 4))
    out = jacobian_to_contacts(torch.randn(5, 2, 5, 4))
    assert out.shape == (5, 5)


def test_frobenius_norm_shape_and_value():
    jac = torch.ones(4, 3, 4, 2)
    torch.testing.assert_close(frobenius_norm(jac), torch.full((4, 4), 6.0**0.5))


def test_nan_jacobian_is_refused_with_position():
    jac = torch.zeros(4, 2, 4, 2)
    jac[1, 0, 2, 1] = float("nan")
    with pytest.raises(ContactMapError, match=r"\[1, 0, 2, 1\]"):
        jacobian_to_contacts(jac)


def test_top_pairs_order_ties_and_separation():
    m = torch.zeros(10, 10)
    m[0, 9] = m[9, 0] = 5.0
    m[1, 8] = m[8, 1] = 3.0
    m[2, 8] = m[8, 2] = 3.0
    m[0, 1] = m[1, 0] = 100.0
    pairs = top_pairs(m, 3, min_separation=6)
    assert [(p.i, p.j) for p in pairs] == [(0, 9), (1, 8), (2, 8)]
    assert pairs[0].score == 5.0
    assert len(top_pairs(m, 1000, min_separation=9)) == 1
    assert top_pairs(m, 2, min_separation=1)[0][:2] == (0, 1)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=2, max_value=9), st.integers(min_value=1, max_value=4), st.integers(0, 2**31 - 1))
def test_contacts_are_symmetric_with_zero_diagonal(length, letters, seed):
    generator = torch.Generator().manual_seed(seed)
    jac = torch.randn(length, letters, length, letters, generator=generator, dtype=torch.float64)
    out = jacobian_to_contacts(jac)
    torch.testing.assert_close(out, out.T)
    assert torch.all(out.diagonal() == 0)
    np.testing.assert_allclose(out.numpy(), reference_contacts(jac.numpy()), atol=1e-9)
