"""A hand-written whole-step kernel for models/majority.lwl: the speed a generated one can reach.

Issue 11 asks 5e8 WM/s of majority 13-26-2 at batch 128: 0.1 ms per RRR step for its 49,920
(item, edge) elements. lwlc's XLA step takes 0.37-0.7 ms on this machine. This script is a
measurement, not part of lwlc: one numba kernel, written by hand for this one model, runs the
whole step (P_A, the reflection, P_B with the bilinear roots of eq. 54 and their poles, RRR_err
and the update, eq. 22) on a state laid out items-minor (x, w as [|E|, K], y, b as [N, K]: the K
items contiguous, each item one SIMD lane). It reproduces the emitted NumPy solver's `rrr_step`
(float64: 1.7e-15 after 1 and 5 steps) and times it beside lwlc's JAX step, in one run. What
it shows is what a kernel generated from the family declarations should reach (docs/
performance.md, "Small models: where majority 13-26-2 stands").

    .venv/bin/python bench/whole_step_probe.py                 # agreement, then times
    .venv/bin/python bench/whole_step_probe.py --ablate newton # the step without the roots

Edge order (as the emitted solver): e = j*13 + i for input i -> hidden j (0..337),
e = 338 + c*26 + h for hidden h -> class c. Nodes of y, b: 0..25 hidden, 26..27 classes.

make(dtype, fastmath, newton=...) builds the kernels:
  run(X, W, Y, B, dat, lab, beta, nsteps, errs, iters, WS...) -> in place, nsteps steps
newton: "global" = the reference's rule (every row of a group iterates until all rows of
        the group stop; groups: 26x128 hidden rows, 2x128 class rows), exact;
        "neuron" = lockstep per neuron (128 lanes), update fused in the same pass;
        "fixed:N" = exactly N Newton steps for every row (ablation).
recip: one division per Newton step (not bitwise the reference's formula; 2e-15 off).
ablate: parts to skip (timing only): "newton", "wmean", "hiddenA", "update", "sums".
order "ki": items outer, edges inner (measured 1.6x slower; kept for the record).
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numba
import numpy as np
from lane_roots import root_rules

K = 128
NE = 390
NN = 28
NH = 26
ND = 13
NC = 2


def make(
    dtype=np.float64,
    fastmath=False,
    newton="global",
    recip=False,
    ablate=(),
    vector_width=None,
    order=None,
):
    F = np.dtype(dtype).type
    fi = np.finfo(dtype)
    ZERO, ONE, TWO, THREE, FOUR, HALF, QUART = (F(v) for v in (0, 1, 2, 3, 4, 0.5, 0.25))
    INV_K = F(1.0 / K)  # numpy mean: sum / K; K = 128 is a power of 2: exact either way
    OMEGA = F(2.0)
    MARGIN = F(0.1)
    NEAR16 = F(1.0 - 16.0 * float(fi.eps))  # _nearer
    FLOOR = F(2.0 * float(fi.tiny) ** (1.0 / 3.0))
    G2H = F(2.0)  # omega^2 / g on hidden (g = 2)
    G2C = F(4.0)  # on classes (g = 1)
    GINVH = F(0.5)
    GINVC = F(1.0)
    GEN = tuple(sorted(set(ablate)))
    NO_NEWTON = "newton" in GEN
    NO_WMEAN = "wmean" in GEN
    NO_HIDDEN = "hiddenA" in GEN
    NO_UPDATE = "update" in GEN
    NO_SUMS = "sums" in GEN
    if newton.startswith("fixed:"):
        NFIX = int(newton.split(":")[1])
        MODE = 2
    else:
        NFIX = 0
        MODE = {"global": 0, "neuron": 1}[newton]
    RECIP = bool(recip)
    KI = order == "ki"
    opts = dict(fastmath=fastmath, error_model="numpy", boundscheck=False, nogil=True)
    jit_inline = numba.njit(inline="always", **opts)
    jit = numba.njit(**opts)

    setup, nstep, pole_coefs = root_rules(dtype, RECIP, math.sqrt, jit_inline, jit)

    @jit
    def sphere(v, lo, hi):
        top = ZERO
        for e in range(lo, hi):
            top = max(top, abs(v[e]))
        if top > ZERO:
            s = ZERO
            for e in range(lo, hi):
                v[e] = v[e] / top
                s += v[e] * v[e]
            f = OMEGA / math.sqrt(s)
            for e in range(lo, hi):
                v[e] = v[e] * f
        else:
            for e in range(lo, hi):
                v[e] = ZERO
            v[lo] = OMEGA

    @jit_inline
    def rowsum(A, r):
        """sum over the K items of row r, 8 partial sums (vectorizable without
        fastmath)."""
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = ZERO
        for k in range(0, K, 8):
            a0 += A[r, k]
            a1 += A[r, k + 1]
            a2 += A[r, k + 2]
            a3 += A[r, k + 3]
            a4 += A[r, k + 4]
            a5 += A[r, k + 5]
            a6 += A[r, k + 6]
            a7 += A[r, k + 7]
        return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))

    @jit
    def one_step(X, W, Y, B, dat, lab, beta, wa, XH, YA, BA, pbb, RS, NR, CO, errk):
        """One RRR step in place. RS [12, 28, K]: p q S D, omega*y' t lo hi (after), pc sc dc yc;
        NR [2, 28, K] int8: up, near; CO [2, 28, K]: cs, cd. Returns (err, newton
        iterations of group 0, of group 1)."""
        # ---- A: weights consensus (mean over items, sphere per neuron) ----
        if not NO_WMEAN:
            for e in range(NE):
                wa[e] = rowsum(W, e) * INV_K
        for j in range(NH):
            sphere(wa, j * ND, (j + 1) * ND)
        for c in range(NC):
            sphere(wa, 338 + c * NH, 338 + (c + 1) * NH)
        # ---- A: hidden (relu), classes (margin) ----
        if not NO_HIDDEN:
            for j in range(NH):
                for k in range(K):
                    z = Y[j, k] - B[j, k]
                    xb = (X[338 + j, k] + X[364 + j, k]) * HALF
                    t1 = min(z, ZERO)
                    d1 = (t1 - z) ** 2 + TWO * (ZERO - xb) ** 2
                    t2 = (z + TWO * xb) / THREE
                    t2 = max(t2, ZERO)
                    d2 = (t2 - z) ** 2 + TWO * (t2 - xb) ** 2
                    take = d2 < d1 * NEAR16
                    zn = t2 if take else t1
                    XH[j, k] = t2 if take else ZERO
                    dz = zn - z
                    YA[j, k] = Y[j, k] + dz * HALF
                    BA[j, k] = B[j, k] - dz * HALF
        for k in range(K):
            z0 = Y[26, k] - B[26, k]
            z1 = Y[27, k] - B[27, k]
            lk = lab[k]
            # plain: active unless NaN (class_own_distance >= 0)
            o0 = max(z0, ZERO)
            o1 = max(z1, ZERO)
            s0 = max(MARGIN - z0, ZERO)
            s1 = max(MARGIN - z1, ZERO)
            dist = HALF * ((s0 * s0) if lk == 0 else (o0 * o0)) + HALF * (
                (s1 * s1) if lk == 1 else (o1 * o1)
            )
            act = dist >= ZERO
            n0 = (max(z0, MARGIN) if lk == 0 else min(z0, ZERO)) if act else z0
            n1 = (max(z1, MARGIN) if lk == 1 else min(z1, ZERO)) if act else z1
            d0 = n0 - z0
            d1 = n1 - z1
            YA[26, k] = Y[26, k] + d0 * HALF
            BA[26, k] = B[26, k] - d0 * HALF
            YA[27, k] = Y[27, k] + d1 * HALF
            BA[27, k] = B[27, k] - d1 * HALF
        # ---- B: bias consensus of the reflection ----
        for n in range(NN):
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = ZERO
            for k in range(0, K, 8):
                a0 += TWO * BA[n, k] - B[n, k]
                a1 += TWO * BA[n, k + 1] - B[n, k + 1]
                a2 += TWO * BA[n, k + 2] - B[n, k + 2]
                a3 += TWO * BA[n, k + 3] - B[n, k + 3]
                a4 += TWO * BA[n, k + 4] - B[n, k + 4]
                a5 += TWO * BA[n, k + 5] - B[n, k + 5]
                a6 += TWO * BA[n, k + 6] - B[n, k + 6]
                a7 += TWO * BA[n, k + 7] - B[n, k + 7]
            pbb[n] = (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) * INV_K
        for k in range(K):
            errk[k] = ZERO
        P = RS[0]
        Q = RS[1]
        SS = RS[2]
        DD = RS[3]
        YR = RS[4]
        T = RS[5]
        LO = RS[6]
        HI = RS[7]
        PC = RS[8]
        SC = RS[9]
        DC = RS[10]
        YC = RS[11]
        UP = NR[0]
        NEAR = NR[1]
        CS = CO[0]
        CD = CO[1]
        it0 = 0
        it1 = 0
        # ---- B: neuron (bilinear) ----
        for n in range(NN):
            hidden = n < NH
            g2 = G2H if hidden else G2C
            e0 = n * ND if hidden else 338 + (n - NH) * NH
            m = ND if hidden else NH
            if not NO_SUMS and KI:
                if hidden:
                    for k in range(K):
                        p = q = sS = dD = ZERO
                        for i in range(ND):
                            rx = TWO * dat[i, k] - X[e0 + i, k]
                            rw = TWO * wa[e0 + i] - W[e0 + i, k]
                            s = rx + rw
                            d = rx - rw
                            p += rx * rw
                            q += rx * rx + rw * rw
                            sS += s * s
                            dD += d * d
                        P[n, k] = p
                        Q[n, k] = q
                        SS[n, k] = sS
                        DD[n, k] = dD
                else:
                    for k in range(K):
                        p = q = sS = dD = ZERO
                        for i in range(NH):
                            rx = TWO * XH[i, k] - X[e0 + i, k]
                            rw = TWO * wa[e0 + i] - W[e0 + i, k]
                            s = rx + rw
                            d = rx - rw
                            p += rx * rw
                            q += rx * rx + rw * rw
                            sS += s * s
                            dD += d * d
                        P[n, k] = p
                        Q[n, k] = q
                        SS[n, k] = sS
                        DD[n, k] = dD
            if not NO_SUMS and not KI:
                for k in range(K):
                    P[n, k] = ZERO
                    Q[n, k] = ZERO
                    SS[n, k] = ZERO
                    DD[n, k] = ZERO
                for i in range(m):
                    e = e0 + i
                    w2 = TWO * wa[e]
                    if hidden:
                        for k in range(K):
                            rx = TWO * dat[i, k] - X[e, k]
                            rw = w2 - W[e, k]
                            s = rx + rw
                            d = rx - rw
                            P[n, k] += rx * rw
                            Q[n, k] += rx * rx + rw * rw
                            SS[n, k] += s * s
                            DD[n, k] += d * d
                    else:
                        for k in range(K):
                            rx = TWO * XH[i, k] - X[e, k]
                            rw = w2 - W[e, k]
                            s = rx + rw
                            d = rx - rw
                            P[n, k] += rx * rw
                            Q[n, k] += rx * rx + rw * rw
                            SS[n, k] += s * s
                            DD[n, k] += d * d
            for k in range(K):
                yr = TWO * YA[n, k] - Y[n, k]
                up, near, pc, sc, dc, yc, lo = setup(P[n, k], SS[n, k], DD[n, k], OMEGA * yr, g2)
                UP[n, k] = up
                NEAR[n, k] = near
                PC[n, k] = pc
                SC[n, k] = sc
                DC[n, k] = dc
                YC[n, k] = yc  # (mirrored omega*y; y itself is recomputed)
                T[n, k] = lo
                LO[n, k] = lo
                HI[n, k] = HALF
            if MODE == 1 and not NO_NEWTON:
                it = 0
                for _ in range(32):
                    it += 1
                    run = 0
                    for k in range(K):
                        t_n, lo_n, hi_n, stop = nstep(
                            T[n, k],
                            LO[n, k],
                            HI[n, k],
                            NEAR[n, k] != 0,
                            PC[n, k],
                            Q[n, k],
                            SC[n, k],
                            DC[n, k],
                            YC[n, k],
                            g2,
                        )
                        T[n, k] = t_n
                        LO[n, k] = lo_n
                        HI[n, k] = hi_n
                        run += 0 if stop else 1
                    if run == 0:
                        break
                it0 += it
        if MODE == 0 and not NO_NEWTON:
            for grp in range(2):
                r0 = 0 if grp == 0 else NH
                r1 = NH if grp == 0 else NN
                g2 = G2H if grp == 0 else G2C
                it = 0
                for _ in range(32):
                    it += 1
                    run = 0
                    for n in range(r0, r1):
                        for k in range(K):
                            t_n, lo_n, hi_n, stop = nstep(
                                T[n, k],
                                LO[n, k],
                                HI[n, k],
                                NEAR[n, k] != 0,
                                PC[n, k],
                                Q[n, k],
                                SC[n, k],
                                DC[n, k],
                                YC[n, k],
                                g2,
                            )
                            T[n, k] = t_n
                            LO[n, k] = lo_n
                            HI[n, k] = hi_n
                            run += 0 if stop else 1
                    if run == 0:
                        break
                if grp == 0:
                    it0 = it
                else:
                    it1 = it
        if MODE == 2 and not NO_NEWTON:
            for n in range(NN):
                g2 = G2H if n < NH else G2C
                for _ in range(NFIX):
                    for k in range(K):
                        t_n, lo_n, hi_n, stop = nstep(
                            T[n, k],
                            LO[n, k],
                            HI[n, k],
                            NEAR[n, k] != 0,
                            PC[n, k],
                            Q[n, k],
                            SC[n, k],
                            DC[n, k],
                            YC[n, k],
                            g2,
                        )
                        T[n, k] = t_n
                        LO[n, k] = lo_n
                        HI[n, k] = hi_n
            it0 = NFIX
            it1 = NFIX
        # ---- unmirror, y update, coefficients ----
        npole = 0
        for n in range(NN):
            ginv = GINVH if n < NH else GINVC
            gy = TWO if n < NH else ONE
            for k in range(K):
                t = T[n, k]
                near = NEAR[n, k] != 0
                up = UP[n, k] != 0
                u = ONE - t if near else t
                om = t if near else ONE - t
                op = TWO - t if near else ONE + t
                u = u if up else -u
                one_minus = om if up else op
                one_plus = op if up else om
                yr = TWO * YA[n, k] - Y[n, k]
                y_new = yr - u * OMEGA * ginv
                dy = y_new - YA[n, k]
                db = pbb[n] - BA[n, k]
                errk[k] += gy * (dy * dy + db * db)
                Y[n, k] = Y[n, k] + beta * dy
                B[n, k] = B[n, k] + beta * db
                CS[n, k] = HALF / one_minus
                CD[n, k] = HALF / one_plus
                T[n, k] = one_minus  # kept for the pole rows
                LO[n, k] = one_plus
                YR[n, k] = OMEGA * y_new
                npole += 1 if ((one_plus <= FLOOR) | (one_minus <= FLOOR)) else 0
        # ---- B update of the edges, delta, error, new state ----
        if not NO_UPDATE:
            for n in range(NN):
                hidden = n < NH
                e0 = n * ND if hidden else 338 + (n - NH) * NH
                m = ND if hidden else NH
                if npole > 0:
                    here = 0
                    for k in range(K):
                        here += 1 if ((LO[n, k] <= FLOOR) | (T[n, k] <= FLOOR)) else 0
                    if here > 0:
                        for k in range(K):
                            up = UP[n, k] != 0
                            S = max(SS[n, k], ZERO)
                            D = max(DD[n, k], ZERO)
                            csx, csw, cdx, cdw, cx, cw = pole_coefs(
                                S, D, YR[n, k], T[n, k], LO[n, k], ONE / math.sqrt(F(m))
                            )
                            for i in range(m):
                                e = e0 + i
                                xa = dat[i, k] if hidden else XH[i, k]
                                rx = TWO * xa - X[e, k]
                                rw = TWO * wa[e] - W[e, k]
                                s = rx + rw
                                d = rx - rw
                                dx = (s * csx + d * cdx + cx) - xa
                                dw = (s * csw - d * cdw + cw) - wa[e]
                                errk[k] += dx * dx + dw * dw
                                X[e, k] = X[e, k] + beta * dx
                                W[e, k] = W[e, k] + beta * dw
                        continue
                if KI:
                    if hidden:
                        for k in range(K):
                            cs = CS[n, k]
                            cd = CD[n, k]
                            acc = ZERO
                            for i in range(ND):
                                xa = dat[i, k]
                                wae = wa[e0 + i]
                                rx = TWO * xa - X[e0 + i, k]
                                rw = TWO * wae - W[e0 + i, k]
                                s = (rx + rw) * cs
                                d = (rx - rw) * cd
                                dx = (s + d) - xa
                                dw = (s - d) - wae
                                acc += dx * dx + dw * dw
                                X[e0 + i, k] = X[e0 + i, k] + beta * dx
                                W[e0 + i, k] = W[e0 + i, k] + beta * dw
                            errk[k] += acc
                    else:
                        for k in range(K):
                            cs = CS[n, k]
                            cd = CD[n, k]
                            acc = ZERO
                            for i in range(NH):
                                xa = XH[i, k]
                                wae = wa[e0 + i]
                                rx = TWO * xa - X[e0 + i, k]
                                rw = TWO * wae - W[e0 + i, k]
                                s = (rx + rw) * cs
                                d = (rx - rw) * cd
                                dx = (s + d) - xa
                                dw = (s - d) - wae
                                acc += dx * dx + dw * dw
                                X[e0 + i, k] = X[e0 + i, k] + beta * dx
                                W[e0 + i, k] = W[e0 + i, k] + beta * dw
                            errk[k] += acc
                    continue
                for i in range(m):
                    e = e0 + i
                    wae = wa[e]
                    w2 = TWO * wae
                    for k in range(K):
                        xa = dat[i, k] if hidden else XH[i, k]
                        rx = TWO * xa - X[e, k]
                        rw = w2 - W[e, k]
                        s = (rx + rw) * CS[n, k]
                        d = (rx - rw) * CD[n, k]
                        dx = (s + d) - xa
                        dw = (s - d) - wae
                        errk[k] += dx * dx + dw * dw
                        X[e, k] = X[e, k] + beta * dx
                        W[e, k] = W[e, k] + beta * dw
        tot = ZERO
        for k in range(K):
            tot += errk[k]
        return math.sqrt(tot * INV_K), it0, it1

    @jit
    def run(X, W, Y, B, dat, lab, beta, nsteps, errs, iters, wa, XH, YA, BA, pbb, RS, NR, CO, errk):
        for s in range(nsteps):
            err, i0, i1 = one_step(
                X, W, Y, B, dat, lab, beta, wa, XH, YA, BA, pbb, RS, NR, CO, errk
            )
            errs[s] = err
            iters[s, 0] = i0
            iters[s, 1] = i1

    def workspace():
        return (
            np.zeros(NE, dtype),
            np.zeros((NH, K), dtype),
            np.zeros((NN, K), dtype),
            np.zeros((NN, K), dtype),
            np.zeros(NN, dtype),
            np.zeros((12, NN, K), dtype),
            np.zeros((2, NN, K), np.int8),
            np.zeros((2, NN, K), dtype),
            np.zeros(K, dtype),
        )

    return run, workspace, one_step


def to_minor(state, data, dtype):
    X = np.ascontiguousarray(state["x"].T, dtype=dtype)
    W = np.ascontiguousarray(state["w"].T, dtype=dtype)
    Y = np.ascontiguousarray(state["y"].T, dtype=dtype)
    B = np.ascontiguousarray(state["b"].T, dtype=dtype)
    dat = np.ascontiguousarray(data["d"].T, dtype=dtype)
    lab = np.ascontiguousarray(data["c"], dtype=np.int64)
    return X, W, Y, B, dat, lab


def from_minor(X, W, Y, B):
    return {
        "x": X.T.astype(np.float64),
        "w": W.T.astype(np.float64),
        "y": Y.T.astype(np.float64),
        "b": B.T.astype(np.float64),
    }


ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "majority.lwl"
FALLBACK = "majority:inputs=13,depth=2,items=2048"  # where ../shared's files are absent


def load(backend="numpy", dtype="float64"):
    """The emitted solver, one batch of K items and the state after two warm-up steps."""
    sys.path.insert(0, str(ROOT))
    from lwlc.compiler import compile_model, load_solver
    from lwlc.driver import batch_data, bind

    compiled = compile_model(str(MODEL), {}, backend, dtype)
    solver = load_solver(compiled.source)
    try:
        bound = bind(compiled, compiled.model.data["train"], "train")
    except Exception:
        bound = bind(compiled, FALLBACK, "train")
    data = batch_data(compiled, bound, np.arange(compiled.model.batch.size), {})
    state = solver.init(solver.initial_params(np.random.default_rng(0)), data)
    state, *_ = solver.solve_batch(state, data, iterations=2, tolerance=0.0)
    return solver, data, state


def diff(a, b):
    out = {}
    for k in a:
        d = np.abs(a[k] - b[k])
        out[k] = (float(d.max()), float((d / np.maximum(np.abs(b[k]), 1.0)).max()))
    return out


def check(dtype=np.float64, fastmath=False, newton="global", recip=False, steps=(1, 5, 50)):
    solver, data, state = load()
    run, workspace, _ = make(dtype, fastmath, newton, recip)
    ws = workspace()
    X, W, Y, B, dat, lab = to_minor(state, data, dtype)
    ref = state
    done = 0
    errs_all = []
    for n in steps:
        ref_errs = []
        for _ in range(n - done):
            ref, e = solver.rrr_step(ref, data, 1.0)
            ref_errs.append(float(e))
        errs = np.zeros(n - done, dtype)
        iters = np.zeros((n - done, 2), np.int64)
        run(X, W, Y, B, dat, lab, dtype(1.0), n - done, errs, iters, *ws)
        done = n
        mine = from_minor(X, W, Y, B)
        d = diff(mine, ref)
        worst = max(max(v) for v in d.values())
        derr = max(abs(float(a) - b) for a, b in zip(errs, ref_errs, strict=True))
        print(
            f"{np.dtype(dtype).name} fm={fastmath} newton={newton} recip={recip}: after {n} steps: "
            f"max abs/rel diff {worst:.3e} ({ {k: f'{v[0]:.1e}' for k, v in d.items()} }); "
            f"err ref {ref_errs[-1]:.15g} mine {float(errs[-1]):.15g} (max |d err| {derr:.2e}); "
            f"newton iters (grp0, grp1) last: {tuple(iters[-1])}, "
            f"mean grp0 {iters[:, 0].mean():.2f}"
        )
        errs_all.append(worst)
    return errs_all


def state_at(n):
    """The f64 state after n kernel steps from the benchmark's start state."""
    if n not in _STATES:
        solver, data, state = load()
        run, workspace, _ = make(np.float64, False, "global")
        X, W, Y, B, dat, lab = to_minor(state, data, np.float64)
        if n:
            run(X, W, Y, B, dat, lab, 1.0, n, np.zeros(n), np.zeros((n, 2), np.int64), *workspace())
        _STATES[n] = (X, W, Y, B, dat, lab)
    return _STATES[n]


