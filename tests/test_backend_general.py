"""The back end compiles the language, not the paper's networks: one regression test per defect
of issue 10 (models written outside models/), both backends, float64."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lwlc.compiler import compile_model, load_solver
from lwlc.driver import TrainConfig, batch_data, bind, data_part, own_inputs, train

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "models"
SHIPPED = sorted((ROOT / "models").glob("*.lwl")) + sorted((ROOT / "docs" / "examples").glob(
    "*.lwl")) + sorted(HERE.glob("*.lwl"))


def _write(tmp_path, text: str, name: str = "m.lwl") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _train(path, backend, tmp_path, **overrides):
    cfg = TrainConfig(model=str(path), overrides=overrides, backend=backend,
                      out=str(tmp_path / backend), progress=False, quiet=True)
    return train(cfg)


def _steps(path, backend, steps=3, overrides=None):
    """State after `steps` RRR iterations from the NumPy solver's initial state."""
    c = compile_model(path, overrides, backend)
    ref = load_solver(compile_model(path, overrides, "numpy").source)
    solver = load_solver(c.source)
    bound = bind(c, c.model.data["train"], "train")
    idx = np.arange(data_part(c.model).size) % len(bound)
    data = batch_data(c, bound, idx, own_inputs(c))
    params = ref.initial_params(np.random.default_rng(1))
    state = ref.init(params, data)
    errs = []
    # NumPy's loop; JAX's step jitted alone: its compiled loop inlines two steps, which
    # doubles the compile of a curve set's projection (the loop is tested on every shipped
    # model: tests/test_jax.py, tests/test_fast_paths.py)
    step = (solver.jit(solver.rrr_step) if backend == "jax" else
            lambda st, d, beta: solver.solve_batch(st, d, iterations=1, tolerance=0.0,
                                                   beta=beta)[::2])
    for _ in range(steps):
        state, err = step(state, data, c.model.solver.beta)
        errs.append(float(err))
    return {k: np.asarray(v) for k, v in state.items()}, errs, solver, params, data


# --- the user's text in emitted comments and docstrings -----------------------------------


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_paths_titles_and_model_lines_never_become_code(backend, tmp_path, monkeypatch):
    """A path, a title or a model line holding \"\"\", a backslash escape or a line break
    stays text of the emitted module: importing it runs nothing of theirs (a folder named
    `d\"\"\";__import__(...)...` once ran its code when `lwlc train` loaded the solver)."""
    import ast
    import importlib.util

    monkeypatch.chdir(tmp_path)
    evil = '""";__import__("pathlib").Path("RAN").touch();"""'
    folder = tmp_path / f"d{evil}"
    folder.mkdir()
    text = (_SIGNED.replace("ACT", "y[k, i] - b[k, i]").replace("CLS", "y[k, C] - b[k, C]")
            .replace("model signed", 'model signed "t \\N{foo} \\x u\u2028v\x85w"')
            .replace("constraint bb for j in H | C: agree b[*, j]",
                     f"constraint bb for j in H | C: agree b[*, j]  # {evil}\\"))
    path = folder / f"m{evil}.lwl"
    path.write_text(text)
    source = compile_model(str(path), None, backend).source
    tree = ast.parse(source)  # it is Python
    doc = ast.get_docstring(tree)
    assert f"m{evil}.lwl" in doc and "\\N{foo}" in doc and "u\u2028v" in doc
    out = tmp_path / "solver.py"
    out.write_text(source)
    spec = importlib.util.spec_from_file_location("solver_under_test", out)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert not (tmp_path / "RAN").exists()
    bb = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and "bb" in n.name)
    assert evil in ast.get_docstring(bb)


# --- either term of `y - b` may be the neuron's -------------------------------------------

_SIGNED = """
model signed
param om = 2
set leaky(a) { x = a * z for z <= 0; x = z for z >= 0 }
nodes D[3], H[4], C[3]
edges E = dense(D -> H) + dense(H -> C)
batch k[8]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | C] metric outdeg on H, 1 on C
var b[k, H | C] metric outdeg on H, 1 on C
constraint inp for k, i in D: agree x[k, out(i)] == d[k, i]
constraint act for k, i in H: (ACT, agree x[k, out(i)]) in leaky(0.2)
constraint cls for k: CLS in margin(c[k], 0.1)
constraint wn for j in H | C: agree w[*, in(j)] in sphere(om)
constraint nn for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == om * y[k, j]
constraint bb for j in H | C: agree b[*, j]
data train = "blobs:inputs=3,classes=3,items=24"
solve rrr(iterations = 5, epochs = 1)
"""


@pytest.mark.parametrize("act, cls", [("b[k, i] - y[k, i]", "b[k, C] - y[k, C]"),
                                      ("b[k, i] - y[k, i]", "y[k, C] - b[k, C]"),
                                      ("y[k, i] - b[k, i]", "b[k, C] - y[k, C]")])
def test_the_neuron_may_be_either_term_of_y_minus_b(act, cls, tmp_path):
    """`b - y` with the neuron's y is the net `y' - b'` with y' = -y (weights -w) and
    b' = -b: inference, warm start and prediction of the one with (w, b) equal the
    other's with (-w, -b), layer by layer (a model that took y for the positive term
    inferred nothing through `b - y` and predicted argmax(y) of `b - y` classes)."""
    plain = _SIGNED.replace("ACT", "y[k, i] - b[k, i]").replace("CLS", "y[k, C] - b[k, C]")
    signed = _SIGNED.replace("ACT", act).replace("CLS", cls)
    ref = load_solver(compile_model(_write(tmp_path, plain, "plain.lwl"), None, "numpy").source)
    for backend in ("numpy", "jax"):
        c = compile_model(_write(tmp_path, signed, "signed.lwl"), None, backend)
        solver = load_solver(c.source)
        bound = bind(c, c.model.data["train"], "train")
        data = batch_data(c, bound, np.arange(8), own_inputs(c))
        rng = np.random.default_rng(4)
        w = rng.normal(size=c.plan.n_edges)
        b = 0.1 * rng.normal(size=7)
        flip_h = np.r_[-np.ones(4) if act.startswith("b") else np.ones(4),
                       -np.ones(3) if cls.startswith("b") else np.ones(3)]
        flip_w = np.r_[np.full(12, flip_h[0]), np.full(12, flip_h[-1])]
        got = solver.predict({"w": w, "b": b}, data, 8)["cls"]
        want = ref.predict({"w": w * flip_w, "b": b * flip_h}, data, 8)["cls"]
        np.testing.assert_array_equal(np.asarray(got), want)
        X, _ = solver.forward({"w": w, "b": b}, data, 8)
        Xr, _ = ref.forward({"w": w * flip_w, "b": b * flip_h}, data, 8)
        np.testing.assert_allclose(np.asarray(X), Xr, atol=1e-12)
        assert len(set(np.asarray(got).tolist())) > 1  # not one class for every item


