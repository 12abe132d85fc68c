"""Many random starts of a one-batch model at once (`lwlc train MODEL --restarts R`).

Elser's NMF experiment (Table 1, `models/nmf_ledm.lwl`) asks what fraction of random starts
reach RRR_err < tolerance, and in how many iterations. Each start is one continuous RRR run on
the model's single batch, from its own initial parameters:

* start r (r = 0 .. R-1) has seed S + r, S the --seed (else the model's `seed`), and its
  initial parameters are ``solver.initial_params(np.random.default_rng([S + r, 0]))``: the
  generator `lwlc train --seed S+r` uses, so start r begins where that run begins (and under
  NumPy ends where it ends); its state is ``solver.init(params, batch)``;
* it runs until RRR_err < tolerance (converged) or the iteration cap, ``iterations × epochs``
  (the budget of such a run: a one-batch run's epochs are only reporting intervals), or until
  its RRR_err is not finite (diverged: stopped, not converged).

Under the JAX backend the R states are one state with a leading start axis, advanced by one
compiled ``lax.while_loop`` over ``jax.vmap`` of the solver's ``rrr_step``: a start that has
converged is frozen exactly (it gets beta = 0, and its previous values are selected back, so
it stays bit-identical whatever the method), and the loop ends when no start is left running.
The loop runs CHUNK iterations per call, so a progress bar can show how many starts have
converged. Where the solver runs the lane kernel (a small model: its solve_batch would), the
starts run side by side in the kernel's lanes instead (lwlc/runtime/lanes.py ``Starts``),
each bit for bit as it runs alone there. Under NumPy the starts run one after another with
the solver's ``solve_batch``.

Each start's outcome: seed, converged, iterations, final RRR_err and the model's metrics
(e.g. ``factor_rmse``), scored as the driver scores an epoch (driver.epoch_metrics).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from . import resources, rundir
from .compiler import Compiled, compile_model, load_solver
from .driver import (
    Bound,
    TrainConfig,
    _progress,
    atomic_write_text,
    batch_data,
    bind,
    data_latent,
    data_part,
    epoch_metrics,
    metric_keys,
    own_inputs,
    refuse_reads_in_run,
    run_warnings,
    unreached_data,
)
from .elaborate import input_problems
from .errors import DataError, LwlcError, ModelError, SolverError
from .ir import ModelWarning

MAX_RESTARTS = 1_000_000  # one command's starts (each a row of restarts.json)
CHUNK = 1000  # iterations per compiled call (JAX) or solve_batch call (NumPy)
JSON, CSV, NPZ = rundir.RESTARTS
PARAMS_KEY = "_start_params"  # the summary's Start objects, which write() saves to NPZ
_COMPILED: dict = {}  # the compiled loop per solver module and layout of the starts


@dataclass
class Problem:
    """A compiled one-batch model, its solver and its one batch of data."""

    compiled: Compiled
    solver: object
    data: dict  # the batch: every input the solver reads
    train_set: Bound
    test_set: Bound | None
    own: dict
    backend: str
    dtype: str

    @property
    def settings(self):
        return self.compiled.model.solver


@dataclass
class Start:
    """One start's outcome."""

    seed: int
    converged: bool
    iterations: int
    rrr_err: float
    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict, repr=False)  # its consensus parameters

    def row(self) -> dict:
        """The start as restarts.json and restarts.csv hold it (None for a non-finite value)."""
        values = {"rrr_err": self.rrr_err, **self.metrics}
        return {"seed": self.seed, "converged": self.converged, "iterations": self.iterations,
                **{k: v if math.isfinite(v) else None for k, v in values.items()}}


