"""Box ``lo <= v <= hi`` entrywise; ``>= c`` and ``<= c`` use ±inf for the open side."""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def box_projection(xp: "ModuleType", v: "Array", lo: "Array", hi: "Array") -> "Array":
    """Clip ``v`` to [lo, hi] (lo <= hi; either may be infinite)."""
    return xp.minimum(xp.maximum(v, lo), hi)


NAME = "box"
CONVEX = True
SUMMARY = (
    "lo <= v <= hi entrywise (also v >= c, v <= c with an infinite side): clipping"
)
EQUATIONS = "side constraints of Lemma 4.1 (Elser Sect. 4.2); PJAX Thm 10 per entry"
PROJECTION = box_projection
EMIT = (box_projection,)
REQUIRES = ()


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    def build(
        v: np.ndarray, a: np.ndarray, b: np.ndarray, open_lo: bool, open_hi: bool
    ) -> tuple:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        if open_lo:
            lo = np.where(np.arange(4) % 2 == 0, -np.inf, lo)
        if open_hi:
            hi = np.where(np.arange(4) % 2 == 1, np.inf, hi)
        return v, lo, hi

    return st.builds(
        build,
        float_arrays((3, 4)),
        float_arrays((3, 4)),
        float_arrays((3, 4)),
        st.booleans(),
        st.booleans(),
    )


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    v, lo, hi = pt[0], args[1], args[2]
    return np.all((v >= lo) & (v <= hi), axis=-1)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, axis=-1)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    v, lo, hi = args
    base = np.clip(v, lo, hi)
    scale = np.logspace(-6, 1, n).reshape((n,) + (1,) * v.ndim)
    return (np.clip(base + scale * rng.normal(size=(n,) + v.shape), lo, hi),)


SPEC = PropertySpec(
    project=box_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=True,
)
