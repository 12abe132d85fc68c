"""Run directories: a run is never lost or mixed, bad run files are caught, a failing run says why.

Small runs of models/majority.lwl (batch 16, 5 RRR iterations, 64 generated items).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lwlc import data as datamod
from lwlc.cli import app
from lwlc.driver import TrainConfig, load_params, save_params, train

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "majority.lwl"
DATA = "majority:inputs=13,depth=2,limit=64"
SMALL = ["--set", "k=16", "--set", "iterations=5"]
FILES = ["run.json", "params.npz", "log.csv", "summary.json"]
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def train_cli(out, *extra, epochs=1, model=MODEL, data=DATA):
    return run("train", model, "--data", data, *SMALL, "--set", f"epochs={epochs}", "--out", out,
               "-q", *extra)


def clean(r) -> None:
    """A user's error: exit 1, a message, never a traceback or an internal error."""
    assert r.exit_code == 1, r.output
    assert "internal error" not in r.output and "Traceback" not in r.output, r.output


def same_params(a: Path, b: Path) -> bool:
    pa, _ = load_params(a)
    pb, _ = load_params(b)
    return pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A 1-epoch run, and what resuming it to 2 epochs and evaluating it give."""
    base = tmp_path_factory.mktemp("template")
    r = train_cli(base / "run")
    assert r.exit_code == 0, r.output
    ref = base / "ref"
    shutil.copytree(base / "run", ref)
    r = train_cli(ref, "--resume", epochs=2)
    assert r.exit_code == 0, r.output
    ev = run("evaluate", MODEL, "--params", base / "run" / "params.npz", "--data", DATA, *SMALL)
    assert ev.exit_code == 0, ev.output
    return base / "run", ref, ev.output


def copy_run(template, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(template[0], out)
    return out


# --- a directory holds one run ----------------------------------------------------------------


def test_existing_run_is_refused_and_overwrite_replaces_it(template, tmp_path):
    out = copy_run(template, tmp_path)
    before = (out / "params.npz").read_bytes()
    r = train_cli(out, epochs=2)
    clean(r)
    assert "already holds a run (1 epoch(s) of model majority)" in r.output
    assert "--resume" in r.output and "--overwrite" in r.output
    assert (out / "params.npz").read_bytes() == before  # untouched
    r = train_cli(out, "--overwrite", "--seed", "3", epochs=2)
    assert r.exit_code == 0, r.output
    record = json.loads((out / "run.json").read_text())
    assert record["seed"] == 3
    assert len((out / "log.csv").read_text().splitlines()) == 3
    r = train_cli(out, "--overwrite", "--resume")
    clean(r)
    assert "exclude each other" in r.output
    for flag, needs in (("--overwrite", "--overwrite needs --out DIR"),  # it was ignored
                        ("--resume", "--resume needs --out DIR")):
        r = run("train", MODEL, "--data", DATA, *SMALL, "--set", "epochs=1", "-q", flag)
        clean(r)
        assert needs in r.output


def test_an_overwrite_that_stops_before_its_first_epoch_puts_the_old_run_back(
        template, tmp_path, monkeypatch):
    """--overwrite removed the old run before training, so a new run that failed or was
    stopped before its first epoch left only its run.json (a user test). The old files are
    set aside until then, and put back; a killed --overwrite is settled by the next run."""
    from lwlc import driver
    from lwlc.rundir import RunDir

    out = copy_run(template, tmp_path)
    before = {n: (out / n).read_bytes() for n in FILES}
    real_epochs = driver._epochs

    # a divergence in the first epoch says where the old run is (it said "holds only
    # run.json": a user test)
    ds = datamod.load(DATA)
    x = np.array(ds.inputs)
    x[:, 3] = 1e200
    huge = tmp_path / "huge.txt"
    datamod.save_text(datamod.Dataset(x, ds.labels, ds.n_classes, "huge", "huge"), huge)
    r = train_cli(out, "--overwrite", data=huge)
    clean(r)
    assert "RRR diverged in epoch 1" in r.output, r.output
    assert "gets back the run that --overwrite was to replace" in r.output, r.output
    assert {n: (out / n).read_bytes() for n in FILES} == before
    stops = [KeyboardInterrupt(), driver.LwlcError("no luck")]

    def stopped(*args, **kwargs):
        assert json.loads((out / "run.json").read_text())["seed"] == 3  # the new record
        assert not (out / "params.npz").exists()
        raise stops.pop(0)

    monkeypatch.setattr(driver, "_epochs", stopped)
    for code in (130, 1):
        r = train_cli(out, "--overwrite", "--seed", "3", epochs=2)
        assert r.exit_code == code, r.output
        assert {n: (out / n).read_bytes() for n in FILES} == before
        assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, ".lock"])
        assert ("holds the run that --overwrite was to replace, as it was" in r.output) \
            == (code == 130), r.output
    # a new run with its first epoch replaces the old one for good, even if it fails after
    calls = []

    def one_epoch_then_fail(*args, **kwargs):
        real_epochs(*args, **kwargs)
        calls.append(1)
        raise driver.LwlcError("after the epoch")

    monkeypatch.setattr(driver, "_epochs", one_epoch_then_fail)
    for name in FILES:  # a private run stays private (the new files were 0644: a user test)
        (out / name).chmod(0o600)
    assert train_cli(out, "--overwrite", "--seed", "3").exit_code == 1 and calls
    assert json.loads((out / "run.json").read_text())["seed"] == 3
    assert {(out / n).stat().st_mode & 0o777 for n in FILES} == {0o600}
    assert (out / "params.npz").read_bytes() != before["params.npz"]
    assert not list(out.glob(".*.replaced"))
    # an --overwrite killed before its first epoch: the next run puts the old one back,
    # also where a second Ctrl-C or a kill stopped that in the middle (the old run.json
    # back, the others aside: the next run took it for the new run's and removed it)
    for name, data in before.items():
        (out / name).write_bytes(data)
    run_dir = RunDir(out)

    def hidden():
        return sorted(p.name for p in out.iterdir() if p.name.startswith(".replaced")
                      or p.name.endswith(".replaced"))

    for restored in ([], ["run.json"], ["run.json", "log.csv", "summary.json"]):
        run_dir.clear()
        (out / "run.json").write_text("{}")
        (out / "log.csv").write_text("new")  # a new epoch's file, before its params.npz
        for name in restored:
            os.replace(run_dir.replaced(name), out / name)
        if not restored:  # evaluate, meanwhile, says where the old run is ("train first")
            r = run("evaluate", MODEL, "--params", out / "params.npz", "--data", DATA, *SMALL)
            clean(r)
            assert "an --overwrite in" in r.output and "puts it back" in r.output, r.output
        assert run_dir.settle_replaced() is not None
        assert {n: (out / n).read_bytes() for n in FILES} == before and not hidden()
    run_dir.clear()  # ... and one killed after it (also while dropping): the old files go
    (out / "params.npz").write_bytes(b"new")
    run_dir.replaced("run.json").unlink()
    assert run_dir.settle_replaced() is None and not hidden()
    assert (out / "params.npz").read_bytes() == b"new"


def test_a_folder_holding_only_a_run_json_is_not_written_over(tmp_path):
    """A run.json of the user's own was replaced without --overwrite (one lwlc wrote, of a
    run that never finished an epoch, is started again: the test above)."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "run.json").write_text('{"my": "notes"}')
    r = train_cli(out)
    clean(r)
    assert "holds a run.json that lwlc train did not write" in r.output
    assert (out / "run.json").read_text() == '{"my": "notes"}'


