"""Property specifications of the set kinds and the checks run on them.

Each kind module defines ``SPEC = PropertySpec(...)``; ``tests/sets/test_properties.py``
and ``lwlc test MODEL.lwl`` (through :func:`check_kind`) run the same property checks on
it:

- ``in_set``: the projection lies in the set (to a tolerance);
- ``idempotent``: projecting the projection changes nothing;
- ``nearest``: no sampled point of the set (nor a brute-force/multi-start minimizer)
  is closer;
- ``nonexpansive``: ‖P(a) − P(b)‖ ≤ ‖a − b‖ in the set's metric (convex kinds only);
- ``numpy_jax``: NumPy, eager JAX and jitted JAX (float64) agree to 1e-12;
- ``inference``: for activation sets that are function graphs, (z, f(z)) lies in the
  set.

Hypothesis, SciPy and JAX are imported lazily so that importing a kind module needs
NumPy only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

PROPERTIES = (
    "in_set",
    "idempotent",
    "nearest",
    "nonexpansive",
    "numpy_jax",
    "inference",
)


@dataclass(frozen=True)
class PropertySpec:
    """What the property checks need to know about a set kind.

    ``project(xp, *args)`` returns the projected point (one array or a tuple);
    ``args[:arity]`` is the point to project, the rest are parameters (NumPy arrays are
    traced under ``jax.jit``, Python scalars, strings and tuples are static).
    ``make_args()`` returns the hypothesis strategy of ``args`` (exposed as
    ``draw_args``). ``contains(point, args, tol)`` is a boolean array over instances,
    ``distance(p, q, args)`` the squared distance in the set's metric per instance
    (``q`` may carry an extra leading sample axis), ``sample_set(args, rng, n)`` returns
    ``n`` points of the set (tuple of arrays with a leading axis ``n``) and
    ``nearest_bruteforce(args)`` an independent (multi-start, enumeration) nearest
    point.
    """

    project: Callable[..., Any]
    make_args: Callable[[], Any]
    contains: Callable[[tuple, tuple, float], np.ndarray]
    distance: Callable[[tuple, tuple, tuple], np.ndarray]
    sample_set: Callable[[tuple, np.random.Generator, int], tuple] | None
    convex: bool
    arity: int = 1
    nearest_bruteforce: Callable[[tuple], tuple] | None = None
    objective: Callable[[tuple, tuple, tuple], np.ndarray] | None = None
    idempotent: bool = True
    inference: Callable[[tuple], tuple] | None = None
    make_args_with_pieces: Callable[[tuple], Any] | None = None
    tol: float = 1e-9
    jax_eager_examples: int = 5

    @functools.cached_property
    def draw_args(self) -> Any:
        """The hypothesis strategy of argument tuples."""
        return self.make_args()

    def properties(self) -> tuple[str, ...]:
        """Names of the properties that apply to this kind."""
        out = ["in_set"]
        if self.idempotent:
            out.append("idempotent")
        if self.sample_set is not None or self.nearest_bruteforce is not None:
            out.append("nearest")
        if self.convex:
            out.append("nonexpansive")
        out.append("numpy_jax")
        if self.inference is not None:
            out.append("inference")
        return tuple(out)


@dataclass(frozen=True)
class PropertyResult:
    """Outcome of one property of one kind, as printed by ``lwlc test``."""

    kind: str
    property: str
    examples: int
    ok: bool
    counterexample: str | None = None


# --------------------------------------------------------------------------------------
# helpers


def as_tuple(r: Any) -> tuple:
    """Normalize a projection result to a tuple of NumPy arrays."""
    if not isinstance(r, tuple):
        r = (r,)
    return tuple(np.asarray(a) for a in r)


def _scale(*arrays: Any) -> float:
    m = 1.0
    for a in arrays:
        a = np.asarray(a, dtype=float)
        if a.size:
            m = max(m, float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0)))
    return m


def _point_params(spec: PropertySpec, args: tuple) -> tuple[tuple, tuple]:
    return tuple(args[: spec.arity]), tuple(args[spec.arity :])


def run_numpy(spec: PropertySpec, args: tuple) -> tuple:
    """Project with NumPy."""
    return as_tuple(spec.project(np, *args))


def _is_traced(a: Any) -> bool:
    return isinstance(a, np.ndarray | np.generic)


@functools.lru_cache(maxsize=512)
def _jitted(project: Callable, statics: tuple) -> Callable:
    import jax
    import jax.numpy as jnp

    def f(*traced: Any) -> Any:
        it = iter(traced)
        full = [next(it) if s is _TRACED else s[1] for s in statics]
        return project(jnp, *full)

    from lwlc.runtime.jax_loop import COMPILER_OPTIONS

    return jax.jit(f, compiler_options=COMPILER_OPTIONS)  # as lwlc's solvers compile


_TRACED = object()


def call_jax(fn: Callable, *args: Any, jit: bool = True, x64: bool = True) -> Any:
    """``fn(jax.numpy, *args)``: NumPy arrays are traced, everything else is static; the
    jitted function is cached per (fn, static arguments)."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(x64):
        if not jit:
            return fn(jnp, *[jnp.asarray(a) if _is_traced(a) else a for a in args])
        statics = tuple(_TRACED if _is_traced(a) else ("s", a) for a in args)
        traced = [jnp.asarray(a) for a in args if _is_traced(a)]
        return _jitted(fn, statics)(*traced)


