"""PJAX parity: proximal operator of the cross-entropy loss (PJAX Thm 11). Used for
parity/benchmarks (PJAX's output node; lwlc's classifiers use hard margins instead).

x* = argmin λ (LSE(x) − y·x) + ½‖x − x0‖² is characterized by x* = x0 + λ (y −
softmax(x*)) (eq. 49). PJAX iterates that fixed point 10 times, which need not converge
(the map contracts only for λ < 2); here it is solved exactly. With v = x0 + λ y and c =
LSE(x*), each s_i = softmax(x*)_i solves log s_i + λ s_i = v_i − c, i.e. t_i = log(λ
s_i) solves e^t + t = log λ + v_i − c (a Lambert-W equation: 8 Newton steps from the
asymptotic guess), and c is the root of the convex decreasing ψ(c) = Σ s_i(c) − 1 in
[LSE(v) − λ, LSE(v)], found by 12 Newton steps from the left end (monotone), safeguarded
by bisection. Then x* = v − λ s.
"""

from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _fixed_loop
from lwlc.sets._spec import PropertySpec, float_arrays, scalar

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def cross_entropy_lambert_step(
    xp: "ModuleType", state: "tuple", ell: "Array"
) -> "tuple":
    """Newton step on e^t + t = ℓ (convex increasing)."""
    t = state[0]
    e = xp.exp(t)
    return (t - (e + t - ell) / (e + 1.0),)


def cross_entropy_softmax_at(
    xp: "ModuleType", c: "Array", v: "Array", loglam: "Array"
) -> "Array":
    """s_i(c) solving log s_i + λ s_i = v_i − c."""
    ell = loglam + v - c
    big = ell > 1.0
    safe = xp.where(big, ell, 2.0)
    t = xp.where(big, xp.log(safe - xp.log(safe)), ell - xp.exp(xp.minimum(ell, 1.0)))
    t = _fixed_loop(
        xp, 8, cross_entropy_lambert_step, (t,), (ell,), elementwise=True
    )[0]
    return xp.exp(t - loglam)


def cross_entropy_outer_step(
    xp: "ModuleType", state: "tuple", v: "Array", lam: "Array", loglam: "Array"
) -> "tuple":
    """Safeguarded Newton step on ψ(c) = Σ s_i(c) − 1 (convex, decreasing)."""
    c, lo, hi = state
    s = cross_entropy_softmax_at(xp, c, v, loglam)
    psi = xp.sum(s, axis=-1, keepdims=True) - 1.0
    dpsi = -xp.sum(s / (1.0 + lam * s), axis=-1, keepdims=True)
    lo = xp.where(psi > 0.0, c, lo)
    hi = xp.where(psi < 0.0, c, hi)
    c_newton = c - psi / dpsi
    ok = (c_newton >= lo) & (c_newton <= hi)
    c = xp.where(psi == 0.0, c, xp.where(ok, c_newton, 0.5 * (lo + hi)))
    return c, lo, hi


def cross_entropy_prox(
    xp: "ModuleType", x0: "Array", y: "Array", lam: "Array"
) -> "Array":
    """prox of λ·CE(·, y) at x0 (PJAX eq. 48–49); logits on the last axis, λ > 0
    broadcast over the leading axes."""
    lam = xp.asarray(lam)[..., None] + xp.zeros_like(x0[..., :1])
    v = x0 + lam * y
    top = xp.max(v, axis=-1, keepdims=True)
    lse = top + xp.log(xp.sum(xp.exp(v - top), axis=-1, keepdims=True))
    loglam = xp.log(lam)
    state = (lse - lam, lse - lam, lse)
    c = _fixed_loop(xp, 12, cross_entropy_outer_step, state, (v, lam, loglam))[0]
    return v - lam * cross_entropy_softmax_at(xp, c, v, loglam)


NAME = "cross_entropy"
CONVEX = True
SUMMARY = (
    "PJAX cross-entropy prox x = x0 + λ(y − softmax(x)), solved exactly "
    "(parity/benchmarks)"
)
EQUATIONS = "PJAX Appendix C.2, Thm 11 (eq. 47–52)"
PROJECTION = cross_entropy_prox
EMIT = (
    cross_entropy_lambert_step,
    cross_entropy_softmax_at,
    cross_entropy_outer_step,
    cross_entropy_prox,
)
REQUIRES = ("_common",)


# --- properties (not emitted): a prox, so "in the set" is the optimality condition, "ne
# compares the prox objective, and idempotence does not apply
# --------------------------------


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _lse(x: np.ndarray) -> np.ndarray:
    m = x.max(-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))[..., 0]


def _make_args() -> object:
    from hypothesis import strategies as st

    def build(x0: np.ndarray, label: list, lam: np.ndarray) -> tuple:
        return x0, np.eye(4)[np.asarray(label)], lam

    return st.builds(
        build,
        float_arrays((3, 4)),
        st.lists(st.integers(0, 3), min_size=3, max_size=3),
        scalar(0.01, 50.0),
    )


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    x = pt[0]
    x0, y, lam = args
    res = x - x0 - lam * (y - _softmax(x))
    return np.max(np.abs(res), -1) <= tol * (1.0 + np.abs(x0).max() + lam)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum((q[0] - p[0]) ** 2, -1)


def _objective(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    x0, y, lam = args
    x = q[0]
    return lam * (_lse(x) - np.sum(y * x, -1)) + 0.5 * np.sum((x - x0) ** 2, -1)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    x0, y, lam = args
    px = cross_entropy_prox(np, x0, y, lam)
    scale = np.logspace(-7, 1, n)[:, None, None]
    return (px + scale * rng.normal(size=(n,) + x0.shape),)


SPEC = PropertySpec(
    project=cross_entropy_prox,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=True,
    objective=_objective,
    idempotent=False,
    tol=1e-10,
    jax_eager_examples=1,
)
