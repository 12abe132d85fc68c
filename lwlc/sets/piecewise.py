"""Declared activation sets: unions of affine pieces in the (z, x) plane, z = y − b.

A piece ``("affine", lo, hi, a, c)`` is the segment x = a z + c, z ∈ [lo, hi] (lo/hi may
be ±inf). The activation side constraint x_A = f(y − b) (Elser eq. 26c, 38) is projected
with the metric gz Δz² + gx Δx²; with y and b moving equally and oppositely (weights gy,
gb) one has gz = gy gb/(gy + gb) (see ``activation.activation_yb_update``), and Lemma
4.1 gives gx = the out-degree. The golden classifiers use gz = n/2, gx = n (isotropic in
(x, y, b)).

Tables used by the golden models (Δ = margin):

- relu: ``(("affine", -inf, 0, 0, 0), ("affine", 0, inf, 1, 0))``
- step: ``(("affine", -inf, -Δ, 0, 0), ("affine", Δ, inf, 0, 1))``
- zigmoid: step plus ``("affine", -Δ, Δ, 1/(2Δ), 1/2)`` between them.

Fixed x (x is data, gx = ∞): the nearest z with f(z) = x; flat pieces match x to a
relative tolerance of 1e-12. When no piece reaches x, we take the piece whose reachable
x-range is nearest to x (then the nearest z) and the nearest point of that piece: a
documented choice, since the constraint then has no solution.
"""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _barrier, _nearer, _nearest_fixed_candidate
from lwlc.sets._spec import PropertySpec, float_arrays

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def affine_piece_candidate(
    xp: "ModuleType",
    z: "Array",
    x: "Array",
    gz: "Array",
    gx: "Array",
    lo: float,
    hi: float,
    a: float,
    c: float,
) -> "tuple":
    """Nearest point (t, a t + c) of one affine piece and its squared distance."""
    if a == 0.0:
        t = xp.minimum(xp.maximum(z, lo), hi)
    else:
        t = (gz * z + gx * a * (x - c)) / (gz + gx * (a * a))
        t = xp.minimum(xp.maximum(t, lo), hi)
    xt = a * t + c
    d = gz * (t - z) ** 2 + gx * (xt - x) ** 2
    return t, xt, d


def affine_piece_fixed_candidate(
    xp: "ModuleType", z: "Array", x: "Array", lo: float, hi: float, a: float, c: float
) -> "tuple":
    """Nearest t of one affine piece with a t + c = x; returns (t, x-miss,
    z-distance)."""
    if a == 0.0:
        t = xp.minimum(xp.maximum(z, lo), hi)
        miss = xp.abs(c - x) + 0.0 * t
    else:
        t = xp.minimum(xp.maximum((x - c) / a, lo), hi)
        miss = xp.abs(a * t + c - x)
    tol = 4096.0 * float(xp.finfo(miss.dtype).eps)  # ≈ 1e-12 in float64
    miss = xp.where(miss <= tol * (1.0 + xp.abs(x)), 0.0, miss)
    return t, miss, xp.abs(t - z)


def affine_piece_value(xp: "ModuleType", t: "Array", a: float, c: float) -> "Array":
    """x = a t + c on one affine piece (t inside its interval)."""
    return a * t + c


def piece_gap(xp: "ModuleType", z: "Array", lo: float, hi: float) -> "Array":
    """Distance from z to the interval [lo, hi] (0 inside)."""
    return xp.maximum(xp.maximum(lo - z, z - hi), 0.0)


def piecewise_projection(
    xp: "ModuleType", z: "Array", x: "Array", gz: "Array", gx: "Array", pieces: "tuple"
) -> "tuple":
    """Nearest point (z', x') of the union of affine pieces under gz Δz² + gx Δx² (ties:
    first piece). Elser eq. 26c, 28–29; PJAX Thm 6 (ReLU) and Thm 9 (flat pieces)."""
    z = z + xp.zeros_like(x)
    x = x + xp.zeros_like(z)
    best_t = best_x = best_d = None
    for piece in pieces:
        t, xt, d = affine_piece_candidate(
            xp, z, x, gz, gx, piece[1], piece[2], piece[3], piece[4]
        )
        if best_d is None:
            best_t, best_x, best_d = t + 0.0 * z, xt + 0.0 * z, d + 0.0 * z
        else:
            # one decision for z' and x' (see _barrier); a tie within rounding keeps
            # the first piece
            take = _barrier(xp, (_nearer(xp, d, best_d),))[0]
            best_t = xp.where(take, t, best_t)
            best_x = xp.where(take, xt, best_x)
            best_d = xp.where(take, d, best_d)
    return best_t, best_x