def run_jax(spec: PropertySpec, args: tuple, jit: bool = True) -> tuple:
    """Project with ``jax.numpy`` in float64, eagerly or under ``jax.jit``."""
    return as_tuple(call_jax(spec.project, *args, jit=jit))


def _close(a: tuple, b: tuple, rtol: float) -> tuple[bool, float]:
    worst = 0.0
    for u, v in zip(a, b, strict=True):
        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        if u.shape != v.shape:
            return False, float("inf")
        if not np.array_equal(np.isfinite(u), np.isfinite(v)):
            return False, float("inf")
        fin = np.isfinite(u)
        scale = 1.0 + np.maximum(np.abs(u), np.abs(v))
        err = np.abs(u - v) / scale
        worst = max(worst, float(np.max(err[fin], initial=0.0)))
    return worst <= rtol, worst


# --------------------------------------------------------------------------------------
# the properties; each raises AssertionError with a message on failure


def check_in_set(spec: PropertySpec, args: tuple) -> None:
    r = run_numpy(spec, args)
    for a in r:
        assert np.all(np.isfinite(a)), f"non-finite projection {r}"
    ok = np.asarray(spec.contains(r, args, spec.tol))
    assert np.all(ok), f"projection {r} not in the set (ok={ok})"


def check_idempotent(spec: PropertySpec, args: tuple) -> None:
    r = run_numpy(spec, args)
    _, params = _point_params(spec, args)
    r2 = as_tuple(spec.project(np, *r, *params))
    ok, err = _close(r, r2, spec.tol)
    assert ok, f"P(P(a)) != P(a): rel err {err}; P(a)={r}, P(P(a))={r2}"


def check_nearest(spec: PropertySpec, args: tuple) -> None:
    r = run_numpy(spec, args)
    point, _ = _point_params(spec, args)
    objective = spec.objective or spec.distance
    d_r = np.asarray(objective(point, r, args), dtype=float)
    tol = spec.tol * (_scale(*point, *r) ** 2 + np.abs(d_r))
    if spec.sample_set is not None:
        rng = np.random.default_rng(12345)
        samples = spec.sample_set(args, rng, 256)
        d_s = np.asarray(objective(point, samples, args), dtype=float)
        best = np.min(d_s, axis=0)
        bad = best < d_r - tol
        assert not np.any(bad), (
            f"a sampled point is closer: best sample {best}, projection {d_r}"
        )
    if spec.nearest_bruteforce is not None:
        bf = as_tuple(spec.nearest_bruteforce(args))
        d_b = np.asarray(objective(point, bf, args), dtype=float)
        inside = np.asarray(spec.contains(bf, args, spec.tol))
        bad = inside & (d_b < d_r - tol)
        assert not np.any(bad), f"brute force is closer: {d_b} < {d_r}"


def check_nonexpansive(spec: PropertySpec, args: tuple, other: tuple) -> None:
    point, params = _point_params(spec, args)
    point_b, _ = _point_params(spec, other)
    args_b = point_b + params
    ra = run_numpy(spec, args)
    rb = run_numpy(spec, args_b)
    d_in = np.asarray(spec.distance(point, point_b, args), dtype=float)
    d_out = np.asarray(spec.distance(ra, rb, args), dtype=float)
    tol = 1e-12 * _scale(*point, *point_b) ** 2
    assert np.all(d_out <= d_in * (1.0 + 1e-9) + tol), f"expansive: {d_out} > {d_in}"


def check_numpy_jax(spec: PropertySpec, args: tuple, eager: bool = True) -> None:
    r = run_numpy(spec, args)
    runs = [("jit", True)] + ([("eager", False)] if eager else [])
    for label, jit in runs:
        rj = run_jax(spec, args, jit=jit)
        ok, err = _close(r, rj, 1e-12)
        assert ok, f"numpy vs jax ({label}) differ: rel err {err}; {r} vs {rj}"


def check_inference(spec: PropertySpec, args: tuple) -> None:
    p = as_tuple(spec.inference(args))
    ok = np.asarray(spec.contains(p, args, spec.tol))
    assert np.all(ok), f"inference point {p} not in the set"


