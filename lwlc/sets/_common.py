"""Helpers shared by the set modules (copied into generated solvers via EMIT).

Annotations in emitted functions are strings ("Array", "ModuleType") so that the copied
source never evaluates them.
"""

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, TypeAlias

Array: TypeAlias = Any


def _is_jax(xp: "ModuleType") -> bool:
    """True when the array namespace ``xp`` is ``jax.numpy``."""
    return xp.__name__.startswith("jax")


def _row_sums(xp: "ModuleType", terms: "tuple") -> "tuple":
    """Sums of each array in ``terms`` over its last axis. Under JAX one variadic
    reduction: XLA computes every term from the same read of its inputs (one pass over
    x and w for the bilinear sums, not one per sum)."""
    if not _is_jax(xp):
        return tuple(xp.sum(t, axis=-1) for t in terms)
    lax = __import__("jax").lax
    zeros = tuple(xp.zeros((), t.dtype) for t in terms)
    return tuple(
        lax.reduce(
            tuple(terms),
            zeros,
            lambda a, b: tuple(u + v for u, v in zip(a, b, strict=True)),
            (terms[0].ndim - 1,),
        )
    )


def _item_mean(xp: "ModuleType", v: "Array") -> "Array":
    """The mean of ``v`` over its first axis (the batch items). Under JAX a
    matrix-vector product: XLA's CPU reduction over a leading axis of a wide array is
    up to 50x slower (133 ms against 2.3 ms for 500 x 39200 float32)."""
    if not _is_jax(xp):
        return v.mean(axis=0)
    ones = xp.full((v.shape[0],), 1.0 / v.shape[0], dtype=v.dtype)
    return (ones @ v.reshape(v.shape[0], -1)).reshape(v.shape[1:])


def _item_means(xp: "ModuleType", a: "Any", rows: "Any", cols: "Any") -> "Array":
    """The mean over the items ``rows`` of the columns ``cols`` of a [K, n] variable.
    Under JAX a matrix-vector product (``_item_mean``) of the whole variable, sliced
    after (a dot of a column slice would first copy the slice; the fused loop holds x
    and w whole, and XLA shares one dot among the slices), or of the block that holds
    the columns (the unfused loop's blocks, lwlc/runtime/jax_blocks.py)."""
    if not _is_jax(xp):
        return a[rows][:, cols].mean(axis=0)
    blocks = getattr(a, "blocks", None)
    if blocks is None:
        return _item_mean(xp, a[rows])[cols]
    if isinstance(cols, slice):
        for block, lo, hi in zip(blocks, a.bounds[:-1], a.bounds[1:], strict=True):
            if lo <= cols.start and cols.stop <= hi:
                return _item_mean(xp, block[rows])[cols.start - lo:cols.stop - lo]
    return _item_mean(xp, a[rows, cols])


def _stable_argsort(xp: "ModuleType", a: "Array") -> "Array":
    """Stable argsort over the last axis (ties: lower index first), numpy and jax
    alike."""
    if _is_jax(xp):
        return xp.argsort(a, axis=-1, stable=True)
    return xp.argsort(a, axis=-1, kind="stable")


def _descending_ranks(xp: "ModuleType", key: "Array") -> "Array":
    """Rank of each entry of ``key`` over the last axis, largest first, ties by lower
    index."""
    order = _stable_argsort(xp, -key)
    return _stable_argsort(xp, order)


