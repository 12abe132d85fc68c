"""Bilinear constraint x·w = ω y (Elser eq. 16, 17–19, 51–54; App. B).

Projection of (x, w, y) minimizing ‖x'−x‖² + ‖w'−w‖² + g (y'−y)² onto x'·w' = ω y'. The
Lagrange system (eq. 52) gives x' = (x + u w)/(1−u²), w' = (w + u x)/(1−u²), y' = y − u
ω/g with u the unique root in (−1, 1) of the increasing function (eq. 53)

    h0(u) = (p(1+u²) + q u)/(1−u²)² − ω y + ω² g⁻¹ u,   p = x·w,  q = x·x + w·w.

Numerics. With s = x + w, d = x − w, S = ‖s‖² = q + 2p and D = ‖d‖² = q − 2p,

    h0(u) = S/(4(1−u)²) − D/(4(1+u)²) − ω y + ω² g⁻¹ u,
    x' = (s/(1−u) + d/(1+u))/2,   w' = (s/(1−u) − d/(1+u))/2.

The sign of h0(0) = p − ω y tells on which side of 0 the root lies; mirroring (S ↔ D, y
→ −y, u → −u) reduces to a root u ≥ 0, which we represent by α = 1 − u ∈ (0, 1] so that
both 1 − u and 1 + u = 2 − α are exact even when the root crowds the pole (x ≈ ±w, tiny
x and w). The root is bracketed by α ∈ [√(S/(D + 4ωy)), 1] and found by Newton steps in
u (eq. 54) safeguarded by bisection (geometric while the bracket spans more than a
factor 4) with a fixed budget of 32 iterations, the same steps for NumPy and JAX (a
``lax.fori_loop`` under JAX); the measured worst case is about 16 iterations to reach
1e−14. Where the root leaves (−1, 1) (x = ±w exactly, x = w = 0) or crowds the pole
closer than the solve's floor on α, u = ∓1 and the part that 1 ± u divides (d or s) is
free: the constraint fixes only its length (App. A.2); it goes along itself, or the
other part, or the diagonal (bilinear_pole).
"""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _barrier, _fixed_loop, _is_jax, _row_sums
from lwlc.sets._spec import PropertySpec, float_arrays, multistart_minimize, scalar

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def bilinear_newton_step(
    xp: "ModuleType",
    state: "tuple",
    near: "Array",
    pc: "Array",
    q: "Array",
    sc: "Array",
    dc: "Array",
    yc: "Array",
    g2: "Array",
) -> "tuple":
    """One safeguarded Newton/bisection step (eq. 54) on the mirrored h0 (root u ≥ 0).

    For a root in [0, 1/2] the iterate t is u and h0 is eq. 53 in (p, q); for a root in
    (1/2, 1) (``near``) t is α = 1 − u and h0 is written with S = q + 2p, D = q − 2p.
    Either way u, 1 − u and 1 + u keep full relative precision.
    """
    t, lo, hi = state
    u = xp.where(near, 1.0 - t, t)
    a = xp.where(near, t, 1.0 - t)
    b = xp.where(near, 2.0 - t, 1.0 + t)
    u2 = u * u
    den = a * b
    h_pq = (pc * (1.0 + u2) + q * u) / (den * den) - yc + g2 * u
    dh_pq = (q * (1.0 + 3.0 * u2) + 2.0 * pc * u * (3.0 + u2)) / (den * den * den) + g2
    h_sd = 0.25 * sc / (a * a) - 0.25 * dc / (b * b) - yc + g2 * u
    dh_sd = 0.5 * sc / (a * a * a) + 0.5 * dc / (b * b * b) + g2
    h = xp.where(near, h_sd, h_pq)
    dh = xp.where(near, dh_sd, dh_pq)
    rise = xp.where(near, -h, h)  # increasing in t
    lo = xp.where(rise < 0.0, t, lo)
    hi = xp.where(rise > 0.0, t, hi)
    pos = dh > 0.0
    t_newton = t - rise / xp.where(pos, dh, 1.0)
    ok = pos & (t_newton >= lo) & (t_newton <= hi)
    geometric = (lo > 0.0) & (hi > 4.0 * lo)
    mid = xp.where(geometric, xp.sqrt(lo) * xp.sqrt(hi), 0.5 * (lo + hi))
    t = xp.where(h == 0.0, t, xp.where(ok, t_newton, mid))
    return t, lo, hi