def bench_stationary(
    dtype=np.float64,
    fastmath=False,
    newton="global",
    recip=False,
    ablate=(),
    at=0,
    nsteps=1000,
    repeats=7,
    label=None,
):
    """beta = 0: every step computes the same thing from the same state (a fixed
    workload: the parts can be removed one by one and timed)."""
    X, W, Y, B, dat, lab = (a.astype(dtype) if a.dtype.kind == "f" else a for a in state_at(at))
    run, workspace, _ = make(dtype, fastmath, newton, recip, ablate)
    ws = workspace()
    errs = np.zeros(nsteps, dtype)
    iters = np.zeros((nsteps, 2), np.int64)
    full, _, _ = make(dtype, fastmath, newton, recip)
    full(X, W, Y, B, dat, lab, dtype(0.0), 1, errs, iters, *ws)  # the workspace's values
    run(X, W, Y, B, dat, lab, dtype(0.0), 2, errs, iters, *ws)
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run(X, W, Y, B, dat, lab, dtype(0.0), nsteps, errs, iters, *ws)
        walls.append((time.perf_counter() - t0) / nsteps)
        cpus.append((time.process_time() - c0) / nsteps)
    best, med, cpu = min(walls), float(np.median(walls)), float(np.median(cpus))
    name = (
        label
        or f"{np.dtype(dtype).name} fm={int(fastmath)} newton={newton} recip={int(recip)} "
        f"ablate={','.join(ablate) or '-'}"
    )
    print(
        f"STAT@{at:<4d} {name:60s}: best {best * 1e3:.4f} ms median {med * 1e3:.4f} ms "
        f"CPU {cpu * 1e3:.4f} ms"
        f" = {best * 1e9 / (K * NE):.2f} ns/elem; newton iters {iters[-1, 0]}/{iters[-1, 1]}",
        flush=True,
    )
    return best, med, cpu


