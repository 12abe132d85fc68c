"""PJAX parity: graph of the maximum, y = max_i x_i (PJAX Thm 8). Used for
parity/benchmarks.

PJAX calls this graph convex; it is not (the graph of a convex function is not a convex
set: (1, 0 | 1) and (0, 1 | 1) lie on it, their midpoint does not), so non-expansiveness
is not claimed. The candidate enumeration of Thm 8 is still the exact nearest point,
which the tests check against a 1-D brute force over y.
"""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _barrier, _stable_argsort
from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def max_projection(xp: "ModuleType", x: "Array", y: "Array") -> "tuple":
    """Project (x, y) onto y = max(x) by the n sorted candidates of PJAX Thm 8 (eq.
    36)."""
    n = x.shape[-1]
    order = _stable_argsort(xp, x)
    xs = xp.take_along_axis(x, order, axis=-1)
    suffix = xp.flip(xp.cumsum(xp.flip(xs, axis=-1), axis=-1), axis=-1)
    k = xp.arange(n)
    yk = (suffix + y[..., None]) / (n - k + 1.0)
    active = k[None, :] >= k[:, None]
    diff = xs[..., None, :] - yk[..., :, None]
    dist = (
        xp.sum(xp.where(active, diff * diff, 0.0), axis=-1) + (y[..., None] - yk) ** 2
    )
    prev = xp.concatenate(
        [xp.full(xs.shape[:-1] + (1,), -xp.inf), xs[..., :-1]], axis=-1
    )
    dist = xp.where(prev <= yk, dist, xp.inf)
    best = _barrier(xp, (xp.argmin(dist, axis=-1)[..., None],))[
        0
    ]  # one decision (x', y')
    y_new = xp.take_along_axis(yk, best, axis=-1)[..., 0]
    xs_new = xp.where(k >= best, y_new[..., None], xs)
    x_new = xp.take_along_axis(xs_new, _stable_argsort(xp, order), axis=-1)
    return x_new, y_new


NAME = "max"
CONVEX = False
SUMMARY = "PJAX max node y = max(x) (max pooling; parity and benchmarks against PJAX)"
EQUATIONS = "PJAX Appendix C, Thm 8 (eq. 36–37)"
PROJECTION = max_projection
EMIT = (max_projection,)
REQUIRES = ("_common",)


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    return st.tuples(float_arrays((3, 4)), float_arrays((3,)))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    x, y = pt
    return np.abs(np.max(x, -1) - y) <= tol * (1.0 + np.abs(y))


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, -1) + (q[1] - p[1]) ** 2


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    x, y = args
    px, _ = max_projection(np, x, y)
    scale = np.logspace(-6, 1, n)[:, None, None]
    xs = px + scale * rng.normal(size=(n,) + x.shape)
    return xs, np.max(xs, -1)


def _bruteforce(args: tuple) -> tuple:
    """Minimize over y the cost of the nearest x with max(x) = y (x_j = min(x0_j, y),
    the largest raised to y if all lie below), by a dense grid and bounded refinement.
    """
    from scipy.optimize import minimize_scalar

    x, y = args
    bx, by = np.empty_like(x), np.empty_like(y)

    def point(t: float, x0: np.ndarray) -> np.ndarray:
        xt = np.minimum(x0, t)
        if np.max(x0) < t:
            xt[np.argmax(x0)] = t
        return xt

    for i in range(y.shape[0]):
        x0, y0 = x[i], y[i]

        def cost(
            t: float | np.ndarray, x0: np.ndarray = x0, y0: float = y0
        ) -> np.ndarray:
            t = np.asarray(t, dtype=float)[..., None]
            top = np.max(x0)
            lowered = np.sum((np.minimum(x0, t) - x0) ** 2, -1)
            raised = np.where(t[..., 0] > top, (t[..., 0] - top) ** 2, 0.0)
            return lowered + raised + (t[..., 0] - y0) ** 2

        lo = min(x0.min(), y0) - 1.0
        hi = max(x0.max(), y0) + 1.0
        grid = np.linspace(lo, hi, 4001)
        k = int(np.argmin(cost(grid)))
        res = minimize_scalar(
            lambda t, cost=cost: float(cost(t)),
            bounds=(grid[max(k - 1, 0)], grid[min(k + 1, 4000)]),
            method="bounded",
            options={"xatol": 1e-13},
        )
        t = float(res.x) if cost(res.x) < cost(grid[k]) else float(grid[k])
        bx[i], by[i] = point(t, x0), t
    return bx, by


SPEC = PropertySpec(
    project=max_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
    arity=2,
    nearest_bruteforce=_bruteforce,
)
