"""The lane kernel: whole RRR steps (eq. 45) of a small model in one compiled loop, the
batch items as SIMD lanes.

XLA's step of a small model (majority 13-26-2) runs hundreds of short loops per
iteration and spends 12 ns per (item, edge) element; a kernel written by hand for that
model took 1.3 (bench/whole_step_probe.py). This module is the general form of that
kernel: one numba function, compiled once for all models and cached on disk, that runs
a model's step from a *program*, the tables lwlc/laneplan.py builds from the lowered
plan (one op per family group, as each family kind declares in lwlc/kinds).

The layout is items minor. The whole state is one array S [rows, K]: every element of
every variable is a row (the variables one after the other, LANE_ROWS in the emitted
module), and the K items of the batch are its lanes. A family's replicas over a node's
edges are rows of the same lanes, so their sums are lane-wise additions; its replicas
over items are a row, so their mean is a row sum. The inputs are rows of D [inputs, K],
the labels rows of L [labels, K].

One step: P_A(S) in place in A (which holds S: the last step's update wrote it), the
reflection R = 2 A - S, P_B(R) in place in R, then RRR_err = ||R - A|| in the metric
(eq. 22) and S += beta (R - A), written to S and A. The bilinear ops of set B (most of
a network's rows) read their rows' reflection from A and S and update them themselves,
so that the reflection and update passes skip those rows. Each op mirrors a rule of the
set library (lwlc/sets), with which tests/test_lanes.py checks it, and the whole step
the emitted NumPy solver's rrr_step.
"""

from __future__ import annotations

import contextlib
import math
import platform
import sys
import threading

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from lwlc.laneplan import (
    CODE,
    F0,
    I0,
    K0,
    K1,
    SIDE,
    STARTS,
    LaneProgram,
    M,
    MarginMode,
    N,
    Op,
    Side,
    pack,
    program_from,
    starts_program,
)
from lwlc.runtime.fused import _newton_lanes, _newton_step, pole

# the op codes and side constraints as plain integers (numba's constants)
CONSENSUS_EDGES, CONSENSUS_ITEMS = int(Op.CONSENSUS_EDGES), int(Op.CONSENSUS_ITEMS)
ACTIVATION, MARGIN, BILINEAR = int(Op.ACTIVATION), int(Op.MARGIN), int(Op.BILINEAR)
NONE, FIXED_DATA, FIXED_CONST = (
    int(Side.NONE),
    int(Side.FIXED_DATA),
    int(Side.FIXED_CONST),
)
NONNEG, BOX, SPHERE = int(Side.NONNEG), int(Side.BOX), int(Side.SPHERE)
NONNEG_SPHERE, SPARSE_NONNEG = int(Side.NONNEG_SPHERE), int(Side.SPARSE_NONNEG)
PLAIN, EXEMPT = int(MarginMode.PLAIN), int(MarginMode.EXEMPT)
RELABEL, ALLOW = int(MarginMode.RELABEL), int(MarginMode.ALLOW)

_EPS16 = 16.0  # _nearer's margin in ulps (lwlc/sets/_common.py)

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)
_inline = numba.njit(inline="always", error_model="numpy")


# Subnormal numbers: as XLA's CPU code does, the kernel runs with them flushed to zero
# (x86's MXCSR flags FTZ and DAZ, set on entry and restored on return; the thread's
# other code keeps IEEE behaviour). Without, a float32 run of 256 LEDM starts slowed
# from 1.7 to 3.0 us per start-iteration as its state decayed through the subnormals.
_MXCSR_FLUSH = 0x8040  # FTZ (bit 15) | DAZ (bit 6)


def _mxcsr_call(builder, name, ptr):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])


@intrinsic
def _mxcsr(typingctx):
    """The thread's MXCSR (x86's SSE control and status register)."""

    def codegen(context, builder, signature, args):
        ptr = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", ptr)
        return builder.load(ptr)

    return types.uint32(), codegen


@intrinsic
def _set_mxcsr(typingctx, value):
    """Load value into the thread's MXCSR."""

    def codegen(context, builder, signature, args):
        ptr = cgutils.alloca_once(builder, ir.IntType(32))
        builder.store(args[0], ptr)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", ptr)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


if platform.machine().lower() in ("x86_64", "amd64"):

    @_jit
    def _subnormals_off():
        """Flush subnormals to zero; returns the MXCSR to restore."""
        old = _mxcsr()
        _set_mxcsr(old | np.uint32(_MXCSR_FLUSH))
        return old

    @_jit
    def _restore(old):
        _set_mxcsr(old)

else:  # (elsewhere the kernel runs with IEEE subnormals)

    @_jit
    def _subnormals_off():
        return np.uint32(0)

    @_jit
    def _restore(old):
        pass


@_inline
def _maximum(a, b):
    """np.maximum of two scalars (a NaN wins), as selects (no branch: SIMD)."""
    m = a if a > b else b
    return a if a != a else m


@_inline
def _minimum(a, b):
    """np.minimum of two scalars (a NaN wins), as selects (no branch: SIMD)."""
    m = a if a < b else b
    return a if a != a else m


@_jit
def _lane_sum(row):
    """The sum of a row's lanes, by 8 partial sums in the row's dtype in a fixed order
    (SIMD without reassociating: the same bits from every compile), as a float."""
    L = row.shape[0]
    z = row.dtype.type(0.0)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
    top = L - L % 8
    for k in range(0, top, 8):
        a0 += row[k]
        a1 += row[k + 1]
        a2 += row[k + 2]
        a3 += row[k + 3]
        a4 += row[k + 4]
        a5 += row[k + 5]
        a6 += row[k + 6]
        a7 += row[k + 7]
    total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for k in range(top, L):
        total += row[k]
    return float(total)


# Two rules keep the lane loops below in SIMD (LLVM's vectorizer):
# - every loop runs over views that start at lane 0 (a[e, k0:k1]): from a start LLVM
#   cannot prove non-negative, numba's negative-index wraparound stays in the loop, and
#   it is not vectorized (the activation op took 37 µs a call instead of 6, majority);
# - the ops work in place on one array V, and a row that is read and written in one loop
#   is one view: two views of the same row fail LLVM's runtime overlap check, and the
#   loop runs its scalar version (the bilinear update took 115 µs instead of ~10).


@_jit
def _node_mean(V, ix, base, m, k0, k1, out):
    """out[:k1 - k0] = the mean of rows ix[base:base + m] over lanes k0:k1 (a node's
    value carried on its m edges, Lemma 4.1)."""
    L = k1 - k0
    f = V.dtype.type
    for k in range(L):
        out[k] = 0.0
    for i in range(m):
        s = V[ix[base + i], k0:k1]
        for k in range(L):
            out[k] += s[k]
    mf = f(m)
    for k in range(L):
        out[k] = out[k] / mf


@_jit
def _consensus_edges(op, V, data, ix, fx, v):
    """Consensus of each node's m rows per item (Lemma 4.1), then its scalar side
    constraint: fixed by an input row or a constant, nonneg, box, sparse nonneg, sphere
    or nonneg sphere of a vector of length 1 (lwlc/sets)."""
    k0, k1, i0, n, m, f0, side = op[K0], op[K1], op[I0], op[N], op[M], op[F0], op[SIDE]
    f = V.dtype.type
    L = k1 - k0
    v = v[:L]
    for r in range(n):
        if side == FIXED_DATA:
            d = data[ix[i0 + n * m + r], k0:k1]
            for k in range(L):
                v[k] = f(d[k])
        elif side == FIXED_CONST:
            c = f(fx[f0])
            for k in range(L):
                v[k] = c
        else:
            _node_mean(V, ix, i0 + r * m, m, k0, k1, v)
            if side == NONNEG:
                for k in range(L):
                    v[k] = _maximum(v[k], f(0.0))
            elif side == BOX:
                lo, hi = f(fx[f0]), f(fx[f0 + 1])
                for k in range(L):
                    v[k] = _minimum(_maximum(v[k], lo), hi)
            elif side == SPARSE_NONNEG:  # a vector of length 1: kept unless s = 0
                keep = fx[f0] >= 1.0
                for k in range(L):
                    v[k] = _maximum(v[k], f(0.0)) if keep else f(0.0)
            elif side == SPHERE:  # a vector of length 1: -r below 0, else r (0: r e_0)
                radius = f(fx[f0])
                for k in range(L):
                    v[k] = -radius if v[k] < f(0.0) else radius
            elif side == NONNEG_SPHERE:  # a vector of length 1: r, whatever it was
                for k in range(L):
                    v[k] = f(fx[f0])
        for i in range(m):
            d = V[ix[i0 + r * m + i], k0:k1]
            for k in range(L):
                d[k] = v[k]


