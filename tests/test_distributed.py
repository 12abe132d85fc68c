"""The JAX solver across processes: two processes on this machine join one run with
jax.distributed (CPU collectives over gloo), shard one batch over the devices of both, and
after a few RRR iterations hold the state a single process computes, to 1e-12 (float64).

Each worker is this file run as a script, `python tests/test_distributed.py OUTDIR`, with the
environment of the multi-host entry point in docs/jax.md ("Several hosts"): LWLC_COORDINATOR,
LWLC_NUM_PROCESSES and LWLC_PROCESS_ID, read by lwlc.runtime.jax_loop.init_distributed before
anything else touches JAX. The test skips only where jaxlib has no CPU collectives (gloo).

`test_lwlc_train_two_processes_equal_one` runs the command line itself the same way: `lwlc
train --backend jax` as two processes (process 0 joined by --coordinator, --num-processes and
--process-id, process 1 by the LWLC_* variables), each in a directory of its own with the same
relative `--out run`, as hosts without a shared file system would. Process 0's run/params.npz
must equal a single-process run's to 1e-12 (float64), and process 1 must write and print
nothing; run again, process 0 refuses (its run directory holds a run) and process 1 stops with
it instead of waiting for it."""

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

from lwlc.rundir import meta_text

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "majority.lwl"
# Generated data: the model's own data file lives outside the repository.
DATA = "majority:inputs=13,depth=2,items=256,seed=1"
OVERRIDES = {"batch": 32}
STEPS = 5
PROCESSES = 2
DEVICES_PER_PROCESS = 2  # 4 devices in all: shards within a process and across them
TIMEOUT = 120  # seconds for the whole two-process run; it takes a few
TRAIN = ["--data", DATA, "--set", "batch=32", "--set", "epochs=2", "--set", "iterations=5",
         "--backend", "jax", "--dtype", "float64"]
TRAIN_TIMEOUT = 60  # seconds for each two-process `lwlc train`; it takes 10-15


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