def bilinear_newton_done(
    xp: "ModuleType", old: "tuple", new: "tuple", near: "Array", *_: "Array"
) -> "Array":
    """The iteration of eq. 54 has converged: the last step, or the bracket, is within
    16 ulps of the scale t carries, or the step came back to a bracket end (a point it
    evaluated before: it cycles in the last bits). For u ≤ 1/2 (t = u) that scale is
    1: 1 ± u and u ω/g need u to absolute precision, and the last bits of a small u
    cycle (h0 is rounded at the scale of ω y). For u > 1/2 (t = α = 1 − u) it is α
    itself. A Newton step this small leaves an error of its square: the root to
    rounding."""
    t, lo, hi = new
    tol = 16.0 * float(xp.finfo(t.dtype).eps) * xp.where(near, t, 1.0)
    close = (xp.abs(t - old[0]) <= tol) | (hi - lo <= tol)
    # hi = 1/2 is the initial bracket end, never evaluated: a first Newton step that
    # lands exactly on it (x = 0, w = 1/2, y = 1, omega = g = 1) has not converged
    return close | (t == lo) | ((t == hi) & (hi < 0.5))


def _compiled_roots(xp: "ModuleType", *sums: "Array") -> "tuple | None":
    """bilinear_solve by the compiled kernel (lwlc/runtime/fused.py `roots`: this
    iteration, each row stopping at its own step, rows in SIMD lanes) where the caller
    asked for it (the restarts' vmapped step, on one CPU device); otherwise None."""
    # Only a caller that imported the kernels can have asked for them: importing them
    # here (numba, about 0.3 s) would slow down every first trace of a JAX step.
    fused = __import__("sys").modules.get("lwlc.runtime.fused")
    if not _is_jax(xp) or fused is None:
        return None
    return fused.jax_roots(*sums)


def bilinear_solve(
    xp: "ModuleType",
    p: "Array",
    q: "Array",
    S: "Array",
    D: "Array",
    y: "Array",
    omega: "Array",
    ginv: "Array",
) -> "tuple":
    """Root of eq. 53 from p = x·w, q = x·x + w·w, S = ‖x + w‖², D = ‖x − w‖²; returns
    (u, 1 − u, 1 + u), each to full relative precision."""
    compiled = _compiled_roots(xp, p, q, S, D, y, omega, ginv)
    if compiled is not None:
        return compiled
    zero = xp.zeros_like(p + q + S + D + y + omega + ginv)
    p = p + zero
    q = q + zero
    S = xp.maximum(S, 0.0) + zero
    D = xp.maximum(D, 0.0) + zero
    wy = omega * y + zero
    g2 = omega * omega * ginv + zero
    # h0(0) = p − ω y ≤ 0: the root is u ≥ 0; otherwise mirror u → −u. Written as a
    # comparison, not a difference, and pinned below: under jit XLA may recompute a
    # cheap predicate in several fusions, contracting p − ω y to a fused multiply-add in
    # some and not others, which would mix the two frames (seen: u = −0.11 for an
    # exactly satisfied constraint).
    up = p <= wy
    pc = xp.where(up, p, -p)
    sc = xp.where(up, S, D)
    dc = xp.where(up, D, S)
    yc = xp.where(up, wy, -wy)
    near = sc - dc / 9.0 - yc + 0.5 * g2 < 0.0  # h0(1/2) < 0: the root lies in (1/2, 1)
    up, near, pc, sc, dc, yc = _barrier(xp, (up, near, pc, sc, dc, yc))
    num = dc + 4.0 * yc
    has = num > 0.0
    ratio = sc / xp.where(has, num, 1.0)
    a_min = float(xp.finfo(zero.dtype).tiny) ** (1.0 / 3.0)  # keeps α³ a normal number
    a_lo = xp.where(has, xp.sqrt(xp.clip(ratio, a_min * a_min, 0.25)), a_min)
    a_lo = xp.maximum(a_lo, a_min)
    lo = xp.where(near, a_lo, 0.0)
    hi = zero + 0.5
    state = _fixed_loop(
        xp,
        32,
        bilinear_newton_step,
        (lo, lo, hi),
        (near, pc, q, sc, dc, yc, g2),
        elementwise=True,
        until=bilinear_newton_done,
    )
    t = state[0]
    u = xp.where(near, 1.0 - t, t)
    one_minus = xp.where(near, t, 1.0 - t)
    one_plus = xp.where(near, 2.0 - t, 1.0 + t)
    u = xp.where(up, u, -u)
    return u, xp.where(up, one_minus, one_plus), xp.where(up, one_plus, one_minus)


