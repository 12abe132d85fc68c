"""A training run whose state blows up: detect it, and say which constraint and items did it.

After each batch the driver checks RRR_err (finite) and the state (finite, every value within
`LIMIT`). When either fails, `diagnose` replays the batch one RRR iteration at a time from its
start to the last good state, projects that state onto each constraint family alone (set A on
the state, set B on the point RRR gives it: 2 P_A(x) - x), and names the first family whose
output is not finite (or, failing that, beyond `LIMIT`), with the batch items concerned.

In a run of several processes (jax.distributed) every process diagnoses the same batch in step:
the replay's states span the processes, and the state `diagnose` projects comes whole to each
of them through the solver's `gather` (driver.to_host, a collective) before anything is
projected or read on the host.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SolverError

LIMIT = 1e150  # a state value beyond this is exploding, even if still finite


def _peak(v) -> float:
    """max |v| (NaN if v holds a NaN)."""
    try:
        m = abs(v).max()
    except ValueError:  # empty
        return 0.0
    return float(m)


def state_ok(state: dict) -> bool:
    return all(_peak(v) <= LIMIT for v in state.values())


def _copier(solver):
    """A copy of a state the solver may consume (JAX donates the state to its compiled loop)."""
    jnp = getattr(solver, "jnp", None)
    if jnp is None:
        return lambda st: st
    return lambda st: {k: jnp.array(v, copy=True) for k, v in st.items()}


def _bad_items(arrays: dict, names, K: int, test, before: dict | None = None
               ) -> tuple[list[int], str] | None:
    """Batch items (rows) where `test` flags a value of any of the variables `names`, and
    did not flag it in `before` where given (a projection passes the elements it does not
    write through: a bad value it was given is not its doing)."""
    rows: set[int] = set()
    found = None
    for name in names:
        a = np.asarray(arrays[name])
        bad = test(a)
        if before is not None and np.shape(before[name]) == a.shape:
            bad = bad & ~test(np.asarray(before[name]))
        if not bad.any():
            continue
        found = found or name
        if a.ndim >= 1 and a.shape[0] == K:
            rows.update(np.nonzero(bad.reshape(K, -1).any(axis=1))[0].tolist())
    if found is None:
        return None
    return sorted(rows), found


def _nonfinite(a):
    return ~np.isfinite(a)


def _huge(a):
    with np.errstate(invalid="ignore"):
        return ~(np.abs(a) <= LIMIT)


def find_family(solver, model, good: dict, data: dict, only_new: bool = False):
    """(family, set, items, variable, kind) of the first family whose projection of the last
    good state is not finite (kind 'non-finite') or beyond LIMIT ('beyond 1e150'); or None.
    only_new: count only the bad values a projection makes of good ones."""
    K = model.batch.size
    fams = getattr(solver, "FAMILIES", None)
    if not fams or not hasattr(solver, "project_family"):
        return None
    from .driver import to_host

    # Each family is projected from a copy of the state held whole by this process alone
    # (JAX: as this process's own arrays, which the projections update with .at[]).
    good = to_host(solver, good)
    given_A = good if only_new else None  # what each projection of set A was given
    jnp = getattr(solver, "jnp", None)
    if jnp is not None:
        good = {k: jnp.asarray(v) for k, v in good.items()}
    results = []  # (family, set, output, written variables, what it was given)
    for name, (_, written, which) in fams.items():
        if which == "A":
            out = to_host(solver, solver.project_family(name, good, data))
            results.append((name, which, out, written, given_A))
    s = model.solver
    if hasattr(solver, "project_A"):
        pa = solver.project_A(good, data)
        if s.method == "ap":
            point = pa
        elif s.lam is None:
            point = {k: 2.0 * pa[k] - good[k] for k in good}
        else:
            point = {k: (1.0 + s.lam) * pa[k] - s.lam * good[k] for k in good}
        given_B = to_host(solver, point) if only_new else None
        for name, (_, written, which) in fams.items():
            if which == "B":
                out = to_host(solver, solver.project_family(name, point, data))
                results.append((name, which, out, written, given_B))
    for test, kind in ((_nonfinite, "non-finite values"), (_huge, f"values beyond {LIMIT:g}")):
        for name, which, out, written, given in results:
            hit = _bad_items(out, written, K, test, given)
            if hit is not None:
                return name, which, hit[0], hit[1], kind
    return None


def _items_text(items: list[int], K: int, rows: np.ndarray | None, start: int) -> str:
    if not items:
        return "values shared by all items"
    if len(items) == K:
        return f"all {K} items of the batch"

    def listed(xs) -> str:
        return ("s " if len(xs) > 1 else " ") + ", ".join(map(str, xs[:8])) + (
            ", ..." if len(xs) > 8 else "")

    head = f"batch item{listed(items)} (of {K})"
    if rows is not None:
        data_rows = [int(rows[i - start]) for i in items if 0 <= i - start < len(rows)]
        if data_rows:
            head += f", that is training item{listed(data_rows)} (counted from 0)"
    return head


def diagnose(solver, model, start: dict, data: dict, *, where: str, rows=None, part_start=0,
             kept: str = "", beta: float | None = None) -> SolverError:
    """The error to raise for a batch whose RRR diverged; `start` is the state it began from,
    `rows` the training items of its data part (which begins at batch item `part_start`)."""
    s = model.solver
    K = model.batch.size
    copy = _copier(solver)
    good, step, reproduced = start, 0, False
    with np.errstate(all="ignore"):
        if state_ok(start):
            kw = {} if beta is None else {"beta": beta}
            while step < s.iterations:
                step += 1
                nxt, _, _, err = solver.solve_batch(copy(good), data, iterations=1, **kw)
                if not math.isfinite(err) or not state_ok(nxt):
                    reproduced = True
                    break
                good = nxt
                if err < s.tolerance:
                    break
        else:
            reproduced, step = True, 0
        from .driver import to_host

        good = to_host(solver, good)  # whole on every process (a collective), as NumPy
        found = find_family(solver, model, good, data) if reproduced else None
    big = _data_peak(model, data, rows, part_start)
    hints = []
    if big is not None:
        hints.append(big)
    hints.append(_settings_hint(s))
    if kept:
        hints.append(kept)
    at = (f"{where}, iteration {step}" if step else
          f"{where} (its warm start already holds values beyond {LIMIT:g})")
    if not state_ok(start) and big is None:
        # the inference pass overflowed on data of ordinary size: no projection is to
        # blame (each would be, of the values it was given)
        bad = (_bad_items(to_host(solver, start), start, K, _nonfinite)
               or _bad_items(to_host(solver, start), start, K, _huge))
        if bad is not None:
            hints.insert(0, "the warm start is the inference pass of the parameters (Sect. "
                         "5.4): an activation set that grows fast (exp) overflows on large "
                         "data or weights")
            with np.errstate(all="ignore"):
                then = find_family(solver, model, to_host(solver, start), data, True)
            span, more = None, ""
            if then is not None:
                family, which, items, var, kind = then
                fam = next((f for f in model.families if f.name == family), None)
                span = getattr(fam, "span", None)
                more = (f"; constraint '{family}' (set {which}) makes {kind} of them in "
                        f"{var} for {_items_text(items, K, rows, part_start)}")
            return SolverError(
                f"RRR diverged in {where}: its warm start already holds non-finite or "
                f"huge values in {bad[1]} for {_items_text(bad[0], K, rows, part_start)}"
                + more, span=span, hint="; ".join(hints))
    if found is None:
        peak = max((_peak(v) for v in good.values()), default=0.0)
        if reproduced and step:  # every projection of the last good state is fine
            steps = f"β = {s.beta:g}" + ("" if s.lam is None else f", λ = {s.lam:g}")
            return SolverError(
                f"RRR diverged in {at}: the state became non-finite or exceeded {LIMIT:g} "
                f"(largest value before: {peak:.3g}), and no constraint's projection of the "
                f"last good state is to blame: the iteration's own steps ({steps}) grew it",
                span=s.span, hint="; ".join(hints))
        return SolverError(f"RRR diverged in {at}: RRR_err or the state became non-finite or "
                           f"exceeded {LIMIT:g} (largest value before: {peak:.3g})",
                           hint="; ".join(hints))
    family, which, items, var, kind = found
    fam = next((f for f in model.families if f.name == family), None)
    span = getattr(fam, "span", None)
    return SolverError(
        f"RRR diverged in {at}: constraint '{family}' (set {which}) gives {kind} in {var} for "
        f"{_items_text(items, K, rows, part_start)}",
        span=span, hint="; ".join(hints))


def _settings_hint(s) -> str:
    """What to change in the solve line: the steps the model's method takes (dr ignores
    beta, ap has none), then what is the model's own."""
    lam = [] if s.lam is None else [f"a lam nearer 1 (now {s.lam:g})"]
    steps = {"rrr": [f"a smaller beta (now {s.beta:g})", *lam],
             "dr": lam or ["rrr with a beta below 1 (dr steps with beta = 1)"],
             "ap": []}[s.method]
    return "try " + ", ".join([*steps, "other parameter values"]) + ", or rescaled data"


def _data_peak(model, data: dict, rows, part_start: int) -> str | None:
    """A note on data values large enough to overflow an RRR step (|value| >= 1e8)."""
    worst, where = 0.0, None
    for inp in model.inputs.values():
        if inp.name not in data:
            continue
        a = np.abs(np.asarray(data[inp.name], dtype=np.float64))
        if a.ndim != 2 or a.size == 0:
            continue
        i = int(np.argmax(a))
        if a.flat[i] > worst:
            worst, where = float(a.flat[i]), (inp, i // a.shape[1])
    if where is None or worst < 1e8:
        return None
    inp, item = where
    extra = ""
    if rows is not None and inp.part.start == part_start and item < len(rows):
        extra = f", training item {int(rows[item])}"
    return (f"the batch's data reach |{inp.name}| = {worst:.3g} (batch item "
            f"{inp.part.start + item}{extra})")
