"""Inference helpers of the emitted solvers: products of node values with learned
weights over
irregular edge lists, and latent node values by least squares (Elser eq. 12-13)."""

from __future__ import annotations

import numpy as np

xp = np


def edge_matrix(weights, rows, cols, n_rows, n_cols):
    """The [n_rows, n_cols] matrix with weights[e] summed at (rows[e], cols[e])."""
    one_rows = (rows[:, None] == np.arange(n_rows)[None, :]).astype(float)
    one_cols = (cols[:, None] == np.arange(n_cols)[None, :]).astype(float)
    return xp.asarray(one_rows.T) @ (weights[:, None] * xp.asarray(one_cols))


def least_squares_values(X, A, target, unknown):
    """Values of the `unknown` nodes that best give X @ A = target, the other nodes as
    in X
    (the pseudo-inverse encoder, eq. 12-13)."""
    known = X @ A - X[:, unknown] @ A[unknown]
    return (target - known) @ xp.linalg.pinv(A[unknown])