def _env(**extra) -> dict:
    """The environment of a run's processes: CPU devices, DEVICES_PER_PROCESS each."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "LWLC_DEVICES") and not k.startswith("LWLC_")}
    env.update(JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(DEVICES_PER_PROCESS),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    env.update(extra)
    return env


def _spawn(commands: list[list[str]], envs: list[dict], cwds: list[Path], logs: Path,
           timeout: float) -> list[tuple[int, str, str]]:
    """Run the processes of one run together; (exit status, stdout, stderr) of each. All are
    killed if the run takes over `timeout` seconds (their status is then negative)."""
    procs, files, late = [], [], ""
    try:
        for i, (cmd, env, cwd) in enumerate(zip(commands, envs, cwds, strict=True)):
            out, err = (open(logs / f"{name}{i}.txt", "w") for name in ("out", "err"))
            files.append((out, err))
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=str(cwd)))
        deadline = time.monotonic() + timeout
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        late = f"\n(killed: the run took over {timeout} s)"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for out, err in files:
            out.close()
            err.close()
    return [(p.returncode, (logs / f"out{i}.txt").read_text(),
             (logs / f"err{i}.txt").read_text() + late) for i, p in enumerate(procs)]


def _run_processes(tmp_path: Path) -> list[dict]:
    env = _env(LWLC_COORDINATOR=f"127.0.0.1:{_free_port()}", LWLC_NUM_PROCESSES=str(PROCESSES))
    ran = _spawn([[sys.executable, __file__, str(tmp_path)]] * PROCESSES,
                 [{**env, "LWLC_PROCESS_ID": str(i)} for i in range(PROCESSES)],
                 [tmp_path] * PROCESSES, tmp_path, TIMEOUT)
    results = []
    for i, (rc, out, err) in enumerate(ran):
        assert rc == 0, f"process {i} exited with {rc}:\n{err[-3000:]}"
        results.append(json.loads(out.splitlines()[-1]))
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


def _train_processes(tmp_path: Path) -> list[tuple[int, str, str]]:
    """`lwlc train ... --out run` as two processes, each in a directory of its own (proc0,
    proc1, where `run` lands): process 0 given --coordinator, --num-processes and
    --process-id, process 1 the same through LWLC_COORDINATOR, LWLC_NUM_PROCESSES and
    LWLC_PROCESS_ID."""
    coordinator = f"127.0.0.1:{_free_port()}"
    cmd = [sys.executable, "-m", "lwlc.cli", "train", str(MODEL), *TRAIN, "--out", "run"]
    cwds = [tmp_path / f"proc{i}" for i in range(PROCESSES)]
    for d in cwds:
        d.mkdir(exist_ok=True)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return _spawn(
        [[*cmd, "--coordinator", coordinator, "--num-processes", str(PROCESSES),
          "--process-id", "0"], cmd],
        [_env(), _env(LWLC_COORDINATOR=coordinator, LWLC_NUM_PROCESSES=str(PROCESSES),
                      LWLC_PROCESS_ID="1")],
        cwds, logs, TRAIN_TIMEOUT)


@pytest.mark.skipif(not _cpu_collectives(), reason="this jaxlib has no CPU collectives "
                    "(gloo) for processes to reduce across")
def test_lwlc_train_two_processes_equal_one(tmp_path):
    from typer.testing import CliRunner

    from lwlc.cli import app

    ran = _train_processes(tmp_path)
    out = tmp_path / "proc0" / "run"
    for i, (rc, _, err) in enumerate(ran):
        assert rc == 0, f"process {i} exited with {rc}:\n{err[-3000:]}"
    (_, out0, _), (_, out1, err1) = ran
    assert "epoch" in out0 and '"model": "majority"' in out0  # the table and the summary
    assert "epoch" not in out1 and '"model"' not in out1 and not err1.strip()
    # Gloo's native "[Gloo] Rank 2 is connected ..." went to every process's stdout
    assert not out1.strip() and "[Gloo]" not in out0
    assert not any((tmp_path / "proc1").iterdir())  # process 1 wrote nothing, not even run/
    for name in ("run.json", "params.npz", "log.csv", "summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["devices"] == PROCESSES * DEVICES_PER_PROCESS and summary["epochs"] == 2

    one = tmp_path / "one"
    r = CliRunner().invoke(app, ["train", str(MODEL), *TRAIN, "--out", str(one), "-q"])
    assert r.exit_code == 0, r.output
    with np.load(out / "params.npz") as got, np.load(one / "params.npz") as want:
        assert sorted(got.files) == sorted(want.files)
        meta, ref = (json.loads(meta_text(z["__meta__"])) for z in (got, want))
        for key in ("run", "epochs", "iterations"):  # the same run, just as far
            assert meta[key] == ref[key], key
        for name in want.files:
            if name != "__meta__":
                np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12,
                                           err_msg=name)

    # again: process 0 refuses (its run directory holds a run), and process 1 stops too
    before = (out / "params.npz").read_bytes()
    (rc0, _, err0), (rc1, _, err1) = _train_processes(tmp_path)
    assert rc0 == 1 and "already holds a run" in err0, err0[-3000:]
    assert rc1 == 1 and "process 0 stopped the run" in err1 and "already holds a run" in err1, \
        err1[-3000:]
    assert (out / "params.npz").read_bytes() == before
    assert not any((tmp_path / "proc1").iterdir())


def test_train_process_options_need_the_jax_backend_and_a_coordinator(monkeypatch):
    from typer.testing import CliRunner

    from lwlc.cli import app

    for name in ("LWLC_COORDINATOR", "LWLC_NUM_PROCESSES", "LWLC_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    cmd = ["train", str(MODEL), "--data", DATA]
    r = CliRunner().invoke(app, [*cmd, "--coordinator", "127.0.0.1:1", "--num-processes", "2",
                                 "--process-id", "0"])
    assert r.exit_code == 1 and "--coordinator applies to the JAX backend" in r.output
    assert "hint: add --backend jax" in r.output
    r = CliRunner().invoke(app, [*cmd, "--backend", "jax", "--process-id", "1"])
    assert r.exit_code == 1 and "--process-id needs --coordinator HOST:PORT" in r.output
    r = CliRunner().invoke(app, [*cmd, "--backend", "jax", "--coordinator", "127.0.0.1:1",
                                 "--num-processes", "2"])
    assert r.exit_code == 1 and "--process-id is missing" in r.output
    r = CliRunner().invoke(app, [*cmd, "--backend", "jax", "--coordinator", "127.0.0.1:1",
                                 "--num-processes", "2", "--process-id", "2"])
    assert r.exit_code == 1 and "--process-id 2 is not one of 0 ... 1" in r.output
    assert "Traceback" not in r.output
    # a number from the environment is named as the variable (it was called --process-id)
    monkeypatch.setenv("LWLC_PROCESS_ID", "-1")
    r = CliRunner().invoke(app, [*cmd, "--backend", "jax", "--coordinator", "127.0.0.1:1",
                                 "--num-processes", "2"])
    assert r.exit_code == 1, r.output
    assert "LWLC_PROCESS_ID=-1 is not one of 0 ... 1 (--num-processes 2)" in r.output


if __name__ == "__main__":
    main(sys.argv[1])
