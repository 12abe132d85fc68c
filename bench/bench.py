"""`make bench`: the speed of lwlc's solvers, every case and backend side by side, in one run.

    .venv/bin/python bench/bench.py [--quick] [--cases NAME ...] [--out bench/out]

For each case (a shipped model at the issue's settings) and each backend/precision it prints and
records:

- seconds per RRR iteration, median of repeats, wall and CPU time (compile time apart);
- WM/s: weight-multiplies per second, |K| x |E| x iterations / seconds (Elser eq. 24);
- compile: seconds from parsing the model to a ready executable and first state: lwlc's
  compile and import of the solver, the initial parameters and warm start (under JAX, with the
  compiles of the helpers they call), plus (JAX) XLA's compile of the loop; under JAX a first
  compile (an empty XLA cache on disk) and, in brackets, a second process's compile of the
  same model from that cache (a user's second run);
- peak memory: the measuring process's peak resident set; the same above the runtime (its
  resident set once Python, lwlc, JAX and numba are loaded, before any data or state); the
  buffers of the compiled loop by XLA's memory analysis (JAX: arguments, outputs not written
  in place, temporaries); beside them, the state and data the run holds; under JAX, in
  brackets, the peak above the runtime of the second process, which compiles from the cache
  (up to its first iteration);
- bytes per iteration: XLA's cost analysis of one compiled RRR step (JAX), against the minimum,
  reading and writing the whole state once (2 x state bytes);
- the fraction of the memory-bandwidth bound reached: (2 x state bytes / bandwidth) / time, with
  the bandwidth measured in the same run (a large array copy, STREAM "copy").

Each measurement runs in its own process (a clean peak memory, no JIT cache shared between
cases). Data: the model's own files where they exist (../shared), otherwise a generated set of
the same width (the speed of an iteration does not depend on the values). Writes bench.json,
bench.md and bench.png (WM/s against batch size and hidden-layer width) to --out, atomically.
Never a timed test: this machine is shared and noisy; read the CPU column beside the wall one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Case:
    """A model at fixed settings; `fallback` is the data spec used when its files are absent."""

    model: str
    fallback: str | None = None
    overrides: dict = field(default_factory=dict)
    iterations: int = 20  # per timed repeat, at most
    restarts: int = 0  # > 0: that many starts advanced as one state (lwlc train --restarts)


CASES = {
    "LEDM m=6": Case("models/nmf_ledm.lwl", iterations=2000),
    "LEDM m=6, 256 starts": Case("models/nmf_ledm.lwl", iterations=400, restarts=256),
    "majority 13-26-2": Case("models/majority.lwl", "majority:inputs=13,depth=2,items=2048",
                             iterations=200),
    "majority 13-26-26-2": Case("models/majority3.lwl", "majority:inputs=13,depth=3,items=2048",
                                iterations=200),
    "irregular 16-40-3": Case("bench/models/irregular.lwl", iterations=200),
    "MNIST 784-20-10": Case("models/mnist_exempt.lwl",
                            "blobs:inputs=784,classes=10,items=3000,spread=0.3"),
    "MLP 784-128-10": Case("models/pjax_mlp.lwl",
                           "blobs:inputs=784,classes=10,items=3000,spread=0.3", iterations=10),
    "MNIST AE 784-200-10-200-784": Case("models/mnist_autoencoder.lwl",
                                        "blobs:inputs=784,classes=10,items=3000,spread=0.3",
                                        iterations=10),
}
CONFIGS = (("numpy", "float64"), ("jax", "float32"), ("jax-xla", "float32"),
           ("jax-unfused", "float32"), ("jax", "float64"))
# what a JAX label turns off: jax-xla the lane kernel (XLA's loop, with the fused edge pass
# where it pays), jax-unfused the lane kernel and the fused pass (the reference step)
JAX_LABELS = {"jax-xla": {"LWLC_LANES": "0"},
              "jax-unfused": {"LWLC_LANES": "0", "LWLC_FUSED": "0"}}
# the plot's sweeps: MNIST 784-H-10, JAX float32
SWEEP_BATCH = (100, 250, 500, 1000, 2000)
SWEEP_WIDTH = (10, 20, 50, 100, 200)


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 7, platform: str = "cpu") -> float:
    """Bytes per second moved by a large array copy (read + write), median of `repeats`.
    On a GPU (`platform` "gpu"): the device's, from a jitted `a + 1` over a 2 GB array
    in device memory (one read and one write of each element, like a copy, which XLA
    could elide), timed after blocking on the result."""
    if platform == "gpu":
        return _device_copy_bandwidth(8 * nbytes, repeats)
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    np.copyto(b, a)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        times.append(time.perf_counter() - t)
    return 2 * a.nbytes / float(np.median(times))


def _device_copy_bandwidth(nbytes: int, repeats: int) -> float:
    import jax
    import jax.numpy as jnp

    plus_one = jax.jit(lambda a: a + 1.0)
    a = jnp.ones(nbytes // 4, jnp.float32)
    plus_one(a).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        plus_one(a).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * a.nbytes / float(np.median(times))


def _device_peak_mb() -> float | None:
    """The peak of the accelerator's memory in use by this process (JAX's allocator),
    in MB; None on the CPU, whose memory the resident set counts."""
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return None
    stats = device.memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 1e6


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS) or its peak (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    """The peak resident memory of this process since it started. VmHWM, not getrusage's
    ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec, so every
    child would report at least the parent's peak (its bandwidth test holds 512 MB)."""
    return _rss_mb("VmHWM")


