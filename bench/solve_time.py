"""Time of one compiled `solve_batch` per RRR iteration (best and median of --repeats, with CPU
time), for one model, backend and precision, and the seconds its compile took (lwlc's, the warm
start's, the loop's): the quick before/after check of an emitter change (run it on both
versions, back to back, under the same load).

    .venv/bin/python bench/solve_time.py models/mnist_exempt.lwl --backend jax --dtype float32 \
        --iterations 5
    LWLC_XLA_CACHE=off .venv/bin/python bench/solve_time.py models/majority.lwl \
        --dtype float32 --iterations 200 --repeats 5 --steps-per-pass 2

The batch is the first K items of the model's training data; the state starts from the forward
pass of seed-0 weights and two warm-up iterations (which also compile).
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
from lwlc.driver import batch_data, bind  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--backend", default="jax", choices=["numpy", "jax"])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps-per-pass", type=int, choices=[1, 2],
                    help="JAX: RRR steps per pass of the compiled loop (default: the "
                    "solver's choice by the state's size, steps_per_pass)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    compiled = compile_model(args.model, {}, args.backend, args.dtype)
    solver = load_solver(compiled.source)
    t_lwlc = time.perf_counter() - t0
    if args.steps_per_pass is not None and args.backend == "jax":
        solver.STEPS_PER_PASS = 2
        solver.ONE_STEP_BYTES = 0 if args.steps_per_pass == 2 else float("inf")
    bound = bind(compiled, compiled.model.data["train"], "train")
    data = batch_data(compiled, bound, np.arange(compiled.model.batch.size), {})
    t0 = time.perf_counter()
    state = solver.init(solver.initial_params(np.random.default_rng(0)), data)
    t_init = time.perf_counter() - t0
    state, *_ = solver.solve_batch(state, data, iterations=2, tolerance=0.0)
    t_loop = getattr(solver, "LAST_COMPILE_SECONDS", 0.0)
    walls, cpus = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        state, *_ = solver.solve_batch(state, data, iterations=args.iterations, tolerance=0.0)
        walls.append((time.perf_counter() - t0) / args.iterations)
        cpus.append((time.process_time() - c0) / args.iterations)
    best, median = min(walls), float(np.median(walls))
    wm = compiled.model.batch.size * compiled.plan.n_edges
    print(f"{Path(args.model).stem} {args.backend} {args.dtype}: {best * 1e3:.3f} ms per "
          f"iteration (best of {args.repeats} x {args.iterations}; median {median * 1e3:.3f}, "
          f"CPU {np.median(cpus) * 1e3:.3f}), {wm / best:.3g} WM/s; compile: lwlc "
          f"{t_lwlc:.2f} s, warm start {t_init:.2f} s, loop {t_loop:.2f} s"
          + (f"; steps per pass: {solver.steps_per_pass(state)}" if args.backend == "jax"
             else ""))


if __name__ == "__main__":
    main()
