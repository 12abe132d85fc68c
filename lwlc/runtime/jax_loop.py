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

DTYPE = "float64"
BATCH = 1
LAST_COMPILE_SECONDS = 0.0
_MESH = None
_EXECUTABLES = {}  # one compiled loop per state layout (shapes, dtypes)


def devices(n=None):
    """The devices the batch is sharded over: all visible ones (or the first n, or
    LWLC_DEVICES) whose count divides the batch size."""
    devs = jax.devices()
    want = n or int(os.environ.get("LWLC_DEVICES", "0")) or len(devs)
    want = min(want, len(devs))
    while BATCH % want:
        want -= 1
    return devs[:want]


def mesh(n=None):
    """The one-axis device mesh of the batch (made once, or again for a given n)."""
    global _MESH
    if _MESH is None or n is not None:
        _MESH = Mesh(np.array(devices(n)), ("batch",))
    return _MESH


def shard(tree):
    """Place per-item arrays with the batch axis split across the mesh."""
    m = mesh()
    batched = NamedSharding(m, P("batch"))

    def place(a):
        a = jnp.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(DTYPE)
        if a.ndim >= 1 and a.shape[0] == BATCH and len(m.devices.flat) > 1:
            return jax.device_put(a, batched)
        return a

    return jax.tree_util.tree_map(place, tree)


def _loop(step, state, data, iterations, tolerance, beta):
    def cond(carry):
        _, i, _, last = carry
        return (i < iterations) & (last >= tolerance)

    def body(carry):
        st, i, first, _ = carry
        st, err = step(st, data, beta)
        err = err.astype(DTYPE)
        first = jnp.where(i == 0, err, first)
        return st, i + 1, first, err

    inf = jnp.asarray(jnp.inf, dtype=DTYPE)
    return jax.lax.while_loop(cond, body, (state, jnp.asarray(0), inf, inf))


def run_compiled(step, state, data, iterations, tolerance, beta):
    """Run `step` on one batch inside one compiled loop. Returns (state, steps, first
    error,
    last error). The first call for a layout compiles; its time adds to
    LAST_COMPILE_SECONDS."""
    global LAST_COMPILE_SECONDS
    state, data = shard(state), shard(data)
    key = tuple((k, v.shape, str(v.dtype)) for k, v in sorted(state.items()))
    key += tuple((k, v.shape, str(v.dtype)) for k, v in sorted(data.items()))
    args = (
        jnp.asarray(iterations),
        jnp.asarray(tolerance, dtype=DTYPE),
        jnp.asarray(beta, dtype=DTYPE),
    )
    if key not in _EXECUTABLES:
        t0 = time.perf_counter()
        loop = jax.jit(_loop, static_argnums=0, donate_argnums=1)
        _EXECUTABLES[key] = loop.lower(step, state, data, *args).compile()
        LAST_COMPILE_SECONDS += time.perf_counter() - t0
    st, steps, first, last = _EXECUTABLES[key](state, data, *args)
    return st, int(steps), float(first), float(last)
