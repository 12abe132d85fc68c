"""The lane kernel (lwlc/laneplan.py, lwlc/runtime/lanes.py) against the emitted NumPy
solver it stands in for: its steps against rrr_step on shipped, test and generated models,
each op against the set library's rule on random inputs (hypothesis), the reasons it gives
where it has no rule, and the JAX solver's solve_batch with and without it."""

from __future__ import annotations

import math
import platform
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwlc.compiler import compile_model, emit, load_solver
from lwlc.laneplan import (
    LaneOp,
    LaneProgram,
    MarginMode,
    NoLaneRule,
    Op,
    Side,
    lane_program,
    pack,
    starts_program,
)
from lwlc.lower import lower
from lwlc.runtime import lanes
from lwlc.sets.activation import activation_fixed_projection, activation_projection
from lwlc.sets.bilinear import bilinear_projection
from lwlc.sets.margin import class_projection
from lwlc.sets.nonneg_sphere import nonneg_sphere_projection
from lwlc.sets.sparse_nonneg import sparse_nonneg_projection
from lwlc.sets.sphere import sphere_projection

sys.path.insert(0, str(Path(__file__).parent))
from modelgen import draw_model, front_end, random_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"pixels": 16, "width": 8, "codes": 4, "batch": 12}


def _steps_agree(plan, source, seed=0, steps=3, beta=0.8):
    """Each of `steps` lane steps from rrr_step's state equals rrr_step (float64, 1e-12
    relative to the state's scale) and so does its RRR_err."""
    solver = load_solver(source)
    data = random_data(plan.model, seed)
    state = solver.init(solver.initial_params(np.random.default_rng(seed)), data)
    program = lane_program(plan)
    for _ in range(steps):
        want, want_err = solver.rrr_step(dict(state), data, beta)
        got, n, first, last = lanes.solve(program, dict(state), data, 1, 0.0, beta)
        assert n == 1 and first == last
        assert last == pytest.approx(float(want_err), rel=1e-12, abs=1e-300)
        for k in want:
            scale = 1.0 + float(np.max(np.abs(want[k]), initial=0.0))
            assert float(np.max(np.abs(got[k] - want[k]), initial=0.0)) <= 1e-12 * scale, k
        state = want


MODELS = ["majority.lwl", "majority3.lwl", "majority4.lwl", "pjax_mlp.lwl",
          "mnist_autoencoder.lwl", "binary_autoencoder.lwl", "nmf_ledm.lwl",
          "mnist_exempt.lwl", "relabel.lwl", "fpa_classifier.lwl"]


@pytest.mark.parametrize("name", MODELS + ["../tests/models/scalar_sparse.lwl",
                                           "../tests/models/mixed_operands.lwl",
                                           "../tests/models/weighted_classes.lwl"])
def test_lane_steps_equal_rrr_step_on_shipped_models(name):
    from lwlc.elaborate import load_model

    path = ROOT / "models" / name
    overrides = {k: v for k, v in SMALL.items() if k in load_model(path).params}
    c = compile_model(path, overrides, "numpy")
    _steps_agree(c.plan, c.source)


# Parts (a family over some of the items), box and nonneg sides over edges and over
# items, a constant side, an activation without b on a set with a gap and a flat piece, a
# margin without b, y fixed by the data, x's metric (scaled bilinear coordinates).
PARTS = """\
model parts
param margin = 0.3
nodes D[3], H[4], C[2]
edges E = dense(D -> H) + dense(H -> C)
batch k = a[5] + t[3]
input d[k, D]
label c[k] in C
input r[t, C]
var x[k, E] metric 2
var w[k, E] metric 2
var y[k, H | C]
var b[k, H]
set gap { x = 0 for z <= 0; x = 2 * z - 1 for z in [1, 2]; x = 3 for z >= 2.5 }
constraint inputs for k, i in D: agree x[k, out(i)] == d[k, i]
constraint hidden for k, j in H: (y[k, j] - b[k, j], agree x[k, out(j)]) in gap
constraint cls for k in a: y[k, C] in margin(c[k], margin)
constraint fit for k in t, j in C: dot(x[k, in(j)], w[k, in(j)]) == r[k, j]
constraint w1 for j in H: agree w[*, in(j)] in box(-0.5, 0.7)
constraint w2 for j in C: agree w[*, in(j)] >= 0
constraint neuron for k, j in H: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint neuron2 for k in a, j in C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j] * 2
constraint bias for j in H: agree b[*, j] == 0.25
"""


