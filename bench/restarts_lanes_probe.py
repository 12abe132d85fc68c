"""Whole RRR step of models/nmf_ledm.lwl (m=6, r=5) for R independent starts in ONE numba
kernel, the START index as the contiguous SIMD lane axis (a measurement, not part of lwlc).

State layout: X, W [NB, K=6, E=30, C] (blocked lanes: start r = b*C + c; C = R gives [1, K, E, R]);
e = j*5 + i for code i -> data j (the emitted solver's order). The kernel runs the whole step
(P_A: codes' mean and >= 0, weights' item mean and nonneg & sphere(0.6); the reflection; P_B: the
36 bilinear rows x[k, in(j)] . w[k, in(j)] = Y[k, j] with their Newton roots and poles; each
start's RRR_err; the update with general beta) for one block of C lanes before the next.
Every innermost loop runs over the C lanes (C >= 64: a 32-trip loop was fully unrolled by LLVM
before the loop vectorizer and stayed scalar).

make(dtype, C, newton=..., ablate=..., fastmath, recip, ftz, sub) -> (run, workspace)
  run(X, W, Y, beta, nsteps, errs[nsteps, NB, C], lane_its[nsteps, NB, C], *workspace)
newton: "lane"   each lane (start) iterates its 36 rows together until all of them stop (the
                 reference's rule per start; a stopped lane is frozen): a start's values do
                 not depend on the other starts. Default.
        "block"  the lanes of a block iterate together until all rows of all lanes stop (no
                 freezing: NOT independent of the other starts; checked, not for use).
        "row"    each (row, lane) stops on its own (independent, not the reference's rule).
        "fixed:N" exactly N steps (ablation).
recip:  one division per Newton step for h and h' (the majority probe's "recip"); not bitwise.
ftz:    set MXCSR FTZ|DAZ for the call (as XLA's CPU code runs); float32 runs meet denormals
        after a few hundred steps and are 2-3x slower without it.
sub:    lanes per Newton lockstep group inside a block (default C).
ablate: "newton", "update", "sums", "consensus" (timing only), "ki" (lanes-outer sums/update),
        "libmsqrt" (numba's math.sqrt, a libm call the vectorizer will not widen).
512-bit vectors: NUMBA_CPU_NAME=rocketlake NUMBA_CPU_FEATURES="<host features>,-prefer-256-bit".

    .venv/bin/python bench/restarts_lanes_probe.py   # agreement with NumPy, then a timing
"""

import math
import os
import sys
import time
from pathlib import Path

import numba
import numba.extending
import numpy as np
from lane_roots import root_rules

if os.environ.get("LEDM_RTCHECK"):
    import llvmlite.binding as _llvm

    _llvm.set_option("", "-runtime-memory-check-threshold=" + os.environ["LEDM_RTCHECK"])

ROOT = Path(__file__).resolve().parent.parent

K = 6  # items (data columns)
NC = 5  # code nodes
ND = 6  # data nodes
NE = 30
NROW = K * ND  # 36 bilinear rows per start


@numba.extending.intrinsic
def fsqrt(typingctx, x):
    """llvm.sqrt (IEEE, correctly rounded: bitwise libm's sqrt) so that the loop vectorizer
    can widen it; numba's math.sqrt is a call to libm's sqrt, which it will not."""
    sig = x(x)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.sqrt", [args[0].type])
        return builder.call(fn, args)

    return sig, codegen


@numba.extending.intrinsic
def get_mxcsr(typingctx):
    sig = numba.types.uint32()

    def codegen(context, builder, signature, args):
        import llvmlite.ir as ir

        i32 = ir.IntType(32)
        slot = builder.alloca(i32)
        fn = builder.module.declare_intrinsic(
            "llvm.x86.sse.stmxcsr",
            fnty=ir.FunctionType(ir.VoidType(), [ir.PointerType(ir.IntType(8))]),
        )
        builder.call(fn, [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])
        return builder.load(slot)

    return sig, codegen


@numba.extending.intrinsic
def set_mxcsr(typingctx, v):
    sig = numba.types.void(v)

    def codegen(context, builder, signature, args):
        import llvmlite.ir as ir

        i32 = ir.IntType(32)
        slot = builder.alloca(i32)
        builder.store(builder.trunc(args[0], i32) if args[0].type.width > 32 else args[0], slot)
        fn = builder.module.declare_intrinsic(
            "llvm.x86.sse.ldmxcsr",
            fnty=ir.FunctionType(ir.VoidType(), [ir.PointerType(ir.IntType(8))]),
        )
        builder.call(fn, [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])
        return context.get_dummy_value()

    return sig, codegen


