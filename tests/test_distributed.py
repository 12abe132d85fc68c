"""The JAX solver across processes: two processes on this machine join one run with
jax.distributed (CPU collectives over gloo), shard one batch over the devices of both, and
after a few RRR iterations hold the state a single process computes, to 1e-12 (float64).

Each worker is this file run as a script, `python tests/test_distributed.py OUTDIR`, with the
environment of the multi-host entry point in docs/jax.md ("Several hosts"): LWLC_COORDINATOR,
LWLC_NUM_PROCESSES and LWLC_PROCESS_ID, read by lwlc.runtime.jax_loop.init_distributed before
anything else touches JAX. The test skips only where jaxlib has no CPU collectives (gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "majority.lwl"
# Generated data: the model's own data file lives outside the repository.
DATA = "majority:inputs=13,depth=2,items=256,seed=1"
OVERRIDES = {"batch": 32}
STEPS = 5
PROCESSES = 2
DEVICES_PER_PROCESS = 2  # 4 devices in all: shards within a process and across them
TIMEOUT = 120  # seconds for the whole two-process run; it takes a few


def solve():
    """STEPS RRR iterations of the float64 JAX solver on one batch of DATA, from the NumPy
    reference's initial state. Returns (state as NumPy arrays, steps, first error, last
    error, devices in the mesh). Every process of a run calls this with the whole batch."""
    from lwlc.compiler import compile_model, load_solver
    from lwlc.driver import batch_data, bind, data_part, own_inputs
    from lwlc.runtime.jax_loop import gather

    reference = compile_model(MODEL, OVERRIDES, "numpy")
    solver = load_solver(compile_model(MODEL, OVERRIDES, "jax", "float64").source)
    bound = bind(reference, DATA, "train")
    idx = np.random.default_rng(0).choice(len(bound), data_part(reference.model).size,
                                          replace=False)
    data = batch_data(reference, bound, idx, own_inputs(reference))
    ref = load_solver(reference.source)
    state = ref.init(ref.initial_params(np.random.default_rng(1)), data)
    state, steps, first, last = solver.solve_batch(state, data, iterations=STEPS,
                                                   tolerance=0.0)
    return gather(state), steps, first, last, len(solver.mesh().devices.flat)


def main(out: str) -> None:
    """One process of the run (see the module doc): join it, solve, write the state to
    OUT/stateI.npz and a summary line to stdout."""
    sys.path.insert(0, str(ROOT))
    from lwlc.runtime.jax_loop import init_distributed

    processes = init_distributed(timeout=60)
    import jax

    state, steps, first, last, mesh = solve()
    np.savez(Path(out) / f"state{jax.process_index()}.npz", **state)
    print(json.dumps({"processes": processes, "process": jax.process_index(),
                      "devices": len(jax.devices()), "local": len(jax.local_devices()),
                      "mesh": mesh, "steps": steps, "first": first, "last": last}))


def _cpu_collectives() -> bool:
    """Whether this jaxlib can run collectives between CPU processes (gloo over TCP)."""
    try:
        from jax._src.lib import _jax as ext
    except ImportError:  # older jaxlib
        try:
            from jax._src.lib import xla_extension as ext
        except ImportError:
            return False
    return hasattr(ext, "make_gloo_tcp_collectives")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_processes(tmp_path: Path) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "LWLC_DEVICES")}
    env.update(JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(DEVICES_PER_PROCESS),
               LWLC_COORDINATOR=f"127.0.0.1:{_free_port()}",
               LWLC_NUM_PROCESSES=str(PROCESSES))
    procs, logs, late = [], [], ""
    try:
        for i in range(PROCESSES):
            out, err = (open(tmp_path / f"{name}{i}.txt", "w") for name in ("out", "err"))
            logs.append((out, err))
            procs.append(subprocess.Popen([sys.executable, __file__, str(tmp_path)], stdout=out,
                                          stderr=err, env={**env, "LWLC_PROCESS_ID": str(i)},
                                          cwd=str(tmp_path)))
        deadline = time.monotonic() + TIMEOUT
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        late = f" (killed: the run took over {TIMEOUT} s)"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for out, err in logs:
            out.close()
            err.close()
    results = []
    for i, p in enumerate(procs):
        err = (tmp_path / f"err{i}.txt").read_text()
        assert p.returncode == 0, f"process {i} exited with {p.returncode}{late}:\n{err[-3000:]}"
        results.append(json.loads((tmp_path / f"out{i}.txt").read_text().splitlines()[-1]))
    return results


@pytest.mark.skipif(not _cpu_collectives(), reason="this jaxlib has no CPU collectives "
                    "(gloo) for processes to reduce across")
def test_two_processes_equal_one(tmp_path):
    runs = _run_processes(tmp_path)
    assert [r["process"] for r in runs] == list(range(PROCESSES))
    for r in runs:
        assert r["processes"] == PROCESSES
        assert r["local"] == DEVICES_PER_PROCESS
        assert r["devices"] == r["mesh"] == PROCESSES * DEVICES_PER_PROCESS
    one, steps, first, last, _ = solve()
    for i, r in enumerate(runs):
        assert r["steps"] == steps == STEPS
        assert r["first"] == pytest.approx(first, rel=1e-12)
        assert r["last"] == pytest.approx(last, rel=1e-12)
        with np.load(tmp_path / f"state{i}.npz") as got:
            assert sorted(got.files) == sorted(one)
            for name in one:
                assert got[name].shape == one[name].shape, name
                np.testing.assert_allclose(got[name], one[name], rtol=1e-12, atol=1e-12,
                                           err_msg=f"process {i}: {name}")


if __name__ == "__main__":
    main(sys.argv[1])