def bilinear_multiplier(
    xp: "ModuleType", p: "Array", q: "Array", y: "Array", omega: "Array", ginv: "Array"
) -> "Array":
    """Root u0 ∈ (−1, 1) of h0 (Elser eq. 53, Lemma B.1) from p = x·w, q = x·x + w·w."""
    u, _, _ = bilinear_solve(xp, p, q, q + 2.0 * p, q - 2.0 * p, y, omega, ginv)
    return u


def bilinear_pole(
    xp: "ModuleType",
    S: "Array",
    D: "Array",
    wy: "Array",
    one_minus: "Array",
    one_plus: "Array",
    m: "int | Array",
) -> "tuple":
    """The per-row coefficients (csx, csw, cdx, cdw, cx, cw) of x' = csx s + cdx d + cx,
    w' = csw s − cdw d + cw (eq. 19a–b with s = x + w, d = x − w; wy = ω y'; m the
    row's length), with a root at a pole handled.

    Elsewhere csx = csw = 1/(2(1 − u)), cdx = cdw = 1/(2(1 + u)), cx = cw = 0. Where
    1 + u sits at the solve's floor (x = w exactly and no root in (−1, 1): u = −1),
    d/(1 + u) is 0/0 or underflows: the part along d is free, and x'·w' = ω y' fixes
    only its length √(‖s'‖² − ω y'). Every direction is as near; it goes along d, or
    along s where d = 0, or (1, ..., 1)/√m where both are 0. Likewise s at u = 1. The
    choice keeps the rows' elementwise pass as it is (no element singled out).
    """
    cs = 0.5 / one_minus
    cd = 0.5 / one_plus
    floor = 2.0 * float(xp.finfo(cs.dtype).tiny) ** (1.0 / 3.0)  # 2× the solve's
    at_d = one_plus <= floor
    at_s = one_minus <= floor
    if _is_jax(xp):  # a branch XLA takes only when some row is at a pole
        jax = __import__("jax")
        zero = xp.zeros_like(cs)
        # under jax.vmap (the restarts) the test covers every instance, so that the cond
        # stays a branch, not a select of both; the parts leave other rows bit for bit
        anywhere = jax.custom_batching.custom_vmap(lambda flags: xp.any(flags))
        anywhere.def_vmap(lambda size, batched, flags: (xp.any(flags), False))
        return jax.lax.cond(
            anywhere(at_d | at_s),
            lambda: bilinear_pole_parts(xp, S, D, wy, cs, cd, at_d, at_s, m),
            lambda: (cs, cs, cd, cd, zero, zero),
        )
    if not (xp.any(at_d) or xp.any(at_s)):
        return cs, cs, cd, cd, 0.0, 0.0  # NumPy: no row at a pole (the common case)
    return bilinear_pole_parts(xp, S, D, wy, cs, cd, at_d, at_s, m)


def bilinear_pole_parts(
    xp: "ModuleType",
    S: "Array",
    D: "Array",
    wy: "Array",
    cs: "Array",
    cd: "Array",
    at_d: "Array",
    at_s: "Array",
    m: "int | Array",
) -> "tuple":
    """bilinear_pole's coefficients where rows ``at_d`` (1 + u at the floor) or ``at_s``
    (1 − u) are at a pole; the other rows keep (cs, cs, cd, cd, 0, 0)."""
    len_d = xp.sqrt(xp.maximum(S * xp.where(at_d, cs * cs, 0.0) - wy, 0.0))  # of d'/2
    len_s = xp.sqrt(xp.maximum(D * xp.where(at_s, cd * cd, 0.0) + wy, 0.0))  # of s'/2
    S_pos, D_pos = S > 0.0, D > 0.0
    rS = 1.0 / xp.sqrt(xp.where(S_pos, S, 1.0))
    rD = 1.0 / xp.sqrt(xp.where(D_pos, D, 1.0))
    # d'/2 along d; where d = 0 along s (x' and w' move apart), or the diagonal
    cd_new = xp.where(at_d & D_pos, len_d * rD, xp.where(at_d, 0.0, cd))
    fd = xp.where(at_d & ~D_pos, len_d, 0.0)
    # s'/2 along s; where s = 0 along d (x' and w' move together), or the diagonal
    cs_new = xp.where(at_s & S_pos, len_s * rS, xp.where(at_s, 0.0, cs))
    fs = xp.where(at_s & ~S_pos, len_s, 0.0)
    csx = cs_new + xp.where(S_pos, fd * rS, 0.0)
    csw = cs_new - xp.where(S_pos, fd * rS, 0.0)
    cdx = cd_new + xp.where(D_pos, fs * rD, 0.0)
    cdw = cd_new - xp.where(D_pos, fs * rD, 0.0)
    diag = 1.0 / xp.sqrt(xp.asarray(m, dtype=cs.dtype))  # m: per row where rows differ
    cx = xp.where(S_pos | D_pos, 0.0, (fs + fd) * diag)
    cw = xp.where(S_pos | D_pos, 0.0, (fs - fd) * diag)
    return csx, csw, cdx, cdw, cx, cw


