"""The fused edge pass: one sweep over the edge variables that does, for every bilinear
row, what the unfused JAX step does in five passes over x and w.

Where set A writes the edge variables x and w only as broadcasts of consensus values
(a node's value on its edges, a weight on its items: Lemma 4.1), P_A(x) and P_A(w) are
low-rank tables, and the reflection r = 2 P_A(s) - s (eq. 45) never needs to exist. For
each row of a bilinear family in set B (one item, one neuron: Σ_e x_e w_e = c y) this
pass reads the row of x and w once, forms the reflection in registers, sums p = Σ rx rw,
q = Σ rx² + rw², S = Σ (rx + rw)², D = Σ (rx - rw)² (eq. 53), solves for the multiplier
(eq. 54, the same safeguarded Newton iteration as lwlc/sets/bilinear.py), and writes the
RRR update s + β (P_B(r) - P_A(s)) of the row in place, summing its share of RRR_err
(eq. 22). The row is still in cache for the second loop: x and w are read once and
written once per iteration.

The kernel is compiled by numba (cached beside this module) and called from inside the
compiled JAX loop through XLA's typed FFI (``jax.ffi.ffi_call``); the emitted solver
builds its arguments (lwlc/runtime/jax_fused.py). The unfused step stays the reference:
tests/test_fused.py compares the two.

A second kernel, `roots`, is bilinear_solve alone (eq. 53-54) for the restarts' vmapped
step (roots_kernel): 64 roots at a time in SIMD lanes, each stopping at its own step.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import math
import os

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

_A_MIN = float(np.finfo(np.float64).tiny) ** (1.0 / 3.0)  # keeps α³ a normal number

# items are cut into this many chunks for numba's threads (get_num_threads() would keep
# the kernel out of numba's cache)
_CHUNKS = 64
# the columns of the integer row table ROWS [R, 9]
K0, K1, M, OFF, P0, PMODE, XMODE, WMODE, YCOL = range(9)
# how a row reads P_A of x (XMODE) or w (WMODE): a contiguous run of the per-item table,
# a contiguous run of the per-edge table, or element by element from both
ITEM_RUN, EDGE_RUN, GATHER = 0, 1, 2
# the columns of the float row table COEFS [R, 4]: the bilinear coefficient in
# metric-scaled coordinates, sqrt of x's and w's metric, 1/g of y (0: y fixed)
OMEGA, SX, SW, GINV = range(4)


# roots solved together, one per SIMD lane (the `roots` kernel)
_TILE = 64


@numba.njit(inline="always")
def _mirrored(p, q, S, D, y, omega, ginv):
    """The root problem of eq. 53 mirrored to u ≥ 0 and its start, as
    lwlc.sets.bilinear.bilinear_solve sets it up: (up, pc, sc, dc, yc, g2, near, lo);
    near: the root lies in (1/2, 1) and the iterate is α = 1 - u, bracketed from lo."""
    S = max(S, 0.0)
    D = max(D, 0.0)
    wy = omega * y
    g2 = omega * omega * ginv
    up = p <= wy  # h0(0) = p - ω y ≤ 0: the root is u ≥ 0, else mirror
    pc = p if up else -p
    sc = S if up else D
    dc = D if up else S
    yc = wy if up else -wy
    near = sc - dc / 9.0 - yc + 0.5 * g2 < 0.0  # h0(1/2) < 0
    num = dc + 4.0 * yc
    a_lo = _A_MIN
    if num > 0.0:
        a_lo = math.sqrt(min(max(sc / num, _A_MIN * _A_MIN), 0.25))
    a_lo = max(a_lo, _A_MIN)
    return up, pc, sc, dc, yc, g2, near, a_lo if near else 0.0


@numba.njit(inline="always")
def _newton_step(tj, loj, hij, nr, pcj, qj, scj, dcj, ycj, g2j):
    """One safeguarded Newton/bisection step (eq. 54) and its stopping test, without
    branches (so that LLVM runs it in SIMD lanes), in the dtype of its values:
    bilinear_newton_step and bilinear_newton_done of lwlc.sets.bilinear, with one
    division for 1/a, 1/b and 1/(a b) (the roots agree to a few ulps; divisions and
    square roots bound it). Returns (t, lo, hi, stop)."""
    f = type(tj)
    zero, one, two, half, quarter = f(0.0), f(1.0), f(2.0), f(0.5), f(0.25)
    u = one - tj if nr else tj
    a = tj if nr else one - tj
    b = two - tj if nr else one + tj
    iden = one / (a * b)
    ia = b * iden
    ib = a * iden
    u2 = u * u
    h_pq = (pcj * (one + u2) + qj * u) * (iden * iden) - ycj + g2j * u
    dh_pq = (qj * (one + f(3.0) * u2) + two * pcj * u * (f(3.0) + u2)) * (
        iden * iden * iden
    ) + g2j
    h_sd = quarter * (scj * (ia * ia) - dcj * (ib * ib)) - ycj + g2j * u
    dh_sd = half * scj * (ia * ia * ia) + half * dcj * (ib * ib * ib) + g2j
    h = h_sd if nr else h_pq
    dh = dh_sd if nr else dh_pq
    rise = -h if nr else h  # increasing in t
    lo_n = tj if rise < zero else loj
    hi_n = tj if rise > zero else hij
    pos = dh > zero
    t_newton = tj - rise / (dh if pos else one)
    ok = pos & (t_newton >= lo_n) & (t_newton <= hi_n)
    geometric = (lo_n > zero) & (hi_n > f(4.0) * lo_n)
    mid = math.sqrt(lo_n * hi_n) if geometric else half * (lo_n + hi_n)
    t_n = tj if h == zero else (t_newton if ok else mid)
    tol = f(16.0) * f(np.finfo(f).eps) * (t_n if nr else one)
    stop = (
        (abs(t_n - tj) <= tol)
        | (hi_n - lo_n <= tol)
        | (t_n == lo_n)
        | ((t_n == hi_n) & (hi_n < half))
    )
    return t_n, lo_n, hi_n, stop


@numba.njit(inline="always")
def _unmirrored(t, near, up):
    """(u, 1 - u, 1 + u) from the iterate, each to full relative precision."""
    u = 1.0 - t if near else t
    one_minus = t if near else 1.0 - t
    one_plus = 2.0 - t if near else 1.0 + t
    if up:
        return u, one_minus, one_plus
    return -u, one_plus, one_minus


@numba.njit(cache=True, error_model="numpy")
def multiplier(p, q, S, D, y, omega, ginv):
    """Root of eq. 53 (u, 1 - u, 1 + u) from one row's sums, in float64: the scalar
    form of lwlc.sets.bilinear.bilinear_solve (mirrored to u ≥ 0; t = u, or α = 1 - u
    where the root crowds 1; Newton steps safeguarded by bisection, at most 32,
    stopping at the same test)."""
    up, pc, sc, dc, yc, g2, near, lo = _mirrored(p, q, S, D, y, omega, ginv)
    t, hi = lo, 0.5
    for _ in range(32):
        t, lo, hi, stop = _newton_step(t, lo, hi, near, pc, q, sc, dc, yc, g2)
        if stop:
            break
    return _unmirrored(t, near, up)


_POLE = 2.0 * _A_MIN  # 1 ± u at or below this: the root sits at a pole


@numba.njit(cache=True)
def pole(S, D, wy, one_minus, one_plus, m):
    """(csx, csw, cdx, cdw, cx, cw) of x' = csx s + cdx d + cx, w' = csw s - cdw d + cw
    (eq. 19a-b, wy = ω y', m the row's length): the scalar form of
    lwlc.sets.bilinear.bilinear_pole. At u = -1 (1 + u at the solve's floor) the part
    along d is free and takes the length the constraint leaves it, along d, or s where
    d = 0, or the diagonal where both are 0; likewise s at u = 1."""
    cs = 0.5 / one_minus
    cd = 0.5 / one_plus
    fs = 0.0
    fd = 0.0
    if one_plus <= _POLE:
        length = math.sqrt(max(S * cs * cs - wy, 0.0))
        if D > 0.0:
            cd = length / math.sqrt(D)
        else:
            cd = 0.0
            fd = length
    elif one_minus <= _POLE:
        length = math.sqrt(max(D * cd * cd + wy, 0.0))
        if S > 0.0:
            cs = length / math.sqrt(S)
        else:
            cs = 0.0
            fs = length
    csx = csw = cs
    cdx = cdw = cd
    cx = cw = 0.0
    if S > 0.0:
        csx += fd / math.sqrt(S)
        csw -= fd / math.sqrt(S)
    if D > 0.0:
        cdx += fs / math.sqrt(D)
        cdw -= fs / math.sqrt(D)
    if S <= 0.0 and D <= 0.0:
        cx = (fs + fd) / math.sqrt(m)
        cw = (fs - fd) / math.sqrt(m)
    return csx, csw, cdx, cdw, cx, cw


@numba.njit(cache=True, error_model="numpy")
def _newton_lanes(n, t, lo, hi, near, done, pc, q, sc, dc, yc, g2):
    """_newton_step of each of n roots not yet done, in SIMD lanes. Returns how many
    roots are still running."""
    for i in range(n):
        t_n, lo_n, hi_n, stop = _newton_step(
            t[i], lo[i], hi[i], near[i] != 0, pc[i], q[i], sc[i], dc[i], yc[i], g2[i]
        )
        was = done[i] != 0
        t[i] = t[i] if was else t_n
        lo[i] = lo[i] if was else lo_n
        hi[i] = hi[i] if was else hi_n
        done[i] = 1 if was | stop else 0
    # counted apart: an int64 count in the loop above makes LLVM take 4 lanes at a
    # time, not 8 in float32 (2.97 against 1.39 ns a root)
    finished = 0
    for i in range(n):
        finished += done[i]
    return n - finished


@numba.njit(cache=True, error_model="numpy")
def multipliers(n, p, q, S, D, y, omega, ginv, u, one_minus, one_plus, lanes):
    """Roots of eq. 53 of n rows from their sums, in float64: u, 1 - u and 1 + u, each
    to full relative precision: multiplier's iteration in SIMD lanes, each row stopping
    at its own step.
    ``lanes``: scratch arrays (t, lo, hi, pc, sc, dc, yc, g2, near, up, done)."""
    t, lo, hi, pc, sc, dc, yc, g2, near, up, done = lanes
    for i in range(n):
        mirrored = _mirrored(p[i], q[i], S[i], D[i], y[i], omega[i], ginv[i])
        upward, pc[i], sc[i], dc[i], yc[i], g2[i], nr, lo[i] = mirrored
        up[i] = 1 if upward else 0
        near[i] = 1 if nr else 0
        hi[i] = 0.5
        t[i] = lo[i]
        done[i] = 0
    for _ in range(32):
        if _newton_lanes(n, t, lo, hi, near, done, pc, q, sc, dc, yc, g2) == 0:
            break
    for i in range(n):
        u[i], one_minus[i], one_plus[i] = _unmirrored(t[i], near[i] != 0, up[i] != 0)


@numba.njit(cache=True)
def _roots_tiles(lo, hi, p, q, S, D, y, omega, ginv, u, one_minus, one_plus):
    """multipliers over rows lo .. hi - 1, _TILE rows at a time."""
    lanes = (
        np.empty(_TILE), np.empty(_TILE), np.empty(_TILE), np.empty(_TILE),
        np.empty(_TILE), np.empty(_TILE), np.empty(_TILE), np.empty(_TILE),
        np.empty(_TILE, np.int8), np.empty(_TILE, np.int8), np.empty(_TILE, np.int8),
    )  # fmt: skip
    for a in range(lo, hi, _TILE):
        b = min(a + _TILE, hi)
        sums = (p[a:b], q[a:b], S[a:b], D[a:b], y[a:b], omega[a:b], ginv[a:b])
        multipliers(b - a, *sums, u[a:b], one_minus[a:b], one_plus[a:b], lanes)


@numba.njit(cache=True)
def roots(p, q, S, D, y, omega, ginv, u, one_minus, one_plus):
    """u, 1 - u, 1 + u of eq. 53 for every row (1-D arrays, float32 or float64; the
    iteration runs in float64): lwlc.sets.bilinear.bilinear_solve as a compiled kernel,
    _TILE rows in SIMD lanes at a time, on one thread (numba's threads, woken for a few
    thousand roots, cost more than they save, and far more when the cores are busy)."""
    _roots_tiles(0, p.shape[0], p, q, S, D, y, omega, ginv, u, one_minus, one_plus)


@numba.njit(cache=True, fastmath={"reassoc", "nsz"})
def _row_sums(xs, ws, ax, aw, sx, sw):
    """p, q, S, D of the reflected row (eq. 53), vectorized (the sums reassociate)."""
    two = xs.dtype.type(2.0)
    sx = xs.dtype.type(sx)
    sw = xs.dtype.type(sw)
    p = q = S = D = xs.dtype.type(0.0)
    for j in range(xs.shape[0]):
        rx = sx * (two * ax[j] - xs[j])
        rw = sw * (two * aw[j] - ws[j])
        s = rx + rw
        d = rx - rw
        p += rx * rw
        q += rx * rx + rw * rw
        S += s * s
        D += d * d
    return float(p), float(q), float(S), float(D)


@numba.njit(cache=True, fastmath={"reassoc", "nsz"})
def _row_update(xs, ws, ax, aw, sx, sw, cs, cd, beta):
    """Update the row in place to s + β (P_B(r) - P_A(s)) (eq. 45; eq. 19a-b with
    s = rx + rw, d = rx - rw: no cancellation as u -> 1) and return its Σ g (P_B -
    P_A)². In place: with a separate output LLVM does not vectorize the loop (4x
    slower)."""
    f = xs.dtype.type
    two = f(2.0)
    sxf, swf = f(sx), f(sw)
    ix, iw = f(1.0 / sx), f(1.0 / sw)
    csf, cdf, b = f(cs), f(cd), f(beta)
    err = f(0.0)
    for j in range(xs.shape[0]):
        rx = sxf * (two * ax[j] - xs[j])
        rw = swf * (two * aw[j] - ws[j])
        s = rx + rw
        d = rx - rw
        dx = (s * csf + d * cdf) * ix - ax[j]
        dw = (s * csf - d * cdf) * iw - aw[j]
        xs[j] += b * dx
        ws[j] += b * dw
        err += sxf * sxf * dx * dx + swf * swf * dw * dw
    return float(err)


@numba.njit(cache=True, fastmath={"reassoc", "nsz"})
def _row_sums_unit(xs, ws, ax, aw):
    """_row_sums for unit metric weights (the common case: no scaling multiplies)."""
    two = xs.dtype.type(2.0)
    p = q = S = D = xs.dtype.type(0.0)
    for j in range(xs.shape[0]):
        rx = two * ax[j] - xs[j]
        rw = two * aw[j] - ws[j]
        s = rx + rw
        d = rx - rw
        p += rx * rw
        q += rx * rx + rw * rw
        S += s * s
        D += d * d
    return float(p), float(q), float(S), float(D)


@numba.njit(cache=True, fastmath={"reassoc", "nsz"})
def _row_update_unit(xs, ws, ax, aw, cs, cd, beta):
    """_row_update for unit metric weights."""
    f = xs.dtype.type
    two = f(2.0)
    csf, cdf, b = f(cs), f(cd), f(beta)
    err = f(0.0)
    for j in range(xs.shape[0]):
        rx = two * ax[j] - xs[j]
        rw = two * aw[j] - ws[j]
        s = rx + rw
        d = rx - rw
        dx = s * csf + d * cdf - ax[j]
        dw = s * csf - d * cdf - aw[j]
        xs[j] += b * dx
        ws[j] += b * dw
        err += dx * dx + dw * dw
    return float(err)


@numba.njit(cache=True)
def _row_update_pole(xs, ws, ax, aw, sx, sw, coef, beta):
    """_row_update for a row whose root sits at a pole: x' = csx s + cdx d + cx, w' =
    csw s - cdw d + cw (``coef``, from pole; rare, so plainly written)."""
    csx, csw, cdx, cdw, cx, cw = coef
    err = 0.0
    for j in range(xs.shape[0]):
        rx = sx * (2.0 * float(ax[j]) - float(xs[j]))
        rw = sw * (2.0 * float(aw[j]) - float(ws[j]))
        s = rx + rw
        d = rx - rw
        dx = (s * csx + d * cdx + cx) / sx - float(ax[j])
        dw = (s * csw - d * cdw + cw) / sw - float(aw[j])
        xs[j] += beta * dx
        ws[j] += beta * dw
        err += sx * sx * dx * dx + sw * sw * dw * dw
    return err


@numba.njit(cache=True)
def _a_values(mode, k, m, off, t_item, t_edge, sl_item, sl_edge, buf):
    """A row's P_A values: a view of a table's run, or gathered into ``buf``."""
    if mode == ITEM_RUN:
        return t_item[k][sl_item[off] : sl_item[off] + m]
    if mode == EDGE_RUN:
        return t_edge[sl_edge[off] : sl_edge[off] + m]
    for j in range(m):
        buf[j] = t_item[k, sl_item[off + j]] + t_edge[sl_edge[off + j]]
    return buf[:m]


@numba.njit(cache=True, parallel=True)
def edge_pass(
    x,
    w,
    tx_item,
    tx_edge,
    tw_item,
    tw_edge,
    ry,
    rows,
    coefs,
    index,
    beta,
    x_out,
    w_out,
    y_out,
    err_out,
):
    """One RRR iteration of the bilinear rows over the edge variables x, w [K, E]:
    writes x_out, w_out (which may be x, w), y_out [K, R] (P_B of y for each row) and
    err_out[0] (the edges' Σ g (P_B - P_A)²).

    rows [R, 9] (K0, K1, M, OFF, P0, PMODE, XMODE, WMODE, YCOL) and coefs [R, 4]
    describe each row; index [5, n] holds, from OFF on, each element's position in x
    and w and its slots in the per-item tables t_item [K, S] and the per-edge tables
    t_edge [S'] (P_A(x)[k, e] = t_item[k, slot] + t_edge[slot']; each table ends in a
    0). ry [K, C]: the reflected y (or the data y is fixed to) of each row's neuron,
    column YCOL (rows of one neuron over several item bands share it)."""
    K = x.shape[0]
    R = rows.shape[0]
    if x_out.ctypes.data != x.ctypes.data:  # XLA did not alias them: start from a copy
        x_out[:] = x
    if w_out.ctypes.data != w.ctypes.data:
        w_out[:] = w
    mmax = 1
    for r in range(R):
        mmax = max(mmax, rows[r, M])
    chunks = min(K, _CHUNKS)
    errs = np.zeros(chunks)
    for c in numba.prange(chunks):
        k_lo = c * K // chunks
        k_hi = (c + 1) * K // chunks
        bx = np.empty(mmax, x.dtype)
        bw = np.empty(mmax, x.dtype)
        bax = np.empty(mmax, x.dtype)
        baw = np.empty(mmax, x.dtype)
        err = 0.0
        for k in range(k_lo, k_hi):
            for r in range(R):
                if k < rows[r, K0] or k >= rows[r, K1]:
                    continue
                m = rows[r, M]
                off = rows[r, OFF]
                p0 = rows[r, P0]
                if rows[r, PMODE] == 1:
                    xs = x_out[k][p0 : p0 + m]  # row, then run: a contiguous view
                    ws = w_out[k][p0 : p0 + m]
                else:
                    for j in range(m):
                        bx[j] = x_out[k, index[0, off + j]]
                        bw[j] = w_out[k, index[0, off + j]]
                    xs, ws = bx[:m], bw[:m]
                ax = _a_values(
                    rows[r, XMODE], k, m, off, tx_item, tx_edge, index[1], index[2], bax
                )
                aw = _a_values(
                    rows[r, WMODE], k, m, off, tw_item, tw_edge, index[3], index[4], baw
                )
                sx = float(coefs[r, SX])
                sw = float(coefs[r, SW])
                unit = sx == 1.0 and sw == 1.0
                if unit:
                    p, q, S, D = _row_sums_unit(xs, ws, ax, aw)
                else:
                    p, q, S, D = _row_sums(xs, ws, ax, aw, sx, sw)
                omega = float(coefs[r, OMEGA])
                ginv = float(coefs[r, GINV])
                yr = float(ry[k, rows[r, YCOL]])
                u, one_minus, one_plus = multiplier(p, q, S, D, yr, omega, ginv)
                y_new = yr - u * omega * ginv
                y_out[k, rows[r, YCOL]] = y_new
                coef = pole(S, D, omega * y_new, one_minus, one_plus, m)
                csx, csw, cdx, cdw, cx, cw = coef
                if csx != csw or cdx != cdw or cx != 0.0 or cw != 0.0:  # at a pole
                    err += _row_update_pole(xs, ws, ax, aw, sx, sw, coef, float(beta))
                elif unit:
                    err += _row_update_unit(xs, ws, ax, aw, csx, cdx, float(beta))
                else:
                    err += _row_update(xs, ws, ax, aw, sx, sw, csx, cdx, float(beta))
                if rows[r, PMODE] != 1:
                    for j in range(m):
                        x_out[k, index[0, off + j]] = bx[j]
                        w_out[k, index[0, off + j]] = bw[j]
        errs[c] = err
    err_out[0] = errs.sum()


# --- XLA's typed FFI (xla/ffi/api/c_api.h), read with pointer arithmetic -------------


def _pointer_to(dtype):
    @intrinsic
    def to_pointer(typingctx, address):
        sig = types.CPointer(dtype)(types.int64)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(
                args[0], context.get_value_type(signature.return_type)
            )

        return sig, codegen

    return to_pointer


_i64p = _pointer_to(types.int64)
_i32p = _pointer_to(types.int32)

# XLA_FFI_CallFrame as int64 words: args.size at word 7, args.args at 9, rets.rets at
# 14; XLA_FFI_Buffer: data at word 3, rank at 4, dims at 5
_ARGS_SIZE, _ARGS, _RETS = 7, 9, 14
_EXT_METADATA = 1  # XLA_FFI_Extension_Metadata
_API_MAJOR, _API_MINOR = 0, 1  # the handler speaks the typed API 0.1: buffers in, out


@numba.njit(cache=True)
def _metadata(ext):
    """Answer XLA's metadata query (api version, no traits), if it is one."""
    if ext == 0 or numba.carray(_i32p(ext), 4)[2] != _EXT_METADATA:
        return False
    meta = numba.carray(_i64p(ext), 4)[3]
    words = numba.carray(_i64p(meta), 5)
    half = numba.carray(_i32p(meta), 10)
    words[1] = 24  # sizeof(XLA_FFI_Api_Version)
    words[2] = 0
    half[6] = _API_MAJOR
    half[7] = _API_MINOR
    half[8] = 0  # traits
    return True


@numba.njit(cache=True)
def _buffer(table, i):
    """(data address, dims) of the i-th buffer of an args or rets table."""
    buf = numba.carray(_i64p(table[i]), 6)
    dims = numba.carray(_i64p(buf[5]), max(buf[4], 1))
    return buf[3], dims


@intrinsic
def _pointer_as(typingctx, address, proto):
    """A pointer to the type of the scalar `proto` at an integer address: one
    handler body serves both precisions, typed by the scalars its caller passes."""
    sig = types.CPointer(proto)(types.int64, proto)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@numba.njit(cache=True)
def _edge_pass_frame(frame_address, real, integer):
    """The FFI handler's body: the state, tables, coefficients, beta and the error as
    arrays of `real`'s type (float32 or float64), the row and index tables of
    `integer`'s (int32 or int64: JAX's integers without x64)."""
    frame = numba.carray(_i64p(frame_address), 20)
    if _metadata(frame[1]):
        return 0
    if numba.carray(_i32p(frame_address), 10)[8] != 3:  # not the execute stage
        return 0
    args = numba.carray(_i64p(frame[_ARGS]), frame[_ARGS_SIZE])
    rets = numba.carray(_i64p(frame[_RETS]), 4)
    a, d = _buffer(args, 0)
    K, E = d[0], d[1]
    x = numba.carray(_pointer_as(a, real), (K, E))
    a, d = _buffer(args, 1)
    w = numba.carray(_pointer_as(a, real), (K, E))
    a, d = _buffer(args, 2)
    tx_item = numba.carray(_pointer_as(a, real), (d[0], d[1]))
    a, d = _buffer(args, 3)
    tx_edge = numba.carray(_pointer_as(a, real), d[0])
    a, d = _buffer(args, 4)
    tw_item = numba.carray(_pointer_as(a, real), (d[0], d[1]))
    a, d = _buffer(args, 5)
    tw_edge = numba.carray(_pointer_as(a, real), d[0])
    a, d = _buffer(args, 6)
    ry = numba.carray(_pointer_as(a, real), (d[0], d[1]))
    a, d = _buffer(args, 7)
    R = d[0]
    rows = numba.carray(_pointer_as(a, integer), (R, 9))
    a, d = _buffer(args, 8)
    coefs = numba.carray(_pointer_as(a, real), (R, 4))
    a, d = _buffer(args, 9)
    index = numba.carray(_pointer_as(a, integer), (5, d[1]))
    a, d = _buffer(args, 10)
    beta = numba.carray(_pointer_as(a, real), 1)[0]
    a, d = _buffer(rets, 0)
    x_out = numba.carray(_pointer_as(a, real), (K, E))
    a, d = _buffer(rets, 1)
    w_out = numba.carray(_pointer_as(a, real), (K, E))
    a, d = _buffer(rets, 2)
    y_out = numba.carray(_pointer_as(a, real), (ry.shape[0], ry.shape[1]))
    a, d = _buffer(rets, 3)
    err_out = numba.carray(_pointer_as(a, real), 1)
    edge_pass(
        x,
        w,
        tx_item,
        tx_edge,
        tw_item,
        tw_edge,
        ry,
        rows,
        coefs,
        index,
        beta,
        x_out,
        w_out,
        y_out,
        err_out,
    )
    return 0


# The handlers XLA calls, one per precision. Module-level functions without closures:
# numba's cache finds them again in the next process (a handler made by a factory closed
# over its pointer intrinsics, which no two processes pickle alike, so each process
# compiled it anew, 1.9 s, and added one more copy to the cache).
def _edge_pass_f32(frame_address):
    return _edge_pass_frame(frame_address, np.float32(0.0), np.int32(0))


def _edge_pass_f64(frame_address):
    return _edge_pass_frame(frame_address, np.float64(0.0), np.int64(0))


@numba.njit(cache=True)
def _size(table, i):
    """The number of elements of the i-th buffer of an args or rets table."""
    buf = numba.carray(_i64p(table[i]), 6)
    n = 1
    if buf[4] > 0:
        dims = numba.carray(_i64p(buf[5]), buf[4])
        for j in range(buf[4]):
            n *= dims[j]
    return n


@numba.njit(cache=True)
def _roots_frame(frame_address, real):
    """The `roots` handler's body: p, q, S, D, y, omega, ginv in, u, 1 - u, 1 + u out,
    all of one size (any shape, read flat), of `real`'s type."""
    frame = numba.carray(_i64p(frame_address), 20)
    if _metadata(frame[1]):
        return 0
    if numba.carray(_i32p(frame_address), 10)[8] != 3:  # not the execute stage
        return 0
    args = numba.carray(_i64p(frame[_ARGS]), frame[_ARGS_SIZE])
    rets = numba.carray(_i64p(frame[_RETS]), 3)
    n = _size(args, 0)
    p = numba.carray(_pointer_as(_buffer(args, 0)[0], real), n)
    q = numba.carray(_pointer_as(_buffer(args, 1)[0], real), n)
    S = numba.carray(_pointer_as(_buffer(args, 2)[0], real), n)
    D = numba.carray(_pointer_as(_buffer(args, 3)[0], real), n)
    y = numba.carray(_pointer_as(_buffer(args, 4)[0], real), n)
    omega = numba.carray(_pointer_as(_buffer(args, 5)[0], real), n)
    ginv = numba.carray(_pointer_as(_buffer(args, 6)[0], real), n)
    u = numba.carray(_pointer_as(_buffer(rets, 0)[0], real), n)
    one_minus = numba.carray(_pointer_as(_buffer(rets, 1)[0], real), n)
    one_plus = numba.carray(_pointer_as(_buffer(rets, 2)[0], real), n)
    roots(p, q, S, D, y, omega, ginv, u, one_minus, one_plus)
    return 0


def _roots_f32(frame_address):
    return _roots_frame(frame_address, np.float32(0.0))


def _roots_f64(frame_address):
    return _roots_frame(frame_address, np.float64(0.0))


TARGETS = {
    ("edge_pass", "float32"): "lwlc_edge_pass_f32",
    ("edge_pass", "float64"): "lwlc_edge_pass_f64",
    ("roots", "float32"): "lwlc_roots_f32",
    ("roots", "float64"): "lwlc_roots_f64",
}
_REGISTERED: dict[str, object] = {}


def register(dtype: str, kernel: str = "edge_pass") -> str:
    """Register a kernel ("edge_pass" or "roots") for `dtype` with XLA (once per
    process); its target name."""
    name = TARGETS[kernel, dtype]
    if name not in _REGISTERED:
        import jax

        body = {("edge_pass", "float32"): _edge_pass_f32,
                ("edge_pass", "float64"): _edge_pass_f64,
                ("roots", "float32"): _roots_f32,
                ("roots", "float64"): _roots_f64}[kernel, dtype]
        # start numba's threading layer first: a handler loaded from the cache links
        # against its scheduler (allocate_sched), which only a fresh compile starts
        numba.get_num_threads()
        fn = numba.cfunc(types.int64(types.int64), cache=True)(body)
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype = ctypes.py_object
        new_capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
        capsule = new_capsule(fn.address, None, None)
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")
        _REGISTERED[name] = (fn, capsule)  # keep the compiled handler alive
    return name


# set while a caller traces its step inside roots_kernel()
_ROOTS_KERNEL = contextvars.ContextVar("lwlc_roots_kernel", default=False)


@contextlib.contextmanager
def roots_kernel():
    """JAX code traced inside this block solves bilinear_solve's roots with the `roots`
    kernel (where kernels_on). lwlc.restarts traces its vmapped step here: XLA's loop
    over the roots of R vmapped starts is a batched while loop that selects every
    start's state at every step; the kernel stops each root at its own step (a start's
    values do not depend on the others). Elsewhere XLA's loop is as fast or faster."""
    token = _ROOTS_KERNEL.set(True)
    try:
        yield
    finally:
        _ROOTS_KERNEL.reset(token)


def kernels_on() -> bool:
    """Whether JAX code may call these kernels: on one CPU device in one process (they
    do not split a sharded batch), unless LWLC_FUSED=0 (the XLA-only step, the
    reference)."""
    import jax

    if os.environ.get("LWLC_FUSED", "").strip() == "0":
        return False
    return (
        jax.default_backend() == "cpu"
        and jax.process_count() == 1
        and jax.device_count() == 1
    )


def jax_roots(p, q, S, D, y, omega, ginv):
    """bilinear_solve's (u, 1 - u, 1 + u) under JAX by the `roots` kernel, called from
    the compiled code through XLA's FFI (under jax.vmap too); None where the kernel
    does not apply (outside roots_kernel(), not kernels_on, not float32 or float64)."""
    import jax
    import jax.numpy as jnp

    if not _ROOTS_KERNEL.get():
        return None

    arrays = jnp.broadcast_arrays(p, q, S, D, y, omega, ginv)
    dtype = jnp.result_type(*arrays)
    if dtype.name not in ("float32", "float64") or not kernels_on():
        return None
    shape = arrays[0].shape
    flat = [a.astype(dtype).reshape(-1) for a in arrays]
    out = jax.ffi.ffi_call(
        register(dtype.name, "roots"),
        (jax.ShapeDtypeStruct(flat[0].shape, dtype),) * 3,
        vmap_method="broadcast_all",
    )(*flat)
    return tuple(o.reshape(shape) for o in out)
