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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
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
    """A data set bound to the model's inputs and label."""

    inputs: np.ndarray
    labels: np.ndarray | None
    name: str


def primary_input(compiled: Compiled):
    m = compiled.model
    for inp in m.inputs.values():
        if inp.name not in m.samples:
            return inp
    raise LwlcError(f"model {m.name} declares no input", hint="declare input d[k, D]")


def bind(compiled: Compiled, spec: str, role: str) -> Bound:
    ds = datamod.load(spec, role=role)
    inp = primary_input(compiled)
    width = len(inp.nodes)
    label = next(iter(compiled.model.labels.values()), None)
    n_classes = len(label.classes) if label else None
    try:
        datamod.validate_for(ds, width, n_classes)
    except datamod.DataError as e:
        raise DataError(str(e.args[0]) if e.args else str(e),
                        hint=getattr(e, "hint", None)) from None
    labels = ds.labels if label is not None else None
    if label is not None and labels is None:
        raise DataError(f"model {compiled.model.name} needs labels; {ds.name} has none")
    return Bound(np.asarray(ds.inputs, dtype=np.float64), labels, ds.name)


def secondary_inputs(compiled: Compiled) -> dict[str, np.ndarray]:
    """Inputs other than the primary one that the model binds to data (`data s = "bits:n=3"`)."""
    m = compiled.model
    primary = primary_input(compiled).name
    out = {}
    for inp in m.inputs.values():
        if inp.name == primary or inp.name in m.samples:
            continue
        spec = m.data.get(inp.name)
        if spec is None:
            raise DataError(f"input {inp.name} has no data",
                            hint=f'bind it in the model: data {inp.name} = "SPEC"')
        ds = datamod.load(spec, role="train")
        datamod.validate_for(ds, len(inp.nodes), None)
        out[inp.name] = np.asarray(ds.inputs, dtype=np.float64)
    return out


def batch_data(compiled: Compiled, bound: Bound, idx: np.ndarray, samples: dict) -> dict:
    m = compiled.model
    inp = primary_input(compiled)
    out = {inp.name: bound.inputs[idx]}
    for lab in m.labels.values():
        out[lab.name] = bound.labels[idx].astype(np.int64)
    for name, values in samples.items():
        part = m.inputs[name].part
        if len(values) == part.size:
            out[name] = values
        else:
            rows = np.random.default_rng(len(idx) + int(idx[0])).choice(len(values), part.size)
            out[name] = values[rows]
    return out


def sample_codes(compiled: Compiled, solver, params, data, rng) -> dict:
    """Code items drawn per node from the previous batch's encodings (Elser eq. 37)."""
    m = compiled.model
    out = {}
    if not m.samples:
        return out
    for s in m.samples.values():
        X, _ = solver.forward_part(s.source_part.name, params, data, s.source_part.size)
        enc = np.asarray(X)[:, list(s.nodes)]
        pick = rng.integers(0, enc.shape[0], size=(s.part.size, len(s.nodes)))
        out[s.name] = np.take_along_axis(enc, pick, axis=0)
    return out


# --- metrics --------------------------------------------------------------------------------


def classification_error(compiled: Compiled, solver, params, bound: Bound, chunk=4096) -> float:
    inp = primary_input(compiled)
    wrong = 0
    for start in range(0, len(bound.inputs), chunk):
        x = bound.inputs[start:start + chunk]
        pred = np.asarray(solver.predict(params, {inp.name: x}, len(x)))
        wrong += int(np.sum(pred != bound.labels[start:start + chunk]))
    return wrong / max(1, len(bound.inputs))


def code_and_data_nodes(compiled: Compiled) -> tuple[list[int], list[int]]:
    """(code nodes, data nodes) of a factorization: the tails of the edges into the data."""
    es = compiled.plan.edge_set
    heads = list(primary_input(compiled).nodes)
    return sorted(set(es.tail[np.isin(es.head, heads)].tolist())), heads


def recon_error(compiled: Compiled, solver, params, bound: Bound, codes=None) -> float:
    """eq. 23: RMS of Y − X W over the data set (codes from the encoder, eq. 12-13)."""
    m = compiled.model
    inp = primary_input(compiled)
    es = compiled.plan.edge_set
    W = np.zeros((m.n_nodes, m.n_nodes))
    W[es.tail, es.head] = np.asarray(params[compiled.plan.weights])
    tails, heads = code_and_data_nodes(compiled)
    if codes is None:
        X = np.asarray(solver.predict(params, {inp.name: bound.inputs}, len(bound.inputs)))
        codes = X[:, tails]
    recon = codes @ W[np.ix_(tails, heads)]
    return float(np.sqrt(np.mean((bound.inputs - recon) ** 2)))


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
    inp = primary_input(compiled)
    per_batch = inp.part.size
    n_items = len(train_set.inputs)
    if n_items < per_batch:
        raise DataError(f"the batch holds {per_batch} items but {train_set.name} has only "
                        f"{n_items}", hint=f"--set {inp.part.name}={n_items} uses them all")
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
    n_edges = len(compiled.plan.edge_set) if compiled.plan.edge_set else 0
    K = m.batch.size
    prog = _progress(cfg.progress and not cfg.quiet)
    compile_seconds = 0.0
    samples: dict = secondary_inputs(compiled)
    summary: dict = {}
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
            first_errs, last_errs, batch_errs = [], [], []
            t_epoch = time.perf_counter()
            for bi in range(n_batches):
                idx = order[bi * per_batch:(bi + 1) * per_batch]
                data = batch_data(compiled, train_set, idx, samples)
                if m.samples:
                    data.update(sample_codes(compiled, solver, params, data, rng))
                if state is None or not single:
                    state = solver.init(params, data, rng)
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
                if compiled.plan.class_family is not None:
                    pred = np.asarray(solver.predict(params, data, per_batch))
                    lab = next(iter(m.labels.values())).name
                    batch_errs.append(float(np.mean(pred != data[lab][:per_batch])))
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
            row.update(epoch_metrics(compiled, solver, params, train_set, test_set, batch_errs))
            if m.samples or len(m.batch.parts) > 1:
                row.update(autoencoder_metrics(compiled, solver, params, train_set, samples, rng))
            rows.append(row)
            if not cfg.quiet and console is not None:
                console.print(format_row(row, first=len(rows) == 1))
            summary = make_summary(cfg, compiled, row, total_iters, seconds, compile_seconds, K,
                                   n_edges, train_set, test_set)
            summary["devices"] = n_devices
            if out_dir is not None:
                write_outputs(out_dir, params, rows, summary)
            # Solved: a one-batch run at a fixed point, or an autoencoder that reproduces every
            # data and code item exactly (the reference program's stopping rule).
            perfect = row.get("data_err") == 0.0 and row.get("code_err", 0.0) == 0.0
            if cfg.stop_when_solved and ((one_batch and last_errs[-1] < s.tolerance) or perfect):
                break
    finally:
        if prog:
            prog.stop()
    if not rows:
        raise LwlcError("no epochs to run", hint="raise --set epochs=N")
    return summary