def test_temporary_files_a_signal_left_go_when_the_run_goes_on(template, tmp_path):
    """.log.csv.*.part and the like, left by a SIGTERM mid-write, stayed for good."""
    out = copy_run(template, tmp_path)
    left = [out / ".log.csv.x1.part", out / ".summary.json.x2.part"]
    for p in left:
        p.write_text("half")
    r = train_cli(out, "--resume", epochs=2)
    assert r.exit_code == 0, r.output
    assert not any(p.exists() for p in left)


def test_resume_of_nothing_is_refused(tmp_path):
    r = train_cli(tmp_path / "empty", "--resume")
    clean(r)
    assert "holds no run to resume" in r.output


def test_a_run_that_never_finished_an_epoch_may_be_started_again(template, tmp_path):
    out = copy_run(template, tmp_path)
    for name in ("params.npz", "log.csv", "summary.json"):
        (out / name).unlink()
    r = train_cli(out)  # only run.json: nothing to lose
    assert r.exit_code == 0, r.output
    assert same_params(out / "params.npz", template[0] / "params.npz")


def test_resume_continues_and_reports_a_finished_run(template, tmp_path):
    out = copy_run(template, tmp_path)
    r = train_cli(out, "--resume", epochs=2)
    assert r.exit_code == 0, r.output
    assert same_params(out / "params.npz", template[1] / "params.npz")
    r = run("train", MODEL, "--data", DATA, *SMALL, "--set", "epochs=2", "--out", out,
            "--resume")
    assert r.exit_code == 0, r.output
    assert "already has epoch 2" in r.output and "nothing to train" in r.output


@pytest.mark.parametrize("change,expected", [
    (["--set", "omega=3"], "--set omega=3 differs from the run's omega = 2"),
    (["--set", "iterations=6"], "--set iterations=6 differs from the run's iterations = 5"),
    (["--seed", "7"], "--seed 7 differs from the run's seed 0"),
    (["--data", "majority:inputs=13,depth=2,limit=64,seed=2"],
     "--data majority:inputs=13,depth=2,limit=64,seed=2 differs from the run's --data "
     "majority:inputs=13,depth=2,limit=64"),
    (["--test", DATA], "test data: majority:inputs=13,depth=2,limit=64 differs from the run's "
     "none"),
    (["--backend", "jax"], "--backend jax differs from the run's --backend numpy"),
], ids=["set", "setting", "seed", "data", "test", "backend"])
def test_resume_refuses_a_different_run(template, tmp_path, change, expected):
    out = copy_run(template, tmp_path)
    r = run("train", MODEL, "--data", DATA, *SMALL, "--set", "epochs=2", "--out", out, "-q",
            "--resume", *change)
    clean(r)
    assert f"not the run in {out}" in r.output and expected in r.output, r.output
    assert load_params(out / "params.npz")[1]["epochs"] == 1