def test_lane_steps_equal_rrr_step_on_parts_sides_and_metrics(tmp_path):
    path = tmp_path / "parts.lwl"
    path.write_text(PARTS)
    c = compile_model(path, None, "numpy")
    program = lane_program(c.plan)
    codes = {(op.code, op.side) for op in program.ops}
    assert (Op.CONSENSUS_ITEMS, Side.BOX) in codes and (Op.BILINEAR, Side.FIXED_DATA) in codes
    assert {op.lanes for op in program.ops} >= {(0, 5), (5, 8), (0, 8)}
    _steps_agree(c.plan, c.source, steps=4)


@pytest.mark.parametrize("solve", ["solve ap(iterations = 9)", "solve dr()",
                                   "solve rrr(beta = 0.7, error = \"element\")",
                                   "solve rrr(beta = 0.6, lam = 0.4)",
                                   "solve dr(lam = 1.7)"])
def test_lane_steps_equal_rrr_step_for_every_method_it_runs(tmp_path, solve):
    """Alternating projections (P_B(P_A(x))), Douglas-Rachford, RRR with λ (eq. 47) and
    RRR_err per element as the emitted step computes them."""
    path = tmp_path / "m.lwl"
    path.write_text(PARTS + solve + "\n")
    c = compile_model(path, None, "numpy")
    program = lane_program(c.plan)
    assert program.method == ("ap" if "ap(" in solve else "rrr")
    assert program.lam == (float(solve.split("lam = ")[1].rstrip(")")) if "lam" in solve
                           else None)
    solver = load_solver(c.source)
    beta = 1.0 if "dr(" in solve else c.model.solver.beta
    data = random_data(c.model, 2)
    state = solver.init(solver.initial_params(np.random.default_rng(2)), data)
    for _ in range(3):
        want, want_err = solver.rrr_step(dict(state), data, beta)
        got, _, _, err = lanes.solve(lane_program(c.plan), dict(state), data, 1, 0.0, beta)
        assert err == pytest.approx(float(want_err), rel=1e-12)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)
        state = want


@pytest.mark.parametrize("name", ["mnist_exempt.lwl", "relabel.lwl", "fpa_classifier.lwl"])
def test_starts_side_by_side_rank_the_items_of_each_start_alone(name):
    """The margin modes that rank items, for starts side by side (starts_program): each
    start ranks its own items, so each start's steps are bit for bit those it takes
    alone."""
    from lwlc.elaborate import load_model

    path = ROOT / "models" / name
    overrides = {k: v for k, v in SMALL.items() if k in load_model(path).params}
    c = compile_model(path, overrides, "numpy")
    program = lane_program(c.plan)
    assert any(op.code == Op.MARGIN and op.ints[3][0] != MarginMode.PLAIN
               for op in program.ops)
    solver = load_solver(c.source)
    data = random_data(c.model, 5)
    states = [solver.init(solver.initial_params(np.random.default_rng(s)), data)
              for s in range(3)]
    starts = lanes.Starts(program, [dict(one) for one in states], data, np.float64)
    while starts.advance(7, 0.0, 0.8, 3):  # in chunks: the roots carried between them
        pass
    for r, one in enumerate(states):
        alone, steps, _, _ = lanes.solve(program, dict(one), data, 7, 0.0, 0.8)
        assert steps == starts.its[r] == 7
        for k in alone:
            np.testing.assert_array_equal(starts.state(r)[k], alone[k], err_msg=k)


@pytest.mark.parametrize("seed", [2, 12, 23, 28])
def test_starts_that_stop_leave_the_lanes_on_generated_models(seed):
    """Five starts of a generated model in 2 threads, with a tolerance that some reach
    early: Starts packs the running ones into fewer lanes as the others stop (state and
    roots moved), and every start still ends bit for bit as it does alone (iterations,
    RRR_err, state)."""
    text, _ = draw_model(seed)
    model, split = front_end(text)
    plan = lower(model, split)
    program = lane_program(plan)
    solver = load_solver(emit(plan, "numpy"))
    data = random_data(plan.model, seed)
    states = [solver.init(solver.initial_params(np.random.default_rng(s)), data)
              for s in range(5)]
    tol = float(np.median([lanes.solve(program, dict(one), data, 20, 0.0, 0.7)[3]
                           for one in states]))
    alone = [lanes.solve(program, dict(one), data, 60, tol, 0.7) for one in states]
    starts = lanes.Starts(program, [dict(one) for one in states], data, np.float64,
                          threads=2)
    packed = [starts.packed]
    while starts.advance(60, tol, 0.7, 7):
        packed.append(starts.packed)
    assert packed[0] == 5 and min(packed) < 5, packed
    for r, (want, steps, _, last) in enumerate(alone):
        assert (starts.its[r], starts.last[r]) == (steps, last), r
        got = starts.state(r)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"start {r}: {k}")


