"""Smooth activation curves: pieces ``("curve", lo, hi, f, df, d2f[, marks])``, x = f(z)
on [lo, hi], ``marks`` its turning and inflection points where the compiler finds them.

``f``, ``df``, ``d2f`` are elementwise functions ``(xp, t) -> array`` (the compiler
generates them with sympy; the tests write tanh, sigmoid, softplus and a cubic by hand).
Projection of (z, x) onto a curve piece minimizes E(t) = gz (t − z)² + gx (f(t) − x)²
over t ∈ [lo, hi] (Elser eq. 28–29 with a smooth f). The global minimizer satisfies gz
(t − z)² ≤ E(t') for any t', so it lies in the window [z − R, z + R] ∩ [lo, hi], R =
√(E(t')/gz): first with t' = clip(z), then three times with the best of 65 points
of the window (33 evenly spaced, and z ± R 2^-k for k = 1 … 16), which shrinks it
around the minimum (on a steep curve E(clip(z)) is huge, and one window of 8 segments
held both a local and the global minimum: x = z³ from (6.78, −20.9) gave t = 0.32
against −2.73). The window is cut into 8 segments, two more lie on either side of
the best point of all rounds, and two on either side of the point where the curve
crosses the height x nearest to z (bracketed by the even points of the last round that
has a crossing, solved by safeguarded Newton): on a curve steeper than the spacing the
valley of E beside that crossing falls between the points (tanh(40 z) from (0.527,
0.499) was projected onto t = z, E 0.754 against 0.395 at t = 0.0137). In each, the
stationarity condition s(t) = gz (t − z) + gx (f(t) − x) f'(t) = 0 with s'(t) = gz + gx
(f'(t)² + (f(t) − x) f''(t)) is solved by Newton steps safeguarded by bisection as in
rtsafe (24 steps); the best of the 15 nodes (endpoints included) and 12 segment
solutions is kept and polished by 4 Newton
steps, each taken where it is small or lowers the energy, so that a node within rounding
of the minimizer (a flat minimum, where energies cannot tell them apart), or a segment
solution the budget left short of it, becomes the minimizer itself and NumPy and JAX
agree.
Several local minima in one segment could still hide the global one: a documented
limit of any fixed budget (a curve far steeper than the spacing seen from an x beyond
its range, tanh(400 z) from (-0.9, 1.05), still can miss by some percent), checked
against SciPy multi-start minimization in the tests (x = z³ from 2000 random points:
one near tie was missed, 101.16 against 100.59).

Fixed x (``curve_piece_fixed_candidate``): f(t) = x is bracketed on sorted nodes (129
evenly spaced over [z − 16, z + 16] and z ± 2^k for k = 4 … 24, all clipped to [lo,
hi]); the sign changes nearest to z on either side are solved by safeguarded
Newton/bisection (64 steps) and the nearer root wins. Roots closer together than the
node spacing can be missed.
"""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _barrier, _fixed_loop, _nearer
from lwlc.sets._spec import PropertySpec
from lwlc.sets.piecewise import (
    bruteforce_union,
    graph_contains,
    point_args,
    sample_graph,
)

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def bracket_split(xp: "ModuleType", lo: "Array", hi: "Array") -> "Array":
    """The point that bisects a bracket lo ≤ hi: its middle, or where it lies on one
    side of 0 and spans more than a factor 1024, its geometric mean. log z on
    [1e-300, ∞) from (0.68, -35.9) has its nearest point at t = 2e-16, and 24 halvings
    of [1e-300, 0.04] reach only 2e-9 (E 1.1e6 against 0.82): 43 of 400 random points
    missed."""
    small = xp.minimum(xp.abs(lo), xp.abs(hi))
    large = xp.maximum(xp.abs(lo), xp.abs(hi))
    wide = ((lo > 0.0) | (hi < 0.0)) & (large > 1024.0 * small)
    geometric = xp.where(hi < 0.0, -1.0, 1.0) * xp.sqrt(small) * xp.sqrt(large)
    return xp.where(wide, geometric, 0.5 * (lo + hi))