@_jit
def _sphere(vec, m, radius, nonneg):
    """sphere_projection of vec[:m] (lwlc/sets/sphere.py: scaled by its largest entry
    first; 0 goes to radius e_0), or with `nonneg` nonneg_sphere_projection
    (lwlc/sets/nonneg_sphere.py: the negatives zeroed first; with no positive entry, the
    radius at the largest entry, the first of equals)."""
    top = 0.0
    best = 0
    for i in range(m):
        if vec[i] > vec[best]:
            best = i
        top = _maximum(top, _maximum(vec[i], 0.0) if nonneg else abs(vec[i]))
    if top > 0.0:
        total = 0.0
        for i in range(m):
            vec[i] = (_maximum(vec[i], 0.0) if nonneg else vec[i]) / top
            total += vec[i] * vec[i]
        scale = radius / math.sqrt(total)
        for i in range(m):
            vec[i] = vec[i] * scale
    else:
        corner = best if nonneg else 0
        for i in range(m):
            vec[i] = radius if i == corner else 0.0


@_jit
def _sparse_nonneg(vec, m, keep):
    """sparse_nonneg_projection of vec[:m] (lwlc/sets/sparse_nonneg.py): the negatives
    zeroed, then the `keep` largest entries kept (ties: the lower index first), the rest
    zeroed."""
    vp = np.empty(m)
    for i in range(m):
        vp[i] = _maximum(vec[i], 0.0)
    for i in range(m):
        rank = 0
        for j in range(m):
            if vp[j] > vp[i] or (vp[j] == vp[i] and j < i):
                rank += 1
        vec[i] = vp[i] if rank < keep else 0.0


@_jit
def _consensus_items(op, V, ix, fx, vec):
    """Consensus over the items k0:k1 of each row (Lemma 4.1: the mean over the batch),
    then the side constraint on each node's m values: a constant, nonneg, box, sphere,
    nonneg sphere."""
    k0, k1, i0, n, m, f0, side = op[K0], op[K1], op[I0], op[N], op[M], op[F0], op[SIDE]
    f = V.dtype.type
    count = f(k1 - k0)
    for r in range(n):
        for i in range(m):
            vec[i] = f(f(_lane_sum(V[ix[i0 + r * m + i], k0:k1])) / count)
        if side == FIXED_CONST:
            for i in range(m):
                vec[i] = fx[f0]
        elif side == NONNEG:
            for i in range(m):
                vec[i] = _maximum(vec[i], 0.0)
        elif side == BOX:
            for i in range(m):
                vec[i] = _minimum(_maximum(vec[i], fx[f0]), fx[f0 + 1])
        elif side == SPHERE or side == NONNEG_SPHERE:
            _sphere(vec, m, fx[f0], side == NONNEG_SPHERE)
        elif side == SPARSE_NONNEG:
            _sparse_nonneg(vec, m, int(fx[f0]))
        for i in range(m):
            d = V[ix[i0 + r * m + i], k0:k1]
            value = f(vec[i])
            for k in range(d.shape[0]):
                d[k] = value


@_jit
def _fixed_pieces(fx, p0, pieces, x, z, best_t, best_x, best_m, best_d):
    """The nearest z' with f(z') = x over affine pieces (lwlc/sets/piecewise.py
    affine_piece_fixed_candidate, lwlc/sets/_common.py _nearest_fixed_candidate): the
    smallest miss of x (misses within 4096 ulps of 1 + |x| tie), then the nearest z,
    then the first piece. best_x is x."""
    f = x.dtype.type
    ulps = f(4096.0) * f(np.finfo(x.dtype).eps)
    for p in range(pieces):
        lo, hi = f(fx[p0 + 4 * p]), f(fx[p0 + 4 * p + 1])
        a, c = f(fx[p0 + 4 * p + 2]), f(fx[p0 + 4 * p + 3])
        flat = a == 0.0
        for k in range(x.shape[0]):
            xk, zk = x[k], z[k]
            t = _minimum(_maximum(zk if flat else (xk - c) / a, lo), hi)
            miss = abs(c - xk) + f(0.0) * t if flat else abs(a * t + c - xk)
            tol = ulps * (f(1.0) + abs(xk))
            miss = f(0.0) if miss <= tol else miss
            d = abs(t - zk)
            close = abs(miss - best_m[k]) <= tol
            nearer = (not close) & (miss < best_m[k])
            take = (p == 0) | nearer | (close & (d < best_d[k]))
            best_t[k] = t if take else best_t[k]
            best_m[k] = miss if take else best_m[k]
            best_d[k] = d if take else best_d[k]
            best_x[k] = xk


@_jit
def _consensus_items_starts(op, V, ix, fx, work):
    """_consensus_items for R = STARTS starts side by side, items major (lane k R + s
    is item k of start s: starts_program): each start's mean over its items, then its
    side constraint, the starts in SIMD; the same arithmetic, in the same order, as one
    start's op. work [m + 12, R]: the means, per start the largest entry, the sum of
    squares and the index of the largest, 8 partial sums and the largest's value."""
    k0, k1, i0, n, m, f0, side = op[K0], op[K1], op[I0], op[N], op[M], op[F0], op[SIDE]
    R = op[STARTS]
    f = V.dtype.type
    count = f(k1 - k0)
    top, total, best = work[m], work[m + 1], work[m + 2]
    bestv = work[m + 11]  # the largest entry's value; then the sphere's scale
    for r in range(n):
        for i in range(m):
            e = ix[i0 + r * m + i]
            acc = work[i, :R]
            # _lane_sum's order: 8 partial sums over the items, paired, then the rest
            L = k1 - k0
            top8 = L - L % 8
            for j in range(8):
                for s in range(R):
                    work[m + 3 + j, s] = 0.0
            for kk in range(top8):
                v = V[e, (k0 + kk) * R : (k0 + kk + 1) * R]
                part = work[m + 3 + kk % 8, :R]
                for s in range(R):
                    part[s] = f(f(part[s]) + v[s])
            p0, p1, p2, p3 = work[m + 3], work[m + 4], work[m + 5], work[m + 6]
            p4, p5, p6, p7 = work[m + 7], work[m + 8], work[m + 9], work[m + 10]
            for s in range(R):
                a01 = f(f(p0[s]) + f(p1[s]))
                a23 = f(f(p2[s]) + f(p3[s]))
                a45 = f(f(p4[s]) + f(p5[s]))
                a67 = f(f(p6[s]) + f(p7[s]))
                acc[s] = f(f(a01 + a23) + f(a45 + a67))
            for kk in range(top8, L):
                v = V[e, (k0 + kk) * R : (k0 + kk + 1) * R]
                for s in range(R):
                    acc[s] = f(f(acc[s]) + v[s])
            for s in range(R):
                acc[s] = f(f(acc[s]) / count)
        if side == FIXED_CONST:
            for i in range(m):
                for s in range(R):
                    work[i, s] = fx[f0]
        elif side == NONNEG:
            for i in range(m):
                for s in range(R):
                    work[i, s] = _maximum(work[i, s], 0.0)
        elif side == BOX:
            for i in range(m):
                for s in range(R):
                    work[i, s] = _minimum(_maximum(work[i, s], fx[f0]), fx[f0 + 1])
        elif side == SPARSE_NONNEG:
            for s in range(R):
                _sparse_nonneg(work[:m, s], m, int(fx[f0]))
        elif side == SPHERE or side == NONNEG_SPHERE:
            # _sphere per start, as selects over the starts (SIMD): the largest entry's
            # value kept beside its index (no gather), the scale taken once per start
            nonneg = side == NONNEG_SPHERE
            radius = fx[f0]
            for s in range(R):
                top[s] = 0.0
                best[s] = 0.0
                bestv[s] = work[0, s]
            for i in range(m):
                row = work[i, :R]
                for s in range(R):
                    v = row[s]
                    better = v > bestv[s]
                    best[s] = i if better else best[s]
                    bestv[s] = v if better else bestv[s]
                    a = _maximum(v, 0.0) if nonneg else abs(v)
                    top[s] = _maximum(top[s], a)
            for s in range(R):
                total[s] = 0.0
            for i in range(m):
                row = work[i, :R]
                for s in range(R):
                    v = _maximum(row[s], 0.0) if nonneg else row[s]
                    v = v / top[s] if top[s] > 0.0 else v
                    row[s] = v
                    total[s] += v * v
            for s in range(R):
                bestv[s] = radius / math.sqrt(total[s]) if top[s] > 0.0 else 0.0
            for i in range(m):
                row = work[i, :R]
                for s in range(R):
                    corner = best[s] if nonneg else 0.0
                    away = radius if i == corner else 0.0
                    row[s] = row[s] * bestv[s] if top[s] > 0.0 else away
        for i in range(m):
            e = ix[i0 + r * m + i]
            for k in range(k0, k1):
                d = V[e, k * R : (k + 1) * R]
                for s in range(R):
                    d[s] = f(work[i, s])