@pytest.mark.parametrize("seed", range(0, 120, 3))
def test_lane_steps_equal_rrr_step_on_generated_models(seed):
    text, _ = draw_model(seed)
    model, split = front_end(text)
    plan = lower(model, split)
    try:
        lane_program(plan)
    except NoLaneRule as e:
        assert e.reason.startswith("the lane kernel has no rule for")
        pytest.skip(str(e))
    _steps_agree(plan, emit(plan, "numpy"), seed=seed)


def test_a_run_in_chunks_is_the_run_in_one_call_bit_for_bit():
    """Kernel.solve going on from where its last call ended (a one-batch run in chunks)
    goes on with the roots' multipliers too; from another state it starts them afresh,
    as a new kernel does."""
    c = compile_model(ROOT / "models" / "majority.lwl", {"batch": 16}, "numpy")
    solver = load_solver(c.source)
    data = random_data(c.model, 6)
    state = solver.init(solver.initial_params(np.random.default_rng(6)), data)
    program = lane_program(c.plan)
    whole = lanes.Kernel(program, np.float64).solve(dict(state), data, 9, 0.0, 0.8)
    kernel = lanes.Kernel(program, np.float64)
    part, *_ = kernel.solve(dict(state), data, 4, 0.0, 0.8)
    rest = kernel.solve(part, data, 5, 0.0, 0.8)
    for k in whole[0]:
        np.testing.assert_array_equal(rest[0][k], whole[0][k], err_msg=k)
    assert rest[3] == whole[3]
    other = {k: v + 1e-3 for k, v in state.items()}
    again = kernel.solve(dict(other), data, 3, 0.0, 0.8)
    fresh = lanes.Kernel(program, np.float64).solve(dict(other), data, 3, 0.0, 0.8)
    for k in fresh[0]:
        np.testing.assert_array_equal(again[0][k], fresh[0][k], err_msg=k)


def test_reasons_name_the_family_and_its_line(tmp_path):
    text = PARTS.replace("set gap { x = 0 for z <= 0; x = 2 * z - 1 for z in [1, 2]; x = 3 "
                         "for z >= 2.5 }", "set gap { x = tanh(z) for all }")
    path = tmp_path / "curve.lwl"
    path.write_text(text)
    c = compile_model(path, None, "numpy")
    with pytest.raises(NoLaneRule) as caught:
        lane_program(c.plan)
    assert str(caught.value) == (f"{path}:15: the lane kernel has no rule for the curve "
                                 "pieces of set gap")
    jax_source = compile_model(path, None, "jax").source
    comment = jax_source.split("LANE_PROGRAM = None")[0].rsplit("# lanes.py)", 1)[1]
    assert " ".join(comment.replace("#", " ").split()) == (
        ": one op per family group, set A's, then set B's. no lane kernel: curve.lwl:15: "
        "the lane kernel has no rule for the curve pieces of set gap")


# --- each op against the set library's rule -----------------------------------------------

FLOATS = st.floats(-4.0, 4.0, allow_nan=False, width=64)


@st.composite
def affine_sets(draw):
    """Random affine piece sets: 1-4 pieces on increasing intervals (gaps allowed),
    slopes 0 among them, an unbounded first and last end."""
    count = draw(st.integers(1, 4))
    ends = sorted(draw(st.lists(st.floats(-3.0, 3.0, width=32), min_size=2 * count - 1,
                                max_size=2 * count - 1)))
    ends = [-math.inf, *ends, math.inf]
    pieces = []
    for i in range(count):
        lo, hi = ends[2 * i], ends[2 * i + 1]
        a = draw(st.sampled_from([0.0, 1.0, -0.5, 2.0]))
        pieces.append(("affine", lo, hi, a, draw(st.floats(-1.0, 1.0, width=32))))
    return tuple(pieces)


def _packed(op: LaneOp, V: np.ndarray):
    program = LaneProgram({"v": (0, V.shape[0])}, (np.ones(V.shape[0]),), {}, {}, (op,),
                          V.shape[1], float(V.shape[1]))
    return pack(program)