def prepare(model: str, overrides: dict | None = None, backend: str = "numpy",
            dtype: str = "float64", data: str | None = None, test: str | None = None,
            warn=None) -> Problem:
    """Compile a model and bind its one batch; refuse a model whose training data is not
    exactly one batch (or that restarts each epoch, or samples inputs)."""
    compiled = compile_model(model, overrides or {}, backend, dtype)
    for warning in run_warnings(compiled, dtype) if warn is not None else ():
        warn(warning)
    m = compiled.model
    solver = load_solver(compiled.source)
    resources.check_memory(m, solver, dtype, backend)
    if backend == "numpy":
        resources.reuse_freed_memory()
    for inp, message, hint in input_problems(m)[:1]:  # before "no training data": the cause
        raise ModelError(message, inp.span, hint=hint)
    train_spec = data or m.data.get("train")
    if not train_spec:
        raise DataError(f"model {m.name} names no training data",
                        hint="pass --data SPEC (a file or a generator such as ledm:m=6)")
    test_spec = test or (m.data.get("test") if not data else None)
    train_set = bind(compiled, train_spec, "train", dtype=dtype)
    test_set = bind(compiled, test_spec, "test", dtype=dtype) if test_spec else None
    dpart = data_part(m)
    n_items = len(train_set)
    why = None
    if m.samples:
        why = f"it samples inputs ({', '.join(m.samples)}) from batch to batch"
    elif n_items != dpart.size:
        why = (f"its training data ({train_set.name}) has {n_items} items for a batch part "
               f"'{dpart.name}' of {dpart.size}: " + ("several batches" if n_items > dpart.size
                                                      else "less than one batch"))
    if why is not None:
        raise LwlcError(f"--restarts needs a model whose training data is exactly one batch "
                        f"(as models/nmf_ledm.lwl); model {m.name} is not one: {why}",
                        hint="train it without --restarts, or run one start per seed with "
                        "--seed")
    if m.solver.restart:
        raise LwlcError(f"--restarts runs each start as one continuous RRR run, but model "
                        f"{m.name} restarts each epoch from the consensus parameters "
                        "(restart = 1)", hint="add --set restart=0")
    own = own_inputs(compiled)
    for warning in unreached_data(compiled, train_set, own) if warn is not None else ():
        warn(warning)
    batch = batch_data(compiled, train_set, np.arange(n_items), own)
    return Problem(compiled, solver, batch, train_set, test_set, own, backend, dtype)


def seeds_of(problem: Problem, restarts: int, seed: int | None = None) -> list[int]:
    first = problem.settings.seed if seed is None else seed
    return [int(first) + r for r in range(restarts)]


def initial_state(problem: Problem, seed: int) -> dict:
    """Start `seed`'s RRR state: `lwlc train --seed SEED`'s initial parameters, warm-started."""
    solver = problem.solver
    params = solver.initial_params(np.random.default_rng([seed, 0]))
    return solver.init(params, problem.data)


def check_memory(problem: Problem, restarts: int) -> None:
    """Refuse R starts whose states cannot fit together (resources.check_memory's estimate,
    R times over, against the host's or the JAX device's free memory)."""
    import os

    if os.environ.get("LWLC_MEMORY_CHECK", "1") == "0" or problem.backend != "jax":
        return  # NumPy holds one start at a time: resources.check_memory has checked it
    m = problem.compiled.model
    per_item, shared = resources.state_values(m)
    width = 4 if problem.dtype == "float32" else 8
    one = (per_item * m.batch.size + shared) * width * resources.COPIES
    avail, where, _ = resources.device_available(problem.solver)
    if avail is None:
        avail, where = resources.host_available()
    if avail is None or one * restarts <= avail:
        return
    raise LwlcError(f"{restarts} starts of model {m.name} need about "
                    f"{resources._fmt(one * restarts)} for their RRR states "
                    f"({resources._fmt(one)} each), but only {resources._fmt(avail)} is "
                    f"available ({where})", hint=f"use fewer starts (about {avail // one} "
                    "fit), or run them in several commands with --seed")


def default_cap(problem: Problem) -> int:
    s = problem.settings
    return int(s.iterations) * max(1, int(s.epochs))


