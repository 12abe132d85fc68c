"""JAX backend: the same emitted solver as NumPy, jit-compiled, float32 or float64, sharded over
the batch axis across all visible devices.

The emitted module imports only jax, numpy and the standard library; a model with the fused
edge pass (lwlc/runtime/jax_fused.py) also imports lwlc.runtime.fused (numba) where it is
there. `solve_batch` runs the whole per-batch RRR loop (up to the cap or the tolerance) inside
one compiled `lax.while_loop` (lwlc/runtime/jax_loop.py); the state is donated between calls.
With several devices, state and data are placed with a `NamedSharding` over a one-axis `Mesh`
on the batch axis; the consensus means over items become the collectives XLA inserts. The code
is the same for one device or many.
"""

from __future__ import annotations

from lwlc.backends.common import Dialect, SolverWriter, fused_families

from lwlc import files
from lwlc.lower import Plan
from lwlc.runtime import jax_arrays, jax_blocks, jax_fused, jax_lanes, jax_loop

IMPORTS = '''import math
import os
import time

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DTYPE = "{dtype}"
if DTYPE == "float64":  # before the module makes its first array
    jax.config.update("jax_enable_x64", True)

xp = jnp
_erf = jax.scipy.special.erf
'''

API = '''

def solve_batch(state, data, iterations={iterations}, tolerance={tolerance}, beta={beta}):
    """Run RRR on one batch inside one compiled loop. Returns (state, steps,
    first error, last error). The state's arrays are donated to the loop: use the
    returned state, not the one passed in (its JAX arrays are deleted). The first
    call for a shape compiles; its time is added to LAST_COMPILE_SECONDS. Where
    lane_kernel() says so, the lane kernel runs the loop instead (LANE_PROGRAM)."""
    if lane_kernel():
        return run_lanes(state, data, iterations, tolerance, beta)
    return run_compiled({step}, state, data, iterations, tolerance, beta)


# The helpers the driver calls once per batch, compiled: run op by op, the dispatch
# of each array operation would cost more than the whole RRR loop of a small model.
# XLA's cache on disk (LWLC_XLA_CACHE) keeps their compiles too. jit is jax.jit with
# lwlc's COMPILER_OPTIONS.
_use_xla_cache()
init = jit(init)
consensus_params = jit(consensus_params)
latent_values = jit(latent_values)
predict = jit(predict, static_argnums=(2, 3))
forward = jit(forward, static_argnums=(2, 3))
'''

RUNTIME = ((jax_arrays, ("_fresh", "_assign", "_host_assign")),
           (jax_blocks, ("_Blocked", "_tiled", "_gathered", "_split_blocks", "_join_blocks",
                        "_assemble", "_LANES", "rrr_error", "_where", "rrr_update")),
           (jax_fused, ("_LAZY", "_Spread", "_spread", "_band_slots",
                        "_tables", "_run_mode", "_fused_update", "fused_edge_pass")),
           (jax_lanes, ("_LANES_ASKED", "lane_kernel", "run_lanes")),
           (jax_loop, ("LAST_COMPILE_SECONDS", "_MESH", "_EXECUTABLES", "STEPS_PER_PASS",
                       "ONE_STEP_BYTES", "steps_per_pass",
                       "COMPILER_OPTIONS", "jit",
                       "devices", "mesh", "cpu_kernel_on", "shard", "gather", "_loop",
                       "_use_xla_cache",
                       "_cache_note", "_usable_cache", "XLA_CACHE_BYTES", "_InterruptsHeld",
                       "run_compiled")),
           (files, ("own_cache_folder", "private_folder")))
ROOTS = ("devices", "mesh", "shard", "gather", "LAST_COMPILE_SECONDS", "DTYPE")


def emit(plan: Plan, dtype: str = "float64", command: str | None = None) -> str:
    """The JAX solver module's source text for a lowered plan."""
    s = plan.model.solver
    beta = 1.0 if s.method == "dr" else s.beta
    step = "rrr_step_fused if fused_edge_pass() else rrr_step" if fused_families(plan) \
        else "rrr_step"
    api = API.format(iterations=s.iterations, tolerance=repr(float(s.tolerance)),
                     beta=repr(float(beta)), step=step)
    dialect = Dialect(name="jax", imports=IMPORTS.replace("{dtype}", dtype), runtime=RUNTIME,
                      api=api, roots=ROOTS)
    return SolverWriter(plan, dialect, command).write()
