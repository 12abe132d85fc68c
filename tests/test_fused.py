"""The fused edge pass (lwlc/runtime/fused.py, jax_fused.py) against the unfused step it
replaces: the kernel row by row against the bilinear projection, its scalar multiplier and
its multipliers in SIMD lanes against bilinear_solve, and whole fused iterations against
rrr_step on shipped models."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwlc.compiler import compile_model, load_solver
from lwlc.runtime import fused
from lwlc.sets.bilinear import bilinear_projection, bilinear_solve

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).parent))
from modelgen import random_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"pixels": 16, "width": 8, "codes": 4, "batch": 12}


def _problem(rng, K, dtype):
    """Random rows of every kind the pass meets: contiguous and gathered positions, P_A
    from the per-item table, the per-edge table or both, unit and non-unit metric, y
    free or fixed (ginv 0), rows over all items or a band."""
    E, S_item, S_edge = 40, 12, 40
    x, w = rng.normal(size=(2, K, E))
    t_item = np.concatenate([rng.normal(size=(K, S_item)), np.zeros((K, 1))], 1)
    t_edge = np.concatenate([rng.normal(size=S_edge), [0.0]])
    free = rng.permutation(E)
    rows, coefs, index, off = [], [], [[], [], [], [], []], 0
    for r in range(6):
        m = int(rng.integers(1, 7))
        pos, free = np.sort(free[:m]), free[m:]
        contiguous = r % 2 == 0
        if contiguous:  # take a run of the remaining positions instead
            start = int(rng.integers(0, E - m))
            pos = np.arange(start, start + m)
        modes, slots = [], []
        for _ in "xw":
            mode = int(rng.integers(0, 3))
            if mode == 0:
                s0 = int(rng.integers(0, S_item - m + 1))
                si, se = np.arange(s0, s0 + m), np.full(m, S_edge)
            elif mode == 1:
                s0 = int(rng.integers(0, S_edge - m + 1))
                si, se = np.full(m, S_item), np.arange(s0, s0 + m)
            else:
                item = rng.random(m) < 0.5
                si = np.where(item, rng.integers(0, S_item, m), S_item)
                se = np.where(item, S_edge, rng.integers(0, S_edge, m))
            modes.append(mode)
            slots += [si, se]
        k0, k1 = (0, K) if r % 3 else (1, K - 1)
        gx, gw = (1.0, 1.0) if r < 3 else (2.0, 0.5)
        rows.append([k0, k1, m, off, pos[0], int(contiguous), *modes, r])
        coefs.append([1.3 * np.sqrt(gx * gw), np.sqrt(gx), np.sqrt(gw), 0.0 if r == 4 else 0.7])
        for a, s in zip(index, [pos, *slots], strict=True):
            a.extend(s.tolist())
        off += m
    ry = rng.normal(size=(K, len(rows)))
    # row 1 at a pole: x = w there and both read the same P_A, so the reflected rows are
    # equal (D = 0), and y far below their product leaves no root in (-1, 1): u = -1
    k0, k1, m, off, p0, _, xmode, _, _ = rows[1]
    rows[1][7] = xmode
    for a, b in ((3, 1), (4, 2)):
        index[a][off:off + m] = index[b][off:off + m]
    w[:, index[0][off:off + m]] = x[:, index[0][off:off + m]]
    ry[:, 1] = -6.0

    def cast(a):
        return a.astype(dtype)

    itype = np.int64 if dtype == np.float64 else np.int32
    return (cast(x), cast(w), cast(t_item), cast(t_edge), cast(ry), np.array(rows, itype),
            cast(np.array(coefs)), np.array(index, itype))


def _reference(x, w, t_item, t_edge, ry, rows, coefs, index, beta):
    """The pass written from its definition: per row and item, P_A, the reflection, the
    bilinear projection in metric-scaled coordinates (eq. 51-54) and the update (eq. 45).
    Rows may share positions here only across disjoint item bands, as in a model."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    xo, wo, yo, err = x.copy(), w.copy(), np.zeros(ry.shape), 0.0
    for row, (om, sx, sw, gi) in zip(rows, coefs.astype(np.float64), strict=True):
        k0, k1, m, off = (int(v) for v in row[:4])
        sl = slice(off, off + m)
        pos = index[0, sl]
        for k in range(k0, k1):
            ax = t_item[k, index[1, sl]] + t_edge[index[2, sl]]
            aw = t_item[k, index[3, sl]] + t_edge[index[4, sl]]
            rx, rw = 2 * ax - x[k, pos], 2 * aw - w[k, pos]
            px, pw, py = bilinear_projection(np, sx * rx[None], sw * rw[None],
                                             np.array([ry[k, row[8]]], float), om, gi)
            px, pw = px[0] / sx, pw[0] / sw
            xo[k, pos] = x[k, pos] + beta * (px - ax)
            wo[k, pos] = w[k, pos] + beta * (pw - aw)
            yo[k, row[8]] = py[0]
            err += sx * sx * np.sum((px - ax) ** 2) + sw * sw * np.sum((pw - aw) ** 2)
    return xo, wo, yo, err


