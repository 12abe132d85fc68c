"""The bilinear roots of eq. 54 for one row's scalars: the set-up, a safeguarded Newton step
with its stopping test, and the coefficients at the poles, as the set library's
`bilinear_solve`, `bilinear_newton_step`, `bilinear_newton_done` and `bilinear_pole_parts`
compute them (lwlc/sets/bilinear.py). Shared by the hand-written lane kernels of
bench/whole_step_probe.py and bench/restarts_lanes_probe.py (measurements, not part of lwlc).
"""

import numpy as np


def root_rules(dtype, recip, sqrt, jit_inline, jit):
    """(setup, nstep, pole_coefs) for `dtype`, jitted with the caller's numba options.
    recip: one division per Newton step (not bitwise the reference's formula); sqrt: the
    square root to call (math.sqrt, a libm call, or an llvm.sqrt intrinsic that vectorizes)."""
    F = np.dtype(dtype).type
    fi = np.finfo(dtype)
    ZERO, ONE, TWO, THREE, FOUR, HALF, QUART = (F(v) for v in (0, 1, 2, 3, 4, 0.5, 0.25))
    NINE = F(9.0)
    TOL16 = F(16.0 * float(fi.eps))
    A_MIN = F(float(fi.tiny) ** (1.0 / 3.0))
    A_MIN2 = F(A_MIN * A_MIN)
    FLOOR = F(2.0 * float(fi.tiny) ** (1.0 / 3.0))
    RECIP = bool(recip)

    @jit_inline
    def setup(p, S, D, wy, g2):
        """bilinear_solve's set-up for one row, wy = ω y: (up, near, pc, sc, dc, yc, lo)."""
        S = max(S, ZERO)
        D = max(D, ZERO)
        up = p <= wy
        pc = p if up else -p
        sc = S if up else D
        dc = D if up else S
        yc = wy if up else -wy
        near = sc - dc / NINE - yc + HALF * g2 < ZERO
        num = dc + FOUR * yc
        has = num > ZERO
        ratio = sc / (num if has else ONE)
        a_lo = sqrt(min(max(ratio, A_MIN2), QUART)) if has else A_MIN
        a_lo = max(a_lo, A_MIN)
        lo = a_lo if near else ZERO
        return up, near, pc, sc, dc, yc, lo

    @jit_inline
    def nstep(t, lo, hi, near, pc, q, sc, dc, yc, g2):
        """bilinear_newton_step + bilinear_newton_done (reference form, divisions)."""
        u = ONE - t if near else t
        a = t if near else ONE - t
        b = TWO - t if near else ONE + t
        u2 = u * u
        den = a * b
        if RECIP:
            iden = ONE / den
            ia = b * iden
            ib = a * iden
            i2 = iden * iden
            h_pq = (pc * (ONE + u2) + q * u) * i2 - yc + g2 * u
            dh_pq = (q * (ONE + THREE * u2) + TWO * pc * u * (THREE + u2)) * (i2 * iden) + g2
            h_sd = QUART * sc * (ia * ia) - QUART * dc * (ib * ib) - yc + g2 * u
            dh_sd = HALF * sc * (ia * ia * ia) + HALF * dc * (ib * ib * ib) + g2
        else:
            h_pq = (pc * (ONE + u2) + q * u) / (den * den) - yc + g2 * u
            dh_pq = (q * (ONE + THREE * u2) + TWO * pc * u * (THREE + u2)) / (den * den * den) + g2
            h_sd = QUART * sc / (a * a) - QUART * dc / (b * b) - yc + g2 * u
            dh_sd = HALF * sc / (a * a * a) + HALF * dc / (b * b * b) + g2
        h = h_sd if near else h_pq
        dh = dh_sd if near else dh_pq
        rise = -h if near else h
        lo_n = t if rise < ZERO else lo
        hi_n = t if rise > ZERO else hi
        pos = dh > ZERO
        t_newton = t - rise / (dh if pos else ONE)
        ok = pos & (t_newton >= lo_n) & (t_newton <= hi_n)
        geometric = (lo_n > ZERO) & (hi_n > FOUR * lo_n)
        if RECIP:
            mid = sqrt(lo_n * hi_n) if geometric else HALF * (lo_n + hi_n)
        else:
            mid = sqrt(lo_n) * sqrt(hi_n) if geometric else HALF * (lo_n + hi_n)
        t_n = t if h == ZERO else (t_newton if ok else mid)
        tol = TOL16 * (t_n if near else ONE)
        stop = (
            (abs(t_n - t) <= tol)
            | (hi_n - lo_n <= tol)
            | (t_n == lo_n)
            | ((t_n == hi_n) & (hi_n < HALF))
        )
        return t_n, lo_n, hi_n, stop

    @jit
    def pole_coefs(S, D, wy, one_minus, one_plus, diag):
        """bilinear_pole_parts for one row (reference semantics)."""
        cs = HALF / one_minus
        cd = HALF / one_plus
        at_d = one_plus <= FLOOR
        at_s = one_minus <= FLOOR
        len_d = sqrt(max(S * ((cs * cs) if at_d else ZERO) - wy, ZERO))
        len_s = sqrt(max(D * ((cd * cd) if at_s else ZERO) + wy, ZERO))
        S_pos = S > ZERO
        D_pos = D > ZERO
        rS = ONE / sqrt(S if S_pos else ONE)
        rD = ONE / sqrt(D if D_pos else ONE)
        cd_new = len_d * rD if (at_d and D_pos) else (ZERO if at_d else cd)
        fd = len_d if (at_d and not D_pos) else ZERO
        cs_new = len_s * rS if (at_s and S_pos) else (ZERO if at_s else cs)
        fs = len_s if (at_s and not S_pos) else ZERO
        csx = cs_new + (fd * rS if S_pos else ZERO)
        csw = cs_new - (fd * rS if S_pos else ZERO)
        cdx = cd_new + (fs * rD if D_pos else ZERO)
        cdw = cd_new - (fs * rD if D_pos else ZERO)
        cx = ZERO if (S_pos or D_pos) else (fs + fd) * diag
        cw = ZERO if (S_pos or D_pos) else (fs - fd) * diag
        return csx, csw, cdx, cdw, cx, cw

    return setup, nstep, pole_coefs