def _ready(state: dict) -> None:
    """Wait for the (asynchronously computed) state."""
    for v in state.values():
        if hasattr(v, "block_until_ready"):
            v.block_until_ready()


def fused(solver) -> bool:
    """Whether the solver's loop runs the fused edge pass (lwlc/runtime/jax_fused.py)."""
    from lwlc.driver import loop_of

    return loop_of(solver) == "xla-fused"


def step_bytes(solver, state: dict, data: dict) -> tuple[float, float]:
    """XLA's cost analysis of one compiled RRR step as the loop runs it: bytes accessed
    and flops. The fused step: XLA's figure for its own part, plus the edge pass's one
    read and one write of x and w (a custom call, which XLA counts as nothing); else
    rrr_step on the blocked state."""

    st = solver.shard(state)
    if fused(solver):
        step = solver.jit(solver.rrr_step_fused, donate_argnums=0)
    else:
        step = solver.jit(solver.rrr_step)
        if hasattr(solver, "_split_blocks"):
            st = solver._split_blocks(st)
    cost = step.lower(st, solver.shard(data), 1.0).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    pass_bytes = 0.0
    if fused(solver):
        pair = (solver.FUSED_ROWS[0]["x"], solver.FUSED_ROWS[0]["w"])
        pass_bytes = 2.0 * sum(np.asarray(state[v]).nbytes for v in pair)
    return (float(cost.get("bytes accessed", np.nan)) + pass_bytes,
            float(cost.get("flops", np.nan)))


