"""Activation side constraint x_A = f(y − b) for any declared activation: a union of
affine pieces (``piecewise``) and smooth curve pieces (``smooth``) in the (z, x) plane,
z = y − b.

``activation_projection`` returns the nearest candidate over all pieces (Elser eq. 26c,
28–29; golden README: isotropic in (consensus x, y, b), i.e. gz = n/2, gx = n with n the
out-degree). ``activation_yb_update`` turns the change of z back into equal-and-opposite
changes of y and b: minimizing gy Δy² + gb Δb² subject to Δy − Δb = Δz gives Δy = Δz
gb/(gy + gb), Δb = −Δz gy/(gy + gb), and the metric gz = gy gb/(gy + gb) on z.
"""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _barrier, _nearer, _nearest_fixed_candidate
from lwlc.sets._spec import PropertySpec
from lwlc.sets.piecewise import (
    _nearest_covered,
    affine_piece_candidate,
    affine_piece_fixed_candidate,
    affine_piece_value,
    bruteforce_union,
    graph_contains,
    piece_gap,
    point_args,
    relu_pieces,
    sample_graph,
    step_pieces,
    union_distance,
    zigmoid_pieces,
)
from lwlc.sets.smooth import (
    curve_piece_candidate,
    curve_piece_fixed_candidate,
    curve_piece_value,
    sigmoid_piece,
    tanh_piece,
)

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def activation_projection(
    xp: "ModuleType", z: "Array", x: "Array", gz: "Array", gx: "Array", pieces: "tuple"
) -> "tuple":
    """Nearest point (z', x') of a union of affine and curve pieces (ties: first
    piece)."""
    zero = xp.zeros_like(z + x + gz + gx)
    best_t = best_x = best_d = None
    for piece in pieces:
        t, xt, d = PIECE_KINDS[piece[0]][0](xp, z, x, gz, gx, *piece[1:])
        if best_d is None:
            best_t, best_x, best_d = t + zero, xt + zero, d + zero
        else:
            # one decision for z' and x' (see _barrier); a tie within rounding keeps
            # the first piece
            take = _barrier(xp, (_nearer(xp, d, best_d),))[0]
            best_t = xp.where(take, t, best_t)
            best_x = xp.where(take, xt, best_x)
            best_d = xp.where(take, d, best_d)
    return best_t, best_x


def activation_fixed_projection(
    xp: "ModuleType", z: "Array", x: "Array", pieces: "tuple"
) -> "Array":
    """Nearest z' with f(z') = x for fixed x over affine and curve pieces; without an
    exact match, the piece reaching nearest to x (then nearest z; then first piece)."""
    zero = xp.zeros_like(z + x)
    tol = 4096.0 * float(xp.finfo(zero.dtype).eps) * (1.0 + xp.abs(x))
    candidates = (PIECE_KINDS[piece[0]][1](xp, z, x, *piece[1:]) for piece in pieces)
    return _nearest_fixed_candidate(xp, candidates, zero, tol)


def activation_projection_groups(
    xp: "ModuleType", groups: "tuple", pieces: "tuple"
) -> "list":
    """activation_projection of each group (z, x, gz, gx) of a family's nodes (grouped
    by their number of output edges, lwlc/lower.py ``groups_of``). With a curve piece
    the groups go side by side into one call: the curve's projection is about 120 XLA
    operations per piece, which JAX compiles once per call (a family of two out-degrees
    compiled it twice). Returns [(z', x')] in the groups' order."""
    if len(groups) == 1 or all(piece[0] == "affine" for piece in pieces):
        return [activation_projection(xp, *g, pieces) for g in groups]
    z, x = activation_projection(xp, *_side_by_side(xp, groups), pieces)
    return list(zip(_apart(z, groups), _apart(x, groups), strict=True))


