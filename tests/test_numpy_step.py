"""The NumPy RRR step in the arrays it owns (lwlc/runtime/rrr.py, lwlc/runtime/state.py):
set A's consensus writes read as values (P_A never formed), set B's bilinear rows projected a
block of items at a time into the reflection (lwlc/sets/bilinear.py). The same numbers as the
step written out plainly (eq. 45), in less memory."""

from __future__ import annotations

import textwrap
import tracemalloc

import numpy as np
import pytest

from lwlc.compiler import compile_model, load_solver
from lwlc.driver import batch_data, bind, data_part, own_inputs
from lwlc.runtime import state as runtime_state
from lwlc.sets import bilinear

# a 784-20-10 classifier on generated data: the inputs' consensus is read column-wise (a
# transposed reshape of x), the hidden layer's row-wise; x and w are 8 MB each at 64 items
MODEL = """\
    model step_check
    param omega = 2.0
    param items = 64
    nodes D[784]
    nodes H1[20]
    nodes C[10]
    group H = H1
    edges E = dense(D -> H1) + dense(H1 -> C)
    batch k[items]
    input d[k, D]
    label c[k] in C
    var x[k, E]
    var w[k, E]
    var y[k, H | C] metric outdeg on H, 1.0 on C
    var b[k, H | C] metric outdeg on H, 1.0 on C
    constraint inputs  for k, i in D:      agree x[k, out(i)] == d[k, i]
    constraint hidden  for k, i in H:      (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
    constraint classes for k:              y[k, C] - b[k, C] in margin(c[k], 0.7) exempt 2%
    constraint weights for j in H | C:     agree w[*, in(j)] in sphere(omega)
    constraint neuron  for k, j in H | C:  dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
    constraint bias    for j in H | C:     agree b[*, j]
    data train = "blobs:inputs=784,classes=10,items=200,spread=0.3"
    solve rrr(beta = 1.0, iterations = 5, tolerance = 1e-9, epochs = 1, seed = 0)
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("step") / "step_check.lwl"
    path.write_text(textwrap.dedent(MODEL))
    c = compile_model(str(path), {}, "numpy")
    bound = bind(c, c.model.data["train"], "train")
    data = batch_data(c, bound, np.arange(data_part(c.model).size), own_inputs(c))
    return c, data


def _plain_step(solver, state, data, beta):
    """RRR written out (eq. 45): P_A formed, the reflection, P_B of it."""
    pa = solver.project_A(state, data)
    reflected = {k: 2.0 * pa[k] - state[k] for k in state}
    pb = solver.project_B(reflected, data)
    delta = {k: pb[k] - pa[k] for k in state}
    K = next(iter(state.values())).shape[0]
    new = {k: state[k] + beta * delta[k] for k in state}
    return new, solver.rrr_error(delta, solver.METRIC, K)


@pytest.mark.parametrize("lazy_bytes, beta", [(0, 1.0), (None, 1.0), (None, 0.7),
                                              (1 << 40, 1.0)])
def test_the_numpy_step_is_rrr_written_out_bit_for_bit(model, lazy_bytes, beta, monkeypatch):
    c, data = model
    solver = load_solver(c.source)
    if lazy_bytes is not None:  # 0: every variable's writes read as values; 2^40: none
        monkeypatch.setattr(solver, "LAZY_BYTES", lazy_bytes)
    state = solver.init(solver.initial_params(np.random.default_rng(3)), data)
    plain = {k: v.copy() for k, v in state.items()}
    for _ in range(3):
        state, err = solver.rrr_step(state, data, beta)
        plain, plain_err = _plain_step(solver, plain, data, beta)
        # RRR_err is summed a block of items at a time: the same to rounding
        assert float(err) == pytest.approx(float(plain_err), rel=1e-14, abs=0)
        for k in state:
            assert np.array_equal(state[k], plain[k]), k


def test_a_numpy_step_allocates_about_one_state(model):
    """The step's new arrays: the reflection, which becomes the new state, and blocks of
    rows; before, P_A, the reflection, s, d and x' of the bilinear rows: 3.5 states."""
    c, data = model
    solver = load_solver(c.source)
    state = solver.init(solver.initial_params(np.random.default_rng(3)), data)
    state, _ = solver.rrr_step(state, data)
    size = sum(v.nbytes for v in state.values())
    tracemalloc.start()
    try:
        state, _ = solver.rrr_step(state, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * size, f"{peak / size:.2f} states"


def _broadcast_cases():
    rng = np.random.default_rng(0)
    K = 3
    node = rng.standard_normal((K, 4))  # a node's value on its 5 edges, read column-wise
    weight = rng.standard_normal((2, 6))  # a weight's value for every item
    return [
        (runtime_state._spread(node[..., None], (K, 4, 5)).transpose(0, 2, 1).reshape(-1, 20),
         np.broadcast_to(node[..., None], (K, 4, 5)).transpose(0, 2, 1).reshape(-1, 20)),
        (runtime_state._spread(weight, (K, 2, 6)).reshape(-1, 12),
         np.broadcast_to(weight, (K, 2, 6)).reshape(-1, 12)),
    ]


@pytest.mark.parametrize("case", [0, 1])
def test_a_spread_is_written_as_the_broadcast_it_stands_for(case, monkeypatch):
    value, dense = _broadcast_cases()[case]
    assert np.array_equal(value.dense(), dense) and value.shape == dense.shape
    monkeypatch.setattr(runtime_state, "LAZY_BYTES", 0)  # through a view of the block
    for index in [(slice(None), slice(3, 3 + dense.shape[1])),
                  (slice(None), np.arange(3, 3 + dense.shape[1])[::-1])]:  # a gather
        a, want = np.zeros((3, 30)), np.zeros((3, 30))
        want[index] = dense
        assert np.array_equal(runtime_state._assign(a, index, value), want)
    block = value.layout(np.zeros((3, 30)), (slice(None), np.arange(dense.shape[1])))
    assert block is None  # a gather has no view to write through


def _rows(rng, shape, dtype=np.float64):
    x, w = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    x[0, 1] = w[0, 1] = 0.0  # a row at a pole (x = w = 0): coefficients of its own
    return x, w


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bilinear_rows_in_blocks_equal_the_rows_whole(monkeypatch, dtype):
    rng = np.random.default_rng(5)
    x, w = _rows(rng, (40, 20, 400), dtype)  # 2.6 MB in float64: blocks of 256 kB
    y = rng.standard_normal((40, 20)).astype(dtype)
    assert len(bilinear._item_blocks(x)) > 1
    blocks = bilinear.bilinear_projection(np, x, w, y, 2.0, 0.5)
    monkeypatch.setattr(bilinear._item_blocks, "__defaults__", (1 << 40,))
    whole = bilinear.bilinear_projection(np, x, w, y, 2.0, 0.5)
    for a, b in zip(blocks, whole, strict=True):
        assert a.dtype == dtype and np.array_equal(a, b)


def test_bilinear_rows_overwrite_their_own_arrays_only():
    rng = np.random.default_rng(6)
    x, w = _rows(rng, (40, 20, 400))
    y = rng.standard_normal((40, 20))
    want = bilinear.bilinear_projection(np, x.copy(), w.copy(), y, 2.0, 0.5)
    xs, ws = x.copy(), w.copy()
    got = bilinear.bilinear_projection(np, xs, ws, y, 2.0, 0.5, True)
    assert got[0] is xs and got[1] is ws  # written into the caller's arrays
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    # a broadcast operand (one w for every item) is no array of the rows' own: not written
    w1 = rng.standard_normal((20, 400))
    x2 = x.copy()
    got = bilinear.bilinear_projection(np, x2, w1, y, 2.0, 0.5, True)
    assert np.array_equal(x2, x) and got[1].shape == x.shape
