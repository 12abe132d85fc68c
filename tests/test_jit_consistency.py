"""Projections give the NumPy answer under jax.jit on inputs where rounding decides a branch.

XLA may recompute a cheap predicate in several fusions and contract a*b + c to a fused
multiply-add in some of them; a decision made from such a value must not differ between uses.
Both cases below were real bugs found by comparing the backends on the shipped models.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

from lwlc.sets import activation, bilinear, piecewise  # noqa: E402


def test_bilinear_exactly_satisfied_constraints_stay_put_under_jit():
    """A feed-forward state satisfies x·w = ω y exactly; the projection is the identity."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(8, 50, 784))
    w = rng.normal(size=(8, 50, 784)) * 0.4
    y = (x * w).sum(-1) / 10.0
    ginv = np.full(50, 0.1)
    ref = bilinear.bilinear_projection(np, x, w, y, 10.0, ginv)
    got = jax.jit(lambda x, w, y, g: bilinear.bilinear_projection(jnp, x, w, y, 10.0, g))(
        x, w, y, ginv)
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_allclose(np.asarray(b), a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(got[2]), y, rtol=0, atol=1e-12)


@pytest.mark.parametrize("pieces", [piecewise.zigmoid_pieces(0.4), piecewise.step_pieces(0.4),
                                    piecewise.relu_pieces()], ids=["zigmoid", "step", "relu"])
def test_fixed_x_projection_out_of_range_matches_under_jit(pieces):
    """x outside the set's range: two pieces reach the nearest x equally; ties go the same way."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20, 300)) * 2
    x = rng.normal(size=(20, 300)) * 1.5
    ref = activation.activation_fixed_projection(np, z, x, pieces)
    got = jax.jit(lambda z, x: activation.activation_fixed_projection(jnp, z, x, pieces))(z, x)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=0, atol=1e-12)