def outcome(problem: Problem, seed: int, state: dict, iterations: int, err: float) -> Start:
    """A finished start: its consensus parameters scored as the driver scores an epoch."""
    compiled, solver, data = problem.compiled, problem.solver, problem.data
    converged = bool(err < problem.settings.tolerance)
    metrics: dict = {}
    params: dict = {}
    if math.isfinite(err):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            params = {k: np.asarray(v) for k, v in solver.consensus_params(state, data).items()}
            latent = data_latent(compiled, solver, state, data)
            row = epoch_metrics(compiled, solver, params, problem.train_set, problem.test_set,
                                problem.own, {}, np.random.default_rng(0), latent)
        metrics = {k: float(row[k]) for k in metric_keys(row)}
    return Start(seed, converged, int(iterations), float(err), metrics, params)


# --- the two backends -----------------------------------------------------------------------


def _run_numpy(problem: Problem, seeds: list[int], cap: int, chunk: int, report) -> tuple:
    """Each start alone with solve_batch, `chunk` iterations per call. Returns the per-start
    results, 0 compile seconds and the seconds (wall, CPU) spent in solve_batch. A Ctrl-C
    after some starts ended raises Interrupted with their results."""
    s = problem.settings
    solver = problem.solver
    out, seconds, cpu = [], 0.0, 0.0
    ended = (0.0, 0.0)  # the seconds (wall, CPU) of the starts in `out`
    try:
        for seed in seeds:
            state = initial_state(problem, seed)
            done, err = 0, math.inf
            with np.errstate(over="ignore", invalid="ignore", divide="ignore",
                             under="ignore"):
                while done < cap:
                    t0, c0 = time.perf_counter(), time.process_time()
                    state, steps, _, err = solver.solve_batch(
                        state, problem.data, iterations=min(chunk, cap - done),
                        tolerance=s.tolerance, beta=s.beta)
                    seconds += time.perf_counter() - t0
                    cpu += time.process_time() - c0
                    done += steps
                    if not err >= s.tolerance:  # converged, or not finite: stopped
                        break
                    report(len(out), sum(e < s.tolerance for *_, e in out), done)
            out.append((seed, state, done, err))
            ended = (seconds, cpu)
            report(len(out), sum(e < s.tolerance for *_, e in out), done)
    except KeyboardInterrupt as e:
        if not out:
            raise
        raise Interrupted((out, 0.0, *ended), signum=getattr(e, "signum", None)) from None
    return out, 0.0, seconds, cpu


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C (or SIGTERM, SIGHUP: `signum`) during a search after some starts ended:
    `ended` is the backend's (results, compile seconds, seconds, CPU seconds) of those
    starts; `run` adds their `summary`, which train_restarts writes before it stops."""

    def __init__(self, ended, summary=None, signum: int | None = None):
        super().__init__()
        self.ended, self.summary, self.signum = ended, summary, signum


def _advance(solver, dtype: str):
    """The compiled call: up to `passes` RRR iterations of every running start, as one
    vmapped state; a start stops (frozen, bit for bit) once its RRR_err < tol, at the cap,
    or when its error is not finite."""
    import jax
    import jax.numpy as jnp

    step = jax.vmap(solver.rrr_step, in_axes=(0, None, 0))

    def running(its, last, cap, tol):
        return (its < cap) & (last >= tol)  # False for NaN: a diverged start stops

    def advance(states, its, last, data, passes, cap, tol, beta):
        def cond(carry):
            _, its, last, n = carry
            return (n < passes) & jnp.any(running(its, last, cap, tol))

        def body(carry):  # one RRR step per pass (two, as in solve_batch, was no faster)
            st, its, last, n = carry
            go = running(its, last, cap, tol) & (n < passes)
            new, err = step(st, data, jnp.where(go, beta, jnp.zeros_like(beta)))
            new = {k: jnp.where(go.reshape((-1,) + (1,) * (v.ndim - 1)), v, st[k])
                   for k, v in new.items()}
            last = jnp.where(go, err.astype(dtype), last)
            return new, its + go.astype(its.dtype), last, n + 1

        st, its, last, _ = jax.lax.while_loop(cond, body, (states, its, last, jnp.asarray(0)))
        return st, its, last

    return solver.jit(advance, donate_argnums=(0, 1, 2))


def _by_lanes(problem: Problem) -> bool:
    """Whether the starts run in the lane kernel: under JAX, where the solver's solve_batch
    would (its lane program, LANE_KERNEL or LWLC_LANES, one CPU device)."""
    return problem.backend == "jax" and problem.solver.lane_kernel()


def _roots_by(problem: Problem) -> str:
    """What solved the bilinear roots of the starts: the lane kernel where it runs them,
    else the compiled kernel under JAX where it applies (LWLC_FUSED=0: XLA's loop, as lwlc
    train), else the backend's own loop."""
    if _by_lanes(problem):
        return "the lane kernel (the starts side by side in its lanes)"
    backend = problem.backend
    if backend == "jax":
        try:
            from .runtime.fused import kernels_on
        except ImportError:
            return "XLA's loop (numba missing)"
        return "the compiled kernel" if kernels_on() else "XLA's loop (as lwlc train)"
    return "NumPy's loop (as lwlc train)"


