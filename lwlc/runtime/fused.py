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
"""

from __future__ import annotations

import ctypes
import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

_EPS = float(np.finfo(np.float64).eps)
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


@numba.njit(cache=True)
def multiplier(p, q, S, D, y, omega, ginv):
    """Root of eq. 53 (u, 1 - u, 1 + u) from the row sums, in float64: the scalar
    form of lwlc.sets.bilinear.bilinear_solve (mirrored to u ≥ 0; t = u, or α = 1 - u
    where the root crowds 1; Newton steps safeguarded by bisection, at most 32,
    stopping at the same test)."""
    S = max(S, 0.0)
    D = max(D, 0.0)
    wy = omega * y
    g2 = omega * omega * ginv
    up = p <= wy
    if up:
        pc, sc, dc, yc = p, S, D, wy
    else:
        pc, sc, dc, yc = -p, D, S, -wy
    near = sc - dc / 9.0 - yc + 0.5 * g2 < 0.0  # h0(1/2) < 0: the root lies in (1/2, 1)
    num = dc + 4.0 * yc
    a_lo = _A_MIN
    if num > 0.0:
        a_lo = math.sqrt(min(max(sc / num, _A_MIN * _A_MIN), 0.25))
    a_lo = max(a_lo, _A_MIN)
    lo = a_lo if near else 0.0
    hi = 0.5
    t = lo
    for _ in range(32):
        old = t
        if near:
            u, a, b = 1.0 - t, t, 2.0 - t
            h = 0.25 * sc / (a * a) - 0.25 * dc / (b * b) - yc + g2 * u
            dh = 0.5 * sc / (a * a * a) + 0.5 * dc / (b * b * b) + g2
        else:
            u, a, b = t, 1.0 - t, 1.0 + t
            u2 = u * u
            den = a * b
            h = (pc * (1.0 + u2) + q * u) / (den * den) - yc + g2 * u
            dh = (q * (1.0 + 3.0 * u2) + 2.0 * pc * u * (3.0 + u2)) / (
                den * den * den
            ) + g2
        rise = -h if near else h  # increasing in t
        if rise < 0.0:
            lo = t
        if rise > 0.0:
            hi = t
        pos = dh > 0.0
        t_newton = t - rise / (dh if pos else 1.0)
        ok = pos and t_newton >= lo and t_newton <= hi
        if lo > 0.0 and hi > 4.0 * lo:
            mid = math.sqrt(lo) * math.sqrt(hi)
        else:
            mid = 0.5 * (lo + hi)
        if h != 0.0:
            t = t_newton if ok else mid
        tol = 16.0 * _EPS * (t if near else 1.0)
        # hi = 1/2 is the initial bracket end, never evaluated: landing on it is no test
        if abs(t - old) <= tol or hi - lo <= tol or t == lo or (t == hi and hi < 0.5):
            break
    if near:
        u, one_minus, one_plus = 1.0 - t, t, 2.0 - t
    else:
        u, one_minus, one_plus = t, 1.0 - t, 1.0 + t
    if up:
        return u, one_minus, one_plus
    return -u, one_plus, one_minus


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
                y_out[k, rows[r, YCOL]] = yr - u * omega * ginv
                if unit:
                    err += _row_update_unit(
                        xs, ws, ax, aw, 0.5 / one_minus, 0.5 / one_plus, float(beta)
                    )
                else:
                    err += _row_update(
                        xs,
                        ws,
                        ax,
                        aw,
                        sx,
                        sw,
                        0.5 / one_minus,
                        0.5 / one_plus,
                        float(beta),
                    )
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
_f32p = _pointer_to(types.float32)
_f64p = _pointer_to(types.float64)

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


def _handler(pointer, int_pointer):
    """The FFI handler over buffers of one precision: the state, tables, coefficients,
    beta and the error in float32 or float64, the row and index tables in int32 or int64
    (JAX's integers without x64)."""

    @numba.cfunc(types.int64(types.int64), cache=True)
    def handler(frame_address):
        frame = numba.carray(_i64p(frame_address), 20)
        if _metadata(frame[1]):
            return 0
        if numba.carray(_i32p(frame_address), 10)[8] != 3:  # not the execute stage
            return 0
        args = numba.carray(_i64p(frame[_ARGS]), frame[_ARGS_SIZE])
        rets = numba.carray(_i64p(frame[_RETS]), 4)
        a, d = _buffer(args, 0)
        K, E = d[0], d[1]
        x = numba.carray(pointer(a), (K, E))
        a, d = _buffer(args, 1)
        w = numba.carray(pointer(a), (K, E))
        a, d = _buffer(args, 2)
        tx_item = numba.carray(pointer(a), (d[0], d[1]))
        a, d = _buffer(args, 3)
        tx_edge = numba.carray(pointer(a), d[0])
        a, d = _buffer(args, 4)
        tw_item = numba.carray(pointer(a), (d[0], d[1]))
        a, d = _buffer(args, 5)
        tw_edge = numba.carray(pointer(a), d[0])
        a, d = _buffer(args, 6)
        ry = numba.carray(pointer(a), (d[0], d[1]))
        a, d = _buffer(args, 7)
        R = d[0]
        rows = numba.carray(int_pointer(a), (R, 9))
        a, d = _buffer(args, 8)
        coefs = numba.carray(pointer(a), (R, 4))
        a, d = _buffer(args, 9)
        index = numba.carray(int_pointer(a), (5, d[1]))
        a, d = _buffer(args, 10)
        beta = numba.carray(pointer(a), 1)[0]
        a, d = _buffer(rets, 0)
        x_out = numba.carray(pointer(a), (K, E))
        a, d = _buffer(rets, 1)
        w_out = numba.carray(pointer(a), (K, E))
        a, d = _buffer(rets, 2)
        y_out = numba.carray(pointer(a), (ry.shape[0], ry.shape[1]))
        a, d = _buffer(rets, 3)
        err_out = numba.carray(pointer(a), 1)
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

    return handler


TARGETS = {"float32": "lwlc_edge_pass_f32", "float64": "lwlc_edge_pass_f64"}
_REGISTERED: dict[str, object] = {}


def register(dtype: str) -> str:
    """Register the kernel for `dtype` with XLA (once per process); its target name."""
    name = TARGETS[dtype]
    if name not in _REGISTERED:
        import jax

        fn = _handler(*((_f32p, _i32p) if dtype == "float32" else (_f64p, _i64p)))
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype = ctypes.py_object
        new_capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
        capsule = new_capsule(fn.address, None, None)
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")
        _REGISTERED[name] = (fn, capsule)  # keep the compiled handler alive
    return name
