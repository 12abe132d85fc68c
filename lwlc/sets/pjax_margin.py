"""PJAX parity: single-logit margin constraint (PJAX Thm 10). Used for
parity/benchmarks; lwlc's own classifier constraint is the ``margin`` kind (Elser eq.
26d–e)."""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._spec import PropertySpec, float_arrays, scalar

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def pjax_margin_projection(
    xp: "ModuleType", x: "Array", label: "Array", margin: "Array"
) -> "Array":
    """min(x, 0) where label ≤ 0, max(x, m) otherwise (PJAX eq. 45–46)."""
    return xp.where(label <= 0, xp.minimum(x, 0.0), xp.maximum(x, margin))


NAME = "pjax_margin"
CONVEX = True
SUMMARY = (
    "PJAX margin output x ≤ 0 (label ≤ 0) or x ≥ m (parity and benchmarks against PJAX)"
)
EQUATIONS = "PJAX Appendix C.2, Thm 10 (eq. 45–46)"
PROJECTION = pjax_margin_projection
EMIT = (pjax_margin_projection,)
REQUIRES = ()


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    labels = st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=6, max_size=6).map(
        np.asarray
    )
    return st.tuples(float_arrays((6,)), labels, scalar(0.1, 3.0))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    x, label, m = pt[0], args[1], args[2]
    return np.where(label <= 0, x <= 0.0, x >= m)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return (q[0] - p[0]) ** 2


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    x, label, m = args
    raw = x + np.logspace(-6, 1, n)[:, None] * rng.normal(size=(n,) + x.shape)
    return (pjax_margin_projection(np, raw, label, m),)


SPEC = PropertySpec(
    project=pjax_margin_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=True,
)
