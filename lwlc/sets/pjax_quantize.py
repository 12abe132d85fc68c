"""PJAX parity: graph of quantization to a sorted level tuple (PJAX Thm 9).

The graph is the union over levels z_i of I_i × {z_i}, with I_i the closure of the
interval of inputs whose nearest level is z_i (bounded by the midpoints). PJAX takes
equidistant levels in [−α, α]; any sorted tuple works here. Used for parity/benchmarks.
"""

import math
from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _barrier
from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def quantize_projection(
    xp: "ModuleType", x: "Array", y: "Array", levels: "tuple"
) -> "tuple":
    """Nearest point (x', z_i) of the quantization graph (PJAX eq. 43–44; ties: lower
    level)."""
    x = x + xp.zeros_like(y)
    y = y + xp.zeros_like(x)
    best_x = best_y = best_d = None
    for i in range(len(levels)):
        lo = -math.inf if i == 0 else 0.5 * (levels[i - 1] + levels[i])
        hi = math.inf if i == len(levels) - 1 else 0.5 * (levels[i] + levels[i + 1])
        xi = xp.minimum(xp.maximum(x, lo), hi)
        d = (xi - x) ** 2 + (levels[i] - y) ** 2
        if best_d is None:
            best_x, best_y, best_d = xi, xp.zeros_like(y) + levels[i], d
        else:
            take = _barrier(xp, (d < best_d,))[
                0
            ]  # one decision for x' and y' (see _barrier)
            best_x = xp.where(take, xi, best_x)
            best_y = xp.where(take, levels[i], best_y)
            best_d = xp.where(take, d, best_d)
    return best_x, best_y


def equidistant_levels(k: int, alpha: float) -> tuple:
    """PJAX eq. 38: k equidistant levels in [−α, α]."""
    return tuple(-alpha + i * 2.0 * alpha / (k - 1) for i in range(k))


NAME = "quantize"
CONVEX = False
SUMMARY = (
    "PJAX quantization node y = nearest level of x (parity and benchmarks against PJAX)"
)
EQUATIONS = "PJAX Appendix C, Thm 9 (eq. 38–44)"
PROJECTION = quantize_projection
EMIT = (quantize_projection,)
REQUIRES = ("_common",)


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    levels = st.one_of(
        st.builds(
            equidistant_levels, st.integers(2, 6), st.sampled_from([0.5, 1.0, 3.0])
        ),
        st.lists(
            st.floats(-5, 5, allow_subnormal=False), min_size=1, max_size=5, unique=True
        ).map(lambda v: tuple(sorted(v))),
    )
    return st.tuples(float_arrays((6,)), float_arrays((6,)), levels)


def _intervals(levels: tuple) -> list[tuple[float, float, float]]:
    out = []
    for i, z in enumerate(levels):
        lo = -math.inf if i == 0 else 0.5 * (levels[i - 1] + z)
        hi = math.inf if i == len(levels) - 1 else 0.5 * (z + levels[i + 1])
        out.append((lo, hi, z))
    return out


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    x, y = pt
    ok = np.zeros(x.shape, bool)
    for lo, hi, z in _intervals(args[2]):
        ok |= (y == z) & (x >= lo) & (x <= hi)
    return ok


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    x, _, levels = args
    iv = _intervals(levels)
    which = rng.integers(0, len(iv), size=(n,) + x.shape)
    raw = x + np.logspace(-6, 1, n)[:, None] * rng.normal(size=(n,) + x.shape)
    xs, ys = np.empty(raw.shape), np.empty(raw.shape)
    for i, (lo, hi, z) in enumerate(iv):
        m = which == i
        xs[m] = np.clip(raw, lo, hi)[m]
        ys[m] = z
    return xs, ys


SPEC = PropertySpec(
    project=quantize_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
    arity=2,
)
