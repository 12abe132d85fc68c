"""JAX backend: the same emitted solver as NumPy, jit-compiled, float32 or float64, sharded over
the batch axis across all visible devices.

The emitted module imports only jax, numpy and the standard library. `solve_batch` runs the
whole per-batch RRR loop (up to the cap or the tolerance) inside one compiled `lax.while_loop`;
the state is donated between calls. With several devices, state and data are placed with a
`NamedSharding` over a one-axis `Mesh` on the batch axis; the consensus means over items become
the collectives XLA inserts. The code is the same for one device or many.
"""

from __future__ import annotations

from backends.common import Dialect, SolverWriter
from lwlc.lower import Plan

IMPORTS = '''import math
import os
import time

import jax

DTYPE = "{dtype}"
if DTYPE == "float64":
    jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

xp = jnp
JOIN_BLOCKS = True  # a set's output: its blocks concatenated where they tile a variable
LAST_COMPILE_SECONDS = 0.0


def _fresh(a):
    return a


def _assign(a, index, value):
    return a.at[index].set(jnp.asarray(value, dtype=a.dtype))
'''

DRIVER = '''

# The helpers the driver calls once per batch, compiled: run op by op, the dispatch of each
# array operation would cost more than the whole RRR loop of a small model.
_eager_init = init
_init_compiled = jax.jit(lambda params, data: _eager_init(params, data))


def init(params, data, rng=None):
    """A state that satisfies every constraint but the class/data ones (compiled)."""
    return _init_compiled(params, data)


consensus_params = jax.jit(consensus_params)
predict = jax.jit(predict, static_argnums=2)
forward = jax.jit(forward, static_argnums=2)
forward_part = jax.jit(forward_part, static_argnums=(0, 3))


def devices(n=None):
    """The devices the batch is sharded over: all visible ones (or the first n, or LWLC_DEVICES)
    whose count divides the batch size."""
    devs = jax.devices()
    want = n or int(os.environ.get("LWLC_DEVICES", "0")) or len(devs)
    want = min(want, len(devs))
    while BATCH % want:
        want -= 1
    return devs[:want]


_MESH = None


def mesh(n=None):
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


def _loop(state, data, iterations, tolerance, beta):
    def cond(carry):
        _, i, _, last = carry
        return (i < iterations) & (last >= tolerance)

    def body(carry):
        st, i, first, _ = carry
        st, err = rrr_step(st, data, beta)
        err = err.astype(DTYPE)
        first = jnp.where(i == 0, err, first)
        return st, i + 1, first, err

    inf = jnp.asarray(jnp.inf, dtype=DTYPE)
    st, i, first, last = jax.lax.while_loop(cond, body, (state, jnp.asarray(0), inf, inf))
    return st, i, first, last


_compiled_loop = jax.jit(_loop, donate_argnums=(0,))
_EXECUTABLES = {}  # one compiled loop per state layout (shapes, dtypes)


def solve_batch(state, data, iterations=SOLVER["iterations"], tolerance=SOLVER["tolerance"],
                beta=SOLVER["beta"]):
    """Run RRR on one batch inside one compiled loop. Returns (state, steps, first error, last
    error). The first call for a shape compiles; its time is left in LAST_COMPILE_SECONDS."""
    global LAST_COMPILE_SECONDS
    state, data = shard(state), shard(data)
    key = tuple((k, v.shape, str(v.dtype)) for k, v in sorted(state.items()))
    args = (jnp.asarray(iterations), jnp.asarray(tolerance, dtype=DTYPE),
            jnp.asarray(beta, dtype=DTYPE))
    key += tuple((k, v.shape, str(v.dtype)) for k, v in sorted(data.items()))
    if key not in _EXECUTABLES:
        t0 = time.perf_counter()
        _EXECUTABLES[key] = _compiled_loop.lower(state, data, *args).compile()
        LAST_COMPILE_SECONDS += time.perf_counter() - t0
    st, steps, first, last = _EXECUTABLES[key](state, data, *args)
    return st, int(steps), float(first), float(last)
'''


def emit(plan: Plan, dtype: str = "float64") -> str:
    """The JAX solver module's source text for a lowered plan."""
    dialect = Dialect(name="jax", imports=IMPORTS.replace("{dtype}", dtype), assign="",
                      driver=DRIVER)
    return SolverWriter(plan, dialect).write()