def piecewise_fixed_projection(
    xp: "ModuleType", z: "Array", x: "Array", pieces: "tuple"
) -> "Array":
    """Nearest z' with f(z') = x for fixed x (gx = ∞; golden README autoencoder).
    Without an exact match, the piece with the nearest reachable x (then nearest z; then
    first)."""
    z = z + xp.zeros_like(x)
    tol = 4096.0 * float(xp.finfo(z.dtype).eps) * (1.0 + xp.abs(x))
    candidates = (
        affine_piece_fixed_candidate(xp, z, x, *piece[1:5]) for piece in pieces
    )
    return _nearest_fixed_candidate(xp, candidates, 0.0 * z, tol)


def piecewise_inference(xp: "ModuleType", z: "Array", pieces: "tuple") -> "Array":
    """Forward map f(z); in a gap, the piece whose interval is nearest (ties: upper
    piece, and a z within rounding of a tie is a tie, as in activation_inference),
    evaluated at the nearest point of its interval."""
    ordered = sorted(pieces, key=lambda p: (p[1], p[2]))
    z = xp.asarray(z + 0.0)
    slack = 256.0 * float(xp.finfo(z.dtype).eps) * (1.0 + xp.abs(z))
    best_v = best_g = None
    for piece in ordered:
        t = xp.minimum(xp.maximum(z, piece[1]), piece[2])
        v = piece[3] * t + piece[4]
        g = piece_gap(xp, z, piece[1], piece[2])
        if best_g is None:
            best_v, best_g = v, g
        else:
            # z = -2.2e-16 between [.., -0.5] and [0.5, ..] took the lower piece, where
            # the map's z (_nearest_covered) took the upper: a point not in the set
            take = g <= best_g + slack
            best_v = xp.where(take, v, best_v)
            best_g = xp.where(take, g, best_g)
    return best_v


NAME = "piecewise"
CONVEX = False
SUMMARY = (
    "declared activation sets: unions of affine pieces x = a z + c on [lo, hi] "
    "(relu, step)"
)
EQUATIONS = "Elser eq. 26c, 28–30, 38, Fig. 3; PJAX Thm 6, 9; golden README autoencoder"
PROJECTION = piecewise_projection
EMIT = (
    affine_piece_candidate,
    affine_piece_fixed_candidate,
    affine_piece_value,
    piece_gap,
    piecewise_projection,
    piecewise_fixed_projection,
    piecewise_inference,
)
REQUIRES = ("_common",)


# --- named tables ---------------------------------------------------------------------


def relu_pieces() -> tuple:
    """ReLU, x = max(0, z)."""
    return (("affine", -math.inf, 0.0, 0.0, 0.0), ("affine", 0.0, math.inf, 1.0, 0.0))


def step_pieces(margin: float) -> tuple:
    """Two-valued step with gap (−Δ, Δ) (Elser Fig. 3)."""
    return (
        ("affine", -math.inf, -margin, 0.0, 0.0),
        ("affine", margin, math.inf, 0.0, 1.0),
    )


def zigmoid_pieces(margin: float) -> tuple:
    """Step plus the segment x = (z + Δ)/(2Δ) on [−Δ, Δ] (golden README)."""
    return (
        ("affine", -math.inf, -margin, 0.0, 0.0),
        ("affine", -margin, margin, 1.0 / (2.0 * margin), 0.5),
        ("affine", margin, math.inf, 0.0, 1.0),
    )


# --- properties (not emitted; shared with smooth/activation) --------------------------


def piece_value(piece: tuple, t: np.ndarray) -> np.ndarray:
    """x on the piece at t (NumPy)."""
    if piece[0] == "affine":
        return piece[3] * t + piece[4]
    return np.asarray(piece[3](np, t), dtype=float)


def graph_contains(
    z: np.ndarray, x: np.ndarray, pieces: tuple, tol: float
) -> np.ndarray:
    """Whether (z, x) lies on some piece (to a tolerance)."""
    ok = np.zeros(np.broadcast(z, x).shape, dtype=bool)
    for p in pieces:
        zt = np.clip(z, p[1], p[2])
        inside = np.abs(zt - z) <= tol * (1.0 + np.abs(z))
        val = piece_value(p, zt)
        ok |= inside & (np.abs(val - x) <= tol * (1.0 + np.abs(x) + np.abs(val)))
    return ok


