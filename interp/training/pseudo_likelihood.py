"""A Potts model fitted by pseudo-likelihood (GREMLIN / CCMpred style, in torch): the coevolution baseline
that language-model contact maps are measured against.

Objective: sum over rows of weight * sum over sites of -log P(x_i | x_-i), plus L2 on fields and couplings;
minimised with L-BFGS. Contacts: Frobenius norm of the zero-sum-gauge couplings without the gap state, APC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from einops import rearrange

from interp.compat import lbfgs_state
from interp.contacts import jacobian_to_contacts
from interp.errors import InterpError


@dataclass
class PottsFit:
    """Fitted fields [L, q], couplings [L, q, L, q] (symmetric, zero diagonal blocks), and fit facts."""

    fields: torch.Tensor
    couplings: torch.Tensor
    iterations: int
    seconds: float
    loss: float

    def contacts(self, *, drop_last_state: bool = True) -> torch.Tensor:
        """The [L, L] contact map: centre (zero-sum gauge), Frobenius norm, APC; the gap state left out."""
        couplings = self.couplings[:, :-1, :, :-1] if drop_last_state else self.couplings
        return jacobian_to_contacts(couplings.contiguous())


def fit_potts(
    encoded: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    n_states: int,
    l2_fields: float = 0.01,
    l2_couplings: float | None = None,
    max_iterations: int = 200,
    max_seconds: float | None = None,
) -> PottsFit:
    """Pseudo-likelihood fit of an integer alignment [N, L] over `n_states` letters.

    l2_couplings defaults to 0.2 * (L - 1) (CCMpred's lambda_pair), applied to each pair once.
    """
    if encoded.dim() != 2 or encoded.numel() == 0:
        raise InterpError(f"fit_potts needs a non-empty [N, L] integer alignment; got shape {tuple(encoded.shape)}")
    if int(encoded.max()) >= n_states or int(encoded.min()) < 0:
        raise InterpError(f"alignment letters must lie in 0..{n_states - 1}")
    rows, length = encoded.shape
    weights = torch.ones(rows) if weights is None else weights.float()
    l2_couplings = 0.2 * (length - 1) if l2_couplings is None else l2_couplings
    one_hot = rearrange(torch.nn.functional.one_hot(encoded, n_states).float(), "n l q -> n (l q)")
    off_diagonal = rearrange(1.0 - torch.eye(length), "i j -> i 1 j 1").expand(length, n_states, length, n_states)
    off_diagonal = rearrange(off_diagonal, "i a j b -> (i a) (j b)")
    fields = torch.zeros(length * n_states, requires_grad=True)
    raw = torch.zeros(length * n_states, length * n_states, requires_grad=True)

    def couplings() -> torch.Tensor:
        return (raw + raw.T) * off_diagonal * 0.5

    def objective() -> torch.Tensor:
        coupling = couplings()
        logits = rearrange(fields + one_hot @ coupling, "n (l q) -> n l q", q=n_states)
        log_p = torch.log_softmax(logits, dim=-1)
        nll = -(log_p * rearrange(one_hot, "n (l q) -> n l q", q=n_states)).sum(dim=(1, 2))
        penalty = l2_fields * fields.pow(2).sum() + 0.5 * l2_couplings * coupling.pow(2).sum()
        return (weights * nll).sum() + penalty

    optimizer = torch.optim.LBFGS(
        [fields, raw], lr=1.0, max_iter=max_iterations, history_size=10, line_search_fn="strong_wolfe",
        tolerance_grad=1e-5, tolerance_change=1e-9,
    )  # fmt: skip
    start = time.perf_counter()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            assert raw.grad is not None and fields.grad is not None
            raw.grad.zero_()  # out of time: a zero gradient stops L-BFGS at its tolerance check
            fields.grad.zero_()
        return loss

    loss = optimizer.step(closure)
    state = lbfgs_state(optimizer)
    with torch.no_grad():
        coupling = rearrange(couplings(), "(i a) (j b) -> i a j b", a=n_states, b=n_states).clone()
        return PottsFit(
            fields=rearrange(fields.detach().clone(), "(l q) -> l q", q=n_states),
            couplings=coupling,
            iterations=int(state.get("n_iter", 0)),
            seconds=time.perf_counter() - start,
            loss=float(loss),
        )
