"""JAX's array writes: functional updates."""

from __future__ import annotations

import jax.numpy as jnp


def _fresh(a):
    return jnp.asarray(a)


def _assign(a, index, value):
    return a.at[index].set(jnp.asarray(value, dtype=a.dtype))
