"""PJAX parity: graph of the sum, y = 1ᵀx (PJAX Thm 5). lwlc uses it for
parity/benchmarks."""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def sum_projection(xp: "ModuleType", x: "Array", y: "Array") -> "tuple":
    """(x + λ1, y − λ) with λ = (y − 1ᵀx)/(n + 1) (PJAX eq. 25); x on the last axis."""
    lam = (y - xp.sum(x, axis=-1)) / (x.shape[-1] + 1.0)
    return x + lam[..., None], y - lam


NAME = "sum"
CONVEX = True
SUMMARY = "PJAX sum node y = 1ᵀx (affine; parity and benchmarks against PJAX)"
EQUATIONS = "PJAX Appendix C, Thm 5 (eq. 25)"
PROJECTION = sum_projection
EMIT = (sum_projection,)
REQUIRES = ()


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    return st.tuples(float_arrays((3, 4)), float_arrays((3,)))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    x, y = pt
    return np.abs(np.sum(x, -1) - y) <= tol * (1.0 + np.sum(np.abs(x), -1) + np.abs(y))


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, -1) + (q[1] - p[1]) ** 2


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    x, y = args
    px, _ = sum_projection(np, x, y)
    scale = np.logspace(-6, 1, n)[:, None, None]
    xs = px + scale * rng.normal(size=(n,) + x.shape)
    return xs, np.sum(xs, -1)


SPEC = PropertySpec(
    project=sum_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=True,
    arity=2,
)