@_jit
def _activation(op, V, data, ix, fx, work):
    """The activation constraint (eq. 26c with Lemma 4.1) on an affine piece set: the
    nearest point (z', x') to (y - b, mean of x over the node's m edges) in the metric
    (gz, gx), ties to the first piece (lwlc/sets/activation.py activation_projection,
    lwlc/sets/piecewise.py affine_piece_candidate), then y and b moved with z
    (activation_yb_update, eq. 27-28). With x fixed (SIDE FIXED_DATA: input rows[n]
    after b's in IX; FIXED_CONST: the value after the pieces in FX), the nearest z' with
    f(z') = x (activation_fixed_projection). IX: x rows[n m], y rows[n], b rows[n] (-1:
    none); FX: gy[n], gb[n], gx, P, P x (lo, hi, a, c). Pieces outer, lanes inner."""
    k0, k1, i0, n, m, f0, side = op[K0], op[K1], op[I0], op[N], op[M], op[F0], op[SIDE]
    f = V.dtype.type
    L = k1 - k0
    near = f(1.0) - f(_EPS16) * f(np.finfo(V.dtype).eps)
    gx = f(fx[f0 + 2 * n])
    pieces = int(fx[f0 + 2 * n + 1])
    p0 = f0 + 2 * n + 2
    x, z, best_t, best_x, best_d = (
        work[0, :L],
        work[1, :L],
        work[2, :L],
        work[3, :L],
        work[4, :L],
    )
    for r in range(n):
        if side == FIXED_DATA:
            xd = data[ix[i0 + n * m + 2 * n + r], k0:k1]
            for k in range(L):
                x[k] = f(xd[k])
        elif side == FIXED_CONST:
            for k in range(L):
                x[k] = f(fx[p0 + 4 * pieces])
        else:
            _node_mean(V, ix, i0 + r * m, m, k0, k1, x)
        yr = ix[i0 + n * m + r]
        br = ix[i0 + n * m + n + r]
        gy = f(fx[f0 + r])
        gb = f(fx[f0 + n + r])
        y = V[yr, k0:k1]
        b = V[max(br, 0), k0:k1]
        gz = gy * gb / (gy + gb) if br >= 0 else gy
        for k in range(L):
            z[k] = y[k] - b[k] if br >= 0 else y[k]
        if side != NONE:
            _fixed_pieces(fx, p0, pieces, x, z, best_t, best_x, best_d, work[5, :L])
        for p in range(pieces if side == NONE else 0):
            lo, hi = f(fx[p0 + 4 * p]), f(fx[p0 + 4 * p + 1])
            a, c = f(fx[p0 + 4 * p + 2]), f(fx[p0 + 4 * p + 3])
            flat = a == 0.0
            inv = f(1.0) / (gz + gx * (a * a))  # (a product per lane, not a division)
            for k in range(L):
                zk = z[k]
                t = (gz * zk + gx * a * (x[k] - c)) * inv
                t = _minimum(_maximum(zk if flat else t, lo), hi)
                xt = a * t + c
                d = gz * (t - zk) ** 2 + gx * (xt - x[k]) ** 2
                take = (p == 0) | (d < best_d[k] * near)
                best_t[k] = t if take else best_t[k]
                best_x[k] = xt if take else best_x[k]
                best_d[k] = d if take else best_d[k]
        if br >= 0:
            total = gy + gb
            for k in range(L):
                dz = best_t[k] - z[k]
                y[k] = y[k] + dz * (gb / total)
                b[k] = b[k] - dz * (gy / total)
        else:
            for k in range(L):
                y[k] = best_t[k]
        for i in range(m):
            d = V[ix[i0 + r * m + i], k0:k1]
            for k in range(L):
                d[k] = best_x[k]


@_jit
def _margin(op, V, labels, ix, fx):
    """The class constraint in mode plain (eq. 26d-e; lwlc/sets/margin.py): z = y - b of
    the own class up to at least the margin, the others down to at most 0, every item
    whose z is not NaN; y and b moved with z (eq. 27-28). IX: y rows[C], b rows[C]
    (-1: none), the label row, then the mode (MarginMode), count and allowed label; FX:
    margin, gy[C], gb[C]."""
    k0, k1, i0, n, f0 = op[K0], op[K1], op[I0], op[N], op[F0]
    f = V.dtype.type
    margin = f(fx[f0])
    lab = labels[ix[i0 + 2 * n], k0:k1]
    for k in range(k1 - k0):
        own = lab[k]
        dist = f(0.0)
        for c in range(n):
            yr, br = ix[i0 + c], ix[i0 + n + c]
            z = V[yr, k0 + k] - V[br, k0 + k] if br >= 0 else V[yr, k0 + k]
            short = _maximum(margin - z, f(0.0))
            over = _maximum(z, f(0.0))
            dist += f(0.5) * (short * short if c == own else over * over)
        active = dist >= 0.0  # False where z is NaN
        _margin_move(V, ix, fx, i0, n, f0, k0 + k, own, active)


@_inline
def _margin_move(V, ix, fx, i0, n, f0, col, own, on):
    """One item's (lane col's) move onto the margin as class `own` (if `on`): z = y - b
    of class own up to at least the margin, the others down to at most 0, y and b moved
    with z in their metric (eq. 27-28)."""
    f = V.dtype.type
    margin = f(fx[f0])
    for c in range(n):
        yr, br = ix[i0 + c], ix[i0 + n + c]
        y = V[yr, col]
        b = V[br, col] if br >= 0 else f(0.0)
        z = y - b if br >= 0 else y
        if not on:
            znew = z
        elif c == own:
            znew = _maximum(z, margin)
        else:
            znew = _minimum(z, f(0.0))
        if br >= 0:
            gy, gb = f(fx[f0 + 1 + c]), f(fx[f0 + 1 + n + c])
            total = gy + gb
            V[yr, col] = y + (znew - z) * (gb / total)
            V[br, col] = b - (znew - z) * (gy / total)
        else:
            V[yr, col] = znew


@_jit
def _descending_ranks(key, R, ranks):
    """ranks[j]: the rank of key[j] among the lanes of its start (j mod R), largest
    first, ties by lower lane, NaN last (lwlc/sets/_common.py _descending_ranks)."""
    L = key.shape[0]
    for s in range(R):
        idx = np.arange(s, L, R)
        neg = np.empty(idx.shape[0])
        for i in range(idx.shape[0]):
            v = -key[idx[i]]
            neg[i] = np.inf if v != v else v
        order = np.argsort(neg, kind="mergesort")
        for i in range(order.shape[0]):
            ranks[idx[order[i]]] = i