def bench_jaxproto(
    dtype=np.float64,
    fastmath=False,
    newton="global",
    recip=False,
    iterations=200,
    repeats=5,
    label=None,
):
    """bench/solve_time.py's protocol: from the start state, repeats x iterations steps,
    continuing (one kernel call per repeat)."""
    X, W, Y, B, dat, lab = (a.astype(dtype) if a.dtype.kind == "f" else a for a in state_at(0))
    X, W, Y, B = X.copy(), W.copy(), Y.copy(), B.copy()
    run, workspace, _ = make(dtype, fastmath, newton, recip)
    ws = workspace()
    errs = np.zeros(iterations, dtype)
    iters = np.zeros((iterations, 2), np.int64)
    run(X.copy(), W.copy(), Y.copy(), B.copy(), dat, lab, dtype(1.0), 1, errs, iters, *ws)
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run(X, W, Y, B, dat, lab, dtype(1.0), iterations, errs, iters, *ws)
        walls.append((time.perf_counter() - t0) / iterations)
        cpus.append((time.process_time() - c0) / iterations)
    best, med, cpu = min(walls), float(np.median(walls)), float(np.median(cpus))
    name = label or f"{np.dtype(dtype).name} fm={int(fastmath)} newton={newton} recip={int(recip)}"
    print(
        f"KERNEL   {name:60s}: best {best * 1e3:.4f} ms median {med * 1e3:.4f} ms "
        f"CPU {cpu * 1e3:.4f} ms = {best * 1e9 / (K * NE):.2f} ns/elem; "
        f"per-repeat ms {[round(w * 1e3, 4) for w in walls]}",
        flush=True,
    )
    return best, med, cpu