def measure_restarts(case: Case, backend: str, dtype: str, overrides: dict,
                     compile_only: bool = False) -> dict:
    """R starts of a one-batch model as one state (lwlc.restarts), tolerance 0: every start
    runs the whole cap; time per start-iteration, compile apart."""
    from lwlc import restarts

    t0 = time.perf_counter()
    problem = restarts.prepare(str(ROOT / case.model), {**overrides, "tolerance": 0.0},
                               backend, dtype)
    lwlc_s = time.perf_counter() - t0
    if compile_only:
        r = restarts.run(problem, case.restarts, cap=1, chunk=1)
        return {"compile_s": lwlc_s + r["compile_seconds"]}
    n = case.iterations if backend == "jax" else max(1, case.iterations // 10)  # NumPy: slow
    walls, cpus, xla_s = [], [], None
    for _ in range(3):
        r = restarts.run(problem, case.restarts, cap=n, chunk=n)
        walls.append(r["seconds"] / n)
        cpus.append(r["cpu_seconds"] / n)
        xla_s = r["compile_seconds"] if xla_s is None else xla_s
    wall = float(np.median(walls))
    K, E = problem.compiled.model.batch.size, problem.compiled.plan.n_edges
    return {
        "model": problem.compiled.model.name, "backend": backend, "dtype": dtype, "K": K,
        "E": E, "restarts": case.restarts, "iterations": n,
        "s_per_iter": wall, "cpu_s_per_iter": float(np.median(cpus)),
        "threads": r.get("lane_threads"), "lanes": "lane_threads" in r,
        "s_per_start_iter": wall / case.restarts,
        "wm_per_s": case.restarts * K * E / wall,
        "compile_s": lwlc_s + (xla_s or 0.0), "lwlc_compile_s": lwlc_s,
        "state_mb": float("nan"), "data_mb": float("nan"), "base_rss_mb": float("nan"),
        "peak_rss_mb": _peak_mb(),
        "device_peak_mb": _device_peak_mb() if backend == "jax" else None,
        "min_bytes": float("nan"), "xla_bytes": None, "flops": None, "data": "model's",
    }


def _buffers_mb(executable) -> float:
    """The buffers a compiled loop holds while it runs, by XLA's memory analysis: its
    arguments, its outputs less those written in place of a donated argument, and its
    temporaries (the body's intermediates), in MB."""
    m = executable.memory_analysis()
    return (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
            + m.temp_size_in_bytes) / 1e6


def measure_one(case: Case, backend: str, dtype: str, overrides: dict, budget_s: float,
                compile_only: bool = False) -> dict:
    """Compile, build one batch, time repeats of `solve_batch`; runs in a child process.
    compile_only: return {"compile_s": ...} once the executable and first state are ready."""
    if case.restarts:
        return measure_restarts(case, backend, dtype, overrides, compile_only)
    from lwlc.compiler import compile_model, load_solver
    from lwlc.driver import batch_data, bind, data_part, own_inputs, sample_codes
    from lwlc.resources import reuse_freed_memory

    if backend == "numpy":  # as lwlc train does
        reuse_freed_memory()

    base_rss = _rss_mb()
    t0 = time.perf_counter()
    c = compile_model(str(ROOT / case.model), {**case.overrides, **overrides}, backend, dtype)
    solver = load_solver(c.source)
    lwlc_s = time.perf_counter() - t0  # parse, split, lower, emit, import
    if backend == "jax":
        try:  # the kernels' module (numba), which a fused step imports when it is traced
            import lwlc.runtime.fused  # noqa: F401
        except ImportError:
            pass
    runtime_rss = _rss_mb()  # Python, NumPy, lwlc, JAX, numba: before any data or state
    m = c.model
    spec = m.data.get("train")
    try:
        bound = bind(c, spec, "train")
    except Exception:  # its files are absent here (../shared): same widths, generated
        spec = case.fallback
        bound = bind(c, spec, "train")
    rng = np.random.default_rng(0)
    part = data_part(m)
    idx = rng.choice(len(bound), part.size, replace=len(bound) < part.size)
    batch = batch_data(c, bound, idx, own_inputs(c))
    t0 = time.perf_counter()
    if m.samples:
        batch.update(sample_codes(c, solver, solver.initial_params(rng), batch, rng))
    state = solver.init(solver.initial_params(rng), batch)
    _ready(state)
    init_s = time.perf_counter() - t0  # under JAX: compiling the helpers init calls
    state, *_ = solver.solve_batch(state, batch, iterations=1, tolerance=0.0)
    # parse to a ready executable: lwlc's compile, the first state, XLA's compile of the loop
    compile_s = lwlc_s + init_s + getattr(solver, "LAST_COMPILE_SECONDS", 0.0)
    if compile_only:  # the peak of a second run, its compile from the cache
        return {"compile_s": compile_s, "peak_above_runtime_mb": _peak_mb() - runtime_rss}
    # iterations per call: as many as the model runs per batch, within about budget_s / 5
    # of work (at least 10 under JAX, whose per-call costs a batch of the model amortizes)
    t = time.perf_counter()
    state, steps, _, _ = solver.solve_batch(state, batch, iterations=1, tolerance=0.0)
    _ready(state)
    one = time.perf_counter() - t
    n = int(min(m.solver.iterations, case.iterations, max(1, budget_s / 5 / max(one, 1e-9))))
    n = max(n, 10) if backend == "jax" else n
    walls, cpus = [], []
    for _ in range(5):
        t, c0 = time.perf_counter(), time.process_time()
        state, steps, _, _ = solver.solve_batch(state, batch, iterations=n, tolerance=0.0)
        _ready(state)
        walls.append((time.perf_counter() - t) / steps)
        cpus.append((time.process_time() - c0) / steps)
    peak = _peak_mb()  # the run's; the cost analysis below compiles one more step
    device_peak = _device_peak_mb() if backend == "jax" else None
    loop_peak = max((_buffers_mb(e) for e in getattr(solver, "_EXECUTABLES", {}).values()),
                    default=None)
    state = {k: np.asarray(v) for k, v in state.items()}
    K, E = m.batch.size, c.plan.n_edges
    state_bytes = sum(v.nbytes for v in state.values())
    data_bytes = sum(np.asarray(v).nbytes for v in batch.values())
    xla_bytes = flops = None
    from lwlc.driver import loop_of

    lanes = loop_of(solver) == "lanes"
    if backend == "jax" and not lanes:  # (the lane kernel is no XLA program)
        xla_bytes, flops = step_bytes(solver, state, batch)
    wall = float(np.median(walls))
    return {
        "case": None, "model": m.name, "backend": backend, "dtype": dtype, "K": K, "E": E,
        "iterations": n, "s_per_iter": wall, "cpu_s_per_iter": float(np.median(cpus)),
        "wm_per_s": K * E / wall, "compile_s": compile_s, "lwlc_compile_s": lwlc_s,
        "init_s": init_s,
        "state_mb": state_bytes / 1e6, "data_mb": data_bytes / 1e6,
        "base_rss_mb": base_rss, "runtime_rss_mb": runtime_rss, "loop_peak_mb": loop_peak,
        "peak_rss_mb": peak, "peak_with_cost_analysis_mb": _peak_mb(),
        "device_peak_mb": device_peak,
        "min_bytes": 2 * state_bytes, "xla_bytes": xla_bytes, "flops": flops,
        "data": str(spec), "fused": loop_of(solver) == "xla-fused",
        "lanes": lanes,
    }


def run_child(name: str, backend: str, dtype: str, overrides: dict, budget: float,
              cached: bool = True, platform: str = "cpu") -> dict:
    """One measurement in a process of its own; backend "jax-xla" is JAX with the lane
    kernel off (XLA's loop), "jax-unfused" XLA's loop with the fused edge pass off too
    (the unfused step, the reference). Each JAX
    measurement starts with an empty XLA cache on disk (its compile is a first one); with
    `cached`, a second process then compiles the same model again from that cache
    (compile_cached_s: what a user's second run of a model takes). `platform` "gpu":
    JAX runs on the machine's GPU (JAX_PLATFORMS=cuda)."""
    label, backend = backend, "jax" if backend in JAX_LABELS else backend
    cmd = [sys.executable, __file__, "--one", name, backend, dtype, "--budget", str(budget),
           "--overrides", json.dumps(overrides)]
    env = dict(os.environ, JAX_PLATFORMS="cuda" if platform == "gpu" else "cpu")
    env.update(JAX_LABELS.get(label, {}))
    with tempfile.TemporaryDirectory(prefix="lwlc-bench-xla-") as cache:
        env["LWLC_XLA_CACHE"] = os.path.join(cache, "xla") if backend == "jax" else "off"
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        if r.returncode != 0:
            return {"case": name, "backend": backend, "dtype": dtype,
                    "error": r.stderr[-2000:]}
        out = json.loads(r.stdout.strip().splitlines()[-1])
        if cached and backend == "jax":
            again = subprocess.run([*cmd, "--compile-only"], capture_output=True, text=True,
                                   env=env, timeout=1800)
            if again.returncode == 0:
                second = json.loads(again.stdout.strip().splitlines()[-1])
                out["compile_cached_s"] = second["compile_s"]
                if "peak_above_runtime_mb" in second:
                    out["cached_peak_above_runtime_mb"] = second["peak_above_runtime_mb"]
    out["case"] = name
    if label in JAX_LABELS:
        out["backend"] = label.replace("-", " ")
    return out


def table(rows: list[dict], bandwidth: float) -> str:
    head = ("| case | backend | K | \\|E\\| | s/iter (wall) | CPU s/iter | WM/s | "
            "compile s: first (cached) | "
            "peak MB: process, above runtime, XLA loop (state + data) | "
            "XLA bytes/iter (x min) | bound % |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['backend']} {r['dtype']} | failed: "
                         f"{r['error'].strip().splitlines()[-1][:80]} |" + " |" * 8)
            continue
        bound = r["min_bytes"] / bandwidth / r["s_per_iter"]
        cpu = "n/a" if np.isnan(r["cpu_s_per_iter"]) else f"{r['cpu_s_per_iter']:.3g}"
        held = r["state_mb"] + r["data_mb"]
        held = "" if np.isnan(held) else f" ({held:.1f})"
        peak = f"{r['peak_rss_mb']:.0f}"
        if r.get("device_peak_mb") is not None:
            peak = f"GPU {r['device_peak_mb']:.0f}, host {peak}"
        if r.get("runtime_rss_mb") is not None:
            peak += f", {r['peak_rss_mb'] - r['runtime_rss_mb']:.0f}"
            if r.get("cached_peak_above_runtime_mb") is not None:
                peak += f" ({r['cached_peak_above_runtime_mb']:.0f} cached)"
        if r.get("loop_peak_mb") is not None:
            peak += f", {r['loop_peak_mb']:.1f}"
        bound = "n/a" if np.isnan(bound) else f"{100 * bound:.1f}"
        xla = (f"{r['xla_bytes']:.3g} ({r['xla_bytes'] / r['min_bytes']:.1f}x)"
               if r.get("xla_bytes") else "n/a")
        per = f"{r['s_per_iter']:.3g}"
        if r.get("restarts"):
            per += f" ({1e6 * r['s_per_start_iter']:.3g} µs per start"
            per += f", {r['threads']} threads)" if (r.get("threads") or 1) > 1 else ")"
        fused_pass = " fused" if r.get("fused") else " lanes" if r.get("lanes") else ""
        compile_s = f"{r['compile_s']:.2f}"
        if r.get("compile_cached_s") is not None:
            compile_s += f" ({r['compile_cached_s']:.2f})"
        lines.append(
            f"| {r['case']} | {r['backend']} {r['dtype']}{fused_pass} | {r['K']} | {r['E']} | "
            f"{per} | {cpu} | {r['wm_per_s']:.3g} | "
            f"{compile_s} | {peak}{held} | {xla} | {bound} |")
    return "\n".join(lines) + "\n"


def plot(sweeps: dict, path: Path, bandwidth: float | None = None, where: str = "") -> None:
    """WM/s against batch size and hidden width on a linear scale from 0 (flat means the
    time grows as K x E), with the float32 memory-bandwidth bound: the copy rate over
    16 bytes per WM (x and w read and written once, 4 bytes each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, (key, label) in zip(axes, (("batch", "batch size K (784-20-10)"),
                                       ("width", "hidden width H (784-H-10, K = 500)")),
                                strict=True):
        pts = [(r["x"], r["wm_per_s"]) for r in sweeps[key] if "wm_per_s" in r]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, "o-", label="lwlc JAX float32")
        if bandwidth:
            ax.axhline(bandwidth / 16, color="gray", linestyle="--",
                       label=f"bandwidth bound ({bandwidth / 1e9:.1f} GB/s copy rate / 16 B)")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.1 * max([bandwidth / 16 if bandwidth else 0.0]
                                 + [y for _, y in pts]))
        ax.set_xlabel(label)
        ax.set_ylabel("WM/s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("RRR iteration throughput, MNIST-shaped classifier (make bench)" + where)
    _publish(path, lambda f: fig.savefig(f, format="png", dpi=120))


def _publish(path: Path, write) -> None:
    """Write through a temporary file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _bandwidth_in_child(platform: str) -> float:
    """copy_bandwidth in a process of its own: on a GPU, the JAX client of the process
    that measures holds most of the device's memory until it exits."""
    if platform == "cpu":
        return copy_bandwidth()
    env = dict(os.environ, JAX_PLATFORMS="cuda")
    r = subprocess.run([sys.executable, __file__, "--bandwidth", platform], capture_output=True,
                       text=True, env=env, timeout=600, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def byte_compile_lwlc() -> None:
    """Write lwlc's bytecode (`__pycache__`), as `pip install` does for an installed package.
    A checkout's sources are otherwise compiled again in every measuring process where
    PYTHONDONTWRITEBYTECODE is set (about 0.1 s of each compile figure on this machine)."""
    import compileall

    import lwlc.backends

    import lwlc

    for package in (lwlc, lwlc.backends):
        compileall.compile_dir(Path(package.__file__).parent, quiet=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--configs", nargs="+", default=[f"{b}:{d}" for b, d in CONFIGS],
                    help="backend:dtype pairs (default: numpy:float64 jax:float32 "
                         "jax-xla:float32 jax-unfused:float32 jax:float64; jax-xla: XLA's "
                         "loop, the lane kernel off; jax-unfused: the unfused XLA step)")
    ap.add_argument("--budget", type=float, default=8.0,
                    help="seconds of timed work per measurement, about (default 8)")
    ap.add_argument("--quick", action="store_true", help="small budget, no sweeps")
    ap.add_argument("--no-sweep", action="store_true", help="skip the plot's sweeps")
    ap.add_argument("--sweep-batch", nargs="+", type=int, default=list(SWEEP_BATCH),
                    metavar="K", help="the batch sizes of the plot's batch sweep "
                                      f"(default {' '.join(map(str, SWEEP_BATCH))})")
    ap.add_argument("--sweep-width", nargs="*", type=int, default=list(SWEEP_WIDTH),
                    metavar="H", help="the hidden widths of the plot's width sweep "
                                      f"(default {' '.join(map(str, SWEEP_WIDTH))})")
    ap.add_argument("--no-cached", action="store_true",
                    help="skip the second process that compiles each JAX case from the cache")
    ap.add_argument("--platform", choices=("cpu", "gpu"), default="cpu",
                    help="where JAX runs (default cpu); gpu: the machine's GPU (JAX_PLATFORMS="
                         "cuda), its copy bandwidth and its peak memory in the table")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--one", nargs=3, metavar=("CASE", "BACKEND", "DTYPE"), help=argparse.SUPPRESS)
    ap.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--compile-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bandwidth", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bandwidth:
        print(copy_bandwidth(platform=args.bandwidth))
        return
    if args.one:
        name, backend, dtype = args.one
        r = measure_one(CASES[name], backend, dtype, json.loads(args.overrides), args.budget,
                        args.compile_only)
        print(json.dumps(r))
        return
    byte_compile_lwlc()
    budget = 2.0 if args.quick else args.budget
    out = Path(args.out)
    bandwidth = _bandwidth_in_child(args.platform)
    where = "the GPU's" if args.platform == "gpu" else "memory"
    print(f"{where} bandwidth (copy, median): {bandwidth / 1e9:.1f} GB/s; "
          f"{os.cpu_count()} CPUs; budget {budget:g} s per measurement", flush=True)
    rows: list[dict] = []
    sweeps: dict[str, list] = {"batch": [], "width": []}

    def publish() -> str:
        """Write what has been measured so far (a run cut short keeps its rows)."""
        md = (f"{'GPU' if args.platform == 'gpu' else 'Memory'} bandwidth (copy, median of 7): "
              f"{bandwidth / 1e9:.1f} GB/s. {os.cpu_count()} CPUs. "
              f"Command: `{' '.join(['python', *sys.argv])}`\n\n" + table(rows, bandwidth))
        report = {"bandwidth_bytes_per_s": bandwidth, "cpus": os.cpu_count(),
                  "platform": args.platform, "rows": rows, "sweeps": sweeps,
                  "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        _publish(out / "bench.json", lambda f: f.write(json.dumps(report, indent=1).encode()))
        _publish(out / "bench.md", lambda f: f.write(md.encode()))
        return md

    for name in args.cases:
        for cfg in args.configs:
            backend, dtype = cfg.split(":")
            r = run_child(name, backend, dtype, {}, budget, cached=not args.no_cached,
                          platform=args.platform)
            rows.append(r)
            publish()
            if "error" in r:
                print(f"{name:<28} {cfg:<14} failed: {r['error'].strip().splitlines()[-1]}",
                      flush=True)
            else:
                peak = (f"GPU {r['device_peak_mb']:6.0f} MB" if r.get("device_peak_mb")
                        else f"{r['peak_rss_mb']:6.0f} MB")
                print(f"{name:<28} {cfg:<14} {r['s_per_iter']:10.3g} s/iter "
                      f"(CPU {r['cpu_s_per_iter']:.3g})  {r['wm_per_s']:9.3g} WM/s  "
                      f"compile {r['compile_s']:5.2f} s"
                      + (f" ({r['compile_cached_s']:.2f} cached)" if "compile_cached_s" in r
                         else "") + f"  peak {peak}",
                      flush=True)
    if not (args.quick or args.no_sweep):
        for key, values in (("batch", args.sweep_batch), ("width", args.sweep_width)):
            for v in values:
                over = {"batch": v} if key == "batch" else {"batch": 500, "width": v}
                r = run_child("MNIST 784-20-10", "jax", "float32", over, budget / 2,
                              cached=False, platform=args.platform)
                r["x"] = v
                sweeps[key].append(r)
                publish()
                if "wm_per_s" in r:
                    print(f"sweep {key}={v:<5} {r['wm_per_s']:9.3g} WM/s", flush=True)
                else:
                    print(f"sweep {key}={v:<5} failed: {r['error'].strip().splitlines()[-1]}",
                          flush=True)
    md = publish()
    print("\n" + md)
    if sweeps["batch"] or sweeps["width"]:
        plot(sweeps, out / "bench.png", bandwidth,
             " on the GPU" if args.platform == "gpu" else "")
    print(f"wrote {out}/bench.json, bench.md" + (", bench.png" if sweeps["batch"] else ""))


if __name__ == "__main__":
    main()