@_jit
def _margin_ranked(op, V, labels, ix, fx):
    """The class constraint in a mode that ranks the items (lwlc/sets/margin.py): exempt
    (eq. 32: the `count` items that would move the most stay), relabel (eq. 33: the
    `count` items of largest excess d(own) - min d go to their nearest label) or allow
    (Sect. 6.2: up to `count` items the allowed label is nearer by the most go to it),
    by the distances in the metric of z (class_distances, class_own_distance; float64),
    ranked among the items of each start; then as _margin. IX as _margin's, then the
    mode, count and allowed label."""
    k0, k1, i0, n, f0 = op[K0], op[K1], op[I0], op[N], op[F0]
    R = op[STARTS]
    mode, count, allow = ix[i0 + 2 * n + 1], ix[i0 + 2 * n + 2], ix[i0 + 2 * n + 3]
    margin = fx[f0]
    lab = labels[ix[i0 + 2 * n], k0:k1]
    L = k1 - k0
    weight = np.empty(n)
    for c in range(n):
        gy, gb = fx[f0 + 1 + c], fx[f0 + 1 + n + c]
        weight[c] = gy * gb / (gy + gb) if ix[i0 + n + c] >= 0 else gy
    z = np.empty(n)
    dist = np.empty(n)
    key = np.empty(L)
    target = np.empty(L, np.int64)
    cand = np.empty(L, np.bool_)
    active = np.empty(L, np.bool_)
    for k in range(L):
        own = lab[k]
        for c in range(n):
            yr, br = ix[i0 + c], ix[i0 + n + c]
            zc = V[yr, k0 + k] - V[br, k0 + k] if br >= 0 else V[yr, k0 + k]
            z[c] = float(zc)
        if mode == EXEMPT:
            d = 0.0
            for c in range(n):
                short = _maximum(margin - z[c], 0.0)
                over = _maximum(z[c], 0.0)
                d += weight[c] * (short * short if c == own else over * over)
            key[k] = d
            target[k] = own
            cand[k] = False
            active[k] = True
            continue
        total = 0.0
        for c in range(n):
            over = _maximum(z[c], 0.0)
            total += weight[c] * (over * over)
        best = 0
        for c in range(n):
            over = _maximum(z[c], 0.0)
            short = _maximum(margin - z[c], 0.0)
            dist[c] = _maximum(total - weight[c] * (over * over), 0.0) + weight[c] * (
                short * short
            )
            best = c if dist[c] < dist[best] else best
        mine = dist[own]
        if mode == RELABEL:
            gain = mine - dist[best]
            target[k] = best
        else:
            gain = mine - dist[allow]
            target[k] = allow
        cand[k] = gain > 0.0 and (mode == RELABEL or own != allow)
        key[k] = gain if cand[k] else -np.inf
        active[k] = mine >= 0.0
    ranks = np.empty(L, np.int64)
    _descending_ranks(key, R, ranks)
    for k in range(L):
        own = lab[k]
        if mode == EXEMPT:
            on = ranks[k] >= count
        else:
            on = active[k]
            own = target[k] if cand[k] and ranks[k] < count else own
        _margin_move(V, ix, fx, i0, n, f0, k0 + k, own, on)


@_jit
def _roots_start(
    p, q, S, D, yv, g2, omega, t, lo, hi, pc, sc, dc, yc, near, up, done, prev
):
    """The mirrored root problem of eq. 53 and its bracket, per lane (lwlc/sets/
    bilinear.py bilinear_solve's set-up), in the lanes' dtype; g2 holds 1/g on entry,
    omega^2/g on return. The iteration starts from the lane's previous multiplier u
    (prev; NaN: none), mirrored and clipped into the bracket, else from the bracket's
    lower end as bilinear_solve does."""
    f = p.dtype.type
    zero, half = f(0.0), f(0.5)
    a_min = f(np.finfo(p.dtype).tiny ** (1.0 / 3.0))  # keeps alpha^3 a normal number
    om = f(omega)
    for j in range(p.shape[0]):
        Sj = _maximum(S[j], zero)
        Dj = _maximum(D[j], zero)
        wy = om * yv[j]
        g = om * om * g2[j]
        upward = p[j] <= wy
        pcj = p[j] if upward else -p[j]
        scj = Sj if upward else Dj
        dcj = Dj if upward else Sj
        ycj = wy if upward else -wy
        nr = scj - dcj / f(9.0) - ycj + half * g < zero  # h0(1/2) < 0: root in (1/2, 1)
        num = dcj + f(4.0) * ycj
        ratio = scj / (num if num > zero else f(1.0))
        a_lo = math.sqrt(_minimum(_maximum(ratio, a_min * a_min), f(0.25)))
        a_lo = _maximum(a_lo if num > zero else a_min, a_min)
        pc[j], sc[j], dc[j], yc[j], g2[j] = pcj, scj, dcj, ycj, g
        lo[j] = a_lo if nr else zero
        mag = prev[j] if upward else -prev[j]
        warm = _minimum(_maximum(f(1.0) - mag if nr else mag, lo[j]), half)
        t[j] = lo[j] if prev[j] != prev[j] else warm
        hi[j] = half
        near[j] = 1 if nr else 0
        up[j] = 1 if upward else 0
        done[j] = 0


@_jit
def _newton_rest(t, lo, hi, near, done, pc, q, sc, dc, yc, g2, budget):
    """The roots still running, one by one, each until it stops or has taken `budget`
    more steps: what more SIMD sweeps (lwlc/runtime/fused.py _newton_lanes) would do to
    them (each root's steps depend on it alone), without sweeping the roots that are
    done."""
    for j in range(t.shape[0]):
        if done[j] != 0:
            continue
        tj, loj, hij = t[j], lo[j], hi[j]
        for _ in range(budget):
            tj, loj, hij, stop = _newton_step(
                tj, loj, hij, near[j] != 0, pc[j], q[j], sc[j], dc[j], yc[j], g2[j]
            )
            if stop:
                done[j] = 1
                break
        t[j], lo[j], hi[j] = tj, loj, hij


@_inline
def _add_sums(p, q, S, D, k, rx, rw):
    """Lane k's terms of eq. 53's sums, x and w in metric-scaled coordinates."""
    s = rx + rw
    d = rx - rw
    p[k] += rx * rw
    q[k] += rx * rx + rw * rw
    S[k] += s * s
    D[k] += d * d


@_jit
def _bilinear_roots(wide, flags, n, L, fx, f0, U):
    """The bilinear op's roots (eq. 54) from its sums in wide (rows 0-5), each node's
    new y in wide's row 4, the update's coefficients (rows 13-15) and each lane's
    multiplier in U [n, L] (one function for the op with and without the update, which
    numba compiles apart)."""
    f = wide.dtype.type
    total = n * L
    omega = fx[f0 + n]
    p, q, S, D = wide[0, :total], wide[1, :total], wide[2, :total], wide[3, :total]
    yv, g2, t, lo, hi = (
        wide[4, :total],
        wide[5, :total],
        wide[6, :total],
        wide[7, :total],
        wide[8, :total],
    )
    pc, sc, dc, yc = (
        wide[9, :total],
        wide[10, :total],
        wide[11, :total],
        wide[12, :total],
    )
    cs, cd, pole_at = wide[13, :total], wide[14, :total], wide[15, :total]
    prev = wide[16, :total]
    near, up, done = flags[0, :total], flags[1, :total], flags[2, :total]
    _roots_start(
        p, q, S, D, yv, g2, omega, t, lo, hi, pc, sc, dc, yc, near, up, done, prev
    )
    for sweep in range(32):  # (32 steps at most, as bilinear_solve)
        running = _newton_lanes(total, t, lo, hi, near, done, pc, q, sc, dc, yc, g2)
        if running == 0:
            break
        if 8 * running < total:  # a few stragglers: no more sweeps over every root
            _newton_rest(t, lo, hi, near, done, pc, q, sc, dc, yc, g2, 31 - sweep)
            break
    one, two, half = f(1.0), f(2.0), f(0.5)
    floor = f(2.0 * np.finfo(wide.dtype).tiny ** (1.0 / 3.0))  # bilinear_pole's
    omf = f(omega)
    for r in range(n):
        ginv = f(fx[f0 + r])
        a, z = r * L, (r + 1) * L  # (views from lane 0: see the rules above)
        tr, lr, nr_, upr, yr = t[a:z], lo[a:z], near[a:z], up[a:z], yv[a:z]
        csr, cdr, poler, pv = cs[a:z], cd[a:z], pole_at[a:z], prev[a:z]
        for k in range(L):
            tj, nr, upward = tr[k], nr_[k] != 0, upr[k] != 0
            u = one - tj if nr else tj  # (u, 1 - u, 1 + u to full relative precision)
            below = tj if nr else one - tj
            above = two - tj if nr else one + tj
            u = u if upward else -u
            pv[k] = u
            one_minus = below if upward else above
            one_plus = above if upward else below
            yr[k] = yr[k] - u * omf * ginv
            csr[k] = half / one_minus
            cdr[k] = half / one_plus
            poler[k] = 1.0 if (one_plus <= floor) | (one_minus <= floor) else 0.0
            tr[k], lr[k] = one_minus, one_plus
        ur = U[r]
        for k in range(L):
            ur[k] = pv[k]


