"""Issue 12, the front end: overflowing constants, data rows at their own line, data specs checked
by `lwlc check` and located at train time, --dtype with the NumPy backend, --set without `solve`,
warnings for silent model mistakes, `lwlc graph` of a model that does not split, solvers loaded
from memory, and output files that follow the umask."""

from __future__ import annotations

import inspect
import os
import stat
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lwlc import data as D
from lwlc import ir
from lwlc.cli import app
from lwlc.elaborate import elaborate, load_model
from lwlc.errors import ModelError, SplitError, format_warning
from lwlc.parse import parse_text
from lwlc.split import split

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

TINY = """\
model tiny
param omega = 2.0
param margin = 0.1
nodes D[3]
nodes H[4]
nodes C[2]
edges E = dense(D -> H) + dense(H -> C)
batch k[8]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | C] metric outdeg on H, 1 on C
var b[k, H | C] metric outdeg on H, 1 on C
constraint inputs  for k, i in D:     agree x[k, out(i)] == d[k, i]
constraint hidden  for k, i in H:     (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint classes for k:             y[k, C] - b[k, C] in margin(c[k], margin)
constraint weights for j in H | C:    agree w[*, in(j)] in sphere(omega)
constraint neuron  for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
constraint bias    for j in H | C:    agree b[*, j]
solve rrr(beta = 1.0, iterations = 10, epochs = 2, seed = 0)
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def load(src: str, overrides=None) -> ir.Model:
    return elaborate(parse_text(src, "t.lwl"), overrides)


def edit(src: str, old: str, new: str) -> str:
    assert src.count(old) == 1, old
    return src.replace(old, new)


def at(src: str, snippet: str) -> tuple[int, int]:
    pos = src.index(snippet)
    return src.count("\n", 0, pos) + 1, pos - (src.rfind("\n", 0, pos) + 1) + 1


def located(err, src: str, snippet: str, message: str) -> None:
    """err is at `snippet` in `src`, says `message`, and prints the line with a caret under it."""
    assert message in err.message, err.format()
    line, col = at(src, snippet)
    assert (err.span.line, err.span.col) == (line, col), err.format()
    out = err.format().splitlines()
    assert out[0].startswith(f"{err.span.file}:{line}:{col}: ")
    assert out[2] == "    " + " " * (col - 1) + "^" * len(snippet), err.format()


def write_model(tmp_path: Path, src: str, name: str = "m.lwl") -> Path:
    p = tmp_path / name
    p.write_text(src)
    return p


# --- 1. constants that overflow ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "snippet", "message"),
    [
        ("param omega = 2.0", "param omega = 1e308 * 10", "1e308 * 10",
         "the value overflows: 1e+308 * 10 is too large for a float"),
        ("param omega = 2.0", "param omega = 1e400", "1e400",
         "the number 1e400 is too large: it overflows a float"),
        ("param omega = 2.0", "param omega = exp(1000)", "exp(1000)",
         "the value overflows: exp(1000) is too large for a float"),
        ("param omega = 2.0", "param omega = 2 ^ 5000", "2 ^ 5000",
         "the value overflows: 2 ^ 5000 is too large"),
        ("param omega = 2.0", "param omega = 1e308 * 10 - 1e308 * 10", "1e308 * 10",
         "the value overflows"),
        ("param margin = 0.1", "param margin = max(0.1, -1e999)", "1e999",
         "the number 1e999 is too large"),
        ("iterations = 10", "iterations = 10, lam = 1e400", "1e400",
         "the number 1e400 is too large"),
        ("in relu", "in lin2", "1e200 * (1e200 * z)", "the value overflows: the piece's "
         "coefficients are too large"),
        ("in relu", "in lin3", "1e999", "the number 1e999 is too large"),
        ("in margin(c[k], margin)", "in margin(c[k], margin) exempt 1e999%", "1e999%",
         "the number 1e999% is too large"),
    ],
)
def test_overflowing_constants_are_located_errors(old, new, snippet, message):
    src = edit(TINY, old, new)
    src += "set lin2 { x = 1e200 * (1e200 * z) for all }\nset lin3 { x = z for z <= 1e999 }\n"
    with pytest.raises(ModelError) as info:
        load(src)
    located(info.value, src, snippet, message)


def test_non_finite_solver_settings_from_set_are_refused():
    for name in ("lam", "tolerance", "beta"):
        with pytest.raises(ModelError) as info:
            load(TINY, {name: float("inf")})
        assert info.value.message == f"--set {name}=inf: a solver setting is a finite number"


# --- 2. data rows at their own line -----------------------------------------------------------


def data_error(tmp_path: Path, content: str) -> D.DataError:
    p = tmp_path / "d.txt"
    p.write_text(content)
    with pytest.raises(D.DataError) as info:
        D.load(str(p))
    assert str(info.value).startswith(f"{p}:{info.value.line}:{info.value.col}: error: ")
    return info.value


ROWS = "".join(f"{i % 2}. 1. 0. {i % 2}\n" for i in range(20))  # 3 inputs + class, like maj13


def test_row_with_a_missing_value_is_reported_at_its_line(tmp_path):
    lines = ROWS.splitlines(keepends=True)
    lines[6] = "1. 0. 1\n"  # file line 8 (header, then item 1 on line 2)
    e = data_error(tmp_path, "3 2\n" + "".join(lines))
    assert e.message == ("item 7: expected 4 numbers on its line (3 inputs + the class index), "
                         "found 3: a value is missing")
    assert (e.line, e.col) == (8, 1) and "one item per line" in e.hint


def test_row_with_an_extra_value_is_reported_at_the_extra_value(tmp_path):
    lines = ROWS.splitlines(keepends=True)
    lines[3] = "1. 1. 0. 0. 1\n"
    e = data_error(tmp_path, "3 2\n" + "".join(lines))
    assert e.message.startswith("item 4: expected 4 numbers on its line") and "found 5" in e.message
    assert (e.line, e.col) == (5, 13)  # the fifth number


def test_a_short_row_and_a_long_row_do_not_cancel(tmp_path):
    # the total count is right, so a flat reader would shift items 2..3 silently
    e = data_error(tmp_path, "3 2\n0. 1. 0. 1\n0. 1. 1\n0 0. 1. 0. 1\n1. 1. 1. 0\n")
    assert e.message.startswith("item 2:") and (e.line, e.col) == (3, 1)


def test_non_finite_and_unparsable_values_at_their_line(tmp_path):
    lines = ROWS.splitlines(keepends=True)
    for bad, message in (("1. nan 0. 1\n", "item 10, input 2: 'nan' is not finite"),
                         ("1. 1e999 0. 1\n", "item 10, input 2: '1e999' is not finite"),
                         ("1. 0,5 0. 1\n", "not a number: '0,5'")):
        e = data_error(tmp_path, "3 2\n" + "".join(lines[:9]) + bad + "".join(lines[10:]))
        assert message in e.message and (e.line, e.col) == (11, 4)


def test_items_may_span_whole_lines(tmp_path):
    p = tmp_path / "span.txt"
    p.write_text("3 2\n0.5 1\n-2\n1\n\n0.25 0\n3 0\n")
    ds = D.load(str(p))
    np.testing.assert_array_equal(ds.inputs, [[0.5, 1, -2], [0.25, 0, 3]])
    np.testing.assert_array_equal(ds.labels, [1, 0])
    p.write_text("3 2\n1 2 3 0 4 5 6 1\n")  # whole items on one line
    assert D.load(str(p)).n_items == 2


def test_an_item_that_does_not_end_at_a_line_end(tmp_path):
    e = data_error(tmp_path, "3 2\n1 2\n3 0\n4 5\n1\n7 8\n9 0\n")
    assert e.message == ("item 2 (from line 4) does not end at a line end: it has 3 numbers "
                         "before this line, which holds 2 more, but an item has 4 (3 inputs + "
                         "the class index)")
    assert (e.line, e.col) == (6, 3) and "item 2 lacks a value" in e.hint


def test_shared_data_file_layout_is_one_item_per_line():
    path = ROOT.parent / "shared" / "data" / "maj13_2_3_train"
    if not path.exists():
        pytest.skip("../shared is not beside the checkout")
    rows = [line.split() for line in path.read_text().splitlines()[1:] if line.strip()]
    assert {len(r) for r in rows} == {14}
    assert D.load(str(path)).n_items == len(rows) == 4096


# --- 3. data specs in the model ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message", "hint"),
    [
        ("majorty:depth=2", "data train: unknown data generator 'majorty'",
         "did you mean 'majority'?"),
        ("majority:dpeth=2", "data train: majority: unknown key 'dpeth'", "did you mean 'depth'?"),
        ("majority:inputs=12", "data train: majority: bad value inputs=12: inputs must be odd",
         None),
        ("ledm:m=x", "data train: ledm: bad value m=x: expected an integer", None),
        ("blobs:items=10,limit=0", "data train: blobs: bad value limit=0", None),
    ],
)
def test_bad_data_specs_fail_check_at_the_string(tmp_path, spec, message, hint):
    src = TINY + f'data train = "{spec}"\n'
    p = write_model(tmp_path, src)
    with pytest.raises(ModelError) as info:
        load_model(p)
    located(info.value, src, f'"{spec}"', message)
    if hint:
        assert hint in info.value.hint
    r = run("check", p)
    line, col = at(src, f'"{spec}"')
    assert r.exit_code == 1 and f"m.lwl:{line}:{col}: error: {message}" in r.output


def test_good_data_specs_pass_and_a_bare_generator_name_is_a_generator(tmp_path):
    (tmp_path / "d.txt").write_text("3 2\n0 1 0 1\n")
    src = TINY + 'data train = "d.txt?limit=1"\ndata test = "ledm"\n'
    m = load_model(write_model(tmp_path, src))
    assert not m.warnings
    assert m.data["train"] == f"{tmp_path / 'd.txt'}?limit=1" and m.data["test"] == "ledm"
    assert D.load(m.data["test"], role="test").n_inputs == 6


def test_missing_data_file_is_a_warning_at_check_and_an_error_at_load(tmp_path):
    src = TINY + 'data train = "nosuch/train.txt"\n'
    p = write_model(tmp_path, src)
    m = load_model(p)
    (w,) = m.warnings
    assert w.message == f"data train: data file not found ({tmp_path / 'nosuch/train.txt'})"
    assert (w.span.line, w.span.col) == at(src, '"nosuch')
    r = run("check", "-q", p)
    assert r.exit_code == 0 and f"m.lwl:{w.span.line}:{w.span.col}: warning: data train" in r.output
    with pytest.raises(D.DataError) as info:
        D.load(m.data["train"], role="train")
    e = info.value
    assert e.message.startswith("data train: data file not found")
    located(e, src, '"nosuch/train.txt"', "data file not found")


def test_error_inside_a_model_data_file_names_the_model_line(tmp_path):
    (tmp_path / "d.txt").write_text("3 2\n0 1 0 1\n0 1 1\n")
    src = TINY + 'data train = "d.txt"\n'
    m = load_model(write_model(tmp_path, src))
    with pytest.raises(D.DataError) as info:
        D.load(m.data["train"])
    e = info.value
    assert (e.path, e.line) == (str(tmp_path / "d.txt"), 3)
    line, col = at(src, '"d.txt"')
    assert f"the file is the model's data train ({tmp_path / 'm.lwl'}:{line}:{col})" in e.hint


def test_train_reports_a_missing_model_data_file_at_its_data_line(tmp_path):
    src = edit(TINY, "batch k[8]", "batch k[2]") + 'data train = "gone.txt"\n'
    p = write_model(tmp_path, src)
    r = run("train", p, "--quiet", "--set", "epochs=1")
    line, col = at(src, '"gone.txt"')
    assert r.exit_code == 1, r.output
    assert f"m.lwl:{line}:{col}: error: data train: data file not found" in r.output
    assert "warning: data train" not in r.output  # said once, as the error (check warns)
    assert "Traceback" not in r.output


# --- 4. --dtype float32 with the NumPy backend ------------------------------------------------


def test_numpy_backend_refuses_float32():
    for cmd in ("train", "compile"):
        r = run(cmd, ROOT / "models" / "majority.lwl", "--backend", "numpy", "--dtype", "float32")
        assert r.exit_code == 1
        assert ("lwlc: error: --dtype float32 needs --backend jax: the NumPy backend is the "
                "float64 reference") in r.output
        assert "hint: use --backend jax --dtype float32" in r.output


# --- 5. --set of solver settings without a solve statement ------------------------------------


def test_set_solver_settings_without_solve():
    src = TINY.replace("solve rrr(beta = 1.0, iterations = 10, epochs = 2, seed = 0)\n", "")
    m = load(src, {"epochs": 1, "beta": 0.5, "iterations": 7})
    assert (m.solver.epochs, m.solver.beta, m.solver.iterations) == (1, 0.5, 7)
    assert load(src).solver.epochs == 10
    with pytest.raises(ModelError) as info:
        load(src, {"epoch": 1})
    assert info.value.hint == "did you mean 'epochs'?"


# --- 6. warnings ------------------------------------------------------------------------------


def test_shipped_models_have_no_warnings():
    """No model mistakes; a data file missing here (../shared is not beside every checkout)
    is about the machine, not the model."""
    for p in sorted((ROOT / "models").glob("*.lwl")):
        found = [w for w in load_model(p).warnings if "data file not found" not in w.message]
        assert found == [], p


def test_unused_input_and_label_warn():
    src = edit(TINY, "label c[k] in C", "label c[k] in C\ninput e[k, D]\nlabel c2[k] in C")
    m = load(src)
    assert [w.message for w in m.warnings] == [
        "input e is not used by any constraint: its values are ignored",
        "label c2 is not used by any constraint: the classes are ignored",
    ]
    assert (m.warnings[0].span.line, m.warnings[0].span.col) == at(src, "input e")
    out = format_warning(m.warnings[0]).splitlines()
    line, col = at(src, "input e")
    assert out[0] == f"t.lwl:{line}:{col}: warning: input e is not used by any constraint: " \
                     "its values are ignored"
    assert out[1] == "    input e[k, D]" and out[2] == "    ^^^^^^^^^^^^^"
    assert out[3].startswith("  hint: ")


def test_random_edges_that_drop_data_and_nodes_without_edges_warn():
    src = edit(TINY, "nodes D[3]", "nodes D[10]\nnodes X[2]")
    src = edit(src, "dense(D -> H)", "random(D -> H, fanin = 2, seed = 1)")
    m = load(src)
    by_text = {w.message.split(" have ")[0]: w for w in m.warnings}
    w = next(w for k, w in by_text.items() if k.startswith("nodes D["))
    assert w.message.endswith("have no out-edges in E: constraint 'inputs' (line 16) has "
                              "nothing to agree over there, so their data d[k, i] is dropped")
    assert "of the 10 nodes of D" in w.message and "raise fanin" in w.hint
    assert (w.span.line, w.span.col) == at(src, "random(D -> H")
    x = by_text["nodes X[0], X[1] (all 2 nodes of X)"]
    assert x.message.endswith("have no edges: nothing connects them to the network")
    assert (x.span.line, x.span.col) == at(src, "X[2]")


def test_nodes_with_in_edges_whose_value_is_dropped_warn():
    src = edit(TINY, "nodes C[2]", "nodes C[2], Z[2]")
    src = edit(src, "dense(H -> C)", "dense(H -> C) + dense(H -> Z)")
    src = edit(src, "var y[k, H | C] metric outdeg on H, 1 on C", "var y[k, H | C | Z]")
    src = edit(src, "var b[k, H | C] metric outdeg on H, 1 on C", "var b[k, H | C | Z]")
    src = edit(src, "for k, j in H | C: dot", "for k, j in H | C | Z: dot")
    m = load(src)
    (w,) = m.warnings
    assert w.message == ("nodes Z[0], Z[1] (all 2 nodes of Z) have in-edges but no out-edges, "
                         "and no class or data constraint reads them: their value is dropped")


def test_check_and_train_print_warnings(tmp_path):
    src = edit(TINY, "label c[k] in C", "label c[k] in C\ninput e[k, D]")
    p = write_model(tmp_path, src)
    line, col = at(src, "input e")
    r = run("check", "-q", p)
    assert r.exit_code == 0 and f"m.lwl:{line}:{col}: warning: input e is not used" in r.output
    r = run("train", p, "--data", "nosuchgen:x=1", "--quiet")  # fails later, warns first
    assert f"m.lwl:{line}:{col}: warning: input e is not used" in r.output


# --- 7. lwlc graph of a model that does not split ---------------------------------------------

CYCLE = """\
model t
nodes D[2], H1[3], H2[2]
edges E = dense(D -> H1) + dense(H1 -> H2)
batch k[4]
var x[k, E]
var w[k, E]
var y[k, H1 | H2]
constraint act for k, i in H1: (y[k, i], agree x[k, out(i)]) in relu
constraint neuron for k, j in H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint tie for j in H1 | H2: agree y[*, j]
constraint wts for j in H2: agree w[*, in(j)]
"""


def test_graph_draws_the_odd_cycle_in_red(tmp_path):
    with pytest.raises(SplitError) as info:
        split(load(CYCLE))
    err = info.value
    assert err.cycle == ("act", "neuron", "tie") and err.families == err.cycle
    assert err.message.startswith("the constraints cannot be split into two sets A and B: 3 of "
                                  "them form an odd cycle")
    p = write_model(tmp_path, CYCLE)
    out = tmp_path / "g.dot"
    r = run("graph", p, "-o", out)
    assert r.exit_code == 1
    assert f"m.lwl:8:1: error: {err.message}" in r.output and f"wrote {out}" in r.output
    dot = out.read_text()
    for name in ("act", "neuron", "tie"):
        assert f'"{name}" [label="{name}\\nline' in dot
        assert f'"{name}" [label' in dot and dot.count('color="#d62728", penwidth=4') == 3
    assert '"act" -- "neuron" [label="x", color="#d62728", penwidth=3];' in dot
    assert '"neuron" -- "wts" [label="w"];' in dot  # not on the cycle: plain
    png = tmp_path / "g.png"
    assert run("graph", p, "-o", png).exit_code == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_draws_the_three_constraints_on_one_element(tmp_path):
    src = CYCLE.replace("constraint tie for j in H1 | H2", "constraint tie for j in H1").replace(
        "for k, j in H2: dot", "for k, j in H1 | H2: dot")
    with pytest.raises(SplitError) as info:
        split(load(src))
    assert info.value.families == ("act", "neuron", "tie") and info.value.variables == ("y",)
    assert info.value.message.startswith("y[k=0, H1[0]] is touched by three constraints")
    out = tmp_path / "g.svg"
    r = run("graph", write_model(tmp_path, src), "-o", out)
    assert r.exit_code == 1 and "touched by three constraints" in r.output
    assert "<svg" in out.read_text()


def test_graph_of_a_model_that_splits_is_unchanged(tmp_path):
    out = tmp_path / "g.dot"
    r = run("graph", write_model(tmp_path, TINY), "-o", out)
    assert r.exit_code == 0 and "set A" in out.read_text()


# --- 8. solvers are loaded from memory --------------------------------------------------------

SOURCE = '''\
import jax
import jax.numpy as jnp


def double(x):
    return 2 * jnp.sin(x)


def fail():
    raise ValueError("emitted code failed")
'''


def test_load_solver_uses_no_files(tmp_path, monkeypatch):
    import tempfile

    from lwlc.compiler import load_solver

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / "lwlc_solvers"
    planted.mkdir()
    (planted / "x.py").write_text("raise SystemExit('planted code ran')\n")
    mod = load_solver(SOURCE, name="t_solver")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["lwlc_solvers", "x.py"]
    assert sys.modules[mod.__name__] is mod and load_solver(SOURCE, name="t_solver") is mod
    assert mod.__name__.startswith("t_solver_") and mod.__file__.endswith(".py")
    assert not os.path.exists(mod.__file__)
    # the source is readable where tracebacks and JAX look for it
    assert inspect.getsource(mod.double).startswith("def double(x):")
    import linecache

    linecache.clearcache()  # the loader serves it again
    assert "emitted code failed" in inspect.getsource(mod.fail)
    try:
        mod.fail()
    except ValueError:
        text = traceback.format_exc()
    assert f'File "{mod.__file__}", line 10, in fail' in text
    assert 'raise ValueError("emitted code failed")' in text
    import jax

    assert float(jax.jit(mod.double)(0.5)) == pytest.approx(2 * np.sin(0.5), rel=1e-6)


def test_jit_on_an_emitted_jax_solver():
    import jax

    from lwlc.compiler import compile_model, load_solver

    c = compile_model(ROOT / "models" / "majority.lwl", {"k": 8}, backend="jax")
    mod = load_solver(c.source)
    assert inspect.getsource(mod.project_A).startswith("def project_A")
    rng = np.random.default_rng(0)
    params = mod.initial_params(rng)
    data = {"d": rng.integers(0, 2, (8, 13)).astype(float), "c": rng.integers(0, 2, 8)}
    state = mod.init(params, data)
    got = jax.jit(mod.project_A)(state, data)
    want = mod.project_A(state, data)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-9)


# --- 9. outputs follow the umask --------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_write_follows_the_umask(tmp_path, mask):
    from lwlc.driver import atomic_write_bytes

    old = os.umask(mask)
    try:
        atomic_write_bytes(tmp_path / "sub" / "out.bin", b"payload")
    finally:
        os.umask(old)
    p = tmp_path / "sub" / "out.bin"
    assert p.read_bytes() == b"payload"
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    assert [q.name for q in p.parent.iterdir()] == ["out.bin"]  # no temporary left


def test_nodes_declared_after_an_edge_set_do_not_break_the_warnings(tmp_path):
    """Found by the model generator: degrees of an edge set declared before later `nodes`."""
    from lwlc.elaborate import load_model

    path = tmp_path / "late.lwl"
    path.write_text(
        "nodes C[2], D[3]\nedges E = dense(C -> D)\nnodes P[1], Q[2]\nedges F = dense(P -> Q)\n"
        "batch k[3]\ninput Y[k, D]\nvar x[k, E]\nvar w[k, E]\n"
        "constraint codes for k, i in C: agree x[k, out(i)] >= 0\n"
        "constraint weights for i in C: agree w[*, out(i)] in nonneg & sphere(1)\n"
        "constraint factor for k, j in D: dot(x[k, in(j)], w[k, in(j)]) == Y[k, j]\n")
    model = load_model(path)
    assert any("P[0]" in w.message or "Q" in w.message for w in model.warnings)


@pytest.mark.parametrize("what", ["graph", "data"])
def test_graphs_and_data_files_follow_the_umask(tmp_path, what):
    """Every output follows the umask, the constraint graph and saved data files too."""
    import os

    from lwlc import data as datamod
    from lwlc.elaborate import load_model
    from lwlc.split import split, write_graph

    old = os.umask(0o022)
    try:
        if what == "graph":
            m = load_model(ROOT / "models" / "majority.lwl")
            path = tmp_path / "g.dot"
            write_graph(m, split(m), path)
        else:
            path = tmp_path / "d.txt"
            datamod.save_text(datamod.load("blobs:items=4"), path)
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


def test_data_of_the_wrong_width_from_the_model_is_an_error_at_its_data_line(tmp_path):
    # a spec written in the model points at its `data` line; one from --data has no line
    src = TINY + 'data train = "majority:inputs=5,depth=1"\n'
    path = write_model(tmp_path, src)
    r = run("train", path, "--out", tmp_path / "run")
    assert r.exit_code == 1 and "Traceback" not in r.output
    line, col = at(src, '"majority:inputs=5,depth=1"')
    assert f"m.lwl:{line}:{col}: error: data train: data " in r.output
    assert "has 5 inputs per item but the model's data layer has 3 nodes" in r.output
    assert "^" * len('"majority:inputs=5,depth=1"') in r.output
    r = run("train", path, "--data", "majority:inputs=5,depth=1", "--out", tmp_path / "r2")
    assert r.exit_code == 1 and "lwlc: error: data " in r.output
    # an input bound by its own data line, of the wrong width, likewise
    src = edit((ROOT / "models" / "binary_autoencoder.lwl").read_text(),
               'data s     = "bits:n={n}"', 'data s     = "bits:n=4"')
    r = run("train", write_model(tmp_path, src, "s.lwl"), "--out", tmp_path / "r3")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    line, col = at(src, '"bits:n=4"')
    assert f"s.lwl:{line}:{col}: error: data s: " in r.output, r.output


def test_data_for_a_sample_is_refused_at_its_line():
    """`data s = ...` for a sample was accepted and never read (a user test)."""
    src = (Path(__file__).resolve().parent.parent / "models" / "mnist_autoencoder.lwl") \
        .read_text() + '\ndata s = "bits:n=10"\n'
    with pytest.raises(ModelError) as e:
        load(src)
    assert "sample s draws its values from the source of its `sample` line" in e.value.message
    assert e.value.span.line == src.count("\n")
    assert "input s[...]" in e.value.hint


def test_in_for_out_on_the_data_nodes_warns_with_the_right_hint():
    """`agree x[k, in(i)] == d[k, i]` on a data layer with only out-edges: the hint spoke
    of random(...)'s fanin in a dense model (a user test)."""
    src = edit(TINY, "agree x[k, out(i)] == d[k, i]", "agree x[k, in(i)] == d[k, i]")
    m = load(src)
    w = next(w for w in m.warnings if "have no in-edges" in w.message)
    assert "their data d[k, i] is dropped" in w.message
    assert w.hint == ("these nodes have out-edges: in(i) selects the edges entering node i; "
                      "did you mean out(i)?")


