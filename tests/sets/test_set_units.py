"""Hand-made examples: the conventions of Elser Sect. 4.2, 5.2–5.3, 6.2 and the golden README, and
PJAX Appendix C."""

from __future__ import annotations

import math

import numpy as np
import pytest
from set_examples import examples

from lwlc.sets import REGISTRY
from lwlc.sets._spec import call_jax
from lwlc.sets.activation import (
    activation_fixed_projection,
    activation_inference,
    activation_projection,
    activation_yb_update,
)
from lwlc.sets.margin import class_distances, class_projection, margin_projection
from lwlc.sets.nonneg_sphere import nonneg_sphere_projection
from lwlc.sets.piecewise import (
    piecewise_fixed_projection,
    piecewise_inference,
    piecewise_projection,
    relu_pieces,
    step_pieces,
    zigmoid_pieces,
)
from lwlc.sets.pjax_cross_entropy import cross_entropy_prox
from lwlc.sets.pjax_margin import pjax_margin_projection
from lwlc.sets.pjax_max import max_projection
from lwlc.sets.pjax_quantize import equidistant_levels, quantize_projection
from lwlc.sets.pjax_sum import sum_projection
from lwlc.sets.smooth import tanh_piece
from lwlc.sets.sparse_nonneg import sparse_nonneg_projection
from lwlc.sets.sphere import sphere_projection

BOTH = ["numpy", "jax"]


def ev(backend: str, fn, *args):
    """fn(np, *args), or jitted fn(jnp, *args) in float64 (arrays traced, the rest static)."""
    args = tuple(np.asarray(a, dtype=float) if isinstance(a, list) else a for a in args)
    if backend == "numpy":
        out = fn(np, *args)
    else:
        out = call_jax(fn, *args)
    return tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else np.asarray(out)


@pytest.mark.parametrize("be", BOTH)
def test_nonneg_sphere_all_negative(be) -> None:
    """No positive entry: radius at the largest (least negative) entry (Sect. 4.2, README)."""
    v = np.array([[-3.0, -1.0, -2.0], [-1.0, -1.0, -5.0], [0.0, 0.0, 0.0], [3.0, -1.0, 4.0]])
    out = ev(be, nonneg_sphere_projection, v, 2.0)
    np.testing.assert_allclose(out, [[0, 2, 0], [2, 0, 0], [2, 0, 0], [1.2, 0, 1.6]])


@pytest.mark.parametrize("be", BOTH)
def test_sphere_and_sparse(be) -> None:
    out = ev(be, sphere_projection, np.zeros((2, 3)), np.array([2.0, 3.0]))
    np.testing.assert_array_equal(out, [[2, 0, 0], [3, 0, 0]])
    v = np.array([1.0, 3.0, 3.0, -2.0, 0.5])
    for s, want in [(2, [0, 3, 3, 0, 0]), (1, [0, 3, 0, 0, 0]), (4, [1, 3, 3, 0, 0.5]),
                    (0, [0, 0, 0, 0, 0])]:
        np.testing.assert_array_equal(ev(be, sparse_nonneg_projection, v, s), want)


# --- class constraints (eq. 26d–e, 32, 33; Sect. 6.2) -----------------------------------------


def _run(be, z, labels, mode, count, allow=0, margin=1.0):
    return ev(be, class_projection, np.asarray(z, float), np.asarray(labels), margin, mode,
              count, allow)


@pytest.mark.parametrize("be", BOTH)
def test_plain_margin(be) -> None:
    z = [[0.5, 0.2, -1.0], [2.0, 3.0, 0.5]]
    want = [[1.0, 0.0, -1.0], [0.0, 3.0, 0.0]]
    np.testing.assert_array_equal(_run(be, z, [0, 1], "plain", 0), want)
    out = ev(be, margin_projection, np.asarray(z), np.asarray([0, 1]), 1.0)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("be", BOTH)
def test_exemptions_leave_the_farthest_items(be) -> None:
    """Eq. 32: the EE items whose projection moves y and b the most keep them."""
    z = [[2.0, -1.0, -1.0],   # satisfied, d = 0
         [0.5, 0.5, 0.0],     # label 1, d = 0.25
         [3.0, 0.0, -2.0]]    # label 2, d = 9
    labels = [0, 1, 2]
    np.testing.assert_array_equal(_run(be, z, labels, "exempt", 1),
                                  [[2, -1, -1], [0, 1, 0], [3, 0, -2]])
    np.testing.assert_array_equal(_run(be, z, labels, "exempt", 2), z)
    np.testing.assert_array_equal(_run(be, z, labels, "exempt", 0),
                                  [[2, -1, -1], [0, 1, 0], [0, 0, 1]])
    # ties: the lower item index is exempted
    tied = [[0.0, 2.0, 0.0], [0.0, 2.0, 0.0]]
    np.testing.assert_array_equal(_run(be, tied, [0, 0], "exempt", 1), [[0, 2, 0], [1, 0, 0]])


