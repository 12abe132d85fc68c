"""`lwlc test MODEL`: property checks on the projections as a model's solvers emit them.

The set library's own property tests (`lwlc.sets._spec.check_kind`) check the library
functions; this module checks the code the compiler writes around them: the slicing of the
state into instance blocks, the metric weights, the replica counts, the data columns, the
label rows and the writes back. It compiles the model for NumPy and for JAX (float64), loads
both modules, draws random states (some from the model's own `init` plus noise) and random
data, and for every constraint family F checks `project_family(F, ·)` of the emitted modules:

- ``in_set``: P(s) is finite and satisfies F (`lwlc.kinds.<kind>.violation`, written from the
  definition, independently of the emitted code) to a scaled tolerance;
- ``untouched``: P(s) leaves every element that F does not constrain exactly as it was;
- ``idempotent``: P(P(s)) = P(s);
- ``nearest``: no point of F's set that the test can build is closer to s than P(s) in the
  model's metric d² = Σ γ² Δv² over F's variables: the projections of the other examples and
  of perturbations of P(s) and s, each combined with s outside F's elements and kept only if
  it satisfies F;
- ``nonexpansive`` (families whose kind says they are convex): d(P(s), P(t)) ≤ d(s, t);
- ``numpy_jax``: the NumPy and the jitted JAX projection agree to 1e-9.

For the whole model: the solvers' METRIC is the model's metric, and one `rrr_step` from the
model's `init` state and from a random state is finite in both backends, NumPy = JAX to 1e-9;
where the model has a lane program (the JAX solver's LANE_PROGRAM, lwlc/runtime/lanes.py), one
step of the lane kernel from the same states equals NumPy's to 1e-9 (``numpy_lanes``).

Large batches are shrunk (`small_batch`) unless the caller sets a batch size: the checks are
per instance, and a few items exercise every emitted slice.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from . import ir
from .compiler import Compiled, compile_model, load_solver
from .errors import LwlcError, did_you_mean
from .lower import LoweredFamily

TOL = 1e-9  # relative tolerance of the exact projections
CURVE_TOL = 1e-7  # activation sets with smooth curves: a numeric solve
JAX_TOL = 1e-9  # NumPy = JAX, relative to the magnitude of the values
SMALL_BATCH = 8  # items per batch part the checks start from (see small_batch)


@dataclass(frozen=True)
class Result:
    """One checked property: of a family's emitted projection, of the whole model's step
    (family "(model)") or of the set library (kind "library")."""

    family: str
    kind: str
    set: str
    property: str
    examples: int
    ok: bool
    worst: float | None = None  # the worst value seen (see the property); None: not measured
    detail: str = ""  # where a failure happened


@dataclass
class _Tally:
    examples: int = 0
    worst: float | None = None
    failure: str = ""
    ok: bool = True

    def see(self, value: float, ok: bool, where: str) -> None:
        if value is not None and (self.worst is None or not value <= self.worst):
            self.worst = float(value)
        if not ok and self.ok:
            self.ok, self.failure = False, where

    def fail(self, where: str) -> None:
        if self.ok:
            self.ok, self.failure = False, where


@dataclass
class _Family:
    """What the checks of one family need: its lowering, kind, elements, metric, tolerance."""

    lf: LoweredFamily
    kind: ModuleType
    index: dict[str, tuple[slice, np.ndarray]]  # var → (rows, columns) the family constrains
    metric: dict[str, np.ndarray]  # var → γ² of those columns
    tol: float
    instances: dict[str, np.ndarray]  # var → [rows, columns]: the instance of each element
    n_instances: int
    tallies: dict[str, _Tally] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.lf.family.name

    def block(self, state: dict) -> dict[str, np.ndarray]:
        """The family's elements of a state, var → [rows, columns]."""
        return {v: np.asarray(state[v])[rows, cols] for v, (rows, cols) in self.index.items()}


# --- the entry point --------------------------------------------------------------------------