def _disjoint(rows, index, K):
    """Whether each (item, position) belongs to at most one row."""
    seen = np.zeros((K, int(index[0].max()) + 1), int)
    for k0, k1, m, off, *_ in rows:
        np.add.at(seen[k0:k1], (slice(None), index[0, off:off + m]), 1)
    return bool(np.all(seen <= 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([np.float64, np.float32]), st.booleans())
def test_the_pass_equals_the_bilinear_projection_row_by_row(seed, dtype, in_place):
    rng = np.random.default_rng(seed)
    K = 5
    x, w, t_item, t_edge, ry, rows, coefs, index = _problem(rng, K, dtype)
    if not _disjoint(rows, index, K):
        return
    want = _reference(x, w, t_item, t_edge, ry, rows, coefs, index, 0.7)
    pos = index[0, rows[1][3]:rows[1][3] + rows[1][2]]
    assert not np.allclose(want[0][:, pos], want[1][:, pos])  # the pole breaks x = w
    xo, wo = (x, w) if in_place else (np.zeros_like(x), np.zeros_like(w))
    x_in, w_in = x.copy(), w.copy()
    if in_place:
        xo, wo = x_in, w_in
    yo, eo = np.zeros_like(ry), np.zeros(1, dtype)
    fused.edge_pass(x_in, w_in, t_item, t_edge, t_item, t_edge, ry, rows, coefs, index,
                    dtype(0.7), xo, wo, yo, eo)
    tol = 1e-11 if dtype == np.float64 else 2e-3
    covered = np.zeros(yo.shape, bool)
    for row in rows:
        covered[row[0]:row[1], row[8]] = True
    np.testing.assert_allclose(xo, want[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(wo, want[1], rtol=tol, atol=tol)
    np.testing.assert_allclose(yo[covered], want[2][covered], rtol=tol, atol=tol)
    assert float(eo[0]) == pytest.approx(want[3], rel=tol, abs=tol)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=8, max_size=8), st.floats(-4, 4),
       st.floats(0.25, 3), st.sampled_from([0.0, 0.05, 1.0, 4.0]),
       st.sampled_from(["free", "near", "anti"]))
def test_the_multiplier_equals_bilinear_solve(values, y, omega, ginv, kind):
    x = np.asarray(values[:4])
    w = {"free": np.asarray(values[4:]), "near": x + 1e-6 * np.asarray(values[4:]),
         "anti": -x + 1e-6 * np.asarray(values[4:])}[kind]
    p, q = float(x @ w), float(x @ x + w @ w)
    S, D = float((x + w) @ (x + w)), float((x - w) @ (x - w))
    got = fused.multiplier(p, q, S, D, y, omega, ginv)
    want = [float(v) for v in bilinear_solve(np, np.array(p), np.array(q), np.array(S),
                                              np.array(D), np.array(y), omega, ginv)]
    for g, h in zip(got, want, strict=True):
        assert g == pytest.approx(h, rel=1e-12, abs=1e-13)


def _multipliers(rows):
    """fused.multipliers of the rows [(p, q, S, D, y, omega, ginv)], one SIMD lane each."""
    a = np.array(rows, float).T.copy()
    n = a.shape[1]
    out = np.empty((3, n))
    lanes = (*(np.empty(n) for _ in range(8)), *(np.empty(n, np.int8) for _ in range(3)))
    fused.multipliers(n, *a, *out, lanes)
    return out


ROW = st.tuples(st.lists(st.floats(-3, 3), min_size=8, max_size=8), st.floats(-4, 4),
                st.floats(0.25, 3), st.sampled_from([0.0, 0.05, 1.0, 4.0]),
                st.sampled_from(["free", "near", "anti"]))


@settings(max_examples=100, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=24))
def test_the_multipliers_in_simd_lanes_equal_bilinear_solve(drawn):
    """Rows side by side in SIMD lanes, each stopping at its own step (near and far
    roots, anti-parallel rows, fixed and free y mixed), equal bilinear_solve row by row."""
    rows, want = [], []
    for values, y, omega, ginv, kind in drawn:
        x = np.asarray(values[:4])
        w = {"free": np.asarray(values[4:]), "near": x + 1e-6 * np.asarray(values[4:]),
             "anti": -x + 1e-6 * np.asarray(values[4:])}[kind]
        p, q = float(x @ w), float(x @ x + w @ w)
        S, D = float((x + w) @ (x + w)), float((x - w) @ (x - w))
        rows.append((p, q, S, D, y, omega, ginv))
        want.append([float(v) for v in bilinear_solve(
            np, np.array(p), np.array(q), np.array(S), np.array(D), np.array(y), omega, ginv)])
    got = _multipliers(rows)
    np.testing.assert_allclose(got.T, np.array(want), rtol=1e-12, atol=1e-13)


