"""The inference helpers the emitted solvers copy (lwlc/runtime/inference.py), against
their definitions: bounded least squares is the minimizer under its bounds."""

from __future__ import annotations

import numpy as np
import pytest

from lwlc.runtime import inference

scipy_optimize = pytest.importorskip("scipy.optimize")


def _problems(seed: int, count: int):
    """(B, targets, lo, hi): random, ill-conditioned (singular values down to 1e-4, as a
    solved NMF's weights), nonneg or a box; more data nodes than unknowns."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        r = int(rng.integers(1, 8))
        n = r + int(rng.integers(0, 12))
        B = rng.normal(size=(r, n))
        if i % 2:
            u, s, vt = np.linalg.svd(B, full_matrices=False)
            B = (u * (s * np.logspace(0, -4, len(s)))) @ vt
        lo, hi = (0.0, np.inf) if i % 3 else (-0.5, 0.7)
        yield B, rng.normal(size=(int(rng.integers(1, 6)), n)), lo, hi


def test_bounded_least_squares_is_the_minimizer_within_the_bounds():
    """Each item's values within [lo, hi], and its squared error that of scipy's BVLS
    (to rounding); the unbounded solution clipped to the bounds is often far worse."""
    worse_clipped = 0
    for B, t, lo, hi in _problems(0, 120):
        r = B.shape[0]
        v = inference.bounded_least_squares_values(np.zeros((len(t), r)), B, t,
                                                   np.arange(r), lo, hi)
        assert np.all(v >= lo) and np.all(v <= hi)
        clipped = np.clip(t @ np.linalg.pinv(B), lo, hi)
        for k in range(len(t)):
            ref = scipy_optimize.lsq_linear(B.T, t[k], bounds=(lo, hi), method="bvls",
                                            tol=1e-14).x
            err = np.sum((v[k] @ B - t[k]) ** 2)
            best = np.sum((ref @ B - t[k]) ** 2)
            # to the rounding of the normal equations: eps x cond(B)^2, 2e-8 at 1e-4
            assert err <= best + 1e-7 * (1.0 + best), (r, lo, hi, v[k], ref)
            worse_clipped += np.sum((clipped[k] @ B - t[k]) ** 2) > best + 1e-6 * (1 + best)
    assert worse_clipped > 10  # the test would catch the clipped solution


def test_bounded_least_squares_reads_the_known_nodes_and_agrees_across_backends():
    """Known nodes enter as X @ A's other rows; jitted JAX gives NumPy's values."""
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 7))
    A = rng.normal(size=(7, 9))
    unknown = np.array([1, 4, 6])
    t = rng.normal(size=(5, 9))
    v = inference.bounded_least_squares_values(X, A, t, unknown, 0.0, np.inf)
    rest = t - (X @ A - X[:, unknown] @ A[unknown])
    for k in range(5):
        ref = scipy_optimize.nnls(A[unknown].T, rest[k])[0]
        np.testing.assert_allclose(v[k], ref, atol=1e-10)
    jax.config.update("jax_enable_x64", True)

    def run(X, A, t):
        inference.xp = jnp
        try:
            return inference.bounded_least_squares_values(X, A, t, unknown, 0.0, jnp.inf)
        finally:
            inference.xp = np

    got = jax.jit(run)(jnp.asarray(X), jnp.asarray(A), jnp.asarray(t))
    np.testing.assert_allclose(np.asarray(got), v, atol=1e-12)


def test_bounded_least_squares_of_a_rank_deficient_system_is_the_same_in_both_backends():
    """Where B's rows are dependent (a sphere's centred weights of two edges, ±(1, −1)/√2
    on every code node) many values fit equally well; the active-set solve had a ridge but
    no cut, and NumPy's and JAX's codes parted by 1e-3 to 3e-2 (a user test). The least
    fitting point is taken, the same in both, and it still fits best."""
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    r, n, unknown = 4, 5, np.arange(4)

    @jax.jit  # one shape, one compile: lo and hi are arguments
    def run(A, t, lo, hi):
        inference.xp = jnp
        try:
            return inference.bounded_least_squares_values(jnp.zeros((4, r)), A, t, unknown,
                                                          lo, hi)
        finally:
            inference.xp = np

    rng = np.random.default_rng(5)
    for trial in range(12):
        if trial % 3 == 0:
            B = np.tile(np.array([[1.0, -1.0, 0, 0, 0]]) / np.sqrt(2), (r, 1))
        else:
            B = rng.normal(size=(r, 1 + trial % 2)) @ rng.normal(size=(1 + trial % 2, n))
        t = 2 * rng.normal(size=(4, n))
        lo, hi = (0.0, np.inf) if trial % 2 else (-0.5, 0.7)
        v = inference.bounded_least_squares_values(np.zeros((4, r)), B, t, unknown, lo, hi)
        got = run(jnp.asarray(B), jnp.asarray(t), lo, hi)
        np.testing.assert_allclose(np.asarray(got), v, atol=1e-10)
        for k in range(4):
            ref = scipy_optimize.lsq_linear(B.T, t[k], bounds=(lo, hi), method="bvls",
                                            tol=1e-14).x
            best = np.sum((ref @ B - t[k]) ** 2)
            assert np.sum((v[k] @ B - t[k]) ** 2) <= best + 1e-9 * (1 + best)
    # equal rows, no bound met: the values are equal (the least of the fitting ones)
    B = np.array([[1.0, 2.0, 0.5]] * 3)
    v = inference.bounded_least_squares_values(np.zeros((1, 3)), B, np.array([[3.0, 6, 1.5]]),
                                               np.arange(3), 0.0, np.inf)
    np.testing.assert_allclose(v, [[1.0, 1.0, 1.0]], atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_predict_takes_latent_values_as_latent_values_returns_them(backend):
    """latent_values gives {part: array}; predict(latent=that) raised a TypeError, while it
    took the part's array (a user test)."""
    from pathlib import Path

    from lwlc.compiler import compile_model, load_solver

    model = Path(__file__).parent.parent / "models" / "nmf_ledm.lwl"
    m = load_solver(compile_model(model, {}, backend).source)
    i = np.arange(6)
    data = {"Y": ((i[:, None] - i[None, :]) / 5.0) ** 2}
    st = m.init(m.initial_params(np.random.default_rng(0)), data)
    st, *_ = m.solve_batch(st, data, iterations=50)
    st = {k: np.asarray(v) for k, v in st.items()}
    params = m.consensus_params(st, data)
    codes = m.latent_values(st, data)
    whole = np.asarray(m.predict(params, data, 6, latent=codes)["factor"])
    part = np.asarray(m.predict(params, data, 6, latent=codes["k"])["factor"])
    np.testing.assert_array_equal(whole, part)
    with pytest.raises(KeyError):  # another part's codes: not silently inferred instead
        m.predict(params, data, 6, latent={"kk": codes["k"]})


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_least_squares_of_a_rank_one_system_is_its_least_norm_solution(backend):
    """Five unknowns whose weights are all ±(1, −1)/√2 (a sphere's centred weights of two
    edges, rank one, equal up to rounding): the least-norm solution, not NumPy's default
    pseudo-inverse, which kept the rounding's singular value and gave codes of 3.7e13."""
    B = np.tile([-0.7071067811865475, 0.7071067811865475], (5, 1))
    B[1] = [-0.7071067811865512, 0.7071067811865439]  # the sphere projection's rounding
    t = np.array([[0.64, 0.19], [0.38, 0.70]])
    want = t @ np.linalg.pinv(B, rtol=1e-10)
    if backend == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        inference.xp = jax.numpy
    try:
        got = inference.least_squares_values(np.zeros((2, 5)), B, t, np.arange(5))
    finally:
        inference.xp = np
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-12)


