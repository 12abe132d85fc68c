"""The JAX solver's loop: the whole per-batch RRR iteration inside one compiled
`lax.while_loop`, the state donated between calls, and the batch sharded over devices (a
`NamedSharding` over a one-axis mesh; the consensus means over items become
collectives)."""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lwlc.files import own_cache_folder, private_folder
from lwlc.runtime.jax_blocks import _join_blocks, _split_blocks

DTYPE = "float64"
BATCH = 1
LAST_COMPILE_SECONDS = 0.0
_MESH = None
_EXECUTABLES = {}  # one compiled loop per state layout (shapes, dtypes)
# RRR steps per pass of the compiled loop. Two: XLA then writes the first step's state
# to scratch and the second's back in place, where one step per pass makes it copy the
# whole state (each new variable reads the old values of others) every iteration.
STEPS_PER_PASS = 2
# A state of at most this many bytes runs one step per pass: its copy costs little (a
# cached 0.4 MB for majority 13-26-2), and XLA compiles the loop's step once, not twice
# (majority float32: 3.3-3.6 s against 4.1-4.8 s, no change per iteration measured).
ONE_STEP_BYTES = 4 << 20
# Options of every executable lwlc compiles (jit below). XLA's CPU code with 256-bit
# vectors miscompiled a fused step on an AVX-512 machine (jax 0.10.2: one item's row
# of a joined variable took its values from the wrong columns, and NumPy's and JAX's
# runs of a generated model parted by 146 in 20 steps). With 128-bit vectors the
# step is right, at no cost measured (docs/jax.md, "XLA's CPU code").
COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 128}


def jit(fun, **kwargs):
    """jax.jit with lwlc's COMPILER_OPTIONS: jit an emitted function with this, not
    with jax.jit, to get the code lwlc's own loop runs."""
    return jax.jit(fun, compiler_options=COMPILER_OPTIONS, **kwargs)