@pytest.mark.parametrize("be", BOTH)
def test_relabeling_picks_the_largest_excess(be) -> None:
    """Eq. 33: the EE items with the largest positive excess distance take their best label."""
    z = [[-2.0, 3.0, -1.0],   # label 0, looks like 1: excess 9
         [0.2, 0.8, -1.0],    # label 1: excess 0
         [1.5, -1.0, -0.5]]   # label 2, looks like 0: excess 2.25
    labels = [0, 1, 2]
    np.testing.assert_allclose(_run(be, z, labels, "relabel", 1),
                               [[-2, 3, -1], [0, 1, -1], [0, -1, 1]])
    np.testing.assert_allclose(_run(be, z, labels, "relabel", 2),
                               [[-2, 3, -1], [0, 1, -1], [1.5, -1, -0.5]])


@pytest.mark.parametrize("be", BOTH)
def test_false_positive_allowance(be) -> None:
    """Sect. 6.2 / README: fakes (0) closer to genuine (1) are candidates; at most FPA of them,
    the largest advantages, are projected as genuine; genuine items always as genuine."""
    z = [[0.5, 0.5],    # genuine → projected as genuine
         [-1.0, 2.0],   # fake, advantage 4
         [0.5, 1.5],    # fake, advantage 1.125
         [2.0, -1.0]]   # fake, satisfied: not a candidate
    labels = [1, 0, 0, 0]
    np.testing.assert_allclose(_run(be, z, labels, "allow", 1, allow=1),
                               [[0, 1], [-1, 2], [1, 0], [2, -1]])
    np.testing.assert_allclose(_run(be, z, labels, "allow", 2, allow=1),
                               [[0, 1], [-1, 2], [0, 1.5], [2, -1]])
    np.testing.assert_allclose(_run(be, z, labels, "allow", 0, allow=1),
                               [[0, 1], [1, 0], [1, 0], [2, -1]])



# --- activation sets (eq. 26c, 28–30, 38; README) ---------------------------------------------


@pytest.mark.parametrize("be", BOTH)
def test_relu_is_isotropic_in_x_y_b(be) -> None:
    """Out-degree n: weights (n, n, n) on (x, y, b) ⇔ gz = n/2, gx = n in the (z, x) plane."""
    n = 3.0
    x, y, b = 2.0, 1.0, -0.5
    z = y - b
    zn, xn = ev(be, piecewise_projection, np.array([z]), np.array([x]), n / 2, n, relu_pieces())
    yn, bn = ev(be, activation_yb_update, np.array([y]), np.array([b]), zn - z, n, n)
    lam = (x - y + b) / 3.0  # projection onto the plane x = y − b
    np.testing.assert_allclose(xn, [x - lam], rtol=1e-15)
    np.testing.assert_allclose(yn, [y + lam], rtol=1e-15)
    np.testing.assert_allclose(bn, [b - lam], rtol=1e-15)
    zn, xn = ev(be, piecewise_projection, np.array([-1.0]), np.array([0.2]), n / 2, n,
                relu_pieces())
    np.testing.assert_array_equal([zn[0], xn[0]], [-1.0, 0.0])


def test_yb_update_minimizes_the_weighted_change() -> None:
    y, b, dz, gy, gb = 0.3, -0.2, 0.7, 2.0, 5.0
    yn, bn = activation_yb_update(np, y, b, dz, gy, gb)
    assert math.isclose(yn - bn, y - b + dz)
    assert math.isclose(gy * (yn - y) ** 2 + gb * (bn - b) ** 2, dz * dz * gy * gb / (gy + gb))


@pytest.mark.parametrize("be", BOTH)
def test_fixed_x_on_step_and_zigmoid(be) -> None:
    """README autoencoder: z ≤ −Δ for 0, z ≥ Δ for 1, z = Δ(2x − 1) strictly between."""
    d = 0.5
    got = ev(be, piecewise_fixed_projection, np.array([0.3, 0.3, 2.0, -3.0]),
             np.array([0.0, 1.0, 1.0, 0.0]), step_pieces(d))
    np.testing.assert_array_equal(got, [-0.5, 0.5, 2.0, -3.0])
    got = ev(be, piecewise_fixed_projection, np.array([0.3, 0.3, 0.9]),
             np.array([0.25, 0.0, 0.75]), zigmoid_pieces(d))
    np.testing.assert_allclose(got, [-0.25, -0.5, 0.25])
    # unreachable x: the piece whose value is nearest, then the nearest z (documented)
    got = ev(be, piecewise_fixed_projection, np.array([0.3, -2.0, 0.0]),
             np.array([0.5, 0.7, 0.2]), step_pieces(d))
    np.testing.assert_array_equal(got, [0.5, 0.5, -0.5])