# --- regression: outputs equal to data ----------------------------------------------------


def test_regression_trains_and_predicts_its_outputs(tmp_path):
    path = HERE / "regression.lwl"
    c = compile_model(path)
    assert [(t.name, t.kind, t.reference) for t in c.plan.targets] == [
        ("outputs", "value", "t")]
    sums = {b: _train(path, b, tmp_path, epochs=2, iterations=30) for b in ("numpy", "jax")}
    assert sums["jax"]["outputs_rmse"] == pytest.approx(sums["numpy"]["outputs_rmse"], rel=1e-9)
    # the targets are tanh(x A) / 2 (RMS about 0.2): the trained network predicts them
    assert sums["numpy"]["outputs_rmse"] < 0.05
    from lwlc.driver import predict

    pred = predict(str(path), str(tmp_path / "numpy" / "params.npz"),
                   "regression:inputs=4,outputs=2,items=50,seed=0", {}, "numpy")
    assert list(pred) == ["outputs"] and pred["outputs"].shape == (50, 2)
    assert np.all(np.isfinite(pred["outputs"])) and np.std(pred["outputs"]) > 0.05


# --- smooth curves in both backends -------------------------------------------------------

SMOOTH = """\
model smooth
param omega = 2.0
set curve {{ x = {curve} for all }}
nodes D[3], H[4], C[2]
edges E = dense(D -> H) + dense(H -> C)
batch k[8]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | C] metric outdeg on H, 1 on C
var b[k, H | C] metric outdeg on H, 1 on C
constraint inputs  for k, i in D: agree x[k, out(i)] == d[k, i]
constraint hidden  for k, i in H: (y[k, i] - b[k, i], agree x[k, out(i)]) in {use}
constraint classes for k: y[k, C] - b[k, C] in margin(c[k], 0.1)
constraint weights for j in H | C: agree w[*, in(j)] in sphere(omega)
constraint neuron  for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
constraint bias    for j in H | C: agree b[*, j]
data train = "blobs:inputs=3,classes=2,items=32,seed=1"
"""

CURVES = {  # every function a curve may use, and the built-in smooth sets
    "sigmoid": ("z", "sigmoid"), "tanh_act": ("z", "tanh_act"),
    "exp_log": ("log(1 + exp(z))", "curve"), "atan_erf": ("atan(z) + 0.2 * erf(z)", "curve"),
    "sin_cos_abs_sqrt": ("0.3 * sin(z) + 0.2 * cos(z) + 0.1 * z * abs(z) + sqrt(1 + z * z)",
                         "curve"),
}


@pytest.mark.parametrize("name", list(CURVES))
def test_smooth_curves_run_in_both_backends(name, tmp_path):
    curve, use = CURVES[name]
    path = _write(tmp_path, SMOOTH.format(curve=curve, use=use))
    ref, e_ref, *_ = _steps(path, "numpy", steps=2)
    got, e_got, *_ = _steps(path, "jax", steps=2)
    for k in ref:
        assert np.all(np.isfinite(ref[k])), k
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-9, err_msg=k)
    assert e_got == pytest.approx(e_ref, rel=1e-9)


def test_digits_softplus_example_trains(tmp_path):
    path = ROOT / "docs" / "examples" / "digits_softplus.lwl"
    cfg = TrainConfig(model=str(path), data="digits:seed=0,limit=200", test=None,
                      overrides={"epochs": 2, "iterations": 20, "k": 50}, backend="numpy",
                      out=str(tmp_path), progress=False, quiet=True)
    s = train(cfg)
    assert 0.0 <= s["train_err"] < 0.5 and np.isfinite(s["rrr_err"])  # chance: 0.9


# --- batch parts, odd names, cycles ------------------------------------------------------


def test_multi_part_classifier_with_odd_names_and_cycles_trains(tmp_path):
    """Batch parts with different activations, constraints named A, B, data, np, xp, state,
    out; sets Lk / lk and lk2(1) / lk2_1; directed cycles among hidden nodes."""
    path = HERE / "odd_names_cycles.lwl"
    s = _train(path, "numpy", tmp_path, epochs=2, iterations=10)
    assert s["epochs"] == 2 and s["train_err"] < 0.3  # 3 blobs: chance is 2/3
    ref, e_ref, *_ = _steps(path, "numpy", steps=2)
    got, e_got, *_ = _steps(path, "jax", steps=2)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-9, err_msg=k)
    assert e_got == pytest.approx(e_ref, rel=1e-9)