def activation_fixed_projection_groups(
    xp: "ModuleType", groups: "tuple", pieces: "tuple"
) -> "list":
    """activation_fixed_projection of each group (z, x) of a family's nodes, as
    activation_projection_groups; returns [z'] in the groups' order."""
    if len(groups) == 1 or all(piece[0] == "affine" for piece in pieces):
        return [activation_fixed_projection(xp, *g, pieces) for g in groups]
    z = activation_fixed_projection(xp, *_side_by_side(xp, groups), pieces)
    return _apart(z, groups)


def _side_by_side(xp: "ModuleType", groups: "tuple") -> "list":
    """Each argument of the groups, broadcast to its group's z and joined along the
    nodes' axis (a number keeps z's dtype, as it would in the group's own call)."""
    joined = []
    for column in zip(*groups, strict=True):
        parts = [
            xp.full(g[0].shape, a, dtype=g[0].dtype)
            if isinstance(a, float | int)
            else xp.broadcast_to(a, g[0].shape)
            for a, g in zip(column, groups, strict=True)
        ]
        joined.append(xp.concatenate(parts, axis=-1))
    return joined


def _apart(a: "Array", groups: "tuple") -> "list":
    """`a`, joined by _side_by_side, cut back into its groups."""
    out, start = [], 0
    for g in groups:
        stop = start + g[0].shape[-1]
        out.append(a[..., start:stop])
        start = stop
    return out


def activation_inference(xp: "ModuleType", z: "Array", pieces: "tuple") -> "Array":
    """Forward map f(z) over affine and curve pieces; in a gap, the nearest piece (ties:
    upper), evaluated at the nearest point of its interval. A z within rounding of a tie
    (256 ulps of 1 + |z|) is a tie: the gap's midpoint is where a sum that is 0 in exact
    arithmetic lands (equal inputs against centred weights), and its last bits, which
    differ between NumPy and XLA, must not pick the piece."""
    ordered = sorted(pieces, key=lambda p: (p[1], p[2]))
    z = xp.asarray(z + 0.0)
    slack = 256.0 * float(xp.finfo(z.dtype).eps) * (1.0 + xp.abs(z))
    best_v = best_g = None
    for piece in ordered:
        t = xp.minimum(xp.maximum(z, piece[1]), piece[2])
        v = PIECE_KINDS[piece[0]][2](xp, t, *piece[3:])
        g = piece_gap(xp, z, piece[1], piece[2])
        if best_g is None:
            best_v, best_g = v, g
        else:
            take = g <= best_g + slack
            best_v = xp.where(take, v, best_v)
            best_g = xp.where(take, g, best_g)
    return best_v


def activation_yb_update(
    xp: "ModuleType", y: "Array", b: "Array", dz: "Array", gy: "Array", gb: "Array"
) -> "tuple":
    """Split Δz into Δy = Δz gb/(gy+gb), Δb = −Δz gy/(gy+gb) (Elser eq. 27–28,
    26d–e)."""
    total = gy + gb
    return y + dz * (gb / total), b - dz * (gy / total)


# What each kind of piece contributes: (nearest point, nearest point at fixed x, value).
# An emitted solver holds the rows of the kinds its model's sets use (TABLES), so that a
# model of affine pieces holds no curve code.
PIECE_KINDS: dict[str, tuple[Callable, Callable, Callable]] = {
    "affine": (
        affine_piece_candidate, affine_piece_fixed_candidate, affine_piece_value
    ),
    "curve": (curve_piece_candidate, curve_piece_fixed_candidate, curve_piece_value),
}

NAME = "activation"
CONVEX = False
SUMMARY = "activation x = f(y − b): union of affine and smooth pieces; y, b split of Δz"
EQUATIONS = "Elser eq. 26c, 27–30, 38; Lemma 4.1; golden README classifier/autoencoder"
PROJECTION = activation_projection
EMIT = (
    activation_projection,
    activation_fixed_projection,
    activation_projection_groups,
    activation_fixed_projection_groups,
    _side_by_side,
    _apart,
    activation_inference,
    activation_yb_update,
)
REQUIRES = ("piecewise", "smooth")
TABLES = ("PIECE_KINDS",)


# --- properties (not emitted) ---------------------------------------------------------