def test_resume_takes_a_model_with_new_comments_or_more_epochs_in_its_text(tmp_path):
    """A comment added to the model, or `epochs = N` raised in its solve line, refused the
    resume as "model text changed" (a user test); the README says only epochs may change."""
    model = tmp_path / "m.lwl"
    text = MODEL.read_text()
    model.write_text(text)
    out = tmp_path / "run"
    assert train_cli(out, model=model, data=DATA).exit_code == 0
    model.write_text("# my notes\n" + text.replace("# one hidden layer", "# one layer"))
    r = train_cli(out, "--resume", epochs=2, model=model, data=DATA)
    assert r.exit_code == 0, r.output
    assert load_params(out / "params.npz")[1]["epochs"] == 2
    solve = next(ln for ln in text.splitlines() if ln.startswith("solve"))
    model.write_text(text.replace(solve, solve.replace("epochs = 1000", "epochs = 3")))
    assert "epochs = 3" in model.read_text()
    r = run("train", model, "--data", DATA, *SMALL, "--out", out, "-q", "--resume")
    assert r.exit_code == 0, r.output
    assert load_params(out / "params.npz")[1]["epochs"] == 3
    # spacing inside a line, a comment after a string, a wrapped statement (a user test)
    respaced = text.replace("param omega   = 2.0", "param omega=2.0").replace(
        'circuit classifier, depth 2"', 'circuit classifier, depth 2"  # a note').replace(
        "constraint bias    for j in H | C:", "constraint bias    for j in H | C:\n   ")
    assert respaced.count("\n") > text.count("\n") and "omega=2.0" in respaced
    model.write_text(respaced)
    r = train_cli(out, "--resume", epochs=4, model=model, data=DATA)
    assert r.exit_code == 0, r.output


def test_resume_refuses_rewired_edges_from_an_edge_file_and_evaluate_notes_them(tmp_path):
    """The same number of edges from a file(...) term, rewired: --resume took the weights
    onto other edges, and then refused them as "model text changed"; evaluate and predict
    used them without a word (user tests)."""
    model = tmp_path / "m.lwl"
    model.write_text(MODEL.read_text().replace("dense(H1 -> C)",
                                               'dense(H1 -> C) + file("skip.txt")'))
    (tmp_path / "skip.txt").write_text("0 39\n")  # D[0] -> C[0]
    out = tmp_path / "run"
    assert train_cli(out, model=model).exit_code == 0
    # the same edges written otherwise, with a comment: the same model (a re-test)
    (tmp_path / "skip.txt").write_text("# one skip edge\n0 -> 39\n")
    for command in ("evaluate", "predict"):
        r = run(command, model, "-p", out / "params.npz", "--data", DATA)
        assert r.exit_code == 0 and "edge files" not in r.output, r.output
    (tmp_path / "skip.txt").write_text("1 39\n")  # D[1] -> C[0]
    r = train_cli(out, "--resume", epochs=2, model=model)
    clean(r)
    assert "model text changed" not in r.output, r.output
    assert "the edge files" in r.output and "changed since the run" in r.output, r.output
    for command in ("evaluate", "predict"):
        r = run(command, model, "-p", out / "params.npz", "--data", DATA)
        assert r.exit_code == 0, r.output
        assert "are not those" in r.output and "other edges" in r.output, r.output


def test_resume_refuses_a_changed_model_or_data_file(tmp_path):
    model = tmp_path / "m.lwl"
    model.write_text(MODEL.read_text().replace('data train = "../../shared/data/maj13_2_3_train"',
                                               "").replace('data test  = "../../shared/data/'
                                                           'maj13_2_3_test"', ""))
    data = tmp_path / "d.txt"
    datamod.save_text(datamod.load(DATA), data)
    out = tmp_path / "run"
    assert train_cli(out, model=model, data=data).exit_code == 0
    text = model.read_text()
    model.write_text(text.replace("\"Elser 2021,", "\"Elser (2021),", 1))
    r = train_cli(out, "--resume", epochs=2, model=model, data=data)
    clean(r)
    assert "model text changed since the run" in r.output
    model.write_text(text)
    lines = data.read_text().splitlines()
    lines[2] = lines[2].replace("1.0", "0.0", 1) if "1.0" in lines[2] else \
        lines[2].replace("0.0", "1.0", 1)
    data.write_text("\n".join(lines) + "\n")
    r = train_cli(out, "--resume", epochs=2, model=model, data=data)
    clean(r)
    assert f"training data {data} changed since the run" in r.output


