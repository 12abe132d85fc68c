"""Per-iteration time of the JAX and NumPy backends on the same model, same batch, same run.

    .venv/bin/python bench/backends.py models/majority.lwl models/mnist_exempt.lwl

For each model: one batch from its data, the same initial state for every backend, then
`--iterations` RRR steps timed (JAX: after a warm-up call that compiles; compile time shown
separately). Prints ms per iteration, WM/s and the JAX/NumPy speed-up.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--data", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    overrides = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    print(f"{'model':<16} {'backend':<14} {'K':>5} {'|E|':>6} {'ms/iter':>10} {'WM/s':>10} "
          f"{'compile s':>9} {'speed-up':>8}")
    for model in args.models:
        ref = compile_model(model, overrides, "numpy")
        m = ref.model
        solver = load_solver(ref.source)
        bound = bind(ref, args.data or m.data["train"], "train")
        idx = np.random.default_rng(0).choice(len(bound), data_part(m).size, replace=False)
        data = batch_data(ref, bound, idx, own_inputs(ref))
        state0 = solver.init(solver.initial_params(np.random.default_rng(1)), data)
        K, E = m.batch.size, ref.plan.n_edges
        base = None
        for backend, dtype in (("numpy", "float64"), ("jax", "float64"), ("jax", "float32")):
            s = solver if backend == "numpy" else load_solver(
                compile_model(model, overrides, backend, dtype).source)
            st = {k: np.array(v) for k, v in state0.items()}
            st, *_ = s.solve_batch(st, data, iterations=1, tolerance=0.0)  # warm-up / compile
            compile_s = getattr(s, "LAST_COMPILE_SECONDS", 0.0)
            t = time.perf_counter()
            st, steps, _, _ = s.solve_batch(st, data, iterations=args.iterations, tolerance=0.0)
            if backend == "jax":
                import jax

                jax.block_until_ready(st)
            ms = 1e3 * (time.perf_counter() - t) / steps
            base = base or ms
            print(f"{m.name:<16} {backend + ' ' + dtype:<14} {K:>5} {E:>6} {ms:>10.2f} "
                  f"{K * E / (ms / 1e3):>10.3e} {compile_s:>9.2f} {base / ms:>7.1f}x", flush=True)


if __name__ == "__main__":
    main()