@pytest.mark.parametrize("be", BOTH)
def test_inference_in_gaps_takes_the_nearest_piece(be) -> None:
    z = np.array([0.0, -0.2, 0.2, -3.0, 3.0])
    np.testing.assert_array_equal(ev(be, piecewise_inference, z, step_pieces(0.5)),
                                  [1, 0, 1, 0, 1])
    np.testing.assert_allclose(ev(be, piecewise_inference, z, zigmoid_pieces(0.5)),
                               [0.5, 0.3, 0.7, 0, 1])
    np.testing.assert_array_equal(ev(be, piecewise_inference, z, relu_pieces()),
                                  [0, 0, 0.2, 0, 3])
    mixed = relu_pieces()[:1] + (tanh_piece(0.0, math.inf),)
    np.testing.assert_allclose(ev(be, activation_inference, z, mixed),
                               [0, 0, math.tanh(0.2), 0, math.tanh(3.0)], rtol=1e-15)


def test_mixed_pieces_agree_with_affine_only() -> None:
    """With affine pieces only, the mixed dispatcher is the piecewise projection."""
    rng = np.random.default_rng(1)
    z, x = rng.normal(size=50) * 2, rng.normal(size=50)
    a = piecewise_projection(np, z, x, 1.5, 3.0, zigmoid_pieces(0.5))
    b = activation_projection(np, z, x, 1.5, 3.0, zigmoid_pieces(0.5))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(piecewise_fixed_projection(np, z, x, zigmoid_pieces(0.5)),
                                  activation_fixed_projection(np, z, x, zigmoid_pieces(0.5)))


@pytest.mark.parametrize("be", BOTH)
def test_a_curve_projection_reaches_the_minimizer_where_its_segments_stop_short(be) -> None:
    """tanh with gz 0.5, gx 10: a segment's Newton/bisection solve stopped 6e-6 short of
    the minimizer, and NumPy and jitted JAX stopped at different points (a user test).
    The minimizer by mpmath's root of s(t) = gz (t - z) + gx (tanh t - x) sech² t."""
    import mpmath

    z = np.array([-2.4878501695618502, -0.42679634152324925])
    x = np.array([-4.541235045139776, 3.085519001958191])
    gz = np.full(2, 0.5)
    t, _ = ev(be, activation_projection, z, x, gz, 10.0, (tanh_piece(),))
    for i in range(2):
        with mpmath.workdps(40):
            def s(u, i=i):
                return 0.5 * (u - z[i]) + 10.0 * (mpmath.tanh(u) - x[i]) * mpmath.sech(u) ** 2
            exact = float(mpmath.findroot(s, float(t[i])))
        assert abs(t[i] - exact) <= 1e-13 * (1 + abs(exact))


@pytest.mark.parametrize("be", BOTH)
def test_fixed_x_on_a_curve(be) -> None:
    got = ev(be, activation_fixed_projection, np.array([0.0, 5.0, -1.0]),
             np.array([0.5, -0.3, 0.0]), (tanh_piece(),))
    np.testing.assert_allclose(got, np.arctanh([0.5, -0.3, 0.0]), rtol=1e-14, atol=1e-15)


def _bump(xp, t):
    return 2.0 * xp.exp(-t * t) - 1.0


def _dbump(xp, t):
    return -4.0 * t * xp.exp(-t * t)


def _d2bump(xp, t):
    return (8.0 * t * t - 4.0) * xp.exp(-t * t)