# --- every file read back is checked ------------------------------------------------------------


DAMAGE = [
    ("delete log.csv", "log.csv is missing: the per-epoch history of the run's 1 epoch(s) is lost"),
    ("delete run.json", "run.json is missing"),
    ("truncate params.npz", "params.npz is not a parameter file written by lwlc train"),
    ("edit log.csv", "log.csv and {out}/params.npz do not belong together: the log's first 1 "
                     "row(s) do not match the hash params.npz recorded at epoch 1"),
    ("crlf log.csv", "log.csv:2: an empty row (were its line ends converted?)"),
    ("edit summary.json", "summary.json was changed after epoch 1 was written"),
    ("garble run.json", "run.json is not a run record written by lwlc train"),
    ("foreign params.npz", "params.npz belongs to another run"),
    ("nmf params.npz", "params.npz belongs to another run"),
]


@pytest.mark.parametrize("damage,expected", DAMAGE, ids=[d.replace(" ", "-") for d, _ in DAMAGE])
def test_resume_checks_each_run_file(template, tmp_path, damage, expected):
    out = copy_run(template, tmp_path)
    verb, name = damage.split()
    path = out / name
    if verb == "delete":
        path.unlink()
    elif verb == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif verb == "edit":  # the last digit in the file, one up
        raw = path.read_bytes()
        i = max(raw.rfind(c) for c in b"0123456789")
        path.write_bytes(raw[:i] + b"%d" % ((raw[i] - 48 + 1) % 10) + raw[i + 1:])
    elif verb == "garble":
        path.write_text(path.read_text()[:-20])
    elif verb == "crlf":
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\r\r\n"))  # unix2dos
    elif verb == "foreign":  # another run of the same model, other seed
        other = tmp_path / "other"
        assert train_cli(other, "--seed", "4").exit_code == 0
        shutil.copy(other / "params.npz", path)
    elif verb == "nmf":  # another model's parameters (other shapes)
        other = tmp_path / "nmf"
        r = run("train", ROOT / "models" / "nmf_ledm.lwl", "--set", "m=4", "--set", "r=4",
                "--set", "iterations=5", "--set", "epochs=1", "--out", other, "-q")
        assert r.exit_code == 0, r.output
        shutil.copy(other / "params.npz", path)
    r = train_cli(out, "--resume", epochs=2)
    clean(r)
    assert expected.format(out=out) in r.output, r.output


def test_resume_names_a_missing_checkpoint(template, tmp_path):
    """A 2-epoch run without its params.npz: 'params.npz is missing', not a mismatch of the
    log's rows with 'epoch 0'."""
    out = tmp_path / "run"
    shutil.copytree(template[0].parent / "ref", out)
    (out / "params.npz").unlink()
    r = train_cli(out, "--resume", epochs=3)
    clean(r)
    assert f"{out / 'params.npz'} is missing: the run's checkpoint is lost" in r.output, r.output


def test_evaluate_refuses_damaged_or_foreign_params(template, tmp_path):
    out = copy_run(template, tmp_path)
    (out / "params.npz").write_bytes((out / "params.npz").read_bytes()[:-100])
    r = run("evaluate", MODEL, "--params", out / "params.npz", "--data", DATA)
    clean(r)
    assert "params.npz is not a parameter file written by lwlc train" in r.output
    (out / "params.npz").write_bytes(b"epoch,gwm\n1,2\n")
    r = run("evaluate", MODEL, "--params", out / "params.npz", "--data", DATA)
    clean(r)
    assert "is not a parameter file" in r.output
    np.save(tmp_path / "one.npy", np.zeros(3))  # printed a TypeError (a user test)
    r = run("evaluate", MODEL, "--params", tmp_path / "one.npy", "--data", DATA)
    clean(r)
    assert "one.npy is a single .npy array, not a parameter file" in r.output
    assert "TypeError" not in r.output
    # the same network shapes, another model
    r = run("evaluate", ROOT / "models" / "relabel.lwl", "--params",
            template[0] / "params.npz", "--data", DATA)
    clean(r)
    assert "holds the parameters of model 'majority', not of 'relabel'" in r.output
    r = run("evaluate", ROOT / "models" / "majority3.lwl", "--params",
            template[0] / "params.npz", "--data", DATA)
    clean(r)
    assert "'w' has shape (390,)" in r.output


@st.composite
def damage(draw):
    kind = draw(st.sampled_from(["truncate", "flip", "swap"]))
    name = draw(st.sampled_from(FILES))
    if kind == "swap":
        return kind, name, draw(st.sampled_from([f for f in FILES if f != name]))
    return kind, name, draw(st.floats(0.0, 1.0, exclude_max=True)), draw(st.integers(0, 7))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hurt=damage())