def _fixed_loop(
    xp: "ModuleType",
    n: int,
    body: "Callable",
    state: "tuple",
    params: "tuple",
    elementwise: bool = False,
    until: "Callable | None" = None,
) -> "tuple":
    """Apply ``state = body(xp, state, *params)`` ``n`` times, or (with ``until``) until
    ``until(xp, old, new, *params)`` holds for every element, at most ``n`` times.

    The same ``body`` runs under NumPy and JAX, stopping after the same step; under JAX
    the loop is a ``lax.fori_loop`` / ``lax.while_loop`` (an unrolled Python loop makes
    XLA's CPU fusion blow up: 30+ s compiles for 32 Newton steps). ``state`` must be a
    tuple of arrays with their final shapes and dtypes. With ``until`` the elements of
    one call share the stopping step, so an element's last bits can depend on the
    others; under ``jax.vmap`` each mapped instance stops on its own.

    ``elementwise``: ``body`` acts on each element alone (no reduction, no axis). Under
    JAX the arrays then run flattened to one axis: XLA's CPU loops vectorize over the
    last axis only, and a short one (6 data nodes, 26 neurons) left the Newton loop of
    the bilinear projection 1.5-6.5x slower than on the flat array.
    """
    if _is_jax(xp):
        lax = __import__("jax").lax
        shape = ()
        if elementwise:
            arrays = [a for a in state + params if hasattr(a, "shape")]
            shape = __import__("numpy").broadcast_shapes(*(a.shape for a in arrays))
        # flat only when every state array has the full shape (the loop keeps its shape)
        flat = len(shape) >= 2 and all(a.shape == shape for a in state)

        def flatten(a: "Any") -> "Any":
            if not flat or not hasattr(a, "shape") or a.ndim == 0:
                return a
            return xp.broadcast_to(a, shape).reshape(-1)

        args = tuple(flatten(a) for a in params)
        start = tuple(flatten(a) for a in state)
        if until is None:
            out = lax.fori_loop(0, n, lambda i, s: body(xp, s, *args), start)
        else:

            def step(carry: "tuple") -> "tuple":
                i, old, _ = carry
                new = body(xp, old, *args)
                return i + 1, new, xp.all(until(xp, old, new, *args))

            def going(carry: "tuple") -> "Any":
                i, _, done = carry
                return (i < n) & ~done

            out = lax.while_loop(going, step, (0, start, False))[1]
        return tuple(a.reshape(shape) for a in out) if flat else out
    if until is not None:
        for _ in range(n):
            new = body(xp, state, *params)
            done = xp.all(until(xp, state, new, *params))
            state = new
            if done:
                break
        return state
    # NumPy without ``until``: body is pure, so once the sequence of states repeats
    # (a fixed point, or the last-bit two-cycle a converged Newton iteration often
    # ends in) the state after all n steps is known; stopping there gives
    # bit-identical results to running the whole budget.
    prev = None
    for i in range(n):
        new = body(xp, state, *params)
        if all(xp.array_equal(a, b) for a, b in zip(new, state, strict=True)):
            return new
        if prev is not None and all(
            xp.array_equal(a, b) for a, b in zip(new, prev, strict=True)
        ):
            return new if (n - i - 1) % 2 == 0 else state
        prev, state = state, new
    return state


def _barrier(xp: "ModuleType", values: "tuple") -> "tuple":
    """Materialize ``values`` once: under JAX an optimization barrier, so XLA cannot
    recompute (and round differently) a decision in several fusions; the identity under
    NumPy."""
    if _is_jax(xp):
        return __import__("jax").lax.optimization_barrier(values)
    return values


def _nearer(xp: "ModuleType", d: "Array", best: "Array") -> "Array":
    """Whether distance ``d`` beats ``best`` by more than rounding (16 ulps): XLA fuses
    a distance's multiply and add (FMA) where NumPy rounds twice, and an exact tie of
    two pieces went to the second under jit, to the first under NumPy (a user test)."""
    eps = xp.finfo(xp.result_type(d, best)).eps
    return d < best * (1.0 - 16.0 * eps)


def _nearest_fixed_candidate(
    xp: "ModuleType", candidates: "Iterable", zero: "Array", tol: "Array"
) -> "Array":
    """Pick among per-piece candidates (t, miss, d) for a fixed x: the smallest miss of
    x, then the nearest z (d), then the first piece. Misses within ``tol`` tie: XLA may
    fuse a t + c differently in different pieces, and rounding must not decide."""
    best_t = best_m = best_d = None
    for t, miss, d in candidates:
        if best_d is None:
            best_t, best_m, best_d = t + zero, miss + zero, d + zero
            continue
        close = xp.abs(miss - best_m) <= tol
        take = (~close & (miss < best_m)) | (close & (d < best_d))
        best_t = xp.where(take, t, best_t)
        best_m = xp.where(take, miss, best_m)
        best_d = xp.where(take, d, best_d)
    return best_t


EMIT = (
    _is_jax,
    _row_sums,
    _item_mean,
    _item_means,
    _stable_argsort,
    _descending_ranks,
    _fixed_loop,
    _barrier,
    _nearer,
    _nearest_fixed_candidate,
)
REQUIRES = ()
