"""Where the fused edge pass pays: MNIST-shaped nets P-20-10 (mean fan-in of the bilinear
rows about P) at batch 128 and 1000, JAX float32, fused against the unfused step in the same
process, interleaved (docs/performance.md, "The fused iteration").

    .venv/bin/python bench/fused_fan_in.py [--inputs 16 32 64 128] [--batches 128 1000]

Prints ms per iteration (median of 5 calls of 50 iterations, wall and CPU) and the ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def measure(inputs: int, K: int, calls: int = 5, iterations: int = 50) -> dict:
    from lwlc.compiler import compile_model, load_solver
    from lwlc.driver import batch_data, bind, own_inputs

    c = compile_model(str(ROOT / "models" / "mnist_exempt.lwl"),
                      {"batch": K, "pixels": inputs}, "jax", "float32")
    solver = load_solver(c.source)
    bound = bind(c, f"blobs:inputs={inputs},classes=10,items={K}", "train")
    data = batch_data(c, bound, np.arange(K), own_inputs(c))
    start = solver.init(solver.initial_params(np.random.default_rng(0)), data)
    out = {"fan_in": c.plan.n_edges / sum(len(g.nodes) for lf in c.plan.in_set("B")
                                          if lf.family.kind == "bilinear" for g in lf.groups)}
    times: dict[bool, list] = {False: [], True: []}
    states = {}
    for flag in (False, True):  # compile both first
        solver.FUSED_EDGE_PASS = flag
        states[flag], *_ = solver.solve_batch(dict(start), data, iterations=2, tolerance=0.0)
    for _ in range(calls):
        for flag in (False, True):
            solver.FUSED_EDGE_PASS = flag
            t, c0 = time.perf_counter(), time.process_time()
            states[flag], n, _, _ = solver.solve_batch(states[flag], data,
                                                       iterations=iterations, tolerance=0.0)
            for v in states[flag].values():
                v.block_until_ready()
            times[flag].append(((time.perf_counter() - t) / n, (time.process_time() - c0) / n))
    for flag, key in ((False, "unfused"), (True, "fused")):
        a = np.asarray(times[flag])
        out[key] = (float(np.median(a[:, 0])), float(np.median(a[:, 1])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--batches", type=int, nargs="+", default=[128, 1000])
    args = ap.parse_args()
    print("| inputs P | mean fan-in | K | unfused ms (CPU) | fused ms (CPU) | speed-up |")
    print("|---|---|---|---|---|---|")
    for p in args.inputs:
        for K in args.batches:
            r = measure(p, K)
            (uw, uc), (fw, fc) = r["unfused"], r["fused"]
            print(f"| {p} | {r['fan_in']:.0f} | {K} | {1e3 * uw:.3f} ({1e3 * uc:.3f}) | "
                  f"{1e3 * fw:.3f} ({1e3 * fc:.3f}) | {uw / fw:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