@pytest.mark.parametrize("be", BOTH)
def test_fixed_x_on_a_curve_finds_roots_beside_and_at_its_turning_point(be) -> None:
    """x = 2 exp(-z²) - 1: at x = 0.98707 both roots (±0.0805) lie within one spacing
    of the grid of nodes, which showed no sign change, and from z = -1.146 the result
    was 0.104 (0.009 off); at x = 1, the tangent root 0, z = 0.3 gave 0.05 (a user
    test). The turning points nearest to z are nodes now."""
    pieces = (("curve", -math.inf, math.inf, _bump, _dbump, _d2bump),)
    z = np.array([0.3, 0.125, -1.146, 2.0])
    x = np.array([1.0, 1.0, 0.98707, 0.98707])
    got = ev(be, activation_fixed_projection, z, x, pieces)
    root = math.sqrt(-math.log((1.0 + 0.98707) / 2.0))
    np.testing.assert_allclose(got, [0.0, 0.0, -root, root], atol=1e-12)
    # on a piece of a bounded interval the turning points stay inside it: z = 4.54 outside
    # [-2, 2] was a node, and the result 4.42 lay outside the set (a user test)
    wave = (("curve", -2.0, 2.0, lambda xp, t: xp.sin(3.0 * t),
             lambda xp, t: 3.0 * xp.cos(3.0 * t), lambda xp, t: -9.0 * xp.sin(3.0 * t)),)
    got = ev(be, activation_fixed_projection, np.array([4.5379, 2.5]), np.array([0.62925, 0.9]),
             wave)
    np.testing.assert_allclose(got, [(math.pi - math.asin(0.62925)) / 3.0,
                                     (math.pi - math.asin(0.9)) / 3.0], atol=1e-12)
    # from z 16 or more outside the piece its dense nodes covered nothing: x = sin(z) on
    # [-3, 3] at x = 0.608 gave 3.0 from z = -27.94, and 6.0 from 40 (a user test)
    got = ev(be, activation_fixed_projection, np.array([-27.94, 40.0]), np.array([0.608, 0.1]),
             (("curve", -3.0, 3.0, lambda xp, t: xp.sin(t), lambda xp, t: xp.cos(t),
               lambda xp, t: -xp.sin(t)),))
    np.testing.assert_allclose(got, [math.asin(0.608), math.asin(0.1)], atol=1e-12)


# --- PJAX Appendix C -------------------------------------------------------------------------


@pytest.mark.parametrize("be", BOTH)
def test_pjax_primitives(be) -> None:
    x, y = ev(be, sum_projection, np.array([1.0, 2.0, 3.0]), np.asarray(0.0))
    np.testing.assert_allclose(x, [-0.5, 0.5, 1.5])
    assert float(y) == 1.5
    x, y = ev(be, max_projection, np.array([3.0, 1.0, 2.0]), np.asarray(0.0))
    np.testing.assert_allclose(x, [5 / 3, 1.0, 5 / 3])
    np.testing.assert_allclose(float(y), 5 / 3)
    x, y = ev(be, quantize_projection, np.array([0.2, -2.0]), np.array([0.9, 0.1]),
              (-1.0, 0.0, 1.0))
    np.testing.assert_allclose(x, [0.5, -2.0])
    np.testing.assert_allclose(y, [1.0, -1.0])
    assert equidistant_levels(5, 1.0) == (-1.0, -0.5, 0.0, 0.5, 1.0)
    out = ev(be, pjax_margin_projection, np.array([0.5, -1.0, 0.3]), np.array([0, 1, 1]), 1.0)
    np.testing.assert_array_equal(out, [0.0, 1.0, 1.0])


@pytest.mark.parametrize("lam", [0.1, 5.0, 100.0])
@pytest.mark.parametrize("be", BOTH)
def test_cross_entropy_prox_is_exact(be, lam: float) -> None:
    """Eq. 49 holds to rounding even where PJAX's fixed-point iteration does not converge."""
    rng = np.random.default_rng(2)
    x0 = 4.0 * rng.normal(size=(20, 5))
    y = np.eye(5)[rng.integers(0, 5, 20)]
    x = ev(be, cross_entropy_prox, x0, y, np.asarray(lam))
    e = np.exp(x - x.max(-1, keepdims=True))
    res = x - x0 - lam * (y - e / e.sum(-1, keepdims=True))
    assert np.abs(res).max() <= 1e-12 * (1 + lam + np.abs(x0).max())


# --- float32 (the JAX backend's fast mode) ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_float32_runs_and_stays_close(name: str) -> None:
    proj = REGISTRY[name].PROJECTION
    ref = proj(np, *examples(np.float64)[name])
    ref = ref if isinstance(ref, tuple) else (ref,)
    out = call_jax(proj, *examples(np.float32)[name], x64=False)
    out = out if isinstance(out, tuple) else (out,)
    for a, r in zip(out, ref, strict=True):
        a = np.asarray(a)
        assert a.dtype == np.float32, (name, a.dtype)  # the float32 JAX solver stays float32
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, r, rtol=2e-3, atol=2e-3)


