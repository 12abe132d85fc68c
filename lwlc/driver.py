"""The training driver: epochs of shuffled batches, RRR per batch, warm starts, metrics, logs.

It runs any emitted solver (NumPy or JAX) through the solver module's API: `initial_params`,
`init`, `solve_batch`, `consensus_params`, `predict`, `forward`. Outputs are written atomically:
`params.npz`, `log.csv` (one row per epoch) and `summary.json`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as datamod
from . import ir
from .compiler import Compiled, compile_model, load_solver
from .errors import DataError, LwlcError, SolverError


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
    progress: bool = True
    epochs: int | None = None
    quiet: bool = False
    stop_when_solved: bool = True  # see the end of the epoch loop in train()
    devices: int | None = None  # JAX: shard the batch over this many devices (None: all)


# --- atomic outputs -------------------------------------------------------------------------


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write via a temporary file in the same folder and os.replace; the file gets the mode a
    plain open() would give it (0o666 less the umask), not mkstemp's private 0o600."""

    def umask() -> int:
        try:  # Linux: read it without changing it (os.umask can only be read by setting it)
            with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Umask:"):
                        return int(line.split()[1], 8)
        except (OSError, ValueError, IndexError):
            pass
        old = os.umask(0o077)  # elsewhere: briefly the most private mask, then restored
        os.umask(old)
        return old

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_params(path: Path, params: dict, meta: dict) -> None:
    buf = io.BytesIO()
    arrays = {k: np.asarray(v) for k, v in params.items()}
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_params(path: str | Path) -> tuple[dict, dict]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files if k != "__meta__"}
            meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
    except FileNotFoundError:
        raise DataError(f"no such parameter file: {path}",
                        hint="train first: lwlc train MODEL.lwl --out DIR") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is not a parameter file written by lwlc train ({e})") from None
    return params, meta


# --- data ↔ model ---------------------------------------------------------------------------


@dataclass
class Bound:
    """A data set bound to the model: its columns split over the inputs of the data part, in
    declaration order, and its class column as the part's label."""

    inputs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    name: str

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def rows(self, idx) -> dict[str, np.ndarray]:
        out = {k: v[idx] for k, v in self.inputs.items()}
        out.update({k: v[idx].astype(np.int64) for k, v in self.labels.items()})
        return out


def own_data(model: ir.Model, inp: ir.Input) -> bool:
    """Whether an input gets its values other than from the training set (sampled, eq. 37, or
    bound by its own `data NAME = SPEC`)."""
    return inp.name in model.samples or inp.name in model.data


def data_part(model: ir.Model) -> ir.SubBatch:
    """The batch part whose inputs and label the training data fills: the part of the first
    input that gets no values of its own."""
    for inp in model.inputs.values():
        if not own_data(model, inp):
            return inp.part
    raise LwlcError(f"model {model.name} has no input for the training data",
                    hint="declare one, e.g. input d[k, D]; inputs that are sampled or bound by "
                    "their own `data NAME = ...` are not filled from the training data")


def data_inputs(model: ir.Model) -> list[ir.Input]:
    part = data_part(model)
    return [i for i in model.inputs.values() if i.part == part and not own_data(model, i)]


def bind(compiled: Compiled, spec: str, role: str) -> Bound:
    """Load a data set and split its columns over the model's data inputs."""
    m = compiled.model
    ds = datamod.load(spec, role=role)
    inputs = data_inputs(m)
    width = sum(len(i.nodes) for i in inputs)
    part = inputs[0].part
    labels = [lb for lb in m.labels.values() if lb.part == part]
    if len(labels) > 1:
        raise DataError(f"model {m.name} has {len(labels)} labels on batch part {part.name}; "
                        "a data set has one class column", hint="keep one label per part")
    n_classes = len(labels[0].classes) if labels else None
    try:
        datamod.validate_for(ds, width, n_classes)
    except datamod.DataError as e:
        raise DataError(str(e.args[0]) if e.args else str(e),
                        hint=(f"the model's inputs {', '.join(i.name for i in inputs)} take "
                              f"{width} columns in all" if len(inputs) > 1
                              else getattr(e, "hint", None))) from None
    values = np.asarray(ds.inputs, dtype=np.float64)
    out, start = {}, 0
    for inp in inputs:
        out[inp.name] = values[:, start:start + len(inp.nodes)]
        start += len(inp.nodes)
    lab = {labels[0].name: ds.labels} if labels else {}
    return Bound(out, lab, ds.name)