def _item_blocks(x: "Array", block_bytes: int = 1 << 18) -> "list":
    """Slices of x's first axis of about ``block_bytes`` each, or one for all of an x of
    at most 4 ``block_bytes``: NumPy forms s = x + w and d = x − w for one block at a
    time, so that they stay in the core's cache while the sums and the update read
    them (one item's rows of MNIST 784-20-10 are 125 kB: its bilinear projection took
    186 ms a step whole, 94 in blocks)."""
    if x.nbytes <= 4 * block_bytes:
        return [slice(None)]
    per = max(1, block_bytes // max(1, x[:1].nbytes))
    return [slice(a, min(a + per, x.shape[0])) for a in range(0, x.shape[0], per)]


def bilinear_sums(xp: "ModuleType", x: "Array", w: "Array") -> "tuple":
    """The row sums p = x·w, q = x·x + w·w, S = ‖x + w‖², D = ‖x − w‖² (on the last
    axis), and s = x + w and d = x − w where NumPy forms them whole (else None, for the
    update to form again). Under JAX one variadic reduction; under NumPy a block of
    rows at a time (``_item_blocks``), s and d of a block formed in the cache."""
    if _is_jax(xp):
        sums = (x * w, x * x + w * w, (x + w) * (x + w), (x - w) * (x - w))
        return (*_row_sums(xp, sums), None, None)
    blocks = _item_blocks(x) if x.ndim > 1 else [slice(None)]
    if len(blocks) == 1:
        s, d = x + w, x - w
        return (*_block_sums(xp, x, w, s, d), s, d)
    parts = []
    for b in blocks:
        s = x[b] + w[b]
        parts.append(_block_sums(xp, x[b], w[b], s, None))
    return (*(xp.concatenate(sums) for sums in zip(*parts, strict=True)), None, None)


def _block_sums(
    xp: "ModuleType", x: "Array", w: "Array", s: "Array", d: "Array | None"
) -> "tuple":
    """p, q, S, D of a block of rows (NumPy) from s = x + w and d = x − w (None: formed
    in s's place), without temporaries."""
    dot = "...i,...i->..."
    p = xp.einsum(dot, x, w)
    q = xp.einsum(dot, x, x) + xp.einsum(dot, w, w)
    S = xp.einsum(dot, s, s)
    d = xp.subtract(x, w, out=s) if d is None else d
    return p, q, S, xp.einsum(dot, d, d)


def bilinear_update(
    xp: "ModuleType",
    x: "Array",
    w: "Array",
    s: "Array",
    d: "Array",
    coef: "tuple",
    overwrite: bool = False,
) -> "tuple":
    """x' and w' from bilinear_pole's per-row coefficients (eq. 19a–b), with s = x + w
    and d = x − w (from bilinear_sums, or formed again where it gave None) rather than
    a x + c w, which cancels catastrophically as u -> 1. ``overwrite``: under NumPy x'
    and w' are written into x and w (arrays of the caller's own, an RRR step's
    reflection) where they are two arrays of the rows' shape."""
    if _is_jax(xp):  # (XLA forms s and d inside each pass)
        csx, csw, cdx, cdw, cx, cw = (c[..., None] for c in coef)
        x_new = (x + w) * csx + (x - w) * cdx + cx
        w_new = (x + w) * csw - (x - w) * cdw + cw
        return x_new, w_new
    into = (
        overwrite
        and all(0 not in a.strides and a.flags.writeable for a in (x, w))
        and not xp.may_share_memory(x, w)
    )
    plain = coef[0] is coef[1] and coef[2] is coef[3]  # no row at a pole
    if s is not None:
        return _block_update(xp, s, d, coef, plain, (x, w) if into else None)
    rows = x.shape[:-1]
    coef = tuple(c if xp.shape(c) == rows else xp.broadcast_to(c, rows) for c in coef)
    fresh = (xp.empty(x.shape, xp.result_type(x, w)) for _ in range(2))
    x_new, w_new = (x, w) if into else fresh
    for b in _item_blocks(x):
        part = tuple(c[b] for c in coef)
        s, d = x[b] + w[b], x[b] - w[b]
        _block_update(xp, s, d, part, plain, (x_new[b], w_new[b]))
    return x_new, w_new


def _block_update(
    xp: "ModuleType",
    s: "Array",
    d: "Array",
    coef: "tuple",
    plain: bool,
    out: "tuple | None",
) -> "tuple":
    """bilinear_update of a block of rows (NumPy) from its s and d, which it scales in
    place, into ``out`` (x', w') or fresh arrays; ``plain``: no row at a pole (csx is
    csw, cdx is cdw; cx = cw = 0)."""
    csx, csw, cdx, cdw, cx, cw = coef
    if plain:
        s *= csx[..., None]
        d *= cdx[..., None]
        if out is None:
            return s + d, xp.subtract(s, d, out=s)
        return xp.add(s, d, out=out[0]), xp.subtract(s, d, out=out[1])
    x_new = s * csx[..., None] + d * cdx[..., None] + cx[..., None]
    w_new = s * csw[..., None] - d * cdw[..., None] + cw[..., None]
    if out is None:
        return x_new, w_new
    out[0][...], out[1][...] = x_new, w_new
    return out


def bilinear_projection(
    xp: "ModuleType",
    x: "Array",
    w: "Array",
    y: "Array",
    omega: "Array",
    ginv: "Array",
    overwrite: bool = False,
) -> "tuple":
    """Project (x, w, y) onto x·w = ω y (eq. 51, 19a–b, 52c); vectors on the last axis.

    ``y``, ``omega`` and ``ginv`` (= 1/g; 0 for fixed y, the NMF case eq. 16) broadcast
    against the leading axes of ``x`` and ``w``. Returns (x', w', y'); ``overwrite``:
    x' and w' may be written into x and w (bilinear_update).
    """
    overwrite = overwrite and xp.shape(x) == xp.shape(w)  # (else one is a broadcast)
    x, w = xp.broadcast_arrays(x, w)
    p, q, S, D, s, d = bilinear_sums(xp, x, w)
    u, one_minus, one_plus = bilinear_solve(xp, p, q, S, D, y, omega, ginv)
    y_new = y - u * omega * ginv
    coef = bilinear_pole(xp, S, D, omega * y_new, one_minus, one_plus, x.shape[-1])
    return (*bilinear_update(xp, x, w, s, d, coef, overwrite), y_new)


def bilinear_projection_groups(
    xp: "ModuleType", groups: "list", omega: "Array", overwrite: bool = False
) -> "list":
    """bilinear_projection of each group (x, w, y, ginv) of a family's rows (its nodes
    grouped by their number of edges, lwlc/lower.py ``groups_of``). The roots of the
    groups other than a dominant one (more than half the rows) are found by one solve:
    under JAX one Newton loop and one pole test for them, not one per group (a model
    with 14 in-degrees ran 14 loops). A dominant group keeps its own loop: a merged loop
    runs every row for as many steps as its slowest group needs (majority 13-26-2: 392
    against 362 µs per iteration). Returns [(x', w', y')] in the groups' order;
    ``overwrite`` as bilinear_projection takes it."""
    rows = [math.prod(xp.broadcast_shapes(g[0].shape, g[1].shape)[:-1]) for g in groups]
    alone = [i for i, n in enumerate(rows) if 2 * n > sum(rows)]
    merged = [i for i in range(len(groups)) if i not in alone]
    if len(merged) < 2:
        return [bilinear_projection(xp, *g[:3], omega, g[3], overwrite) for g in groups]
    out = {i: bilinear_projection(xp, *g[:3], omega, g[3], overwrite)
           for i, g in enumerate(groups) if i in alone}
    solved = _one_solve(xp, [groups[i] for i in merged], omega, overwrite)
    out.update(zip(merged, solved, strict=True))
    return [out[i] for i in range(len(groups))]


def _one_solve(
    xp: "ModuleType", groups: "list", omega: "Array", overwrite: bool = False
) -> "list":
    """bilinear_projection of each group, the roots of all their rows found by one
    bilinear_solve on the rows side by side."""
    rows, parts = [], []
    for x, w, y, ginv in groups:
        own = overwrite and xp.shape(x) == xp.shape(w)  # (else one is a broadcast)
        x, w = xp.broadcast_arrays(x, w)
        p, q, S, D, s, d = bilinear_sums(xp, x, w)
        shape = p.shape
        full = [xp.broadcast_to(v, shape).reshape(-1) for v in (p, q, S, D, y, ginv)]
        full.append(xp.full(p.size, float(x.shape[-1]), dtype=p.dtype))  # row length
        rows.append(full)
        parts.append((x, w, s, d, own, shape, p.size))
    p, q, S, D, y, ginv, m = (xp.concatenate(c) for c in zip(*rows, strict=True))
    u, one_minus, one_plus = bilinear_solve(xp, p, q, S, D, y, omega, ginv)
    y_new = y - u * omega * ginv
    coef = bilinear_pole(xp, S, D, omega * y_new, one_minus, one_plus, m)
    same = coef[0] is coef[1] and coef[2] is coef[3]  # NumPy: no row at a pole
    out, start = [], 0
    for x, w, s, d, own, shape, size in parts:
        cut = slice(start, start + size)
        start += size
        if same:
            cs, cd = coef[0][cut].reshape(shape), coef[2][cut].reshape(shape)
            part = (cs, cs, cd, cd, 0.0, 0.0)
        else:
            part = tuple(c[cut].reshape(shape) for c in coef)
        x_new, w_new = bilinear_update(xp, x, w, s, d, part, own)
        out.append((x_new, w_new, y_new[cut].reshape(shape)))
    return out


NAME = "bilinear"
CONVEX = False
SUMMARY = "x·w = ω y per neuron (fixed y with ginv = 0: NMF), exact multiplier root"
EQUATIONS = "Elser eq. 16–19, 51–54, Lemma B.1; App. B"
PROJECTION = bilinear_projection
EMIT = (
    bilinear_newton_step,
    bilinear_newton_done,
    _compiled_roots,
    bilinear_solve,
    bilinear_multiplier,
    bilinear_pole_parts,
    bilinear_pole,
    _item_blocks,
    _block_sums,
    bilinear_sums,
    _block_update,
    bilinear_update,
    bilinear_projection,
    _one_solve,
    bilinear_projection_groups,
)
REQUIRES = ("_common",)


# --- properties (not emitted) ---------------------------------------------------------


def _make_args() -> object:
    from hypothesis import strategies as st

    shape = (3, 4)

    def build(
        x: np.ndarray,
        noise: np.ndarray,
        kind: str,
        y: np.ndarray,
        omega: np.ndarray,
        ginv: np.ndarray,
    ) -> tuple:
        w = {"free": noise, "near": x + 1e-3 * noise, "anti": -x + 1e-3 * noise}[kind]
        # keep clear of the measure-zero degenerate inputs x = ±w (App. A.2, eq. 18)
        bump = 1e-2 * np.array([1.0, -2.0, 3.0, -4.0]) * (1.0 + np.abs(x).max())
        s2 = np.sum((x + w) ** 2, -1, keepdims=True)
        d2 = np.sum((x - w) ** 2, -1, keepdims=True)
        small = np.minimum(s2, d2) < 1e-8 * (
            1.0 + np.sum(x * x + w * w, -1, keepdims=True)
        )
        w = np.where(small, w + bump, w)
        return (x, w, y, omega, ginv)

    ginv = st.one_of(st.just(np.asarray(0.0)), float_arrays((3,), 0.05, 4.0))
    return st.builds(
        build,
        float_arrays(shape),
        float_arrays(shape),
        st.sampled_from(["free", "free", "near", "anti"]),
        float_arrays((3,)),
        scalar(0.5, 2.0),
        ginv,
    )


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    x, w, y = pt
    omega, ginv = args[3], args[4]
    lhs = np.sum(x * w, axis=-1)
    scale = (
        1.0
        + np.linalg.norm(x, axis=-1) * np.linalg.norm(w, axis=-1)
        + np.abs(omega * y)
    )
    fixed_ok = np.where(np.asarray(ginv) == 0.0, y == args[2], True)
    return (np.abs(lhs - omega * y) <= tol * scale) & fixed_ok


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    ginv = np.asarray(args[4])
    dy = q[2] - p[2]
    gy = np.where(
        ginv > 0.0,
        dy * dy / np.where(ginv > 0.0, ginv, 1.0),
        np.where(dy == 0.0, 0.0, np.inf),
    )
    return np.sum((q[0] - p[0]) ** 2, -1) + np.sum((q[1] - p[1]) ** 2, -1) + gy


def _fix_w(x: np.ndarray, w: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Shift w along x so that x·w = target."""
    xx = np.maximum(np.sum(x * x, -1), 1e-300)
    lam = (target - np.sum(x * w, -1)) / xx
    return w + lam[..., None] * x


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    x, w, y, omega, ginv = args
    px, pw, py = bilinear_projection(np, x, w, y, omega, ginv)
    scale = np.logspace(-6, 0.5, n)[:, None, None]
    base_x = np.where(np.arange(n)[:, None, None] % 2 == 0, px, x)
    base_w = np.where(np.arange(n)[:, None, None] % 2 == 0, pw, w)
    xs = base_x + scale * rng.normal(size=(n,) + x.shape)
    ws = base_w + scale * rng.normal(size=(n,) + w.shape)
    fixed = np.asarray(ginv) == 0.0
    ws_fixed = _fix_w(xs, ws, np.broadcast_to(omega * y, xs.shape[:-1]))
    ws = np.where(fixed[..., None], ws_fixed, ws)
    ys = np.where(fixed, np.broadcast_to(y, xs.shape[:-1]), np.sum(xs * ws, -1) / omega)
    return xs, ws, ys


def _bruteforce(args: tuple) -> tuple:
    x, w, y, omega, ginv = args
    ginv_b = np.broadcast_to(ginv, y.shape)
    px, pw, _ = bilinear_projection(np, x, w, y, omega, ginv)
    n = x.shape[-1]
    out_x, out_w, out_y = np.empty_like(x), np.empty_like(w), np.empty_like(y)
    for i in range(y.shape[0]):
        gi = float(ginv_b[i])
        om = float(omega)

        def point(v: np.ndarray, i: int = i, gi: float = gi, om: float = om) -> tuple:
            xv, wv = v[:n], v[n:]
            if gi > 0.0:
                return xv, wv, float(xv @ wv) / om
            return xv, _fix_w(xv, wv, om * y[i]), y[i]

        def fun(
            v: np.ndarray, i: int = i, gi: float = gi, point: Callable = point
        ) -> float:
            xv, wv, yv = point(v)
            d = np.sum((xv - x[i]) ** 2) + np.sum((wv - w[i]) ** 2)
            return float(d + ((yv - y[i]) ** 2 / gi if gi > 0.0 else 0.0))

        def grad(
            v: np.ndarray, i: int = i, gi: float = gi, om: float = om
        ) -> np.ndarray:
            xv, wv = v[:n], v[n:]
            if gi > 0.0:
                r = 2.0 * (float(xv @ wv) / om - y[i]) / (gi * om)
                return np.concatenate(
                    [2.0 * (xv - x[i]) + r * wv, 2.0 * (wv - w[i]) + r * xv]
                )
            xx = max(float(xv @ xv), 1e-300)
            lam = (om * y[i] - float(xv @ wv)) / xx
            r = wv + lam * xv - w[i]
            rx = float(r @ xv)
            g_w = 2.0 * r - 2.0 * rx * xv / xx
            g_x = (
                2.0 * (xv - x[i])
                + 2.0 * lam * r
                - 2.0 * rx * (wv + 2.0 * lam * xv) / xx
            )
            return np.concatenate([g_x, g_w])

        jiggle = 1e-3 * np.arange(1, 2 * n + 1)
        starts = [np.concatenate([x[i], w[i]]) + jiggle, np.concatenate([px[i], pw[i]])]
        with np.errstate(all="ignore"):
            bx, bw, by = point(multistart_minimize(fun, starts, grad))
        out_x[i], out_w[i], out_y[i] = bx, bw, by
    return out_x, out_w, out_y


SPEC = PropertySpec(
    project=bilinear_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
    arity=3,
    nearest_bruteforce=_bruteforce,
    tol=1e-9,
    jax_eager_examples=1,
)