def _solver(path, overrides=None, dtype="float64"):
    c = compile_model(path, overrides, "jax", dtype)
    return c, load_solver(c.source)


def _start(c, solver, seed=0):
    data = {k: jnp.asarray(v) for k, v in random_data(c.model, seed).items()}
    params = solver.initial_params(np.random.default_rng(seed))
    return {k: jnp.asarray(v) for k, v in solver.init(params, data).items()}, data


MODELS = ["majority.lwl", "majority4.lwl", "mnist_exempt.lwl", "mnist_autoencoder.lwl",
          "binary_autoencoder.lwl", "pjax_mlp.lwl", "fpa_classifier.lwl", "relabel.lwl",
          "nmf_ledm.lwl"]
TEST_MODELS = ["regression.lwl", "odd_names_cycles.lwl", "mixed_operands.lwl"]


@pytest.mark.parametrize("path", [ROOT / "models" / m for m in MODELS]
                         + [ROOT / "tests" / "models" / m for m in TEST_MODELS],
                         ids=MODELS + TEST_MODELS)
def test_a_fused_iteration_equals_rrr_step(path):
    from lwlc.elaborate import load_model

    overrides = {k: v for k, v in SMALL.items() if k in load_model(path).params}
    c, solver = _solver(path, overrides)
    assert solver.FUSED_ROWS, "every one of these models has bilinear rows in B"
    state, data = _start(c, solver)
    K = c.model.batch.size
    norm = K * (max(1, c.plan.n_edges) if c.model.solver.error == "element" else 1)
    # jitted, as the loop runs them (op by op, each of ~800 operations compiled alone took
    # 10-90 s per model)
    done = solver.jit(lambda st, d: solver._fused_update(
        solver.project_A, solver.B_REST, st, d, 0.8, solver.METRIC, norm))(state, data)
    assert done is not None, "set A writes x and w as spreads that cover them"
    new, err = done
    # against NumPy's unfused step, the reference (JAX's unfused step equals it to 1e-9 and
    # better on every shipped model: tests/test_jax.py; one XLA compile fewer per model)
    reference = load_solver(compile_model(path, overrides, "numpy").source)
    want, want_err = reference.rrr_step({k: np.asarray(v) for k, v in state.items()},
                                        {k: np.asarray(v) for k, v in data.items()}, 0.8)
    assert float(err) == pytest.approx(float(want_err), rel=1e-12)
    for k in want:
        scale = 1.0 + float(np.max(np.abs(want[k])))
        assert float(np.max(np.abs(np.asarray(new[k]) - want[k]))) <= 1e-12 * scale, k