def own_inputs(compiled: Compiled) -> dict[str, np.ndarray]:
    """Inputs that the model binds to data of their own (`data s = "bits:n=3"`)."""
    m = compiled.model
    out = {}
    for inp in m.inputs.values():
        if inp.name in m.samples or inp.name not in m.data:
            continue
        ds = datamod.load(m.data[inp.name], role="train")
        datamod.validate_for(ds, len(inp.nodes), None)
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
    """Sampled inputs, drawn per node from the previous batch's consensus values (eq. 37)."""
    m = compiled.model
    out = {}
    for s in m.samples.values():
        src = part_data(m, data, s.source_part)
        X, _ = solver.forward(params, src, s.source_part.size, s.source_part.name)
        enc = np.asarray(X)[:, list(s.nodes)]
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
          latent=None, chunk: int = 4096) -> float:
    """Error rate (class) or RMS error (value) of one target over `n` items of `data`."""
    wrong, sq, count = 0.0, 0.0, 0
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows = {k: v[start:stop] for k, v in data.items()}
        lat = None if latent is None else latent[start:stop]
        pred = np.asarray(solver.predict(params, rows, stop - start, target.infer,
                                         lat)[target.name])
        ref = rows[target.reference]
        if target.kind == "class":
            wrong += float(np.sum(pred != ref))
            count += stop - start
        else:
            sq += float(np.sum((pred - ref) ** 2))
            count += pred.size
    if target.kind == "class":
        return wrong / max(1, count)
    return math.sqrt(sq / max(1, count))


def epoch_metrics(compiled: Compiled, solver, params, train_set: Bound, test_set: Bound | None,
                  own: dict, batch_errs: dict, rng, latent=None) -> dict:
    """Every target scored: on the training and test sets for the data part's targets, on the
    part's own (given or sampled) inputs for the other parts' targets (eq. 40-41)."""
    m = compiled.model
    dpart = data_part(m)
    out: dict = {}
    for t in compiled.plan.targets:
        if t.part == dpart:
            if t.kind == "class" and t.name in batch_errs:
                out[metric_name(compiled, t, "batch")] = float(np.mean(batch_errs[t.name]))
            out[metric_name(compiled, t, "train")] = score(
                compiled, solver, params, t, train_set.rows(slice(None)), len(train_set),
                latent)
            if test_set is not None:
                out[metric_name(compiled, t, "test")] = score(
                    compiled, solver, params, t, test_set.rows(slice(None)), len(test_set))
            continue
        data = {k: _rows_for(v, t.part.size, 0) for k, v in own.items()
                if m.inputs[k].part == t.part}
        if m.samples:
            src = train_set.rows(rng.choice(len(train_set), dpart.size))
            for k, v in sample_codes(compiled, solver, params, src, rng).items():
                if m.inputs[k].part == t.part:
                    data[k] = v
        if t.reference in data:
            out[metric_name(compiled, t, "train")] = score(compiled, solver, params, t, data,
                                                           t.part.size)
    return out


# --- training -------------------------------------------------------------------------------


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