def test_a_curve_set_projects_the_groups_of_its_family_in_one_call():
    """A family whose nodes have two in-degrees is two groups; with a curve set it calls the
    set's projection once on both, side by side (its projection is hundreds of XLA
    operations: twice compiled before). NumPy = JAX on this model:
    test_multi_part_classifier_with_odd_names_and_cycles_trains."""
    import ast

    c = compile_model(HERE / "odd_names_cycles.lwl", None, "jax")
    tree = ast.parse(c.source)
    calls = {f.name: sum(isinstance(n, ast.Call) and getattr(n.func, "id", "") in
                         ("activation_projection", "activation_projection_groups")
                         for n in ast.walk(f))
             for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert calls["constraint_state"] == calls["constraint_data"] == 1, calls
    assert "STATE_1_EDGES" in c.source and "DATA_1_EDGES" in c.source  # two groups each


def test_names_that_differ_in_case_get_their_own_tables():
    c = compile_model(HERE / "odd_names_cycles.lwl")
    solver = load_solver(c.source)
    fams = solver.FAMILIES
    assert set(fams) >= {"A", "B", "B2", "state", "data", "np", "xp", "out"}
    assert "constraint A, constraint B" not in c.source
    assert solver.project_A.__doc__.startswith("Project onto constraint set A")
    tables = {name: getattr(solver, name) for name in dir(solver) if name.startswith("PIECES_")}
    assert len(tables) == 4  # Lk, lk, lk2(1), lk2_1: four different sets, four tables
    assert tables["PIECES_Lk"][0][3] == 0.1 and tables["PIECES_lk"][0][0] == "curve"
    for fam, table in (("B", "PIECES_Lk"), ("B2", "PIECES_lk"), ("state", "PIECES_lk2_1"),
                       ("data", "PIECES_lk2_1_2")):
        assert table in fams[fam][0].__code__.co_names, (fam, table)
    assert tables["PIECES_lk2_1"] != tables["PIECES_lk2_1_2"]


_BOOLEAN_OUTPUTS = """\
model mult "a 2-bit multiplier of Boolean threshold units; the product's bits fix the outputs"
param om = 3.0
nodes A[4], H[5], P[4]
group U = H | P
edges E = dense(A -> H) + dense(H -> P)
batch k[16]
input a[k, A]
input p[k, P]
var x[k, E]
var w[k, E]
var y[k, U] metric outdeg on H, 1 on P
var b[k, U] metric outdeg on H, 1 on P
constraint ins    for k, i in A: agree x[k, out(i)] == a[k, i]
constraint hidden for k, i in H: (y[k, i] - b[k, i], agree x[k, out(i)]) in step(0.2)
constraint outs   for k, i in P: (y[k, i] - b[k, i], agree x[k, out(i)] == p[k, i]) in step(0.2)
constraint wts    for j in U:    agree w[*, in(j)] in sphere(om)
constraint dot    for k, j in U: dot(x[k, in(j)], w[k, in(j)]) == om * y[k, j]
constraint bias   for j in U:    agree b[*, j]
data train = "mult.txt"
"""


def test_output_units_without_out_edges_can_be_fixed_to_data(tmp_path):
    """A Boolean network's output units (boolearn's tasks, Elser & Lal 2026) have no
    out-edges; `agree x[k, out(i)] == p[k, i]` fixes their value all the same: z = y - b
    is projected onto where the set takes p (it was refused: 'P[0] has no out-edges to
    agree over'). Both backends alike, `lwlc test`'s checks pass, and the model predicts
    the outputs."""
    from lwlc import data as datamod
    from lwlc import modeltest
    from lwlc.driver import predict

    bits = np.array([[(i >> s) & 1 for s in range(4)] for i in range(16)], dtype=float)
    product = [(i & 3) * (i >> 2) for i in range(16)]
    out = np.array([[(v >> s) & 1 for s in range(4)] for v in product], dtype=float)
    datamod.save_text(datamod.Dataset(inputs=np.hstack([bits, out]), labels=None,
                                      n_classes=None, name="mult", source="mult"),
                      tmp_path / "mult.txt")
    path = _write(tmp_path, _BOOLEAN_OUTPUTS, "mult.lwl")
    c = compile_model(path, None, "numpy")
    outs = c.source[c.source.index("def constraint_outs"):]
    outs = outs[:outs.index("\n\n\n")]
    assert 'data["p"]' in outs and '"x"' not in outs  # z alone: no edge of x read or written
    ref, e_ref, *_ = _steps(path, "numpy", steps=2)
    got, e_got, *_ = _steps(path, "jax", steps=2)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-9, err_msg=k)
    results = modeltest.test_model(path, None, examples=3, families=("outs",))
    assert [r for r in results if not r.ok] == [], results
    s = _train(path, "numpy", tmp_path, epochs=1, iterations=20)
    assert 0.0 <= s["outs_rmse"] <= 1.0
    pred = predict(str(path), str(tmp_path / "numpy" / "params.npz"), str(tmp_path / "mult.txt"),
                   {}, "numpy")
    assert list(pred) == ["outs"] and pred["outs"].shape == (16, 4)
    assert set(np.unique(pred["outs"])) <= {0.0, 1.0}  # a step unit's values


def test_a_cycle_is_relaxed_so_the_data_reaches_every_node():
    c = compile_model(HERE / "odd_names_cycles.lwl")
    solver = load_solver(c.source)
    d = np.random.default_rng(0).uniform(0.5, 1.0, (6, 5))
    params = solver.initial_params(np.random.default_rng(0))
    X, Y = solver.forward(params, {"d": d}, 6, "clean")
    m = c.model
    hidden = [n for n in range(m.n_nodes) if not m.node_name(n).startswith(("D", "C"))]
    assert np.all(np.abs(np.asarray(Y)[:, hidden]) > 0), "a node was never computed"
    assert np.all(np.asarray(X)[:, :5] == d)


