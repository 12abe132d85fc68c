"""Bilinear projection (Elser eq. 17–19, 51–54, Lemma B.1) on hard inputs."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from lwlc.sets._spec import call_jax
from lwlc.sets.bilinear import bilinear_multiplier, bilinear_projection


def _check(x, w, y, omega, ginv, satisfied=True):
    xn, wn, yn = bilinear_projection(np, x, w, np.asarray(y, dtype=float), omega, ginv)
    for a in (xn, wn, yn):
        assert np.all(np.isfinite(a))
    if satisfied:
        lhs = np.sum(xn * wn, -1)
        scale = (np.linalg.norm(xn, axis=-1) * np.linalg.norm(wn, axis=-1) + np.abs(omega * yn)
                 + np.abs(omega * np.asarray(y)))  # y' = y − u ω/g may cancel
        np.testing.assert_array_less(np.abs(lhs - omega * yn), 1e-13 * scale + 1e-300)
    if np.all(np.asarray(ginv) == 0.0):
        np.testing.assert_array_equal(yn, y)  # y is data in the NMF case
    rj = call_jax(bilinear_projection, x, w, np.asarray(y, dtype=float), np.asarray(omega),
                  np.asarray(ginv))
    for a, b, inp in zip((xn, wn, yn), rj, (x, w, y), strict=True):
        atol = 1e-14 * max(np.abs(a).max(), np.abs(inp).max())  # y' = y − u ω/g may cancel
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-12, atol=atol)
    return xn, wn, yn


X = np.array([[1.0, 2.0, -1.0], [0.3, -0.2, 0.5]])


@pytest.mark.parametrize("ginv", [0.0, 0.5])
def test_x_equals_w_with_a_root(ginv: float) -> None:
    # x = w: h0(u) = p/(1 − u)² − ω y + ω² g⁻¹ u has a root in (−1, 1) when ω y > p/4 − ...
    _check(X, X.copy(), np.array([10.0, 3.0]), 1.0, ginv)


@pytest.mark.parametrize("ginv", [0.0, 0.5])
def test_x_equals_minus_w_with_a_root(ginv: float) -> None:
    _check(X, -X, np.array([-10.0, -3.0]), 1.0, ginv)


def test_x_equals_w_beyond_the_root_breaks_the_symmetry() -> None:
    # x = w with ω y < p/4 (NMF): no root in (−1, 1); at u = −1, s' = x and d' is free: the
    # constraint fixes its length √(p − 4 ω y); every direction is as near, and d = 0 leaves
    # it along s (the rows' elementwise pass stays as it is)
    y = np.array([0.5, 0.01])
    xn, wn, yn = _check(X, X.copy(), y, 1.0, 0.0)
    half = np.sqrt(np.sum(X * X, -1) / 4 - y)
    along = X / np.linalg.norm(X, axis=-1, keepdims=True)
    np.testing.assert_allclose(xn, X / 2 + half[:, None] * along, rtol=1e-14)
    np.testing.assert_allclose(wn, X / 2 - half[:, None] * along, rtol=1e-14)
    u = bilinear_multiplier(np, np.sum(X * X, -1), 2 * np.sum(X * X, -1), y, 1.0, 0.0)
    np.testing.assert_allclose(u, -1.0)


def _idempotent(x, w, y, omega, ginv):
    once = bilinear_projection(np, x, w, np.asarray(y, dtype=float), omega, ginv)
    twice = bilinear_projection(np, *once, omega, ginv)
    for a, b in zip(once, twice, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-14)


def test_generated_model_26329_row_is_projected_onto_the_set() -> None:
    """The neuron row of tests/modelgen.py's seed 26329 (fan-in 1, x = w exactly, y far
    below x w, g = 2): P(x) was (x/2, x/2, y + 1/2), off the set, and P(P(x)) moved y by
    another 1/2. At u = −1 the nearest points are (x/2 ± L, x/2 ∓ L, y + 1/2)."""
    from lwlc.sets.bilinear import SPEC

    x = np.array([[0.1621803421134781]])
    y = np.array([-2.4394568262829526])
    xn, wn, yn = _check(x, x.copy(), y, 1.0, 0.5)
    L = np.sqrt((x[0, 0] / 2) ** 2 - (y[0] + 0.5))
    np.testing.assert_allclose(yn, y + 0.5, rtol=1e-15)
    np.testing.assert_allclose([xn[0, 0], wn[0, 0]], [x[0, 0] / 2 + L, x[0, 0] / 2 - L],
                               rtol=1e-14)
    _idempotent(x, x.copy(), y, 1.0, 0.5)
    # as near as SciPy's minimum (started off the line x = w)
    args = (x, x.copy(), y, 1.0, 0.5)
    near = SPEC.distance(args[:3], (xn, wn, yn), args)
    assert near <= SPEC.distance(args[:3], SPEC.nearest_bruteforce(args), args) + 1e-12


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_root_closer_to_the_pole_than_the_solve_resolves(sign: float) -> None:
    # tiny x and w, x − w (x + w for sign −1) of order 1e−110: 1 ± u ≈ 1e−110 lies below
    # the solve's floor on α; the free part keeps its direction and takes the length the
    # constraint leaves it
    x = 1e-100 * np.array([[1.0, 2.0], [0.5, -1.0]])
    w = sign * (x + np.array([[0.0, 1e-110], [3e-111, 0.0]]))
    y = sign * np.array([-3.0, -0.4])
    for ginv in (0.0, 0.5):
        xn, wn, _ = _check(x, w, y, 1.0, ginv)
        _idempotent(x, w, y, 1.0, ginv)
        free = xn - sign * wn  # along the row's own x − w (x + w)
        assert abs(free[0, 0]) < 1e-90 * abs(free[0, 1])
        assert abs(free[1, 1]) < 1e-90 * abs(free[1, 0])


def test_zero_vectors() -> None:
    z = np.zeros((4, 3))
    y = np.array([0.3, -0.2, 3.0, 0.0])
    # with a free y, u = clip(y g/ω, −1, 1) and y' = y − u ω/g; where |y| > ω/g, u = ±1 and
    # x' = ±w' has the length √|ω y'|, along the diagonal (x = w = 0 gives no direction)
    diagonal = np.ones(3) / np.sqrt(3.0)
    xn, wn, yn = _check(z, z, y, 1.0, 0.5)
    np.testing.assert_allclose(yn, [0.0, 0.0, 2.5, 0.0])
    np.testing.assert_allclose(xn, np.sqrt([0.0, 0.0, 2.5, 0.0])[:, None] * diagonal)
    np.testing.assert_array_equal(wn, xn)
    _idempotent(z, z, y, 1.0, 0.5)
    # NMF (y fixed): u = ±1 (or 0 for y = 0), |x'| = |w'| = √|ω y|, x' = sign(y) w'
    xn, wn, yn = _check(z, z, y, 1.0, 0.0)
    np.testing.assert_allclose(xn, np.sqrt(np.abs(y))[:, None] * diagonal)
    np.testing.assert_allclose(wn, (np.sign(y) * np.sqrt(np.abs(y)))[:, None] * diagonal)
    _idempotent(z, z, y, 1.0, 0.0)
    u = bilinear_multiplier(np, np.zeros(4), np.zeros(4), y, 1.0, 0.0)
    np.testing.assert_allclose(u, [1.0, -1.0, 1.0, 0.0])


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("ginv", [0.0, 0.3])
def test_magnitudes(scale: float, ginv: float) -> None:
    rng = np.random.default_rng(3)
    x = scale * rng.normal(size=(50, 6))
    w = scale * rng.normal(size=(50, 6))
    # y on the scale of x·w, and y far from it in both directions (roots near the poles)
    for y in (scale**2 * rng.normal(size=50), rng.normal(size=50), 1e6 * rng.normal(size=50)):
        _check(x, w, y, 1.3, ginv * scale**2)
        _check(x, w, y, 1.3, ginv)


def test_near_parallel_and_antiparallel() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 5))
    for sign in (1.0, -1.0):
        w = sign * x + 1e-9 * rng.normal(size=x.shape)
        _check(x, w, 5.0 * rng.normal(size=40), 1.0, 0.0)
        _check(x, w, 5.0 * rng.normal(size=40), 0.7, 0.2)


def _h0(u, p, q, y, omega, ginv):
    return (p * (1 + u * u) + q * u) / (1 - u * u) ** 2 - omega * y + omega**2 * ginv * u


def test_multiplier_is_the_root_of_h0() -> None:
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    p, q = np.sum(x * w, -1), np.sum(x * x + w * w, -1)
    y, omega, ginv = 3.0 * rng.normal(size=20), 1.2, 0.4
    u = bilinear_multiplier(np, p, q, y, omega, ginv)
    assert np.all(np.abs(u) < 1.0)
    mpmath.mp.dps = 40
    for i in range(20):
        lo, hi = mpmath.mpf(-1), mpmath.mpf(1)
        for _ in range(200):  # h0 is increasing on (−1, 1) (Lemma B.1)
            mid = (lo + hi) / 2
            if _h0(mid, mpmath.mpf(p[i]), mpmath.mpf(q[i]), mpmath.mpf(y[i]), omega, ginv) > 0:
                hi = mid
            else:
                lo = mid
        assert abs(u[i] - float(lo)) <= 1e-15 * (1 + abs(float(lo)))


def test_matches_eq_19_in_the_generic_case() -> None:
    rng = np.random.default_rng(6)
    x, w, y = rng.normal(size=(30, 7)), rng.normal(size=(30, 7)), rng.normal(size=30)
    omega, ginv = 1.0, 1.0 / 7.0
    xn, wn, yn = bilinear_projection(np, x, w, y, omega, ginv)
    u = bilinear_multiplier(np, np.sum(x * w, -1), np.sum(x * x + w * w, -1), y, omega, ginv)
    den = (1 - u * u)[:, None]
    np.testing.assert_allclose(xn, (x + u[:, None] * w) / den, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(wn, (w + u[:, None] * x) / den, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(yn, y - u * omega * ginv, rtol=1e-13, atol=1e-15)


def test_float32_stays_finite() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    w = rng.normal(size=(20, 4)).astype(np.float32)
    y = (10 * rng.normal(size=20)).astype(np.float32)
    for out in (bilinear_projection(np, x, w, y, 1.0, 0.0),
                call_jax(bilinear_projection, x, w, y, 1.0, 0.0, x64=False)):
        for a in out:
            assert np.asarray(a).dtype == np.float32 and np.all(np.isfinite(np.asarray(a)))
        lhs = np.sum(np.asarray(out[0]) * np.asarray(out[1]), -1)
        np.testing.assert_allclose(lhs, y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ginv", [1.0, 0.0])
def test_a_first_newton_step_onto_the_initial_bracket_end_is_not_converged(ginv):
    """x = 0, w = (1/2, ..), y = 1, ω = g = 1: the first Newton step lands exactly on u =
    1/2, the bracket's initial end, which was taken for the root (x'·w' = 0.889 for ω y' =
    0.5). NumPy, JAX and the fused kernel's scalar solve."""
    from lwlc.runtime.fused import multiplier

    x, w, y = np.zeros((1, 4)), np.full((1, 4), 0.5), np.array([1.0 if ginv else 0.125])
    for out in (bilinear_projection(np, x, w, y, 1.0, ginv),
                call_jax(bilinear_projection, x, w, y, np.asarray(1.0), np.asarray(ginv))):
        xn, wn, yn = (np.asarray(a) for a in out)
        assert abs(float(np.sum(xn * wn)) - float(yn[0])) < 1e-14
        again = bilinear_projection(np, xn, wn, yn, 1.0, ginv)
        moved = [float(np.max(np.abs(a - b))) for a, b in zip(again, (xn, wn, yn), strict=True)]
        assert max(moved) < 1e-14
    p, q = float(np.sum(x * w)), float(np.sum(x * x + w * w))
    S, D = float(np.sum((x + w) ** 2)), float(np.sum((x - w) ** 2))
    u, _, _ = multiplier(p, q, S, D, float(y[0]), 1.0, ginv)
    assert u == pytest.approx(float(bilinear_multiplier(np, p, q, y[0], 1.0, ginv)), abs=1e-14)
    assert u != 0.5


