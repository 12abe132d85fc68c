"""JAX's array writes: functional updates, and a set's output joined from its blocks."""

from __future__ import annotations

import jax.numpy as jnp

JOIN_BLOCKS = True  # a set's output: its blocks concatenated where they tile a variable


def _fresh(a):
    return jnp.asarray(a)


def _assign(a, index, value):
    return a.at[index].set(jnp.asarray(value, dtype=a.dtype))