def test_fixed_activation_nearest_at_the_tolerance_edge() -> None:
    """x = 1e-12 lies just outside the constant relu piece's tolerance (4096 eps): the
    projection takes the exact root z' = 1e-12, and the property check's dense samples
    must use the same tolerance (a random-mode draw found them looser)."""
    from lwlc.sets import activation
    from lwlc.sets._spec import check_nearest

    z = -np.ones(6)
    x = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1e-12])
    relu = (("affine", -np.inf, 0.0, 0.0, 0.0), ("affine", 0.0, np.inf, 1.0, 0.0))
    got = activation.activation_fixed_projection(np, z, x, relu)
    np.testing.assert_array_equal(got, [-1.0] * 5 + [1e-12])
    check_nearest(activation.SPEC, (z, x, np.ones(6), np.ones(6), relu, "fixed"))


@pytest.mark.parametrize("be", BOTH)
def test_a_steep_curve_is_projected_to_its_nearest_point(be) -> None:
    """x = t³ from (z, x) = (±10, 0), (±6, 0): the nearest points are t = ±1.23904 and
    ±1.10297 (a grid of 2e6 points over [-10, 10]). Undamped Newton steps on the steep
    stationarity condition stopped at t = 2.7485 (energy 483.7 against 80.37)."""
    from lwlc.sets.activation import activation_projection

    cube = ("curve", -math.inf, math.inf, lambda xp, t: t**3, lambda xp, t: 3 * t**2,
            lambda xp, t: 6 * t)
    z = np.array([10.0, 6.0, -10.0, -6.0])
    t, x = ev(be, activation_projection, z, np.zeros(4), 1.0, 1.0, (cube,))
    grid = np.linspace(-10, 10, 2_000_001)
    for zi, ti in zip(z, np.asarray(t), strict=True):
        energy = (grid - zi) ** 2 + grid**6
        best = grid[np.argmin(energy)]
        assert abs(ti - best) < 2e-5
        assert (ti - zi) ** 2 + ti**6 <= energy.min() + 1e-9
    np.testing.assert_allclose(np.asarray(x), np.asarray(t) ** 3, rtol=1e-12)


def test_an_exact_tie_of_two_pieces_goes_to_the_first_under_jit_too() -> None:
    """(0.1, 0.1) is as near to (0, 1) on a point piece as to (1, 0) on a flat one; jit's
    fused multiply-add made the second piece nearer by an ulp (NumPy: the first), and
    `lwlc test` failed NumPy = JAX on a legal set (a user test)."""
    pieces = (("affine", 0.0, 0.0, 0.0, 1.0), ("affine", 1.0, math.inf, 0.0, 0.0))
    a = np.full(3, 0.1)
    want = activation_projection(np, a, a, a, a, pieces)
    np.testing.assert_array_equal(want[1], [1.0, 1.0, 1.0])  # the first piece
    got = call_jax(activation_projection, a, a, a, a, pieces)  # jitted, float64
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(g), w)


@pytest.mark.parametrize("be", BOTH)
def test_own_label_distance_is_the_distance_at_the_label(be) -> None:
    from lwlc.sets.margin import class_distances, class_own_distance

    rng = np.random.default_rng(3)
    z = rng.normal(size=(2, 7, 5)) * 2
    labels = rng.integers(0, 5, size=(2, 7))
    weight = rng.uniform(0.2, 2.0, size=5)
    own = ev(be, class_own_distance, z, labels, 0.3, weight)
    every = ev(be, class_distances, z, 0.3, weight)
    want = np.take_along_axis(every, labels[..., None], axis=-1)[..., 0]
    # class_distances sums every node's (z)₊² once and takes node l's out: rounding of
    # that sum's size
    scale = np.sum(weight * np.maximum(z, 0.0) ** 2, axis=-1)
    assert np.all(np.abs(own - want) <= 1e-14 * (np.abs(want) + scale))


@pytest.mark.parametrize("be", BOTH)
def test_class_distances_are_the_weighted_change_of_each_labels_projection(be) -> None:
    """d[k, l] = Σ_c g_c Δz_c² of the margin projection with label l, by its definition."""
    from lwlc.sets.margin import class_distances, margin_projection

    rng = np.random.default_rng(4)
    z = rng.normal(size=(3, 6, 5)) * rng.choice([0.01, 1.0, 50.0], size=(3, 1, 1))
    weight = rng.uniform(0.2, 2.0, size=5)
    got = ev(be, class_distances, z, 0.3, weight)
    for label in range(5):
        moved = margin_projection(np, z, np.full(z.shape[:-1], label), 0.3) - z
        want = np.sum(weight * moved**2, axis=-1)
        np.testing.assert_allclose(got[..., label], want, rtol=1e-12,
                                   atol=1e-14 * np.max(z**2))