def _roots_kernel():
    """The bilinear roots of the vmapped step by the compiled kernel (lwlc/runtime/
    fused.py roots_kernel: 1.5-2.1x faster for 256 LEDM starts), where numba is there."""
    try:
        from .runtime.fused import roots_kernel
    except ImportError:
        return contextlib.nullcontext()
    return roots_kernel()


def _run_jax(problem: Problem, seeds: list[int], cap: int, chunk: int, report) -> tuple:
    """All starts as one state [R, ...]. Returns the per-start results, the seconds spent
    compiling the loop and the seconds (wall, CPU) spent in it (after compiling)."""
    import jax
    import jax.numpy as jnp

    s, dtype = problem.settings, problem.dtype

    def device(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if a.dtype.kind == "f" else a

    starts = [initial_state(problem, seed) for seed in seeds]
    states = {k: jnp.stack([device(st[k]) for st in starts]) for k in starts[0]}
    data = jax.tree_util.tree_map(device, problem.data)
    R = len(seeds)
    its = jnp.zeros(R, dtype=jnp.asarray(0).dtype)
    last = jnp.full(R, jnp.inf, dtype=dtype)
    consts = (jnp.asarray(cap), jnp.asarray(s.tolerance, dtype=dtype),
              jnp.full(R, s.beta, dtype=dtype))
    args = (states, its, last, data, jnp.asarray(chunk), *consts)
    key = (problem.solver.__name__, dtype, *((a.shape, str(a.dtype)) for a in
                                             jax.tree_util.tree_leaves(args)))
    t0 = time.perf_counter()
    if key not in _COMPILED:
        from .runtime.jax_loop import _InterruptsHeld

        with _roots_kernel(), _InterruptsHeld():  # a Ctrl-C waits for XLA's compile
            _COMPILED[key] = _advance(problem.solver, dtype).lower(*args).compile()
    call = _COMPILED[key]
    compile_seconds = time.perf_counter() - t0

    def ended(only_stopped: bool) -> list:
        its_h, errs_h = np.asarray(its), np.asarray(last)
        stopped = (its_h >= cap) | ~(errs_h >= s.tolerance)
        return [(seed, {k: v[r] for k, v in states.items()}, int(its_h[r]), float(errs_h[r]))
                for r, seed in enumerate(seeds) if stopped[r] or not only_stopped]

    def advance():
        nonlocal states, its, last
        states, its, last = call(states, its, last, data, jnp.asarray(chunk), *consts)
        return np.asarray(its), np.asarray(last)

    return _until_stopped(advance, ended, report, cap, s.tolerance, compile_seconds)


def _run_lanes(problem: Problem, seeds: list[int], cap: int, chunk: int, report,
               threads: int = 1) -> tuple:
    """All starts side by side in the lane kernel's lanes (lwlc/runtime/lanes.py Starts:
    each start bit for bit as it runs alone there), split into `threads` groups advanced
    in threads. Returns the per-start results, the seconds spent compiling (or loading)
    the kernel and the seconds (wall, CPU of every thread) spent in it."""
    from .laneplan import program_from
    from .runtime import lanes

    s, solver = problem.settings, problem.solver
    t0 = time.perf_counter()
    program = program_from(solver.LANE_PROGRAM, solver.METRIC, solver.BATCH)
    starts = lanes.Starts(program, [initial_state(problem, seed) for seed in seeds],
                          problem.data, problem.dtype, threads=threads)
    starts.advance(cap, s.tolerance, s.beta, 0)  # compiles (or loads) run_starts
    compile_seconds = time.perf_counter() - t0

    def ended(only_stopped: bool) -> list:
        stopped = (starts.its >= cap) | ~(starts.last >= s.tolerance)
        return [(seed, starts.state(r), int(starts.its[r]), float(starts.last[r]))
                for r, seed in enumerate(seeds) if stopped[r] or not only_stopped]

    def advance():
        starts.advance(cap, s.tolerance, s.beta, chunk)
        return starts.its, starts.last

    return _until_stopped(advance, ended, report, cap, s.tolerance, compile_seconds)


def _until_stopped(advance, ended, report, cap: int, tol: float,
                   compile_seconds: float) -> tuple:
    """Call `advance()` (a chunk of iterations of every running start; returns each
    start's iterations and RRR_err as NumPy arrays) until no start runs, reporting after
    each call. A Ctrl-C keeps the starts that had stopped by the last call that returned
    (a stopped start stays frozen), as NumPy keeps the starts that ended. Returns (the
    per-start results, compile seconds, wall and CPU seconds in advance)."""
    seconds = cpu = 0.0
    try:
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            its, last = advance()
            seconds += time.perf_counter() - t0
            cpu += time.process_time() - c0
            alive = (its < cap) & (last >= tol)
            report(int(its.size - np.sum(alive)), int(np.sum(last < tol)), int(np.max(its)))
            if not alive.any():
                break
    except KeyboardInterrupt as e:
        done = ended(only_stopped=True)
        if not done:
            raise
        raise Interrupted((done, compile_seconds, seconds, cpu),
                          signum=getattr(e, "signum", None)) from None
    return ended(only_stopped=False), compile_seconds, seconds, cpu


def default_threads() -> int:
    """The CPU cores this process may use (its affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (not on every system)
        return max(1, os.cpu_count() or 1)


# --- the whole search -----------------------------------------------------------------------


def run(problem: Problem, restarts: int, seed: int | None = None, cap: int | None = None,
        chunk: int = CHUNK, progress: bool = False, threads: int | None = None) -> dict:
    """Run `restarts` starts of a prepared problem; returns the summary with one row per start
    (what restarts.json holds). `cap` defaults to iterations × epochs of the model; `threads`
    (where the lane kernel runs the starts) to the CPU cores this process may use."""
    if restarts < 1:
        raise LwlcError(f"--restarts {restarts}: give at least 1")
    if restarts > MAX_RESTARTS:
        raise LwlcError(f"--restarts {restarts:,}: at most {MAX_RESTARTS:,} starts per command",
                        hint="run the search in several commands, each with its own --seed "
                        "(start r of a command with --seed S has seed S + r)")
    check_memory(problem, restarts)
    seeds = seeds_of(problem, restarts, seed)
    cap = default_cap(problem) if cap is None else int(cap)
    chunk = max(1, min(int(chunk), cap))
    prog = _progress(progress)
    task = None
    name = problem.compiled.model.name

    def report(stopped: int, converged: int, iteration: int) -> None:
        if prog is not None:
            prog.update(task, completed=converged,
                        info=f"{stopped - converged} stopped unsolved, iteration {iteration}")

    if prog is not None:
        prog.start()
        task = prog.add_task(f"{name}: starts solved", total=restarts, info="compiling"
                             if problem.backend == "jax" else "")
    interrupted = None
    by_lanes = _by_lanes(problem)
    # the lane kernel's starts in groups, a thread each (XLA's loop threads on its own)
    used = (min(restarts, default_threads() if threads is None else int(threads))
            if by_lanes else None)
    try:
        if by_lanes:
            ran = _run_lanes(problem, seeds, cap, chunk, report, threads=used)
        else:
            backend = _run_jax if problem.backend == "jax" else _run_numpy
            ran = backend(problem, seeds, cap, chunk, report)
    except Interrupted as e:
        interrupted = e
        ran = e.ended
    finally:
        if prog is not None:
            prog.stop()
    results = ran[0]
    summary = _summary(problem, restarts, seeds, cap, *ran, used)
    if interrupted is not None:
        summary["interrupted"] = (f"after {len(results)} of {restarts} starts: the table "
                                  "holds the starts that ended")
        if len(results) < restarts:  # of the starts that ended, not of the search
            summary["fraction_solved"] = None
        interrupted.summary = summary
        raise interrupted
    if results and summary["diverged"] == len(results):  # nothing to write: as lwlc train
        from .diverge import _data_peak, _settings_hint

        s = problem.settings
        big = _data_peak(problem.compiled.model, problem.data, None, 0)
        raise SolverError(
            f"RRR diverged in every one of the {len(results)} starts: each one's RRR_err "
            "became non-finite", span=s.span,
            hint="; ".join([*([big] if big else []), _settings_hint(s),
                            f"the same command without --restarts and with --seed "
                            f"{seeds[0]} runs one start and names the constraint that does "
                            "it"]))
    return summary


def _summary(problem: Problem, restarts: int, seeds: list[int], cap: int, results: list,
             compile_seconds: float, seconds: float, cpu_seconds: float,
             threads: int | None = None) -> dict:
    """What restarts.json holds: the search, and one row per start that ended."""
    s = problem.settings
    starts = [outcome(problem, *r) for r in results]
    solved = [st for st in starts if st.converged]
    total = sum(st.iterations for st in starts)
    m = problem.compiled.model
    return {
        "model": m.name,
        "model_file": str(m.file),
        "backend": problem.backend,
        "dtype": problem.dtype,
        "restarts": restarts,
        "first_seed": seeds[0],
        "seeds": f"start r has seed {seeds[0]} + r; its initial parameters come from "
                 "numpy.random.default_rng([seed, 0]), as for lwlc train --seed SEED",
        "solved": len(solved),
        "diverged": sum(not math.isfinite(st.rrr_err) for st in starts),
        "fraction_solved": len(solved) / len(starts) if starts else 0.0,
        "median_iterations": (statistics.median(st.iterations for st in solved)
                              if solved else None),
        "iterations_cap": cap,
        "solver": {"method": s.method, "beta": s.beta, "lam": s.lam, "tolerance": s.tolerance,
                   "error": s.error},
        # its last bits differ from XLA's loop (lwlc train), which RRR can amplify
        "bilinear_roots": _roots_by(problem),
        # the lane kernel's groups of starts, a thread each (none: XLA's or NumPy's loop)
        **({"lane_threads": threads} if threads is not None else {}),
        "params": dict(m.params),
        "train_data": problem.train_set.name,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,  # the process's, every thread, while the starts ran
        "compile_seconds": compile_seconds,
        "start_iterations": total,
        "us_per_start_iteration": 1e6 * seconds / total if total else None,
        "starts": [st.row() for st in starts],
        **rundir.fingerprints(problem.compiled.model),
        PARAMS_KEY: starts,  # not in restarts.json: each start's parameters (restarts.npz)
    }


def summary_line(result: dict) -> str:
    med = result["median_iterations"]
    shown = "-" if med is None else str(int(med)) if med == int(med) else f"{med:.1f}"
    ended, total = len(result["starts"]), result["restarts"]
    if "interrupted" in result and ended < total:
        # the starts still running are not failures: under JAX only the solved (or
        # capped) ones have ended, and "4 of 4 solved (100 %)" misread the search
        return (f"{result['solved']} of {ended} starts that ended solved, median iterations "
                f"{shown}; {total - ended} of {total} were still running")
    diverged = result.get("diverged") or 0
    return (f"{result['solved']} of {ended} starts solved "
            f"({100 * result['fraction_solved']:.1f} %), median iterations {shown}"
            + (f"; {diverged} diverged (RRR_err not finite)" if diverged else ""))


def _rounded_down(v: float) -> str:
    """v to 3 digits, rounded down: a solved start's RRR_err 9.9996e-06 read 1e-05, the
    tolerance it is below."""
    if v <= 0.0 or not math.isfinite(v):
        return f"{v:.3g}"
    scale = 10.0 ** (math.floor(math.log10(v)) - 2)
    return f"{math.floor(v / scale) * scale:.3g}"


def table(result: dict):
    """A rich table, one row per start."""
    from rich.table import Table

    rows = result["starts"]
    metrics = [k for k in (rows[0] if rows else {}) if k not in
               ("seed", "converged", "iterations", "rrr_err")]
    t = Table(title=f"{result['model']}: {result['restarts']} starts ({result['backend']}, "
              f"{result['dtype']}, cap {result['iterations_cap']})")
    for col in ("seed", "solved", "iterations", "RRR_err", *metrics):
        t.add_column(col, justify="right")
    for r in rows:
        err = "nan" if r["rrr_err"] is None else _rounded_down(r["rrr_err"])
        t.add_row(str(r["seed"]), "yes" if r["converged"] else "no", str(r["iterations"]), err,
                  *(f"{r[k]:.4g}" if isinstance(r.get(k), float) else "-" for k in metrics))
    return t


def params_archive(result: dict) -> dict:
    """restarts.npz's arrays: __seed__ and __converged__ per start whose parameters are finite,
    and each learned parameter stacked over those starts ([starts, ...])."""
    starts = [st for st in result.get(PARAMS_KEY, []) if st.params]
    if not starts:
        return {}
    arrays = {rundir.SEEDS: np.array([st.seed for st in starts], np.int64),
              rundir.SOLVED: np.array([st.converged for st in starts], np.int8)}
    for k in starts[0].params:
        arrays[k] = np.stack([st.params[k] for st in starts])
    return arrays


def write(out_dir, result: dict) -> None:
    """restarts.csv, restarts.npz (each start's parameters: lwlc evaluate --params
    restarts.npz --start SEED) and restarts.json (one row per start), each atomically."""
    from pathlib import Path

    from .driver import save_params

    out_dir = Path(out_dir)
    shown = {k: v for k, v in result.items() if k != PARAMS_KEY}
    arrays = params_archive(result)
    try:
        # an earlier search's files go first: a failure between the writes then leaves
        # files of this search only, never a mix (restarts.json holds no hash of the
        # others that would tell them apart)
        for name in (JSON, CSV, NPZ):
            (out_dir / name).unlink(missing_ok=True)
        atomic_write_text(out_dir / CSV, rundir.log_text(result["starts"]))
        if arrays:
            save_params(out_dir / NPZ, arrays, {
                "model": result["model"], "kind": "restarts", "values": result["params"],
                **{k: result.get(k) for k in rundir.FINGERPRINTS}})
        atomic_write_text(out_dir / JSON, json.dumps(shown, indent=2) + "\n")
    except OSError as e:
        failed = Path(e.filename).name if e.filename else JSON
        raise LwlcError(f"cannot write {failed} in {out_dir}: {e.strerror or e}") from None


def train_restarts(cfg: TrainConfig, restarts: int, console=None, warn=None,
                   chunk: int = CHUNK, threads: int | None = None) -> dict:
    """`lwlc train MODEL --restarts R [--threads N]`: run the starts, print a table and the
    summary line, and with `cfg.out` write restarts.json and restarts.csv there (the
    directory locked as a run's is; existing restart results are replaced only with
    `cfg.overwrite`)."""
    if cfg.resume:
        raise LwlcError("--resume does not apply to --restarts", hint="rerun the restarts, "
                        "or resume a single start's run without --restarts")
    if cfg.devices is not None:
        raise LwlcError("--devices does not apply to --restarts: the starts run on one device")
    overrides = dict(cfg.overrides)
    if cfg.epochs is not None:
        overrides["epochs"] = cfg.epochs
    problem = prepare(cfg.model, overrides, cfg.backend, cfg.dtype, cfg.data, cfg.test, warn)
    if threads is not None and not _by_lanes(problem) and warn is not None:
        warn(ModelWarning(f"--threads {threads}: only the lane kernel runs starts in threads; "
                          f"these run in {_roots_by(problem)}", None,
                          hint="drop --threads; the lane kernel runs a small model's starts "
                          "under JAX where it has a rule for each of its sets (docs/jax.md, "
                          "\"The lane kernel\")"))
    if cfg.out:  # as lwlc train: a read file that is a run file under any name (a user test)
        refuse_reads_in_run(problem.compiled.model, cfg)
    run_dir = rundir.RunDir(cfg.out) if cfg.out else None
    if run_dir is not None:
        run_dir.lock()
    try:
        if run_dir is not None:
            run_dir.refuse_other_kind("restarts")
        held = [n for n in (JSON, CSV, NPZ) if run_dir is not None and run_dir.file(n).exists()]
        if held and not cfg.overwrite:
            raise LwlcError(f"{run_dir} already holds {' and '.join(held)}",
                            hint="--overwrite replaces it; or give another --out")
        if held:  # before the search: write() removes the others first
            run_dir.refuse_folders(held, "a file of the restarts")
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore",
                             under="ignore"):
                result = run(problem, restarts, cfg.seed, chunk=chunk,
                             progress=cfg.progress and not cfg.quiet, threads=threads)
        except Interrupted as e:  # keep the starts that ended, then stop
            if run_dir is not None:
                run_dir.still_here()
                write(run_dir.path, e.summary)
            if console is not None and not cfg.quiet:
                console.print(table(e.summary))
                console.print(summary_line(e.summary) + " before the interrupt"
                              + (f"; wrote {written(run_dir, e.summary)}"
                                 if run_dir is not None else ""), markup=False)
            elif console is not None:  # --quiet: the JSON, as an uninterrupted search
                _print_json(console, e.summary)
            raise
        if run_dir is not None:
            run_dir.still_here()
            write(run_dir.path, result)
    finally:
        if run_dir is not None:
            run_dir.unlock()
    if console is not None and not cfg.quiet:
        console.print(table(result))
        console.print(summary_line(result), markup=False)
        if run_dir is not None:
            console.print(f"wrote {written(run_dir, result)}", markup=False)
    elif console is not None:  # --quiet: the result scripts read, as lwlc train prints it
        _print_json(console, result)  # (it printed nothing: a user test)
    return result


def _print_json(console, result: dict) -> None:
    """The search's summary as --quiet prints it; each start's row is in restarts.csv."""
    shown = {k: v for k, v in result.items() if k not in (PARAMS_KEY, "starts")}
    console.print(json.dumps(shown, indent=2), markup=False)


def written(run_dir, result: dict) -> str:
    files = [run_dir.file(JSON), run_dir.file(CSV)]
    if params_archive(result):
        files.append(run_dir.file(NPZ))
    return ", ".join(map(str, files[:-1])) + f" and {files[-1]}"
