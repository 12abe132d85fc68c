"""The `lwlc` command line as a user meets it: summaries, located errors, exit codes, outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lwlc.cli import app

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted((ROOT / "models").glob("*.lwl"))
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_check_accepts_every_shipped_model(model):
    r = run("check", model)
    assert r.exit_code == 0, r.output
    assert "constraint" in r.output and "set" in r.output


def test_check_prints_sizes_and_split():
    r = run("check", ROOT / "models" / "majority.lwl")
    assert r.exit_code == 0
    out = r.output
    assert "390 edges" in out and "batch k: 128 items" in out
    for family in ("inputs", "hidden", "classes", "weights", "neuron", "bias"):
        assert family in out


def test_set_overrides_parameters_and_settings():
    r = run("check", ROOT / "models" / "nmf_ledm.lwl", "--set", "m=8", "--set", "r=6",
            "--set", "beta=0.5")
    assert r.exit_code == 0, r.output
    assert "48 edges" in r.output and "beta 0.5" in r.output


@pytest.mark.parametrize("item, hint", [("error=element", 'error = "item" or "element"'),
                                         ("error=1", 'error = "item" or "element"'),
                                         ("method=dr", "solve rrr(...), dr(...) or ap(...)")])
def test_solve_words_cannot_be_set_and_say_where_they_go(item, hint):
    r = run("check", ROOT / "models" / "majority.lwl", "--set", item)
    assert r.exit_code == 1 and "cannot be set with --set" in r.output and hint in r.output


def test_whole_number_settings_stay_exact_and_an_empty_data_option_is_refused(tmp_path):
    """--seed 2^53 + 1 ran as 2^53 (the value went through a float); --set seed=1e30 was
    taken; --data "" silently used the model's data."""
    import numpy as np

    model = ROOT / "models" / "nmf_ledm.lwl"
    for seed in ("9007199254740993", "9007199254740992"):
        r = run("train", model, "--seed", seed, "--set", "iterations=2", "-q", "-o",
                tmp_path / seed)
        assert r.exit_code == 0, r.output
        assert json.loads((tmp_path / seed / "run.json").read_text())["seed"] == int(seed)
    a, b = (np.load(tmp_path / s / "params.npz")["w"] for s in ("9007199254740993",
                                                                "9007199254740992"))
    assert not np.array_equal(a, b)
    r = run("check", model, "--set", "seed=1e30")
    assert r.exit_code == 1 and "beyond 2^53" in r.output
    for args in (["train", model, "--data", ""], ["train", model, "--test", " "],
                 ["evaluate", model, "--data", "", "-p", "x.npz"]):
        r = run(*args)
        assert r.exit_code == 1 and f"{args[2]} is empty" in r.output, r.output


def test_unknown_set_name_is_an_error_with_a_hint():
    r = run("check", ROOT / "models" / "majority.lwl", "--set", "omgea=3")
    assert r.exit_code == 1
    assert "omgea" in r.output and "did you mean 'omega'" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("text,where,fragment", [
    ("", "1:1", "empty"),
    ("nodes D[3]\nnodes H[", "2:", "ends in the middle"),
    ("nodes D[3]]\n", "1:11", "unexpected"),
    ("\x00\x01binary", "1:1", "binary"),
    ("model m\nparam a = b\n", "2:11", "unknown parameter 'b'"),
])
def test_bad_model_files_get_located_errors(tmp_path, text, where, fragment):
    bad = tmp_path / "bad.lwl"
    bad.write_bytes(text.encode("latin-1"))
    r = run("check", bad)
    assert r.exit_code == 1
    assert f"bad.lwl:{where}" in r.output and fragment in r.output
    assert "Traceback" not in r.output


def test_missing_file():
    r = run("check", "no/such/model.lwl")
    assert r.exit_code == 1 and "no such model file" in r.output


def test_emit_ir_and_graph(tmp_path):
    r = run("compile", ROOT / "models" / "majority.lwl", "--emit", "ir")
    assert r.exit_code == 0 and "families (elaborated)" in r.output
    r = run("compile", ROOT / "models" / "majority.lwl", "--emit", "graph")
    assert r.exit_code == 0 and "digraph" in r.output or "graph" in r.output
    r = run("graph", ROOT / "models" / "majority.lwl", "-o", tmp_path / "g.dot")
    assert r.exit_code == 0 and (tmp_path / "g.dot").read_text().strip()
    r = run("graph", ROOT / "models" / "majority.lwl", "-o", tmp_path)  # a folder
    assert r.exit_code == 1 and f"{tmp_path} is a directory, not a file" in r.output, r.output
    assert "Traceback" not in r.output


def test_compile_is_deterministic_and_standalone(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    for out in (a, b):
        r = run("compile", ROOT / "models" / "majority.lwl", "--backend", "numpy", "-o", out)
        assert r.exit_code == 0, r.output
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert "majority.lwl:27" in text and "def constraint_neuron" in text
    subprocess.run([sys.executable, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())",
                    str(a)], check=True)


def test_help_explains_commands():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("check", "compile", "graph", "train", "evaluate", "predict", "plot", "test"):
        assert cmd in r.output
    r = run("train", "--help")
    assert "--set" in r.output and "--resume" in r.output


def test_train_evaluate_predict(tmp_path):
    out = tmp_path / "run"
    spec = "majority:inputs=13,depth=2,seed=2,limit=64"
    r = run("train", ROOT / "models" / "majority.lwl", "--data", spec, "--set", "batch=32",
            "--set", "epochs=1", "--set", "iterations=5", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    assert "lwlc plot" not in r.output
    r = run("train", ROOT / "models" / "majority.lwl", "--data", spec, "--set", "batch=32",
            "--set", "epochs=2", "--set", "iterations=5", "--out", out, "--resume")
    assert r.exit_code == 0, r.output
    assert f"the run is in {out} (`lwlc plot {out} -o curves.png` draws its curves)" in \
        r.output.replace("\n", " ")
    r = run("plot", out, "-o", tmp_path / "curves.png")  # the run's own log, two epochs
    assert r.exit_code == 0 and "2 epoch(s)" in r.output, r.output
    r = run("evaluate", ROOT / "models" / "majority.lwl", "--params", out / "params.npz",
            "--data", spec)
    assert r.exit_code == 0, r.output
    assert '"error"' in r.output and '"items": 64' in r.output
    r = run("predict", ROOT / "models" / "majority.lwl", "--params", out / "params.npz",
            "--data", spec, "-o", tmp_path / "pred.txt")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "pred.txt").read_text().split()
    assert len(lines) == 64 and set(lines) <= {"0", "1"}
    # a solver setting changes nothing here: said so, not silently ignored (a user test)
    for cmd in ("evaluate", "predict"):
        r = run(cmd, ROOT / "models" / "majority.lwl", "--params", out / "params.npz",
                "--data", spec, "-s", "iterations=500", "-s", "seed=3")
        assert r.exit_code == 0, r.output
        assert "--set iterations, seed: the solver's settings for training, unused" in r.output
    r = run("evaluate", ROOT / "models" / "majority.lwl", "--params", out / "params.npz",
            "--data", spec, "-s", "margin=0.2")
    assert r.exit_code == 0, r.output