def _run_op(op: LaneOp, V: np.ndarray, data=None, labels=None, roots=None):
    """One op in place on the lane array V (roots: the bilinear roots' last multipliers,
    [n, K]; none by default)."""
    program = LaneProgram({"v": (0, V.shape[0])}, (np.ones(V.shape[0]),), {}, {}, (op,),
                          V.shape[1], float(V.shape[1]))
    ops, n_a, ix, fx, widest = pack(program)
    K = V.shape[1]
    data = np.zeros((1, K)) if data is None else data
    labels = np.zeros((1, K), np.int64) if labels is None else labels
    roots = lanes.no_roots(ops, K, V.dtype) if roots is None else roots
    work = lanes._workspace(V, ops, n_a, ix, widest, roots, np.nan, 1)
    A, S, _, scratch, wide, flags, vec, err, live, _, _, _, own_op = work
    off = (A, S, err, np.ones(V.shape[0]), live, own_op, V.dtype.type(1.0), True, False)
    lanes._project(ops, 0, 1, V, data, labels, ix, fx, scratch, wide, flags, vec, roots,
                   off)


@settings(max_examples=60, deadline=None)
@given(affine_sets(), st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_activation_op_is_activation_projection(pieces, seed, with_b, fixed):
    """Rows 0-5: x edges of 3 nodes (2 each), 6-8: y, 9-11: b; 7 items."""
    rng = np.random.default_rng(seed)
    K, n, m = 7, 3, 2
    V = rng.uniform(-3, 3, size=(12, K))
    gy, gb, gx = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 3.0]), m * 1.5
    table = [v for p in pieces for v in p[1:]]
    brows = np.arange(9, 12) if with_b else np.full(n, -1)
    ints = [np.arange(6).reshape(n, m), np.arange(6, 9), brows]
    floats = [gy, gb, gx, len(pieces), table]
    data = rng.uniform(-3, 3, size=(n, K))
    if fixed:
        ints.append(np.arange(n))
    op = LaneOp("A", Op.ACTIVATION, (0, K), n, m, Side.FIXED_DATA if fixed else Side.NONE,
                tuple(np.asarray(a) for a in ints), tuple(np.asarray(a, float) for a in floats),
                "")
    before = V.copy()
    _run_op(op, V, data)
    y, b = before[6:9].T, before[9:12].T
    z = y - b if with_b else y
    gz = gy * gb / (gy + gb) if with_b else gy
    if fixed:
        xnew = data.T
        znew = activation_fixed_projection(np, z, xnew, pieces)
    else:
        xbar = before[0:6].T.reshape(K, n, m).mean(axis=-1)
        znew, xnew = activation_projection(np, z, xbar, gz, gx, pieces)
    np.testing.assert_allclose(V[0:6].T.reshape(K, n, m), np.repeat(xnew[..., None], m, -1),
                               rtol=1e-13, atol=1e-13)
    if with_b:
        np.testing.assert_allclose(V[6:9].T, y + (znew - z) * gb / (gy + gb), rtol=1e-13,
                                   atol=1e-13)
        np.testing.assert_allclose(V[9:12].T, b - (znew - z) * gy / (gy + gb), rtol=1e-13,
                                   atol=1e-13)
    else:
        np.testing.assert_allclose(V[6:9].T, znew, rtol=1e-13, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.booleans(), st.booleans(),
       st.sampled_from(["none", "random", "near", "far"]))
def test_bilinear_op_is_bilinear_projection_from_any_last_multiplier(seed, m, y_fixed,
                                                                    scaled, last):
    """The bilinear op (eq. 51-54) is bilinear_projection whatever multiplier u its
    Newton iteration starts from (the lane's root at the last step: none, anywhere in
    (-1, 1), next to the root, or across it), in float64 to 1e-12; it leaves each lane's
    new multiplier in `roots`."""
    rng = np.random.default_rng(seed)
    n, K = 3, 7
    omega, gx, gw = 0.8, (2.0 if scaled else 1.0), (0.5 if scaled else 1.0)
    V = rng.normal(size=(2 * n * m + n, K)) * rng.choice([0.01, 1.0, 30.0])
    y = rng.normal(size=(n, K))
    ginv = np.zeros(n) if y_fixed else rng.uniform(0.5, 2.0, n)
    if not y_fixed:
        V[2 * n * m:] = y
    x_rows, w_rows = np.arange(n * m), np.arange(n * m, 2 * n * m)
    y_rows = np.arange(n) if y_fixed else np.arange(2 * n * m, 2 * n * m + n)
    op = LaneOp("B", Op.BILINEAR, (0, K), n, m,
                Side.FIXED_DATA if y_fixed else Side.NONE, (x_rows, w_rows, y_rows),
                (ginv, np.asarray(omega * math.sqrt(gx * gw)),
                 np.asarray(math.sqrt(gx)), np.asarray(math.sqrt(gw))), "")
    before = V.copy()
    cold = np.full((n, K), np.nan)
    _run_op(op, V, data=y if y_fixed else None, roots=cold)
    u = cold.copy()
    assert np.all(np.abs(u) < 1)  # every lane left its multiplier
    start = {"none": np.full((n, K), np.nan), "random": rng.uniform(-1, 1, (n, K)),
             "near": u * (1 + 1e-6 * rng.normal(size=(n, K))), "far": -u}[last]
    warm = before.copy()
    _run_op(op, warm, data=y if y_fixed else None, roots=start)
    np.testing.assert_allclose(warm, V, rtol=1e-12, atol=1e-12)
    # both against the set library, in scaled coordinates (eq. 27)
    x = (before[x_rows].T * math.sqrt(gx)).reshape(K, n, m)
    w = (before[w_rows].T * math.sqrt(gw)).reshape(K, n, m)
    xn, wn, yn = bilinear_projection(np, x, w, y.T, omega * math.sqrt(gx * gw), ginv)
    scale = 1.0 + np.max(np.abs(before))
    for got, want in ((V[x_rows].T.reshape(K, n, m) * math.sqrt(gx), xn),
                      (V[w_rows].T.reshape(K, n, m) * math.sqrt(gw), wn)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * scale)
    if not y_fixed:
        np.testing.assert_allclose(V[2 * n * m:].T, yn, rtol=1e-10, atol=1e-10 * scale)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.booleans(), st.booleans(),
       st.booleans(), st.booleans())
