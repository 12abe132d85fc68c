"""Sphere ``‖v‖ = radius`` over the last axis (Elser eq. 14c, 26g: weight norms ω)."""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def sphere_projection(xp: "ModuleType", v: "Array", radius: "Array") -> "Array":
    """Rescale ``v`` to norm ``radius`` (broadcast over the leading axes); 0 →
    radius·e_0."""
    r = xp.asarray(radius)[..., None]
    top = xp.max(
        xp.abs(v), axis=-1, keepdims=True
    )  # scale first: no underflow/overflow
    pos = top > 0.0
    vs = v / xp.where(pos, top, 1.0)
    norm = xp.sqrt(xp.sum(vs * vs, axis=-1, keepdims=True))
    e0 = (xp.arange(v.shape[-1]) == 0).astype(v.dtype)
    return xp.where(pos, vs * (r / xp.where(pos, norm, 1.0)), r * e0)


NAME = "sphere"
CONVEX = False
SUMMARY = "‖v‖ = radius over the last axis: rescaling (zero vector → radius·e_0)"
EQUATIONS = "Elser eq. 14c, 26g; Sect. 4.2"
PROJECTION = sphere_projection
EMIT = (sphere_projection,)
REQUIRES = ()


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    return st.tuples(float_arrays((3, 4)), float_arrays((3,), 0.1, 5.0))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    r = args[1]
    return np.abs(np.linalg.norm(pt[0], axis=-1) - r) <= tol * (1.0 + r)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, axis=-1)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    v, r = args
    proj = sphere_projection(np, v, r)
    scale = np.logspace(-6, 1, n).reshape((n,) + (1,) * v.ndim)
    pts = proj + scale * rng.normal(size=(n,) + v.shape)
    return (sphere_projection(np, pts, r),)


SPEC = PropertySpec(
    project=sphere_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
)