def test_an_option_given_twice_in_random_is_an_error():
    """random(D -> H, fanin = 2, fanin = 3) took the last one without a word."""
    src = edit(TINY, "dense(D -> H)", "random(D -> H, fanin = 2, fanin = 3)")
    with pytest.raises(ModelError) as e:
        load(src)
    assert e.value.message == "random(...) gives fanin twice"
    assert (e.value.span.line, e.value.span.col) == at(src, "fanin = 3")


def test_outdeg_with_two_edge_sets_names_the_one_it_counts():
    """The message said a node had no out-edges where it had some in a second edge set."""
    src = edit(TINY, "edges E = dense(D -> H) + dense(H -> C)",
               "edges E = dense(D -> H)\nedges F = dense(H -> C)")
    with pytest.raises(ModelError) as e:
        load(src)
    assert "no out-edges in edge set E, so its outdeg is 0 (outdeg counts the edges of E " \
           "only: the first edge set that variables are over)" in e.value.message


def test_a_model_parameter_named_z_is_said_to_be_hidden_in_set_pieces():
    """`param z` then `set s { x = z + z ... }` read z as the set's coordinate, silently."""
    src = edit(TINY, "param margin = 0.1", "param margin = 0.1\nparam z = 3") + \
        "set dbl { x = z + z for all }\n"
    m = load(src)
    (w,) = [w for w in m.warnings if w.message.startswith("param z:")]
    assert "inside the pieces of set dbl" in w.message and "param z0" in w.hint
    assert (w.span.line, w.span.col) == at(src, "param z = 3")
    assert not [w for w in load(TINY).warnings if w.message.startswith("param ")]


def test_an_error_at_a_line_that_reads_an_overridden_name_names_the_set():
    """`--set omega=-1` was blamed on the model's line alone (a user test)."""
    with pytest.raises(ModelError) as e:
        load(TINY, {"omega": -1.0})
    assert e.value.message.endswith("(with --set omega=-1)")
    assert "sphere(omega)" in e.value.span.line_text()
    with pytest.raises(ModelError) as e:  # an error of the model's own: no --set named
        load(edit(TINY, "sphere(omega)", "sphere(-1)"), {"margin": 0.2})
    assert "--set" not in e.value.message
