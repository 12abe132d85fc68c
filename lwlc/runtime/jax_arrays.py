"""JAX's array writes: functional updates."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _fresh(a):
    return jnp.asarray(a)


def _assign(a, index, value):
    return a.at[index].set(jnp.asarray(value, dtype=a.dtype))


def _host_assign(a, index, value):
    """NumPy's in-place write, for what runs on the host (the initial parameters)."""
    a = np.asarray(a)
    a[index] = value
    return a
