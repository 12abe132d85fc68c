"""`lwlc test MODEL`: the property checks run on the projections as emitted into a model's
NumPy and JAX solvers (lwlc/modeltest.py), and they catch a broken emitted projection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lwlc.compiler
from lwlc import modeltest
from lwlc.cli import app
from lwlc.compiler import compile_model, load_solver
from lwlc.kinds import margin

ROOT = Path(__file__).resolve().parent.parent
MAJORITY = ROOT / "models" / "majority.lwl"
FAMILY_PROPERTIES = {"in_set", "untouched", "idempotent", "nearest", "numpy_jax"}

SMOOTH_PARTS = """\
model smooth_parts "smooth user curves on a batch with parts"
param omega = 2.0
set soft { x = 0 for z <= 0; x = log(1 + exp(z)) - log(2) for z >= 0 }
nodes D[4]
nodes Z[2]
group N = D | Z
edges E = dense(D -> Z) + dense(Z -> D)
batch k = data[5] + code[3]
input d[data, D]
input s[code, Z]
var x[k, E]
var w[k, E]
var y[k, N] metric outdeg
var b[k, N] metric outdeg
constraint data_in   for k in data, i in D:     (y[k, i] - b[k, i], agree x[k, out(i)] == d[k, i]) in soft
constraint data_rest for k in data, i in N - D: (y[k, i] - b[k, i], agree x[k, out(i)]) in tanh_act
constraint code_in   for k in code, i in Z:     (y[k, i] - b[k, i], agree x[k, out(i)] == s[k, i]) in tanh_act
constraint code_rest for k in code, i in N - Z: (y[k, i] - b[k, i], agree x[k, out(i)]) in soft
constraint weights   for j in N:                agree w[*, in(j)] in sphere(omega)
constraint neuron    for k, j in N:             dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
constraint bias      for j in N:                agree b[*, j]
"""  # noqa: E501


def failures(results):
    return [(r.family, r.property, r.detail) for r in results if not r.ok]


def test_majority_passes_on_its_emitted_solvers():
    results = modeltest.test_model(MAJORITY, None, examples=6)
    assert failures(results) == []
    by_family: dict[str, set[str]] = {}
    for r in results:
        by_family.setdefault(r.family, set()).add(r.property)
        assert r.examples > 0
    for name in ("inputs", "hidden", "classes", "weights", "neuron", "bias"):
        assert FAMILY_PROPERTIES <= by_family[name], name
    assert "nonexpansive" in by_family["bias"] and "nonexpansive" in by_family["inputs"]
    assert "nonexpansive" not in by_family["neuron"]  # not convex
    assert {"metric", "finite", "numpy_jax", "numpy_lanes"} <= by_family["(model)"]


def test_a_lane_kernel_that_differs_from_numpy_fails_numpy_lanes(monkeypatch):
    """The lane kernel's step (lwlc/runtime/lanes.py) is checked against NumPy's: a kernel
    whose bias op leaves b as it is fails, and only that check."""
    compiled = compile_model(MAJORITY, {"batch": 8}, "numpy")
    solver = load_solver(compiled.source)
    jax_solver = load_solver(compile_model(MAJORITY, {"batch": 8}, "jax").source)
    table = dict(jax_solver.LANE_PROGRAM)
    table["ops"] = tuple(op for op in table["ops"] if op[0] == "A" or op[1] != "CONSENSUS_ITEMS")
    monkeypatch.setattr(jax_solver, "LANE_PROGRAM", table)
    results = modeltest.check_solvers(compiled, solver, jax_solver, examples=2)
    assert {(f, p) for f, p, _ in failures(results)} == {("(model)", "numpy_lanes")}
    assert "NumPy and the lane kernel differ by" in failures(results)[0][2]


def test_small_batch_shrinks_only_what_the_caller_leaves_open():
    assert modeltest.small_batch(MAJORITY, None) == {"batch": 8.0}
    assert modeltest.small_batch(MAJORITY, {"batch": 32}) == {"batch": 32}
    assert modeltest.small_batch(MAJORITY, {"k": 4}) == {"k": 4}
    # 0.5% of the batch stays at least one exempted item
    exempt = modeltest.small_batch(ROOT / "models" / "mnist_exempt.lwl", {"pixels": 16})
    assert exempt["batch"] >= 100


def test_smooth_user_curve_and_batch_parts_pass(tmp_path):
    path = tmp_path / "smooth_parts.lwl"
    path.write_text(SMOOTH_PARTS)
    with np.errstate(over="ignore", invalid="ignore"):
        results = modeltest.test_model(path, None, examples=6, seed=1)
    assert failures(results) == []
    names = {r.family for r in results}
    assert {"data_in", "data_rest", "code_in", "code_rest", "neuron"} <= names


def _bias_shifted(model_path, shift):
    """A loaded NumPy solver whose `bias` projection writes the consensus plus `shift`."""
    compiled = compile_model(model_path, {"batch": 8}, "numpy")
    solver = load_solver(compiled.source, "modeltest_bad")
    real, writes, which = solver.FAMILIES["bias"]

    def bad(src, out, data):
        real(src, out, data)
        out["__writes__"]["b"] = [(i, np.asarray(v) + shift) for i, v in out["__writes__"]["b"]]

    return compiled, solver, (bad, writes, which)


def test_a_wrong_emitted_projection_fails_naming_family_and_property(monkeypatch):
    compiled, solver, bad = _bias_shifted(MAJORITY, 0.1)
    jax_solver = load_solver(compile_model(MAJORITY, {"batch": 8}, "jax").source)
    monkeypatch.setitem(solver.FAMILIES, "bias", bad)
    results = modeltest.check_solvers(compiled, solver, jax_solver, examples=4)
    failed = {(f, p) for f, p, _ in failures(results)}
    assert ("bias", "idempotent") in failed and ("bias", "numpy_jax") in failed
    assert ("bias", "in_set") not in failed  # still a consensus: only the value is wrong
    assert all(f in ("bias", "(model)") for f, _ in failed)


def test_a_wrong_metric_weight_fails_nearest():
    """A subtle emitter bug: the activation's replica weight gx off by 25% (in the set, and
    idempotent, but not the nearest point)."""
    def tamper(backend, source):
        if backend != "numpy":
            return source
        assert "gx = 2.0" in source
        return source.replace("gx = 2.0", "gx = 2.5", 1)

    results = modeltest.test_model(MAJORITY, None, examples=4, tamper=tamper)
    failed = {(f, p) for f, p, _ in failures(results)}
    assert ("hidden", "nearest") in failed
    assert ("hidden", "in_set") not in failed and ("hidden", "idempotent") not in failed


def test_cli_exits_1_and_names_the_family_and_property(monkeypatch):
    real_emit = lwlc.compiler.emit

    def emit(plan, backend, dtype="float64", command=None):
        source = real_emit(plan, backend, dtype, command)
        if backend == "numpy":  # the class projection reads the wrong margin
            assert '0.1, "plain"' in source
            source = source.replace('0.1, "plain"', '0.05, "plain"', 1)
        return source

    monkeypatch.setattr(lwlc.compiler, "emit", emit)
    r = CliRunner().invoke(app, ["test", str(MAJORITY), "--no-library", "-n", "3"])
    assert r.exit_code == 1, r.output
    assert "FAIL classes (class, margin(0.1)): in_set" in r.output
    assert "Traceback" not in r.output


def test_cli_passes_on_majority_with_the_library_section():
    r = CliRunner().invoke(app, ["test", str(MAJORITY), "-n", "3"])
    assert r.exit_code == 0, r.output
    assert "library" in r.output and "all " in r.output and "checks passed" in r.output
    lines = r.output.splitlines()
    # a table sent to a pipe keeps its rows whole (rich cut them at 80 columns)
    assert any("activation:relu" in line and "idempotent" in line for line in lines)
    # `worst` of nonexpansive is its violation, as in every column: 0 where no ratio
    # d(P(s), P(t)) / d(s, t) exceeds 1 (it showed the ratio, 9.13e-01, beside 1e-16s)
    rows = [line for line in lines if "nonexpansive" in line]
    assert rows and all(float(row.split("│")[-2]) < 1e-9 for row in rows)


@pytest.mark.parametrize("mode,count,allow,want", [
    ("plain", 0, 0, 1.0),
    ("exempt", 1, 0, 0.0),
    ("relabel", 1, 0, 0.0),
    ("allow", 1, 1, 0.0),  # item 1 (class 0) satisfies it as class 1
    ("allow", 1, 0, 1.0),  # no item of another class may become class 0 here
])
def test_class_violation_modes(mode, count, allow, want):
    z = np.array([[1.0, -1.0], [-0.5, 1.0], [-1.0, 1.0]])
    labels = np.array([0, 0, 1])
    own = margin.class_miss(z, labels, 0.5)
    assert own.tolist() == [0.0, 1.0, 0.0]
    alt = {"plain": own, "exempt": np.zeros(3),
           "relabel": np.min([margin.class_miss(z, c, 0.5) for c in (0, 1)], axis=0),
           "allow": margin.class_miss(z, allow, 0.5)}[mode]
    movable = labels != allow if mode == "allow" else np.ones(3, bool)
    got = margin.relaxed_violation(own, alt, movable, count)
    assert got == want


def test_library_checks_draw_the_same_examples_for_the_same_seed(monkeypatch):
    """`lwlc test --seed`: the set library's hypothesis examples are reproducible."""
    from lwlc.sets import _spec

    drawn = []
    original = _spec._property_runner

    def recording(spec, prop, state):
        run = original(spec, prop, state)

        def wrapped(pair):
            drawn.append(repr(pair[0]))
            return run(pair)

        return wrapped

    monkeypatch.setattr(_spec, "_property_runner", recording)

    def examples(seed):
        drawn.clear()
        _spec.check_kind("bilinear", 3, seed=seed, shrink=False)
        return list(drawn)

    assert examples(7) == examples(7)
    assert examples(7) != examples(8)