def test_a_fused_bilinear_op_is_the_op_on_the_reflection_then_the_update(
        seed, m, y_fixed, scaled, at_pole, frozen):
    """RRR's step lets a bilinear op of set B over every lane read its rows' reflection
    2 A - S from A and S and update them itself (_owned_rows): the same as the op on the
    reflection followed by the step's update d = P_B - A, S += beta d (frozen lanes
    kept), A = S, RRR_err += g d^2, bit for bit in the state; with a node at a pole."""
    rng = np.random.default_rng(seed)
    n, K = 3, 40  # (rows of 320 bytes: _owned_rows's least is 256)
    rows = 2 * n * m + n
    A = rng.normal(size=(rows, K))
    S = rng.normal(size=(rows, K))
    y = rng.normal(size=(n, K))
    x_rows, w_rows = np.arange(n * m), np.arange(n * m, 2 * n * m)
    at_pole = at_pole and not scaled
    if at_pole:  # node 0: x = w in the reflection, and y far below x . w
        A[w_rows[:m]], S[w_rows[:m]] = A[x_rows[:m]], S[x_rows[:m]]
        A[2 * n * m], S[2 * n * m], y[0] = -50.0, 0.0, -100.0
    y_rows = np.arange(n) if y_fixed else np.arange(2 * n * m, rows)
    gx, gw = (2.0, 0.5) if scaled else (1.0, 1.0)
    op = LaneOp("B", Op.BILINEAR, (0, K), n, m,
                Side.FIXED_DATA if y_fixed else Side.NONE, (x_rows, w_rows, y_rows),
                (rng.uniform(0.5, 2.0, n), np.asarray(0.8 * math.sqrt(gx * gw)),
                 np.asarray(math.sqrt(gx)), np.asarray(math.sqrt(gw))), "")
    data = y if y_fixed else np.zeros((1, K))
    metric = rng.uniform(0.5, 2.0, rows)
    live = (rng.random(K) < 0.5).astype(np.int8) if frozen else np.ones(K, np.int8)
    beta = 0.7
    # the op on the reflection, then the update
    P = 2.0 * A - S
    _run_op(op, P, data=data)
    d = P - A
    want_S = np.where(live != 0, S + beta * d, S)
    owned = (x_rows, w_rows) if y_fixed else (x_rows, w_rows, y_rows)
    owned = np.concatenate(owned)
    want_err = (metric[owned, None] * d[owned] ** 2).sum(axis=0)
    if at_pole:
        assert not np.allclose(P[x_rows[:m]], P[w_rows[:m]])  # the pole breaks x = w
    # fused
    ops, n_a, ix, fx, widest = _packed(op, A)
    roots = lanes.no_roots(ops, K, A.dtype)
    V = np.zeros_like(A)
    work = lanes._workspace(V, ops, n_a, ix, widest, roots, np.nan, 1)
    _, _, _, scratch, wide, flags, vec, err, _, _, _, own, own_op = work
    assert own_op[0] == 1 and own.sum() == owned.size
    err[:] = 0.0
    up = (A, S, err, metric, live, own_op, 0.7, not frozen, True)
    lanes._project(ops, 0, 1, V, data, np.zeros((1, K), np.int64), ix, fx, scratch, wide,
                   flags, vec, roots, up)
    np.testing.assert_array_equal(S[owned], want_S[owned])
    np.testing.assert_array_equal(A[owned], want_S[owned])
    np.testing.assert_allclose(err, want_err, rtol=1e-13)
    if not at_pole:  # V left alone (the pole's rows are projected in it)
        assert not V.any()
    else:
        np.testing.assert_array_equal(V[x_rows[:m]], P[x_rows[:m]])