@_jit
def _bilinear(op, V, data, ix, fx, wide, flags, U, upd):
    """The bilinear constraint x . w = omega y of each node's m edges and item (eq. 19,
    51-54; lwlc/sets/bilinear.py bilinear_projection): the row sums of eq. 53, the roots
    by the safeguarded Newton iteration of lwlc/runtime/fused.py (float64, the group's
    rows and items side by side in SIMD lanes, each stopping at its own step), the pole
    rows' coefficients, the update in place. IX: x rows[n m], w rows[n m], y rows[n]
    (SIDE 1: input rows, y fixed); FX: 1/g of y per node, omega, sqrt of x's and w's
    metric (metric-scaled coordinates). wide [17, n K] and flags [3, n K]: scratch.
    U [n, K]: each root's multiplier u at the last step, where the next step's Newton
    iteration starts (NaN: the bracket's end); the steps of RRR move it little, and it
    then stops after one or two Newton steps instead of three to five. Where upd is
    _step's update (not None: numba compiles the two cases apart), the op reads its
    rows' reflection 2 A - S from A and S instead of V and updates them in place
    (_update_row's arithmetic), V left alone."""
    k0, k1, i0, n, m, f0, ydata = op[K0], op[K1], op[I0], op[N], op[M], op[F0], op[SIDE]
    f = V.dtype.type
    L = k1 - k0
    total = n * L
    omega, sx, sw = fx[f0 + n], fx[f0 + n + 1], fx[f0 + n + 2]
    sxf, swf = f(sx), f(sw)
    unit = sx == 1.0 and sw == 1.0
    p, q, S, D = wide[0, :total], wide[1, :total], wide[2, :total], wide[3, :total]
    yv, g2, prev = wide[4, :total], wide[5, :total], wide[16, :total]
    cs, cd, pole_at = wide[13, :total], wide[14, :total], wide[15, :total]
    xr = i0
    wr = i0 + n * m
    two = f(2.0)
    for r in range(n):
        pr, qr, Sr, Dr = (
            p[r * L : (r + 1) * L],
            q[r * L : (r + 1) * L],
            S[r * L : (r + 1) * L],
            D[r * L : (r + 1) * L],
        )
        for k in range(L):
            pr[k] = qr[k] = Sr[k] = Dr[k] = 0.0
        for i in range(m):
            ex, ew = ix[xr + r * m + i], ix[wr + r * m + i]
            if upd is not None:
                A, S_ = upd[0], upd[1]
                xa, wa, xs, ws = (
                    A[ex, k0:k1],
                    A[ew, k0:k1],
                    S_[ex, k0:k1],
                    S_[ew, k0:k1],
                )
                for k in range(L):
                    rx = sxf * (two * xa[k] - xs[k])
                    rw = swf * (two * wa[k] - ws[k])
                    _add_sums(pr, qr, Sr, Dr, k, rx, rw)
                continue
            xs, ws = V[ex, k0:k1], V[ew, k0:k1]
            for k in range(L):
                _add_sums(pr, qr, Sr, Dr, k, sxf * xs[k], swf * ws[k])
        yrow = ix[i0 + 2 * n * m + r]
        yr, gr = yv[r * L : (r + 1) * L], g2[r * L : (r + 1) * L]
        ginv = fx[f0 + r]
        if ydata == 1:
            yd = data[yrow, k0:k1]
            for k in range(L):
                yr[k] = yd[k]
        elif upd is not None:
            ya, ys = upd[0][yrow, k0:k1], upd[1][yrow, k0:k1]
            for k in range(L):
                yr[k] = two * ya[k] - ys[k]
        else:
            ys = V[yrow, k0:k1]
            for k in range(L):
                yr[k] = ys[k]
        ur, pv = U[r, k0:k1], prev[r * L : (r + 1) * L]
        for k in range(L):
            gr[k] = ginv
            pv[k] = ur[k]
    _bilinear_roots(wide, flags, n, L, fx, f0, U[:, k0:k1])
    for r in range(n):
        yr = yv[r * L : (r + 1) * L]
        yrow = ix[i0 + 2 * n * m + r]
        if upd is not None:
            if ydata != 1:
                A, S_, err, metric, live, _, b, every, _ = upd
                _update_row(yr, A[yrow], S_[yrow], err, f(metric[yrow]), b, live, every)
        elif ydata != 1:
            ynew = V[yrow, k0:k1]
            for k in range(L):
                ynew[k] = yr[k]
    for r in range(n):
        a, z = r * L, (r + 1) * L
        csr, cdr, poler = cs[a:z], cd[a:z], pole_at[a:z]
        at_pole = False
        for k in range(L):
            at_pole |= poler[k] != 0.0
        if at_pole:
            if upd is not None:  # the reflection into V, then the update from V
                _reflect_rows(V, upd[0], upd[1], ix, xr + r * m, wr + r * m, m)
            _bilinear_pole_row(
                V, ix, xr + r * m, wr + r * m, m, sx, sw, omega, r * L, k0, k1, wide
            )
            if upd is not None:
                A, S_, err, metric, live, _, b, every, _ = upd
                for i in range(2 * m):
                    e = ix[xr + r * m + i] if i < m else ix[wr + r * m + i - m]
                    _update_row(V[e], A[e], S_[e], err, f(metric[e]), b, live, every)
            continue
        for i in range(m):
            ex, ew = ix[xr + r * m + i], ix[wr + r * m + i]
            if upd is not None:
                A, S_, err, metric, live, _, b, every, _ = upd
                _bilinear_update_rows(
                    A[ex],
                    A[ew],
                    S_[ex],
                    S_[ew],
                    csr,
                    cdr,
                    sxf,
                    swf,
                    unit,
                    err,
                    f(metric[ex]),
                    f(metric[ew]),
                    b,
                    live,
                    every,
                )
                continue
            xs, ws = V[ex, k0:k1], V[ew, k0:k1]
            for k in range(L):
                xs[k], ws[k] = _pair(xs[k], ws[k], csr[k], cdr[k], sxf, swf, unit)


@_jit
def _reflect_rows(V, A, S, ix, xr, wr, m):
    """V = 2 A - S on a node's x rows ix[xr:xr + m] and w rows ix[wr:wr + m]."""
    two = V.dtype.type(2.0)
    for i in range(2 * m):
        e = ix[xr + i] if i < m else ix[wr + i - m]
        v, a, s = V[e], A[e], S[e]
        for k in range(v.shape[0]):
            v[k] = two * a[k] - s[k]


@_inline
def _pair(x, w, cs, cd, sx, sw, unit):
    """An (x, w) pair projected by its node's coefficients (eq. 19a-b with s = x + w,
    d = x - w in metric-scaled coordinates; cs, cd: 1 / (2 (1 -+ u)))."""
    if unit:
        s = (x + w) * cs
        d = (x - w) * cd
        return s + d, s - d
    rx = sx * x
    rw = sw * w
    s = (rx + rw) * cs
    d = (rx - rw) * cd
    return (s + d) / sx, (s - d) / sw