def test_lwlc_test_refuses_a_piece_with_an_infinite_slope_and_prints_no_numpy_warnings(
        tmp_path):
    """sqrt(z) at z = 0 (its slope is infinite there) warned from NumPy in the middle of the
    table and failed `nearest`; it is now refused where the piece is written. A curve that
    overflows far out (exp of a large z) prints no warnings either: the checks report any
    non-finite projection themselves."""
    import warnings

    root = MAJORITY.read_text().replace(
        "in relu", "in root").replace("solve rrr(", "set root { x = sqrt(z) for z >= 0; "
                                      "x = 0 for z <= 0 }\nsolve rrr(")
    path = tmp_path / "root.lwl"
    path.write_text(root)
    r = CliRunner().invoke(app, ["test", str(path), "-n", "3"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert f"{path}:" in r.output and "slope is infinite at z = 0" in r.output, r.output
    path.write_text(root.replace("x = sqrt(z) for z >= 0", "x = log(1 + exp(z)) - log(2) "
                                 "for z >= 0"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = CliRunner().invoke(app, ["test", str(path), "-n", "3", "-f", "hidden"])
    assert "checks passed" in r.output or "FAIL" in r.output, r.output
    assert "Traceback" not in r.output
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)]


def test_a_declared_set_is_checked_only_in_the_modes_the_model_uses_it():
    """`lwlc test` failed legal models through the fixed-x mode of a non-monotone curve
    that no constraint fixed (a user test); the counterexample's message comes first."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from lwlc.report import library_results
    from lwlc.sets import REGISTRY
    from lwlc.sets._spec import strategy_for

    pieces = (("affine", float("-inf"), 0.0, 0.0, 0.0), ("affine", 0.0, float("inf"), 1.0, 0.0))
    seen = set()

    @settings(max_examples=60, deadline=None)
    @given(strategy_for(REGISTRY["activation"].SPEC, "in_set", pieces, ("free",)),
           st.none())
    def draw(args, _):
        seen.add(args[0][5])

    draw()
    assert seen == {"free"}
    text = """model cubic_free
    set cubic { x = z^3 - z for all }
    nodes In[3], Ha[4], Oc[2]
    edges E = dense(In -> Ha) + dense(Ha -> Oc)
    batch k[8]
    input d[k, In]
    label c[k] in Oc
    var x[k, E]
    var w[k, E]
    var y[k, Ha | Oc] metric outdeg on Ha, 1 on Oc
    var b[k, Ha | Oc] metric outdeg on Ha, 1 on Oc
    constraint inp for k, i in In: agree x[k, out(i)] == d[k, i]
    constraint ac for k, i in Ha: (y[k, i] - b[k, i], agree x[k, out(i)]) in cubic
    constraint cls for k: y[k, Oc] - b[k, Oc] in margin(c[k], 0.1)
    constraint wn for j in Ha | Oc: agree w[*, in(j)] in sphere(2)
    constraint nn for k, j in Ha | Oc: dot(x[k, in(j)], w[k, in(j)]) == 2 * y[k, j]
    constraint bb for j in Ha | Oc: agree b[*, j]
    data train = "blobs:inputs=3,classes=2,items=64,seed=2"
    """
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cubic.lwl"
        path.write_text("\n".join(line.strip() for line in text.splitlines()))
        results = library_results(str(path), {}, 40, seed=0, families=("ac",))
    assert {r.set for r in results} == {"activation:cubic"}
    assert results and all(r.ok for r in results), [r.detail for r in results if not r.ok]


@pytest.mark.parametrize("mode", ["relabel 3", "exempt 3", "allow 3 as 1"])
@pytest.mark.parametrize("bias", [True, False])
def test_the_class_modes_pick_items_in_the_models_metric(tmp_path, mode, bias):
    """With exempt, relabel or allow the class projection picks items and classes by their
    distance; it measured it with unit weights, so on class nodes of unequal weights (eq.
    27) P(s) was not the nearest point (a user's model: d² 46.4 against 45.3)."""
    text = (ROOT / "tests" / "models" / "weighted_classes.lwl").read_text()  # no class bias
    text = text.replace("exempt 2", mode)
    if bias:
        text = (text.replace("y[k, C] in margin", "y[k, C] - b[k, C] in margin")
                .replace("var b[k, H] metric outdeg",
                         "var b[k, H | C] metric outdeg on H, 0.2 on Ca, 1 on Cb, 5 on Cc")
                .replace("for j in H:        agree b", "for j in H | C:    agree b"))
        assert "b[k, C] in margin" in text and "for j in H | C:    agree b" in text
    if mode.startswith("allow"):  # a two-class classifier
        text = (text.replace(", Cc[1]", "").replace("group C = Ca | Cb | Cc", "group C = Ca | Cb")
                .replace("1 on Cb, 5 on Cc", "5 on Cb"))
    path = tmp_path / "weighted.lwl"
    path.write_text(text)
    results = modeltest.test_model(path, None, examples=6, families=("classes",))
    assert not failures(results)
    assert any(r.family == "classes" and r.property == "nearest" for r in results)
    assert {r.family for r in results} == {"(model)", "classes"}  # the metric, the family


def test_lwlc_test_family_checks_only_the_families_named(tmp_path):
    """`lwlc test --family NAME` checks those families and not the whole step; a name the
    model lacks is an error with a hint, not a traceback."""
    r = CliRunner().invoke(app, ["test", str(MAJORITY), "-n", "2", "--no-library",
                                 "--family", "bias", "-f", "weights"])
    assert r.exit_code == 0, r.output
    checked = {line.split("│")[1].strip() for line in r.output.splitlines()
               if line.startswith("│")}
    assert checked == {"(model)", "bias", "weights"}, r.output
    assert "rrr_step" not in r.output
    r = CliRunner().invoke(app, ["test", str(MAJORITY), "-n", "2", "--family", "bais"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "no constraint family of that name" in r.output and "'bias'" in r.output
    assert "library" not in r.output  # stopped before the set library's tests ran


def test_lwlc_test_family_runs_the_library_tests_of_its_set_kinds_only():
    """With --family, the set library's tests cover the set kinds of the families named: the
    sphere of `weights`, not majority's relu, margin or bilinear sets."""
    r = CliRunner().invoke(app, ["test", str(MAJORITY), "-n", "2", "-f", "weights"])
    assert r.exit_code == 0, r.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in r.output.splitlines()
            if line.startswith("│")]
    library = {row[2] for row in rows if row[1] == "library"}
    assert library == {"sphere"}, r.output
    assert {row[0] for row in rows if row[1] == "library"} == {"weights"}


def test_lwlc_test_says_what_it_checks_as_it_goes():
    """`lwlc test` takes seconds to minutes; its status line (on a terminal) is told each
    step: the compile, each family with its line, the library's tests of each set kind."""
    from lwlc.report import library_results

    seen: list[str] = []
    results = modeltest.test_model(MAJORITY, None, examples=2, families=("weights",),
                                   progress=seen.append)
    results += library_results(MAJORITY, None, 2, families=("weights",), progress=seen.append)
    assert failures(results) == []
    assert seen == ["compiling for NumPy and JAX", "constraint weights (line 26, consensus)",
                    "the set library's tests of sphere"], seen