def curve_stationary_step(
    xp: "ModuleType",
    state: "tuple",
    z: "Array",
    x: "Array",
    gz: "Array",
    gx: "Array",
    f: "Callable",
    df: "Callable",
    d2f: "Callable",
) -> "tuple":
    """Safeguarded Newton step on s(t) = E'(t)/2 within brackets with s(lo) < 0 <
    s(hi). As in rtsafe (Numerical Recipes), a Newton step that leaves the bracket, or
    that is not half the step before the last one (``dx_old``), gives way to bisection:
    on a steep s(t) undamped Newton steps shrink the distance to the root by as little
    as 0.8 a step and ran out of the budget far from it (x = z^3 at z = 10)."""
    t, lo, hi, dx_old, dx = state
    ft = f(xp, t)
    dft = df(xp, t)
    s = gz * (t - z) + gx * (ft - x) * dft
    ds = gz + gx * (dft * dft + (ft - x) * d2f(xp, t))
    lo = xp.where(s < 0.0, t, lo)
    hi = xp.where(s > 0.0, t, hi)
    pos = ds > 0.0
    t_newton = t - s / xp.where(pos, ds, 1.0)
    slack = 1e4 * float(xp.finfo(t.dtype).eps) * (1.0 + xp.abs(lo) + xp.abs(hi))
    ok = pos & (t_newton >= lo - slack) & (t_newton <= hi + slack)
    ok = ok & (xp.abs(t_newton - t) <= 0.5 * dx_old)
    t_newton = xp.minimum(xp.maximum(t_newton, lo), hi)
    mid = bracket_split(xp, lo, hi)
    step = xp.where(ok, xp.abs(t_newton - t), 0.5 * (hi - lo))
    t = xp.where(s == 0.0, t, xp.where(ok, t_newton, mid))
    return t, lo, hi, dx, step


def curve_polish_step(
    xp: "ModuleType",
    state: "tuple",
    z: "Array",
    x: "Array",
    gz: "Array",
    gx: "Array",
    lo: float,
    hi: float,
    f: "Callable",
    df: "Callable",
    d2f: "Callable",
) -> "tuple":
    """Newton step on s(t) from the winner where it is small (|step| ≤ 1e-6 (1 + |t|)),
    so that a node lying within rounding of the minimizer is replaced by the minimizer
    itself, or where it lowers the energy: a segment's Newton/bisection solve that ran
    out of steps left its winner 6e-6 short of the minimizer (tanh from (-2.49, -4.54),
    gz 0.5, gx 10), where NumPy and JAX stopped at different points."""
    t = state[0]
    ft = f(xp, t)
    dft = df(xp, t)
    s = gz * (t - z) + gx * (ft - x) * dft
    ds = gz + gx * (dft * dft + (ft - x) * d2f(xp, t))
    pos = ds > 0.0
    step = s / xp.where(pos, ds, 1.0)
    new = xp.minimum(xp.maximum(t - step, lo), hi)
    energy = gz * (t - z) ** 2 + gx * (ft - x) ** 2
    lower = gz * (new - z) ** 2 + gx * (f(xp, new) - x) ** 2 < energy
    ok = pos & ((xp.abs(step) <= 1e-6 * (1.0 + xp.abs(t))) | lower)
    return (xp.where(ok, new, t),)


def window_pairs(
    xp: "ModuleType", q: "Array", pts: "Array", n_window: int, n_marks: int
) -> "tuple":
    """(q at a, q at b) for the pairs a < b of a window's points ``pts`` that lie side
    by side (its 33 even points first, in ascending order, its ``n_marks`` marks from
    position ``n_window`` on): the even points' segments, and each mark with the even
    point on either side of it (a narrow peak crosses x between its marks). Slices and
    a small gather, not a sort, which XLA on CPU runs slowly."""
    qa, qb = q[..., :32], q[..., 1:33]
    if not n_marks:
        return qa, qb
    qm = q[..., n_window:]
    order = xp.sum(pts[..., :33, None] < pts[..., None, n_window:], axis=-2)
    left = xp.take_along_axis(q, xp.maximum(order - 1, 0), axis=-1)
    right = xp.take_along_axis(q, xp.minimum(order, 32), axis=-1)
    left = xp.where(order > 0, left, qm)
    right = xp.where(order < 33, right, qm)
    qa = xp.concatenate([qa, left, qm], axis=-1)
    return qa, xp.concatenate([qb, qm, right], axis=-1)