def devices(n=None):
    """The devices the batch is sharded over: all visible ones (or the first n, or
    LWLC_DEVICES) whose count divides the batch size. With several processes
    (jax.distributed), jax.devices() lists every process's devices; each process then
    gives the same number of its own (at least one), in process order."""
    devs = jax.devices()
    procs = jax.process_count()
    own = [[d for d in devs if d.process_index == p] for p in range(procs)]
    want = n or int(os.environ.get("LWLC_DEVICES", "0")) or len(devs)
    per = max(1, min(want // procs, min(len(o) for o in own)))
    while per and BATCH % (per * procs):
        per -= 1
    if not per:
        raise ValueError(f"a batch of {BATCH} items cannot be split evenly over "
                         f"{procs} processes")
    return [d for o in own for d in o[:per]]


def mesh(n=None):
    """The one-axis device mesh of the batch (made once, or again for a given n); with
    several processes it spans all of them."""
    global _MESH
    if _MESH is None or n is not None:
        _MESH = Mesh(np.array(devices(n)), ("batch",))
    return _MESH


def cpu_kernel_on(switch: str, default: bool, module: str) -> bool:
    """Whether one of lwlc's CPU kernels (the fused edge pass, the lane kernel) runs:
    its environment switch (1 on, 0 off; unset: `default`), on one CPU device in one
    process, with its module (numba) importable."""
    wish = os.environ.get(switch, "").strip()
    if not (wish == "1" if wish in ("0", "1") else default):
        return False
    devices = mesh().devices.flat
    if jax.process_count() > 1 or len(devices) > 1 or devices[0].platform != "cpu":
        return False
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def shard(tree):
    """Place per-item arrays with the batch axis split across the mesh (other arrays
    replicated over it). With several processes every process holds the whole batch
    and puts only its own devices' rows: no transfer and no check between processes.
    Arrays that already span the processes (an earlier result) are resharded."""
    m = mesh()
    batched, whole = NamedSharding(m, P("batch")), NamedSharding(m, P())
    one_process = jax.process_count() == 1

    def place(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            if a.dtype.kind == "f" and a.dtype != np.dtype(DTYPE):
                a = a.astype(DTYPE)
            per_item = a.ndim and a.shape[0] == BATCH
            return jax.device_put(a, batched if per_item else whole)
        if one_process:
            a = jnp.asarray(a)
            if a.dtype.kind == "f":
                a = a.astype(DTYPE)
            if a.ndim >= 1 and a.shape[0] == BATCH and len(m.devices.flat) > 1:
                return jax.device_put(a, batched)
            return a
        host = np.asarray(a)
        kind = jax.dtypes.canonicalize_dtype(host.dtype)
        host = host.astype(DTYPE if kind.kind == "f" else kind, copy=False)
        where = batched if host.ndim and host.shape[0] == BATCH else whole
        return jax.make_array_from_callback(host.shape, where, lambda idx: host[idx])

    return jax.tree_util.tree_map(place, tree)


def gather(tree):
    """Host (NumPy) copies of solver results, whole on every process. A result that
    spans several processes (a batch-sharded state of a jax.distributed run) cannot go
    through np.asarray; it is first replicated, a collective: every process must call
    gather on the same results in the same order. With one process: np.asarray."""
    from jax.experimental import multihost_utils

    def get(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            return multihost_utils.process_allgather(a, tiled=True)
        return np.asarray(a)

    return jax.tree_util.tree_map(get, tree)


def init_distributed(coordinator=None, num_processes=None, process_id=None,
                     timeout=300):
    """Join a run of several processes (jax.distributed), one per host, before
    anything else touches JAX. The arguments default to LWLC_COORDINATOR (host:port of
    process 0), LWLC_NUM_PROCESSES and LWLC_PROCESS_ID; without a coordinator nothing
    happens. CPU processes exchange collectives over gloo (TCP). Returns the process
    count."""
    coordinator = coordinator or os.environ.get("LWLC_COORDINATOR")
    if not coordinator:
        return 1
    if num_processes is None:
        num_processes = int(os.environ["LWLC_NUM_PROCESSES"])
    if process_id is None:
        process_id = int(os.environ["LWLC_PROCESS_ID"])
    if getattr(jax.config, "jax_cpu_collectives_implementation", "gloo") is None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator,
                               num_processes=num_processes, process_id=process_id,
                               initialization_timeout=timeout)
    return jax.process_count()


def _loop(step, steps, state, data, iterations, tolerance, beta):
    """Iterate ``step`` until the error is below ``tolerance`` or ``iterations`` steps,
    ``steps`` steps per pass (steps_per_pass); a step past the end runs with beta = 0,
    which leaves the state exactly as it is (x + 0 (P_B - P_A))."""

    def cond(carry):
        _, i, _, last = carry
        return (i < iterations) & (last >= tolerance)

    # traced once and called `steps` times: XLA inlines the calls, so this only
    # halves the time of tracing and lowering
    one_step = jax.jit(step)

    def body(carry):
        st, i, first, last = carry
        # The data pass a barrier with the state, so XLA cannot hoist what the step
        # derives from them out of the loop: it materialized the broadcast of MNIST's
        # inputs to every hidden neuron ([K, E]: 8 bytes per edge in float64), and
        # three loops per step read it back instead of the [K, inputs] data.
        # Float64 MNIST: 76 -> 66 ms per iteration; float32 48 -> 44-48.
        st, inputs = jax.lax.optimization_barrier((st, data))
        for k in range(steps):
            go = (i < iterations) & (last >= tolerance) if k else True
            st, err = one_step(st, inputs, jnp.where(go, beta, 0.0) if k else beta)
            err = err.astype(DTYPE)
            first = jnp.where(i == 0, err, first)
            last = jnp.where(go, err, last)
            i = i + jnp.where(go, 1, 0)
        return st, i, first, last

    inf = jnp.asarray(jnp.inf, dtype=DTYPE)
    whole = getattr(step, "unblocked", False)  # the fused step holds x and w whole
    carry = (state if whole else _split_blocks(state), jnp.asarray(0), inf, inf)
    st, i, first, last = jax.lax.while_loop(cond, body, carry)
    return _join_blocks(st), i, first, last


# The cap on the size of lwlc's own XLA cache folder (bytes); the least recently used
# executables go first.
XLA_CACHE_BYTES = 1 << 30


def _use_xla_cache():
    """Keep XLA's compiled executables on disk (JAX's persistent compilation cache): a
    model compiled before is then ready in a fraction of the time. LWLC_XLA_CACHE
    names the folder; unset, it is xla/ in lwlc's cache folder (own_cache_folder),
    capped at XLA_CACHE_BYTES (which needs the filelock package, else the cache stays
    off); "off" turns it off. The cache holds machine code: a folder that is not the
    user's own or that others may write to is not used. A cache set up through JAX's
    own options is left as it is."""
    import importlib.util

    setting = os.environ.get("LWLC_XLA_CACHE", "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return
    if jax.config.jax_compilation_cache_dir:  # set up by the user, or done
        return
    capped = importlib.util.find_spec("filelock") is not None
    if setting:
        path = os.path.abspath(os.path.expanduser(setting))
        if not private_folder(path):
            _cache_note(setting, "it is no folder of the user's own that only they may "
                        "write to (the cache holds machine code)")
            return
    else:
        path = own_cache_folder("xla") if capped else None
        if path is None:
            return
    if not _usable_cache(path, capped):
        if setting:
            _cache_note(setting, "no file can be made in it")
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if capped:
        jax.config.update("jax_compilation_cache_max_size", XLA_CACHE_BYTES)


def _cache_note(setting, why):
    """Say once on stderr why the folder LWLC_XLA_CACHE names is not used."""
    import sys

    if getattr(_cache_note, "said", None) == setting:
        return
    _cache_note.said = setting
    print(f"lwlc: note: LWLC_XLA_CACHE={setting} is not used: {why}; each model is "
          "compiled anew", file=sys.stderr)


def _usable_cache(path, capped):
    """Whether a file can be made in the cache folder `path` (in one such as /proc/self
    JAX's file lock waits out its timeout at every read and write). Capped, the entries
    an interrupted write left go first: an empty one, or one without the -atime file
    JAX writes after it, under JAX's lock, so that no write in progress counts as one
    (such an entry made JAX warn and compile again at every run: it never rewrites
    an entry that exists)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".lwlc-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError:
        return False
    if not capped:
        return True
    import contextlib

    import filelock

    lock = filelock.FileLock(os.path.join(path, ".lockfile"), timeout=2)
    # a tidy-up only: the cache works without it
    with contextlib.suppress(OSError, filelock.Timeout), lock:
        for name in os.listdir(path):
            if not name.endswith("-cache"):
                continue
            entry = os.path.join(path, name)
            stamp = entry[: -len("-cache")] + "-atime"
            if os.path.getsize(entry) == 0 or not os.path.exists(stamp):
                os.unlink(entry)
    return True


class _InterruptsHeld:
    """A block during which a Ctrl-C (SIGINT) waits: it is raised when the block ends.
    XLA compiles in threads of its own; a KeyboardInterrupt that unwound the caller
    mid-compile freed what those threads were using, and the process died of a
    segfault or "pure virtual method called" instead of exiting 130. Only the main
    thread handles signals, and only a handler set from Python is replaced."""

    def __enter__(self):
        import signal
        import threading

        self.caught, self.previous = [], None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                self.previous = previous
                signal.signal(signal.SIGINT, lambda *sig: self.caught.append(sig))
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            if self.caught:
                self.previous(*self.caught[0])  # KeyboardInterrupt, as a rule
        return False


def steps_per_pass(state) -> int:
    """STEPS_PER_PASS, or 1 for a state of at most ONE_STEP_BYTES."""
    size = sum(v.size * v.dtype.itemsize for v in state.values())
    return STEPS_PER_PASS if size > ONE_STEP_BYTES else 1


def run_compiled(step, state, data, iterations, tolerance, beta):
    """Run `step` on one batch inside one compiled loop. Returns (state, steps, first
    error, last error). The first call for a layout compiles; its time adds to
    LAST_COMPILE_SECONDS."""
    global LAST_COMPILE_SECONDS
    state, data = shard(state), shard(data)
    per_pass = steps_per_pass(state)
    key = (step.__name__, per_pass)
    key += tuple((k, v.shape, str(v.dtype)) for k, v in sorted(state.items()))
    key += tuple((k, v.shape, str(v.dtype)) for k, v in sorted(data.items()))
    args = (
        jnp.asarray(iterations),
        jnp.asarray(tolerance, dtype=DTYPE),
        jnp.asarray(beta, dtype=DTYPE),
    )
    if key not in _EXECUTABLES:
        t0 = time.perf_counter()
        _use_xla_cache()
        loop = jit(_loop, static_argnums=(0, 1), donate_argnums=2)
        with _InterruptsHeld():
            _EXECUTABLES[key] = loop.lower(step, per_pass, state, data, *args).compile()
        LAST_COMPILE_SECONDS += time.perf_counter() - t0
    st, steps, first, last = _EXECUTABLES[key](state, data, *args)
    return st, int(steps), float(first), float(last)