def run_property(
    spec: PropertySpec,
    prop: str,
    args: tuple,
    other: tuple | None = None,
    example: int = 0,
) -> None:
    """Run one property on one drawn argument tuple (``other`` for ``nonexpansive``)."""
    if prop == "in_set":
        check_in_set(spec, args)
    elif prop == "idempotent":
        check_idempotent(spec, args)
    elif prop == "nearest":
        check_nearest(spec, args)
    elif prop == "nonexpansive":
        check_nonexpansive(spec, args, other if other is not None else args)
    elif prop == "numpy_jax":
        check_numpy_jax(spec, args, eager=example < spec.jax_eager_examples)
    elif prop == "inference":
        check_inference(spec, args)
    else:
        raise ValueError(f"unknown property {prop!r}")


def strategy_for(
    spec: PropertySpec,
    prop: str,
    pieces: tuple | None = None,
    modes: tuple | None = None,
) -> Any:
    """The hypothesis strategy for one property (pairs of draws for
    ``nonexpansive``); `modes` narrows a declared table's draws to the modes a model
    uses it in (x free, x fixed)."""
    from hypothesis import strategies as st

    if pieces is not None:
        if spec.make_args_with_pieces is None:
            raise ValueError("this kind takes no declared pieces")
        base = spec.make_args_with_pieces(pieces, modes)
    else:
        base = spec.draw_args
    if prop == "nonexpansive":
        return st.tuples(base, base)
    return st.tuples(base, st.none())


def check_kind(
    name: str, max_examples: int = 30, pieces: tuple | None = None, shrink: bool = True,
    seed: int | None = None, modes: tuple | None = None,
) -> list[PropertyResult]:
    """Run every applicable property of kind ``name`` with hypothesis; one result per
    property.

    ``pieces`` replaces the kind's own piece tables (``piecewise``, ``smooth``,
    ``activation``) with a user-declared one, as ``lwlc test MODEL.lwl`` does for
    declared activation sets. ``shrink=False`` reports the first failing example instead
    of a minimal one (faster). ``seed`` makes the examples reproducible (None: random).
    ``modes`` (with ``pieces``): only the modes the model uses the table in.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from lwlc.sets import REGISTRY

    spec: PropertySpec = REGISTRY[name].SPEC
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    settings_ = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=phases,
    )
    results = []
    for prop in spec.properties():
        state: dict[str, Any] = {"n": 0, "failing": None}
        runner = settings_(
            given(strategy_for(spec, prop, pieces, modes))(
                _property_runner(spec, prop, state)
            )
        )
        if seed is not None:
            runner = hypothesis_seed(seed)(runner)
        try:
            runner()
            results.append(PropertyResult(name, prop, state["n"], True))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            ce = repr(state["failing"]) if state["failing"] is not None else ""
            while isinstance(exc, ExceptionGroup) and exc.exceptions:
                exc = exc.exceptions[0]  # hypothesis's distinct failures: the first one
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            text = f"{msg} (example: {ce})" if ce else msg  # the message whole, first
            results.append(PropertyResult(name, prop, state["n"], False, text))
    return results


def _property_runner(
    spec: PropertySpec, prop: str, state: dict
) -> Callable[[tuple], None]:
    def run(pair: tuple) -> None:
        state["n"] += 1
        try:
            run_property(spec, prop, pair[0], pair[1], example=state["n"] - 1)
        except Exception:
            state["failing"] = pair
            raise

    return run


def format_results(results: list[PropertyResult]) -> str:
    """Plain-text table of property results."""
    rows = [("kind", "property", "examples", "ok", "counterexample")]
    for r in results:
        rows.append(
            (
                r.kind,
                r.property,
                str(r.examples),
                "yes" if r.ok else "NO",
                (r.counterexample or "")[:80],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


# --------------------------------------------------------------------------------------
# strategy building blocks shared by the kind modules (hypothesis imported lazily)


def float_arrays(shape: tuple, lo: float = -10.0, hi: float = 10.0) -> Any:
    """Strategy of float64 arrays of fixed ``shape`` with entries in [lo, hi]."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    return arrays(
        np.float64,
        shape,
        elements=st.floats(
            lo,
            hi,
            allow_nan=False,
            allow_infinity=False,
            allow_subnormal=False,
            width=64,
        ),
    )


def scalar(lo: float, hi: float) -> Any:
    """Strategy of 0-d float64 arrays in [lo, hi] (traced under jit)."""
    from hypothesis import strategies as st

    return st.floats(
        lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False
    ).map(lambda v: np.asarray(v, dtype=np.float64))


def multistart_minimize(
    fun: Callable[[np.ndarray], float],
    starts: list[np.ndarray],
    grad: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Best local minimizer of ``fun`` (SciPy BFGS) over ``starts``."""
    from scipy.optimize import minimize

    best, best_val = None, np.inf
    for x0 in starts:
        res = minimize(
            fun,
            np.asarray(x0, dtype=float),
            jac=grad,
            method="BFGS",
            options={"gtol": 1e-9, "maxiter": 200},
        )
        for cand in (res.x, x0):
            val = fun(cand)
            if val < best_val:
                best, best_val = np.asarray(cand, dtype=float), val
    return best
