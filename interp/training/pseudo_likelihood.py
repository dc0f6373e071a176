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

from interp.errors import InterpError
from interp.maps.contacts import jacobian_to_contacts
from interp.models.compat import lbfgs_state


@dataclass
class PottsFit:
    """The result of `fit_potts`: fitted fields and couplings, and facts about the fit.

    Attributes:
        fields: the fields h [L, q].
        couplings: the couplings J [L, q, L, q], symmetric (J[i, a, j, b] = J[j, b, i, a]) with zero
            diagonal blocks (i == j); in the gauge the fit ended in, not centred.
        iterations: the L-BFGS iterations run.
        seconds: the wall-clock time of the fit.
        loss: the weighted negative pseudo-log-likelihood plus the L2 penalties at the fitted parameters
            (re-evaluated after L-BFGS: its `step` returns the value at its first evaluation).
    """

    fields: torch.Tensor
    couplings: torch.Tensor
    iterations: int
    seconds: float
    loss: float

    def contacts(self, *, drop_last_state: bool = True) -> torch.Tensor:
        """The contact map of the couplings, as GREMLIN / CCMpred score it.

        Each block J[i, :, j, :] is centred (zero-sum gauge), its Frobenius norm taken, then the average
        product correction (APC) applied; the map is symmetric with a zero diagonal.

        Args:
            drop_last_state: leave the last state (the gap, for a `FamilyAlignment`) out of the norms.

        Returns:
            A float tensor [L, L]; higher means more likely in contact.
        """
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
    """Fit a Potts model to an integer alignment by weighted pseudo-likelihood (GREMLIN / CCMpred style).

    Minimises, with L-BFGS (strong-Wolfe line search), sum_n w_n * sum_i -log P(x_ni | x_n,-i) plus
    `l2_fields` * |h|^2 plus `l2_couplings` * sum_{i<j} |J_ij|^2 (each pair once). The couplings are kept
    symmetric with zero diagonal blocks. Fields and couplings start at zero.

    Args:
        encoded: the alignment as integers [N, L] in 0..n_states - 1 (e.g. `FamilyAlignment.encode()`).
        weights: per-row weights [N] (e.g. `FamilyAlignment.weights()`); None weighs every row 1.
        n_states: the size of the alphabet q, gap included.
        l2_fields: the L2 strength on the fields (CCMpred's lambda_single).
        l2_couplings: the L2 strength on the couplings; None uses 0.2 * (L - 1) (CCMpred's lambda_pair).
        max_iterations: the most L-BFGS iterations.
        max_seconds: a soft time limit: once it is passed, the next evaluation reports a zero gradient, which
            stops L-BFGS; None runs until convergence or `max_iterations`.

    Returns:
        The fitted fields and couplings; `contacts()` gives the contact map.

    Raises:
        InterpError: if `encoded` is not a non-empty 2-D tensor, or holds letters outside 0..n_states - 1.
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

    optimizer.step(closure)
    state = lbfgs_state(optimizer)
    with torch.no_grad():
        loss = objective()  # at the fitted parameters (LBFGS.step returns the first evaluation's value)
        coupling = rearrange(couplings(), "(i a) (j b) -> i a j b", a=n_states, b=n_states).clone()
        return PottsFit(
            fields=rearrange(fields.detach().clone(), "(l q) -> l q", q=n_states),
            couplings=coupling,
            iterations=int(state.get("n_iter", 0)),
            seconds=time.perf_counter() - start,
            loss=float(loss),
        )