def curve_window_round(
    xp: "ModuleType",
    state: "tuple",
    z: "Array",
    x: "Array",
    gz: "Array",
    gx: "Array",
    offsets: "Array",
    lo: float,
    hi: float,
    f: "Callable",
    marks: "tuple",
) -> "tuple":
    """One round of curve_piece_candidate's window search: score the window's points
    (and the curve's marks), keep the best point of all rounds with its neighbours and
    the bracket of the crossing of the height x nearest to z, and shrink the window's
    radius to that of the best point."""
    radius, near, step, best_e, n_lo, n_hi, c_lo, c_hi, c_step, crossed = state[:10]
    zero = xp.zeros_like(z)
    pts = z[..., None] + radius[..., None] * offsets
    if marks:
        pts = xp.concatenate(
            [pts, zero[..., None] + xp.asarray(marks, dtype=zero.dtype)], axis=-1
        )
    pts = xp.minimum(xp.maximum(pts, lo), hi)
    fp = f(xp, pts)
    # and, between two neighbouring points where the curve crosses the height x,
    # the secant's crossing: on a steep curve the valley of E there is narrower
    # than the spacing (tanh(40 z) from (0.527, 0.499) was projected onto t = z)
    shape = (pts, offsets.shape[0], len(marks))
    even, after = window_pairs(xp, pts, *shape)
    ga, gb = window_pairs(xp, fp - x[..., None], *shape)
    cross = ga * gb < 0.0
    share = ga / xp.where(cross, ga - gb, 1.0)
    tc = xp.where(cross, even + (after - even) * share, even)
    e = gz[..., None] * (pts - z[..., None]) ** 2
    e = e + gx[..., None] * (fp - x[..., None]) ** 2
    e = xp.where(xp.isnan(e), xp.inf, e)  # NaN: not a candidate
    pick = xp.argmin(e, axis=-1)[..., None]
    e_min = xp.min(e, axis=-1)
    # the best point of all rounds (a later round's window may miss an earlier
    # round's crossing), with its round's spacing
    better = e_min <= best_e
    best_pt = xp.take_along_axis(pts, pick, axis=-1)[..., 0]
    near = xp.where(better, best_pt, near)
    # with its neighbours among the round's points, marks included
    below = xp.max(xp.where(pts < best_pt[..., None], pts, -xp.inf), axis=-1)
    above = xp.min(xp.where(pts > best_pt[..., None], pts, xp.inf), axis=-1)
    n_lo = xp.where(better, xp.where(below > -xp.inf, below, best_pt), n_lo)
    n_hi = xp.where(better, xp.where(above < xp.inf, above, best_pt), n_hi)
    step = xp.where(better, radius / 16.0, step)  # the even points' spacing
    best_e = xp.minimum(best_e, e_min)
    # and the bracket of the crossing nearest to z, from the last round with one:
    # the valley lies beside the crossing, where the window's segments hold
    # several stationary points (tanh(40 z) from (-0.649, -0.535): the crossing
    # at -0.021, the minimum at -0.015), and on a curve steeper than the spacing
    # the secant's crossing is far from it
    c_pick = xp.argmin(xp.where(cross, xp.abs(tc - z[..., None]), xp.inf), axis=-1)
    found = xp.any(cross, axis=-1)
    c_lo = xp.where(
        found, xp.take_along_axis(even, c_pick[..., None], axis=-1)[..., 0], c_lo
    )
    c_hi = xp.where(
        found, xp.take_along_axis(after, c_pick[..., None], axis=-1)[..., 0], c_hi
    )
    c_step = xp.where(found, radius / 16.0, c_step)
    crossed = crossed | found
    radius = xp.minimum(radius, xp.sqrt(e_min / gz))
    return (radius, near, step, best_e, n_lo, n_hi, c_lo, c_hi, c_step, crossed,
            pts, fp, e, even, after)


