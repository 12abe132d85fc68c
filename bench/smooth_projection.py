"""The smooth-curve projection (lwlc/sets/smooth.py) on a few curves: its time per call and
how many random points it misses against a dense grid, side by side.

    .venv/bin/python bench/smooth_projection.py                 # 20000 points, 15 calls
    .venv/bin/python bench/smooth_projection.py --points 5000 --calls 5 --check 500

Prints one row per curve: its marks, the jitted JAX float64 call's median wall and CPU time
(the machine is shared: CPU time beside wall), and of `--check` random points (z, x in
[-4, 4], gz and gx in [0.1, 3]) how many the projection left more than 1e-7 (relative)
above the least energy on 10^6 even points of [-10, 10]. Figures for the record, no
thresholds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20000, help="points per timed call")
    parser.add_argument("--calls", type=int, default=15, help="timed calls (median)")
    parser.add_argument("--check", type=int, default=1000, help="points checked on a grid")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp
    import sympy

    jax.config.update("jax_enable_x64", True)
    from lwlc.backends.curves import curve_functions, curve_marks

    from lwlc.sets.smooth import smooth_projection

    z = sympy.Symbol("z", real=True)
    curves = [sympy.tanh(z), sympy.tanh(40 * z), 1 / (1 + sympy.exp(-100 * z)),
              2 * sympy.exp(-z**2) - 1, z**3, sympy.sin(5 * z), sympy.sin(20 * z)]
    print(f"{'curve':24s} {'marks':>5s} {'wall ms':>8s} {'cpu ms':>8s} {'missed':>12s}")
    grid = np.linspace(-10.0, 10.0, 1_000_001)
    for expr in curves:
        piece = ("curve", -math.inf, math.inf, *curve_functions(expr), curve_marks(expr))
        rng = np.random.default_rng(0)
        zz, xx = rng.normal(size=args.points), rng.normal(size=args.points)
        g = np.ones(args.points)
        call = jax.jit(lambda a, b, c, d, p=piece: smooth_projection(jnp, a, b, c, d, (p,)))
        jax.block_until_ready(call(zz, xx, g, g))
        walls, cpus = [], []
        for _ in range(args.calls):
            w, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(call(zz, xx, g, g))
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        n = args.check
        zs, xs = rng.uniform(-4, 4, n), rng.uniform(-4, 4, n)
        gz, gx = rng.uniform(0.1, 3, n), rng.uniform(0.1, 3, n)
        f = piece[3]
        with np.errstate(all="ignore"):
            t = np.asarray(call(zs, xs, gz, gx)[0])
            got = gz * (t - zs) ** 2 + gx * (f(np, t) - xs) ** 2
            fg = f(np, grid)
            best = np.array([np.min(a * (grid - zi) ** 2 + b * (fg - xi) ** 2)
                             for zi, xi, a, b in zip(zs, xs, gz, gx, strict=True)])
        missed = int(np.sum(got > best + 1e-7 * (1 + best)))
        print(f"{str(expr):24s} {len(piece[6]):5d} {np.median(walls) * 1e3:8.1f} "
              f"{np.median(cpus) * 1e3:8.1f} {f'{missed} of {n}':>12s}")


if __name__ == "__main__":
    main()