def test_damaged_run_files_give_only_clear_errors(template, hurt):
    """Truncated, bit-flipped or swapped run files: `train --resume` and `evaluate` either say
    what is wrong (exit 1, naming a run file) or, the damage being harmless (a byte no reader
    uses), reach exactly what the undamaged run reaches."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        shutil.copytree(template[0], out)
        kind, name = hurt[0], hurt[1]
        path = out / name
        raw = path.read_bytes()
        if kind == "truncate":
            path.write_bytes(raw[:int(hurt[2] * len(raw))])
        elif kind == "flip":
            b = bytearray(raw)
            b[int(hurt[2] * len(raw))] ^= 1 << hurt[3]
            path.write_bytes(bytes(b))
        else:
            other = out / hurt[2]
            a, b = path.read_bytes(), other.read_bytes()
            path.write_bytes(b)
            other.write_bytes(a)
        ev = run("evaluate", MODEL, "--params", out / "params.npz", "--data", DATA, *SMALL)
        r = train_cli(out, "--resume", epochs=2)
        for res in (r, ev):
            assert res.exit_code in (0, 1), res.output
            assert "internal error" not in res.output and "Traceback" not in res.output
            if res.exit_code == 1:
                assert any(f in res.output for f in FILES), res.output
        if ev.exit_code == 0:
            assert ev.output == template[2]
        if r.exit_code == 0:
            assert same_params(out / "params.npz", template[1] / "params.npz"), hurt
            assert len((out / "log.csv").read_text().splitlines()) == 3


# --- one writer per directory ---------------------------------------------------------------


def test_a_locked_directory_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242 otherhost\n")
        r = train_cli(out)
        clean(r)
        assert "is in use: another lwlc train (pid 4242 on otherhost)" in r.output
        assert not (out / "run.json").exists()
    finally:
        os.close(fd)
    assert train_cli(out).exit_code == 0  # released: free again


def test_a_lock_that_is_a_link_or_a_fifo_is_refused(tmp_path):
    """The lock followed a symbolic link and truncated its target (anyone who can write
    to a shared run folder could plant one); a FIFO was an internal error (a user test)."""
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    r = train_cli(out)
    clean(r)
    assert ".lock is a symbolic link" in r.output and "remove" in r.output
    assert victim.read_text() == "keep me\n"
    (out / ".lock").unlink()
    os.mkfifo(out / ".lock")
    r = train_cli(out)
    clean(r)
    assert ".lock is not a regular file" in r.output
    # an --out that is a dangling link was "a file, not a directory" (a user test)
    dangling = tmp_path / "dl"
    dangling.symlink_to(tmp_path / "nowhere")
    r = train_cli(dangling)
    clean(r)
    assert f"--out {dangling} is a symbolic link to {tmp_path / 'nowhere'}, which does not " \
        "exist" in r.output, r.output


def test_a_run_folder_moved_or_removed_during_the_run_is_not_made_again(tmp_path):
    """Each epoch's write re-created a run folder that was moved or removed mid-run,
    without its record or lock: a second run could take it over (a user test)."""
    from lwlc.errors import LwlcError
    from lwlc.rundir import RunDir

    for change in ("move", "remove", "keep"):
        out = tmp_path / change
        run = RunDir(out)
        run.lock()
        try:
            if change == "move":
                out.rename(tmp_path / f"{change}-moved")
            elif change == "remove":
                (out / ".lock").unlink()
                out.rmdir()
            if change == "keep":
                run.still_here()
            else:
                with pytest.raises(LwlcError, match="was removed, moved or replaced"):
                    run.still_here()
        finally:
            run.unlock()
        assert not out.exists()  # nothing made again (an empty folder it made goes)


def test_overwrite_and_resume_where_files_cannot_be_removed_or_made(tmp_path, monkeypatch):
    """--overwrite removed run.json first and then stopped at a params.npz it could not
    remove, with an internal error (it now moves the files aside, and puts back those moved
    when one cannot be); --resume into a folder where no file can be made
    trained a whole epoch before it failed (user tests)."""
    import tempfile as tmp

    from lwlc.errors import LwlcError
    from lwlc.rundir import RunDir

    out = tmp_path / "run"
    assert train_cli(out).exit_code == 0
    real_replace = os.replace
    before = {n: (out / n).read_bytes() for n in FILES}

    def replace(src, dst):
        if Path(src).name == "summary.json":  # the third set aside
            raise PermissionError(1, "Operation not permitted")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    r = train_cli(out, "--overwrite")
    clean(r)
    assert "--overwrite: cannot move" in r.output and "summary.json" in r.output
    assert "nothing was changed" in r.output
    assert {n: (out / n).read_bytes() for n in FILES} == before  # those moved are back
    monkeypatch.setattr(os, "replace", real_replace)
    # a folder in run.json's place: refused before the checkpoint went (it was removed and
    # then run.json failed, leaving neither run; a user test)
    (out / "run.json").rename(out / "record")
    (out / "run.json").mkdir()
    r = train_cli(out, "--overwrite")
    clean(r)
    assert "is a folder, not a run's file; nothing was removed" in r.output, r.output
    assert (out / "params.npz").exists() and (out / "log.csv").exists()
    (out / "run.json").rmdir()
    (out / "record").rename(out / "run.json")

    def no_files(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tmp, "mkstemp", no_files)
    run = RunDir(out)
    with pytest.raises(LwlcError, match="cannot write in .*Permission denied"):
        run.lock()
    assert run._fd is None  # released


# --- numerics and resources -------------------------------------------------------------------


def test_a_divergence_of_the_steps_themselves_names_the_solve_line(tmp_path):
    """RRR with λ = 2, β = 2 grows the state with every projection finite: the error named
    nothing (a user test); it names the solve line and its step sizes."""
    model = tmp_path / "m.lwl"
    model.write_text(MODEL.read_text().replace('data train = "../../shared/data/maj13_2_3_train"',
                                               "").replace('data test  = "../../shared/data/'
                                                           'maj13_2_3_test"', "")
                     .replace("solve rrr(beta = 1.0,", "solve rrr(lam = 2, beta = 2,"))
    assert "lam = 2" in model.read_text()
    r = run("train", model, "--data", DATA, "--set", "k=16", "--set", "iterations=200",
            "--set", "epochs=2", "--out", tmp_path / "run", "-q")
    clean(r)
    assert "no constraint's projection of the last good state is to blame" in r.output, r.output
    assert "(β = 2, λ = 2)" in r.output and "m.lwl:" in r.output, r.output
    assert "try a smaller beta (now 2), a lam nearer 1 (now 2)," in r.output, r.output
    # the hint names the steps of the model's method: dr ignores beta and ap has none
    # ("a smaller beta" for DR, and another omega for a model without one: a user test)
    from types import SimpleNamespace as S

    from lwlc.diverge import _settings_hint
    assert _settings_hint(S(method="dr", beta=1.0, lam=2.5)).startswith(
        "try a lam nearer 1 (now 2.5), other parameter values")
    assert "rrr with a beta below 1" in _settings_hint(S(method="dr", beta=1.0, lam=None))
    assert _settings_hint(S(method="ap", beta=1.0, lam=None)) == \
        "try other parameter values, or rescaled data"
    assert "omega" not in r.output


def test_huge_data_value_stops_naming_the_family_and_keeps_the_last_epoch(tmp_path):
    """65 items in batches of 16: each epoch leaves one item out. The item left out in epoch 1
    (seed 0) holds 1e200, so epoch 1 completes and epoch 2 diverges."""
    n = 65
    bad = int(np.random.default_rng([0, 1]).permutation(n)[-1])
    assert int(np.random.default_rng([0, 2]).permutation(n)[-1]) != bad
    ds = datamod.load(f"majority:inputs=13,depth=2,limit={n}")
    x = np.array(ds.inputs)
    x[bad, 3] = 1e200
    data = tmp_path / "huge.txt"
    datamod.save_text(datamod.Dataset(x, ds.labels, ds.n_classes, "huge", "huge"), data)
    out = tmp_path / "run"
    r = train_cli(out, data=data, epochs=3)
    clean(r)
    assert "RRR diverged in epoch 2" in r.output
    assert "constraint 'inputs' (set A)" in r.output and "majority.lwl:23" in r.output
    assert f"training item {bad} (counted from 0)" in r.output
    assert "|d| = 1e+200" in r.output and "keeps its last completed epoch (epoch 1" in r.output
    assert "RuntimeWarning" not in r.output
    params, meta = load_params(out / "params.npz")
    assert meta["epochs"] == 1 and all(np.isfinite(v).all() for v in params.values())
    assert len((out / "log.csv").read_text().splitlines()) == 2


def test_diagnosis_names_the_family_and_items_of_a_nan():
    from lwlc.compiler import compile_model, load_solver
    from lwlc.diverge import diagnose

    c = compile_model(MODEL, {"k": 8})
    solver = load_solver(c.source)
    params = solver.initial_params(np.random.default_rng(0))
    ds = datamod.load(DATA)
    data = {"d": ds.inputs[:8], "c": ds.labels[:8]}
    state = solver.init(params, data)
    state["y"] = state["y"].copy()
    state["y"][5, 3] = np.nan
    err = diagnose(solver, c.model, state, data, where="epoch 1, batch 1", rows=np.arange(8))
    assert "its warm start already holds non-finite or huge values in y" in err.message
    assert "constraint 'hidden' (set A) makes non-finite values of them" in err.message
    assert "batch item 5 (of 8)" in err.message and err.span.line == 24


def test_memory_estimate_refuses_an_absurd_batch_before_allocating(tmp_path):
    t0 = time.perf_counter()
    r = train_cli(tmp_path / "run", "--set", "k=50000000")
    clean(r)
    assert time.perf_counter() - t0 < 20
    assert "needs about 2.01 TB (k = 50000000 items × 836 values × 8 bytes" in r.output, r.output
    assert "a smaller batch (--set k=N" in r.output and "float32" in r.output
    assert not (tmp_path / "run").exists()


# --- interrupted runs -----------------------------------------------------------------------


# Long enough (about 0.3 s per epoch) that the run still holds its lock when the second
# writer of the test below tries it: with 25 iterations it could finish first.
KILL_ARGS = ["--data", DATA, "--set", "k=16", "--set", "iterations=100", "--set", "tolerance=0",
             "--set", "epochs=6"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    train(TrainConfig(model=str(MODEL), data=DATA, out=str(out), progress=False, quiet=True,
                      overrides={"k": 16, "iterations": 100, "tolerance": 0, "epochs": 6}))
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM],
                         ids=["SIGKILL", "SIGINT", "SIGTERM"])
def test_interrupted_run_resumes_to_the_same_params(tmp_path, uninterrupted, sig):
    """SIGTERM (a scheduler's time limit) stops a run as a Ctrl-C does (it died where it
    stood, an --overwrite's old run left hidden: a user test)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lwlc.cli", "train", str(MODEL), *KILL_ARGS, "--out", str(out),
           "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(ready) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()

    try:
        lock = out / ".lock"
        wait_for(lambda: lock.exists() and lock.read_text().strip())
        # a second writer is refused, naming the first
        r = run("train", MODEL, *KILL_ARGS, "--out", out, "-q", "--resume")
        clean(r)
        assert f"another lwlc train (pid {proc.pid}" in r.output
        log = out / "log.csv"
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 3)  # 2 epochs
        time.sleep(0.1)  # into epoch 3
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "interrupted" in err and "continue with the same command and --resume" in err
    elif sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "stopped by SIGTERM" in err and "continue with the same command" in err, err
    else:
        assert proc.returncode == -signal.SIGKILL
    epochs = load_params(out / "params.npz")[1]["epochs"]
    assert 2 <= epochs < 6
    r = run("train", MODEL, *KILL_ARGS, "--out", out, "-q", "--resume")
    assert r.exit_code == 0, r.output
    assert same_params(out / "params.npz", uninterrupted / "params.npz")
    log = (out / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["1", "2", "3", "4", "5", "6"]
    assert not list(out.glob(".*.part"))


def test_a_warm_start_that_overflows_is_named_as_such(tmp_path):
    """exp(z) on data of ±800 overflows in the inference pass: the divergence was blamed
    on the constraint that fixes x to the data, which wrote finite values (a user test)."""
    model = tmp_path / "grow.lwl"
    model.write_text((ROOT / "models" / "majority.lwl").read_text()
                     .replace("in relu", "in grow")
                     .replace("param omega", "set grow { x = exp(z) for all }\nparam omega"))
    ds = datamod.load("majority:inputs=13,depth=2,limit=64")
    x = 1600.0 * np.array(ds.inputs) - 800.0
    data = tmp_path / "big.txt"
    datamod.save_text(datamod.Dataset(x, ds.labels, ds.n_classes, "big", "big"), data)
    r = CliRunner().invoke(app, ["train", str(model), "--data", str(data), "--set", "batch=64",
                                 "--set", "epochs=1", "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 1
    assert "RRR diverged in epoch 1, batch 1: its warm start already holds non-finite or " \
        "huge values in x" in r.output, r.output
    assert "constraint 'inputs'" not in r.output and "an activation set that grows fast" \
        in r.output


def test_a_directory_given_as_params_is_read_as_a_run_folder(tmp_path):
    """--params DIR reads DIR/params.npz, as lwlc train --out DIR wrote it (it was refused
    with a hint to name the file); a folder without one is an error that says so (its hint
    once named 'params.npz/params.npz', a user test)."""
    from lwlc.errors import DataError

    folder = tmp_path / "params.npz"
    folder.mkdir()
    with pytest.raises(DataError) as info:
        load_params(folder)
    assert "holds no params.npz" in info.value.message
    assert "params.npz/params.npz" not in info.value.hint
    (folder / "params.npz").write_bytes(b"")
    with pytest.raises(DataError) as info:
        load_params(folder)
    assert "params.npz/params.npz is not a parameter file" in info.value.message
    save_params(folder / "params.npz", {"w": np.ones(3)}, {"model": "m"})
    params, meta = load_params(folder)
    assert params["w"].tolist() == [1.0, 1.0, 1.0] and meta["model"] == "m"
    restarts = tmp_path / "restarts"  # `lwlc train --restarts R --out DIR` writes no params.npz
    restarts.mkdir()
    save_params(restarts / "restarts.npz", {"w": np.zeros(2)}, {"kind": "restarts"})
    assert load_params(restarts)[1] == {"kind": "restarts"}


def test_a_run_never_writes_over_a_file_it_reads(tmp_path):
    """`data train = "log.csv"` beside the run: --overwrite replaced the training data with
    the epoch log (a user test)."""
    data = tmp_path / "log.csv"
    datamod.save_text(datamod.load(DATA), data)
    model = tmp_path / "m.lwl"
    model.write_text(MODEL.read_text().replace('"../../shared/data/maj13_2_3_train"',
                                               '"log.csv"').replace(
        'data test  = "../../shared/data/maj13_2_3_test"', ""))
    before = data.read_bytes()
    r = run("train", model, *SMALL, "--set", "epochs=1", "--out", tmp_path, "-q",
            "--overwrite")
    clean(r)
    assert "would write over" in r.output and data.read_bytes() == before
    # under another name: a link to the run's log.csv, given as --data (a user test)
    (tmp_path / "mydata.txt").symlink_to(data)
    r = run("train", MODEL, "--data", tmp_path / "mydata.txt", *SMALL, "--set", "epochs=1",
            "--out", tmp_path, "-q", "--overwrite")
    clean(r)
    assert "would write over" in r.output and "(that is" in r.output, r.output
    assert data.read_bytes() == before
    # --restarts writes restarts.csv: a link to it given as --data (a re-test)
    (tmp_path / "restarts.csv").write_bytes(before)
    (tmp_path / "starts.txt").symlink_to(tmp_path / "restarts.csv")
    r = run("train", MODEL, "--data", tmp_path / "starts.txt", "--set", "k=64", "--set",
            "iterations=5", "--restarts", "2",
            "--out", tmp_path, "-q", "--overwrite")
    clean(r)
    assert "would write over" in r.output, r.output
    assert (tmp_path / "restarts.csv").read_bytes() == before


def test_a_ctrl_c_while_an_epoch_is_written_comes_after_all_its_files(tmp_path, monkeypatch):
    """A Ctrl-C between the epoch's log.csv and its params.npz left the log and summary an
    epoch ahead of the params (a user test): it is now held until all three are written."""
    from lwlc import driver, rundir

    written = []
    save = driver.save_params

    def interrupted_save(path, params, meta):
        os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl-C came between the files
        written.append("log" if (tmp_path / rundir.LOG).exists() else None)
        save(path, params, meta)
        written.append("params")

    monkeypatch.setattr(driver, "save_params", interrupted_save)
    summary = {"model": "m", "epochs": 2, "iterations": 4, "seconds": 0.1, "params": {}}
    rows = [{"epoch": 1, "rrr_err_end": 0.5}, {"epoch": 2, "rrr_err_end": 0.25}]
    with pytest.raises(KeyboardInterrupt):
        driver.write_outputs(tmp_path, {"w": np.ones(3)}, rows, summary)
    assert written == ["log", "params"]
    _, meta = rundir.read_params(tmp_path / rundir.PARAMS)
    assert meta["epochs"] == 2 == json.loads((tmp_path / rundir.SUMMARY).read_text())["epochs"]


def test_resuming_a_one_batch_run_says_its_state_starts_again(tmp_path):
    """The resumed RRR state of a one-batch run restarts from the saved parameters, so the
    run goes on differently from an uninterrupted one: documented, but said nowhere."""
    model = str(Path(__file__).resolve().parents[1] / "models" / "nmf_ledm.lwl")
    base = ["train", model, "--set", "iterations=20", "-o", str(tmp_path / "r")]
    assert CliRunner().invoke(app, [*base, "--set", "epochs=1", "-q"]).exit_code == 0
    r = CliRunner().invoke(app, [*base, "--set", "epochs=2", "--resume"])
    assert r.exit_code == 0, r.output
    assert "the resumed run warm-starts it again from the saved parameters" in r.output


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # its own
def test_a_ctrl_c_that_a_finalizer_swallowed_stops_the_run_at_the_next_batch(tmp_path,
                                                                            monkeypatch):
    """A Ctrl-C that lands in a finalizer (a __del__ or weakref callback, as JAX frees
    buffers) raises a KeyboardInterrupt that Python ignores: a run sent two Ctrl-Cs trained
    on (seen once, a user test). The signal is noted, and the run stops at the next batch."""
    from lwlc import driver

    class SignalsInFinalizer:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs here, and its exception is ignored
                pass

    calls = []
    batch_data = driver.batch_data

    def batch_data_then_swallowed_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            SignalsInFinalizer()  # made and freed at once
        return batch_data(*args, **kwargs)

    monkeypatch.setattr(driver, "batch_data", batch_data_then_swallowed_ctrl_c)
    model = str(Path(__file__).resolve().parents[1] / "models" / "majority.lwl")
    r = CliRunner().invoke(app, ["train", model, "--data", "majority:depth=2,limit=64",
                                 "--set", "batch=32", "--set", "iterations=2",
                                 "--set", "epochs=50", "-q", "-o", str(tmp_path / "r")])
    assert r.exit_code == 130, r.output
    assert len(calls) == 1  # stopped before the second batch
