"""Throughput of compiled solvers: RRR iterations per second, weight-multiplies per second (WM/s,
Elser eq. 24) and the fraction of the memory-bandwidth bound reached.

    .venv/bin/python bench/throughput.py models/majority.lwl models/mnist_exempt.lwl \
        --backend numpy --backend jax --iterations 50

The bound: one RRR iteration must at least read and write every state array once, so it takes
no less than 2 × (state bytes) / (memory bandwidth); the bandwidth is measured here with a large
array copy (STREAM "copy"). Prints a table; never a timed test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lwlc.compiler import compile_model, load_solver  # noqa: E402
from lwlc.driver import batch_data, bind, data_part, own_inputs  # noqa: E402


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 5) -> float:
    """Bytes per second moved by a large array copy (read + write), best of `repeats`."""
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best


def measure(model: str, backend: str, dtype: str, iterations: int, data: str | None,
            overrides: dict) -> dict:
    c = compile_model(model, overrides, backend, dtype)
    solver = load_solver(c.source)
    m = c.model
    spec = data or m.data.get("train")
    bound = bind(c, spec, "train")
    K = m.batch.size
    per = c.plan.n_edges
    rng = np.random.default_rng(0)
    part = data_part(m)
    idx = rng.choice(len(bound), part.size, replace=len(bound) < part.size)
    batch = batch_data(c, bound, idx, own_inputs(c))
    if m.samples:
        from lwlc.driver import sample_codes

        params0 = solver.initial_params(rng)
        batch.update(sample_codes(c, solver, params0, batch, rng))
    params = solver.initial_params(rng)
    state = solver.init(params, batch)
    # warm-up (and, for jax, compilation)
    state, *_ = solver.solve_batch(state, batch, iterations=2, tolerance=0.0)
    compile_s = getattr(solver, "LAST_COMPILE_SECONDS", 0.0)
    t = time.perf_counter()
    state, steps, _, err = solver.solve_batch(state, batch, iterations=iterations, tolerance=0.0)
    if backend == "jax":
        import jax

        jax.block_until_ready(state)
    seconds = time.perf_counter() - t
    state_bytes = sum(np.asarray(v).nbytes for v in state.values())
    per_iter = seconds / steps
    return {
        "model": m.name, "backend": backend, "dtype": dtype, "K": K, "E": per,
        "iterations": steps, "ms_per_iter": 1e3 * per_iter,
        "wm_per_s": steps * K * per / seconds, "gwm": 1e-9 * steps * K * per,
        "state_mb": state_bytes / 1e6, "compile_s": compile_s, "err": err,
        "bound_s": 2 * state_bytes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--backend", action="append", choices=["numpy", "jax"])
    ap.add_argument("--dtype", action="append", choices=["float64", "float32"])
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--data", default=None, help="data spec (default: the model's)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    overrides = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    bw = copy_bandwidth()
    print(f"memory bandwidth (copy): {bw / 1e9:.1f} GB/s")
    head = (f"{'model':<18} {'backend':<6} {'dtype':<8} {'K':>5} {'|E|':>6} {'ms/iter':>9} "
            f"{'WM/s':>10} {'GWMs':>8} {'state MB':>9} {'bound %':>8} {'compile s':>9}")
    print(head)
    for model in args.models:
        for backend in args.backend or ["numpy"]:
            for dtype in args.dtype or ["float64"]:
                if backend == "numpy" and dtype == "float32":
                    continue
                r = measure(model, backend, dtype, args.iterations, args.data, overrides)
                bound = r["bound_s"] / bw / (r["ms_per_iter"] / 1e3)
                print(f"{r['model']:<18} {backend:<6} {dtype:<8} {r['K']:>5} {r['E']:>6} "
                      f"{r['ms_per_iter']:>9.3f} {r['wm_per_s']:>10.3e} {r['gwm']:>8.4f} "
                      f"{r['state_mb']:>9.2f} {100 * bound:>7.1f}% {r['compile_s']:>9.2f}")


if __name__ == "__main__":
    main()