def train(cfg: TrainConfig, console=None) -> dict:
    """Train a model; returns the summary written to OUT/summary.json."""
    overrides = dict(cfg.overrides)
    if cfg.epochs is not None:
        overrides["epochs"] = cfg.epochs
    if cfg.seed is not None:
        overrides["seed"] = cfg.seed
    compiled = compile_model(cfg.model, overrides, cfg.backend, cfg.dtype)
    m = compiled.model
    plan = compiled.plan
    solver = load_solver(compiled.source)
    if cfg.devices is not None:
        if not hasattr(solver, "mesh"):
            raise LwlcError("--devices applies to the JAX backend", hint="add --backend jax")
        solver.mesh(cfg.devices)
    n_devices = len(solver.mesh().devices.flat) if hasattr(solver, "mesh") else 1
    s = m.solver
    train_spec = cfg.data or m.data.get("train")
    if not train_spec:
        raise DataError(f"model {m.name} names no training data",
                        hint="pass --data SPEC (a file or a generator such as majority:depth=2)")
    test_spec = cfg.test or (m.data.get("test") if not cfg.data else None)
    train_set = bind(compiled, train_spec, "train")
    test_set = bind(compiled, test_spec, "test") if test_spec else None
    dpart = data_part(m)
    per_batch = dpart.size
    n_items = len(train_set)
    if n_items < per_batch:
        raise DataError(f"the batch holds {per_batch} items but {train_set.name} has only "
                        f"{n_items}", hint=f"--set {dpart.name}={n_items} uses them all")
    n_batches = max(1, n_items // per_batch)
    out_dir = Path(cfg.out) if cfg.out else None
    rng_init = np.random.default_rng([s.seed, 0])
    params = {k: np.asarray(v) for k, v in solver.initial_params(rng_init).items()}
    start_epoch = 0
    rows: list[dict] = []
    total_iters = 0
    seconds = 0.0
    if cfg.resume:
        if out_dir is None or not (out_dir / "params.npz").exists():
            raise LwlcError("--resume needs --out DIR holding an earlier run's params.npz")
        params, meta = load_params(out_dir / "params.npz")
        start_epoch = int(meta.get("epochs", 0))
        total_iters = int(meta.get("iterations", 0))
        seconds = float(meta.get("seconds", 0.0))
        if (out_dir / "log.csv").exists():
            with open(out_dir / "log.csv") as fh:
                rows = list(csv.DictReader(fh))
    n_edges = plan.n_edges
    K = m.batch.size
    prog = _progress(cfg.progress and not cfg.quiet)
    compile_seconds = 0.0
    own: dict = own_inputs(compiled)
    summary: dict = {}
    class_targets = [t for t in plan.targets if t.kind == "class" and t.part == dpart]
    value_targets = [t for t in plan.targets if t.kind == "value"]
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
        state = None
        for epoch in range(start_epoch, s.epochs):
            rng = np.random.default_rng([s.seed, epoch + 1])
            order = np.arange(n_items) if single else rng.permutation(n_items)
            iters = 0
            first_errs, last_errs = [], []
            batch_errs: dict[str, list[float]] = {}
            t_epoch = time.perf_counter()
            for bi in range(n_batches):
                idx = order[bi * per_batch:(bi + 1) * per_batch]
                data = batch_data(compiled, train_set, idx, own)
                if m.samples:
                    data.update(sample_codes(compiled, solver, params, data, rng))
                if state is None or not single:
                    state = solver.init(params, data)
                t0 = time.perf_counter()
                state, steps, e0, e1 = solver.solve_batch(state, data)
                dt = time.perf_counter() - t0
                if getattr(solver, "LAST_COMPILE_SECONDS", 0.0):
                    compile_seconds += solver.LAST_COMPILE_SECONDS
                    dt -= solver.LAST_COMPILE_SECONDS
                    solver.LAST_COMPILE_SECONDS = 0.0
                seconds += dt
                if not (math.isfinite(e1)):
                    raise SolverError(f"RRR_err became {e1} in epoch {epoch + 1}, batch {bi + 1}",
                                      hint="try a smaller beta or a different omega")
                params = {k: np.asarray(v) for k, v in solver.consensus_params(state, data).items()}
                iters += steps
                first_errs.append(e0)
                last_errs.append(e1)
                for t in class_targets:
                    rows_t = part_data(m, data, t.part)
                    pred = np.asarray(solver.predict(params, rows_t, t.part.size,
                                                     t.infer)[t.name])
                    batch_errs.setdefault(t.name, []).append(
                        float(np.mean(pred != data[t.reference])))
                if prog:
                    prog.update(task, advance=1,
                                info=f"epoch {epoch + 1}/{s.epochs} RRR_err {e1:.3g}")
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
            latent = None
            if single and plan.schedules[dpart.name].latent:
                latent = np.asarray(solver.latent_values(state, data)[dpart.name])
            row.update(epoch_metrics(compiled, solver, params, train_set, test_set, own,
                                     batch_errs, rng, latent))
            rows.append(row)
            if not cfg.quiet and console is not None:
                console.print(format_row(row, first=len(rows) == 1))
            summary = make_summary(cfg, compiled, row, total_iters, seconds, compile_seconds, K,
                                   n_edges, train_set, test_set)
            summary["devices"] = n_devices
            if out_dir is not None:
                write_outputs(out_dir, params, rows, summary)
            # Solved: a one-batch run at a fixed point, or a model without classes whose every
            # value target is reproduced exactly (the autoencoder program's stopping rule).
            exact = (bool(value_targets) and not class_targets
                     and all(row.get(metric_name(compiled, t, "train")) == 0.0
                             for t in value_targets))
            if cfg.stop_when_solved and ((one_batch and last_errs[-1] < s.tolerance) or exact):
                break
    finally:
        if prog:
            prog.stop()
    if not rows:
        raise LwlcError("no epochs to run", hint="raise --set epochs=N")
    return summary


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
        "solver": {"method": m.solver.method, "beta": m.solver.beta,
                   "iterations": m.solver.iterations, "tolerance": m.solver.tolerance},
        "train_data": train_set.name,
        "test_data": test_set.name if test_set else None,
        "targets": {t.name: t.kind for t in compiled.plan.targets},
    }
    for key in metric_keys(row):
        summary[key] = row[key]
    return summary


