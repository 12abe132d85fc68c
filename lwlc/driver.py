"""The training driver: epochs of shuffled batches, RRR per batch, warm starts, metrics, logs.

It runs any emitted solver (NumPy or JAX) through the solver module's API: `initial_params`,
`init`, `solve_batch`, `consensus_params`, `predict`, `forward`. Outputs are written atomically:
`params.npz`, `log.csv` (one row per epoch) and `summary.json`, into a run directory that
records what defines the run (`run.json`) and is locked while a run writes to it
(lwlc/rundir.py). Before it allocates, a run checks that its state fits in memory
(lwlc/resources.py); a state that becomes non-finite stops it, naming the constraint and the
items at fault (lwlc/diverge.py).

A JAX run may span several processes (jax.distributed, one per host; `lwlc train
--coordinator`): every process runs the same epochs on the same batches, and every solver
result comes to the host through `to_host` (the solver's `gather`, a collective) at the same
points on all of them. Only process 0 prints, and only it touches the run directory (lock,
checks, run.json, the checkpoint); what it reads there to start (or why it refuses to) reaches
the others through `_share`, as does the outcome of each epoch's writes, so they start where
it starts and stop where it stops. The others need no access to the run directory at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from . import data as datamod
from . import diverge, ir, resources, rundir
from .compiler import Compiled, compile_model, load_solver
from .elaborate import (
    SOLVER_SETTINGS,
    input_problems,
    label_problems,
    names_read,
    training_inputs,
)
from .errors import DataError, LwlcError, ModelError, SolverError, Span
from .files import check_signals, interrupts_held, publish, temp_for


@dataclass
class TrainConfig:
    model: str
    data: str | None = None
    test: str | None = None
    overrides: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    backend: str = "numpy"
    dtype: str = "float64"
    out: str | None = None
    resume: bool = False
    overwrite: bool = False  # replace a run already in `out` (else it is refused)
    progress: bool = True
    epochs: int | None = None
    quiet: bool = False
    stop_when_solved: bool = True  # see the end of the epoch loop in train()
    devices: int | None = None  # JAX: shard the batch over this many devices (None: all)


# --- atomic outputs -------------------------------------------------------------------------


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write via a temporary file in the same folder and os.replace; the file gets the mode a
    plain open() would give it (the replaced file's, else 0o666 less the umask), not
    mkstemp's private 0o600."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_for(path)
    except OSError as e:  # a read-only or full file system, a folder one may not write to
        raise LwlcError(f"cannot write {path}: {e.strerror or e}",
                        hint="check the path, its folder's permissions and free space") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_params(path: Path, params: dict, meta: dict) -> None:
    buf = io.BytesIO()
    arrays = {k: np.asarray(v) for k, v in params.items()}
    # the metadata as bytes, not a string array: `dict(np.load(path))` then passes to an
    # emitted JAX `predict` (jit refuses a string leaf), which reads only its own names
    arrays[rundir.META] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_params(path: str | Path) -> tuple[dict, dict]:
    """Arrays and metadata of a params.npz; a DataError naming the file if it is missing,
    truncated, damaged or not one (rundir.read_params)."""
    return rundir.read_params(path)


# --- solver results on the host, and several processes ------------------------------------------


def to_host(solver, tree):
    """NumPy copies of solver results (one array or a dict of them). With the JAX solver this
    is its `gather`, which also brings a batch-sharded result of a several-process run
    (jax.distributed) whole to every process: a collective, so every process must convert the
    same results at the same points."""
    gather = getattr(solver, "gather", None)
    if gather is not None:
        return gather(tree)
    if isinstance(tree, dict):
        return {k: np.asarray(v) for k, v in tree.items()}
    return np.asarray(tree)


def processes(solver) -> tuple[int, int]:
    """(this process's index, the number of processes) of the run: (0, 1) but for a JAX
    solver in a jax.distributed run (lwlc.runtime.jax_loop.init_distributed)."""
    if not hasattr(solver, "gather"):
        return 0, 1
    import jax

    return jax.process_index(), jax.process_count()


def _broadcast(payload: bytes | None) -> bytes:
    """Process 0's bytes on every process (the others pass None): two collectives."""
    from jax.experimental import multihost_utils

    size = np.array([0 if payload is None else len(payload)], dtype=np.int32)
    size = int(np.asarray(multihost_utils.broadcast_one_to_all(size))[0])
    buf = (np.zeros(size, np.uint8) if payload is None
           else np.frombuffer(payload, dtype=np.uint8).copy())
    return np.asarray(multihost_utils.broadcast_one_to_all(buf)).astype(np.uint8).tobytes()


def _share(solver, fn) -> tuple[dict, dict]:
    """Run `fn` (returning (JSON-able info, dict of NumPy arrays)) on process 0 only and hand
    its result to every process; an exception it raises is raised there and, as an LwlcError
    "process 0 stopped the run: ...", on the others. A collective: every process calls it at
    the same point. With one process: fn()."""
    rank, count = processes(solver)
    if count == 1:
        return fn()
    if rank:
        with np.load(io.BytesIO(_broadcast(None)), allow_pickle=False) as z:
            info = json.loads(str(z["__info__"]))
            arrays = {k: np.array(z[k]) for k in z.files if k != "__info__"}
        if "error" in info:
            raise LwlcError(f"process 0 stopped the run: {info['error']}", hint=info["hint"])
        return info, arrays

    def send(info: dict, arrays: dict) -> None:
        buf = io.BytesIO()
        np.savez(buf, __info__=np.array(json.dumps(info)), **arrays)
        _broadcast(buf.getvalue())

    try:
        info, arrays = fn()
    except Exception as e:
        send({"error": getattr(e, "message", None) or f"{type(e).__name__}: {e}",
              "hint": getattr(e, "hint", None)}, {})
        raise
    send(info, arrays)
    return info, arrays


def _refuse(e: Exception):
    """A `_share` function that raises `e` (process 0 refused the run before it began)."""
    def fn():
        raise e
    return fn


# --- data ↔ model ---------------------------------------------------------------------------


@dataclass
class Bound:
    """A data set bound to the model: its columns split over the inputs of the data part, in
    declaration order, and its class column as the part's label."""

    inputs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    name: str
    source: str = ""  # where it came from: a resolved path or the generator spec in full
    unused_labels: bool = False  # the data have a class column the model reads no label of

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def rows(self, idx) -> dict[str, np.ndarray]:
        out = {k: v[idx] for k, v in self.inputs.items()}
        out.update({k: v[idx].astype(np.int64) for k, v in self.labels.items()})
        return out


# RRR_err in float32 is exact to about float32's eps times the state's size: a tolerance
# below this is never reached, and every batch runs all its iterations
FLOAT32_TOLERANCE = 1e-6


def run_warnings(compiled: Compiled, dtype: str = "float64") -> list[ir.ModelWarning]:
    """The compiled model's warnings a training run prints: not a missing data file
    (`lwlc check` says that), since the file the run reads is then an error and the
    others do not matter, nor an input or label no data fills (the run's error, bind);
    lowering's; and, in float32, a tolerance float32 cannot resolve."""
    model = compiled.model
    out = [w for w in model.warnings if w.about == "model"] + list(compiled.plan.warnings)
    tol = model.solver.tolerance
    if dtype == "float32" and 0.0 < tol < FLOAT32_TOLERANCE:
        span = model.solver.span or Span(model.file, 1, 1)
        out.append(ir.ModelWarning(
            f"the run's tolerance {tol:g} is below what float32 resolves", span,
            hint=f"RRR_err in float32 is exact to about 1e-7 of the state's size, so every "
                 f"batch runs all its iterations; use --dtype float64, or a tolerance of "
                 f"{FLOAT32_TOLERANCE:g} or more"))
    return out


def _warn_other_task(train_spec: str, train_set: Bound, test_spec: str, test_set: Bound,
                     warn) -> None:
    """Warn where the test set is a draw of another task than the training set (blobs with
    another seed: other class centers), at the test spec's line where a model wrote it."""
    other = datamod.other_task(train_set.source, test_set.source)
    if other is None:
        return
    said, keys = other
    span = next((sp.span for sp in (test_spec, train_spec)
                 if isinstance(sp, datamod.ModelDataSpec) and sp.span is not None), None)
    warn(ir.ModelWarning(
        f"the test data are another task than the training data: {said}", span,
        hint=f"give the test set the training set's {', '.join(keys)}: the train and test "
             "roles draw their own items already"))


def unreached_data(compiled: Compiled, bound: Bound, own: dict) -> list[ir.ModelWarning]:
    """A warning for each activation whose x the data fix at values its set only
    approaches (a sigmoid's 0 and 1): there is no z with f(z) = x, so the projection's
    steps run off towards infinity, RRR_err stays large and the backends part ways
    where rounding decides (the constant case is an error in the model)."""
    from .elaborate import approached_limits, never_taken

    m = compiled.model
    out = []
    for f in m.families:
        if not (isinstance(f, ir.ActivationFamily) and f.fixed is not None
                and f.fixed.input is not None):
            continue
        inp = m.inputs[f.fixed.input]
        values = bound.inputs.get(inp.name, own.get(inp.name))
        if values is None:
            continue
        cols = [inp.nodes.index(n) for n in f.nodes if n in inp.nodes]
        seen = np.unique(np.asarray(values, dtype=np.float64)[:, cols])
        limits = approached_limits(f.set.pieces, seen)
        bad = ~np.isnan(limits)
        if bad.any():
            # x the set only approaches, or beyond the limit it only approaches (sat's 2:
            # its values are [0, 1))
            shown = ", ".join(f"{v:g}" if v == lim else
                              f"{v:g} (beyond {lim:g}, which it only approaches)"
                              for v, lim in zip(seen[bad][:4], limits[bad][:4], strict=True))
            shown += " ..." if bad.sum() > 4 else ""
            out.append(ir.ModelWarning(
                f"the data ({bound.name}) fix x of '{f.name}' at {shown}: set {f.set.name} "
                "never takes such values, so f(z) = x has no solution and z runs off",
                f.span, hint="use a set that takes these values (a piece that reaches them, "
                "as zigmoid or step do), or data inside the values the set takes"))
        outside, taken = never_taken(f.set.pieces, seen)
        outside &= ~bad
        if outside.any():
            shown = ", ".join(f"{v:.10g}" for v in seen[outside][:4])  # 1 + 1e-9 is no 1
            shown += " ..." if outside.sum() > 4 else ""
            out.append(ir.ModelWarning(
                f"the data ({bound.name}) fix x of '{f.name}' at {shown}: set {f.set.name} "
                f"never takes such values (its values are {taken}), so the constraint never "
                "holds for those items", f.span,
                hint="use a set whose values cover the data, or scale the data into them"))
    return out


def unused_labels_note(compiled: Compiled, bound: Bound) -> str | None:
    """A note where the data carry a class column that no label of the model reads, and
    the model fits targets of its own (inputs inference does not read: a regression), so
    that the class column was likely meant as one. (An autoencoder of labelled data, as
    models/mnist_autoencoder.lwl, drops the labels by design.)"""
    targets = {i.name for i in data_inputs(compiled.model)} - inference_inputs(compiled)
    if not bound.unused_labels or not targets:
        return None
    return (f"the data ({bound.name}) have a class column, and model {compiled.model.name} "
            "reads no label of their items: the classes are not used")


def data_part(model: ir.Model) -> ir.SubBatch:
    """The batch part whose inputs and label the training data fills: the part of the first
    input that gets no values of its own."""
    fed = training_inputs(model)
    if not fed:
        raise LwlcError(f"model {model.name} has no input for the training data",
                        hint="declare one, e.g. input d[k, D]; inputs that are sampled or bound "
                        "by their own `data NAME = ...` are not filled from the training data")
    return fed[0].part


def data_latent(compiled: Compiled, solver, state, data) -> np.ndarray | None:
    """The latent node values of the data part's items in the state of a batch that holds
    all the data, or None where it has none. The data part may be a batch of several
    parts (each with its schedule): their values side by side where they infer the same
    latent nodes."""
    m, plan = compiled.model, compiled.plan
    dpart = data_part(m)
    names = [dpart.name] if dpart.name in plan.schedules else [
        p.name for p in m.batch.parts if dpart.start <= p.start and p.stop <= dpart.stop]
    latent = [plan.schedules[n].latent for n in names]
    if not any(latent) or any(nodes != latent[0] for nodes in latent):
        return None
    values = solver.latent_values(state, data)
    return np.concatenate([np.asarray(to_host(solver, values[n])) for n in names])


def _resize_hint(model: ir.Model, part: ir.SubBatch, n_items: int) -> str:
    """How to make `part` hold `n_items` items: --set of the part, or of the batch's parts
    where the data fill the whole batch of a batch with parts (--set of its index is
    refused there)."""
    parts = model.batch.parts if model.batch is not None else ()
    if part.name == model.batch.index and len(parts) > 1:
        sizes = ", ".join(f"{p.name} {p.size}" for p in parts)
        return (f"the batch's parts ({sizes}) hold {part.size} items: set their sizes to "
                f"{n_items} in all, e.g. " + " ".join(f"--set {p.name}=N" for p in parts))
    return f"--set {part.name}={n_items} uses them all"


def data_inputs(model: ir.Model) -> list[ir.Input]:
    part = data_part(model)
    return [i for i in training_inputs(model) if i.part == part]


def _located(e: datamod.DataError, spec: str) -> datamod.DataError:
    """A data set that does not fit the model, at the model's `data` line when the spec
    came from there (a spec from the command line has no line)."""
    return datamod.at_model_line(e, spec) if isinstance(spec, datamod.ModelDataSpec) else e


def inference_inputs(compiled: Compiled) -> set[str]:
    """The inputs that inference reads (lower.Schedule): the sources' values and the data
    of the fixed products latent nodes are solved from (eq. 12-13). A prediction needs no
    values of the others (`dot(...) == t[k, j]`: t is what it predicts)."""
    from .lower import LatentSolve

    def walk(steps):
        for st in steps:
            if isinstance(st, LatentSolve) and st.bilinear.data is not None:
                yield st.bilinear.data
            elif hasattr(st, "steps"):
                yield from walk(st.steps)

    out: set[str] = set()
    for sched in compiled.plan.schedules.values():
        out |= {src.fixed.input for src in sched.sources if src.fixed.input is not None}
        out |= set(walk(sched.steps))
    return out


def bind(compiled: Compiled, spec: str, role: str, need_labels: bool = True,
         dtype: str = "float64") -> Bound:
    """Load a data set and split its columns over the model's data inputs. Without
    `need_labels` (predict) unlabeled data are bound too; labels given are still checked;
    and data with the columns of the inputs inference reads only (inference_inputs) are
    bound to those. For a float32 run, a value beyond float32's range is an error."""
    m = compiled.model
    for inp, message, hint in input_problems(m)[:1]:  # an input no data set can fill
        raise ModelError(message, inp.span, hint=hint)
    ds = datamod.load(spec, role=role)
    inputs = data_inputs(m)
    width = sum(len(i.nodes) for i in inputs)
    if not need_labels and ds.n_inputs != width:
        read = inference_inputs(compiled)
        given = [i for i in inputs if i.name in read]
        if given and ds.n_inputs == sum(len(i.nodes) for i in given):
            inputs, width = given, ds.n_inputs
    part = inputs[0].part
    problems = label_problems(m)  # a label the training set cannot fill
    if problems:
        lab, message, hint = problems[0]
        raise ModelError(message, lab.span, hint=hint)
    read = names_read(m)
    labels = [lb for lb in m.labels.values() if lb.part == part and lb.name in read]
    if not need_labels and ds.labels is None:
        labels = []
    n_classes = len(labels[0].classes) if labels else None
    try:
        datamod.validate_for(ds, width, n_classes)
    except datamod.DataError as e:
        problem = e
        if len(inputs) > 1 and ds.n_inputs != width:
            names = ", ".join(f"{i.name} ({len(i.nodes)})" for i in inputs)
            problem = datamod.DataError(
                f"data '{ds.name}' has {ds.n_inputs} values per item but the model's inputs "
                f"{names} take {width} in all", hint=f"the columns of an item are the "
                f"inputs' values in the order the model declares them (source: {ds.source})")
        raise _located(problem, spec) from None
    values = np.asarray(ds.inputs, dtype=np.float64)
    if dtype == "float32":
        _check_float32_values(values, ds, inputs, spec)
    out, start = {}, 0
    for inp in inputs:
        out[inp.name] = values[:, start:start + len(inp.nodes)]
        start += len(inp.nodes)
    lab = {labels[0].name: ds.labels} if labels else {}
    unused = ds.labels is not None and not any(lb.part == part for lb in m.labels.values())
    return Bound(out, lab, ds.name, ds.source, unused_labels=unused)


def _check_float32_values(values: np.ndarray, ds: datamod.Dataset, inputs: list,
                          spec: str) -> None:
    """The first value of a data set that float32 cannot hold (it would be inf) is an
    error naming its item and input."""
    big = float(np.finfo(np.float32).max)
    over = np.flatnonzero((np.abs(values) > big) & np.isfinite(values))
    if not over.size:
        return
    item, col = divmod(int(over[0]), values.shape[1])
    for inp in inputs:
        if col < len(inp.nodes):
            break
        col -= len(inp.nodes)
    value = values.flat[over[0]]
    raise _located(datamod.DataError(
        f"data '{ds.name}': item {item + 1} has {value:g} for {inp.name}[{col}], "
        f"which is inf in float32 (largest {big:.3g}); {over.size} value(s) in all",
        hint="use --dtype float64, or rescale the data"), spec)


def own_inputs(compiled: Compiled) -> dict[str, np.ndarray]:
    """Inputs that the model binds to data of their own (`data s = "bits:n=3"`)."""
    m = compiled.model
    out = {}
    for inp in m.inputs.values():
        if inp.name in m.samples or inp.name not in m.data:
            continue
        ds = datamod.load(m.data[inp.name], role="train")
        try:
            datamod.validate_for(ds, len(inp.nodes), None, layer=f"input {inp.name}")
        except datamod.DataError as e:
            raise _located(e, m.data[inp.name]) from None
        out[inp.name] = np.asarray(ds.inputs, dtype=np.float64)
    return out


def _rows_for(values: np.ndarray, size: int, seed: int) -> np.ndarray:
    if len(values) == size:
        return values
    rows = np.random.default_rng(seed).choice(len(values), size)
    return values[rows]


def batch_data(compiled: Compiled, bound: Bound, idx: np.ndarray, own: dict) -> dict:
    m = compiled.model
    out = bound.rows(idx)
    for name, values in own.items():
        out[name] = _rows_for(values, m.inputs[name].part.size, len(idx) + int(idx[0]))
    return out


def part_data(model: ir.Model, data: dict, part: ir.SubBatch) -> dict:
    """The inputs of a part's items, out of a whole batch's data."""
    out = {}
    for inp in model.inputs.values():
        if inp.part.start <= part.start and part.stop <= inp.part.stop:
            a, b = part.start - inp.part.start, part.stop - inp.part.start
            out[inp.name] = data[inp.name][a:b]
    return out


def sample_codes(compiled: Compiled, solver, params, data, rng) -> dict:
    """Sampled inputs, drawn per node from the encodings of the source part's items in
    `data` by inference with `params` (eq. 37 draws from the previous batch's consensus
    values; these are this batch's items under the parameters the previous ones gave)."""
    m = compiled.model
    out = {}
    for s in m.samples.values():
        src = part_data(m, data, s.source_part)
        X, _ = solver.forward(params, src, s.source_part.size, s.source_part.name)
        enc = to_host(solver, X)[:, list(s.nodes)]
        pick = rng.integers(0, enc.shape[0], size=(s.part.size, len(s.nodes)))
        out[s.name] = np.take_along_axis(enc, pick, axis=0)
    return out


# --- metrics: one per target the model declares -----------------------------------------------


def metric_name(compiled: Compiled, target, split: str) -> str:
    """`train_err` / `test_err` / `batch_err` for a model's one class target; `NAME_rmse`
    (train) and `NAME_test_rmse` for a value target, and `NAME_{split}_err` for a class target
    among several."""
    classes = [t for t in compiled.plan.targets if t.kind == "class"]
    if target.kind == "class":
        return f"{split}_err" if len(classes) == 1 else f"{target.name}_{split}_err"
    return f"{target.name}_rmse" if split == "train" else f"{target.name}_{split}_rmse"


def score(compiled: Compiled, solver, params, target, data: dict, n: int,
          latent=None, chunk: int = 4096, unpredicted: list | None = None) -> float:
    """Error rate (class) or RMS error (value) of one target over `n` items of `data`.
    `unpredicted`, if given, receives how many items had no finite prediction (an
    overflow in the forward pass: class -1, which counts as wrong, or a value nan/inf)."""
    wrong, sq, count = 0.0, 0.0, 0
    cols = slice(None)
    if target.kind == "value":  # the input's columns of the target's nodes (an input may
        # span the nodes of several constraints)
        nodes = compiled.model.inputs[target.reference].nodes
        cols = [nodes.index(node) for node in target.nodes]
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows = {k: v[start:stop] for k, v in data.items()}
        lat = None if latent is None else latent[start:stop]
        with np.errstate(all="ignore"):  # an overflow is counted, not printed
            pred = to_host(solver, solver.predict(params, rows, stop - start, target.infer,
                                                  lat)[target.name])
        if unpredicted is not None:
            unpredicted.append(unpredictable(target, pred))
        ref = rows[target.reference] if target.kind == "class" else \
            rows[target.reference][:, cols]
        if target.kind == "class":
            wrong += float(np.sum(pred != ref))
            count += stop - start
        else:
            sq += float(np.sum((pred - ref) ** 2))
            count += pred.size
    if target.kind == "class":
        return wrong / max(1, count)
    return math.sqrt(sq / max(1, count))


def unpredictable(target, pred) -> int:
    """How many items of one target's predictions are not finite (class -1 or a value that
    is nan or inf: the forward pass overflowed)."""
    pred = np.asarray(pred)
    if target.kind == "class":
        return int(np.sum(pred < 0))
    return int(np.sum(~np.all(np.isfinite(pred.reshape(len(pred), -1)), axis=1)))


def _unpredicted_note(name: str, bad: int, n: int, kind: str, scored: bool = True) -> str:
    what = "nan or inf" if kind != "class" else (
        "class -1, counted as wrong" if scored else "class -1")
    return (f"{bad} of {n} item(s) have no finite prediction of {name} ({what}): the "
            "forward pass overflowed on them (inputs or parameters too large for the "
            "precision)")


def scored_on_data(target, dpart: ir.SubBatch) -> bool:
    """A target whose items lie in the part the training set fills is scored on the training
    and test sets (every item inferred as one of the target's part), else on its part's own
    inputs."""
    return dpart.start <= target.part.start and target.part.stop <= dpart.stop


def epoch_metrics(compiled: Compiled, solver, params, train_set: Bound, test_set: Bound | None,
                  own: dict, batch_errs: dict, rng, latent=None) -> dict:
    """Every target scored: on the training and test sets for the data part's targets, on the
    part's own (given or sampled) inputs for the other parts' targets (eq. 40-41)."""
    m = compiled.model
    dpart = data_part(m)
    out: dict = {}
    for t in compiled.plan.targets:
        if scored_on_data(t, dpart):
            if t.kind == "class" and t.name in batch_errs:
                out[metric_name(compiled, t, "batch")] = float(np.mean(batch_errs[t.name]))
            out[metric_name(compiled, t, "train")] = score(
                compiled, solver, params, t, train_set.rows(slice(None)), len(train_set),
                latent)
            if test_set is not None:
                out[metric_name(compiled, t, "test")] = score(
                    compiled, solver, params, t, test_set.rows(slice(None)), len(test_set))
            continue
        data = {k: v for k, v in own.items() if m.inputs[k].part == t.part}
        count = {len(v) for v in data.values()}
        if len(count) == 1 and not m.samples:  # each of the part's own items once (a draw
            # of the part's size, with replacement, scored 3 of 4 codes, one of them twice)
            n = count.pop()
        else:
            data, n = {k: _rows_for(v, t.part.size, 0) for k, v in data.items()}, t.part.size
        if m.samples:
            src = train_set.rows(rng.choice(len(train_set), dpart.size))
            for k, v in sample_codes(compiled, solver, params, src, rng).items():
                if m.inputs[k].part == t.part:
                    data[k] = v
        if t.reference in data:
            out[metric_name(compiled, t, "train")] = score(compiled, solver, params, t, data, n)
    return out


# --- training -------------------------------------------------------------------------------


def loop_of(solver) -> str:
    """Which loop the solver's solve_batch runs (summary.json's `loop`): "lanes" (the lane
    kernel, lwlc/runtime/lanes.py), "xla-fused" (XLA's loop with the fused edge pass),
    "xla" (XLA's loop) or "numpy"."""
    if hasattr(solver, "lane_kernel") and solver.lane_kernel():
        return "lanes"
    if hasattr(solver, "rrr_step_fused") and solver.fused_edge_pass():
        return "xla-fused"
    return "xla" if hasattr(solver, "run_compiled") else "numpy"


ONE_BATCH_CHUNK = 10_000  # iterations per solve_batch call of a one-batch run (even)


def _solve_in_chunks(solver, state, data, iterations: int, report) -> tuple:
    """solve_batch for `iterations` in calls of ONE_BATCH_CHUNK, `report(done, err)`
    after each, until RRR_err < tolerance (a call that stops early) or the last: the
    progress of a one-batch run (NMF: millions of iterations). The same iterations as
    one call: RRR's step reads the state alone, and each call stops at its own
    iteration as the whole would (an even chunk: JAX's loop runs two steps a pass)."""
    done, first, err = 0, None, math.inf
    while done < iterations:
        check_signals()
        n = min(ONE_BATCH_CHUNK, iterations - done)
        state, steps, e0, err = solver.solve_batch(state, data, iterations=n)
        first = e0 if first is None else first
        done += steps
        report(done, err)
        if steps < n or not math.isfinite(err):
            break
    return state, done, first, err


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), transient=True)


