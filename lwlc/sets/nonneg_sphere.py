"""Nonnegative vector of norm ``radius`` (Elser eq. 14b–c; Sect. 4.2; Bauschke Cor.
8.6)."""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def nonneg_sphere_projection(xp: "ModuleType", v: "Array", radius: "Array") -> "Array":
    """Zero the negatives and rescale to norm ``radius``; with no positive entry, put
    ``radius`` at the largest (least negative; first on ties) entry and 0 elsewhere
    (Sect. 4.2)."""
    r = xp.asarray(radius)[..., None]
    vp = xp.maximum(v, 0.0)
    top = xp.max(vp, axis=-1, keepdims=True)  # scale first: no underflow/overflow
    pos = top > 0.0
    vs = vp / xp.where(pos, top, 1.0)
    norm = xp.sqrt(xp.sum(vs * vs, axis=-1, keepdims=True))
    best = (xp.arange(v.shape[-1]) == xp.argmax(v, axis=-1)[..., None]).astype(v.dtype)
    return xp.where(pos, vs * (r / xp.where(pos, norm, 1.0)), r * best)


NAME = "nonneg_sphere"
CONVEX = False
SUMMARY = (
    "v >= 0 and ‖v‖ = radius (NMF weight columns); all-negative → radius at the max "
    "entry"
)
EQUATIONS = "Elser eq. 14b–c; Sect. 4.2; golden README NMF"
PROJECTION = nonneg_sphere_projection
EMIT = (nonneg_sphere_projection,)
REQUIRES = ()


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    def build(v: np.ndarray, r: np.ndarray, negative: bool) -> tuple:
        return (-np.abs(v) if negative else v), r

    return st.builds(
        build, float_arrays((3, 4)), float_arrays((3,), 0.1, 5.0), st.booleans()
    )


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    r = args[1]
    v = pt[0]
    return (np.abs(np.linalg.norm(v, axis=-1) - r) <= tol * (1.0 + r)) & np.all(
        v >= 0.0, -1
    )


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, axis=-1)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    v, r = args
    m = v.shape[-1]
    proj = nonneg_sphere_projection(np, v, r)
    scale = np.logspace(-6, 1, n).reshape((n,) + (1,) * v.ndim)
    pts = np.abs(proj + scale * rng.normal(size=(n,) + v.shape))
    pts = nonneg_sphere_projection(np, pts, r)
    corners = r[..., None] * np.eye(m)[:, None, :]  # radius at each single entry
    return (np.concatenate([pts, corners], axis=0),)


SPEC = PropertySpec(
    project=nonneg_sphere_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
)