@pytest.mark.parametrize("be", BOTH)
def test_an_items_own_distance_of_1e_16_beside_large_terms_is_not_negative(be) -> None:
    """z = (1e-8, 0, 1.97), label 2, g = (1, 1, 10): the distance as the total less node l's
    term cancelled to −7e-15 in one backend, whose item then went unprojected (own < 0);
    a property test found it."""
    z = np.zeros((4, 3))
    z[0] = [1e-8, 0.0, 1.96956289]
    labels = np.array([2, 0, 0, 0])
    weight = np.array([1.0, 1.0, 10.0])
    dist = ev(be, class_distances, z, 1.0, weight)
    assert np.all(dist >= 0.0) and dist[0, 2] <= 1e-14  # 1e-16, to the rounding of 38.8
    got = ev(be, class_projection, z, labels, 1.0, "relabel", 0, 0, weight)
    assert got[0, 0] == 0.0  # projected: the other nodes ≤ 0


def test_class_constraints_take_memory_linear_in_the_classes() -> None:
    """A class constraint built a [K, C, C] array of each item's distance to each label:
    1000 classes took 1.85 GB and 2 s per NumPy iteration (a user test); relabel and allow
    still did after plain and exempt no longer did."""
    import tracemalloc

    K, C = 40, 800
    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(K, C)), rng.integers(0, C, size=K)
    for mode in ("plain", "exempt", "relabel", "allow"):
        tracemalloc.start()
        class_projection(np, z, labels, 0.1, mode, 3, 0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 40 * K * C * 8, (mode, peak)  # [K, C, C] would be 800 x K C


@pytest.mark.parametrize("be", BOTH)
def test_a_steep_curve_is_projected_into_its_narrow_valley(be) -> None:
    """tanh(40 z) from (0.527, 0.499), gz 1.5, gx 3: the projection stayed at t = z (E
    0.754) where t = 0.0137 gives 0.395, its valley narrower than the sampling's spacing;
    tanh from far out with a small gz alike (a user test: 1.6 % of points missed)."""
    from lwlc.sets.smooth import smooth_projection, steep_tanh_piece

    cases = [(steep_tanh_piece(), 0.5271, 0.4988, 1.5, 3.0),
             (steep_tanh_piece(), -0.6487, -0.535, 1.5, 3.0),
             (tanh_piece(), 26.4505, 0.51, 0.001, 3.0)]
    for piece, z, x, gz, gx in cases:
        t = ev(be, smooth_projection, np.array([z]), np.array([x]), np.array([gz]),
               np.array([gx]), (piece,))[0][0]
        grid = np.linspace(-50.0, 50.0, 2_000_001)
        best = np.min(gz * (grid - z) ** 2 + gx * (piece[3](np, grid) - x) ** 2)
        got = gz * (t - z) ** 2 + gx * (piece[3](np, t) - x) ** 2
        assert got <= best + 1e-9, (z, x, t, got, best)


@pytest.mark.parametrize("be", BOTH)
def test_a_crossing_of_a_steep_exponential_is_found_in_its_bracket(be) -> None:
    """exp(1000 z) from (-0.2055, 2.7777), gz 0.25, gx 2: the nearest point has E 0.0107,
    and the projection gave E 15.4. Newton on f(t) = x moved 1/1000 a step from the
    bracket's low end and ran out of steps (33 of 450 random points missed, up to 52000x
    too far); it now bisects where a step does not halve."""
    import sympy
    from lwlc.backends.curves import curve_functions, curve_marks

    from lwlc.sets.smooth import smooth_projection

    steep = sympy.exp(1000 * sympy.Symbol("z", real=True))
    piece = ("curve", -math.inf, math.inf, *curve_functions(steep), curve_marks(steep))
    rng = np.random.default_rng(1)
    z = np.r_[-0.20552305, rng.uniform(-1, 1, 60)]
    x = np.r_[2.7776987, rng.uniform(-1, 5, 60)]
    gz = np.r_[0.25, rng.uniform(0.1, 3, 60)]
    gx = np.r_[2.0, rng.uniform(0.1, 3, 60)]
    with np.errstate(all="ignore"):
        t = ev(be, smooth_projection, z, x, gz, gx, (piece,))[0]
        grid = np.linspace(-1.5, 0.01, 1_500_001)
        fg = piece[3](np, grid)
        got = gz * (t - z) ** 2 + gx * (piece[3](np, t) - x) ** 2
    best = np.array([np.min(a * (grid - zi) ** 2 + b * (fg - xi) ** 2)
                     for zi, xi, a, b in zip(z, x, gz, gx, strict=True)])
    assert got[0] == pytest.approx(0.010665, rel=1e-4)
    assert np.all(got <= best + 1e-6 * (1 + best)), np.max(got / best)


def _curve_misses(be, expr, lo, hi, z, x, gz, gx, grid) -> np.ndarray:
    """E of each point's projection onto the compiled curve over the least E on `grid`,
    minus 1: > 1e-7 is a miss."""
    from lwlc.backends.curves import curve_functions, curve_marks

    from lwlc.sets.smooth import smooth_projection

    piece = ("curve", lo, hi, *curve_functions(expr, lo, hi), curve_marks(expr, lo, hi))
    f = piece[3]
    with np.errstate(all="ignore"):
        t = ev(be, smooth_projection, z, x, gz, gx, (piece,))[0]
        fg = f(np, grid)
        got = gz * (t - z) ** 2 + gx * (f(np, t) - x) ** 2
    best = np.array([np.min(a * (grid - zi) ** 2 + b * (fg - xi) ** 2)
                     for zi, xi, a, b in zip(z, x, gz, gx, strict=True)])
    return (got - best) / (1 + best)


@pytest.mark.parametrize("be", BOTH)
def test_a_steep_steps_valley_beside_its_inflection_is_found(be) -> None:
    """1/(1 + exp(-100 z)) from (-2.116, 2.994), gz 2.39, gx 2.56: the valley at t = 0.046
    (E 21.46) lies between the window's points, all of them above 22.96, and the
    projection stayed at t = z (18 of 1500 random points missed, up to 7 %). The curve's
    inflection point is a mark now, and the valleys of E between the window's points
    are solved in."""
    import sympy

    steep = 1 / (1 + sympy.exp(-100 * sympy.Symbol("z", real=True)))
    rng = np.random.default_rng(5)
    z = np.r_[-2.11587, 1.57851, rng.uniform(-4, 4, 100)]
    x = np.r_[2.99420, -3.37049, rng.uniform(-4, 4, 100)]
    gz = np.r_[2.390, 0.207, rng.uniform(0.1, 3, 100)]
    gx = np.r_[2.562, 0.764, rng.uniform(0.1, 3, 100)]
    grid = np.linspace(-10, 10, 1_000_001)
    miss = _curve_misses(be, steep, -math.inf, math.inf, z, x, gz, gx, grid)
    assert np.all(miss <= 1e-7), (np.flatnonzero(miss > 1e-7), np.max(miss))


@pytest.mark.parametrize("be", BOTH)
def test_a_nearest_point_orders_of_magnitude_inside_a_bracket_is_reached(be) -> None:
    """log z on [1e-300, ∞) from (0.68, -35.87): the nearest point is t = 2.6e-16, and
    halving [1e-300, 0.04] 24 times reaches only 2e-9 (E 1.1e6 against 0.82). A bracket
    spanning orders of magnitude on one side of 0 is split at its geometric mean."""
    import sympy

    rng = np.random.default_rng(2)
    z = np.r_[0.67997, rng.uniform(-3, 3, 60)]
    x = np.r_[-35.86567, rng.uniform(-40, 3, 60)]
    gz = np.r_[1.777, rng.uniform(0.1, 3, 60)]
    gx = np.r_[2.532, rng.uniform(0.1, 3, 60)]
    grid = np.unique(np.r_[np.geomspace(1e-300, 10, 1_000_001), np.linspace(0, 10, 200_001)])
    grid = grid[grid >= 1e-300]
    log = sympy.log(sympy.Symbol("z", real=True))
    miss = _curve_misses(be, log, 1e-300, math.inf, z, x, gz, gx, grid)
    assert np.all(miss <= 1e-7), (np.flatnonzero(miss > 1e-7), np.max(miss))


def test_piecewise_inference_takes_the_upper_piece_within_rounding_of_a_tie() -> None:
    """z = -2.2e-16 between x = 0 on (-inf, -0.5] and x = 1 on [0.5, inf): the map took
    x = 0 while its z went to the upper piece's 0.5, a point not in the set (found by the
    property test)."""
    from lwlc.sets.piecewise import _nearest_covered, piecewise_inference

    pieces = (("affine", -math.inf, -0.5, 0.0, 0.0), ("affine", 0.5, math.inf, 0.0, 1.0))
    z = np.array([-2.220446049250313e-16, 0.0, -1e-3])
    np.testing.assert_array_equal(_nearest_covered(z, pieces), [0.5, 0.5, -0.5])
    np.testing.assert_array_equal(piecewise_inference(np, z, pieces), [1.0, 1.0, 0.0])


@pytest.mark.parametrize("be", BOTH)
@pytest.mark.parametrize("mode", ["relabel", "allow"])
def test_equal_class_scores_are_exact_ties(be, mode) -> None:
    """Every z equal: every label is exactly as far, so nothing is relabelled (running sums
    rounded the distances apart: NumPy relabelled item 1 of 100 classes to 0, JAX did not; a
    re-test)."""
    C = 100 if mode == "relabel" else 2
    z = np.full((3, C), 0.3)
    labels = np.array([50 % C, 0, 1])
    dist = ev(be, class_distances, z, 1.0, 0.5)
    assert np.all(dist == dist[:, :1])
    got = ev(be, class_projection, z, labels, 1.0, mode, 3, 1, 0.5)
    want = class_projection(np, z, labels, 1.0, mode, 0, 1, 0.5)  # count 0: own labels
    np.testing.assert_array_equal(got, want)


def test_the_window_search_of_a_curve_is_traced_once_not_per_round() -> None:
    """The three rounds of the window search run as one loop: under JAX the curve is
    evaluated at the window's points in one traced body (three unrolled copies made XLA
    compile 151 operations for one tanh piece, 121 now), with the values of the unrolled
    rounds (NumPy)."""
    import jax
    import jax.numpy as jnp

    from lwlc.sets import smooth

    kind, lo, hi, f, df, d2f, marks = tanh_piece()
    shapes = []

    def counted(xp, t):
        shapes.append(t.shape)
        return f(xp, t)

    piece = (kind, lo, hi, counted, df, d2f, marks)
    z = jnp.linspace(-3.0, 3.0, 7)
    jax.make_jaxpr(lambda z, x: smooth.smooth_projection(jnp, z, x, 1.0, 2.0, (piece,)))(z, z)
    window = 33 + 32 + len(marks)  # even points, z ± R 2^-k, marks
    assert shapes.count((7, window)) == 1, shapes
    rng = np.random.default_rng(3)
    zs, xs = rng.uniform(-6, 6, 50), rng.uniform(-2, 2, 50)
    got = smooth.smooth_projection(np, zs, xs, 1.0, 2.0, (tanh_piece(),))
    under_jax = call_jax(
        lambda xp, z, x: smooth.smooth_projection(xp, z, x, 1.0, 2.0, (tanh_piece(),)), zs, xs)
    for a, b in zip(got, under_jax, strict=True):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-12, atol=1e-12)