def test_solve_batch_fused_stops_where_the_unfused_loop_stops(monkeypatch):
    c, solver = _solver(ROOT / "models" / "majority.lwl", {"batch": 16})
    state, data = _start(c, solver, 3)
    state = {k: np.asarray(v) for k, v in state.items()}
    monkeypatch.setattr(solver, "FUSED_EDGE_PASS", False)  # the module is shared (cached)
    *_, err_15 = solver.solve_batch(dict(state), data, iterations=15, tolerance=0.0)
    out = {}
    for flag in (False, True):
        monkeypatch.setattr(solver, "FUSED_EDGE_PASS", flag)
        assert solver.fused_edge_pass() is flag
        out[flag] = solver.solve_batch(dict(state), data, iterations=40,
                                       tolerance=err_15 * (1 + 1e-6))
    (s0, n0, f0, l0), (s1, n1, f1, l1) = out[False], out[True]
    assert n0 == n1 <= 15
    assert (f0, l0) == pytest.approx((f1, l1), rel=1e-11)
    for k in s0:
        np.testing.assert_allclose(np.asarray(s1[k]), np.asarray(s0[k]), rtol=1e-10,
                                   atol=1e-12)


PART_ONLY = """\
model part_only
nodes D[2], C[2]
edges E = dense(D -> C)
batch k = a[4] + b[4]
input d[a, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, C]
constraint f for k in a, i in D: agree x[k, out(i)] == d[k, i]
constraint cl for k: y[k, C] in margin(c[k], 0.5)
constraint t for j in C: agree w[*, in(j)]
constraint n for k, j in C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
"""


def test_set_a_that_leaves_edge_elements_alone_runs_the_unfused_step(tmp_path):
    """Part b's x has no family in A (P_A leaves it as it is): not a spread, so the
    fused step is rrr_step."""
    path = tmp_path / "part_only.lwl"
    path.write_text(PART_ONLY)
    c, solver = _solver(path)
    assert solver.FUSED_ROWS
    state, data = _start(c, solver)
    assert solver._fused_update(solver.project_A, solver.B_REST, state, data, 1.0,
                                solver.METRIC, 8) is None
    new, err = solver.rrr_step_fused(state, data, 1.0)
    want, want_err = solver.rrr_step(state, data, 1.0)
    assert float(err) == float(want_err)
    for k in want:
        np.testing.assert_array_equal(np.asarray(new[k]), np.asarray(want[k]))


def test_which_solvers_have_the_pass(monkeypatch):
    majority = ROOT / "models" / "majority.lwl"
    assert "FUSED_ROWS" in compile_model(majority, {"batch": 16}, "jax").source
    assert "FUSED_ROWS" not in compile_model(majority, {"batch": 16}, "numpy").source
    nmf = ROOT / "models" / "nmf_ledm.lwl"
    assert "FUSED_ROWS" not in compile_model(nmf, {"lam": 0.5}, "jax").source  # eq. 47
    _, solver = _solver(majority, {"batch": 16})
    assert not solver.FUSED_EDGE_PASS  # fan-in 14: the unfused step is the default
    assert not solver.fused_edge_pass()
    monkeypatch.setenv("LWLC_FUSED", "1")
    assert solver.fused_edge_pass()
    monkeypatch.setenv("LWLC_FUSED", "0")
    monkeypatch.setattr(solver, "FUSED_EDGE_PASS", True)
    assert not solver.fused_edge_pass()
    monkeypatch.delenv("LWLC_FUSED")
    assert solver.fused_edge_pass()
    monkeypatch.setitem(sys.modules, "lwlc.runtime.fused", None)  # numba missing
    assert not solver.fused_edge_pass()
    monkeypatch.undo()


