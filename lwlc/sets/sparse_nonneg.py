"""Sparse nonnegative vectors: ``v >= 0`` with at most ``s`` nonzeros (Elser Sect.
4.3)."""

import itertools
from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _descending_ranks
from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def sparse_nonneg_projection(xp: "ModuleType", v: "Array", s: int) -> "Array":
    """Keep the ``s`` largest positive entries (ties: lower index first), zero the
    rest."""
    vp = xp.maximum(v, 0.0)
    ranks = _descending_ranks(xp, vp)
    return xp.where(ranks < s, vp, 0.0)


NAME = "sparse_nonneg"
CONVEX = False
SUMMARY = "v >= 0 with at most s nonzeros: keep the s largest positive entries"
EQUATIONS = "Elser Sect. 4.3 (sparsity through the A constraint), Sect. 4.2"
PROJECTION = sparse_nonneg_projection
EMIT = (sparse_nonneg_projection,)
REQUIRES = ("_common",)


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    return st.tuples(float_arrays((3, 5)), st.integers(0, 5))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    v = pt[0]
    return np.all(v >= 0.0, -1) & (np.sum(v != 0.0, -1) <= args[1])


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, axis=-1)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    v, s = args
    proj = sparse_nonneg_projection(np, v, s)
    support = rng.random((n,) + v.shape).argsort(-1).argsort(-1) < s
    support = np.where(np.arange(n)[:, None, None] % 2 == 0, proj > 0, support)
    scale = np.logspace(-6, 1, n).reshape((n,) + (1,) * v.ndim)
    pts = np.abs(
        np.where(proj > 0, proj, np.abs(v)) + scale * rng.normal(size=(n, *v.shape))
    )
    return (np.where(support, pts, 0.0),)


def _bruteforce(args: tuple) -> tuple:
    v, s = args
    m = v.shape[-1]
    best = np.zeros_like(v)
    best_d = np.sum(v * v, -1)
    vp = np.maximum(v, 0.0)
    for k in range(1, min(s, m) + 1):
        for sub in itertools.combinations(range(m), k):
            mask = np.zeros(m, dtype=bool)
            mask[list(sub)] = True
            cand = np.where(mask, vp, 0.0)
            d = np.sum((cand - v) ** 2, -1)
            take = d < best_d
            best = np.where(take[..., None], cand, best)
            best_d = np.where(take, d, best_d)
    return (best,)


SPEC = PropertySpec(
    project=sparse_nonneg_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
    nearest_bruteforce=_bruteforce,
)
