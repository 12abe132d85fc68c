"""Where a run's memory goes, phase by phase: resident memory after each step from parsing
the model to timed iterations, the compiled loop's own buffers (XLA's memory analysis), and
under NumPy the peak of one RRR step above its state (tracemalloc).

    .venv/bin/python bench/memory.py models/mnist_exempt.lwl --backend jax --dtype float32
    .venv/bin/python bench/memory.py models/mnist_exempt.lwl --backend numpy --batch 4000

The data are generated at the model's widths (tests/modelgen.py): memory does not depend on
the values. Resident memory is VmRSS; each phase's peak is VmHWM since the previous phase
(reset through /proc/self/clear_refs, Linux). Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _status() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process, in MB."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not Linux, or not allowed: peaks then run from the start
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--backend", default="jax", choices=["jax", "numpy"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--batch", type=int, help="replace the model's batch size")
    ap.add_argument("--iterations", type=int, default=5)
    args = ap.parse_args()
    rows: list[tuple[str, float, float]] = []

    def phase(name: str) -> None:
        rss, hwm = _status()
        rows.append((name, rss, hwm))
        _reset_peak()

    if args.backend == "numpy":  # as lwlc train does
        from lwlc.resources import reuse_freed_memory

        reuse_freed_memory()
    phase("Python, NumPy")
    path = Path(args.model)
    if args.batch:  # a copy of the model with another batch size, beside the original
        text = re.sub(r"(batch\s+\w+\[)\d+(\])", rf"\g<1>{args.batch}\g<2>", path.read_text(),
                      count=1)
        tmp = tempfile.NamedTemporaryFile("w", suffix=".lwl", dir=path.parent, delete=False)
        tmp.write(text)
        tmp.close()
        path = Path(tmp.name)
    if args.backend == "jax":
        import jax

        if args.dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        jax.numpy.zeros(1).block_until_ready()
        phase("import JAX")
    from modelgen import random_data

    from lwlc.compiler import compile_model, load_solver

    try:
        c = compile_model(str(path), {}, args.backend, args.dtype)
    finally:
        if args.batch:
            path.unlink()
    solver = load_solver(c.source)
    phase("lwlc: compile, import the solver")
    if args.backend == "jax":
        try:
            import lwlc.runtime.fused  # noqa: F401
            phase("import numba's kernels")
        except ImportError:
            pass
    runtime = _status()[0]
    xp = __import__("jax.numpy").numpy if args.backend == "jax" else np
    batch = {k: xp.asarray(v) for k, v in random_data(c.model, 0).items()}
    phase("one batch of data")
    state = solver.init(solver.initial_params(np.random.default_rng(0)), batch)
    if args.backend == "jax":
        import jax

        jax.block_until_ready(state)
    phase("initial state (JAX: with the helpers' compiles)")
    state, *_ = solver.solve_batch(state, batch, iterations=0, tolerance=0.0)
    phase("solve_batch, 0 iterations (JAX: XLA's compile of the loop)")
    t = time.perf_counter()
    state, *_ = solver.solve_batch(state, batch, iterations=args.iterations, tolerance=0.0)
    seconds = time.perf_counter() - t
    phase(f"solve_batch, {args.iterations} iterations")
    held = (sum(np.asarray(v).nbytes for v in state.values())
            + sum(np.asarray(v).nbytes for v in batch.values())) / 1e6

    print(f"{c.model.name}, {args.backend} {args.dtype}, batch {c.model.batch.size}: "
          f"state + data {held:.1f} MB; {args.iterations} iterations in {seconds:.2f} s\n")
    print("| phase | resident MB | peak in the phase MB | peak above runtime MB |")
    print("|---|---|---|---|")
    for name, rss, hwm in rows:
        print(f"| {name} | {rss:.0f} | {hwm:.0f} | {max(hwm - runtime, 0):.0f} |")
    if args.backend == "jax":
        from bench import _buffers_mb  # bench/bench.py, beside this script

        for executable in getattr(solver, "_EXECUTABLES", {}).values():
            loop = _buffers_mb(executable)
            temp = executable.memory_analysis().temp_size_in_bytes / 1e6
            print(f"\nthe compiled loop's buffers (XLA): {loop:.1f} MB = "
                  f"{loop / held:.2f} x state + data (temporaries {temp:.1f} MB)")
    else:
        import tracemalloc

        tracemalloc.start()
        tracemalloc.reset_peak()
        solver.rrr_step(state, batch, 1.0)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        state_mb = sum(np.asarray(v).nbytes for v in state.values()) / 1e6
        print(f"\none rrr_step allocates at most {peak:.0f} MB above its input state "
              f"({peak / state_mb:.2f} x the state, tracemalloc)")


if __name__ == "__main__":
    main()