_STATES = {}


def jax_step(iterations=200, repeats=5):
    """lwlc's JAX float32 step, bench/solve_time.py's protocol: (best, median, CPU) s."""
    solver, data, state = load("jax", "float32")
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        state, *_ = solver.solve_batch(state, data, iterations=iterations, tolerance=0.0)
        walls.append((time.perf_counter() - t0) / iterations)
        cpus.append((time.process_time() - c0) / iterations)
    best, med, cpu = min(walls), float(np.median(walls)), float(np.median(cpus))
    print(
        f"JAX      lwlc's XLA step, float32{'':37s}: best {best * 1e3:.4f} ms median "
        f"{med * 1e3:.4f} ms CPU {cpu * 1e3:.4f} ms = {best * 1e9 / (K * NE):.2f} ns/elem",
        flush=True,
    )
    return best, med, cpu


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--no-check", action="store_true", help="skip the agreement check")
    ap.add_argument("--ablate", nargs="*", default=[], help="parts to skip, timed at beta 0")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if not args.no_check:
        check(np.float64, False, "global")
        check(np.float64, False, "global", recip=True)
        check(np.float32, False, "global")
    if args.ablate:
        for dtype in (np.float64, np.float32):
            bench_stationary(dtype, ablate=())
            bench_stationary(dtype, ablate=tuple(args.ablate))
        return
    jax_step(repeats=args.repeats)
    for dtype in (np.float64, np.float32):
        for recip in (False, True):
            bench_jaxproto(dtype, recip=recip, repeats=args.repeats)
    jax_step(repeats=args.repeats)


if __name__ == "__main__":
    main()
