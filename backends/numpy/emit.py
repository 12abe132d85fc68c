"""NumPy backend: the float64 reference solver. The emitted module imports only numpy."""

from __future__ import annotations

from backends.common import Dialect, SolverWriter
from lwlc.lower import Plan

IMPORTS = '''import math

import numpy as np

xp = np
JOIN_BLOCKS = False  # a set's output: a copy of its input, updated in place block by block


def _fresh(a):
    return np.array(a, dtype=np.float64, copy=True)


def _assign(a, index, value):
    a[index] = value
    return a
'''

DRIVER = '''

def solve_batch(state, data, iterations=SOLVER["iterations"], tolerance=SOLVER["tolerance"],
                beta=SOLVER["beta"]):
    """Iterate until RRR_err < tolerance or `iterations` steps. Returns
    (state, steps, first error, last error)."""
    first = last = None
    steps = 0
    for steps in range(1, iterations + 1):
        state, err = rrr_step(state, data, beta)
        last = float(err)
        if first is None:
            first = last
        if last < tolerance:
            break
    return state, steps, first, last
'''

DIALECT = Dialect(name="numpy", imports=IMPORTS, assign="", driver=DRIVER)


def emit(plan: Plan) -> str:
    """The solver module's source text for a lowered plan."""
    return SolverWriter(plan, DIALECT).write()