def test_a_curve_sets_groups_are_projected_in_one_call_as_each_alone(monkeypatch) -> None:
    """activation_projection_groups (and its fixed-x twin): a set with a curve piece
    projects a family's groups side by side in one call, with each group's own values bit
    for bit; an affine set projects each group alone."""
    from lwlc.sets import activation

    rng = np.random.default_rng(5)
    groups = tuple((rng.normal(size=(4, n)), rng.normal(size=(4, n)),
                    rng.uniform(0.5, 2.0, size=n), float(m))
                   for n, m in ((3, 2.0), (1, 5.0), (2, 3.0)))
    curve = (("affine", -math.inf, 0.0, 0.1, 0.0), tanh_piece(0.0, math.inf))
    affine = (("affine", -math.inf, 0.0, 0.1, 0.0), ("affine", 0.0, math.inf, 1.0, 0.0))
    alone = {p: [activation.activation_projection(np, *g, p) for g in groups]
             for p in (curve, affine)}
    fixed_alone = [activation.activation_fixed_projection(np, g[0], np.tanh(g[1]), curve)
                   for g in groups]
    calls = []
    real, real_fixed = activation.activation_projection, activation.activation_fixed_projection
    monkeypatch.setattr(activation, "activation_projection",
                        lambda *a: calls.append("free") or real(*a))
    monkeypatch.setattr(activation, "activation_fixed_projection",
                        lambda *a: calls.append("fixed") or real_fixed(*a))
    for pieces, n_calls in ((curve, 1), (affine, 3)):
        calls.clear()
        got = activation.activation_projection_groups(np, groups, pieces)
        assert calls == ["free"] * n_calls
        for (z, x), (z0, x0) in zip(got, alone[pieces], strict=True):
            assert np.array_equal(z, z0) and np.array_equal(x, x0)
    calls.clear()
    got = activation.activation_fixed_projection_groups(
        np, tuple((g[0], np.tanh(g[1])) for g in groups), curve)
    assert calls == ["fixed"]
    for z, z0 in zip(got, fixed_alone, strict=True):
        assert np.array_equal(z, z0)
