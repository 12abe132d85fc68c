"""The JAX solver's solve_batch by the lane kernel (lwlc/runtime/lanes.py) where it
applies.

The emitted module holds its model's lane program (``LANE_PROGRAM``, built by
lwlc/laneplan.py; None where the kernel has no rule for something the model uses) and
whether the kernel is the default (``LANE_KERNEL``: the state fits the cache and the
neurons are narrow). The kernel runs the whole loop on the host, on one core, so it
applies on one CPU device in one process; the compiled XLA loop
(lwlc/runtime/jax_loop.py) stays the reference and runs everywhere else.
"""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np

from lwlc.runtime.jax_loop import cpu_kernel_on

LANE_PROGRAM = None  # emitted per model: the lane kernel's tables, or None
LANE_KERNEL = False  # emitted per model: whether the kernel is solve_batch's default
BATCH = 0  # emitted per model
DTYPE = "float64"  # emitted per model
METRIC = {}  # emitted per model
LAST_COMPILE_SECONDS = 0.0  # the solver's (lwlc/runtime/jax_loop.py)
_LANES_ASKED = False  # whether lane_kernel() has imported the kernel's module


def lane_kernel():
    """Whether solve_batch runs the lane kernel: where the model has a lane program, by
    default where LANE_KERNEL says so (LWLC_LANES=1 turns it on, 0 off), on one CPU
    device in one process, with numba there. The first answer imports numba and the
    kernel's module (0.2-0.3 s): that time adds to LAST_COMPILE_SECONDS, not to the
    batch's."""
    global LAST_COMPILE_SECONDS, _LANES_ASKED
    if LANE_PROGRAM is None:
        return False
    t0 = time.perf_counter()
    on = cpu_kernel_on("LWLC_LANES", LANE_KERNEL, "lwlc.runtime.lanes")
    if not _LANES_ASKED:
        LAST_COMPILE_SECONDS += time.perf_counter() - t0
        _LANES_ASKED = True
    return on


def run_lanes(state, data, iterations, tolerance, beta):
    """RRR on one batch by the lane kernel, as run_compiled does by XLA's loop. Returns
    (state, steps, first error, last error). The kernel's first call for a dtype in a
    process loads it from numba's cache (or compiles it); that time adds to
    LAST_COMPILE_SECONDS."""
    global LAST_COMPILE_SECONDS
    from lwlc.runtime import lanes

    t0 = time.perf_counter()
    kernel = lanes.prepared(LANE_PROGRAM, METRIC, BATCH, np.dtype(DTYPE))
    LAST_COMPILE_SECONDS += time.perf_counter() - t0
    host = {k: np.asarray(v) for k, v in state.items()}
    new, steps, first, last = kernel.solve(
        host, {k: np.asarray(v) for k, v in data.items()}, iterations, tolerance, beta
    )
    return {k: jnp.asarray(v) for k, v in new.items()}, steps, first, last