@_inline
def _bilinear_update_rows(
    xa, wa, xs, ws, cs, cd, sx, sw, unit, err, gx, gw, b, live, every
):
    """One edge's x and w rows of a fused bilinear op (every lane): the projection of
    the reflection (2 A - S) by the node's coefficients cs, cd (the loop of _bilinear),
    then _update_row's update of both rows."""
    two = xa.dtype.type(2.0)
    for k in range(xa.shape[0]):
        px, pw = _pair(
            two * xa[k] - xs[k], two * wa[k] - ws[k], cs[k], cd[k], sx, sw, unit
        )
        dx = px - xa[k]
        dw = pw - wa[k]
        err[k] += gx * (dx * dx)
        err[k] += gw * (dw * dw)
        on = every or live[k] != 0
        nx = xs[k] + b * dx if on else xs[k]
        nw = ws[k] + b * dw if on else ws[k]
        xs[k] = nx
        ws[k] = nw
        xa[k] = nx
        wa[k] = nw


@_jit
def _bilinear_pole_row(V, ix, xr, wr, m, sx, sw, omega, j0, k0, k1, wide):
    """A node's update where some item's root sits at a pole (lwlc/sets/bilinear.py
    bilinear_pole): per item, x' = csx s + cdx d + cx, w' = csw s - cdw d + cw. Rare:
    plainly written, in float64."""
    S, D, yv, one_minus, one_plus = wide[2], wide[3], wide[4], wide[6], wide[7]
    for k in range(k1 - k0):
        j = j0 + k
        csx, csw, cdx, cdw, cx, cw = pole(
            S[j], D[j], omega * yv[j], one_minus[j], one_plus[j], m
        )
        for i in range(m):
            ex, ew = ix[xr + i], ix[wr + i]
            rx = sx * float(V[ex, k0 + k])
            rw = sw * float(V[ew, k0 + k])
            s = rx + rw
            d = rx - rw
            V[ex, k0 + k] = (s * csx + d * cdx + cx) / sx
            V[ew, k0 + k] = (s * csw - d * cdw + cw) / sw


@_jit
def _project(
    ops, first, last, V, data, labels, ix, fx, scratch, wide, flags, vec, U, up
):
    """Ops first .. last - 1 of the program (one constraint set), in place on V; U: the
    bilinear ops' last multipliers, their rows in the order of the ops. up: the step's
    update (A, S, err, metric, live, own_op, beta, every, fused), for the bilinear ops
    that read the reflection from A and S and update their own rows (where `fused` is
    on and own_op flags the op)."""
    at = 0
    for o in range(first):
        at += ops[o, N] if ops[o, CODE] == BILINEAR else 0
    for o in range(first, last):
        op = ops[o]
        code = op[CODE]
        if code == CONSENSUS_EDGES:
            _consensus_edges(op, V, data, ix, fx, scratch[0])
        elif code == CONSENSUS_ITEMS and op[STARTS] > 1:
            _consensus_items_starts(op, V, ix, fx, vec)
        elif code == CONSENSUS_ITEMS:
            _consensus_items(op, V, ix, fx, vec[:, 0])
        elif code == ACTIVATION:
            _activation(op, V, data, ix, fx, scratch)
        elif code == MARGIN and ix[op[I0] + 2 * op[N] + 1] != PLAIN:
            _margin_ranked(op, V, labels, ix, fx)
        elif code == MARGIN:
            _margin(op, V, labels, ix, fx)
        elif code == BILINEAR:
            fused, own_op = up[8], up[5]
            if fused and own_op[o] != 0:
                _bilinear(op, V, data, ix, fx, wide, flags, U[at : at + op[N]], up)
            else:
                _bilinear(op, V, data, ix, fx, wide, flags, U[at : at + op[N]], None)
            at += op[N]


