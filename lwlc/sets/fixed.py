"""Fixed value: the side constraint ``v == data`` (Elser eq. 14a/26b with data on data
nodes)."""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def fixed_projection(xp: "ModuleType", v: "Array", value: "Array") -> "Array":
    """Project onto the single point ``value`` (broadcast to the shape of ``v``)."""
    return xp.zeros_like(v) + value


NAME = "fixed"
CONVEX = True
SUMMARY = "v == data: the point is replaced by the (broadcast) data"
EQUATIONS = "Elser eq. 26b (data nodes), golden README fixed (item, node) values"
PROJECTION = fixed_projection
EMIT = (fixed_projection,)
REQUIRES = ()


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    return st.tuples(float_arrays((3, 4)), float_arrays((3, 4)))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    return np.all(np.abs(pt[0] - args[1]) <= tol * (1.0 + np.abs(args[1])), axis=-1)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, axis=-1)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    return (np.broadcast_to(args[1], (n,) + args[0].shape),)


SPEC = PropertySpec(
    project=fixed_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=True,
)