def train(cfg: TrainConfig, console=None, notes=None, warn=None) -> dict:
    """Train a model; returns the summary written to OUT/summary.json. `console` gets the
    per-epoch table, `notes` (a console too; default: `console`) what a resume dropped or found,
    `warn` (a callable) each of the model's warnings once it is compiled.

    With `cfg.out`, the run directory is locked for the whole run; a directory already holding
    a run is refused unless `cfg.resume` (continue it, after checking that the run's definition
    and files are unchanged) or `cfg.overwrite` (replace it).
    """
    if cfg.resume and cfg.overwrite:
        raise LwlcError("--resume and --overwrite exclude each other",
                        hint="--resume continues the run in --out; --overwrite replaces it")
    if cfg.resume and not cfg.out:
        raise LwlcError("--resume needs --out DIR holding an earlier run's params.npz")
    if cfg.overwrite and not cfg.out:  # it was ignored without a word
        raise LwlcError("--overwrite needs --out DIR: the run directory it replaces")
    overrides = dict(cfg.overrides)
    if cfg.epochs is not None:
        overrides["epochs"] = cfg.epochs
    if cfg.seed is not None:
        overrides["seed"] = cfg.seed
    compiled = compile_model(cfg.model, overrides, cfg.backend, cfg.dtype)
    if cfg.out:
        refuse_reads_in_run(compiled.model, cfg)
    solver = load_solver(compiled.source)
    rank, count = processes(solver)
    if rank:  # several processes (jax.distributed): the others print nothing
        cfg = replace(cfg, quiet=True, progress=False)
        console = notes = warn = None
    for warning in run_warnings(compiled, cfg.dtype) if warn is not None else ():
        warn(warning)
    if cfg.devices is not None:
        if not hasattr(solver, "mesh"):
            raise LwlcError("--devices applies to the JAX backend", hint="add --backend jax")
    wanted, source = cfg.devices, "--devices"
    if wanted is None and hasattr(solver, "mesh") and os.environ.get("LWLC_DEVICES", "").strip():
        text, source = os.environ["LWLC_DEVICES"].strip(), "LWLC_DEVICES"
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise LwlcError(f"LWLC_DEVICES={text!r} is not a whole number >= 1",
                            hint="set it to the number of devices to shard the batch over, "
                                 "or unset it to use all of them")
        wanted = int(text)
    if wanted is not None:
        solver.mesh(wanted)
    n_devices = len(solver.mesh().devices.flat) if hasattr(solver, "mesh") else 1
    if wanted is not None and n_devices != wanted and (notes or console) is not None:
        _note(notes or console, f"{source} {wanted}: using {n_devices} device(s), the most "
              f"of the {len(solver.jax.devices())} visible that divides the batch of "
              f"{solver.BATCH} items")
    resources.check_memory(compiled.model, solver, cfg.dtype, cfg.backend)
    if cfg.backend == "numpy":
        resources.reuse_freed_memory()  # NumPy allocates state-sized arrays every step
    # Only process 0 has the run directory; the others learn from it where the run starts
    # (or that it was refused) in _train.
    run = rundir.RunDir(cfg.out) if cfg.out and rank == 0 else None
    if run is None:
        return _train(cfg, console, compiled, solver, n_devices, overrides, None, notes, warn)
    try:
        try:
            run.lock()
            settled = run.settle_replaced()
            if settled and (notes or console) is not None:
                _note(notes or console, settled)
            run.refuse_other_kind("run")
            outputs = run.outputs()
            if cfg.resume and not outputs and not run.has_record():
                raise LwlcError(f"--resume: {run} holds no run to resume",
                                hint="drop --resume to start one there")
            if not cfg.resume and outputs and not cfg.overwrite:
                raise LwlcError(f"{run} already holds a run ({run.describe()})",
                                hint="--resume continues it, --overwrite replaces it; or give "
                                "another --out")
            if not cfg.resume and not cfg.overwrite and run.has_record():
                try:  # a run that never finished an epoch starts again; nothing is lost
                    run.read_record()
                except DataError as e:  # a run.json lwlc did not write: the user's
                    raise LwlcError(f"{run} holds a {rundir.RUN} that lwlc train did not "
                                    f"write: {e.message}", hint="--overwrite replaces it; or "
                                    "give another --out") from None
        except Exception as e:
            if count > 1:  # the others wait in _train for where the run starts
                _share(solver, _refuse(e))
            raise
        try:
            summary = _train(cfg, console, compiled, solver, n_devices, overrides, run, notes,
                             warn)
        except BaseException as e:  # stopped before its first epoch: the replaced run is back
            with contextlib.suppress(OSError):  # (else the next run in --out puts it back)
                if run.restore_replaced() and isinstance(e, KeyboardInterrupt):
                    e.lwlc_note = (f"{run} holds the run that --overwrite was to replace, "
                                   "as it was")
            raise
        run.drop_replaced()
        return summary
    finally:
        run.unlock()