def curve_piece_candidate(
    xp: "ModuleType",
    z: "Array",
    x: "Array",
    gz: "Array",
    gx: "Array",
    lo: float,
    hi: float,
    f: "Callable",
    df: "Callable",
    d2f: "Callable",
    marks: "tuple" = (),
) -> "tuple":
    """Nearest point (t, f(t)) of one curve piece and its squared distance gz Δz² + gx
    Δx². ``marks``: the curve's turning and inflection points, which each round of the
    window search scores too: its 33 even points can step over a narrow peak far from
    (z, x) (2 exp(−z²) − 1 from (−10.7, 15) went to the tail, 1.3 % farther)."""
    zero = xp.zeros_like(z + x + gz + gx)
    z = z + zero
    x = x + zero
    gz = gz + zero
    gx = gx + zero
    # the first window's radius from the better of t' = clip(z) and clip(0): where f
    # overflows at z (exp(z) at z = 800) E(clip(z)) is infinite and the window was NaN
    radius = zero + xp.inf
    for t0 in (xp.minimum(xp.maximum(z, lo), hi), xp.minimum(xp.maximum(zero, lo), hi)):
        e0 = gz * (t0 - z) ** 2 + gx * (f(xp, t0) - x) ** 2
        radius = xp.minimum(radius, xp.where(xp.isnan(e0), xp.inf, xp.sqrt(e0 / gz)))
    halves = 2.0 ** -xp.arange(1.0, 17.0)
    offsets = xp.concatenate([xp.arange(-16.0, 17.0) / 16.0, halves, -halves])
    n_pts = offsets.shape[0] + len(marks)
    n_pairs = 32 + 2 * len(marks)
    # the rounds' values take the points' dtype (float64 offsets under JAX's x64 with a
    # float32 state), as they did after the first round when the rounds were unrolled
    dt = xp.result_type(zero, offsets)
    zw, zz = z.astype(dt), zero.astype(dt)
    wide = zz[..., None] + xp.zeros(n_pts, dtype=dt)
    pairs = zz[..., None] + xp.zeros(n_pairs, dtype=dt)
    # (radius, near, step, best_e, n_lo, n_hi, c_lo, c_hi, c_step, crossed; the last
    # round's points, their f and E, and its pairs of neighbours)
    state = (radius.astype(dt), zw, zz, zz + xp.inf, zw, zw, zw, zw, zz,
             xp.zeros(z.shape, dtype=bool), wide, wide, wide, pairs, pairs)
    # shrink the window to its best point three times (see the docstring); a loop, not
    # three copies, which XLA compiles once
    state = _fixed_loop(
        xp, 3, curve_window_round, state, (z, x, gz, gx, offsets, lo, hi, f, marks)
    )
    radius, near, step, _, n_lo, n_hi, c_lo, c_hi, c_step, crossed = state[:10]
    pts, fp, e, even, after = state[10:]
    shape = (pts, offsets.shape[0], len(marks))
    # the window cut into 8 segments (where no window point lies in a narrow valley,
    # a Newton step from a segment's middle can still reach it: a mark-less steep
    # tanh(40 z) from (-5, 2), gz 0.1, gx 1.5)
    left = xp.maximum(z - radius, lo)
    right = xp.minimum(z + radius, hi)
    frac = xp.arange(9) / 8.0
    nodes = xp.minimum(
        left[..., None] + (right - left)[..., None] * frac, right[..., None]
    )
    # and the two segments from the best point to its neighbours: the window's own
    # segment may hold the global minimum at its end beside a local one, and a steep
    # curve's valley lies between a mark and the point beside it
    around = xp.stack([n_lo, near, n_hi], axis=-1)
    around = xp.minimum(xp.maximum(around, lo), hi)
    # and the valleys among the last round's points: E'(t)/2 = s(t) turns from < 0 to
    # > 0 between two neighbours, the 4 lowest. Between a steep step's inflection mark
    # and the point beside it lies a valley lower than all points (1/(1 + exp(-100 z))
    # from (-2.116, 2.994): E 21.46 at t = 0.046, none of the points below 22.96)
    slope = gz[..., None] * (pts - z[..., None]) + gx[..., None] * (
        fp - x[..., None]
    ) * df(xp, pts)
    sa, sb = window_pairs(xp, slope, *shape)
    ea, eb = window_pairs(xp, e, *shape)
    # scored by where E's tangents at the two ends meet (E' = 2 s): the lower end's E
    # ranked a periodic curve's valleys by the phase of the points in them
    turn = (sa < 0.0) & (sb > 0.0)
    meet = eb - ea + 2.0 * (sa * even - sb * after)
    meet = meet / xp.where(turn, 2.0 * (sa - sb), 1.0)
    score = xp.minimum(ea + 2.0 * sa * (meet - even), xp.minimum(ea, eb))
    score = xp.where(turn, score, xp.inf)
    v_lo, v_hi = [], []
    for _ in range(4):  # the 4 lowest, by argmin (XLA's sort on CPU is slow)
        j = xp.argmin(score, axis=-1)[..., None]
        has = xp.take_along_axis(score, j, axis=-1)[..., 0] < xp.inf
        v_lo.append(xp.where(has, xp.take_along_axis(even, j, axis=-1)[..., 0], near))
        v_hi.append(xp.where(has, xp.take_along_axis(after, j, axis=-1)[..., 0], near))
        score = xp.where(xp.arange(score.shape[-1]) == j, xp.inf, score)
    v_lo, v_hi = xp.stack(v_lo, axis=-1), xp.stack(v_hi, axis=-1)
    # the crossing itself, f(t) = x, solved in its bracket
    below = f(xp, c_lo) - x < 0.0
    neg, pos = xp.where(below, c_lo, c_hi), xp.where(below, c_hi, c_lo)
    width = xp.abs(c_hi - c_lo)
    crossing = _fixed_loop(
        xp, 24, curve_root_step, (0.5 * (c_lo + c_hi), neg, pos, width, width),
        (x, f, df), elementwise=True,
    )[0]
    crossing = xp.where(crossed, crossing, near)
    c_step = xp.where(crossed, c_step, step)
    beside = xp.stack([crossing - c_step, crossing, crossing + c_step], axis=-1)
    beside = xp.minimum(xp.maximum(beside, lo), hi)
    zc, xc, gzc, gxc = z[..., None], x[..., None], gz[..., None], gx[..., None]
    a = xp.concatenate(
        [nodes[..., :-1], around[..., :-1], beside[..., :-1], v_lo], axis=-1
    )
    b = xp.concatenate(
        [nodes[..., 1:], around[..., 1:], beside[..., 1:], v_hi], axis=-1
    )
    nodes = xp.concatenate([nodes, around, beside, v_lo, v_hi], axis=-1)
    state = (0.5 * (a + b), a, b, b - a, b - a)
    t, *_ = _fixed_loop(
        xp,
        24,
        curve_stationary_step,
        state,
        (zc, xc, gzc, gxc, f, df, d2f),
        elementwise=True,
    )
    cands = xp.concatenate([nodes, t], axis=-1)
    energy = gzc * (cands - zc) ** 2 + gxc * (f(xp, cands) - xc) ** 2
    k = xp.argmin(energy, axis=-1)[..., None]
    best = xp.take_along_axis(cands, k, axis=-1)[..., 0]
    best = _fixed_loop(
        xp,
        4,
        curve_polish_step,
        (best,),
        (z, x, gz, gx, lo, hi, f, df, d2f),
        elementwise=True,
    )[0]
    fb = f(xp, best)
    return best, fb, gz * (best - z) ** 2 + gx * (fb - x) ** 2