@pytest.mark.parametrize("parts", ["a[5] + t[3]", "a[25] + t[15]"])
def test_only_bilinear_ops_of_set_b_over_every_lane_update_their_own_rows(tmp_path, parts):
    """_owned_rows: the bilinear ops of set B whose lanes are the whole batch, where a
    row holds 256 bytes or more (40 float64 lanes; not 8); an op over a batch part
    leaves its rows to the step's passes."""
    path = tmp_path / "parts.lwl"
    path.write_text(PARTS.replace("a[5] + t[3]", parts))
    c = compile_model(path, None, "numpy")
    program = lane_program(c.plan)
    ops, n_a, ix, fx, widest = pack(program)
    S = np.zeros((program.n_rows, program.batch))
    *_, own, own_op = lanes._workspace(S, ops, n_a, ix, widest,
                                       lanes.no_roots(ops, program.batch, S.dtype), np.nan, 1)
    wide = program.batch * 8 >= 256
    for o, op in enumerate(program.ops):
        whole = op.lanes == (0, program.batch)
        assert own_op[o] == (wide and op.code == Op.BILINEAR and op.set == "B" and whole)
    assert (0 < own.sum() < own.size) if wide else own.sum() == 0
    # 8 starts side by side: the rule is per start (a start's RRR_err then sums in the
    # same order whatever starts share its lanes)
    many = starts_program(program, 8)
    ops8, n_a8, ix8, _, widest8 = pack(many)
    S8 = np.zeros((many.n_rows, many.batch))
    *_, own8, own_op8 = lanes._workspace(S8, ops8, n_a8, ix8, widest8,
                                         lanes.no_roots(ops8, many.batch, S8.dtype), np.nan, 8)
    assert many.batch * 8 >= 256 and list(own_op8) == list(own_op)
    if wide:  # and the step with them is rrr_step's
        _steps_agree(c.plan, c.source, steps=3)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 5), FLOATS.filter(lambda v: v >= 0),
       st.sampled_from(list(MarginMode)), st.integers(0, 4), st.booleans())
def test_margin_op_is_class_projection(seed, C, margin, mode, count, with_b):
    """The margin op in every mode, with and without b: class_projection in the metric of
    z (the ranking modes' distances weighted gy gb / (gy + gb), or gy), y and b moved with
    z; equal z on some items (ties ranked by the lower item), a NaN on one."""
    rng = np.random.default_rng(seed)
    K = 9
    V = rng.uniform(-2, 2, size=(2 * C, K))
    if seed % 4 == 0:
        V[:, 3] = V[:, 5]  # two items alike: a tie in the ranking
    if seed % 6 == 1:
        V[0, 2] = np.nan  # an item gone NaN: ranked last, left as it is
    labels = rng.integers(0, C, size=(1, K))
    gy, gb = rng.uniform(0.5, 2, C), rng.uniform(0.5, 2, C)
    allow = int(rng.integers(0, C))
    brows = np.arange(C, 2 * C) if with_b else np.full(C, -1)
    op = LaneOp("A", Op.MARGIN, (0, K), C, 1, Side.NONE,
                (np.arange(C), brows, np.zeros(1, np.int64),
                 np.asarray([int(mode), count, allow])),
                (np.asarray(margin), gy, gb if with_b else np.zeros(C)), "")
    before = V.copy()
    _run_op(op, V, labels=labels)
    y = before[:C].T
    b = before[C:].T if with_b else np.zeros_like(y)
    weight = gy * gb / (gy + gb) if with_b else gy
    znew = class_projection(np, y - b, labels[0], margin, mode.name.lower(), count, allow,
                            weight)
    dz = znew - (y - b)
    if with_b:
        np.testing.assert_allclose(V[:C].T, y + dz * gb / (gy + gb), rtol=1e-13,
                                   atol=1e-13)
        np.testing.assert_allclose(V[C:].T, b - dz * gy / (gy + gb), rtol=1e-13,
                                   atol=1e-13)
    else:
        np.testing.assert_allclose(V[:C].T, znew, rtol=1e-13, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1),
       st.sampled_from(["sphere", "nonneg_sphere", "box", "nonneg", "const", "sparse"]),
       st.integers(1, 4))