@pytest.mark.parametrize("side", ["nonneg & sparse(2)", "nonneg", "sphere(1)"])
def test_codes_inferred_under_a_nonneg_side_constraint_are_nonneg(tmp_path, side):
    """Codes under `nonneg & sparse(2)` were inferred by unbounded least squares, one of them
    −0.024 (a user test): the nonneg part of a side constraint bounds them, its sparsity
    (and a sphere's norm) is not applied."""
    from lwlc.compiler import compile_model, load_solver

    path = tmp_path / "m.lwl"
    path.write_text(f"""\
nodes C[3], D[5]
edges E = dense(C -> D)
batch k[5]
input Y[k, D]
var x[k, E]
var w[k, E]
constraint codes   for k, i in C: agree x[k, out(i)] in {side}
constraint weights for i in C: agree w[*, out(i)] in box(-1, 1)
constraint factor  for k, j in D: dot(x[k, in(j)], w[k, in(j)]) == Y[k, j]
solve rrr
""")
    m = load_solver(compile_model(path, {}, "numpy").source)
    rng = np.random.default_rng(0)
    params = {"w": rng.uniform(-1.0, 1.0, 15)}
    X, _ = m.forward(params, {"Y": rng.normal(size=(5, 5))}, 5)
    codes = np.asarray(X)[:, :3]
    if side == "sphere(1)":
        assert np.any(codes < 0)  # unbounded: this draw has negative codes
    else:
        assert np.all(codes >= 0) and np.any(codes > 0)