# --- generated code -----------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_emitted_module_passes_ruff(path, backend, tmp_path):
    """Every shipped and documented model, both backends: no findings by the project's
    rules (pyproject.toml: imports sorted, bugbear, pyupgrade) and by those of ruff's
    defaults that emitted code once broke (unused noqa, a name compared with itself,
    an unused unpacked name, dict() calls, zip of a list with its own tail, a blind
    except that passes)."""
    from ruff.__main__ import find_ruff_bin

    out = tmp_path / "solver.py"
    out.write_text(compile_model(path, None, backend).source)
    rules = "E,F,W,I,B,UP,C408,RUF007,RUF059,RUF100,PLR0124,S110,BLE001"
    done = subprocess.run([find_ruff_bin(), "check", "--isolated", "--no-cache",
                           "--target-version", "py311", "--select", rules, str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_long_index_lists_stay_wrapped_many_numbers_to_a_line(tmp_path):
    """ruff's format put each number of a random wiring's index lists on a line of its
    own: 550k random edges made a module of a million lines (a user test)."""
    from ruff.__main__ import find_ruff_bin

    text = (ROOT / "models" / "majority.lwl").read_text()
    text = text.replace("nodes D[13]", "nodes D[200]").replace("nodes H1[26]", "nodes H1[60]")
    text = text.replace("dense(D -> H1)", "random(D -> H1, fanin = 20)")
    (tmp_path / "m.lwl").write_text(text)
    out = tmp_path / "solver.py"
    for backend in ("numpy", "jax"):
        src = compile_model(tmp_path / "m.lwl", None, backend).source
        # runs of lines that hold one number each: a list written one number to a line
        runs = re.findall(r"(?:^ +-?\d+,?\n){5,}", src, re.M)
        assert not runs, runs[0][:200]
        assert "  # fmt: skip" in src
        out.write_text(src)
        done = subprocess.run([find_ruff_bin(), "check", "--isolated", "--no-cache",
                               "--select", "E,F,W", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:]


def test_emitted_module_holds_only_what_the_model_reaches(monkeypatch):
    monkeypatch.chdir(ROOT)
    src = compile_model("models/majority.lwl").source
    for unused in ("def piecewise_fixed_projection", "def smooth_projection", "PARAMS =",
                   "def nonneg_projection", "def box_projection", "PROBLEM =", "def _erf",
                   "def least_squares_values"):
        assert unused not in src, unused
    assert "/work/" not in src and str(ROOT) not in src  # no machine paths


@pytest.mark.parametrize(("model", "mode"), [("majority.lwl", "plain"),
                                             ("relabel.lwl", "relabel"),
                                             ("mnist_exempt.lwl", "exempt"),
                                             ("fpa_classifier.lwl", "allow")])
def test_emitted_class_constraints_hold_only_their_own_mode(monkeypatch, model, mode):
    """The class projection's modes are rows of a table (CLASS_MODES): a solver holds the
    selection of the mode its model uses and no other (it held all four)."""
    monkeypatch.chdir(ROOT)
    src = compile_model(f"models/{model}").source
    modes = {"plain", "exempt", "relabel", "allow"}
    assert f"def {mode}_selection(" in src
    for other in modes - {mode}:
        assert f"def {other}_selection(" not in src and f"'{other}'" not in src, other
    assert ("def class_distances(" in src) == (mode in ("relabel", "allow"))


def test_header_regenerates_the_same_module(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from lwlc.cli import app

    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    first = tmp_path / "a.py"
    r = runner.invoke(app, ["compile", "models/majority.lwl", "--backend", "jax", "--dtype",
                            "float32", "--set", "k=64", "--set", "omega=2.5", "-o", str(first)])
    assert r.exit_code == 0, r.output
    text = first.read_text()
    command = text.split("Regenerate instead of editing:\n")[1].split("\n\n")[0]
    words = command.replace("\\\n", " ").split()
    assert words[:2] == ["lwlc", "compile"] and "float32" in words and "k=64" in words
    second = tmp_path / "b.py"
    r = runner.invoke(app, words[1:] + ["-o", str(second)])
    assert r.exit_code == 0, r.output
    assert second.read_bytes() == first.read_bytes()


def test_wheel_holds_the_grammar_prelude_and_models_under_lwlc(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT),
                           "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    import zipfile

    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    assert "lwlc/grammar/lwl.lark" in names and "lwlc/prelude.lwl" in names
    assert "lwlc/models/majority.lwl" in names and "lwlc/backends/common.py" in names
    assert "lwlc/runtime/rrr.py" in names and "lwlc/kinds/consensus.py" in names
    assert not any(n.startswith(("backends/", "grammar/", "models/")) for n in names)


@pytest.mark.parametrize("name", ["metric_x", "scalar_sparse"])
def test_models_the_campaign_found_pass_lwlc_test(name):
    """Refused before: a constant metric on the bilinear operands; sphere/sparse on scalar
    consensus values. Now their emitted projections pass every property check."""
    from lwlc.modeltest import test_model

    results = test_model(HERE / f"{name}.lwl", None, examples=8)
    failed = [r for r in results if not r.ok]
    assert results and not failed, failed


def test_a_dot_without_learned_weights_is_a_located_error(tmp_path):
    """Which operand of dot(...) holds the weights comes from the model; when neither has a
    consensus over items, the error says where and what to declare."""
    from typer.testing import CliRunner

    from lwlc.cli import app

    text = (ROOT / "models" / "majority.lwl").read_text().replace(
        "constraint weights for j in H | C:     agree w[*, in(j)] in sphere(omega)",
        "constraint weights for k, j in H | C:  agree w[k, in(j)] in sphere(omega)")
    path = tmp_path / "m.lwl"
    path.write_text(text)
    r = CliRunner().invoke(app, ["compile", str(path)])
    assert r.exit_code == 1, r.output
    assert "m.lwl:27:" in r.output and "neither operand of dot(x, w)" in r.output
    assert "agree w[*, in(j)]" in r.output and "internal error" not in r.output


def test_curve_functions_equal_the_emitted_curve_code(tmp_path):
    """The callables the tests use and the code printed into the solver agree."""
    from lwlc.backends.curves import curve_functions

    curve = "log(1 + exp(z)) + 0.2 * erf(z) * atan(z) + 0.1 * z * abs(z) + sqrt(1 + z * z)"
    path = _write(tmp_path, SMOOTH.format(curve=curve, use="curve"))
    c = compile_model(path)
    solver = load_solver(c.source)
    piece = c.model.sets["curve"].pieces[0]
    emitted = solver.PIECES_curve[0][3:6]  # ("curve", lo, hi, f, f', f'')
    z = np.concatenate([np.linspace(-3, 3, 13), [-1e3, 800.0, 1e5]])  # past exp's overflow
    for mine, theirs in zip(curve_functions(piece.curve, piece.lo, piece.hi), emitted,
                            strict=True):
        with np.errstate(over="ignore", invalid="ignore"):  # f'' overflows within the range
            np.testing.assert_allclose(mine(np, z), theirs(np, z), rtol=1e-12, atol=1e-12)


def _curve_projection(solver, z, x, one):
    """The solver's activation_projection onto its set `curve`, under JAX jitted as a
    solver runs it (eagerly, JAX compiled each operation of the search: 7 s against 1.3 s)."""
    def project(z, x):
        return solver.activation_projection(solver.xp, z, x, one, one, solver.PIECES_curve)
    if solver.xp.__name__ == "numpy":
        return project(z, x)
    import jax
    return jax.jit(project)(z, x)


@pytest.mark.parametrize(("backend", "dtype", "far"), [("numpy", "float64", 800.0),
                                                    ("jax", "float32", 95.0),
                                                    ("jax", "float64", 1e5)])
def test_a_curve_beyond_where_it_overflows_is_its_tangent(tmp_path, backend, dtype, far):
    """log(1 + exp(z)) overflows beyond z = 88.7 in float32 (709.8 in float64): (95, 95.5)
    was projected onto the curve cut off there, (88.7, 88.7), in place of (95.25, 95.25)
    (a user's softplus, docs/authoring_sets.md). Beyond, the curve is its tangent."""
    path = _write(tmp_path, SMOOTH.format(curve="log(1 + exp(z))", use="curve"))
    solver = load_solver(compile_model(path, {}, backend, dtype).source)
    xp = solver.xp
    f, df, d2f = solver.PIECES_curve[0][3:6]
    z = xp.asarray([far, -far, 3.0], dtype=dtype)
    np.testing.assert_allclose(np.asarray(f(xp, z)), [far, 0.0, np.log1p(np.exp(3.0))],
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(df(xp, z)), [1.0, 0.0, 1 / (1 + np.exp(-3.0))],
                               rtol=1e-6)
    assert np.all(np.isfinite(np.asarray(d2f(xp, z))))
    one = xp.ones(1, dtype=dtype)
    got = _curve_projection(solver, xp.asarray([far], dtype=dtype),
                            xp.asarray([far + 0.5], dtype=dtype), one)
    np.testing.assert_allclose([float(g[0]) for g in got], [far + 0.25] * 2, rtol=1e-6)


@pytest.mark.parametrize(("backend", "dtype"), [("numpy", "float64"), ("jax", "float32"),
                                              ("jax", "float64")])
def test_a_steep_curve_is_finite_where_its_printed_slope_overflows(tmp_path, backend, dtype):
    """1/(1 + exp(-100 z)): its slope as printed, 100 exp(-100 z)/(1 + exp(-100 z))^2, is
    inf/inf = NaN from z = -7.09 in float64 (-0.84 in float32), and the finite range was
    found by evaluating the product in another order (0), so the projection and inference
    gave NaN there on both backends (a user test)."""
    path = _write(tmp_path, SMOOTH.format(curve="1/(1 + exp(-100*z))", use="curve"))
    solver = load_solver(compile_model(path, {}, backend, dtype).source)
    xp = solver.xp
    f, df, _ = solver.PIECES_curve[0][3:6]
    z = xp.asarray([-20.0, -8.0, -1.0, 0.0, 3.0], dtype=dtype)
    one = xp.ones(2, dtype=dtype)
    with np.errstate(all="ignore"):  # as in training: (1 + exp(700))^2 overflows, to 0 here
        np.testing.assert_allclose(np.asarray(f(xp, z)), [0, 0, 0, 0.5, 1], atol=1e-6)
        np.testing.assert_allclose(np.asarray(df(xp, z)), [0, 0, 0, 25, 0], atol=1e-6)
        got = _curve_projection(solver, xp.asarray([-20.0, -8.0], dtype=dtype),
                                xp.asarray([0.5, 0.25], dtype=dtype), one)
    # nearest: the flat tail below (0.25 from x = 0.5 is nearer than the step at z = 0)
    np.testing.assert_allclose(np.asarray(got[0]), [-20.0, -8.0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(got[1]), [0.0, 0.0], atol=1e-6)


def test_finite_ranges_stop_only_where_a_precision_overflows():
    import math

    import sympy
    from lwlc.backends.curves import curve_functions, finite_ranges

    z = sympy.Symbol("z", real=True)
    softplus = finite_ranges(sympy.log(1 + sympy.exp(z)))
    assert softplus[8][0] == -math.inf and 700 < softplus[8][1] < 709.8
    assert softplus[4][0] == -math.inf and 87 < softplus[4][1] < 88.8
    assert finite_ranges(sympy.tanh(z)) == {8: (-math.inf, math.inf), 4: (-math.inf, math.inf)}
    assert finite_ranges(z ** 3, -2.0, 2.0) == {8: (-2.0, 2.0), 4: (-2.0, 2.0)}
    # a pole: log z keeps its own values down to where f' = 1/z overflows
    low = finite_ranges(sympy.log(z), 0.0, math.inf)
    assert 0 < low[8][0] < 1e-300 and 0 < low[4][0] < 1e-37
    f = curve_functions(sympy.log(z), 0.0, math.inf)[0]
    assert f(np, np.float32(1e-30)) == pytest.approx(np.log(1e-30), rel=1e-6)
    # an end is a normal float: XLA flushes subnormals to 0, where sqrt's f' is infinite
    # and the tangent gave nan (a user test)
    assert finite_ranges(sympy.sqrt(z), 1e-300, math.inf)[4][0] == np.finfo(np.float32).tiny
    # f overflows at 0, 1 and -1 in float32: the range is found from farther points
    shifted = finite_ranges(sympy.log(1 + sympy.exp(100 - z)))
    assert 11.2 < shifted[4][0] < 11.4 and shifted[4][1] == math.inf
    # the tests' evaluator makes the same tangent as the emitted code
    f, df, d2f = curve_functions(sympy.log(1 + sympy.exp(z)))
    assert f(np, np.asarray([1000.0]))[0] == pytest.approx(1000.0)
    assert df(np, np.asarray([1000.0]))[0] == 1.0 and d2f(np, np.asarray([1000.0]))[0] == 0.0


def test_a_curves_marks_are_searched_so_a_narrow_peak_far_away_is_found(tmp_path):
    """2 exp(-z^2) - 1 from (-10.7, 15) with the majority net's metric (gz 1, gx 2) went to
    the tail (d² 512.6) past the peak (506.1): the window search's 33 points stepped over
    it, and `lwlc test` passed (a user test). The compiler gives each curve piece its
    turning points, which the search scores too; NumPy and JAX alike."""
    import math

    import jax
    import jax.numpy as jnp
    import sympy
    from lwlc.backends.curves import curve_functions, curve_marks

    from lwlc.sets.smooth import smooth_projection

    z = sympy.Symbol("z", real=True)
    bump = 2 * sympy.exp(-z ** 2) - 1
    # its peak and its two inflection points
    half = 1 / math.sqrt(2)
    assert curve_marks(bump) == pytest.approx((-half, 0.0, half), abs=1e-15)
    assert curve_marks(z ** 3 - z, -2.0, 0.0) == pytest.approx((-1 / math.sqrt(3),))
    # f' and f'' underflow to 0 on tanh's flat ends: no marks there, its inflection at 0;
    # a periodic curve's nearest 0
    assert curve_marks(sympy.tanh(z)) == pytest.approx((0.0,), abs=1e-15)
    assert len(curve_marks(sympy.sin(5 * z))) == 16
    piece = ("curve", -math.inf, math.inf, *curve_functions(bump), curve_marks(bump))
    rng = np.random.default_rng(0)
    Z, X = np.r_[-10.7051, rng.uniform(-20, 20, 300)], np.r_[15.0091, rng.uniform(-20, 20, 300)]
    gz, gx = np.ones_like(Z), 2 * np.ones_like(Z)
    t, x = smooth_projection(np, Z, X, gz, gx, (piece,))
    jax.config.update("jax_enable_x64", True)
    tj, xj = jax.jit(lambda *a: smooth_projection(jnp, *a, (piece,)))(Z, X, gz, gx)
    np.testing.assert_allclose(np.asarray(tj), t, atol=1e-9)
    grid = np.linspace(-25, 25, 500001)
    best = np.min((grid - Z[:, None]) ** 2 + 2 * (2 * np.exp(-grid ** 2) - 1 - X[:, None]) ** 2,
                  axis=1)
    got = (t - Z) ** 2 + 2 * (x - X) ** 2
    assert np.all(got <= best + 1e-6 * (1 + best)), np.max((got - best) / (1 + best))
    assert t[0] == pytest.approx(-0.09541, abs=1e-4)
    # and a peak narrower than the window's spacing, seen from its side: its marks are
    # among the points where the search looks for the curve crossing x (41 of 1500 random
    # points stayed on the tail, up to 472x farther: a re-test)
    narrow = 3 * sympy.exp(-400 * z ** 2)
    piece = ("curve", -math.inf, math.inf, *curve_functions(narrow), curve_marks(narrow))
    Z, X = np.r_[-0.30337, rng.uniform(-1, 1, 200)], np.r_[0.962888, rng.uniform(-1, 4, 200)]
    gz, gx = np.full_like(Z, 0.3), np.full_like(Z, 26.0)
    t, x = smooth_projection(np, Z, X, gz, gx, (piece,))
    tj, _ = jax.jit(lambda *a: smooth_projection(jnp, *a, (piece,)))(Z, X, gz, gx)
    np.testing.assert_allclose(np.asarray(tj), t, atol=1e-9)
    grid = np.linspace(-3, 3, 600001)
    best = np.min(0.3 * (grid - Z[:, None]) ** 2
                  + 26 * (3 * np.exp(-400 * grid ** 2) - X[:, None]) ** 2, axis=1)
    got = 0.3 * (t - Z) ** 2 + 26 * (x - X) ** 2
    assert np.all(got <= best + 1e-6 * (1 + best)), np.max((got - best) / (1 + best))
    # the emitted table holds them
    path = tmp_path / "bump.lwl"
    path.write_text((ROOT / "models" / "majority.lwl").read_text().replace(
        "in relu", "in bump").replace("solve rrr(", "set bump { x = 2*exp(-z^2) - 1 for all }"
                                      "\nsolve rrr("))
    for backend in ("numpy", "jax"):
        solver = load_solver(compile_model(path, None, backend).source)
        assert solver.PIECES_bump[0][6] == pytest.approx((-half, 0.0, half), abs=1e-15)


def test_data_that_fix_x_where_a_curve_only_approaches_warn(tmp_path):
    """A sigmoid autoencoder fed 0/1 data: no z has f(z) = 0 or 1, z ran off towards 2^24,
    and NumPy and JAX parted after one step (a user test). The warning names the values
    and the constraint; data the set takes pass without one."""
    from lwlc.driver import unreached_data
    from lwlc.elaborate import approached_only

    text = """model sig_ae
    nodes D[3], H[2]
    edges E = dense(D -> H) + dense(H -> D)
    batch k[8]
    input d[k, D]
    var x[k, E]
    var w[k, E]
    var y[k, D | H] metric outdeg
    var b[k, D | H] metric outdeg
    constraint inp for k, i in D: (y[k, i] - b[k, i], agree x[k, out(i)] == d[k, i]) in sigmoid
    constraint hid for k, i in H: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
    constraint wn for j in D | H: agree w[*, in(j)] in sphere(2)
    constraint nn for k, j in D | H: dot(x[k, in(j)], w[k, in(j)]) == 2 * y[k, j]
    constraint bb for j in D | H: agree b[*, j]
    data train = "bits:n=3"
    """
    path = _write(tmp_path, "\n".join(line.strip() for line in text.splitlines()))
    c = compile_model(path, None, "numpy")
    sig = next(f for f in c.model.families if f.name == "inp").set
    got = approached_only(sig.pieces, np.array([0.0, 1.0, 0.5, 1.5, -2.0, 0.999]))
    np.testing.assert_array_equal(got, [-2.0, 0.0, 1.0, 1.5])
    relu = next(f for f in c.model.families if f.name == "hid").set  # affine: none
    assert approached_only(relu.pieces, np.array([-5.0, 0.0, 7.0])).size == 0
    (w,) = unreached_data(c, bind(c, "bits:n=3", "train"), {})
    assert "fix x of 'inp' at 0, 1: set sigmoid never takes such values" in w.message
    assert w.span.line == 10
    beyond = bind(c, "bits:n=3", "train")  # values beyond a limit: "approached" they are not
    beyond.inputs["d"] = 2.0 * beyond.inputs["d"] - 0.5
    (w,) = unreached_data(c, beyond, {})
    assert "at -0.5 (beyond 0, which it only approaches), 1.5 (beyond 1, which it only " \
        "approaches): set sigmoid never takes such values" in w.message
    inside = bind(c, "bits:n=3", "train")
    inside.inputs["d"] = 0.25 + 0.5 * inside.inputs["d"]
    assert unreached_data(c, inside, {}) == []
    # data a set never takes, not even in the limit: relu's negative values (a user test)
    relu_path = _write(tmp_path, path.read_text().replace(") in sigmoid", ") in relu"),
                       "relu.lwl")
    c = compile_model(relu_path, None, "numpy")
    negative = bind(c, "bits:n=3", "train")
    negative.inputs["d"] = negative.inputs["d"] - 0.5
    (w,) = unreached_data(c, negative, {})
    assert "fix x of 'inp' at -0.5: set relu never takes such values (its values are " \
        "[0, inf))" in w.message
    assert unreached_data(c, bind(c, "bits:n=3", "train"), {}) == []
    from lwlc import restarts  # one batch: --restarts warns the same

    said = []
    restarts.prepare(str(path), {}, "numpy", warn=said.append)
    assert any("set sigmoid never takes such values" in w.message for w in said)


SIDES = """\
model sides "weights under each kind of side constraint"
nodes D[5], A[3], B[3], P[3], Q[2]
edges E = dense(D -> A) + dense(D -> B) + dense(D -> P) + dense(A | B | P -> Q)
batch k[4]
input d[k, D]
var x[k, E]
var w[k, E]
var y[k, A | B | P | Q]
constraint inputs for k, i in D:         agree x[k, out(i)] == d[k, i]
constraint hidden for k, i in A | B | P: (y[k, i], agree x[k, out(i)]) in relu
constraint free   for j in A:            agree w[*, in(j)]
constraint boxed  for j in B:            agree w[*, in(j)] in box(-1, 1)
constraint pos    for j in P:            agree w[*, in(j)] in nonneg
constraint round  for j in Q:            agree w[*, in(j)] in sphere(2)
constraint neuron for k, j in A | B | P | Q: dot(x[k, in(j)], w[k, in(j)]) == -1 * y[k, j]
"""


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_initial_weights_take_both_signs_where_the_side_constraint_admits_negatives(
        tmp_path, backend):
    """Weights drawn in [0, 1) took a sign only under a sphere (centred): behind a negative
    coefficient a ReLU layer with box(-1, 1) weights started dead, and a user's model never
    trained (train_err 0.5, one class for every item). Free and box weights are now drawn in
    [-1, 1) (centring them left a node of one edge at 0 for every seed); nonneg weights stay
    in [0, 1)."""
    solver = load_solver(compile_model(_write(tmp_path, SIDES), None, backend).source)
    w = np.asarray(solver.initial_params(np.random.default_rng(3))["w"])
    rows = {"A": w[0:15], "B": w[15:30], "P": w[30:45], "Q": w[45:63]}
    for name in ("A", "B"):
        assert (rows[name] < 0).any() and (rows[name] > 0).any(), name
        assert np.all(np.abs(rows[name]) <= 1.0), name
        other = np.asarray(solver.initial_params(np.random.default_rng(4))["w"])
        assert not np.allclose(other[0:30], w[0:30])
    assert np.all((rows["P"] >= 0.0) & (rows["P"] < 1.0)) and rows["P"].std() > 0.1
    q = rows["Q"].reshape(2, 9)
    assert np.allclose(np.linalg.norm(q, axis=1), 2.0) and np.allclose(q.sum(axis=1), 0.0)


def test_a_neuron_whose_weights_no_consensus_covers_on_some_nodes_is_an_error(tmp_path):
    """A consensus over items on the hidden weights only, with the neuron over hidden and
    class nodes: the class weights were never learned (0 in prediction) and the model came
    out at chance, without a word (a user test)."""
    from lwlc.errors import ModelError

    text = """model part_tied
    nodes D[3], H[4], C[2]
    edges E = dense(D -> H) + dense(H -> C)
    batch k[6]
    input d[k, D]
    label c[k] in C
    var x[k, E]
    var w[k, E]
    var y[k, H | C]
    var b[k, H | C]
    constraint inputs for k, i in D: agree x[k, out(i)] == d[k, i]
    constraint hidden for k, i in H: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
    constraint classes for k: y[k, C] - b[k, C] in margin(c[k], 0.1)
    constraint tie for j in H: agree w[*, in(j)] in sphere(1)
    constraint neuron for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
    constraint bias for j in H | C: agree b[*, j]
    """
    path = _write(tmp_path, "\n".join(line.strip() for line in text.splitlines()))
    with pytest.raises(ModelError) as e:
        compile_model(path, None, "numpy")
    assert "the weights w[*, in(j)] of C[0], C[1] have no consensus over items" in str(e.value)
    assert e.value.span.line == 15
    fixed = path.read_text().replace("for j in H: agree w", "for j in H | C: agree w")
    path.write_text(fixed)
    compile_model(path, None, "numpy")


_ROLESWAP = """\
    model roleswap "layer 1 learns its weights in x, layer 2 in w"
    param omega = 2.0
    nodes D[6], H[5], C[2]
    edges E = dense(D -> H) + dense(H -> C)
    batch k[12]
    input d[k, D]
    label c[k] in C
    var x[k, E]
    var w[k, E]
    var y[k, H | C] metric outdeg on H, 1 on C
    var b[k, H | C] metric outdeg on H, 1 on C
    constraint inputs  for k, i in D: agree w[k, out(i)] == d[k, i]
    constraint wh      for j in H:    agree x[*, in(j)] in sphere(omega)
    constraint hidden  for k, i in H: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
    constraint wc      for j in C:    agree w[*, in(j)] in sphere(omega)
    constraint classes for k:         y[k, C] - b[k, C] in margin(c[k], 0.1)
    constraint nh for k, j in H: dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
    constraint nc for k, j in C: dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
    constraint bias    for j in H | C: agree b[*, j]
    data train = "blobs:inputs=6,classes=2,items=48,seed=6"
    solve rrr(beta = 0.5, iterations = 20, epochs = 2)
    """


def test_a_variable_may_hold_the_weights_of_one_layer_and_the_values_of_another(tmp_path):
    """x learned on layer 1 (agree x[*, in(j)] on H), w on layer 2: each neuron has one
    operand tied over items on its own edges. It was refused: "both operands have a
    consensus over items", counting each variable's consensus anywhere (a user test)."""
    path = _write(tmp_path, _ROLESWAP)
    c = compile_model(str(path), None, "numpy")
    src = c.source
    assert 'params["x"][0:30]' in src and 'params["w"][30:40]' in src  # the forward pass
    ref, errs_np, *_ = _steps(str(path), "numpy")
    got, errs_jax, *_ = _steps(str(path), "jax")
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-12)
    s = _train(path, "numpy", tmp_path)
    assert s["train_err"] < 0.2


_CONSTANT_NODE = """\
    model constant_node "a node of learned constant value: (b, x) in shift1, b tied over items"
    param omega = 1.0
    set shift1 { x = z + 1 for all }
    nodes D[3], S[1], H[4], C[2]
    edges E = dense(D | S -> H) + dense(H -> C)
    batch k[8]
    input d[k, D]
    label c[k] in C
    var x[k, E]
    var w[k, E]
    var y[k, H | C] metric outdeg on H, 1 on C
    var b[k, S | H | C] metric 4 on S, outdeg on H, 1 on C
    constraint inputs  for k, i in D:     agree x[k, out(i)] == d[k, i]
    constraint src     for k, i in S:     (b[k, i], agree x[k, out(i)]) in shift1
    constraint hidden  for k, i in H:     (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
    constraint classes for k:             y[k, C] - b[k, C] in margin(c[k], 0.1)
    constraint weights for j in H | C:    agree w[*, in(j)] in sphere(omega)
    constraint neuron  for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
    constraint bias    for j in S | H | C: agree b[*, j]
    data train = "blobs:inputs=3,classes=2,items=32,seed=1"
    solve rrr(beta = 0.5, iterations = 20, epochs = 2)
    """


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_a_node_of_learned_activation_terms_is_inferred_from_the_parameters(backend,
                                                                            tmp_path):
    """A node with an activation and no neuron whose z is learned ((b, x) in shift1, b
    tied over items: a bias unit) was inferred as latent, 0 (a user test). Its value is
    f(b) of the parameters, for every item, in the forward pass and the warm start."""
    path = _write(tmp_path, _CONSTANT_NODE)
    c = compile_model(str(path), None, backend)
    assert not c.plan.schedules["k"].latent
    solver = load_solver(c.source)
    params = solver.initial_params(np.random.default_rng(0))
    params["b"] = np.asarray(params["b"]).copy()
    params["b"][0] = 0.25
    d = np.random.default_rng(1).random((8, 3))
    X, _ = solver.forward(params, {"d": d}, 8)
    s = 3  # S[0], after D[0..2]
    np.testing.assert_allclose(np.asarray(X)[:, s], 1.25)  # shift1: x = z + 1
    state = solver.init(params, {"d": d, "c": np.zeros(8, dtype=np.int64)})
    owners = c.plan.owners["x"]
    np.testing.assert_allclose(np.asarray(state["x"])[:, owners == s], 1.25)


def test_a_printed_curve_is_parsed_not_evaluated_and_computes_its_text():
    """backends/curves.py turns the printed code of a curve into a callable without eval:
    only z, numbers, math.e / math.pi, arithmetic and the array functions it prints are
    taken, and the result is the printed text's, bit for bit."""
    import ast
    import math

    import sympy
    from lwlc.backends import curves

    for bad in ("__import__('os')", "xp.load('f')", "z.__class__", "(lambda: 1)()"):
        with pytest.raises(ValueError, match="no array form"):
            curves._closure(ast.parse(bad, mode="eval").body)
    z = sympy.Symbol("z", real=True)
    t = np.linspace(-9.0, 9.0, 181)
    erf = curves._erf
    cases = (  # each curve with its printed text written out as NumPy, in the same order
        (100 * sympy.exp(-100 * z) / (1 + sympy.exp(-100 * z)) ** 2,
         "100*xp.exp(-100*z)/(1 + xp.exp(-100*z))**(2)",
         lambda z: 100 * np.exp(-100 * z) / (1 + np.exp(-100 * z)) ** (2)),
        (sympy.atan(z) + sympy.Rational(1, 5) * sympy.erf(z) - sympy.pi * z ** 3,
         "-math.pi*(z)**(3) + xp.arctan(z) + (1/5)*_erf(z)",
         lambda z: -math.pi * (z) ** (3) + np.arctan(z) + (1 / 5) * erf(z)),
        (sympy.sqrt(1 + z ** 2) / sympy.cosh(z) + sympy.E ** (-z) * sympy.Abs(z),
         "xp.sqrt((z)**(2) + 1)/xp.cosh(z) + xp.exp(-z)*xp.abs(z)",
         lambda z: np.sqrt((z) ** (2) + 1) / np.cosh(z) + np.exp(-z) * np.abs(z)),
    )
    for e, text, numpy_text in cases:
        assert curves.CurvePrinter().doprint(e) == text
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(curves._printed(e)(np, t), numpy_text(t))