def write_outputs(out_dir: Path, params: dict, rows: list[dict], summary: dict) -> None:
    meta = {"model": summary["model"], "epochs": summary["epochs"],
            "iterations": summary["iterations"], "seconds": summary["seconds"]}
    save_params(out_dir / "params.npz", params, meta)
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    atomic_write_text(out_dir / "log.csv", buf.getvalue())
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


def format_row(row: dict, first: bool) -> str:
    cols = [("epoch", "{:>5}"), ("gwm", "{:>9.4f}"), ("avg_iterations", "{:>8.1f}"),
            ("rrr_err_start", "{:>10.4g}"), ("rrr_err_end", "{:>10.4g}")]
    for key in metric_keys(row):
        cols.append((key, "{:>10.4f}" if key.endswith("_err") else "{:>10.4g}"))
    head = " ".join(f"{k:>{len(f.format(row[k]))}}" for k, f in cols)
    line = " ".join(f.format(row[k]) for k, f in cols)
    return (head + "\n" + line) if first else line


def _trained(model: str, params_path: str, overrides: dict, backend: str):
    compiled = compile_model(model, overrides, backend)
    solver = load_solver(compiled.source)
    params, _ = load_params(params_path)
    wanted = solver.initial_params(np.random.default_rng(0))
    for k, v in wanted.items():
        if k not in params:
            raise DataError(f"{params_path} has no '{k}' for model {compiled.model.name}",
                            hint="was it trained from another model?")
        if np.shape(params[k]) != np.shape(v):
            raise DataError(f"{params_path}: '{k}' has shape {np.shape(params[k])}, but model "
                            f"{compiled.model.name} needs {np.shape(v)}",
                            hint="was it trained from another model or other --set sizes?")
    return compiled, solver, params


def evaluate(model: str, params_path: str, spec: str, overrides: dict, backend="numpy") -> dict:
    """Each target of the data part scored on a data set: error rate or RMS error."""
    compiled, solver, params = _trained(model, params_path, overrides, backend)
    bound = bind(compiled, spec, "test")
    dpart = data_part(compiled.model)
    out = {"model": compiled.model.name, "data": bound.name, "items": len(bound)}
    for t in compiled.plan.targets:
        if t.part != dpart:
            continue
        value = score(compiled, solver, params, t, bound.rows(slice(None)), len(bound))
        if t.kind == "class":
            single = sum(u.kind == "class" for u in compiled.plan.targets) == 1
            key = "error" if single else f"{t.name}_error"
            out[key] = value
            out[key.replace("error", "accuracy")] = 1.0 - value
        else:
            out[f"{t.name}_rmse"] = value
    return out


def predict(model: str, params_path: str, spec: str, overrides: dict, backend="numpy"):
    """What the model predicts for every item of a data set: one array per target."""
    compiled, solver, params = _trained(model, params_path, overrides, backend)
    bound = bind(compiled, spec, "test")
    dpart = data_part(compiled.model)
    targets = [t for t in compiled.plan.targets if t.part == dpart]
    names = [t.name for t in targets]
    if not names:
        raise LwlcError(f"model {compiled.model.name} predicts nothing for its data part",
                        hint="a prediction is a class (margin constraint) or a value a "
                        "constraint equates to data")
    rows = bound.rows(slice(None))
    infer = targets[0].infer
    chunks = []
    for start in range(0, len(bound), 4096):
        part = {k: v[start:start + 4096] for k, v in rows.items()}
        got = solver.predict(params, part, len(next(iter(part.values()))), infer)
        chunks.append({k: np.asarray(got[k]) for k in names})
    return {k: np.concatenate([c[k] for c in chunks]) for k in names}
