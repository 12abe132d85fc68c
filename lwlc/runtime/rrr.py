"""The projection algorithms on a state (a dict of arrays): RRR (Elser eq. 45), its
generalized
form with λ (eq. 47), Douglas-Rachford (β = 1) and alternating projections, and
RRR_err."""

from __future__ import annotations

import numpy as np

xp = np


def rrr_error(delta, metric, norm):
    """RRR_err (eq. 22, 27): the metric norm of a state difference, over `norm` (NumPy:
    each sum of squares taken without a temporary)."""
    total = 0.0
    for name, d in delta.items():
        d2 = d.reshape(d.shape[0], -1)
        g = np.broadcast_to(np.asarray(metric[name], dtype=d.dtype), d2.shape[1:])
        total = total + np.einsum("ij,ij,j->", d2, d2, g)
    return xp.sqrt(total / norm)


def rrr_update(project_A, project_B, state, data, beta, lam, method, metric, norm):
    """One iteration; returns (new state, RRR_err of P_B(2 P_A(x) - x) - P_A(x)).

    NumPy: the reflection, its projection, the difference and the new state are written
    into arrays this step owns (no temporary per operation); the input state is never
    written."""
    pa = project_A(state, data)
    if method == "ap" or lam is not None:
        new, err = _other_update(
            project_A, project_B, state, pa, data, beta, lam, method, metric, norm
        )
        if method == "ap" and beta == 0:  # beta 0 keeps the state, as it does for RRR
            new = {k: state[k].copy() for k in state}
        return new, err
    reflected = {}
    for k in state:
        reflected[k] = np.multiply(pa[k], 2.0)
        reflected[k] -= state[k]
    # set B writes its projection into the reflection, which this step owns
    pb = project_B({**reflected, "__owned__": True}, data)
    delta = {}
    for k in state:  # pb's arrays are the reflection's, or fresh
        own = pb[k] if pb[k].flags.writeable and pb[k] is not state[k] else None
        delta[k] = np.subtract(pb[k], pa[k], out=own)
    err = rrr_error(delta, metric, norm)
    for k in state:
        if beta != 1.0:  # (times 1 is exact: skip the pass)
            delta[k] *= beta
        delta[k] += state[k]
    return delta, err


def _other_update(
    project_A, project_B, state, pa, data, beta, lam, method, metric, norm
):
    """Alternating projections (``method`` "ap"), or RRR with λ (eq. 47), from P_A(x)
    = ``pa``; functional, for both backends."""
    if method == "ap":
        pb = project_B(pa, data)
        delta = {k: pb[k] - pa[k] for k in state}
        return pb, rrr_error(delta, metric, norm)
    pb_x = project_B(state, data)
    left = project_B({k: (1.0 + lam) * pa[k] - lam * state[k] for k in state}, data)
    right = project_A({k: (1.0 - lam) * pb_x[k] + lam * state[k] for k in state}, data)
    delta = {k: left[k] - right[k] for k in state}
    new = {k: state[k] + beta * delta[k] for k in state}
    return new, rrr_error(delta, metric, norm)


def iterate(step, state, data, iterations, tolerance, beta):
    """Iterate `step` until RRR_err < tolerance or `iterations` steps. Returns
    (state, steps, first error, last error)."""
    first = last = None
    steps = 0
    while steps < iterations:
        state, err = step(state, data, beta)
        steps += 1
        last = float(err)
        if first is None:
            first = last
        if last < tolerance:
            break
    return state, steps, first, last