def test_predict_takes_unlabeled_data(tmp_path):
    """Predicting classes of items nobody has labeled is what predict is for; evaluate
    still needs the labels."""
    out = tmp_path / "run"
    spec = "majority:inputs=13,depth=2,seed=2,limit=32"
    r = run("train", ROOT / "models" / "majority.lwl", "--data", spec, "--set", "batch=32",
            "--set", "epochs=1", "--set", "iterations=5", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    rng = np.random.default_rng(0)
    items = rng.integers(0, 2, size=(5, 13)) * 2 - 1
    (tmp_path / "unlabeled.txt").write_text(
        "13\n" + "\n".join(" ".join(str(v) for v in row) for row in items) + "\n")
    r = run("predict", ROOT / "models" / "majority.lwl", "--params", out / "params.npz",
            "--data", tmp_path / "unlabeled.txt")
    assert r.exit_code == 0, r.output
    assert len(r.output.split()) == 5 and set(r.output.split()) <= {"0", "1"}
    r = run("evaluate", ROOT / "models" / "majority.lwl", "--params", out / "params.npz",
            "--data", tmp_path / "unlabeled.txt")
    assert r.exit_code == 1 and "has no labels" in r.output


DECODER = """\
model deepdec "decoder only: latent codes -> relu hidden -> data"
nodes Zl[2], Hh[5], Dd[6]
edges E = dense(Zl -> Hh) + dense(Hh -> Dd)
batch k[8]
input Y[k, Dd]
var x[k, E]
var w[k, E]
var y[k, Hh] metric outdeg
var b[k, Hh] metric outdeg
constraint codes for k, i in Zl: agree x[k, out(i)] in box(0, 1)
constraint act   for k, i in Hh: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint wn    for j in Hh | Dd: agree w[*, in(j)] in sphere(1.5)
constraint nn    for k, j in Hh: dot(x[k, in(j)], w[k, in(j)]) == 1.5 * y[k, j]
constraint fit   for k, j in Dd: dot(x[k, in(j)], w[k, in(j)]) == Y[k, j]
constraint bb    for j in Hh: agree b[*, j]
data train = "bits:n=6"
solve rrr(iterations = 5, epochs = 1)
"""


def test_predictions_through_latent_nodes_no_solve_infers_say_so(tmp_path):
    """A decoder whose codes feed a hidden layer (not the fixed product) predicted the same
    row for every item without a word (a user test); NMF's codes are solved (no note)."""
    model = tmp_path / "dec.lwl"
    model.write_text(DECODER)
    r = run("train", model, "-o", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    # train's metrics too (it reported a test RMSE through codes of 0 without a word)
    assert "taken as 0 in the metrics of items that no one-batch run's state holds" in r.output
    # but not where one batch holds all 64 items and there is no test set (a re-test)
    r = run("train", model, "--set", "k=64", "-o", tmp_path / "one", "--quiet")
    assert r.exit_code == 0 and "latent nodes" not in r.output, r.output
    for cmd in ("predict", "evaluate"):
        r = run(cmd, model, "--params", tmp_path / "run" / "params.npz", "--data", "bits:n=6")
        assert r.exit_code == 0, r.output
        assert "the latent nodes Zl[0], Zl[1] get their values from training" in r.output
        assert "taken as 0 here" in r.output
    nmf = ROOT / "models" / "nmf_ledm.lwl"
    r = run("train", nmf, "--set", "iterations=3", "-o", tmp_path / "nmf", "--quiet")
    assert r.exit_code == 0 and "latent nodes" not in r.output, r.output
    r = run("evaluate", nmf, "--params", tmp_path / "nmf" / "params.npz", "--data",
            "ledm:m=6")
    assert r.exit_code == 0 and "latent nodes" not in r.output, r.output


TWO_CLASS_PARTS = """\
model two_parts
nodes D[4], H[6], C[2]
edges E = dense(D -> H) + dense(H -> C)
batch k = p[12] + q[4]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | C] metric outdeg on H, 1 on C
var b[k, H | C] metric outdeg on H, 1 on C
constraint inputs  for k, i in D:     agree x[k, out(i)] == d[k, i]
constraint hidden  for k, i in H:     (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint cp      for k in p:        y[k, C] - b[k, C] in margin(c[k], 0.1)
constraint cq      for k in q:        y[k, C] - b[k, C] in margin(c[k], 0.1)
constraint weights for j in H | C:    agree w[*, in(j)] in sphere(2)
constraint neuron  for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == 2 * y[k, j]
constraint bias    for j in H | C:    agree b[*, j]
data train = "blobs:items=64"
data test  = "blobs:items=32"
solve rrr(iterations = 5, epochs = 1)
"""


def test_predict_with_class_constraints_over_different_batch_parts(tmp_path):
    """Each class constraint is inferred as items of its own part (this was an internal
    error: every target was read from the first one's inference); the columns score as
    evaluate scores them."""
    model = tmp_path / "two_parts.lwl"
    model.write_text(TWO_CLASS_PARTS)
    r = run("train", model, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    params = tmp_path / "run" / "params.npz"
    r = run("predict", model, "--params", params, "-o", tmp_path / "pred.txt")
    assert r.exit_code == 0, r.output
    assert "note: the columns, in order: cp, cq" in r.output  # unnamed before (a user test)
    pred = np.loadtxt(tmp_path / "pred.txt", dtype=int)
    assert pred.shape == (32, 2)
    from lwlc.data import load

    labels = load("blobs:items=32", role="test").labels
    r = run("evaluate", model, "--params", params)
    assert r.exit_code == 0, r.output
    scores = json.loads(r.output[r.output.index("{"):])
    for col, name in enumerate(("cp", "cq")):
        assert np.mean(pred[:, col] != labels) == pytest.approx(scores[f"{name}_error"])


def test_check_reports_what_lowering_refuses(tmp_path):
    """A dot(x, w) where neither operand has a consensus over items passed `lwlc check`
    and failed at `lwlc train`; check now lowers the model too."""
    model = tmp_path / "nolearn.lwl"
    model.write_text(TWO_CLASS_PARTS.replace(
        "constraint weights for j in H | C:    agree w[*, in(j)] in sphere(2)\n", ""))
    for command in ("check", "train"):
        r = run(command, model, "--quiet")
        assert r.exit_code == 1 and "neither operand of dot(x, w)" in r.output, r.output
        assert "nolearn.lwl:15:1" in r.output


def test_bad_data_is_a_clear_error(tmp_path):
    bad = tmp_path / "d.txt"
    bad.write_text("13 2\n1 0 x\n")
    r = run("train", ROOT / "models" / "majority.lwl", "--data", bad, "--quiet")
    assert r.exit_code == 1 and "d.txt:2:5" in r.output and "Traceback" not in r.output
    r = run("train", ROOT / "models" / "majority.lwl", "--data", "ledm:m=6", "--quiet")
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_driver_errors_are_clear(tmp_path):
    maj = ROOT / "models" / "majority.lwl"
    r = run("train", maj, "--data", "majority:inputs=13,depth=2,limit=10", "--quiet")
    assert r.exit_code == 1 and "batch holds 128 items" in r.output and "--set k=10" in r.output
    r = run("train", maj, "--data", "majority:depth=2", "--resume", "--quiet")
    assert r.exit_code == 1 and "--resume needs --out" in r.output
    out = tmp_path / "nmf"
    r = run("train", ROOT / "models" / "nmf_ledm.lwl", "--set", "m=4", "--set", "r=4",
            "--set", "iterations=5", "--set", "epochs=1", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    r = run("evaluate", maj, "--params", out / "params.npz", "--data", "majority:depth=2")
    assert r.exit_code == 1 and "'w' has shape (16,)" in r.output and "another model" in r.output
    r = run("evaluate", maj, "--params", tmp_path / "none.npz", "--data", "majority:depth=2")
    assert r.exit_code == 1 and "no such parameter file" in r.output
    assert "Traceback" not in r.output


def test_devices_option(tmp_path):
    spec = "majority:inputs=13,depth=2,seed=1,limit=64"
    r = run("train", ROOT / "models" / "majority.lwl", "--data", spec, "--devices", "2",
            "--set", "epochs=1", "-q")
    assert r.exit_code == 1 and "--devices applies to the JAX backend" in r.output
    r = run("train", ROOT / "models" / "majority.lwl", "--data", spec, "--backend", "jax",
            "--devices", "1", "--set", "epochs=1", "--set", "batch=32", "--set",
            "iterations=5", "-q", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    assert '"devices": 1' in (tmp_path / "summary.json").read_text()
    # --quiet drops the progress and the table, not the result: without --out it was all
    assert json.loads(r.stdout)["model"] == "majority"


def test_a_device_count_that_cannot_be_met_is_said_and_a_bad_one_is_an_error(tmp_path,
                                                                              monkeypatch):
    spec = "majority:inputs=13,depth=2,seed=1,limit=64"
    args = ("train", ROOT / "models" / "majority.lwl", "--data", spec, "--backend", "jax",
            "--set", "epochs=1", "--set", "batch=32", "--set", "iterations=2")
    r = run(*args, "--devices", "3", "-o", tmp_path / "a")
    assert r.exit_code == 0, r.output
    assert "--devices 3: using 1 device(s)" in r.output
    monkeypatch.setenv("LWLC_DEVICES", "two")
    r = run(*args, "-o", tmp_path / "b")
    assert r.exit_code == 1 and "LWLC_DEVICES='two' is not a whole number >= 1" in r.output
    assert "Traceback" not in r.output and "internal error" not in r.output


TINY_CLASSIFIER = """\
model m
nodes D[2], C[2]
edges E = dense(D -> C)
batch k[4]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, C]
constraint f for k, i in D: agree x[k, out(i)] == d[k, i]
constraint cl for k: y[k, C] in margin(c[k], 0.5)
constraint t for j in C: agree w[*, in(j)]
constraint n for k, j in C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
data train = "blobs:inputs=2,classes=2,items=8"
solve rrr(iterations = 5, epochs = 1)
"""


@pytest.mark.parametrize("test_seed, warned", [(6, True), (0, False)])
def test_a_test_set_of_another_generator_task_is_a_warning(tmp_path, test_seed, warned):
    """blobs draws its class centers from its seed: test data of another seed are another
    task. train warns at the `data test` line (or without a line for --test), evaluate notes
    it against the training data of the run.json beside --params."""
    model = tmp_path / "m.lwl"
    model.write_text(TINY_CLASSIFIER + f'data test = "blobs:inputs=2,items=8,seed={test_seed}"\n')
    r = run("train", model, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    located = (f"m.lwl:16:13: warning: the test data are another task than the training data: "
               f"blobs draws its class centers from inputs, classes, seed, and these data have "
               f"seed={test_seed} against 0")
    assert (located in r.output) == warned, r.output
    if warned:
        assert "hint: give the test set the training set's seed" in r.output
    r = run("train", model, "--data", "blobs:inputs=2,items=8,seed=1", "--test",
            f"blobs:inputs=2,items=8,seed={test_seed}", "--quiet")
    assert r.exit_code == 0, r.output
    assert (f"lwlc: warning: the test data are another task than the training data: blobs "
            f"draws its class centers from inputs, classes, seed, and these data have "
            f"seed={test_seed} against 1") in r.output, r.output
    r = run("evaluate", model, "--params", tmp_path / "run")
    assert r.exit_code == 0, r.output
    noted = ("lwlc: note: the data scored are another task than the training data "
             f"({tmp_path / 'run' / 'run.json'})")
    assert (noted in r.output.replace("\n", " ")) == warned, r.output
    r = run("evaluate", model, "--params", tmp_path / "run" / "params.npz", "--data",
            "blobs:inputs=2,items=8,seed=0")
    assert r.exit_code == 0 and "another task" not in r.output, r.output


def test_evaluate_and_predict_default_to_the_models_test_data(tmp_path):
    model = tmp_path / "m.lwl"
    model.write_text(TINY_CLASSIFIER)
    r = run("train", model, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    params = tmp_path / "run" / "params.npz"
    for cmd in ("evaluate", "predict"):  # no `data test`, no --data: a clear error
        r = run(cmd, model, "--params", params)
        assert r.exit_code == 1 and "declares no test data, and no --data" in r.output
        assert "Traceback" not in r.output
    model.write_text(TINY_CLASSIFIER + 'data test = "blobs:inputs=2,classes=2,items=6"\n')
    r = run("evaluate", model, "--params", params)
    assert r.exit_code == 0, r.output
    assert '"items": 6' in r.output and '"data": "blobs (test)"' in r.output
    r = run("predict", model, "--params", params)
    assert r.exit_code == 0 and len(r.output.split()) == 6, r.output


def test_evaluate_uses_the_param_values_the_parameters_were_trained_with(tmp_path):
    """Trained with --set omega=3, evaluated without: omega = 3 is used (with a note),
    as if --set omega=3 were given; an explicit other value is used, with a note."""
    model = ROOT / "tests" / "models" / "regression.lwl"
    spec = "regression:inputs=4,outputs=2,items=32,seed=0"
    r = run("train", model, "--set", "omega=3", "--set", "epochs=1", "--out", tmp_path / "r",
            "--quiet")
    assert r.exit_code == 0, r.output
    params = tmp_path / "r" / "params.npz"

    def rmse(*extra):
        r = run("evaluate", model, "--params", params, "--data", spec, *extra)
        assert r.exit_code == 0, r.output
        return json.loads(r.output[r.output.index("{"):]), r.output

    adopted, out = rmse()
    assert "using omega = 3 as in training" in out
    explicit, out = rmse("--set", "omega=3")
    assert "note" not in out and adopted == explicit
    other, out = rmse("--set", "omega=2")
    assert "omega = 2 here, but the parameters were trained with omega = 3" in out
    assert other != explicit


def test_a_class_constraint_on_one_batch_part_is_scored(tmp_path):
    """The class constraint covers part `a` of batch k = a + b (both fed by d): its error is
    reported in training and by evaluate and predict (was: no metric at all, silently)."""
    model = tmp_path / "m.lwl"
    model.write_text(TINY_CLASSIFIER.replace("batch k[4]", "batch k = a[4] + b[2]")
                     .replace("constraint cl for k:", "constraint cl for k in a:")
                     .replace("items=8", "items=12")
                     + 'data test = "blobs:inputs=2,classes=2,items=6"\n')
    r = run("train", model, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {"batch_err", "train_err", "test_err"} <= set(summary)
    r = run("evaluate", model, "--params", tmp_path / "run" / "params.npz")
    assert r.exit_code == 0 and '"error"' in r.output, r.output
    r = run("predict", model, "--params", tmp_path / "run" / "params.npz")
    assert r.exit_code == 0 and len(r.output.split()) == 6, r.output


def test_a_run_that_fails_before_writing_leaves_no_directory_behind(tmp_path):
    model = tmp_path / "m.lwl"
    model.write_text(TINY_CLASSIFIER)
    out = tmp_path / "new" / "run"
    r = run("train", model, "--data", "blobs:inputs=3,classes=2,items=8", "--out", out,
            "--quiet")  # three columns for a two-input model: refused before any write
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert not out.exists()
    out.mkdir(parents=True)  # a directory the user made stays
    r = run("train", model, "--data", "blobs:inputs=3,classes=2,items=8", "--out", out,
            "--quiet")
    assert r.exit_code == 1 and out.is_dir()


def test_too_few_items_for_a_batch_is_an_error_at_the_models_data_line(tmp_path):
    model = tmp_path / "m.lwl"
    model.write_text(TINY_CLASSIFIER.replace("items=8", "items=3"))
    r = run("train", model, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 1 and "Traceback" not in r.output
    line = TINY_CLASSIFIER.splitlines().index(
        next(ln for ln in TINY_CLASSIFIER.splitlines() if ln.startswith("data train"))) + 1
    assert f"m.lwl:{line}:14: error: data train: the batch holds 4 items but" in r.output
    assert "--set k=3 uses them all" in r.output


def test_an_output_that_is_a_directory_is_an_error_and_a_missing_folder_is_made(tmp_path):
    model = ROOT / "models" / "majority.lwl"
    for cmd in (["compile", model], ["graph", model]):
        r = run(*cmd, "-o", tmp_path)
        assert r.exit_code == 1, r.output
        assert f"lwlc: error: --output {tmp_path} is a directory, not a file" in r.output
        assert "Traceback" not in r.output and "internal error" not in r.output
    r = run("graph", model, "-o", tmp_path / "new" / "deeper" / "g.dot")
    assert r.exit_code == 0 and (tmp_path / "new" / "deeper" / "g.dot").is_file(), r.output
    r = run("test", model, "-n", "0")
    assert r.exit_code == 2 and "internal error" not in r.output  # refused as an option
    assert "Invalid value for '--examples'" in r.output


def test_an_output_is_never_the_file_the_command_reads(tmp_path):
    """`compile m.lwl -o m.lwl` replaced the model with Python, `predict --data d -o d`
    the data with predictions (a user test)."""
    model = tmp_path / "m.lwl"
    model.write_bytes((ROOT / "models" / "majority.lwl").read_bytes())
    for cmd in ("compile", "graph"):
        r = run(cmd, model, "-o", model)
        assert r.exit_code == 1, r.output
        assert f"--output {model} is the file this command reads" in r.output
    assert model.read_bytes() == (ROOT / "models" / "majority.lwl").read_bytes()
    out = tmp_path / "run"
    spec = "majority:inputs=13,depth=2,seed=2,limit=32"
    r = run("train", model, "--data", spec, "--set", "batch=32", "--set", "epochs=1",
            "--set", "iterations=2", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    data = tmp_path / "items.txt"
    data.write_text("13\n" + " ".join(["1"] * 13) + "\n")
    for target in (data, out / "params.npz"):
        before = target.read_bytes()
        r = run("predict", model, "--params", out / "params.npz", "--data", data, "-o", target)
        assert r.exit_code == 1 and "is the file this command reads" in r.output, r.output
        assert target.read_bytes() == before


def test_an_output_is_never_a_file_the_model_reads(tmp_path):
    """`predict -o` replaced the model's own `data test` file, `compile -o` and `graph -o` its
    `file(...)` edge list (a user test): the files the model names are inputs too."""
    text = (ROOT / "models" / "majority.lwl").read_text()
    text = text.replace("dense(H1 -> C)", 'dense(H1 -> C) + file("extra.txt")')
    text = text.replace('"../../shared/data/maj13_2_3_train"', '"train.txt"')
    text = text.replace('"../../shared/data/maj13_2_3_test"', '"test.txt"')
    model = tmp_path / "m.lwl"
    model.write_text(text)
    (tmp_path / "extra.txt").write_text("0 39\n")  # a skip edge D[0] -> C[0]
    rows = "".join(" ".join(str((i >> b) & 1) for b in range(13)) + f" {i % 2}\n"
                   for i in range(32))
    for name in ("train.txt", "test.txt"):
        (tmp_path / name).write_text(f"13 2\n{rows}")
    files = {name: (tmp_path / name).read_bytes() for name in ("extra.txt", "test.txt")}
    for cmd, extra in (("compile", ()), ("compile", ("--emit", "ir")), ("graph", ())):
        r = run(cmd, model, *extra, "-o", tmp_path / "extra.txt")
        assert r.exit_code == 1 and "is the file this command reads" in r.output, r.output
    out = tmp_path / "run"
    r = run("train", model, "--set", "batch=32", "--set", "epochs=1", "--set", "iterations=2",
            "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    for target in ("test.txt", "extra.txt", "train.txt"):
        r = run("predict", model, "--params", out / "params.npz", "-o", tmp_path / target)
        assert r.exit_code == 1 and "is the file this command reads" in r.output, r.output
    assert files == {name: (tmp_path / name).read_bytes() for name in files}
    # nor a file of the run it reads (predict -o RUN/log.csv replaced the epoch log)
    kept = {name: (out / name).read_bytes() for name in ("log.csv", "run.json")}
    for name in kept:
        r = run("predict", model, "--params", out / "params.npz", "-o", out / name)
        assert r.exit_code == 1 and "is a file of the training run" in r.output, r.output
    assert kept == {name: (out / name).read_bytes() for name in kept}
    r = run("predict", model, "--params", out / "params.npz", "-o", tmp_path / "p.txt")
    assert r.exit_code == 0 and len((tmp_path / "p.txt").read_text().splitlines()) == 32
    r = run("predict", model, "--params", out / "params.npz", "-o", out / "p.txt")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_an_item_whose_forward_pass_overflows_is_said_and_never_a_class(tmp_path, backend):
    """Inputs of 1e308 overflowed to nan, and predict printed a class for them (argmax of
    nan), evaluate scored it, without a word (a user test): now class -1 and a note."""
    model = ROOT / "models" / "majority.lwl"
    out = tmp_path / "run"
    r = run("train", model, "--data", "majority:inputs=13,depth=2,seed=2,limit=32", "--set",
            "batch=32", "--set", "epochs=1", "--set", "iterations=2", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    data = tmp_path / "items.txt"
    data.write_text("13 2\n" + " ".join(["1e308"] * 13) + " 1\n" + " ".join(["1"] * 13)
                    + " 0\n")
    r = run("predict", model, "--params", out / "params.npz", "--data", data,
            "--backend", backend)
    assert r.exit_code == 0, r.output
    assert "1 of 2 item(s) have no finite prediction of classes (class -1)" in r.output
    assert "RuntimeWarning" not in r.output
    assert r.output.splitlines()[-2] == "-1" and r.output.splitlines()[-1] in ("0", "1")
    r = run("evaluate", model, "--params", out / "params.npz", "--data", data,
            "--backend", backend)
    assert r.exit_code == 0 and "class -1, counted as wrong" in r.output, r.output


def test_evaluate_of_a_model_that_scores_nothing_is_an_error(tmp_path):
    """It exited 0 printing only the item count, where predict said why (a user test)."""
    text = "\n".join(ln for ln in (ROOT / "models" / "majority.lwl").read_text().splitlines()
                     if not ln.startswith(("constraint classes", "label", "data")))
    model = tmp_path / "m.lwl"
    model.write_text(text + "\n")
    out = tmp_path / "run"
    spec = "majority:inputs=13,depth=2,seed=2,limit=32"
    r = run("train", model, "--data", spec, "--set", "batch=32", "--set", "epochs=1",
            "--set", "iterations=2", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    for cmd in ("evaluate", "predict"):
        r = run(cmd, model, "--params", out / "params.npz", "--data", spec)
        assert r.exit_code == 1 and "predicts nothing for its data part" in r.output, r.output


def test_evaluate_prints_an_rmse_over_overflowing_items_as_json_null(tmp_path):
    """`"outputs_rmse": NaN` is no JSON (a user test): null, with the note."""
    model = ROOT / "tests" / "models" / "regression.lwl"
    out = tmp_path / "run"
    r = run("train", model, "--set", "epochs=1", "--set", "iterations=2", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    data = tmp_path / "items.txt"
    data.write_text("6\n" + " ".join(["1e308"] * 4) + " 0 0\n0.1 0.2 0.3 0.4 0 0\n")
    r = run("evaluate", model, "--params", out / "params.npz", "--data", data)
    assert r.exit_code == 0, r.output
    assert "have no finite prediction" in r.output
    summary = json.loads(r.output[r.output.index("{"):])
    assert summary["outputs_rmse"] is None


def test_an_output_where_no_file_can_be_made_is_an_error(tmp_path):
    """A folder no file can be made in (here /proc) was an internal error (OSError)."""
    import os

    if not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc")
    model = ROOT / "models" / "majority.lwl"
    for cmd, name in (("compile", "/proc/lwlc-x.py"), ("graph", "/proc/lwlc-x.dot")):
        r = run(cmd, model, "-o", name)
        assert r.exit_code == 1, r.output
        assert f"cannot write {name}" in r.output and "internal error" not in r.output


def test_a_tolerance_float32_cannot_resolve_is_a_warning(tmp_path):
    args = ("train", ROOT / "models" / "majority.lwl", "--data", "majority:depth=2,limit=64",
            "--backend", "jax", "--set", "epochs=1", "--set", "iterations=2", "--set",
            "batch=32", "--set", "tolerance=1e-12", "-q")
    r = run(*args, "--dtype", "float32", "-o", tmp_path / "f32")
    assert r.exit_code == 0, r.output
    assert "warning: the run's tolerance 1e-12 is below what float32 resolves" in r.output
    assert "majority.lwl:" in r.output and "--dtype float64" in r.output
    r = run(*args, "--dtype", "float64", "-o", tmp_path / "f64")
    assert r.exit_code == 0 and "float32 resolves" not in r.output
    r = run("compile", ROOT / "models" / "majority.lwl", "--backend", "jax", "--dtype",
            "float32", "--set", "tolerance=1e-12", "-o", tmp_path / "s.py")
    assert r.exit_code == 0 and "below what float32 resolves" in r.output, r.output


@pytest.mark.parametrize("setting, what", [("omega=1e39", "an argument of sphere, 1e+39, is inf"),
                                           ("omega=1e-39", "an argument of sphere, 1e-39, is 0"),
                                           ("margin=4e38", "the class margin, 4e+38, is inf"),
                                           ("upsilon=1e-40", "a metric weight of y, 1e-40")])
def test_a_constant_float32_cannot_hold_is_a_located_error(tmp_path, setting, what):
    """omega = 1e39 under --dtype float32 became inf and the run diverged, blaming the
    activation set; a metric weight of 1e-40 became 0."""
    model = ROOT / "models" / "majority.lwl"
    r = run("compile", model, "--backend", "jax", "--dtype", "float32", "--set", setting,
            "-o", tmp_path / "s.py")
    assert r.exit_code == 1 and what in r.output, r.output
    assert "majority.lwl:" in r.output and "--dtype float64" in r.output
    assert not (tmp_path / "s.py").exists()
    r = run("compile", model, "--backend", "jax", "--dtype", "float64", "--set", setting,
            "-o", tmp_path / "s.py")
    assert r.exit_code == 0, r.output


def test_data_float32_cannot_hold_is_an_error_naming_the_item(tmp_path):
    data = tmp_path / "d.txt"
    rows = [" ".join(["1"] * 13 + ["0"])] * 4
    rows[2] = " ".join(["1"] * 5 + ["-5e38"] + ["1"] * 7 + ["1"])
    data.write_text("13 2\n\n" + "\n".join(rows) + "\n")
    args = ("train", ROOT / "models" / "majority.lwl", "--data", data, "--backend", "jax",
            "--set", "epochs=1", "--set", "iterations=1", "--set", "batch=4", "-q")
    r = run(*args, "--dtype", "float32", "-o", tmp_path / "f32")
    assert r.exit_code == 1, r.output
    assert "item 3 has -5e+38 for d[5], which is inf in float32" in r.output
    r = run(*args, "--dtype", "float64", "-o", tmp_path / "f64")
    assert r.exit_code == 0, r.output


def test_outputs_replace_a_links_target_and_write_through_devices_and_fifos(tmp_path):
    """-o replaced a symbolic link, a FIFO or a device (/dev/null, /dev/full became plain
    files, exit 0) with a plain file; a link's target is replaced now, and what is no
    regular file is written through (a failed write is an error)."""
    import os
    import stat
    import threading

    model = ROOT / "models" / "majority.lwl"
    target = tmp_path / "target.py"
    target.write_text("old")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    r = run("compile", model, "-o", link)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and target.read_text().startswith('"""RRR solver')
    dangling = tmp_path / "dangling.py"  # into a missing folder: the error names the link
    dangling.symlink_to(tmp_path / "nowhere" / "x.py")
    r = run("compile", model, "-o", dangling)
    assert r.exit_code == 1 and "(a symbolic link to " in r.output, r.output
    dangling.unlink()
    # a file the user made private stays so (it became 0o644: a user test); a new one gets
    # the umask's mode
    target.chmod(0o600)
    assert run("compile", model, "-o", link).exit_code == 0
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    fresh = tmp_path / "fresh.py"
    assert run("compile", model, "-o", fresh).exit_code == 0
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o666 & ~mask
    fresh.unlink()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run("compile", model, "-o", fifo)
    reader.join(timeout=30)
    assert r.exit_code == 0 and got and got[0].startswith(b'"""RRR solver'), r.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    if os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode):
        r = run("compile", model, "-o", "/dev/null")
        assert r.exit_code == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    if os.path.exists("/dev/full") and stat.S_ISCHR(os.stat("/dev/full").st_mode):
        r = run("compile", model, "-o", "/dev/full")
        assert r.exit_code == 1 and "cannot write /dev/full" in r.output
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.parametrize("name", ["LWLC_FUSED", "LWLC_LANES", "LWLC_MEMORY_CHECK"])
def test_a_switch_set_to_neither_0_nor_1_is_refused(name, monkeypatch):
    """LWLC_FUSED=yes was taken as unset without a word (a user test)."""
    monkeypatch.setenv(name, "yes")
    r = run("check", ROOT / "models" / "majority.lwl")
    assert r.exit_code == 1 and f"{name}=yes: {name} is 0 or 1" in r.output
    monkeypatch.setenv(name, "0")
    assert run("check", ROOT / "models" / "majority.lwl").exit_code == 0


def test_epochs_is_at_least_one_and_restart_on_several_batches_is_a_warning(tmp_path):
    """The docs said epochs ≥ 0 while train refused 0 with no location; restart = 1 on a
    model of several batches per epoch was ignored without a word (a user test)."""
    r = run("check", ROOT / "models" / "majority.lwl", "--set", "epochs=0")
    assert r.exit_code == 1 and "epochs must be a whole number ≥ 1, got 0" in r.output
    args = ("train", ROOT / "models" / "majority.lwl", "--data", "majority:depth=2,limit=64",
            "--set", "epochs=1", "--set", "iterations=2", "--set", "batch=32", "-q")
    r = run(*args, "--set", "restart=1", "-o", tmp_path / "r1")
    assert r.exit_code == 0, r.output
    assert "warning: restart = 1 changes nothing here" in r.output
    assert "64 items in batches of 32" in r.output and "majority.lwl:" in r.output
    r = run(*args, "-o", tmp_path / "r0")
    assert r.exit_code == 0 and "restart" not in r.output


def test_output_into_a_full_disk_and_odd_environment_values_are_errors(tmp_path, monkeypatch):
    """A command's printed output into /dev/full was an internal error (OSError), an empty
    -o/--out (an unset $OUTDIR) wrote into the current folder, and LWLC_DEVICES=²
    (isdigit, not a number) was an internal error (a user test)."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "lwlc.cli", "check",
                               str(ROOT / "models" / "majority.lwl")],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "cannot write the output: No space left on device" in done.stderr
    assert "internal error" not in done.stderr
    for args in (("train", ROOT / "models" / "majority.lwl", "--out", ""),
                 ("compile", ROOT / "models" / "majority.lwl", "-o", "")):
        r = run(*args)
        assert r.exit_code == 2 and "is empty: give a path" in r.output, r.output
    monkeypatch.setenv("LWLC_DEVICES", "²")
    r = run("train", ROOT / "models" / "majority.lwl", "--backend", "jax", "--data",
            "majority:depth=2,limit=64", "--set", "epochs=1", "--set", "iterations=1", "--set",
            "batch=32", "-q", "-o", tmp_path / "d")
    assert r.exit_code == 1 and "LWLC_DEVICES='²' is not a whole number" in r.output, r.output


def test_data_without_test_notes_that_the_models_test_data_are_not_used(tmp_path):
    """--data dropped the model's `data test` without a word: no test_err (a user test)."""
    args = ("train", ROOT / "models" / "majority.lwl", "--data", "majority:depth=2,limit=64",
            "--set", "epochs=1", "--set", "iterations=1", "--set", "batch=32", "-q")
    r = run(*args, "-o", tmp_path / "a")
    assert r.exit_code == 0 and "its `data test` is not used either" in r.output, r.output
    r = run(*args, "--test", "majority:depth=2,limit=64", "-o", tmp_path / "b")
    assert r.exit_code == 0 and "data test" not in r.output, r.output


def test_a_malformed_coordinator_is_named_as_the_user_gave_it(monkeypatch):
    """A malformed --coordinator was "list index out of range", port 99999 made the run wait,
    and LWLC_COORDINATOR was called --coordinator in errors (a user test). rich read
    ":1234:" in a message as an emoji code and printed a keypad symbol."""
    base = ("train", ROOT / "models" / "majority.lwl", "--backend", "jax")
    for bad in ("host", "host:99999", ":123", "host:x", "host:80:90", "a b:80"):
        r = run(*base, "--coordinator", bad, "--num-processes", "2", "--process-id", "0")
        assert r.exit_code == 1, r.output
        assert f"--coordinator {bad} is not HOST:PORT (a port 1 ... 65535)" in r.output
    monkeypatch.setenv("LWLC_COORDINATOR", "host0:1234")
    r = run(*base)
    assert r.exit_code == 1 and "LWLC_COORDINATOR=host0:1234: --num-processes is missing" \
        in r.output, r.output


def test_version_demo_help_and_lwlc_test_leave_nothing_in_the_current_folder(tmp_path,
                                                                              monkeypatch):
    """No --version; `python -m lwlc.demo --help` ran the demo (and replaced ./runs/demo);
    `lwlc test` left a .hypothesis/ folder in the current folder (a user test)."""
    import subprocess
    import sys

    from lwlc import __version__

    r = run("--version")
    assert r.exit_code == 0 and r.output.strip() == f"lwlc {__version__}"
    done = subprocess.run([sys.executable, "-m", "lwlc.demo", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: python -m lwlc.demo" in done.stdout
    assert not (tmp_path / "runs").exists()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    r = run("test", ROOT / "models" / "nmf_ledm.lwl", "-n", "2", "-f", "weights")
    assert r.exit_code == 0, r.output
    assert "library" in r.output  # hypothesis ran: the set library's tests and the family's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_a_negative_seed_is_refused_as_the_option_the_user_gave():
    """`--seed -1` was reported as `--set seed=-1` (user tests)."""
    for command in ("train", "test"):
        r = run(command, ROOT / "models" / "majority.lwl", "--seed", "-1")
        assert r.exit_code == 2 and "Invalid value for '--seed'" in r.output, r.output
        assert "--set seed" not in r.output


def test_graph_writes_dot_text_into_what_is_no_regular_file(tmp_path):
    """`lwlc graph -o /dev/stdout` was refused for its missing suffix, where the docs say an
    -o that is no regular file is written through (a user test)."""
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    r = run("graph", ROOT / "models" / "majority.lwl", "-o", fifo)
    reader.join(timeout=60)
    assert r.exit_code == 0, r.output
    assert got and got[0].startswith('graph "majority" {')
    r = run("graph", ROOT / "models" / "majority.lwl", "-o", tmp_path / "g.txt")
    assert r.exit_code == 1 and "cannot write the constraint graph as '.txt'" in r.output


def test_a_dash_prints_where_a_command_can_print_and_is_refused_where_it_cannot(tmp_path,
                                                                                monkeypatch):
    """`-o -` made a file or a folder named `-` (a user test): compile, predict and graph
    print to standard output; train's --out and --params name no stream."""
    monkeypatch.chdir(tmp_path)
    model = ROOT / "models" / "majority.lwl"
    r = run("compile", model, "-o", "-")
    assert r.exit_code == 0 and '"""RRR solver for model' in r.stdout, r.output
    done = subprocess.run([sys.executable, "-m", "lwlc.cli", "graph", str(model), "-o", "-"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith('graph "majority"'), done.stderr
    assert "wrote" not in done.stderr
    for args in (("train", model, "--out", "-"), ("predict", model, "--params", "-")):
        r = run(*args)
        assert r.exit_code == 2 and "'-' (standard input or output) cannot be used here" \
            in r.output, r.output
    assert not (tmp_path / "-").exists()


def test_a_set_value_that_underflows_is_refused():
    """--set tolerance=1e-400 ran with tolerance 0 without a word (a user test)."""
    r = run("check", ROOT / "models" / "majority.lwl", "--set", "tolerance=1e-400")
    assert r.exit_code == 1 and "below the smallest float" in r.output, r.output
    r = run("check", ROOT / "models" / "majority.lwl", "--set", "tolerance=0e-400")
    assert r.exit_code == 0, r.output


def test_set_batch_is_a_parameter_named_batch_where_the_model_has_one(tmp_path):
    """`--set batch=5` set both a `param batch` and the batch size (a user test); such a
    parameter takes precedence, as one named like a solver setting does."""
    model = tmp_path / "m.lwl"
    model.write_text((ROOT / "models" / "majority.lwl").read_text().replace(
        "param omega   = 2.0", "param batch = 2.0\nparam omega = batch"))
    r = run("check", model, "--set", "batch=5")
    assert r.exit_code == 0, r.output
    assert "batch = 5" in r.output and "batch k: 128 items" in r.output, r.output
    r = run("check", model, "--set", "k=16")
    assert r.exit_code == 0 and "batch k: 16 items" in r.output, r.output


def test_batches_that_leave_items_out_a_batch_set_twice_and_exact_numbers(tmp_path):
    """A user test: items past the last whole batch were left out of every epoch without a
    word; `--set k=4 --set batch=4` said "no setting 'batch' (did you mean 'batch'?)"; the
    hint of a batch with parts offered --set of its index, which is refused; and
    `beta=2.0000001` was "beta must lie in (0, 2], got 2"."""
    model = ROOT / "models" / "majority.lwl"
    r = run("train", model, "--data", "majority:depth=2,limit=200", "--set", "batch=64",
            "--set", "epochs=1", "--set", "iterations=1", "--out", tmp_path / "r", "-q")
    assert r.exit_code == 0, r.output
    assert "has 200 items, 3 batch(es) of 64: each epoch leaves 8 item(s) out" in r.output
    assert "majority.lwl:14:1: warning" in r.output
    r = run("check", model, "--set", "k=4", "--set", "batch=4")
    assert r.exit_code == 1 and "--set k and --set batch both set the batch size" in r.output
    r = run("check", model, "--set", "beta=2.0000001")
    assert r.exit_code == 1 and "got 2.0000001" in r.output, r.output
    parts = tmp_path / "parts.lwl"
    parts.write_text(model.read_text().replace("batch k[128]", "batch k = clean[12] + noisy[4]"))
    r = run("train", parts, "--data", "majority:depth=2,limit=10", "-q")
    assert r.exit_code == 1, r.output
    assert "the batch's parts (clean 12, noisy 4) hold 16 items: set their sizes to 10 in " \
        "all, e.g. --set clean=N --set noisy=N" in r.output


def test_seed_given_twice_is_an_error(tmp_path):
    """`--seed 3 --set seed=4` trained with seed 3 and dropped the --set without a word."""
    r = run("train", ROOT / "models" / "majority.lwl", "--seed", "3", "--set", "seed=4",
            "--out", tmp_path / "run")
    assert r.exit_code == 1 and "--seed and --set seed both set the seed" in r.output
    assert not (tmp_path / "run").exists()


def test_set_takes_decimal_numbers_and_emit_graph_no_picture_suffix(tmp_path):
    """--set omega=1_0 was 10 and omega=٣ was 3 (float() reads both), 1e400 became inf;
    `compile --emit graph -o x.svg` wrote DOT text into x.svg (a user test). And a
    percentage's half rounds up (exempt 2.5% of 20 items was 0, 7.5% was 2)."""
    model = ROOT / "models" / "majority.lwl"
    for value in ("1_0", "\u0663", "0x10", "abc"):
        r = run("check", model, "--set", f"omega={value}")
        assert r.exit_code == 1 and f"'{value}' is not a number" in r.output, r.output
    r = run("check", model, "--set", "omega=1e400")
    assert r.exit_code == 1 and "beyond the largest float" in r.output, r.output
    for value, shown in (("2.5", "2.5"), (".5", "0.5"), ("5.", "5"), ("1e-3", "0.001")):
        r = run("check", model, "--set", f"omega={value}")
        assert r.exit_code == 0 and f"omega = {shown}," in r.output, r.output
    r = run("compile", model, "--emit", "graph", "-o", tmp_path / "g.svg")
    assert r.exit_code == 1 and "--emit graph writes DOT text, not svg" in r.output
    assert not (tmp_path / "g.svg").exists()
    exempt = tmp_path / "exempt.lwl"
    exempt.write_text(model.read_text().replace("batch k[128]", "batch k[20]").replace(
        "in margin(c[k], margin)", "in margin(c[k], margin) exempt 2.5%"))
    r = run("check", exempt)
    assert r.exit_code == 0 and "rounds to 0" not in r.output, r.output


def test_a_params_file_passes_to_the_emitted_predict_of_either_backend(tmp_path):
    """`dict(np.load("params.npz"))` into the emitted JAX `predict` raised a TypeError: jit
    refused the string array `__meta__` (the NumPy module ignored it)."""
    from lwlc.compiler import compile_model, load_solver
    from lwlc.rundir import meta_text, read_params

    model = ROOT / "models" / "majority.lwl"
    r = run("train", model, "--data", "majority:inputs=13,depth=2,seed=1,limit=64",
            "--set", "epochs=1", "--set", "batch=32", "--set", "iterations=3", "-q",
            "-o", tmp_path / "run")
    assert r.exit_code == 0, r.output
    params = dict(np.load(tmp_path / "run" / "params.npz"))
    d = np.random.default_rng(0).integers(0, 2, (32, 13)).astype(float)
    got = [load_solver(compile_model(model, {"batch": 32}, backend).source).predict(
        params, {"d": d}, 32) for backend in ("numpy", "jax")]
    np.testing.assert_array_equal(np.asarray(got[0]["classes"]),
                                  np.asarray(got[1]["classes"]))
    assert read_params(tmp_path / "run" / "params.npz")[1]["model"] == "majority"
    assert meta_text(np.array('{"seed": 0}')) == '{"seed": 0}'  # files written before


_NO_BIAS = """\
model nob
nodes D[3], H[4], C[2]
edges E = dense(D -> H) + dense(H -> C)
batch k[8]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | C]
var b[k, H | C]
constraint inputs  for k, i in D:  agree x[k, out(i)] == d[k, i]
constraint hidden  for k, i in H:  (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint classes for k:          y[k, C] - b[k, C] in margin(c[k], 0.1)
constraint weights for j in H | C: agree w[*, in(j)] in sphere(1)
constraint neuron  for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint bias    for j in H: agree b[*, j]
"""


def test_a_bias_no_consensus_covers_is_a_warning_at_its_constraint(tmp_path):
    """Without `agree b[*, j]` each item's b is a free slack: the model trained to rrr_err
    7e-4 at chance, and nothing said so (a user test)."""
    model = tmp_path / "nob.lwl"
    model.write_text(_NO_BIAS)
    r = run("check", model)
    assert r.exit_code == 0, r.output
    assert ("nob.lwl:13:1: warning: constraint classes: b of C[0], C[1] is neither computed "
            "by a neuron nor tied by a consensus over items, so each item's b is free") \
        in r.output
    # written b - y, with the bias tied: no warning (it named y, the neuron's output)
    swapped = _NO_BIAS.replace("(y[k, i] - b[k, i]", "(b[k, i] - y[k, i]").replace(
        "y[k, C] - b[k, C]", "b[k, C] - y[k, C]").replace("for j in H: agree b", "for j in "
                                                          "H | C: agree b")
    model.write_text(swapped)
    r = run("check", model)
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    model.write_text(_NO_BIAS)
    assert "constraint hidden" not in r.output.split("warning")[-1].splitlines()[0]
    model.write_text(_NO_BIAS.replace("constraint bias    for j in H: agree b[*, j]\n", ""))
    r = run("train", model, "--data", "blobs:inputs=3,classes=2,items=16", "--set",
            "epochs=1", "--set", "iterations=2", "-q")
    assert r.exit_code == 0, r.output
    assert "nob.lwl:12:1: warning: constraint hidden: b of H[0], H[1], H[2], H[3]" in r.output
    assert "nob.lwl:13:1: warning: constraint classes" in r.output


_M21 = """\
model m21
nodes D[3], H[4], T[1], C[2]
edges E = dense(D -> H) + dense(H -> T | C)
batch k = reg[8] + cls[8]
input d[k, D]
input t[reg, T]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | T | C]
var b[k, H | C]
constraint inputs  for k, i in D:  agree x[k, out(i)] == d[k, i]
constraint hidden  for k, i in H:  (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint outputs for k in reg, j in T: dot(x[k, in(j)], w[k, in(j)]) == t[k, j]
constraint classes for k in cls:   y[k, C] - b[k, C] in margin(c[k], 0.1)
constraint weights for j in H | T | C: agree w[*, in(j)] in sphere(1)
constraint neuron  for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint bias    for j in H | C: agree b[*, j]
"""


def test_an_input_on_a_part_the_training_set_does_not_fill_is_located(tmp_path):
    """`input t[reg, T]` beside `input d[k, D]`: the training set fills k's inputs only,
    so t had no values, and train stopped with `internal error: KeyError: 't'` (a user
    test). `check` warns at the input; train stops there, once."""
    model = tmp_path / "m21.lwl"
    model.write_text(_M21)
    r = run("check", model)
    assert r.exit_code == 0 and "m21.lwl:6:1: warning: input t is on batch part 'reg', " \
        "but the training set fills the whole batch 'k'" in r.output, r.output
    r = run("train", model, "--data", "blobs:inputs=3,classes=2,items=32", "--set",
            "epochs=1", "--set", "iterations=2")
    assert r.exit_code == 1 and "internal error" not in r.output, r.output
    assert r.output.count("input t is on batch part 'reg'") == 1
    assert "m21.lwl:6:1: error: input t is on batch part 'reg'" in r.output
    assert "data t = \"SPEC\"" in r.output



_TWO_NEURONS = """\
model twoneur
nodes D[4], H[4], P[1], Q[1]
group C = P | Q
edges E = dense(D -> H) + dense(H -> C)
edges F = dense(D -> H)
batch k[20]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var x2[k, F]
var w2[k, F]
var y[k, H | C] metric outdeg on H, 1 on C
var y2[k, H]
var b[k, C]
constraint inputs  for k, i in D:       agree x[k, out(i)] == d[k, i]
constraint inputs2 for k, i in D:       agree x2[k, out(i)] == d[k, i]
constraint hidden  for k, i in H:       (y[k, i] - y2[k, i], agree x[k, out(i)]) in relu
constraint classes for k:               y[k, C] - b[k, C] in margin(c[k], 0.1)
constraint weights for j in H | C:      agree w[*, in(j)] in sphere(1)
constraint weights2 for j in H:         agree w2[*, in(j)] in sphere(1)
constraint neuron  for k, j in H | C:   dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint neuron2 for k, j in H:       dot(x2[k, in(j)], w2[k, in(j)]) == y2[k, j]
constraint bias    for j in C:          agree b[*, j]
"""


_TWO_NETWORKS = """\
model twonets
nodes D[2], C[2]
edges E1 = dense(D -> C)
edges E2 = dense(D -> C)
batch k[16]
input d[k, D]
label c[k] in C
var x[k, E1]
var w[k, E1]
var u[k, E2]
var v[k, E2]
var y[k, C]
var b[k, C]
var y2[k, C]
var b2[k, C]
constraint in1  for k, i in D: agree x[k, out(i)] == d[k, i]
constraint in2  for k, i in D: agree u[k, out(i)] == d[k, i]
constraint cls1 for k: y[k, C] - b[k, C] in margin(c[k], 0.2)
constraint cls2 for k: y2[k, C] - b2[k, C] in margin(c[k], 0.2)
constraint w1   for j in C: agree w[*, in(j)] in sphere(1)
constraint w2   for j in C: agree v[*, in(j)] in sphere(1)
constraint n1   for k, j in C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint n2   for k, j in C: dot(u[k, in(j)], v[k, in(j)]) == y2[k, j]
constraint bb1  for j in C: agree b[*, j]
constraint bb2  for j in C: agree b2[*, j]
data train = "blobs:inputs=2,classes=2,items=64,seed=0"
solve rrr(beta = 0.5, iterations = 20, epochs = 1, seed = 0)
"""


def test_a_second_network_onto_the_same_class_nodes_is_not_scored_as_the_first(tmp_path):
    """cls2's predictions were argmax(Y - b2), Y network 1's output: its error was the first
    network's (0.0 with network 2's weights negated: a user test). It is not scored now."""
    model = tmp_path / "two.lwl"
    model.write_text(_TWO_NETWORKS)
    r = run("check", model)
    assert r.exit_code == 0, r.output
    assert ("constraint cls2: y2 of C[0], C[1] is computed by a neuron that inference does "
            "not evaluate: inference computes one value per node, here y from constraint n1, "
            "so cls2 is neither predicted nor scored") in r.output
    out = tmp_path / "run"
    r = run("train", model, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{"):])
    assert "train_err" in summary and not [k for k in summary if k.startswith("cls")]
    r = run("predict", model, "--params", out / "params.npz", "--data",
            "blobs:inputs=2,classes=2,items=8,seed=1")
    assert r.exit_code == 0 and len(r.output.split()) == 8, r.output


def test_a_subtracted_term_a_neuron_computes_is_a_warning(tmp_path):
    """`(y - y2, ...) in relu` with y2 a neuron's output: predictions took y2 as 0 (w2 x 50
    left them unchanged) while training used it, and the first warning blamed a missing
    consensus (a user test)."""
    model = tmp_path / "two.lwl"
    model.write_text(_TWO_NEURONS)
    r = run("check", model)
    assert r.exit_code == 0, r.output
    assert ("two.lwl:18:1: warning: constraint hidden: y2 of H[0], H[1], H[2], H[3] is "
            "computed by a neuron that inference does not evaluate (it computes y's there)") \
        in r.output
    assert "neither computed" not in r.output


def test_the_readmes_model_in_full_checks(tmp_path):
    """The README's "A model, in full" used parameters it did not declare (a user test)."""
    import re

    text = (ROOT / "README.md").read_text()
    block = re.search(r"A model, in full.*?```\n(.*?)```", text, re.S).group(1)
    (tmp_path / "m.lwl").write_text(block)
    r = run("check", tmp_path / "m.lwl")
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    assert "A: inputs, hidden, classes, weights" in text


def test_data_of_an_input_of_its_own_that_do_not_fit_name_the_input(tmp_path):
    """`data s = "bits:n=4"` for an input s on 3 nodes blamed "the model's data layer"."""
    text = (ROOT / "models" / "binary_autoencoder.lwl").read_text()
    model = tmp_path / "m.lwl"
    model.write_text(re.sub(r'data s *= *"bits:n=\{n\}"', 'data s = "bits:n=4"', text))
    r = run("train", model, "--set", "epochs=1", "-q", "-o", tmp_path / "r")
    assert r.exit_code == 1, r.output
    assert "data 'bits' has 4 inputs per item but input s has 3 nodes" in r.output, r.output


def test_an_input_with_its_own_data_on_the_training_sets_items_is_refused(tmp_path):
    """`data d = ...` for an input on the part the training set fills crashed train with
    KeyError: 'd' (its rows were never the training items' anyway); with every input bound
    so, check passed and train refused with hints that contradicted each other (user
    tests). Both are now a warning at check and an error at the input's line at train."""
    text = (ROOT / "tests" / "models" / "regression.lwl").read_text()
    (tmp_path / "xs.txt").write_text("4\n" + "0.5 0.25 1 2\n" * 16)
    (tmp_path / "ts.txt").write_text("2\n" + "1 -1\n" * 16)
    data = re.sub(r"^data train = .*$", 'data d = "xs.txt"\ndata train = "ts.txt"', text,
                  flags=re.M)
    for name, body, message in (
            ("own.lwl", data, "input d has values of its own (`data d = ...`) on the whole "
                              "batch 'k', whose items are the training set's"),
            ("all.lwl", data.replace("data train =", "data t ="),
             "every input has values of its own (input d: `data d = ...`)")):
        model = tmp_path / name
        model.write_text(body)
        r = run("check", model)
        assert r.exit_code == 0 and f"warning: {message}" in r.output, r.output
        for extra in ((), ("--restarts", "2")):
            r = run("train", model, "-q", *extra)
            assert r.exit_code == 1 and f"{name}:6:1: error: {message}" in r.output, r.output
            assert "internal error" not in r.output


def test_a_number_in_a_curve_float32_cannot_hold_is_refused_at_the_piece(tmp_path):
    text = (ROOT / "models" / "majority.lwl").read_text().replace("in relu", "in big")
    model = tmp_path / "m.lwl"
    model.write_text(text + "set big { x = 1e39 / (1 + exp(-z)) for all }\n")
    r = run("compile", model, "--backend", "jax", "--dtype", "float32", "-o", tmp_path / "s.py")
    assert r.exit_code == 1 and "a number in the curve of set big, 1e+39, is inf" in r.output
    assert f"m.lwl:{text.count(chr(10)) + 1}:11:" in r.output, r.output


WIDE = """\
param h = 100
nodes D[4], H[h], C[2]
edges E = dense(D -> H) + dense(H -> C)
batch k[64]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | C]
var b[k, H | C]
data train = "blobs:inputs=4,classes=2,items=1024,seed=0"
constraint inputs for k, n in D: agree x[k, out(n)] == d[k, n]
constraint hidden for k, i in H: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint classes [A] for k: y[k, C] - b[k, C] in margin(c[k], 1)
constraint weights for n in H | C: agree w[*, in(n)]
constraint neuron for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint bias for j in H | C: agree b[*, j]
solve rrr(iterations = 5)
"""


@pytest.mark.parametrize("check", ["1", "0"])
def test_a_run_beyond_the_address_space_limit_is_refused_not_an_internal_error(tmp_path, check):
    """Under `ulimit -v`, a run's state that could not fit was an 'internal error:
    MemoryError' (a user test): the check before the run counts the limit, and an
    allocation refused anyway is an out-of-memory error."""
    import os

    model = tmp_path / "wide.lwl"
    model.write_text(WIDE)
    # the limit set in the child before lwlc loads (a preexec_fn would fork this process,
    # which runs JAX's threads)
    capped = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, "
              "(3 << 30, 3 << 30)); sys.argv[0] = 'lwlc'; "
              "runpy.run_module('lwlc.cli', run_name='__main__')")
    env = {**os.environ, "LWLC_MEMORY_CHECK": check}
    done = subprocess.run([sys.executable, "-c", capped, "train", str(model), "-q",
                           "--set", "h=60000", "--set", "k=1024", "--set", "epochs=1", "--out",
                           str(tmp_path / "run")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    if check == "1":
        assert "the address-space limit (ulimit -v)" in done.stderr, done.stderr
    else:
        assert "lwlc: error: out of memory" in done.stderr, done.stderr


def test_xla_out_of_memory_is_an_out_of_memory_error():
    """JAX 0.10.2 raises JaxRuntimeError "INTERNAL: ... Out of memory allocating N bytes",
    which was still an internal error (a re-test)."""
    from lwlc.cli import _out_of_memory

    jax_error = type("JaxRuntimeError", (RuntimeError,), {})
    assert _out_of_memory(jax_error("INTERNAL: Error dispatching computation: Out of memory "
                                    "allocating 2764800000 bytes."))
    assert _out_of_memory(type("XlaRuntimeError", (RuntimeError,), {})("RESOURCE_EXHAUSTED"))
    assert _out_of_memory(MemoryError("Unable to allocate 110. MiB"))
    assert not _out_of_memory(jax_error("INTERNAL: a shape mismatch"))


@pytest.mark.parametrize("stage", ["imports", "commands"])
def test_a_ctrl_c_while_lwlc_loads_ends_without_a_traceback(stage):
    """A Ctrl-C in the first half second of any command, while Python imports typer and
    rich or typer builds the commands, printed a traceback (a user test): it ends as one
    inside a command does. The Ctrl-C is raised where it would land, by a stand-in for
    the import of rich or for typer's get_command."""
    stop = {
        "imports": "class Stop:\n"
                   "    def find_spec(self, name, path=None, target=None):\n"
                   "        if name == 'rich':\n"
                   "            raise KeyboardInterrupt\n"
                   "sys.meta_path.insert(0, Stop())\n",
        "commands": "import typer.main\n"
                    "def stop(*args):\n"
                    "    raise KeyboardInterrupt\n"
                    "typer.main.get_command = stop\n",
    }[stage]
    code = f"import sys\n{stop}sys.argv = ['lwlc', 'check', 'm.lwl']\n" \
           "from lwlc.__main__ import main\nmain()\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "lwlc: interrupted\n"


_LOG = ("epoch,gwm,iterations,avg_iterations,rrr_err_start,rrr_err_end,seconds,batch_err,"
        "train_err,value_rmse\n"
        "1,0.1,60,15.0,0.32,0.62,0.9,0.51,0.65,0.46\n"
        "2,0.2,60,15.0,0.25,nan,1.0,0.46,0.56,0.28\n")


def test_plot_draws_a_runs_curves_from_its_folder_or_its_log(tmp_path):
    """`lwlc plot RUN -o FILE`: the training curves of a run folder (or its log.csv) as a
    picture, titled with the run's model; every metric column drawn."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "log.csv").write_text(_LOG)
    (run_dir / "run.json").write_text(json.dumps({"model": "twohead", "backend": "numpy",
                                                  "dtype": "float64"}))
    r = run("plot", run_dir, "-o", tmp_path / "curves.png")
    assert r.exit_code == 0, r.output
    assert "2 epoch(s)" in r.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    r = run("plot", run_dir / "log.csv", "-o", tmp_path / "curves.svg")
    assert r.exit_code == 0, r.output
    svg = (tmp_path / "curves.svg").read_text()
    for text in ("twohead (numpy, float64)", "batch_err", "train_err", "value_rmse",
                 "RRR_err"):
        assert text in svg, text
    other = tmp_path / "other"  # several runs side by side: a color each, named below
    other.mkdir()
    (other / "log.csv").write_text(_LOG.replace("0.65,0.46", "0.61,0.41"))
    r = run("plot", run_dir, other / "log.csv", "-o", tmp_path / "both.svg")
    assert r.exit_code == 0 and "2 epoch(s) of" in r.output, r.output
    svg = (tmp_path / "both.svg").read_text()
    for text in ("2 runs", "twohead (numpy, float64): run", "other", "train_err"):
        assert text in svg, text
    (run_dir / "run.json").write_text("[1]")  # damaged: the folder's name is the title
    r = run("plot", run_dir, "-o", tmp_path / "curves.svg")
    assert r.exit_code == 0, r.output
    assert "twohead" not in (tmp_path / "curves.svg").read_text()


def test_plot_errors_say_what_is_wrong_and_where(tmp_path):
    r = run("plot", tmp_path / "nowhere", "-o", tmp_path / "c.png")
    assert r.exit_code == 1 and "no training log" in r.output and "--out DIR" in r.output
    (tmp_path / "restarts.csv").write_text("seed,solved\n0,1\n")
    r = run("plot", tmp_path, "-o", tmp_path / "c.png")
    assert r.exit_code == 1 and "holds the starts of lwlc train --restarts" in r.output
    (tmp_path / "log.csv").write_text(_LOG)
    r = run("plot", tmp_path, "-o", tmp_path / "c.txt")
    assert r.exit_code == 1 and "cannot draw the curves as '.txt'" in r.output
    (tmp_path / "log.csv").write_text(_LOG.replace("0.46,0.56", "0.46,oops"))
    r = run("plot", tmp_path, "-o", tmp_path / "c.png")
    assert r.exit_code == 1 and "log.csv:3: train_err = 'oops' is not a number" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "c.png").exists()
    (tmp_path / "log.csv").write_text(_LOG.split("\n")[0] + "\n")
    r = run("plot", tmp_path, "-o", tmp_path / "c.png")
    assert r.exit_code == 1 and "holds no epoch yet" in r.output