def make(
    dtype=np.float64,
    C=256,
    newton="lane",
    ablate=(),
    fastmath=False,
    recip=False,
    ftz=False,
    sub=None,
):
    F = np.dtype(dtype).type
    fi = np.finfo(dtype)
    ZERO, ONE, TWO, THREE, FOUR, HALF, QUART = (F(v) for v in (0, 1, 2, 3, 4, 0.5, 0.25))
    SIX = F(6.0)
    OMEGA_W = F(0.6)  # sphere radius of the weights
    NORM = F(K * NE)  # error = "element": 180
    FLOOR = F(2.0 * float(fi.tiny) ** (1.0 / 3.0))
    G2 = ZERO  # omega^2 * ginv, ginv = 0 (data right-hand side)
    DIAG = F(1.0 / math.sqrt(F(NC)))
    ab = set(ablate)
    NO_NEWTON = "newton" in ab
    NO_UPDATE = "update" in ab
    NO_SUMS = "sums" in ab
    NO_CONS = "consensus" in ab
    RECIP = bool(recip)
    FTZ = bool(ftz)
    SUB = C if sub is None else sub  # lanes iterating the roots together (lane rule: exact)
    KI = "ki" in ab  # sums and update: lanes outer, the row's 5 edges inner (locals)
    SQRT = math.sqrt if "libmsqrt" in ab else fsqrt
    if newton.startswith("fixed:"):
        MODE, NFIX = 3, int(newton.split(":")[1])
    else:
        MODE, NFIX = {"lane": 0, "block": 1, "row": 2}[newton], 0
    opts = dict(
        fastmath=fastmath,
        error_model="numpy",
        boundscheck=False,
        nogil=True,
        debug=bool(os.environ.get("LEDM_DEBUG")),
    )
    jit_inline = numba.njit(inline="always", **opts)
    jit = numba.njit(**opts)

    setup, nstep, pole_coefs = root_rules(dtype, RECIP, SQRT, jit_inline, jit)

    @jit
    def block_step(Xb, Wb, Y, beta, errs_out, its_out, CODE, WA, RS, NR, RUN, ALLST, ERR):
        """One RRR step for lanes c0 .. c0+C-1, in place. Workspaces [.., C]; every innermost
        loop runs over the C lanes (constant trip count)."""
        TOP = RS[11, 0]
        SSQ = RS[12, 0]
        BV = RS[13, 0]
        BJ = RS[14, 0]
        # ---- A: codes (mean over the code's 6 out-edges, >= 0) ----
        if not NO_CONS:
            for k in range(K):
                for i in range(NC):
                    for c in range(C):
                        CODE[k, i, c] = ZERO
                    for j in range(ND):
                        for c in range(C):
                            CODE[k, i, c] += Xb[k, j * NC + i, c]
                    for c in range(C):
                        CODE[k, i, c] = max(CODE[k, i, c] / SIX, ZERO)
            # ---- A: weights (mean over items; nonneg & sphere(0.6) per code node) ----
            for e in range(NE):
                for c in range(C):
                    WA[e, c] = ZERO
                for k in range(K):
                    for c in range(C):
                        WA[e, c] += Wb[k, e, c]
                for c in range(C):
                    WA[e, c] = WA[e, c] / SIX
            for i in range(NC):
                for c in range(C):
                    TOP[c] = ZERO
                    SSQ[c] = ZERO
                    BV[c] = WA[i, c]
                    BJ[c] = ZERO
                for j in range(ND):
                    fj = F(j)
                    for c in range(C):
                        v = WA[j * NC + i, c]
                        TOP[c] = max(TOP[c], max(v, ZERO))
                        gt = v > BV[c]
                        BJ[c] = fj if gt else BJ[c]
                        BV[c] = v if gt else BV[c]
                for j in range(ND):
                    for c in range(C):
                        top = TOP[c]
                        vs = max(WA[j * NC + i, c], ZERO) / (top if top > ZERO else ONE)
                        SSQ[c] += vs * vs
                for c in range(C):
                    SSQ[c] = OMEGA_W / SQRT(SSQ[c] if TOP[c] > ZERO else ONE)
                for j in range(ND):
                    fj = F(j)
                    for c in range(C):
                        top = TOP[c]
                        pos = top > ZERO
                        vs = max(WA[j * NC + i, c], ZERO) / (top if pos else ONE)
                        WA[j * NC + i, c] = (
                            vs * SSQ[c] if pos else (OMEGA_W if BJ[c] == fj else ZERO)
                        )
        QW = RS[15, 0]
        STOPS = RS[16]
        P = RS[0]
        Q = RS[1]
        SS = RS[2]
        DD = RS[3]
        T = RS[4]
        LO = RS[5]
        HI = RS[6]
        PC = RS[7]
        SC = RS[8]
        DC = RS[9]
        YC = RS[10]
        UP = NR[0]
        NEAR = NR[1]
        # ---- B: the 36 rows' sums and set-up ----
        for k in range(K):
            for j in range(ND):
                n = k * ND + j
                y = Y[k, j]
                if KI and not NO_SUMS:
                    for c in range(C):
                        p = ZERO
                        qx = ZERO
                        qw = ZERO
                        sS = ZERO
                        dD = ZERO
                        for i in range(NC):
                            e = j * NC + i
                            rx = TWO * CODE[k, i, c] - Xb[k, e, c]
                            rw = TWO * WA[e, c] - Wb[k, e, c]
                            s = rx + rw
                            d = rx - rw
                            p += rx * rw
                            qx += rx * rx
                            qw += rw * rw
                            sS += s * s
                            dD += d * d
                        P[n, c] = p
                        Q[n, c] = qx + qw
                        SS[n, c] = sS
                        DD[n, c] = dD
                elif not NO_SUMS:
                    for c in range(C):
                        P[n, c] = ZERO
                        Q[n, c] = ZERO
                        SS[n, c] = ZERO
                        DD[n, c] = ZERO
                        QW[c] = ZERO
                    for i in range(NC):
                        e = j * NC + i
                        for c in range(C):
                            rx = TWO * CODE[k, i, c] - Xb[k, e, c]
                            rw = TWO * WA[e, c] - Wb[k, e, c]
                            s = rx + rw
                            d = rx - rw
                            P[n, c] += rx * rw
                            Q[n, c] += rx * rx
                            QW[c] += rw * rw
                            SS[n, c] += s * s
                            DD[n, c] += d * d
                    for c in range(C):
                        Q[n, c] = Q[n, c] + QW[c]
                for c in range(C):
                    up, near, pc, sc, dc, yc, lo = setup(P[n, c], SS[n, c], DD[n, c], y, G2)
                    UP[n, c] = ONE if up else ZERO
                    NEAR[n, c] = ONE if near else ZERO
                    PC[n, c] = pc
                    SC[n, c] = sc
                    DC[n, c] = dc
                    YC[n, c] = yc
                    T[n, c] = lo
                    LO[n, c] = lo
                    HI[n, c] = HALF
        # ---- B: the roots (eq. 54) ----
        for c in range(C):
            RUN[c] = ONE
            its_out[c] = 0
        if MODE == 0 and not NO_NEWTON:
            for sb in range(C // SUB):
                c1 = sb * SUB
                for _ in range(32):
                    for c in range(c1, c1 + SUB):
                        ALLST[c] = ONE
                    for n in range(NROW):
                        for c in range(c1, c1 + SUB):
                            t_n, lo_n, hi_n, stop = nstep(
                                T[n, c],
                                LO[n, c],
                                HI[n, c],
                                NEAR[n, c] != 0,
                                PC[n, c],
                                Q[n, c],
                                SC[n, c],
                                DC[n, c],
                                YC[n, c],
                                G2,
                            )
                            go = RUN[c] != ZERO
                            T[n, c] = t_n if go else T[n, c]
                            LO[n, c] = lo_n if go else LO[n, c]
                            HI[n, c] = hi_n if go else HI[n, c]
                            STOPS[n, c] = ONE if stop else ZERO
                        for c in range(c1, c1 + SUB):
                            ALLST[c] = min(ALLST[c], STOPS[n, c])
                    nrun = 0
                    for c in range(c1, c1 + SUB):
                        its_out[c] += 1 if RUN[c] != ZERO else 0
                        RUN[c] = ZERO if ALLST[c] != ZERO else RUN[c]
                        nrun += 1 if RUN[c] != ZERO else 0
                    if nrun == 0:
                        break
        elif MODE == 1 and not NO_NEWTON:
            for _ in range(32):
                nrun = 0
                for n in range(NROW):
                    for c in range(C):
                        t_n, lo_n, hi_n, stop = nstep(
                            T[n, c],
                            LO[n, c],
                            HI[n, c],
                            NEAR[n, c] != 0,
                            PC[n, c],
                            Q[n, c],
                            SC[n, c],
                            DC[n, c],
                            YC[n, c],
                            G2,
                        )
                        T[n, c] = t_n
                        LO[n, c] = lo_n
                        HI[n, c] = hi_n
                        nrun += 0 if stop else 1
                for c in range(C):
                    its_out[c] += 1
                if nrun == 0:
                    break
        elif MODE == 2 and not NO_NEWTON:
            # each (row, lane) frozen at its own stop; RUN per row in NR[2]
            RR = NR[2]
            for n in range(NROW):
                for c in range(C):
                    RR[n, c] = ONE
            for _ in range(32):
                nrun = 0
                for n in range(NROW):
                    for c in range(C):
                        t_n, lo_n, hi_n, stop = nstep(
                            T[n, c],
                            LO[n, c],
                            HI[n, c],
                            NEAR[n, c] != 0,
                            PC[n, c],
                            Q[n, c],
                            SC[n, c],
                            DC[n, c],
                            YC[n, c],
                            G2,
                        )
                        go = RR[n, c] != 0
                        T[n, c] = t_n if go else T[n, c]
                        LO[n, c] = lo_n if go else LO[n, c]
                        HI[n, c] = hi_n if go else HI[n, c]
                        r = ZERO if stop else RR[n, c]
                        RR[n, c] = r
                        nrun += 1 if r != ZERO else 0
                for c in range(C):
                    its_out[c] += 1
                if nrun == 0:
                    break
        elif MODE == 3 and not NO_NEWTON:
            for _ in range(NFIX):
                for n in range(NROW):
                    for c in range(C):
                        t_n, lo_n, hi_n, stop = nstep(
                            T[n, c],
                            LO[n, c],
                            HI[n, c],
                            NEAR[n, c] != 0,
                            PC[n, c],
                            Q[n, c],
                            SC[n, c],
                            DC[n, c],
                            YC[n, c],
                            G2,
                        )
                        T[n, c] = t_n
                        LO[n, c] = lo_n
                        HI[n, c] = hi_n
            for c in range(C):
                its_out[c] = NFIX
        # ---- unmirror, coefficients (cs -> T, cd -> LO; one_minus -> PC, one_plus -> SC) ----
        npole = 0
        for n in range(NROW):
            for c in range(C):
                t = T[n, c]
                near = NEAR[n, c] != 0
                up = UP[n, c] != 0
                om = t if near else ONE - t
                op = TWO - t if near else ONE + t
                one_minus = om if up else op
                one_plus = op if up else om
                T[n, c] = HALF / one_minus
                LO[n, c] = HALF / one_plus
                PC[n, c] = one_minus
                SC[n, c] = one_plus
                npole += 1 if ((one_plus <= FLOOR) | (one_minus <= FLOOR)) else 0
        # ---- B update, delta, error, new state ----
        for c in range(C):
            ERR[c] = ZERO
        if not NO_UPDATE:
            for k in range(K):
                for j in range(ND):
                    n = k * ND + j
                    if npole > 0:
                        here = 0
                        for c in range(C):
                            here += 1 if ((PC[n, c] <= FLOOR) | (SC[n, c] <= FLOOR)) else 0
                        if here > 0:
                            for c in range(C):
                                csx, csw, cdx, cdw, cx, cw = pole_coefs(
                                    max(SS[n, c], ZERO),
                                    max(DD[n, c], ZERO),
                                    Y[k, j],
                                    PC[n, c],
                                    SC[n, c],
                                    DIAG,
                                )
                                acc = ZERO
                                for i in range(NC):
                                    e = j * NC + i
                                    xa = CODE[k, i, c]
                                    wa = WA[e, c]
                                    rx = TWO * xa - Xb[k, e, c]
                                    rw = TWO * wa - Wb[k, e, c]
                                    s = rx + rw
                                    d = rx - rw
                                    dx = (s * csx + d * cdx + cx) - xa
                                    dw = (s * csw - d * cdw + cw) - wa
                                    acc += dx * dx + dw * dw
                                    Xb[k, e, c] = Xb[k, e, c] + beta * dx
                                    Wb[k, e, c] = Wb[k, e, c] + beta * dw
                                ERR[c] += acc
                            continue
                    if KI:
                        for c in range(C):
                            cs = T[n, c]
                            cd = LO[n, c]
                            acc = ERR[c]
                            for i in range(NC):
                                e = j * NC + i
                                xa = CODE[k, i, c]
                                wa = WA[e, c]
                                rx = TWO * xa - Xb[k, e, c]
                                rw = TWO * wa - Wb[k, e, c]
                                s = (rx + rw) * cs
                                d = (rx - rw) * cd
                                dx = (s + d) - xa
                                dw = (s - d) - wa
                                acc += dx * dx + dw * dw
                                Xb[k, e, c] = Xb[k, e, c] + beta * dx
                                Wb[k, e, c] = Wb[k, e, c] + beta * dw
                            ERR[c] = acc
                        continue
                    for i in range(NC):
                        e = j * NC + i
                        for c in range(C):
                            xa = CODE[k, i, c]
                            wa = WA[e, c]
                            rx = TWO * xa - Xb[k, e, c]
                            rw = TWO * wa - Wb[k, e, c]
                            s = (rx + rw) * T[n, c]
                            d = (rx - rw) * LO[n, c]
                            dx = (s + d) - xa
                            dw = (s - d) - wa
                            ERR[c] += dx * dx + dw * dw
                            Xb[k, e, c] = Xb[k, e, c] + beta * dx
                            Wb[k, e, c] = Wb[k, e, c] + beta * dw
        for c in range(C):
            errs_out[c] = SQRT(ERR[c] / NORM)

    @jit
    def run(X, W, Y, beta, nsteps, errs, its, CODE, WA, RS, NR, RUN, ALLST, ERR):
        """X, W [NB, K, E, C] (blocked lanes: start r = b*C + c); errs, its [nsteps, NB, C]."""
        NB = X.shape[0]
        if FTZ:  # flush denormals to zero, as XLA's CPU code does (MXCSR FTZ | DAZ)
            old = get_mxcsr()
            set_mxcsr(old | numba.uint32(0x8040))
        for st in range(nsteps):
            for b in range(NB):
                block_step(
                    X[b], W[b], Y, beta, errs[st, b], its[st, b], CODE, WA, RS, NR, RUN, ALLST, ERR
                )
        if FTZ:
            set_mxcsr(old)

    def workspace():
        return (
            np.zeros((K, NC, C), dtype),
            np.zeros((NE, C), dtype),
            np.zeros((17, NROW, C), dtype),
            np.zeros((3, NROW, C), dtype),
            np.zeros(C, dtype),
            np.zeros(C, dtype),
            np.zeros(C, dtype),
        )

    return run, workspace


# ---------------------------------------------------------------- reference, stacking


def load(dtype="float64"):
    sys.path.insert(0, str(ROOT))
    from lwlc.compiler import compile_model, load_solver
    from lwlc.driver import batch_data, bind

    compiled = compile_model(str(ROOT / "models" / "nmf_ledm.lwl"), {}, "numpy", dtype)
    solver = load_solver(compiled.source)
    bound = bind(compiled, compiled.model.data["train"], "train")
    data = batch_data(compiled, bound, np.arange(compiled.model.batch.size), {})
    return solver, data


def starts(solver, data, R, first=0):
    """lwlc's seeding (restarts.py): start r has initial_params(default_rng([first + r, 0]))."""
    return [
        solver.init(solver.initial_params(np.random.default_rng([first + r, 0])), data)
        for r in range(R)
    ]


def stack(states, dtype, C):
    """[NB, K, E, C], start r = b*C + c."""
    R = len(states)
    out = []
    for v in ("x", "w"):
        a = np.stack([s[v] for s in states], axis=-1)  # [K, E, R]
        a = a.reshape(K, NE, R // C, C).transpose(2, 0, 1, 3)
        out.append(np.ascontiguousarray(a, dtype=dtype))
    return tuple(out)


def unstack(X, W):
    NB, _, _, C = X.shape
    return [
        {
            "x": X[r // C, :, :, r % C].astype(np.float64),
            "w": W[r // C, :, :, r % C].astype(np.float64),
        }
        for r in range(NB * C)
    ]


def check(
    R=256,
    C=256,
    newton="lane",
    steps=(1, 5),
    dtype=np.float64,
    first=0,
    verbose=True,
    recip=False,
    ftz=False,
    sub=None,
    fastmath=False,
):
    solver, data = load()
    sts = starts(solver, data, R, first)
    run, workspace = make(dtype, C, newton, recip=recip, ftz=ftz, sub=sub, fastmath=fastmath)
    ws = workspace()
    X, W = stack(sts, dtype, C)
    Yd = np.ascontiguousarray(data["Y"], dtype=dtype)
    ref = [dict(s) for s in sts]
    done = 0
    out = []
    for n in steps:
        m = n - done
        ref_err = np.zeros((m, R))
        for r in range(R):
            for s in range(m):
                ref[r], e = solver.rrr_step(ref[r], data, 0.3)
                ref_err[s, r] = float(e)
        errs = np.zeros((m, R // C, C), dtype)
        its = np.zeros((m, R // C, C), np.int64)
        run(X, W, Yd, dtype(0.3), m, errs, its, *ws)
        done = n
        mine = unstack(X, W)
        dstate = max(
            float(np.max(np.abs(mine[r][v] - ref[r][v]))) for r in range(R) for v in ("x", "w")
        )
        bitwise = sum(
            all(np.array_equal(mine[r][v], ref[r][v]) for v in ("x", "w")) for r in range(R)
        )
        errs = errs.reshape(m, R)
        its = its.reshape(m, R)
        derr = float(np.max(np.abs(errs - ref_err)))
        if verbose:
            print(
                f"{np.dtype(dtype).name} C={C} sub={sub} newton={newton} recip={int(recip)} "
                f"ftz={int(ftz)} fastmath={int(fastmath)}: after {n} steps: "
                f"worst |state diff| over {R} starts {dstate:.3e}; worst |err diff| {derr:.3e}; "
                f"bitwise-equal starts {bitwise}/{R}; lane Newton its (last step) min/mean/max "
                f"{its[-1].min()}/{its[-1].mean():.2f}/{its[-1].max()}",
                flush=True,
            )
        out.append((n, dstate, derr, bitwise))
    return out


def bench(
    R=256,
    C=256,
    dtype=np.float64,
    newton="lane",
    nsteps=400,
    repeats=7,
    warm=0,
    ablate=(),
    label="",
    fastmath=False,
    recip=False,
    ftz=False,
    sub=None,
):
    """From the R starts (after `warm` f64 kernel steps), repeats x (nsteps continuing steps
    in one kernel call). Returns (best, median wall, median CPU) seconds per step."""
    solver, data = load()
    sts = starts(solver, data, R)
    X, W = stack(sts, np.float64, C)
    Yd = np.ascontiguousarray(data["Y"])
    if warm:
        run64, ws64 = make(np.float64, C, "lane")
        run64(
            X,
            W,
            Yd,
            0.3,
            warm,
            np.zeros((warm, R // C, C)),
            np.zeros((warm, R // C, C), np.int64),
            *ws64(),
        )
    X, W = X.astype(dtype), W.astype(dtype)
    Yd = Yd.astype(dtype)
    run, workspace = make(dtype, C, newton, ablate, fastmath, recip, ftz, sub)
    ws = workspace()
    errs = np.zeros((nsteps, R // C, C), dtype)
    its = np.zeros((nsteps, R // C, C), np.int64)
    run(X.copy(), W.copy(), Yd, dtype(0.3), 1, errs, its, *ws)  # compile
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run(X, W, Yd, dtype(0.3), nsteps, errs, its, *ws)
        walls.append((time.perf_counter() - t0) / nsteps)
        cpus.append((time.process_time() - c0) / nsteps)
    best, med, cpu = min(walls), float(np.median(walls)), float(np.median(cpus))
    name = (
        label
        or f"{np.dtype(dtype).name} R={R} C={C} newton={newton} ablate={','.join(ablate) or '-'}"
    )
    print(
        f"{name:60s}: step best {best * 1e6:8.1f} us med {med * 1e6:8.1f} us "
        f"CPU {cpu * 1e6:8.1f} us"
        f" | us/start-it best {best * 1e6 / R:.3f} med {med * 1e6 / R:.3f} CPU {cpu * 1e6 / R:.3f}"
        f" | lane its mean {its.mean():.2f} max {its.max()}"
        f" | final err med {np.median(errs[-1]):.2e}"
        f" min {errs[-1].min():.2e}",
        flush=True,
    )
    return best, med, cpu


if __name__ == "__main__":
    check(R=256, C=128, newton="lane", steps=(1, 5))
    check(R=256, C=128, newton="lane", steps=(1, 5), recip=True, ftz=True)
    for dt in (np.float64, np.float32):
        bench(R=256, C=128, dtype=dt, newton="lane", nsteps=400, repeats=7, recip=True, ftz=True)