def _note(console, text: str) -> None:
    if console is not None:
        console.print(f"lwlc: note: {text}", markup=False)


def _train(cfg: TrainConfig, console, compiled: Compiled, solver, n_devices: int,
           overrides: dict, run: rundir.RunDir | None, notes=None, warn=None) -> dict:
    m = compiled.model
    s = m.solver
    for inp, message, hint in input_problems(m)[:1]:  # before "no training data": the cause
        raise ModelError(message, inp.span, hint=hint)
    train_spec = cfg.data or m.data.get("train")
    if not train_spec:
        raise DataError(f"model {m.name} names no training data",
                        hint="pass --data SPEC (a file or a generator such as majority:depth=2)")
    test_spec = cfg.test or (m.data.get("test") if not cfg.data else None)
    if cfg.data and not cfg.test and m.data.get("test"):
        _note(notes or console, "--data replaces the model's data: its `data test` is not "
              "used either (no test metrics); --test gives a test set")
    train_set = bind(compiled, train_spec, "train", dtype=cfg.dtype)
    test_set = bind(compiled, test_spec, "test", dtype=cfg.dtype) if test_spec else None
    for bound in (train_set, test_set):
        if bound is not None and (note := unused_labels_note(compiled, bound)):
            _note(notes or console, note)
    own: dict = own_inputs(compiled)
    for warning in unreached_data(compiled, train_set, own) if warn is not None else ():
        warn(warning)
    if test_set is not None and warn is not None:
        _warn_other_task(train_spec, train_set, test_spec, test_set, warn)
    loaded = sum(v.nbytes for b in (train_set, test_set) if b is not None
                 for v in (*b.inputs.values(), *b.labels.values()))
    loaded += sum(v.nbytes for v in own.values())
    resources.check_memory(m, solver, cfg.dtype, cfg.backend, loaded)  # again, data resident
    dpart = data_part(m)
    per_batch = dpart.size
    n_items = len(train_set)
    if n_items < per_batch:
        short = datamod.DataError(f"the batch holds {per_batch} items but {train_set.name} "
                                  f"has only {n_items}", hint=_resize_hint(m, dpart, n_items))
        raise _located(short, train_spec)
    if s.epochs < 1:
        raise LwlcError("no epochs to run", hint="raise --set epochs=N")
    n_batches = max(1, n_items // per_batch)
    one_state = n_items == per_batch and not m.samples  # its state holds every item's nodes
    if (notes or console) is not None and (test_set is not None or not one_state):
        _uninferred_latent(compiled, [t.infer for t in compiled.plan.targets  # as evaluate
                                      if scored_on_data(t, dpart)],
                           lambda text: _note(notes or console, text),
                           "in the metrics of items that no one-batch run's state holds "
                           "(every test item, and every training item where the data take "
                           "several batches), so those metrics do not depend on them")
    if n_items % per_batch and warn is not None:
        left = n_items % per_batch
        warn(ir.ModelWarning(
            f"{train_set.name} has {n_items} items, {n_batches} batch(es) of {per_batch}: "
            f"each epoch leaves {left} item(s) out (other ones each epoch: the items are "
            "shuffled)", dpart.span,
            hint=f"a batch size that divides {n_items} uses every item in every epoch"))
    if s.restart and warn is not None and (n_items != per_batch or m.samples):
        # a run of several batches (or with samples) warm-starts every batch anyway
        warn(ir.ModelWarning(
            "restart = 1 changes nothing here: it applies to a model whose one batch holds "
            f"all the data, and this run has {n_items} items in batches of {per_batch}"
            + (" with sampled codes" if m.samples else ""),
            s.span or Span(m.file, 1, 1),
            hint="each batch starts from the consensus parameters and a forward pass "
                 "already; drop restart"))
    rng_init = np.random.default_rng([s.seed, 0])
    params = to_host(solver, solver.initial_params(rng_init))
    start_epoch = 0
    rows: list[dict] = []
    total_iters = 0
    seconds = 0.0
    rid = None

    def begin() -> tuple[dict, dict]:
        """The run directory's side of the start (process 0 only): check a resumed run's record
        and read its checkpoint, or start the run afresh. Returns the start as info (epoch,
        iterations, seconds, rows, run id; the summary if there is nothing to train) and the
        parameters read back (none for a fresh run)."""
        record = rundir.run_record(
            model=m, backend=cfg.backend, dtype=cfg.dtype, overrides=overrides,
            train=rundir.data_record(train_spec, train_set),
            test=rundir.data_record(test_spec, test_set),
            own=rundir.own_record(own, m.data), devices=n_devices)
        start = {"epoch": 0, "iterations": 0, "seconds": 0.0, "rows": [], "run": None,
                 "summary": None}
        run.clear_partial()  # temporary files a run stopped by a signal left behind
        if not cfg.resume:
            run.clear()
            run.write_record(record)
            run.keep_replaced_modes()
            return {**start, "run": rundir.run_id(record)}, {}
        stored = run.read_record()
        diffs = rundir.differences(record, stored, {k for k in overrides if k != "epochs"})
        if diffs:
            what = diffs[0] if len(diffs) == 1 else "".join(f"\n  - {d}" for d in diffs)
            raise LwlcError(f"--resume: not the run in {run}: {what}",
                            hint=f"resume with the options the run was started with (see "
                            f"{run.file(rundir.RUN)}), or start over with --overwrite or "
                            "another --out")
        start["run"] = rundir.run_id(stored)
        cp = run.read_checkpoint(start["run"], m.name, solver.initial_params(
            np.random.default_rng(0)))
        for note in cp.notes:
            _note(notes or console, note)
        if cp.params is not None:
            start.update(epoch=cp.epochs, iterations=int(cp.meta["iterations"]),
                         seconds=float(cp.meta["seconds"]), rows=cp.rows)
        solved = cp.meta.get("stopped") == "solved" and cfg.stop_when_solved
        if cp.params is not None and (cp.epochs >= s.epochs or solved):
            why = "was solved at" if solved else "already has"
            if cp.summary is None:
                state = ("does not belong to its last checkpoint (a run stopped between "
                         "writing them)" if run.file(rundir.SUMMARY).exists() else
                         "is missing")
                raise DataError(f"{run.file(rundir.SUMMARY)} {state} (the run {why} "
                                f"epoch {cp.epochs}; nothing to train)",
                                hint=f"raise --set epochs above {cp.epochs} to train "
                                "further, which rewrites it")
            _note(notes or console, f"the run in {run} {why} epoch {cp.epochs} (epochs = "
                  f"{s.epochs}); nothing to train" + ("" if solved else
                                                     "; raise --set epochs to go on"))
            start["summary"] = cp.summary
        return start, cp.params or {}

    # With several processes only process 0 has `run`; _share hands its start to the others.
    if cfg.out and (run is not None or processes(solver)[1] > 1):
        start, read = _share(solver, begin)
        if start["summary"] is not None:
            return start["summary"]
        params = read or params
        start_epoch, total_iters, seconds = start["epoch"], start["iterations"], start["seconds"]
        rows, rid = start["rows"], start["run"]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        try:
            return _epochs(cfg, console, compiled, solver, n_devices, run, rid, train_set,
                           test_set, own, params, start_epoch, rows, total_iters, seconds,
                           n_batches)
        except KeyboardInterrupt as e:
            if run is not None:
                e.lwlc_note = (f"{run} keeps its last completed epoch ({_kept(run)}); "
                               "continue with the same command and --resume")
            raise


def _kept(run: rundir.RunDir) -> str:
    with contextlib.suppress(Exception):
        _, meta = rundir.read_params(run.file(rundir.PARAMS))
        return f"epoch {int(meta['epochs'])}: params.npz, log.csv, summary.json"
    return "none yet: only run.json"


def _epochs(cfg, console, compiled, solver, n_devices, run, rid, train_set, test_set, own,
            params, start_epoch, rows, total_iters, seconds, n_batches) -> dict:
    m = compiled.model
    plan = compiled.plan
    s = m.solver
    dpart = data_part(m)
    per_batch = dpart.size
    n_items = len(train_set)
    n_edges = plan.n_edges
    K = m.batch.size
    prog = _progress(cfg.progress and not cfg.quiet)
    compile_seconds = 0.0
    summary: dict = {}
    class_targets = [t for t in plan.targets if t.kind == "class" and scored_on_data(t, dpart)]
    value_targets = [t for t in plan.targets if t.kind == "value"]
    keep = diverge._copier(solver)
    shared = processes(solver)[1] > 1  # process 0 tells the others how its writes went
    if prog:
        prog.start()
    try:
        task = prog.add_task(m.name, total=(s.epochs - start_epoch) * n_batches,
                             info="") if prog else None
        # One batch holding all the data (NMF, binary encoding): a single RRR run whose epochs are
        # only reporting intervals, so the state carries over, unless the model asks to restart
        # from the consensus parameters each epoch; otherwise warm starts per batch.
        one_batch = n_batches == 1 and n_items == per_batch and not m.samples
        single = one_batch and not s.restart
        if single and start_epoch and console is not None:
            _note(console, "a one-batch run carries its RRR state from epoch to epoch, which "
                  "the run's files do not keep: the resumed run warm-starts it again from "
                  "the saved parameters, so it goes on differently from an uninterrupted run")
        state = None
        for epoch in range(start_epoch, s.epochs):
            rng = np.random.default_rng([s.seed, epoch + 1])
            order = np.arange(n_items) if single else rng.permutation(n_items)
            iters = 0
            first_errs, last_errs = [], []
            batch_errs: dict[str, list[float]] = {}
            t_epoch = time.perf_counter()
            for bi in range(n_batches):
                check_signals()  # a Ctrl-C whose exception a finalizer swallowed
                idx = order[bi * per_batch:(bi + 1) * per_batch]
                data = batch_data(compiled, train_set, idx, own)
                if m.samples:
                    data.update(sample_codes(compiled, solver, params, data, rng))
                if state is None or not single:
                    state = solver.init(params, data)
                start = keep(state) if single else None  # JAX consumes the state it is given
                t0 = time.perf_counter()
                if single and s.iterations > ONE_BATCH_CHUNK:
                    def report(done: int, err: float, epoch: int = epoch) -> None:
                        if prog:
                            prog.update(task, info=f"epoch {epoch + 1}/{s.epochs} iteration "
                                                   f"{done:,} RRR_err {err:.3g}")

                    state, steps, e0, e1 = _solve_in_chunks(solver, state, data,
                                                            s.iterations, report)
                else:
                    state, steps, e0, e1 = solver.solve_batch(state, data)
                dt = time.perf_counter() - t0
                if getattr(solver, "LAST_COMPILE_SECONDS", 0.0):
                    compile_seconds += solver.LAST_COMPILE_SECONDS
                    dt -= solver.LAST_COMPILE_SECONDS
                    solver.LAST_COMPILE_SECONDS = 0.0
                seconds += dt
                if not math.isfinite(e1) or not diverge.state_ok(state):
                    kept = ""
                    if run is not None and rows:
                        kept = f"{run} keeps its last completed epoch ({_kept(run)})"
                    elif run is not None and run.holds_replaced():
                        kept = (f"no epoch completed; {run} gets back the run that "
                                "--overwrite was to replace")
                    elif run is not None:
                        kept = f"no epoch completed; {run} holds only run.json"
                    raise diverge.diagnose(
                        solver, m, start if single else solver.init(params, data), data,
                        where=f"epoch {epoch + 1}, batch {bi + 1}", rows=idx,
                        part_start=dpart.start, kept=kept)
                params = to_host(solver, solver.consensus_params(state, data))
                iters += steps
                first_errs.append(e0)
                last_errs.append(e1)
                for t in class_targets:
                    rows_t = part_data(m, data, t.part)
                    pred = to_host(solver, solver.predict(params, rows_t, t.part.size,
                                                          t.infer)[t.name])
                    lab = m.labels[t.reference].part  # the reference rows of t's items
                    ref = data[t.reference][t.part.start - lab.start:t.part.stop - lab.start]
                    batch_errs.setdefault(t.name, []).append(float(np.mean(pred != ref)))
                if prog:
                    prog.update(task, advance=1,
                                info=f"epoch {epoch + 1}/{s.epochs} RRR_err {e1:.3g}")
            for k, v in params.items():
                if not np.all(np.isfinite(v)):
                    raise SolverError(f"the consensus parameter '{k}' is not finite after "
                                      f"epoch {epoch + 1}", hint="try a smaller beta or a "
                                      "different omega")
            total_iters += iters
            row = {
                "epoch": epoch + 1,
                "gwm": 1e-9 * total_iters * K * n_edges,
                "iterations": iters,
                "avg_iterations": iters / n_batches,
                "rrr_err_start": float(np.mean(first_errs)),
                "rrr_err_end": float(np.mean(last_errs)),
                "seconds": time.perf_counter() - t_epoch,
            }
            latent = data_latent(compiled, solver, state, data) if single else None
            row.update(epoch_metrics(compiled, solver, params, train_set, test_set, own,
                                     batch_errs, rng, latent))
            rows.append(row)
            if not cfg.quiet and console is not None:
                console.print(format_row(row, first=epoch == start_epoch))
            summary = make_summary(cfg, compiled, row, total_iters, seconds, compile_seconds, K,
                                   n_edges, train_set, test_set)
            summary["devices"] = n_devices
            summary["loop"] = loop_of(solver)
            # Solved: a one-batch run at a fixed point, or a model without classes whose every
            # value target is reproduced exactly (the autoencoder program's stopping rule).
            exact = (bool(value_targets) and not class_targets
                     and all(row.get(metric_name(compiled, t, "train")) == 0.0
                             for t in value_targets))
            solved = cfg.stop_when_solved and ((one_batch and last_errs[-1] < s.tolerance)
                                               or exact)
            if run is not None or (cfg.out and shared):
                _share(solver, partial(_write_epoch, run, params, rows, summary, rid, solved))
            if solved:
                break
    finally:
        if prog:
            prog.stop()
    return summary


def _write_epoch(run, params, rows, summary, rid, solved) -> tuple[dict, dict]:
    """The epoch's checkpoint into the run directory (a `_share` function: process 0 only)."""
    run.still_here()
    write_outputs(run.path, params, rows, summary, run_id=rid,
                  stopped="solved" if solved else None)
    run.keep_replaced_modes()
    run.drop_replaced()  # the run that --overwrite replaces: this one has an epoch now
    return {}, {}


METRIC_SUFFIXES = ("_err", "_rmse")


def metric_keys(row: dict) -> list[str]:
    """The target metrics of a log row, in order."""
    return [k for k in row if k.endswith(METRIC_SUFFIXES) and not k.startswith("rrr_err")]


def make_summary(cfg, compiled, row, total_iters, seconds, compile_seconds, K, n_edges,
                 train_set, test_set) -> dict:
    m = compiled.model
    gwm = 1e-9 * total_iters * K * n_edges
    summary = {
        "model": m.name,
        "model_file": str(m.file),
        **rundir.fingerprints(m),
        "backend": cfg.backend,
        "dtype": cfg.dtype,
        "seed": m.solver.seed,
        "epochs": row["epoch"],
        "iterations": total_iters,
        "gwm": gwm,
        "seconds": seconds,
        "compile_seconds": compile_seconds,
        "wm_per_s": (gwm * 1e9 / seconds) if seconds > 0 else None,
        "rrr_err": row["rrr_err_end"],
        "batch": K,
        "edges": n_edges,
        "params": dict(m.params),
        "solver": {"method": m.solver.method, "beta": m.solver.beta, "lam": m.solver.lam,
                   "iterations": m.solver.iterations, "tolerance": m.solver.tolerance},
        "train_data": train_set.name,
        "test_data": test_set.name if test_set else None,
        "targets": {t.name: t.kind for t in compiled.plan.targets},
    }
    for key in metric_keys(row):
        summary[key] = row[key]
    return summary


def write_outputs(out_dir: Path, params: dict, rows: list[dict], summary: dict,
                  run_id: str | None = None, stopped: str | None = None) -> None:
    """The epoch's checkpoint, each file atomically: log.csv and summary.json, then params.npz,
    whose metadata holds the run id and the hashes of the two (what --resume checks)."""
    out_dir = Path(out_dir)
    log = rundir.log_text(rows)
    text = json.dumps(summary, indent=2) + "\n"
    meta = {"model": summary["model"], "epochs": summary["epochs"],
            "iterations": summary["iterations"], "seconds": summary["seconds"],
            "values": summary["params"],  # the model's params it was trained with
            **{k: summary.get(k) for k in rundir.FINGERPRINTS},
            "log_sha256": rundir.sha256_bytes(log.encode()),
            "summary_sha256": rundir.sha256_bytes(text.encode())}
    if run_id is not None:
        meta["run"] = run_id
    if stopped is not None:
        meta["stopped"] = stopped
    try:
        with interrupts_held():  # a Ctrl-C between them left the log an epoch ahead
            atomic_write_text(out_dir / rundir.LOG, log)
            atomic_write_text(out_dir / rundir.SUMMARY, text)
            save_params(out_dir / rundir.PARAMS, params, meta)
    except OSError as e:
        raise LwlcError(f"cannot write the run's files in {out_dir}: {e.strerror or e}",
                        hint="free some space or fix the permissions; each file is replaced "
                        "atomically, so the previous epoch's files are intact: --resume "
                        "continues from them") from None


def format_row(row: dict, first: bool) -> str:
    cols = [("epoch", "{:>5}"), ("gwm", "{:>9.4f}"), ("avg_iterations", "{:>8.1f}"),
            ("rrr_err_start", "{:>10.4g}"), ("rrr_err_end", "{:>10.4g}")]
    for key in metric_keys(row):
        cols.append((key, "{:>10.4f}" if key.endswith("_err") else "{:>10.4g}"))
    head = " ".join(f"{k:>{len(f.format(row[k]))}}" for k, f in cols)
    line = " ".join(f.format(row[k]) for k, f in cols)
    return (head + "\n" + line) if first else line


def _trained_values(params_path: str, meta: dict) -> tuple[dict, str]:
    """The model's `param` values the parameters were trained with, and where that is
    recorded: params.npz's metadata, else the run.json beside it; {} if neither says."""
    values = meta.get("values")
    if isinstance(values, dict):
        return values, str(params_path)
    beside = Path(params_path).parent / rundir.RUN
    try:
        recorded = json.loads(beside.read_text()).get("params")
    except (OSError, ValueError, AttributeError):
        return {}, ""
    return (recorded, str(beside)) if isinstance(recorded, dict) else ({}, "")


def _other_task_than_trained(params_path: str, bound: Bound) -> str | None:
    """A note where the data scored are a draw of another generator task than the run.json
    beside the parameters records as their training data (datamod.other_task)."""
    folder = Path(params_path)
    beside = (folder if folder.is_dir() else folder.parent) / rundir.RUN
    try:
        trained = json.loads(beside.read_text())["train_data"]["source"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    other = datamod.other_task(str(trained), bound.source)
    if other is None:
        return None
    return f"the data scored are another task than the training data ({beside}): {other[0]}"


def one_start(params: dict, meta: dict, path: str, start: int | None) -> dict:
    """The parameters of start `start` (its seed) of a restarts.npz; a params.npz's as
    they are. An error without `start` for restarts, and with it for a single run."""
    if meta.get("kind") != "restarts":
        if start is not None:
            raise LwlcError(f"--start {start}: {path} holds the parameters of one run",
                            hint="--start picks a start of `lwlc train --restarts R --out "
                            "DIR`: --params DIR/restarts.npz --start SEED")
        return params
    if rundir.SEEDS not in params:
        raise DataError(f"{path} holds no record of its starts' seeds ({rundir.SEEDS})",
                        hint="it may be damaged; run the restarts again")
    seeds = [int(v) for v in np.ravel(params[rundir.SEEDS])]
    solved = [sd for sd, ok in zip(seeds, np.ravel(params.get(rundir.SOLVED, ())), strict=False)
              if ok]

    def listed(values: list[int]) -> str:
        return ", ".join(map(str, values[:8])) + (" ..." if len(values) > 8 else "")

    which = (f"none solved; seeds {listed(seeds)}" if not solved
             else f"solved: {listed(solved)}" if solved == seeds
             else f"solved: {listed(solved)}; all: {listed(seeds)}")
    if start is None:
        raise LwlcError(f"{path} holds the parameters of {len(seeds)} start"
                        f"{'' if len(seeds) == 1 else 's'}",
                        hint=f"choose one with --start SEED ({which})")
    if start not in seeds:
        raise LwlcError(f"--start {start}: {path} holds no start of that seed",
                        hint=f"its starts' seeds: {which}")
    row = seeds.index(start)
    short = [k for k, v in params.items() if k not in (rundir.SEEDS, rundir.SOLVED)
             and (np.ndim(v) == 0 or len(v) != len(seeds))]
    if short:
        rows = len(params[short[0]]) if np.ndim(params[short[0]]) else "no"
        raise DataError(f"{path} lists {len(seeds)} starts, but its {short[0]!r} holds "
                        f"{rows} rows of them",
                        hint="it may be damaged; run the restarts again")
    return {k: v[row] for k, v in params.items() if k not in (rundir.SEEDS, rundir.SOLVED)}


def _trained(model: str, params_path: str, overrides: dict, backend: str, warn=None,
             start: int | None = None):
    """The compiled model, its solver and trained parameters (of start `start` of a
    restarts.npz). A model `param` that training changed (--set) and this command does
    not set takes its trained value. A solver setting is noted as unused: inference runs
    no solver, and `--set iterations=500` changed nothing without a word."""
    solver_only = [k for k in overrides if k in SOLVER_SETTINGS]
    if solver_only and warn is not None:
        warn(f"--set {', '.join(solver_only)}: the solver's settings for training, unused "
             "here: evaluating and predicting run no solver")
    params, meta = load_params(params_path)
    params = one_start(params, meta, str(params_path), start)
    compiled = compile_model(model, overrides, backend)
    values, where = _trained_values(params_path, meta)
    adopt, notes = {}, []
    for k, v in values.items():
        now = compiled.model.params.get(k)
        if now is None or not isinstance(v, int | float) or float(v) == float(now):
            continue
        if k in overrides:
            notes.append(f"{k} = {now:g} here, but the parameters were trained with "
                         f"{k} = {v:g} ({where})")
            continue
        adopt[k] = v
    if adopt:
        compiled = compile_model(model, {**overrides, **adopt}, backend)
        shown = ", ".join(f"{k} = {v:g}" for k, v in adopt.items())
        notes.append(f"using {shown} as in training ({where}), not the model file's value; "
                     f"--set {next(iter(adopt))}=V uses another")
    solver = load_solver(compiled.source)
    name = compiled.model.name
    wanted = solver.initial_params(np.random.default_rng(0))
    rundir.check_params(params, wanted, params_path, name)
    trained_for = meta.get("model")
    if isinstance(trained_for, str) and trained_for != name:
        raise DataError(f"{params_path} holds the parameters of model {trained_for!r}, not of "
                        f"{name!r} ({model})",
                        hint=f"evaluate it with the model file of {trained_for!r}")
    trained_on = meta.get("model_fingerprint")
    if isinstance(trained_on, str) and trained_on != rundir.model_fingerprint(
            compiled.model.source):
        notes.append(f"{model} is not the file {params_path} was trained with (its text "
                     "differs beyond comments and data lines): the predictions follow this "
                     "file's constraints")
    trained_edges = meta.get("edges_fingerprint")
    if isinstance(trained_edges, str) and trained_edges != rundir.edges_fingerprint(
            compiled.model):
        notes.append(f"the edge files {model} reads (`edges ... = file(...)`) are not those "
                     f"{params_path} was trained with (their contents differ): the weights "
                     "sit on other edges")
    for note in notes if warn is not None else ():  # only for parameters that fit
        warn(note)
    return compiled, solver, params


def refuse_reads_in_run(model: ir.Model, cfg: TrainConfig) -> None:
    """A file the run reads (the model, its edge or data files) must not be one of the run
    files it writes in --out, under any name (a link to one, a hard link): `data train =
    "log.csv"` beside the run, and a link `mydata.txt` to it, were replaced by the epoch log
    under --overwrite (user tests)."""
    written = (rundir.RUN, rundir.PARAMS, rundir.LOG, rundir.SUMMARY, *rundir.RESTARTS)
    out = Path(cfg.out)
    for f in files_read(model, cfg.data, cfg.test):
        for name in written:
            with contextlib.suppress(OSError, ValueError):
                if os.path.samefile(f, out / name):
                    shown = f"{f}" if Path(f).name == name else f"{f} (that is {out / name})"
                    raise LwlcError(f"--out {out} would write over {shown}, which this run "
                                    "reads", hint="give the run directory another folder, or "
                                    "move the file")


def files_read(model: ir.Model, *specs: str | None) -> tuple[str, ...]:
    """The files a command on `model` reads: the model file, its edge files, the data
    files of its `data` statements and of `specs` (an output must not replace them)."""
    found = [model.file, *model.edge_files]
    for spec in [*model.data.values(), *specs]:
        if spec:
            with contextlib.suppress(DataError, OSError, ValueError):
                if (path := datamod.spec_file(spec)) is not None:
                    found.append(str(path))
    return tuple(found)


def _test_spec(compiled: Compiled, spec: str | None, command: str) -> str:
    """The data to evaluate or predict on: ``spec``, else the model's `data test`."""
    if spec:
        return spec
    declared = compiled.model.data.get("test")
    if not declared:
        raise LwlcError(f"model {compiled.model.name} declares no test data, and no --data "
                        "was given",
                        hint=f"pass --data SPEC (a file or a generator), or add a line "
                        f'`data test = "..."` to the model; lwlc {command} --help')
    return declared


def evaluate(model: str, params_path: str, spec: str | None, overrides: dict,
             backend="numpy", warn=None, start: int | None = None) -> dict:
    """Each target of the data part scored on a data set (the model's test data unless
    ``spec`` is given): error rate or RMS error."""
    compiled, solver, params = _trained(model, params_path, overrides, backend, warn, start)
    spec = _test_spec(compiled, spec, "evaluate")
    bound = bind(compiled, spec, "test")
    if warn is not None and (note := unused_labels_note(compiled, bound)):
        warn(note)
    if warn is not None and (note := _other_task_than_trained(params_path, bound)):
        warn(note)
    dpart = data_part(compiled.model)
    _uninferred_latent(compiled, [t.infer for t in compiled.plan.targets
                                  if scored_on_data(t, dpart)], warn)
    out = {"model": compiled.model.name, "data": bound.name, "items": len(bound)}
    if not any(scored_on_data(t, dpart) for t in compiled.plan.targets):
        raise LwlcError(f"model {compiled.model.name} predicts nothing for its data part, so "
                        "there is nothing to score",
                        hint="a score is of a class (margin constraint) or of a value a "
                        "constraint equates to data")
    for t in compiled.plan.targets:
        if not scored_on_data(t, dpart):
            continue
        bad: list[int] = []
        value = score(compiled, solver, params, t, bound.rows(slice(None)), len(bound),
                      unpredicted=bad)
        if sum(bad) and warn is not None:
            warn(_unpredicted_note(t.name, sum(bad), len(bound), t.kind))
        if t.kind == "class":
            single = sum(u.kind == "class" for u in compiled.plan.targets) == 1
            key = "error" if single else f"{t.name}_error"
            out[key] = value
            out[key.replace("error", "accuracy")] = 1.0 - value
        else:
            out[f"{t.name}_rmse"] = value
    return out


def _uninferred_latent(compiled: Compiled, parts, warn,
                       where: str = "here, so these predictions do not depend on them") -> None:
    """Say where a part's latent nodes cannot be inferred for new items: no least-squares
    solve reaches them (eq. 12-13 needs the nodes to feed the fixed product directly), so
    inference takes them as 0 and the predictions do not depend on the item there."""
    from .lower import LatentSolve

    def solved(steps) -> set[int]:
        out: set[int] = set()
        for st in steps:
            if isinstance(st, LatentSolve):
                out |= set(st.nodes)
            elif hasattr(st, "steps"):
                out |= solved(st.steps)
        return out

    m = compiled.model
    for name in dict.fromkeys(parts):
        sched = compiled.plan.schedules[name]
        left = [n for n in sched.latent if n not in solved(sched.steps)]
        if left and warn is not None:
            names = ", ".join(m.node_name(n) for n in left[:4]) + (" ..." if len(left) > 4
                                                                   else "")
            part = "" if len(m.batch.parts) == 1 else f" of batch part '{name}'"
            warn(f"the latent nodes {names}{part} get their values from "
                 "training, item by item, and no least-squares solve (eq. 12-13) infers them "
                 f"for new items: they are taken as 0 {where}")


def predict(model: str, params_path: str, spec: str | None, overrides: dict,
            backend="numpy", warn=None, start: int | None = None, check_output=None):
    """What the model predicts for every item of a data set (the model's test data unless
    ``spec`` is given): one array per target. ``check_output(files)``, if given, is called
    with files_read once the model is loaded, before anything is computed."""
    compiled, solver, params = _trained(model, params_path, overrides, backend, warn, start)
    if check_output is not None:
        check_output(files_read(compiled.model, spec))
    spec = _test_spec(compiled, spec, "predict")
    bound = bind(compiled, spec, "test", need_labels=False)
    if warn is not None and (note := unused_labels_note(compiled, bound)):
        warn(note)
    dpart = data_part(compiled.model)
    targets = [t for t in compiled.plan.targets if scored_on_data(t, dpart)]
    names = [t.name for t in targets]
    if not names:
        raise LwlcError(f"model {compiled.model.name} predicts nothing for its data part",
                        hint="a prediction is a class (margin constraint) or a value a "
                        "constraint equates to data")
    rows = bound.rows(slice(None))
    _uninferred_latent(compiled, [t.infer for t in targets], warn)
    out = {}
    # each target through the batch part it is inferred as (two class constraints may
    # cover different parts)
    for infer in dict.fromkeys(t.infer for t in targets):
        mine = [t.name for t in targets if t.infer == infer]
        chunks = []
        for start in range(0, len(bound), 4096):
            part = {k: v[start:start + 4096] for k, v in rows.items()}
            with np.errstate(all="ignore"):  # an overflow is said below, not printed
                got = solver.predict(params, part, len(next(iter(part.values()))), infer)
            chunks.append(to_host(solver, {k: got[k] for k in mine}))
        out.update({k: np.concatenate([c[k] for c in chunks]) for k in mine})
    for t in targets:
        if (bad := unpredictable(t, out[t.name])) and warn is not None:
            warn(_unpredicted_note(t.name, bad, len(bound), t.kind, scored=False))
    return {k: out[k] for k in names}
