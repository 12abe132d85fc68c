"""XLA's compile time on the CPU against the number of operations it compiles, and a model's
RRR step: its fusions, HLO lines, tracing and compile seconds, side by side.

    .venv/bin/python bench/compile_time.py                       # the sweep, and majority
    .venv/bin/python bench/compile_time.py tests/models/odd_names_cycles.lwl --sweep 0

The sweep jits a tuple of N independent terms `z * a + max(z * b, axis=-1)` on a [128, 26]
array (two fusions each) and compiles it with lwlc's compiler options. Each model's float64
`rrr_step` is jitted alone (as `lwlc test` checks it) from the NumPy solver's first state and
compiled without the XLA cache. Figures for the record, no thresholds (docs/performance.md,
"Compile time").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LWLC_XLA_CACHE", "off")  # measure compiles, not cache reads


def sweep(counts: list[int]) -> None:
    import jax
    import jax.numpy as jnp

    from lwlc.runtime.jax_loop import COMPILER_OPTIONS

    z = jnp.zeros((128, 26), jnp.float32)
    for n in counts:
        def terms(z, n=n):
            return tuple(z * (1.0 + i) + jnp.max(z * (2.0 + i), axis=-1, keepdims=True)
                         for i in range(n))

        lowered = jax.jit(terms, compiler_options=COMPILER_OPTIONS).lower(z)
        t0 = time.perf_counter()
        text = lowered.compile().as_text()
        dt = time.perf_counter() - t0
        fusions = text.count(" fusion(")
        print(f"{n:4d} terms: {fusions:4d} fusions, compile {dt:6.2f} s, "
              f"{1e3 * dt / max(fusions, 1):5.1f} ms per fusion")


def model_step(path: str) -> None:
    import jax

    from lwlc.compiler import compile_model, load_solver
    from lwlc.driver import batch_data, bind, data_part, own_inputs

    compiled = compile_model(path, None, "jax")
    solver = load_solver(compiled.source)
    reference = load_solver(compile_model(path, None, "numpy").source)
    bound = bind(compiled, compiled.model.data["train"], "train")
    items = np.arange(data_part(compiled.model).size) % len(bound)
    data = batch_data(compiled, bound, items, own_inputs(compiled))
    state = reference.init(reference.initial_params(np.random.default_rng(1)), data)
    t0 = time.perf_counter()
    lowered = solver.jit(solver.rrr_step).lower(state, data, 0.5)
    t1 = time.perf_counter()
    text = lowered.compile().as_text()
    t2 = time.perf_counter()
    print(f"{Path(path).name}: rrr_step float64: {text.count(' fusion('):5d} fusions, "
          f"{len(text.splitlines()):6d} HLO lines, {text.count(' while('):3d} loops; "
          f"trace and lower {t1 - t0:.2f} s, XLA compile {t2 - t1:.2f} s")
    jax.clear_caches()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=[str(ROOT / "models" / "majority.lwl")])
    parser.add_argument("--sweep", type=int, nargs="*", default=[20, 40, 80, 160],
                        help="numbers of terms of the sweep (0: none)")
    args = parser.parse_args()
    counts = [n for n in args.sweep if n > 0]
    if counts:
        sweep(counts)
    for path in args.models:
        model_step(path)


if __name__ == "__main__":
    main()