MIXED_TABLES = {
    "relu": relu_pieces(),
    "step": step_pieces(0.5),
    "zigmoid": zigmoid_pieces(0.25),
    "relu_tanh": (("affine", -math.inf, 0.0, 0.0, 0.0), tanh_piece(0.0, math.inf)),
    "hard_sigmoid": (
        ("affine", -math.inf, -3.0, 0.0, 0.0),
        sigmoid_piece(-3.0, 3.0),
        ("affine", 3.0, math.inf, 0.0, 1.0),
    ),
}


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
        return activation_fixed_projection(xp, z, x, pieces), x + 0.0 * z
    return activation_projection(xp, z, x, gz, gx, pieces)


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    return graph_contains(pt[0], pt[1], args[4], tol)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    z, x, gz, gx, pieces, mode = args
    if mode == "fixed":
        return _fixed_bruteforce_samples(args, n)
    return sample_graph(pieces, z, rng, n)


def _fixed_bruteforce_samples(args: tuple, n: int) -> tuple:
    """Dense solutions of f(t) = x on every piece (grid sign changes refined by
    brentq)."""
    from scipy.optimize import brentq

    from lwlc.sets.piecewise import piece_value

    z, x, _, _, pieces, _ = args
    out = np.full((n,) + z.shape, np.inf)
    for idx in np.ndindex(z.shape):
        roots = []
        zi, xi = float(z[idx]), float(x[idx])
        for p in pieces:
            lo, hi = max(p[1], zi - 60.0), min(p[2], zi + 60.0)
            if lo > hi:
                continue
            if p[0] == "affine" and p[3] == 0.0:
                # a constant piece solves f = x within the projection's own tolerance
                # (activation_fixed_projection), no looser
                if abs(p[4] - xi) <= 4096.0 * np.finfo(float).eps * (1.0 + abs(xi)):
                    roots += list(np.clip(zi + np.linspace(-30, 30, 61), lo, hi))
                continue
            grid = np.linspace(lo, hi, 4001)
            g = piece_value(p, grid) - xi
            roots += list(grid[g == 0.0])
            for k in np.nonzero(g[:-1] * g[1:] < 0.0)[0]:
                roots.append(
                    brentq(
                        lambda t, p=p, xi=xi: float(piece_value(p, np.asarray(t))) - xi,
                        grid[k],
                        grid[k + 1],
                        xtol=1e-15,
                        maxiter=1000,
                        disp=False,  # a multiple root (t³ = 0) may miss xtol: keep it
                    )
                )
        roots = sorted(roots, key=lambda t: abs(t - zi))[:n]
        out[(slice(0, len(roots)),) + idx] = roots
    return out, np.broadcast_to(x, out.shape)


def _bruteforce(args: tuple) -> tuple:
    z, x, gz, gx, pieces, mode = args
    if mode == "fixed":
        return z, np.full(z.shape, np.nan)  # covered by the dense samples
    return bruteforce_union(z, x, gz, gx, pieces)


def _inference(args: tuple) -> tuple:
    z, pieces = args[0], args[4]
    return _nearest_covered(z, pieces), activation_inference(np, z, pieces)


def _make_args_with(pieces: tuple | None, modes: tuple | None = None) -> object:
    from hypothesis import strategies as st

    @st.composite
    def draw_args(draw: Callable) -> tuple:
        if pieces is not None:
            table = pieces
        # random affine tables are the ``piecewise`` kind's job (compiles once each)
        else:
            table = draw(st.sampled_from(list(MIXED_TABLES.values())))
        return point_args(draw, table, modes=modes)

    return draw_args()


SPEC = PropertySpec(
    project=_project,
    make_args=lambda: _make_args_with(None),
    contains=_contains,
    distance=union_distance,
    sample_set=_sample,
    convex=False,
    arity=2,
    nearest_bruteforce=_bruteforce,
    inference=_inference,
    make_args_with_pieces=_make_args_with,
    tol=1e-9,
    jax_eager_examples=1,
)