def curve_root_step(
    xp: "ModuleType", state: "tuple", x: "Array", f: "Callable", df: "Callable"
) -> "tuple":
    """Safeguarded Newton step on g(t) = f(t) − x with g(neg) < 0 < g(pos), as
    curve_stationary_step: a Newton step that is not half the step before the last
    (``dx_old``) gives way to bisection. exp(1000 z) crossing x from far below moved
    Newton 1/1000 a step, and points were projected up to 52000x too far."""
    t, neg, pos, dx_old, dx = state
    g = f(xp, t) - x
    dg = df(xp, t)
    neg = xp.where(g < 0.0, t, neg)
    pos = xp.where(g > 0.0, t, pos)
    lo = xp.minimum(neg, pos)
    hi = xp.maximum(neg, pos)
    nz = dg != 0.0
    t_newton = t - g / xp.where(nz, dg, 1.0)
    slack = 1e4 * float(xp.finfo(t.dtype).eps) * (1.0 + xp.abs(lo) + xp.abs(hi))
    ok = nz & (t_newton >= lo - slack) & (t_newton <= hi + slack)
    ok = ok & (xp.abs(t_newton - t) <= 0.5 * dx_old)
    t_newton = xp.minimum(xp.maximum(t_newton, lo), hi)
    step = xp.where(ok, xp.abs(t_newton - t), 0.5 * (hi - lo))
    t = xp.where(g == 0.0, t, xp.where(ok, t_newton, bracket_split(xp, lo, hi)))
    return t, neg, pos, dx, step