@_jit
def _owned_rows(ops, n_a, ix, rows, lanes, itemsize, starts):
    """The bilinear ops of set B that update their own rows in RRR's step (own_op: 1),
    and those rows (own: 1), which the reflection and update passes then leave alone:
    ops over every lane whose x, w and y rows (IX's first 2 n m + n entries; n without
    y's data rows) no other such op also holds, where one start's part of a row (lanes
    / starts) holds at least 256 bytes (majority 13-26-2 in float32: at 4 to 32 items
    5-10 % slower a step that way, at 64 as fast, at 128 and 256 items 7 and 28 %
    faster). Per start, not per row: the op's update sums RRR_err in another order than
    the passes, and a start's RRR_err is then the same bits whatever starts share its
    lanes."""
    own = np.zeros(rows, np.int8)
    own_op = np.zeros(ops.shape[0], np.int8)
    if (lanes // starts) * itemsize < 256:
        return own, own_op
    claims = np.zeros(rows, np.int64)
    count = np.zeros(ops.shape[0], np.int64)  # an op's x, w (and y) rows in IX
    for o in range(n_a, ops.shape[0]):
        op = ops[o]
        if op[CODE] == BILINEAR and op[K0] == 0 and op[K1] == lanes:
            count[o] = 2 * op[N] * op[M] + (op[N] if op[SIDE] != 1 else 0)
            own_op[o] = 1
            for e in ix[op[I0] : op[I0] + count[o]]:
                claims[e] += 1
    for o in range(n_a, ops.shape[0]):
        if own_op[o] != 0:
            rows_o = ix[ops[o, I0] : ops[o, I0] + count[o]]
            own_op[o] = 1 if np.all(claims[rows_o] == 1) else 0
            for e in rows_o:
                own[e] = own_op[o]
    return own, own_op


@_jit
def _workspace(S, ops, n_a, ix, widest, U, lam, R):
    """The step's arrays: A, R, and with lam (not NaN) T (as S), the ops' scratch,
    RRR_err per lane, the lanes that run (1) or are frozen (0), U (the bilinear roots'
    last multipliers), whether A holds S (the last step's update wrote both), and the
    rows and ops of _owned_rows (R: the starts side by side in the lanes)."""
    rows, K = S.shape
    lanes = K
    starts = 1
    for o in range(ops.shape[0]):
        if ops[o, CODE] == BILINEAR:
            lanes = max(lanes, ops[o, N] * (ops[o, K1] - ops[o, K0]))
        starts = max(starts, ops[o, STARTS])
    return (
        np.empty_like(S),
        np.empty_like(S),
        np.empty_like(S) if lam == lam else np.empty((0, K), S.dtype),
        np.empty((6, K), S.dtype),
        np.empty((17, lanes), S.dtype),
        np.empty((3, lanes), np.int8),
        np.empty((max(widest, 1) + 12, starts)),
        np.empty(K, S.dtype),
        np.ones(K, np.int8),
        U,
        np.zeros(1, np.int8),
    ) + _owned_rows(ops, n_a, ix, rows, K, S.itemsize, R)


@_jit
def _step(S, data, labels, tables, work, beta, every):
    """One RRR step (eq. 45) in place on S; with `ap` one of alternating projections
    (S = P_B(P_A(S)); beta 0 keeps S, as lwlc/runtime/rrr.py); with lam (not NaN) one
    of RRR with λ (eq. 47): S += beta (P_B((1 + λ) P_A(S) - λ S) - P_A((1 - λ) P_B(S)
    + λ S)). RRR_err's sum per lane (of the difference) into work's err. Unless `every`
    lane runs, lanes whose `live` flag is 0 keep their values exactly. tables: the
    program's (Kernel.tables)."""
    metric, ops, n_a, ix, fx, _, _, ap, lam = tables
    A, R, T, scratch, wide, flags, vec, err, live, U, held, own, own_op = work
    rows, K = S.shape
    n = ops.shape[0]
    f = S.dtype.type
    b = f(beta)
    two = f(2.0)
    err[:] = 0.0
    # RRR's step: the bilinear ops of _owned_rows read their rows' reflection from A
    # and S and update them (one pass over them instead of three)
    fused = not ap and lam != lam
    up = (A, S, err, metric, live, own_op, b, every, fused)
    off = (A, S, err, metric, live, own_op, b, every, False)
    if held[0] == 0:  # (a loop: numba's A[:] = S took 3x as long)
        for e in range(rows):
            for k in range(K):
                A[e, k] = S[e, k]
    _project(ops, 0, n_a, A, data, labels, ix, fx, scratch, wide, flags, vec, U, off)
    if lam == lam and not ap:  # (A then takes P_A((1 - λ) P_B(S) + λ S))
        up_, down, lf = f(1.0 + lam), f(1.0 - lam), f(lam)
        for e in range(rows):
            for k in range(K):
                T[e, k] = S[e, k]
        _project(
            ops, n_a, n, T, data, labels, ix, fx, scratch, wide, flags, vec, U, off
        )
        for e in range(rows):
            for k in range(K):
                R[e, k] = up_ * A[e, k] - lf * S[e, k]
        _project(
            ops, n_a, n, R, data, labels, ix, fx, scratch, wide, flags, vec, U, off
        )
        for e in range(rows):
            for k in range(K):
                A[e, k] = down * T[e, k] + lf * S[e, k]
        _project(
            ops, 0, n_a, A, data, labels, ix, fx, scratch, wide, flags, vec, U, off
        )
    else:
        # the reflection 2 P_A(S) - S (alternating projections: P_A)
        for e in range(rows):
            if fused and own[e] != 0:
                continue
            for k in range(K):
                R[e, k] = A[e, k] if ap else two * A[e, k] - S[e, k]
        _project(ops, n_a, n, R, data, labels, ix, fx, scratch, wide, flags, vec, U, up)
    # S += beta (P_B - P_A), and A = S for the next step's P_A (one pass instead of a
    # copy there); RRR_err's sum per lane, in a fixed order (the same bits from a fresh
    # compile and from numba's cache), then over the lanes
    held[0] = 1
    if ap:
        keep = beta == 0.0
        for e in range(rows):
            g = S.dtype.type(metric[e])
            for k in range(K):
                d = R[e, k] - A[e, k]
                err[k] += g * (d * d)
                new = S[e, k] if keep or live[k] == 0 else R[e, k]
                S[e, k] = new
                A[e, k] = new
        return
    for e in range(rows):
        if fused and own[e] != 0:
            continue
        _update_row(R[e], A[e], S[e], err, f(metric[e]), b, live, every)


@_inline
def _update_row(P, A, S, err, g, b, live, every):
    """RRR's update of one row (eq. 45) from its P_B value P: d = P - A, RRR_err += g
    d^2 per lane, S += b d (lanes whose live flag is 0 unless `every` lane runs: S
    kept), A = S."""
    if every:
        for k in range(S.shape[0]):
            d = P[k] - A[k]
            err[k] += g * (d * d)
            new = S[k] + b * d
            S[k] = new
            A[k] = new
    else:
        for k in range(S.shape[0]):
            d = P[k] - A[k]
            err[k] += g * (d * d)
            new = S[k] + b * d if live[k] != 0 else S[k]
            S[k] = new
            A[k] = new


@_jit
def run(S, data, labels, tables, roots, iterations, tolerance, beta):
    """Iterate RRR (eq. 45; with `ap`, alternating projections; with lam not NaN, RRR
    with λ, eq. 47) on the lane state S [rows, K] in place until RRR_err < tolerance or
    `iterations` steps. tables: the program's (metric, ops, n_a, ix, fx, widest, norm,
    ap, lam; Kernel.tables): ops[:n_a] project onto set A, ops[n_a:] onto set B; widest:
    the longest vector a consensus over items projects. roots: the bilinear roots'
    multipliers from step to step (no_roots: none yet). Returns (steps, first error,
    last error)."""
    _, ops, _, _, _, widest, norm, _, lam = tables
    work = _workspace(S, ops, tables[2], tables[3], widest, roots, lam, 1)
    err = work[7]
    first = last = np.inf
    steps = 0
    mxcsr = _subnormals_off()
    while steps < iterations and not last < tolerance:
        _step(S, data, labels, tables, work, beta, True)
        total = 0.0
        for k in range(S.shape[1]):
            total += float(err[k])
        last = math.sqrt(total / norm)
        if steps == 0:
            first = last
        steps += 1
    _restore(mxcsr)
    return steps, first, last


@_jit
def run_starts(
    S, data, labels, tables, roots, starts, its, last, cap, tolerance, beta, chunk
):
    """Up to `chunk` RRR steps of `starts` independent starts side by side in S's
    lanes, items major (starts_program). A start runs while its iterations (its) are
    below `cap` and its RRR_err (last) is at least `tolerance`, and is frozen exactly
    once it stops; its, last and roots are updated in place. Returns the steps taken
    (0: no start was running)."""
    _, ops, _, _, _, widest, norm, _, lam = tables
    work = _workspace(S, ops, tables[2], tables[3], widest, roots, lam, starts)
    err, live = work[7], work[8]
    K = S.shape[1] // starts  # lane k R + r: item k of start r
    steps = 0
    mxcsr = _subnormals_off()
    for _ in range(chunk):
        running = 0
        for r in range(starts):
            on = its[r] < cap and last[r] >= tolerance
            running += 1 if on else 0
            for k in range(K):
                live[k * starts + r] = 1 if on else 0
        if running == 0:
            break
        every = running == starts
        _step(S, data, labels, tables, work, beta, every)
        for r in range(starts):
            if live[r] != 0:
                total = 0.0
                for k in range(K):
                    total += float(err[k * starts + r])
                last[r] = math.sqrt(total / norm)
                its[r] += 1
        steps += 1
    _restore(mxcsr)
    return steps


# --- between the solver's state (a dict of [K, size] arrays) and the lane layout ------


def no_roots(ops: np.ndarray, lanes: int, dtype) -> np.ndarray:
    """run's roots before a first step: a row of NaN per bilinear node and lane."""
    n = int(sum(op[N] for op in ops if op[CODE] == BILINEAR))
    return np.full((n, lanes), np.nan, dtype=dtype)


def to_lanes(program: LaneProgram, state: dict, dtype) -> np.ndarray:
    """The lane state S [rows, K] of a solver state."""
    S = np.empty((program.n_rows, program.batch), dtype=dtype)
    for name, (start, size) in program.rows.items():
        S[start : start + size] = np.asarray(state[name]).T
    return S


def from_lanes(program: LaneProgram, S: np.ndarray) -> dict:
    """A solver state (NumPy arrays [K, size]) from the lane state."""
    return {
        name: np.ascontiguousarray(S[start : start + size].T)
        for name, (start, size) in program.rows.items()
    }


def data_lanes(program: LaneProgram, data: dict) -> tuple[np.ndarray, np.ndarray]:
    """The inputs as rows [columns, lanes] (float64, NaN outside an input's part) and
    the labels as rows [labels, lanes] (int64, -1 outside); for a starts_program each
    item's data on the lanes of its starts (lane k R + s: item k)."""
    R = program.starts
    D = np.full(
        (max(sum(c for _, _, c in program.inputs.values()), 1), program.batch), np.nan
    )
    L = np.full((max(len(program.labels), 1), program.batch), -1, dtype=np.int64)
    for name, (row, lane, cols) in program.inputs.items():
        a = np.repeat(np.asarray(data[name], dtype=np.float64).T, R, axis=1)
        D[row : row + cols, lane * R : lane * R + a.shape[1]] = a
    for name, (row, lane, _) in program.labels.items():
        a = np.repeat(np.asarray(data[name]).astype(np.int64), R)
        L[row, lane * R : lane * R + a.shape[0]] = a
    return D, L


@contextlib.contextmanager
def _compile_note(what: str, dtype, after: float = 3.0):
    """A note on stderr where the kernel's first call for a dtype takes more than
    `after` seconds: numba's cache missed and it compiles (once per dtype after an
    install or update of lwlc), a wait a user should not take for a hang."""
    note = (
        f"lwlc: note: numba is compiling the lane kernel's {what} for "
        f"{np.dtype(dtype).name} (once after an install or update of lwlc; "
        "about a minute; later runs load it from numba's cache)"
    )
    timer = threading.Timer(after, lambda: print(note, file=sys.stderr, flush=True))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class Kernel:
    """A program's packed tables, for one dtype, with the kernel compiled for it."""

    def __init__(self, program: LaneProgram, dtype):
        self.program = program
        self.dtype = np.dtype(dtype)
        ops, n_a, ix, fx, widest = pack(program)
        self.ops = ops
        metric = np.concatenate(program.metric) if program.metric else np.zeros(0)
        lam = np.nan if program.lam is None else float(program.lam)
        # what run and run_starts read of the program, in their order
        self.tables = (
            metric,
            ops,
            n_a,
            ix,
            fx,
            widest,
            program.norm,
            program.method == "ap",
            lam,
        )
        self._last = None  # (S, D, L, roots) where the last solve ended
        # the first call compiles (or loads from numba's cache) the kernel for the dtype
        S = np.zeros((program.n_rows, program.batch), self.dtype)
        labels = np.zeros((1, 1), np.int64)
        with _compile_note("loop", self.dtype):
            run(S, np.zeros((1, 1)), labels, self.tables, self._no_roots(), 0, 0.0, 1.0)

    def _no_roots(self) -> np.ndarray:
        return no_roots(self.ops, self.program.batch, self.dtype)

    def solve(
        self, state: dict, data: dict, iterations: int, tolerance: float, beta: float
    ) -> tuple[dict, int, float, float]:
        """Iterate RRR on one batch. Returns (state as NumPy arrays, steps, first error,
        last error), as the emitted solve_batch does; the arrays are views [K, size] of
        the call's own lane state (from_lanes without its copy: run_lanes' jnp.asarray
        copies them once). A call that goes on from the state and data the last call
        ended with (a one-batch run in chunks) goes on with its roots too, so the chunks
        are bit for bit the run in one call."""
        S = to_lanes(self.program, state, self.dtype)
        D, L = data_lanes(self.program, data)
        roots = self._roots_from(S, D, L)
        steps, first, last = run(
            S, D, L, self.tables, roots, int(iterations), float(tolerance), float(beta)
        )
        self._last = (S.copy(), D, L, roots)
        views = {name: S[a : a + n].T for name, (a, n) in self.program.rows.items()}
        return views, int(steps), float(first), float(last)

    def _roots_from(self, S, D, L) -> np.ndarray:
        """The roots the last call ended with where S, D and L are where it ended, else
        none."""
        last = self._last
        if (
            last is not None
            and np.array_equal(S[0], last[0][0])  # (a new batch's state: seen at once)
            and np.array_equal(S, last[0])
            and np.array_equal(D, last[1], equal_nan=True)
            and np.array_equal(L, last[2])
        ):
            return last[3]
        return self._no_roots()


class Starts:
    """Independent starts of a program's model side by side in the lanes, items major
    (`lwlc train --restarts` under JAX, where the model has a lane program; lane k R + s
    holds item k of start s): each start's values are bit for bit those of the start
    alone in `Kernel.solve`. The starts are split into `threads` groups of consecutive
    starts, each its own lane state, advanced side by side in threads (the kernel
    releases the GIL). A start that has stopped is frozen in its lanes; once at most
    half of the starts in the lanes still run, those are packed into new groups (their
    state and roots moved as they are) and the stopped ones leave, so that a long tail
    of a few starts no longer pays for every lane. A start's values do not depend on
    which starts share its lanes: they are the same bits in any split."""

    def __init__(
        self,
        program: LaneProgram,
        states: list[dict],
        data: dict,
        dtype,
        threads: int = 1,
    ):
        self.one, self.data, self.dtype = program, data, np.dtype(dtype)
        R = len(states)
        self.threads = max(1, min(int(threads), R))
        self.its = np.zeros(R, dtype=np.int64)
        self.last = np.full(R, np.inf)
        self.ended: dict[int, dict] = {}  # the states of starts packed out of the lanes
        columns = [(to_lanes(program, st, dtype), None) for st in states]
        self._pack(np.arange(R), columns)
        self.kernel = self.groups[0].kernel
        with _compile_note("loop of starts", self.kernel.dtype):
            self.advance(0, 0.0, 1.0, 0)  # (compiles, or loads from numba's cache)

    @property
    def packed(self) -> int:
        """How many starts the lanes hold (running or frozen)."""
        return sum(g.R for g in self.groups)

    def _pack(self, starts: np.ndarray, columns: list) -> None:
        """New groups for `starts` (indices into its and last), one per thread, from
        each start's (S [rows, K], roots [n, K] or None)."""
        n = max(1, min(self.threads, len(starts)))
        cuts = [len(starts) * g // n for g in range(n + 1)]
        self.groups = [
            _StartGroup(self, starts[a:b], columns[a:b])
            for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        ]

    def advance(self, cap: int, tolerance: float, beta: float, chunk: int) -> int:
        """Up to `chunk` steps of the starts still running (each group in its own thread
        where there are several); returns the most steps a group took. A Ctrl-C waits
        for the threads to end their chunk, so that the starts are left whole."""
        args = (int(cap), float(tolerance), float(beta), int(chunk))
        if len(self.groups) == 1:
            steps = self.groups[0].advance(*args)
        else:
            from concurrent.futures import ThreadPoolExecutor, wait

            with ThreadPoolExecutor(len(self.groups)) as pool:
                done = [pool.submit(g.advance, *args) for g in self.groups]
                try:
                    steps = max(f.result() for f in done)
                except KeyboardInterrupt:
                    wait(done)
                    self._gather()
                    raise
        self._gather()
        running = (self.its < cap) & (self.last >= tolerance)
        held = np.concatenate([g.starts for g in self.groups])
        if 0 < 2 * int(running[held].sum()) <= len(held) and len(held) > 1:
            self._repack(held, running)
        return steps

    def _gather(self) -> None:
        for g in self.groups:
            self.its[g.starts], self.last[g.starts] = g.its, g.last

    def _repack(self, held: np.ndarray, running: np.ndarray) -> None:
        """The running starts into new groups; the stopped ones' states kept aside."""
        keep, columns = [], []
        for g in self.groups:
            for j, r in enumerate(g.starts):
                if running[r]:
                    keep.append(r)
                    columns.append(g.column(j))
                else:
                    self.ended[int(r)] = from_lanes(self.one, g.column(j)[0])
        self._pack(np.asarray(keep, dtype=np.int64), columns)

    def state(self, r: int) -> dict:
        """Start r's state (NumPy arrays [K, size])."""
        if r in self.ended:
            return self.ended[r]
        for g in self.groups:
            at = np.flatnonzero(g.starts == r)
            if at.size:
                return from_lanes(self.one, g.column(int(at[0]))[0])
        raise IndexError(r)


class _StartGroup:
    """Some starts of a Starts (`starts`: their indices there) as one lane state, with
    their own its and last (Starts._gather copies them back)."""

    def __init__(self, owner: Starts, starts: np.ndarray, columns: list):
        one = owner.one
        self.starts, self.R = starts, len(starts)
        self.program = starts_program(one, self.R)
        self.kernel = Kernel(self.program, owner.dtype)
        self.S = np.ascontiguousarray(
            np.stack([S for S, _ in columns], axis=2).reshape(one.n_rows, -1)
        )
        self.D, self.L = data_lanes(self.program, owner.data)
        self.its, self.last = owner.its[starts], owner.last[starts]
        self.roots = self.kernel._no_roots()
        self.K = one.batch
        for j, (_, U) in enumerate(columns):
            if U is not None:
                self.roots.reshape(-1, self.K, self.R)[:, :, j] = U

    def column(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Start j's lane state [rows, K] and roots [n, K] (copies)."""
        S = self.S.reshape(-1, self.K, self.R)[:, :, j].copy()
        U = self.roots.reshape(self.roots.shape[0], self.K, self.R)[:, :, j].copy()
        return S, U

    def advance(self, cap: int, tolerance: float, beta: float, chunk: int) -> int:
        return int(
            run_starts(
                self.S,
                self.D,
                self.L,
                self.kernel.tables,
                self.roots,
                self.R,
                self.its,
                self.last,
                cap,
                tolerance,
                beta,
                chunk,
            )
        )


_PREPARED: dict = {}


def prepared(table: dict, metric: dict, batch: int, dtype) -> Kernel:
    """The kernel of an emitted solver's LANE_PROGRAM (kept per table and dtype)."""
    key = (id(table), np.dtype(dtype).str)
    held = _PREPARED.get(key)
    if held is None or held[0] is not table:
        held = _PREPARED[key] = (
            table,
            Kernel(program_from(table, metric, batch), dtype),
        )
    return held[1]


def solve(
    program: LaneProgram,
    state: dict,
    data: dict,
    iterations: int,
    tolerance: float,
    beta: float,
    dtype=np.float64,
) -> tuple[dict, int, float, float]:
    """Iterate RRR on one batch with the lane kernel (tests and benchmarks)."""
    return Kernel(program, dtype).solve(state, data, iterations, tolerance, beta)