def sample_graph(
    pieces: tuple,
    centre: np.ndarray,
    rng: np.random.Generator,
    n: int,
    width: float = 8.0,
) -> tuple:
    """``n`` random points (t, f(t)) on the pieces, t spread around ``centre``."""
    shape = (n,) + centre.shape
    ts = np.empty(shape)
    xs = np.empty(shape)
    which = rng.integers(0, len(pieces), size=shape)
    spread = np.logspace(-6, math.log10(width), n).reshape((n,) + (1,) * centre.ndim)
    raw = centre + spread * rng.normal(size=shape)
    for i, p in enumerate(pieces):
        t = np.clip(raw, p[1], p[2])
        m = which == i
        ts[m] = t[m]
        xs[m] = piece_value(p, t)[m]
    return ts, xs


def bruteforce_union(
    z: np.ndarray, x: np.ndarray, gz: np.ndarray, gx: np.ndarray, pieces: tuple
) -> tuple:
    """Nearest point of a union of pieces by bounded scalar minimization per piece
    (SciPy)."""
    from scipy.optimize import minimize_scalar

    z, x, gz, gx = np.broadcast_arrays(z, x, gz, gx)
    bt, bx = np.empty(z.shape), np.empty(z.shape)
    for idx in np.ndindex(z.shape):
        best = (np.inf, 0.0, 0.0)
        zi, xi, gzi, gxi = float(z[idx]), float(x[idx]), float(gz[idx]), float(gx[idx])
        e0 = min(
            gzi * (np.clip(zi, p[1], p[2]) - zi) ** 2
            + gxi * (float(piece_value(p, np.clip(zi, p[1], p[2]))) - xi) ** 2
            for p in pieces
        )
        radius = math.sqrt(e0 / gzi) + 1e-9
        for p in pieces:
            lo, hi = max(p[1], zi - radius), min(p[2], zi + radius)
            if lo > hi:
                continue

            def energy(
                t: float,
                p: tuple = p,
                zi: float = zi,
                xi: float = xi,
                gzi: float = gzi,
                gxi: float = gxi,
            ) -> float:
                d = float(piece_value(p, np.asarray(t))) - xi
                return gzi * (t - zi) ** 2 + gxi * d * d  # d * d: inf, no OverflowError

            # even points and points at every scale around z (a steep curve's minimum
            # is near z in a window made huge by E(clip(z)))
            near = zi + radius * np.concatenate([-(2.0 ** -np.arange(1, 40)),
                                                 2.0 ** -np.arange(1, 40)])
            grid = np.unique(np.concatenate([np.linspace(lo, hi, 1025),
                                             np.clip(near, lo, hi)]))
            vals = np.array([energy(t) for t in grid])
            cands = [lo, hi]
            for k in np.argsort(vals)[:3]:  # refine the three best
                a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
                cands.append(grid[k])
                if b > a:
                    res = minimize_scalar(
                        energy, bounds=(a, b), method="bounded",
                        options={"xatol": 1e-13},
                    )
                    cands.append(float(res.x))
            for t in cands:
                e = energy(t)
                if e < best[0]:
                    best = (e, t, float(piece_value(p, np.asarray(t))))
        bt[idx], bx[idx] = best[1], best[2]
    return bt, bx


def _project(
    xp: "ModuleType",
    z: "Array",
    x: "Array",
    gz: "Array",
    gx: "Array",
    pieces: tuple,
    mode: str,
) -> tuple:
    if mode == "fixed":
        return piecewise_fixed_projection(xp, z, x, pieces), x + 0.0 * z
    return piecewise_projection(xp, z, x, gz, gx, pieces)


def random_pieces(draw: Callable, allow_curves: bool = False) -> tuple:
    """Random affine pieces on random disjoint intervals (hypothesis ``draw``)."""
    from hypothesis import strategies as st

    k = draw(st.integers(1, 3))
    cuts = sorted(
        draw(
            st.lists(
                st.floats(-5, 5, allow_subnormal=False), min_size=2 * k, max_size=2 * k
            )
        )
    )
    lo_open = draw(st.booleans())
    hi_open = draw(st.booleans())
    pieces = []
    for i in range(k):
        lo, hi = cuts[2 * i], cuts[2 * i + 1]
        if i == 0 and lo_open:
            lo = -math.inf
        if i == k - 1 and hi_open:
            hi = math.inf
        a = draw(st.one_of(st.just(0.0), st.floats(0.01, 3.0), st.floats(-3.0, -0.01)))
        c = draw(st.floats(-3, 3, allow_subnormal=False))
        pieces.append(("affine", lo, hi, a, c))
    return tuple(pieces)


