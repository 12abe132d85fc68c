"""Inference helpers of the emitted solvers: products of node values with learned
weights over
irregular edge lists, and latent node values by least squares (Elser eq. 12-13)."""

from __future__ import annotations

import numpy as np

from lwlc.sets._common import _fixed_loop, _is_jax

xp = np


def edge_matrix(weights, rows, cols, n_rows, n_cols):
    """The [n_rows, n_cols] matrix with weights[e] summed at (rows[e], cols[e])."""
    one_rows = (rows[:, None] == np.arange(n_rows)[None, :]).astype(float)
    one_cols = (cols[:, None] == np.arange(n_cols)[None, :]).astype(float)
    return xp.asarray(one_rows.T) @ (weights[:, None] * xp.asarray(one_cols))


def _pinv(B):
    """The pseudo-inverse of B, its singular values below 100 max(B.shape) eps of the
    largest counted as 0, in NumPy and JAX alike. NumPy's own cut (1e-15) kept the
    rounding of a rank-one B (a sphere's centred weights of two edges: ±(1, −1)/√2 on
    every node), and a warm start's codes came out at 3.7e13 (a generated model)."""
    rtol = 100.0 * max(B.shape[-2:]) * float(np.finfo(B.dtype).eps)
    return xp.linalg.pinv(B, rtol=rtol)


def least_squares_values(X, A, target, unknown):
    """Values of the `unknown` nodes that best give X @ A = target, the other nodes as
    in X, the least of them where several do (the pseudo-inverse encoder, eq. 12-13)."""
    known = X @ A - X[:, unknown] @ A[unknown]
    return (target - known) @ _pinv(A[unknown])


def _free_solution(xp, M, rhs, deficient):
    """M⁻¹ rhs for each item; where G is rank-deficient (`deficient`, by `_pinv`'s cut),
    the least such point, so that rounding does not pick one, differently in NumPy and
    JAX (by 1e-3 to 3e-2: a user test). Otherwise each M (G's free rows and columns,
    the rest the identity) is as well-conditioned as G, and a solve gives what the
    pseudo-inverse would, much faster (50 unknowns: 0.46 against 21 s)."""

    def least(M, rhs):
        return (_pinv(M) @ rhs[..., None])[..., 0]

    def exact(M, rhs):
        return xp.linalg.solve(M, rhs[..., None])[..., 0]

    if _is_jax(xp):
        return __import__("jax").lax.cond(deficient, least, exact, M, rhs)
    return least(M, rhs) if deficient else exact(M, rhs)


def _bounded_ls_step(xp, state, G, c, lo, hi, scale, deficient, tol):
    """One active-set step of bounded_least_squares_values, for every item at once:
    the least-squares point z of the free variables (the others at their bounds; the
    least of them where several are); if it is within the bounds, go there and free
    the bound variable whose gradient points inward most (none: done); else step
    towards z to the first bound met, which fixes that variable."""
    v, free, done = state
    r = G.shape[0]
    fixed = 1.0 - free
    M = G * (free[:, :, None] * free[:, None, :]) + xp.eye(r) * (
        scale * fixed[:, :, None])
    rhs = (c - (v * fixed) @ G) * free
    z = xp.where(free > 0, _free_solution(xp, M, rhs, deficient), v)
    low, high = (free > 0) & (z < lo), (free > 0) & (z > hi)
    outside = xp.any(low | high, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_high = xp.where(high, (hi - v) / (z - v), xp.inf)
        ratio = xp.where(low, (v - lo) / (v - z), to_high)
    first = xp.argmin(ratio, axis=1)
    alpha = xp.clip(xp.min(ratio, axis=1), 0.0, 1.0)[:, None]
    hit = xp.arange(r)[None, :] == first[:, None]
    bound = xp.where(z < lo, lo + 0.0 * z, hi + 0.0 * z)
    stepped = xp.where(hit, bound, xp.clip(v + alpha * (z - v), lo, hi))
    v_new = xp.where(outside[:, None], stepped, z)
    w = c - v_new @ G  # minus half the gradient: where the objective falls
    inward = (free == 0) & (((v_new <= lo) & (w > tol)) | ((v_new >= hi) & (w < -tol)))
    most = xp.argmax(xp.where(inward, xp.abs(w), -1.0), axis=1)
    pick = (xp.arange(r)[None, :] == most[:, None]) & inward
    free_new = xp.where(outside[:, None], free * (1.0 - hit),
                        xp.maximum(free, 1.0 * pick))
    done_new = done | (~outside & ~xp.any(inward, axis=1))
    return (xp.where(done[:, None], v, v_new), xp.where(done[:, None], free, free_new),
            done_new)


def bounded_least_squares_values(X, A, target, unknown, lo, hi):
    """Values v ∈ [lo, hi] of the `unknown` nodes that best give X @ A = target, the
    other nodes as in X: least squares under bounds (eq. 12-13 with the codes' side
    constraint), every item at once by active-set steps from the unbounded solution
    clipped to the bounds (Lawson and Hanson's NNLS, Stark and Parker's BVLS; each
    step lowers the error, and at most 4r + 8 steps are taken for r unknowns). The
    clipped solution alone is not the minimizer where A is ill-conditioned: the codes
    of a solved NMF gave 400x its RMS error (a user test)."""
    B = A[unknown]
    r = B.shape[0]
    rest = target - (X @ A - X[:, unknown] @ B)
    G = B @ B.T
    c = rest @ B.T
    eps = float(np.finfo(G.dtype).eps)
    scale = xp.max(xp.abs(xp.diagonal(G))) + 1e-300
    tol = 64.0 * eps * (xp.max(xp.abs(c), axis=1, keepdims=True) + scale)
    eig = xp.linalg.eigvalsh(G)  # ascending; G's free blocks are at least as well-posed
    deficient = eig[0] <= 100.0 * r * eps * eig[-1]
    v = xp.clip(rest @ _pinv(B), lo, hi)
    free = 1.0 * ((v > lo) & (v < hi))
    done = xp.zeros(v.shape[0], dtype=bool)
    v, _, _ = _fixed_loop(xp, 4 * r + 8, _bounded_ls_step, (v, free, done),
                          (G, c, lo, hi, scale, deficient, tol))
    return v