def curve_piece_value(
    xp: "ModuleType",
    t: "Array",
    f: "Callable",
    df: "Callable",
    d2f: "Callable",
    marks: "tuple" = (),
) -> "Array":
    """x = f(t) on one curve piece (t inside its interval)."""
    return f(xp, t)


def _bracketed_roots(
    xp: "ModuleType",
    nodes: "Array",
    g: "Array",
    z: "Array",
    f: "Callable",
    df: "Callable",
    x: "Array",
) -> "tuple":
    """The roots of f − x in the sign changes of g = f(nodes) − x nearest to z on its
    left and right (z itself where there is none), and whether each side has one."""
    change = (g[..., :-1] * g[..., 1:]) < 0.0
    n_seg = change.shape[-1]
    seg = xp.arange(n_seg)
    j0 = xp.sum(nodes < z[..., None], axis=-1)[..., None] - 1
    right_mask = change & (seg >= j0)
    left_mask = change & (seg <= j0)
    j_right = xp.argmax(right_mask, axis=-1)
    j_left = n_seg - 1 - xp.argmax(left_mask[..., ::-1], axis=-1)
    has = xp.stack([xp.any(left_mask, axis=-1), xp.any(right_mask, axis=-1)], axis=-1)
    j = xp.stack([j_left, j_right], axis=-1)
    a = xp.take_along_axis(nodes, j, axis=-1)
    b = xp.take_along_axis(nodes, j + 1, axis=-1)
    ga = xp.take_along_axis(g, j, axis=-1)
    neg = xp.where(ga < 0.0, a, b)
    pos = xp.where(ga < 0.0, b, a)
    state = (0.5 * (a + b), neg, pos, b - a, b - a)
    t = _fixed_loop(xp, 64, curve_root_step, state, (x, f, df), elementwise=True)[0]
    return xp.where(has, t, z[..., None]), has


def curve_piece_fixed_candidate(
    xp: "ModuleType",
    z: "Array",
    x: "Array",
    lo: float,
    hi: float,
    f: "Callable",
    df: "Callable",
    d2f: "Callable",
    marks: "tuple" = (),
) -> "tuple":
    """Nearest t ∈ [lo, hi] to z with f(t) = x; returns (t, x-miss, z-distance). Without
    a solution: the node nearest to z among those with f nearest to x (miss > 0). The
    nodes include the turning points of f nearest to z on either side: two roots within
    one spacing of the grid (beside a maximum) show no sign change between its nodes,
    and a tangent root is a turning point (for 2 exp(−z²) − 1 at x = 0.987, z = −1.1,
    the root at −0.08 was missed for 0.104, 0.009 off)."""
    zero = xp.zeros_like(z + x)
    z = z + zero
    x = x + zero
    steps = [2.0**k for k in range(4, 25)]
    offsets = xp.asarray([-s for s in reversed(steps)] + steps)
    far = z[..., None] + offsets
    frac = xp.arange(129) / 128.0
    # the dense nodes span the part of [lo, hi] nearest to z, around z clipped to it
    # (from z 16 or more outside the piece a window around z was empty: the roots of
    # sin(z) on [-3, 3] were missed from z = -28)
    inside = xp.minimum(xp.maximum(z, lo), hi)
    near_lo = xp.maximum(inside - 16.0, lo)
    near_hi = xp.minimum(inside + 16.0, hi)
    near = near_lo[..., None] + (near_hi - near_lo)[..., None] * frac
    nodes = xp.concatenate([far, near, z[..., None]], axis=-1)
    nodes = xp.sort(xp.minimum(xp.maximum(nodes, lo), hi), axis=-1)
    turns, _ = _bracketed_roots(xp, nodes, df(xp, nodes), z, df, d2f, zero[..., None])
    turns = xp.minimum(xp.maximum(turns, lo), hi)  # z where there is none: in the piece
    nodes = xp.sort(xp.concatenate([nodes, turns], axis=-1), axis=-1)
    xc = x[..., None]
    g = f(xp, nodes) - xc
    t, has = _bracketed_roots(xp, nodes, g, z, f, df, xc)
    exact = g == 0.0
    cands = xp.concatenate([nodes, t], axis=-1)
    valid = xp.concatenate([exact, has], axis=-1)
    dist = xp.where(valid, xp.abs(cands - z[..., None]), math.inf)
    k = xp.argmin(dist, axis=-1)[..., None]
    t_best = xp.take_along_axis(cands, k, axis=-1)[..., 0]
    miss_all = xp.abs(g)
    least = xp.min(miss_all, axis=-1, keepdims=True)
    close = miss_all <= least + 4096.0 * float(xp.finfo(g.dtype).eps) * (
        1.0 + xp.abs(xc)
    )
    m = xp.argmin(xp.where(close, xp.abs(nodes - z[..., None]), math.inf), axis=-1)[
        ..., None
    ]
    t_miss = xp.take_along_axis(nodes, m, axis=-1)[..., 0]
    miss = least[..., 0]
    feasible = xp.any(valid, axis=-1)
    t_out = xp.where(feasible, t_best, t_miss)
    miss = xp.where(feasible, 0.0, miss)
    return t_out, miss, xp.abs(t_out - z)