def epoch_metrics(compiled, solver, params, train_set, test_set, batch_errs) -> dict:
    plan = compiled.plan
    out: dict = {}
    if plan.class_family is not None:
        out["batch_err"] = float(np.mean(batch_errs)) if batch_errs else float("nan")
        out["train_err"] = classification_error(compiled, solver, params, train_set)
        if test_set is not None:
            out["test_err"] = classification_error(compiled, solver, params, test_set)
    elif plan.problem == "factorization":
        codes = None
        if "codes" in params and len(train_set.inputs) == compiled.model.batch.size:
            es = plan.edge_set
            tails, _ = code_and_data_nodes(compiled)
            xa = np.asarray(params["codes"])  # [K, E]: consensus codes on each edge
            codes = np.stack([xa[:, np.nonzero(es.tail == t)[0][0]] for t in tails], axis=1)
        out["recon_err"] = recon_error(compiled, solver, params, train_set, codes)
    return out


def autoencoder_metrics(compiled, solver, params, train_set, samples, rng) -> dict:
    """data_err and code_err (eq. 40-41): RMS of f(y - b) - x at the data layer of every data
    item and at the code layer of a batch of code items, after feeding around the cycle."""
    m = compiled.model
    inp = primary_input(compiled)
    out = {}
    data_part = inp.part
    X = train_set.inputs
    errs = []
    reconstruct = getattr(solver, f"reconstruct_{data_part.name}")
    for start in range(0, len(X), 4096):
        chunk = X[start:start + 4096]
        rec = reconstruct(params, {inp.name: chunk}, len(chunk))
        fixed, recon = (np.asarray(a) for a in rec[inp.name])
        errs.append((fixed - recon) ** 2)
    out["data_err"] = float(np.sqrt(np.mean(np.concatenate(errs))))
    if samples is not None:
        for part in m.batch.parts:
            if part.name == data_part.name:
                continue
            names = [i.name for i in m.inputs.values() if i.part.name == part.name]
            data = {}
            for name in names:
                if name in samples and len(samples[name]):
                    data[name] = samples[name][:part.size]
            if m.samples:
                idx = rng.choice(len(X), data_part.size)
                data.update(sample_codes(compiled, solver, params, {inp.name: X[idx]}, rng))
            if not data:
                continue
            rec = solver.__dict__[f"reconstruct_{part.name}"](params, data, part.size)
            for name in names:
                if name in rec:
                    fixed, recon = (np.asarray(a) for a in rec[name])
                    out["code_err"] = float(np.sqrt(np.mean((fixed - recon) ** 2)))
    return out


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
    }
    for key in ("train_err", "test_err", "batch_err", "recon_err", "data_err", "code_err"):
        if key in row:
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
    for key in ("batch_err", "train_err", "test_err", "recon_err", "data_err", "code_err"):
        if key in row:
            cols.append((key, "{:>10.4f}" if key.endswith("err") and "recon" not in key
                         else "{:>10.4g}"))
    head = " ".join(f"{k:>{len(f.format(row[k]))}}" for k, f in cols)
    line = " ".join(f.format(row[k]) for k, f in cols)
    return (head + "\n" + line) if first else line


def evaluate(model: str, params_path: str, spec: str, overrides: dict, backend="numpy") -> dict:
    compiled = compile_model(model, overrides, backend)
    solver = load_solver(compiled.source)
    params, _ = load_params(params_path)
    missing = [k for k in solver.initial_params(np.random.default_rng(0)) if k not in params]
    if missing:
        raise DataError(f"{params_path} has no '{missing[0]}' for model {compiled.model.name}",
                        hint="was it trained from another model?")
    bound = bind(compiled, spec, "test")
    out = {"model": compiled.model.name, "data": bound.name, "items": len(bound.inputs)}
    if compiled.plan.class_family is not None:
        out["error"] = classification_error(compiled, solver, params, bound)
        out["accuracy"] = 1.0 - out["error"]
    elif compiled.plan.problem == "factorization":
        out["recon_err"] = recon_error(compiled, solver, params, bound)
    return out


def predict(model: str, params_path: str, spec: str, overrides: dict, backend="numpy"):
    compiled = compile_model(model, overrides, backend)
    solver = load_solver(compiled.source)
    params, _ = load_params(params_path)
    bound = bind(compiled, spec, "test")
    inp = primary_input(compiled)
    return np.asarray(solver.predict(params, {inp.name: bound.inputs}, len(bound.inputs)))