def test_a_gpu_runs_the_unfused_step(monkeypatch):
    """The edge pass is a CPU kernel: on a GPU, XLA found no handler for it and every
    model with the pass on (MNIST, the MLP, the autoencoder) stopped at its first
    iteration (seen on an H200)."""
    _, solver = _solver(ROOT / "models" / "mnist_exempt.lwl", {"pixels": 64, "batch": 8})

    def on(platform):
        device = types.SimpleNamespace(platform=platform)
        monkeypatch.setattr(solver, "mesh", lambda: types.SimpleNamespace(
            devices=np.array([device], dtype=object)))

    on("cpu")
    assert solver.fused_edge_pass()
    on("gpu")
    assert not solver.fused_edge_pass()
    monkeypatch.setenv("LWLC_FUSED", "1")
    assert not solver.fused_edge_pass()
    _, mnist = _solver(ROOT / "models" / "mnist_exempt.lwl", {"pixels": 64, "batch": 8})
    assert mnist.FUSED_EDGE_PASS  # fan-in 49


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_roots_kernel_under_vmap_equals_bilinear_solve(dtype, monkeypatch):
    """bilinear_solve under jax.vmap inside fused.roots_kernel() (as lwlc.restarts traces
    its step) calls the kernel and equals the NumPy iteration row by row; outside the
    block, or with LWLC_FUSED=0, XLA's loop runs."""
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 5, 7, 4))
    sums = [np.sum(a * b, -1) for a, b in ((x, w), (x, x))]
    sums[1] = sums[1] + np.sum(w * w, -1)
    sums += [np.sum((x + w) ** 2, -1), np.sum((x - w) ** 2, -1), rng.normal(size=(5, 7))]
    want = bilinear_solve(np, *sums, 1.3, 0.5)
    args = [jnp.asarray(a, dtype) for a in sums]

    def solve(*a):
        return bilinear_solve(jnp, *a, 1.3, 0.5)

    def run():
        f = jax.jit(jax.vmap(solve))
        return f.lower(*args).as_text(), f(*args)

    with fused.roots_kernel():
        text, got = run()
    assert "lwlc_roots" in text
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for g, h in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g, np.float64), h, rtol=tol, atol=tol)
    assert "lwlc_roots" not in run()[0]
    monkeypatch.setenv("LWLC_FUSED", "0")
    with fused.roots_kernel():
        assert "lwlc_roots" not in run()[0]


def test_the_ffi_handlers_come_from_numbas_cache_in_a_new_process():
    """A handler made by a factory closed over pointer intrinsics never matched its cache
    entry: each process compiled it again (1.9 s) and added another copy (135 MB of them
    in one working copy). The second process must add nothing to the cache."""
    import subprocess

    from lwlc.runtime import fused

    code = ("from lwlc.runtime import fused\n"
            "fused.register('float32'); fused.register('float64', 'roots')\n")
    folder = Path(fused.__file__).parent / "__pycache__"

    def entries():  # the handlers' cache files, with their sizes and times
        return {p.name: (p.stat().st_size, p.stat().st_mtime_ns)
                for pattern in ("fused._edge_pass_f32-*", "fused._roots_f64-*")
                for p in folder.glob(pattern)}

    for run in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        if run == 0:
            first = entries()
    assert first and entries() == first


def test_a_step_without_the_kernels_does_not_import_them():
    """The bilinear roots asked lwlc.runtime.fused whether the kernel was wanted by
    importing it: every JAX run of a model without the fused pass imported numba (0.37 s
    of its compile). Only a caller that imported the kernels can want them."""
    import subprocess

    code = ("import sys\n"
            "import numpy as np\n"
            "from lwlc.compiler import compile_model, load_solver\n"
            "from lwlc.driver import batch_data, bind\n"
            f"c = compile_model({str(ROOT / 'models' / 'majority.lwl')!r}, {{}}, 'jax', "
            "'float32')\n"
            "s = load_solver(c.source)\n"
            "assert not s.fused_edge_pass()\n"
            "b = bind(c, 'majority:depth=2,limit=256', 'train')\n"
            "d = batch_data(c, b, np.arange(c.model.batch.size), {})\n"
            "st = s.init(s.initial_params(np.random.default_rng(0)), d)\n"
            "st, steps, _, _ = s.solve_batch(st, d, iterations=2, tolerance=0.0)\n"
            "assert steps == 2\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numba'"
            " or m == 'lwlc.runtime.fused'))\n")
    # XLA's loop (the lane kernel, numba's too, is off)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, LWLC_LANES="0"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