def test_under_vmap_a_pole_in_one_instance_leaves_the_others_bit_for_bit() -> None:
    """The restarts vmap the step: the pole branch is taken for all instances when one needs
    it, and gives every other row exactly what the plain branch gives."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(2, 3, 4, 5))
    y = rng.normal(size=(3, 4))
    w[1, 2] = x[1, 2]  # instance 1, row 2: x = w, and y far below: a pole
    y[1, 2] = -9.0

    def project(a, b, c):
        return bilinear_projection(jnp, a, b, c, 1.0, 0.5)

    batched = jax.jit(jax.vmap(project))(jnp.asarray(x), jnp.asarray(w), jnp.asarray(y))
    for i in range(3):
        alone = jax.jit(project)(jnp.asarray(x[i]), jnp.asarray(w[i]), jnp.asarray(y[i]))
        for got, want in zip(batched, alone, strict=True):
            np.testing.assert_array_equal(np.asarray(got[i]), np.asarray(want))
    assert not np.allclose(batched[0][1, 2], batched[1][1, 2])  # the pole breaks x = w


@pytest.mark.parametrize("ginv", [0.0, 0.7])
@pytest.mark.parametrize("widths", [[(4, 2), (3, 5), (2, 9)], [(4, 2), (30, 5), (2, 9)]],
                         ids=["merged", "a-dominant-group-alone"])
def test_groups_share_one_solve_and_equal_each_group_alone(ginv: float, widths) -> None:
    """bilinear_projection_groups (a family's rows of several in-degrees, one root
    solve) gives each group what bilinear_projection gives it alone, under NumPy and
    JAX; a row at a pole in one group (x = w beyond the root) leaves the others as
    they are."""
    import jax
    import jax.numpy as jnp

    from lwlc.sets.bilinear import bilinear_projection_groups

    rng = np.random.default_rng(3)
    groups = []
    for n, m in widths:
        x, w = rng.normal(size=(6, n, m)), rng.normal(size=(6, n, m))
        groups.append((x, w, rng.normal(size=(6, n)), ginv * rng.uniform(0.5, 2, size=n)))
    x, w, y, g = groups[1]
    w[2, 1] = x[2, 1]  # a pole row: x = w with ω y far below p
    y[2, 1] = -50.0
    omega = 1.7
    got = bilinear_projection_groups(np, groups, omega)
    with jax.enable_x64(True):
        jgot = jax.jit(lambda gs: bilinear_projection_groups(jnp, gs, omega))(
            [tuple(jnp.asarray(a) for a in grp) for grp in groups])
    for grp, mine, theirs in zip(groups, got, jgot, strict=True):
        alone = bilinear_projection(np, *grp[:3], omega, grp[3])
        for a, b, c in zip(alone, mine, theirs, strict=True):
            assert a.shape == b.shape == c.shape
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(np.asarray(c), a, rtol=1e-12, atol=1e-13)
    xn, wn, yn = got[1]
    np.testing.assert_allclose(np.sum(xn * wn, -1), omega * yn, atol=1e-12)