def point_args(
    draw: Callable, pieces: tuple, n: int = 6, modes: tuple | None = None
) -> tuple:
    """Draw (z, x, gz, gx, pieces, mode) for a union of pieces; the mode (x free, or
    fixed at a value the set takes) one of `modes` (default: both, free twice as
    often)."""
    from hypothesis import strategies as st

    z = draw(float_arrays((n,), -8.0, 8.0))
    mode = draw(st.sampled_from(list(modes or ("free", "free", "fixed"))))
    if mode == "fixed":
        # a reachable x: the value of a random piece at a random point of it
        which = draw(st.lists(st.integers(0, len(pieces) - 1), min_size=n, max_size=n))
        t0 = draw(
            float_arrays((n,), -3.0, 3.0)
        )  # well-conditioned on saturating curves
        x = np.array(
            [
                float(
                    piece_value(pieces[i], np.clip(t0[j], pieces[i][1], pieces[i][2]))
                )
                for j, i in enumerate(which)
            ]
        )
    else:
        x = draw(float_arrays((n,), -4.0, 4.0))
    gz = draw(float_arrays((n,), 0.1, 10.0))
    gx = draw(float_arrays((n,), 0.1, 10.0))
    return z, x, gz, gx, pieces, mode


def union_contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    """(z, x) on the graph (in ``fixed`` mode, x' = x is enforced by
    ``union_distance``)."""
    return graph_contains(pt[0], pt[1], args[4], tol)


def union_distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    gz, gx, mode = args[2], args[3], args[5]
    dz, dx = q[0] - p[0], q[1] - p[1]
    with np.errstate(over="ignore", invalid="ignore"):
        if mode == "fixed":
            return dz * dz + np.where(dx == 0.0, 0.0, np.inf)
        return gz * dz * dz + gx * dx * dx


def union_sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    z, x, gz, gx, pieces, mode = args
    if mode == "fixed":
        ts = np.empty((n,) + z.shape)
        for i in range(n):
            ts[i] = _random_preimage(pieces, z, x, rng)
        return ts, np.broadcast_to(x, ts.shape)
    return sample_graph(pieces, z, rng, n)


def _random_preimage(
    pieces: tuple, z: np.ndarray, x: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A random z with f(z) = x on some piece (affine pieces only), else z itself."""
    out = np.full(z.shape, np.nan)
    for idx in np.ndindex(z.shape):
        opts = []
        for p in pieces:
            if p[0] != "affine":
                continue
            if p[3] == 0.0:
                if abs(p[4] - x[idx]) <= 1e-12 * (1.0 + abs(x[idx])):
                    opts.append(float(np.clip(z[idx] + rng.normal() * 3.0, p[1], p[2])))
            else:
                t = (x[idx] - p[4]) / p[3]
                if p[1] <= t <= p[2]:
                    opts.append(t)
        out[idx] = opts[rng.integers(len(opts))] if opts else np.inf
    return out


def union_bruteforce(args: tuple) -> tuple:
    z, x, gz, gx, pieces, mode = args
    if mode == "fixed":
        return z, np.full(z.shape, np.nan)  # ignored: not contained
    return bruteforce_union(z, x, gz, gx, pieces)


def union_inference(args: tuple) -> tuple:
    """(z, f(z)) where z is covered by a piece; (nearest covered z, f(z)) in gaps."""
    z, pieces = args[0], args[4]
    fz = piecewise_inference(np, z, pieces)
    return _nearest_covered(z, pieces), fz


def _nearest_covered(z: np.ndarray, pieces: tuple) -> np.ndarray:
    """The z of the inference map's point: the nearest piece's nearest z, ties (and z
    within rounding of a tie, activation_inference) to the upper piece."""
    best, gap = np.array(z, dtype=float), np.full(z.shape, np.inf)
    slack = 256.0 * float(np.finfo(best.dtype).eps) * (1.0 + np.abs(best))
    for p in sorted(pieces, key=lambda p: (p[1], p[2])):
        t = np.clip(z, p[1], p[2])
        g = np.abs(t - z)
        take = g <= gap + slack
        best, gap = np.where(take, t, best), np.where(take, g, gap)
    return best


def _make_args_with(pieces: tuple | None, modes: tuple | None = None) -> object:
    from hypothesis import strategies as st

    @st.composite
    def draw_args(draw: Callable) -> tuple:
        if pieces is not None:
            table = pieces
        elif draw(st.booleans()):
            table = random_pieces(draw)
        else:
            table = draw(
                st.sampled_from([relu_pieces(), step_pieces(0.5), zigmoid_pieces(0.25)])
            )
        return point_args(draw, table, modes=modes)

    return draw_args()


SPEC = PropertySpec(
    project=_project,
    make_args=lambda: _make_args_with(None),
    contains=union_contains,
    distance=union_distance,
    sample_set=union_sample,
    convex=False,
    arity=2,
    nearest_bruteforce=union_bruteforce,
    inference=union_inference,
    make_args_with_pieces=_make_args_with,
    tol=1e-9,
    jax_eager_examples=2,
)