def smooth_projection(
    xp: "ModuleType", z: "Array", x: "Array", gz: "Array", gx: "Array", pieces: "tuple"
) -> "tuple":
    """Nearest point (z', x') of a union of curve pieces (ties: first piece)."""
    best_t = best_x = best_d = None
    for piece in pieces:
        t, xt, d = curve_piece_candidate(xp, z, x, gz, gx, *piece[1:])
        if best_d is None:
            best_t, best_x, best_d = t, xt, d
        else:
            # one decision for z' and x' (see _barrier); a tie within rounding keeps
            # the first piece
            take = _barrier(xp, (_nearer(xp, d, best_d),))[0]
            best_t = xp.where(take, t, best_t)
            best_x = xp.where(take, xt, best_x)
            best_d = xp.where(take, d, best_d)
    return best_t, best_x


NAME = "smooth"
CONVEX = False
SUMMARY = (
    "smooth activation curves x = f(z) on [lo, hi] (tanh, sigmoid, softplus...): "
    "multi-start"
)
EQUATIONS = "Elser eq. 26c, 28–29 with smooth f; Sect. 5.2"
PROJECTION = smooth_projection
EMIT = (
    bracket_split,
    curve_stationary_step,
    curve_polish_step,
    window_pairs,
    curve_window_round,
    curve_piece_candidate,
    curve_root_step,
    _bracketed_roots,
    curve_piece_fixed_candidate,
    curve_piece_value,
    smooth_projection,
)
REQUIRES = ("_common",)


# --- hand-written curves for tests and examples (not emitted) -------------------------


def _tanh(xp: "ModuleType", t: "Array") -> "Array":
    return xp.tanh(t)


def _dtanh(xp: "ModuleType", t: "Array") -> "Array":
    return 1.0 - xp.tanh(t) ** 2


def _d2tanh(xp: "ModuleType", t: "Array") -> "Array":
    th = xp.tanh(t)
    return -2.0 * th * (1.0 - th * th)


def _sigmoid(xp: "ModuleType", t: "Array") -> "Array":
    return 0.5 * (1.0 + xp.tanh(0.5 * t))


def _dsigmoid(xp: "ModuleType", t: "Array") -> "Array":
    s = 0.5 * (1.0 + xp.tanh(0.5 * t))
    return s * (1.0 - s)


def _d2sigmoid(xp: "ModuleType", t: "Array") -> "Array":
    s = 0.5 * (1.0 + xp.tanh(0.5 * t))
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _softplus(xp: "ModuleType", t: "Array") -> "Array":
    return xp.logaddexp(0.0, t)


def _cubic(xp: "ModuleType", t: "Array") -> "Array":
    return t * t * t - t


def _dcubic(xp: "ModuleType", t: "Array") -> "Array":
    return 3.0 * t * t - 1.0


