"""The projection algorithms on a state (a dict of arrays): RRR (Elser eq. 45), its
generalized
form with λ (eq. 47), Douglas-Rachford (β = 1) and alternating projections, and
RRR_err."""

from __future__ import annotations

import numpy as np

xp = np


def rrr_error(delta, metric, norm):
    """RRR_err (eq. 22, 27): the metric norm of a state difference, over `norm`."""
    total = 0.0
    for name, d in delta.items():
        total = total + (metric[name] * d * d).sum()
    return xp.sqrt(total / norm)


def rrr_update(project_A, project_B, state, data, beta, lam, method, metric, norm):
    """One iteration; returns (new state, RRR_err of P_B(2 P_A(x) - x) - P_A(x))."""
    pa = project_A(state, data)
    if method == "ap":
        pb = project_B(pa, data)
        delta = {k: pb[k] - pa[k] for k in state}
        return pb, rrr_error(delta, metric, norm)
    if lam is None:
        pb = project_B({k: 2.0 * pa[k] - state[k] for k in state}, data)
        delta = {k: pb[k] - pa[k] for k in state}
        new = {k: state[k] + beta * delta[k] for k in state}
        return new, rrr_error(delta, metric, norm)
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