def test_model(path: str | Path, overrides: dict[str, float] | None = None, examples: int = 20,
               seed: int = 0, tamper: Callable[[str, str], str] | None = None,
               families: tuple[str, ...] = (),
               progress: Callable[[str], None] | None = None) -> list[Result]:
    """Compile a model for NumPy and JAX (float64) and check the emitted projections of every
    family and one RRR step of the whole model; one Result per family and property.

    `overrides` are `--set` values; without a batch size among them, `small_batch` picks one.
    `tamper(backend, source)`, for lwlc's own tests, edits an emitted module before it loads.
    `families`: check only these (by name), and not the whole step (`lwlc test --family`).
    `progress(what)` is told what is checked next (the CLI's status line).
    """
    overrides = small_batch(path, overrides)
    if progress:
        progress("compiling for NumPy and JAX")
    np_compiled = compile_model(path, overrides, "numpy")
    jax_compiled = compile_model(path, overrides, "jax", "float64")
    sources = {"numpy": np_compiled.source, "jax": jax_compiled.source}
    if tamper is not None:
        sources = {b: tamper(b, s) for b, s in sources.items()}
    np_solver = load_solver(sources["numpy"], f"lwlc_test_{np_compiled.model.name}_numpy")
    jax_solver = load_solver(sources["jax"], f"lwlc_test_{np_compiled.model.name}_jax")
    return check_solvers(np_compiled, np_solver, jax_solver, examples, seed, families,
                         progress)


test_model.__test__ = False  # not a pytest test, despite its name


def batch_names(model: ir.Model) -> set[str]:
    """The `--set` names that size the batch: batch, its index and its parts."""
    return {"batch", model.batch.index} | {p.name for p in model.batch.parts}


def small_batch(path: str | Path, overrides: dict[str, float] | None) -> dict[str, float]:
    """`overrides` with small batch sizes: every part at most SMALL_BATCH items, doubled until
    the model elaborates and every class family that has a nonzero count (exempt, relabel,
    allow; a percentage of the batch) keeps one. Unchanged when the caller sets a batch size or
    the batch is already that small."""
    from .elaborate import load_model

    overrides = dict(overrides or {})
    model = load_model(path, overrides)
    if batch_names(model) & overrides.keys():
        return overrides
    counted = [f.name for f in model.families if isinstance(f, ir.ClassFamily) and f.count > 0]
    parts = model.batch.parts
    size = SMALL_BATCH
    while any(p.size > size for p in parts):
        if len(parts) == 1:
            trial = {**overrides, "batch": float(size)}
        else:
            trial = {**overrides, **{p.name: float(min(p.size, size)) for p in parts}}
        try:
            small = load_model(path, trial)
        except LwlcError:
            small = None
        if small is not None and all(small.family(n).count > 0 for n in counted):
            return trial
        size *= 2
    return overrides


def check_solvers(compiled: Compiled, np_solver: ModuleType, jax_solver: ModuleType,
                  examples: int = 20, seed: int = 0, families: tuple[str, ...] = (),
                  progress: Callable[[str], None] | None = None) -> list[Result]:
    """The checks of `test_model` on loaded NumPy and JAX solver modules of `compiled`."""
    model, plan = compiled.model, compiled.plan
    names = [lf.family.name for lf in plan.families]
    for name in families:
        if name not in names:
            fam = next((f for f in model.families if f.name == name), None)
            raise LwlcError(f"--family {name}: the model has no constraint family of that name"
                            if fam is None else f"--family {name}: the family has no "
                            "projection to check (it constrains nothing the solver writes)",
                            hint=did_you_mean(name, names) or
                            f"its families: {', '.join(names)}")
    rng = np.random.default_rng(seed)
    data = random_data(model, rng)
    results = [_metric_result(model, np_solver, jax_solver)]
    states = example_states(model, np_solver, data, rng, max(2, examples))
    for lf in plan.families:
        if families and lf.family.name not in families:
            continue
        fam = _family(model, lf)
        if progress:
            progress(f"constraint {fam.name} (line {lf.family.span.line}, {fam.kind.KIND})")
        np_project = functools.partial(_np_call, np_solver.project_family, fam.name)
        jax_project = _jax_call(jax_solver.jit(functools.partial(jax_solver.project_family,
                                                                 fam.name)))
        try:
            _check_family(model, fam, np_project, jax_project, states, data, rng)
        except Exception as e:  # noqa: BLE001 - an emitted projection that crashes fails
            fam.tallies.setdefault("runs", _Tally()).fail(f"{type(e).__name__}: {e}"[:300])
        results += _family_results(fam)
    if not families:
        if progress:
            progress("one RRR step of the whole model")
        results += _step_results(model, np_solver, jax_solver, data, states, seed)
    return results


