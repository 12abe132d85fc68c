"""Nonnegativity ``v >= 0`` (Elser eq. 14a–b: NMF codes and weights; Sect. 4.2)."""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def nonneg_projection(xp: "ModuleType", v: "Array") -> "Array":
    """Set the negative entries to zero (Sect. 4.2)."""
    return xp.maximum(v, 0.0)


NAME = "nonneg"
CONVEX = True
SUMMARY = "v >= 0 entrywise: negatives set to zero"
EQUATIONS = "Elser eq. 14a–b; Sect. 4.2"
PROJECTION = nonneg_projection
EMIT = (nonneg_projection,)
REQUIRES = ()


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    return st.tuples(float_arrays((3, 4)))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    return np.all(pt[0] >= 0.0, axis=-1)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, axis=-1)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    v = args[0]
    base = np.maximum(v, 0.0)
    scale = np.logspace(-6, 1, n).reshape((n,) + (1,) * v.ndim)
    return (np.maximum(base + scale * rng.normal(size=(n,) + v.shape), 0.0),)


SPEC = PropertySpec(
    project=nonneg_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=True,
)
