"""NumPy backend: the float64 reference solver. The emitted module imports only numpy."""

from __future__ import annotations

from lwlc.backends.common import Dialect, SolverWriter

from lwlc.lower import Plan
from lwlc.runtime import rrr, state

IMPORTS = '''import math

import numpy as np

xp = np


def _erf(z):
    return np.vectorize(math.erf, otypes=[float])(z)
'''

API = '''

def solve_batch(state, data, iterations={iterations}, tolerance={tolerance}, beta={beta}):
    """Iterate rrr_step until RRR_err < tolerance or `iterations` steps. Returns
    (state, steps, first error, last error)."""
    return iterate(rrr_step, state, data, iterations, tolerance, beta)
'''

RUNTIME = ((state, ("_fresh", "_assign", "_host_assign")), (rrr, ("iterate",)))


def emit(plan: Plan, dtype: str = "float64", command: str | None = None) -> str:
    """The solver module's source text for a lowered plan."""
    s = plan.model.solver
    beta = 1.0 if s.method == "dr" else s.beta
    api = API.format(iterations=s.iterations, tolerance=repr(float(s.tolerance)),
                     beta=repr(float(beta)))
    dialect = Dialect(name="numpy", imports=IMPORTS, runtime=RUNTIME, api=api, roots=())
    return SolverWriter(plan, dialect, command).write()