# --- random data and states -------------------------------------------------------------------


def random_data(model: ir.Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs (samples too) normal, except columns that an activation family fixes: values of
    its set's forward map at random z, so the fixed-x constraint has solutions; labels uniform
    over their classes."""
    from .report import piece_tuple
    from .sets.activation import activation_inference

    data: dict[str, np.ndarray] = {}
    for inp in model.inputs.values():
        data[inp.name] = rng.normal(0.0, 1.0, size=(inp.part.size, len(inp.nodes)))
    for f in model.families:
        if isinstance(f, ir.ActivationFamily) and f.fixed is not None and f.fixed.input:
            inp = model.inputs[f.fixed.input]
            part = f.part or model.batch.whole
            rows = slice(part.start - inp.part.start, part.stop - inp.part.start)
            cols = [inp.nodes.index(n) for n in f.nodes]
            z = rng.normal(0.0, 2.0, size=(part.size, len(cols)))
            values = np.asarray(activation_inference(np, z, piece_tuple(f.set)))
            block = data[inp.name][rows]
            block[:, cols] = values
            data[inp.name][rows] = block
    for lab in model.labels.values():
        data[lab.name] = rng.integers(0, len(lab.classes), size=lab.part.size).astype(np.int64)
    return data


def example_states(model: ir.Model, np_solver: ModuleType, data: dict,
                   rng: np.random.Generator, n: int) -> list[dict[str, np.ndarray]]:
    """n random states: normal with a scale in [1, 3], and every fourth one the model's `init`
    state (from its `initial_params`) plus noise of scale 0.05-1."""
    start = _np_state(np_solver.init(np_solver.initial_params(rng), data))
    shape = {v: (model.batch.size, var.size) for v, var in model.variables.items()}
    out = []
    for i in range(n):
        if i % 4 == 3:
            noise = rng.uniform(0.05, 1.0)
            out.append({v: start[v] + rng.normal(0.0, noise, size=shape[v]) for v in shape})
            continue
        scale = rng.uniform(1.0, 3.0)
        state = {v: rng.normal(0.0, scale, size=shape[v]) for v in shape}
        if i % 4 == 1:
            _misclassify(model, state, data, rng)
        out.append(state)
    return out


def _misclassify(model: ir.Model, state: dict, data: dict, rng: np.random.Generator) -> None:
    """Make every item of every class family favour a class other than its label, so that the
    counts of exempt, relabel and allow bind."""
    for f in model.families:
        if not isinstance(f, ir.ClassFamily):
            continue
        part = f.part or model.batch.whole
        lab = model.labels[f.label]
        labels = np.asarray(data[f.label])[part.start - lab.part.start:
                                            part.stop - lab.part.start]
        n = len(f.classes)
        other = (labels + rng.integers(1, n, size=labels.shape)) % n
        cols = model.variables[f.y].positions(f.classes)
        push = 2.0 * ((np.arange(n) == other[:, None]) * 1.0 - (np.arange(n) == labels[:, None]))
        y = state[f.y]
        y[part.start:part.stop, cols] = push + rng.normal(0.0, 0.3, size=push.shape)
        if f.b:
            bcols = model.variables[f.b].positions(f.classes)
            state[f.b][part.start:part.stop, bcols] = rng.normal(0.0, 0.3, size=push.shape)


def _np_state(state: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in state.items()}


def _np_call(fn, name, state, data):
    return _np_state(fn(name, state, data))


def _jax_call(jitted):
    def call(state, data):
        return _np_state(jitted(state, data))
    return call


# --- one family -------------------------------------------------------------------------------


def _family(model: ir.Model, lf: LoweredFamily) -> _Family:
    from .kinds import kind_of

    fam = lf.family
    index = family_elements(model, lf)
    metric = {v: np.broadcast_to(np.asarray(model.variables[v].metric, dtype=np.float64),
                                 (model.variables[v].size,))[cols]
              for v, (_, cols) in index.items()}
    curved = (isinstance(fam, ir.ActivationFamily)
              and any(p.curve is not None for p in fam.set.pieces))
    instances, count = family_instances(model, lf, index)
    return _Family(lf, kind_of(fam), index, metric, CURVE_TOL if curved else TOL, instances,
                   count)


def family_elements(model: ir.Model, lf: LoweredFamily) -> dict[str, tuple[slice, np.ndarray]]:
    """var → (rows, columns): the elements the family's instances constrain, its part's rows
    and its groups' edge and node positions (or its class positions), columns sorted."""
    fam = lf.family
    part = fam.part or model.batch.whole
    out = {}
    for v in fam.variables:
        var = model.variables[v]
        cols = np.zeros(var.size, dtype=bool)
        if v in lf.class_positions:
            cols[lf.class_positions[v]] = True
        for g in lf.groups:
            if var.axis == "edges" and g.edges is not None:
                cols[g.edges.ravel()] = True
            elif v in g.positions:
                cols[g.positions[v]] = True
        out[v] = (slice(part.start, part.stop), np.nonzero(cols)[0])
    return out


def family_instances(model: ir.Model, lf: LoweredFamily,
                     index: dict[str, tuple[slice, np.ndarray]]
                     ) -> tuple[dict[str, np.ndarray], int]:
    """var → [rows, columns] instance number of each of the family's elements, and the number
    of instances. An instance is an (item, node) (a node for a consensus over items, an item
    for a class family); a class family with exempt, relabel or allow couples its items and is
    one instance. The family's set is the product of its instances' sets."""
    fam = lf.family
    part = fam.part or model.batch.whole
    per_item = not (isinstance(fam, ir.ConsensusFamily) and fam.over == "items")
    full = {v: np.full((part.size, model.variables[v].size), -1, dtype=np.int64)
            for v in index}
    if isinstance(fam, ir.ClassFamily):
        ids = np.arange(part.size) if fam.mode == "plain" else np.zeros(part.size, np.int64)
        for v, pos in lf.class_positions.items():
            full[v][:, pos] = ids[:, None]
        count = int(ids.max(initial=0)) + 1
    else:
        rows = np.arange(part.size)[:, None] if per_item else np.zeros((1, 1), np.int64)
        stride = part.size if per_item else 1
        nodes = 0
        for g in lf.groups:
            node_ids = nodes + np.arange(len(g.nodes))
            for v in index:
                if model.variables[v].axis == "edges" and g.edges is not None:
                    cols, ids = g.edges, np.broadcast_to(node_ids[:, None], g.edges.shape)
                elif v in g.positions:
                    cols, ids = g.positions[v], node_ids
                else:
                    continue
                full[v][:, cols.ravel()] = ids.ravel()[None, :] * stride + rows
            nodes += len(g.nodes)
        count = nodes * stride
    return {v: full[v][:, cols] for v, (_, cols) in index.items()}, max(count, 1)


def _dist2(fam: _Family, a: dict, b: dict) -> np.ndarray:
    """d² = Σ γ² Δv² over each instance's elements (the model's metric, eq. 15, 27); a and b
    are blocks (`_Family.block`). One value per instance."""
    total = np.zeros(fam.n_instances)
    for v, g in fam.metric.items():
        d = a[v] - b[v]
        total += np.bincount(fam.instances[v].ravel(), weights=(g * d * d).ravel(),
                             minlength=fam.n_instances)
    return total


def _magnitude(*blocks: dict) -> float:
    return max((float(np.max(np.abs(b[v]), initial=0.0)) for b in blocks for v in b),
               default=0.0)


def _violation(model, fam: _Family, state: dict, block: dict, data: dict) -> float:
    """The family's violation, relative: over (1 + M) (squared for the bilinear products),
    M the magnitude of its values."""
    if not all(np.all(np.isfinite(a)) for a in block.values()):
        return math.inf
    m = 1.0 + _magnitude(block)
    scale = m * m if isinstance(fam.lf.family, ir.BilinearFamily) else m
    return fam.kind.violation(model, fam.lf, state, data) / scale


def _perturb(fam: _Family, s: dict, eps: float, rng: np.random.Generator) -> dict:
    """s plus normal noise of scale eps on the family's elements."""
    out = dict(s)
    for v, (rows, cols) in fam.index.items():
        a = np.array(s[v], dtype=np.float64)
        a[rows, cols] += rng.normal(0.0, eps, size=(a[rows].shape[0], len(cols)))
        out[v] = a
    return out


def _outside_change(fam: _Family, s: dict, p: dict) -> tuple[float, str]:
    """The largest change P made to an element outside the family, and where."""
    worst, where = 0.0, ""
    for v in s:
        changed = ~((p[v] == s[v]) | (np.isnan(p[v]) & np.isnan(s[v])))
        if v in fam.index:
            rows, cols = fam.index[v]
            changed[rows, cols] = False
        if np.any(changed):
            with np.errstate(invalid="ignore"):
                size = float(np.nanmax(np.abs(p[v] - s[v])[changed], initial=0.0))
            if not where:
                r, c = np.argwhere(changed)[0]
                where = f"{v}[{r}, {c}] changed by {abs(p[v][r, c] - s[v][r, c]):.3g}"
            worst = max(worst, size if np.isfinite(size) else math.inf)
    return worst, where


def _finite(state: dict) -> bool:
    return all(np.all(np.isfinite(a)) for a in state.values())


FAR = 6  # other examples' projections tried per example as nearer points


def _check_family(model, fam: _Family, P, JP, states, data, rng) -> None:
    t = {p: fam.tallies.setdefault(p, _Tally()) for p in
         ("in_set", "untouched", "idempotent", "nearest")}
    if fam.kind.convex(fam.lf.family):
        t["nonexpansive"] = fam.tallies.setdefault("nonexpansive", _Tally())
    t["numpy_jax"] = fam.tallies.setdefault("numpy_jax", _Tally())
    n = len(states)
    proj = [P(s, data) for s in states]
    sb = [fam.block(s) for s in states]
    pb = [fam.block(p) for p in proj]
    viol = [_violation(model, fam, p, b, data) for p, b in zip(proj, pb, strict=True)]
    for i, (s, p) in enumerate(zip(states, proj, strict=True)):
        where = f"example {i}"
        m = 1.0 + _magnitude(sb[i], pb[i])
        for tally in t.values():
            tally.examples += 1
        # in_set
        t["in_set"].see(viol[i], viol[i] <= fam.tol,
                        f"{where}: P(s) is not finite" if not math.isfinite(viol[i]) else
                        f"{where}: P(s) violates the constraint by {viol[i]:.3g} (relative)")
        # untouched: the elements the family does not constrain keep their values
        moved, at = _outside_change(fam, s, p)
        t["untouched"].see(moved, not at, f"{where}: {at}, outside the family's elements")
        # idempotent
        ppb = fam.block(P(p, data))
        drift = max(float(np.max(np.abs(ppb[v] - pb[i][v]), initial=0.0)) for v in pb[i]) / m
        t["idempotent"].see(drift, drift <= fam.tol,
                            f"{where}: P(P(s)) moved by {drift:.3g} (relative)")
        # nearest: no point of the set built here is closer to s than P(s)
        d0 = _dist2(fam, sb[i], pb[i])
        cands = [(f"P(example {j})", pb[j], viol[j])
                 for j in ((i + k) % n for k in range(1, min(FAR, n - 1) + 1))]
        extra = [(f"P(P(s) + {eps:g} noise)", _perturb(fam, p, eps * m, rng))
                 for eps in (1e-4, 1e-2, 0.3)]
        extra.append(("P(s + 0.01 noise)", _perturb(fam, s, 0.01 * m, rng)))
        # P(s) is the nearest point to every point between s and P(s) as well
        extra.append(("P((s + P(s)) / 2)", {v: 0.5 * (s[v] + p[v]) for v in s}))
        extra.append(("P(2 s - P(s))", {v: 2.0 * s[v] - p[v] for v in s}))
        for label, start in extra:
            c = P(start, data)
            cb = fam.block(c)
            cands.append((label, cb, _violation(model, fam, c, cb, data)))
        worst = None
        for label, cb, v in cands:
            if not v <= fam.tol:
                continue  # not a point of the set; in_set reports the projection's own
            dq = _dist2(fam, sb[i], cb)
            excess = (d0 - dq) / (1.0 + dq)  # per instance: the set is their product
            k = int(np.argmax(excess))
            worst = excess[k] if worst is None else max(worst, excess[k])
            t["nearest"].see(None, excess[k] <= fam.tol,
                             f"{where}, instance {k}: {label} is closer to s than P(s): "
                             f"d² {dq[k]:.10g} < {d0[k]:.10g}")
        reference = getattr(fam.kind, "nearest_distance", None)
        if reference is not None:  # the kind knows the exact distance to its set
            dref = reference(model, fam.lf, s, data)
            excess = (float(np.sum(d0)) - dref) / (1.0 + dref)
            worst = excess if worst is None else max(worst, excess)
            t["nearest"].see(None, excess <= fam.tol,
                             f"{where}: the set's nearest point is at d² {dref:.10g}, P(s) at "
                             f"{float(np.sum(d0)):.10g}")
        t["nearest"].see(worst, True, "")
        # nonexpansive (convex families): d(P(s), P(t)) ≤ d(s, t), instance by instance
        if "nonexpansive" in t:
            near = _perturb(fam, s, 0.1 * m, rng)
            j = (i + 1) % n
            for label, tb, ptb in ((f"example {j}", sb[j], pb[j]),
                                   ("s + 0.1 noise", fam.block(near), fam.block(P(near, data)))):
                dst, dpp = _dist2(fam, sb[i], tb), _dist2(fam, pb[i], ptb)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(dst > 0, np.sqrt(dpp / dst), 0.0)
                k = int(np.argmax(dpp - dst * (1.0 + fam.tol)))
                # the violation, as in every other column: how far the ratio exceeds 1
                t["nonexpansive"].see(max(float(np.max(ratio, initial=0.0)) - 1.0, 0.0),
                                      dpp[k] <= dst[k] * (1.0 + fam.tol) + fam.tol,
                                      f"{where} and {label}, instance {k}: d(P(s), P(t)) / "
                                      f"d(s, t) = {ratio[k]:.10g}")
        # numpy_jax: the whole output state
        jp = JP(s, data)
        gap = max(float(np.max(np.abs(jp[v] - p[v]), initial=0.0)) for v in p) / m
        t["numpy_jax"].see(gap, gap <= JAX_TOL,
                           f"{where}: NumPy and JAX differ by {gap:.3g} (relative)")


def _family_results(fam: _Family) -> list[Result]:
    f = fam.lf.family
    out = []
    for prop, tally in fam.tallies.items():
        out.append(Result(f.name, f.kind, set_text(f), prop, tally.examples, tally.ok,
                          tally.worst, tally.failure))
    return out


def set_text(f: ir.Family) -> str:
    """A short name of the family's set, for the table."""
    if isinstance(f, ir.ConsensusFamily):
        side = f.side
        if side.kind == "fixed":
            return f"agree == {side.fixed.input or f'{side.fixed.constant:g}'}"
        if side.kind == "none":
            return "agree"
        args = f"({', '.join(f'{a:g}' for a in side.args)})" if side.args else ""
        return f"agree in {side.kind}{args}"
    if isinstance(f, ir.ActivationFamily):
        args = f"({', '.join(f'{a:g}' for a in f.set.args)})" if f.set.args else ""
        fixed = ""
        if f.fixed is not None:
            fixed = f", x == {f.fixed.input or f'{f.fixed.constant:g}'}"
        return f"{f.set.name}{args}{fixed}"
    if isinstance(f, ir.BilinearFamily):
        rhs = f"{f.coef:g}*{f.y}" if f.y else f.data
        return f"dot == {rhs}"
    if isinstance(f, ir.ClassFamily):
        mode = ""
        if f.mode == "allow":
            mode = f" allow {f.count} as {f.allow_label}"
        elif f.mode != "plain":
            mode = f" {f.mode} {f.count}"
        return f"margin({f.margin:g}){mode}"
    return f.kind


# --- the whole model --------------------------------------------------------------------------


def _metric_result(model: ir.Model, np_solver, jax_solver) -> Result:
    """The solvers' METRIC is the model's metric (eq. 15, 27)."""
    worst, detail = 0.0, ""
    for backend, solver in (("numpy", np_solver), ("jax", jax_solver)):
        for v, var in model.variables.items():
            want = np.broadcast_to(np.asarray(var.metric, dtype=np.float64), (var.size,))
            got = np.broadcast_to(np.asarray(solver.METRIC.get(v, np.nan), dtype=np.float64),
                                  (var.size,))
            diff = float(np.max(np.abs(got - want), initial=0.0))
            if not np.all(np.isfinite(got)) or diff > TOL * (1.0 + float(np.max(want))):
                detail = detail or f"{backend} METRIC[{v!r}] differs from the model by {diff:.3g}"
                diff = math.inf if not np.isfinite(diff) else diff
            worst = max(worst, diff)
    return Result("(model)", "metric", "METRIC", "metric", 1, not detail, worst, detail)


def _step_results(model, np_solver, jax_solver, data, states, seed) -> list[Result]:
    """One rrr_step from the model's init state and from a random state: finite in both
    backends, NumPy = JAX."""
    start = _np_state(np_solver.init(np_solver.initial_params(np.random.default_rng(seed)),
                                     data))
    finite, agree = _Tally(), _Tally()
    jitted = jax_solver.jit(jax_solver.rrr_step)
    for label, s in (("the init state", start), ("a random state", states[0])):
        try:
            ns, nerr = np_solver.rrr_step(s, data)
            js, jerr = jitted(s, data)
        except Exception as e:  # noqa: BLE001 - an emitted step that crashes fails
            finite.fail(f"from {label}: {type(e).__name__}: {e}"[:300])
            finite.examples += 1
            agree.examples += 1
            continue
        ns, js = _np_state(ns), _np_state(js)
        nerr, jerr = float(nerr), float(jerr)
        finite.examples += 1
        agree.examples += 1
        ok = _finite(ns) and _finite(js) and math.isfinite(nerr) and math.isfinite(jerr)
        finite.see(None, ok, f"from {label}: the step is not finite")
        if not ok:
            continue
        m = 1.0 + max(float(np.max(np.abs(a), initial=0.0)) for a in (*ns.values(), *s.values()))
        gap = max(max(float(np.max(np.abs(ns[v] - js[v]), initial=0.0)) for v in ns) / m,
                  abs(nerr - jerr) / (1.0 + abs(nerr)))
        agree.see(gap, gap <= JAX_TOL, f"from {label}: NumPy and JAX differ by {gap:.3g} "
                  "(relative)")
    split = f"{model.solver.method} step"
    out = [Result("(model)", "rrr_step", split, "finite", finite.examples, finite.ok,
                  None, finite.failure),
           Result("(model)", "rrr_step", split, "numpy_jax", agree.examples, agree.ok,
                  agree.worst, agree.failure)]
    if getattr(jax_solver, "LANE_PROGRAM", None) is not None:
        lanes = _lane_results(np_solver, jax_solver, data, (start, states[0]))
        out.append(Result("(model)", "rrr_step", split, "numpy_lanes", lanes.examples,
                          lanes.ok, lanes.worst, lanes.failure))
    return out


def _lane_results(np_solver, jax_solver, data, states) -> _Tally:
    """One step of the lane kernel (float64) from each state against NumPy's rrr_step."""
    import inspect

    from .runtime import lanes

    beta = inspect.signature(np_solver.rrr_step).parameters["beta"].default
    kernel = lanes.prepared(jax_solver.LANE_PROGRAM, jax_solver.METRIC, jax_solver.BATCH,
                            np.float64)
    tally = _Tally()
    for label, s in zip(("the init state", "a random state"), states, strict=True):
        tally.examples += 1
        try:
            ns, nerr = np_solver.rrr_step(s, data, beta)
            ls, _, _, lerr = kernel.solve(s, data, 1, 0.0, beta)
        except Exception as e:  # noqa: BLE001 - a kernel that crashes fails
            tally.fail(f"from {label}: {type(e).__name__}: {e}"[:300])
            continue
        ns = _np_state(ns)
        m = 1.0 + max(float(np.max(np.abs(a), initial=0.0)) for a in (*ns.values(), *s.values()))
        gap = max(max(float(np.max(np.abs(ns[v] - ls[v]), initial=0.0)) for v in ns) / m,
                  abs(float(nerr) - lerr) / (1.0 + abs(float(nerr))))
        tally.see(gap, gap <= JAX_TOL, f"from {label}: NumPy and the lane kernel differ by "
                  f"{gap:.3g} (relative)")
    return tally