def _d2cubic(xp: "ModuleType", t: "Array") -> "Array":
    return 6.0 * t


def _marks(points: tuple, lo: float, hi: float) -> tuple:
    """The marks inside (lo, hi), as the compiler gives a piece (curve_marks): a curve's
    turning and inflection points."""
    inside = tuple(p for p in points if lo < p < hi)
    return (inside,) if inside else ()


def tanh_piece(lo: float = -math.inf, hi: float = math.inf) -> tuple:
    return ("curve", lo, hi, _tanh, _dtanh, _d2tanh, *_marks((0.0,), lo, hi))


def _steep_tanh(xp: "ModuleType", t: "Array") -> "Array":
    return xp.tanh(40.0 * t)


def _dsteep_tanh(xp: "ModuleType", t: "Array") -> "Array":
    return 40.0 * (1.0 - xp.tanh(40.0 * t) ** 2)


def _d2steep_tanh(xp: "ModuleType", t: "Array") -> "Array":
    th = xp.tanh(40.0 * t)
    return -3200.0 * th * (1.0 - th * th)


def steep_tanh_piece(lo: float = -math.inf, hi: float = math.inf) -> tuple:
    """tanh(40 z): a valley of E narrower than the sampling's spacing."""
    return ("curve", lo, hi, _steep_tanh, _dsteep_tanh, _d2steep_tanh,
            *_marks((0.0,), lo, hi))


def sigmoid_piece(lo: float = -math.inf, hi: float = math.inf) -> tuple:
    return ("curve", lo, hi, _sigmoid, _dsigmoid, _d2sigmoid, *_marks((0.0,), lo, hi))


def softplus_piece(lo: float = -math.inf, hi: float = math.inf) -> tuple:
    return ("curve", lo, hi, _softplus, _sigmoid, _dsigmoid)


def cubic_piece(lo: float = -2.0, hi: float = 2.0) -> tuple:
    return ("curve", lo, hi, _cubic, _dcubic, _d2cubic)


EXAMPLE_TABLES = {
    "tanh": (tanh_piece(),),
    "steep_tanh": (steep_tanh_piece(),),
    "softplus": (softplus_piece(),),
    "cubic": (cubic_piece(),),
    "two_curves": (sigmoid_piece(-math.inf, 0.0), cubic_piece(0.5, 2.0)),
}


# --- properties (not emitted) ---------------------------------------------------------


def _project(
    xp: "ModuleType",
    z: "Array",
    x: "Array",
    gz: "Array",
    gx: "Array",
    pieces: tuple,
    mode: str,
) -> tuple:
    return smooth_projection(xp, z, x, gz, gx, pieces)


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    return graph_contains(pt[0], pt[1], args[4], tol)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    gz, gx = args[2], args[3]
    return gz * (q[0] - p[0]) ** 2 + gx * (q[1] - p[1]) ** 2


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    return sample_graph(args[4], args[0], rng, n)


def _bruteforce(args: tuple) -> tuple:
    z, x, gz, gx, pieces, _ = args
    return bruteforce_union(z, x, gz, gx, pieces)


def _inference(args: tuple) -> tuple:
    from lwlc.sets.activation import activation_inference
    from lwlc.sets.piecewise import _nearest_covered

    z, pieces = args[0], args[4]
    return _nearest_covered(z, pieces), activation_inference(np, z, pieces)


def _make_args_with(pieces: tuple | None, modes: tuple | None = None) -> object:
    from hypothesis import strategies as st

    @st.composite
    def draw_args(draw: Callable) -> tuple:
        table = (
            pieces
            if pieces is not None
            else draw(st.sampled_from(list(EXAMPLE_TABLES.values())))
        )
        z, x, gz, gx, table, _ = point_args(draw, table)
        return z, x, gz, gx, table, "free"

    return draw_args()


SPEC = PropertySpec(
    project=_project,
    make_args=lambda: _make_args_with(None),
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
    arity=2,
    nearest_bruteforce=_bruteforce,
    inference=_inference,
    make_args_with_pieces=_make_args_with,
    tol=1e-9,
    # eagerly, JAX compiles each of the search's hundreds of operations alone: 7 s an
    # example, where solvers and `lwlc test` run the projection jitted (numpy_jax)
    jax_eager_examples=0,
)