def test_consensus_items_op_is_mean_then_side(seed, side, m):
    rng = np.random.default_rng(seed)
    K, n = 6, 3
    V = rng.uniform(-2, 2, size=(n * m, K))
    if seed % 5 == 0:
        V[:m] = 0.0  # a zero mean: the sphere's e_0
    if seed % 7 == 0:
        V[m:2 * m] = -np.abs(V[m:2 * m])  # no positive entry: nonneg_sphere's corner
    if seed % 3 == 0:
        V[2 * m:] = V[2 * m:2 * m + 1]  # equal entries: sparse_nonneg's ties
    code, floats = {"sphere": (Side.SPHERE, [1.5]), "box": (Side.BOX, [-0.2, 0.4]),
                    "nonneg_sphere": (Side.NONNEG_SPHERE, [1.5]),
                    "sparse": (Side.SPARSE_NONNEG, [2]),
                    "nonneg": (Side.NONNEG, []), "const": (Side.FIXED_CONST, [0.7])}[side]
    op = LaneOp("B", Op.CONSENSUS_ITEMS, (1, K), n, m, code, (np.arange(n * m).reshape(n, m),),
                tuple(np.asarray(f) for f in floats), "")
    before = V.copy()
    _run_op(op, V)
    mean = before[:, 1:].mean(axis=1).reshape(n, m)
    want = {"sphere": lambda v: sphere_projection(np, v, 1.5),
            "nonneg_sphere": lambda v: nonneg_sphere_projection(np, v, 1.5),
            "sparse": lambda v: sparse_nonneg_projection(np, v, 2),
            "box": lambda v: np.clip(v, -0.2, 0.4), "nonneg": lambda v: np.maximum(v, 0.0),
            "const": lambda v: np.full_like(v, 0.7)}[side](mean)
    np.testing.assert_allclose(V[:, 1:], np.repeat(want.reshape(-1, 1), K - 1, 1),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(V[:, 0], before[:, 0])  # lane 0 is not in its items


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the flush is x86's (MXCSR)")
def test_a_slow_first_call_of_the_kernel_says_that_numba_is_compiling(capsys):
    """numba's compile of the kernel (once per dtype after an install) takes about a
    minute: a note says so where the first call takes longer than a few seconds."""
    import time

    with lanes._compile_note("loop", np.float32, after=0.05):
        time.sleep(0.5)
    err = capsys.readouterr().err
    assert "numba is compiling the lane kernel's loop for float32" in err
    with lanes._compile_note("loop", np.float64, after=5.0):
        pass
    time.sleep(0.1)
    assert capsys.readouterr().err == ""


def test_the_kernel_flushes_subnormals_and_leaves_the_thread_as_it_was():
    """As XLA's CPU code, the kernel runs with subnormals flushed to zero (a float32 run
    slowed 1.8x as its state decayed through them), and the thread's NumPy keeps IEEE
    subnormals after it returns."""
    tiny = np.float32(1e-39)  # a float32 subnormal
    op = LaneOp("A", Op.CONSENSUS_ITEMS, (0, 4), 1, 1, Side.NONE, (np.zeros((1, 1), np.int64),),
                (), "")
    program = LaneProgram({"v": (0, 1)}, (np.ones(1),), {}, {}, (op,), 4, 4.0)
    state = {"v": np.full((4, 1), tiny, dtype=np.float32)}
    got, steps, _, _ = lanes.solve(program, state, {}, 1, 0.0, 0.5, np.float32)
    assert steps == 1 and np.all(got["v"] == 0.0)  # read as 0 (DAZ), not kept
    assert np.float32(1e-38) / np.float32(100) != 0.0
    assert float(np.multiply(state["v"], np.float32(0.5))[0, 0]) > 0.0


# --- the JAX solver's solve_batch ----------------------------------------------------------


def test_solve_batch_by_the_lane_kernel_stops_where_xla_stops(monkeypatch):
    pytest.importorskip("jax")
    c = compile_model(ROOT / "models" / "majority.lwl", {"batch": 16}, "jax")
    solver = load_solver(c.source)
    data = random_data(c.model, 3)
    state = {k: np.asarray(v) for k, v in
             solver.init(solver.initial_params(np.random.default_rng(3)), data).items()}
    monkeypatch.setenv("LWLC_LANES", "0")
    *_, err_15 = solver.solve_batch(dict(state), data, iterations=15, tolerance=0.0)
    out = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("LWLC_LANES", flag)
        assert solver.lane_kernel() is (flag == "1")
        out[flag] = solver.solve_batch(dict(state), data, iterations=40,
                                       tolerance=err_15 * (1 + 1e-6))
    (s0, n0, f0, l0), (s1, n1, f1, l1) = out["0"], out["1"]
    assert n0 == n1 <= 15
    assert (f0, l0) == pytest.approx((f1, l1), rel=1e-11)
    for k in s0:
        np.testing.assert_allclose(np.asarray(s1[k]), np.asarray(s0[k]), rtol=1e-10,
                                   atol=1e-12)


def test_solve_batch_by_the_lane_kernel_runs_rrr_with_lambda(tmp_path, monkeypatch):
    """RRR with λ (eq. 47) in the lane kernel from the emitted module's table: the steps of
    XLA's loop."""
    pytest.importorskip("jax")
    path = tmp_path / "m.lwl"
    path.write_text(PARTS + "solve rrr(beta = 0.6, lam = 0.4)\n")
    c = compile_model(path, None, "jax")
    solver = load_solver(c.source)
    assert solver.LANE_PROGRAM["lam"] == 0.4
    data = random_data(c.model, 4)
    state = {k: np.asarray(v) for k, v in
             solver.init(solver.initial_params(np.random.default_rng(4)), data).items()}
    out = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("LWLC_LANES", flag)
        assert solver.lane_kernel() is (flag == "1")
        out[flag] = solver.solve_batch(dict(state), data, iterations=12, tolerance=0.0)
    (s0, n0, f0, l0), (s1, n1, f1, l1) = out["0"], out["1"]
    assert n0 == n1 == 12 and (f0, l0) == pytest.approx((f1, l1), rel=1e-10)
    for k in s0:
        np.testing.assert_allclose(np.asarray(s1[k]), np.asarray(s0[k]), rtol=1e-9,
                                   atol=1e-11)


def test_loading_the_kernel_counts_as_compile_time_not_as_the_batch(monkeypatch):
    """The first lane_kernel() imports numba and the kernel's module (0.2-0.3 s, which a
    run's seconds and WM/s counted): its time goes to LAST_COMPILE_SECONDS, once."""
    pytest.importorskip("jax")
    monkeypatch.setenv("LWLC_LANES", "1")
    solver = load_solver(compile_model(ROOT / "models" / "majority.lwl", {"batch": 16},
                                       "jax").source)
    monkeypatch.setattr(solver, "_LANES_ASKED", False)  # (as a new process's module)
    monkeypatch.setattr(solver, "LAST_COMPILE_SECONDS", 0.0)
    assert solver.lane_kernel()
    first = solver.LAST_COMPILE_SECONDS
    assert first > 0.0
    assert solver.lane_kernel() and solver.LAST_COMPILE_SECONDS == first


@pytest.mark.parametrize("switch, loop", [("1", "lanes"), ("0", "xla")])
def test_a_run_says_which_loop_ran(tmp_path, monkeypatch, switch, loop):
    pytest.importorskip("jax")
    from lwlc.driver import TrainConfig, train

    monkeypatch.setenv("LWLC_LANES", switch)
    summary = train(TrainConfig(model=str(ROOT / "models" / "majority.lwl"),
                                data="majority:inputs=13,depth=2,seed=1,limit=64",
                                overrides={"batch": 16}, backend="jax", epochs=2,
                                out=str(tmp_path / "run"), progress=False, quiet=True))
    assert summary["loop"] == loop
    assert np.isfinite(summary["rrr_err"])


# majority with 40 inputs: its neurons' mean fan-in is 39
WIDE = (ROOT / "models" / "majority.lwl").read_text().replace("nodes D[13]", "nodes D[40]")


def test_the_kernel_is_the_default_for_narrow_neurons_only(tmp_path, monkeypatch):
    """A small state whose neurons' mean fan-in is 24 or more keeps XLA's loop (with the
    fused edge pass, which is faster there: 784-20-10 at K 16 took 0.35 ms a step against
    1.5 ms in the lane kernel); majority's (13.9) runs the kernel."""
    assert "nodes D[40]" in WIDE
    pytest.importorskip("jax")
    monkeypatch.delenv("LWLC_LANES", raising=False)
    path = tmp_path / "wide.lwl"
    path.write_text(WIDE)
    wide = load_solver(compile_model(path, None, "jax").source)
    assert wide.LANE_PROGRAM is not None and wide.LANE_KERNEL is False
    assert not wide.lane_kernel()
    narrow = load_solver(compile_model(ROOT / "models" / "majority.lwl", None, "jax").source)
    assert narrow.LANE_KERNEL is True and narrow.lane_kernel()
