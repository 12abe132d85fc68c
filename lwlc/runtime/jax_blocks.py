"""The JAX loop's state held as column blocks, so that no iteration splits or joins it.

Every family reads and writes whole column ranges of a variable (a dense layer's
edges, a group's nodes); ``BLOCKS`` (emitted per model) lists, per variable, the
boundaries of all those ranges. Inside the compiled loop such a variable is a
:class:`_Blocked`: one array per range between boundaries. A family's read of a range
is then its block, its write replaces the block, and the RRR update (eq. 45) and its
error run block by block, so XLA fuses the reflection, the projection and the update of
a block into a few passes over it instead of materializing concatenated copies of the
whole state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lwlc.runtime.rrr import _other_update  # bound in a solver from the same runtime
from lwlc.runtime.state import _tiles

ALL = slice(None)
_LAZY = set()  # bound in a solver to jax_fused's
_Spread = type("_Spread", (), {})  # bound in a solver to jax_fused's
BLOCKS = {}  # variable: column boundaries of its blocks (emitted per model)


@jax.tree_util.register_pytree_node_class
class _Blocked:
    """A [K, n] array held as column blocks [K, stop - start] (a pytree)."""

    __array_ufunc__ = None  # numpy_array * blocked: numpy defers to __rmul__

    def __init__(self, blocks, bounds):
        self.blocks = tuple(blocks)
        self.bounds = tuple(bounds)

    def tree_flatten(self):
        return self.blocks, self.bounds

    @classmethod
    def tree_unflatten(cls, bounds, blocks):
        return cls(blocks, bounds)

    @property
    def shape(self):
        return (self.blocks[0].shape[0], self.bounds[-1])

    @property
    def dtype(self):
        return self.blocks[0].dtype

    def joined(self):
        return jnp.concatenate(self.blocks, axis=1)

    def _spans(self):
        return zip(self.bounds[:-1], self.bounds[1:], strict=True)

    def __getitem__(self, index):
        rows, cols = index
        if isinstance(cols, slice) and cols.step is None:
            start = 0 if cols.start is None else cols.start
            stop = self.bounds[-1] if cols.stop is None else cols.stop
            pieces = [
                b[rows, max(start, lo) - lo : min(stop, hi) - lo]
                for b, (lo, hi) in zip(self.blocks, self._spans(), strict=True)
                if lo < stop and start < hi
            ]
            return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=1)
        return self.joined()[rows, cols]

    def _map(self, other, op):
        if isinstance(other, _Blocked):
            return _Blocked(
                [op(a, b) for a, b in zip(self.blocks, other.blocks, strict=True)],
                self.bounds,
            )
        if isinstance(other, int | float):  # a weak type: keeps the blocks' dtype
            return _Blocked([op(b, other) for b in self.blocks], self.bounds)
        if not isinstance(other, jax.Array):
            other = np.asarray(other, dtype=self.dtype)
        if other.ndim and other.shape[-1] == self.bounds[-1]:
            return _Blocked(
                [
                    op(b, other[..., lo:hi])
                    for b, (lo, hi) in zip(self.blocks, self._spans(), strict=True)
                ],
                self.bounds,
            )
        return _Blocked([op(b, other) for b in self.blocks], self.bounds)

    def __add__(self, other):
        return self._map(other, lambda a, b: a + b)

    def __sub__(self, other):
        return self._map(other, lambda a, b: a - b)

    def __mul__(self, other):
        return self._map(other, lambda a, b: a * b)

    def __radd__(self, other):
        return self._map(other, lambda a, b: b + a)

    def __rsub__(self, other):
        return self._map(other, lambda a, b: b - a)

    def __rmul__(self, other):
        return self._map(other, lambda a, b: b * a)

    def sum(self):
        return sum(b.sum() for b in self.blocks)

    def with_writes(self, puts):
        """The blocks after the writes ``puts`` ((rows, cols) index, value)."""
        K = self.shape[0]
        out = []
        for block, (lo, hi) in zip(self.blocks, self._spans(), strict=True):
            mine = [
                (rows, cols, value)
                for (rows, cols), value in puts
                if not isinstance(cols, slice) or (cols.start < hi and lo < cols.stop)
            ]
            tiled = _tiled(puts, lo, hi, K, block.dtype)
            if tiled is not None:  # the writes tile the block: no copy of it
                out.append(tiled)
                continue
            gathered = _gathered(puts, lo, hi, block)
            if gathered is not None:
                out.append(gathered)
                continue
            for rows, cols, value in mine:
                n = len(range(K)[rows])
                if isinstance(cols, slice):
                    a, b = cols.start, cols.stop
                    v = jnp.broadcast_to(jnp.asarray(value, block.dtype), (n, b - a))
                    block = block.at[rows, max(a, lo) - lo : min(b, hi) - lo].set(
                        v[:, max(a, lo) - a : min(b, hi) - a]
                    )
                    continue
                cols = np.asarray(cols)
                v = jnp.broadcast_to(jnp.asarray(value, block.dtype), (n, *cols.shape))
                flat, v = cols.reshape(-1), v.reshape(n, -1)
                keep = np.flatnonzero((flat >= lo) & (flat < hi))
                if keep.size:
                    block = block.at[rows, flat[keep] - lo].set(v[:, keep])
            out.append(block)
        return _Blocked(out, self.bounds)


def _tiled(puts, lo, hi, K, dtype):
    """The columns lo:hi of a [K, n] variable made of writes that tile them (_tiles),
    joined without a copy of the input; or None if they do not tile them."""
    bands = _tiles(puts, lo, hi, K)
    if bands is None:
        return None
    out = []
    for r0, r1, tiles in bands:
        parts = [
            jnp.broadcast_to(jnp.asarray(v, dtype), (r1 - r0, b - a))[
                :, max(a, lo) - a : min(b, hi) - a
            ]
            for a, b, v in tiles
        ]
        out.append(parts[0] if len(parts) == 1 else jnp.concatenate(parts, 1))
    return out[0] if len(out) == 1 else jnp.concatenate(out, 0)


def _gathered(puts, lo, hi, base):
    """``base`` (the columns lo:hi of a [K, n] variable) after writes that each cover
    every row (a whole-batch family's), some of them at index arrays (nodes grouped by
    degree, an irregular wiring): one gather from ``base`` and the written values side
    by side, where a scatter per write took one pass each (a model with 14 in-degrees
    had 42 per family). None where a write covers only some rows, or every write is a
    slice (the updates of slices are cheaper)."""
    K = base.shape[0]
    sources, width, where = [], hi - lo, np.arange(hi - lo)
    indexed = False
    for (rows, cols), value in puts:
        if range(K)[rows] != range(K):
            return None
        if isinstance(cols, slice):
            if cols.stop is None or cols.step not in (None, 1):
                return None  # its width is the whole variable's
            flat = np.arange(cols.start or 0, cols.stop)
            shape = (flat.size,)
        else:
            cols = np.asarray(cols)
            flat, shape = cols.reshape(-1), cols.shape
        keep = np.flatnonzero((flat >= lo) & (flat < hi))
        if not keep.size:
            continue
        indexed |= not isinstance(cols, slice)
        v = jnp.broadcast_to(jnp.asarray(value, base.dtype), (K, *shape)).reshape(K, -1)
        if keep.size < flat.size:
            v = v[:, keep]
        sources.append(v)
        where[flat[keep] - lo] = width + np.arange(keep.size)
        width += keep.size
    if not indexed:
        return None
    if np.all(where >= hi - lo):  # every column written: base is not read
        where = where - (hi - lo)
    else:
        sources.insert(0, base)
    joined = sources[0] if len(sources) == 1 else jnp.concatenate(sources, axis=1)
    return jnp.take(joined, where, axis=1, mode="clip")  # in bounds: no fill test


def _split_blocks(state):
    """The state with each variable of BLOCKS held as its blocks."""
    out = dict(state)
    for name, bounds in BLOCKS.items():
        if name in out:
            a = out[name]
            out[name] = _Blocked(
                [a[:, bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)],
                bounds,
            )
    return out


def _join_blocks(state):
    """Plain arrays again."""
    return {k: v.joined() if isinstance(v, _Blocked) else v for k, v in state.items()}


def _assemble(out):
    """Apply a set's recorded writes: block by block for a blocked variable, else joined
    where the writes tile the variable, else as updates of the input. The writes of a
    variable in _LAZY stay a list (jax_fused.py); other spreads become arrays."""
    writes = out.pop("__writes__")
    for name, puts in writes.items():
        if name in _LAZY:
            out[name] = list(puts)
            continue
        puts = [(i, v.dense() if isinstance(v, _Spread) else v) for i, v in puts]
        base = out[name]
        if isinstance(base, _Blocked):
            out[name] = base.with_writes(puts)
            continue
        joined = _tiled(puts, 0, base.shape[1], base.shape[0], base.dtype)
        if joined is None:
            joined = _gathered(puts, 0, base.shape[1], jnp.asarray(base))
        if joined is None:
            joined = jnp.asarray(base)
            for index, value in puts:
                joined = joined.at[index].set(jnp.asarray(value, dtype=joined.dtype))
        out[name] = joined
    return out


# Row lengths the error's reduction cuts its rows into: a reduction over a short last
# axis first, then over the partial sums. XLA's CPU loop for the error (which recomputes
# P_B - P_A inside the reduction) ran about 15% slower on whole rows (MNIST 784-20-10,
# float32: 58 against 48-51 ms per iteration).
_LANES = (16, 8, 4, 2)


def rrr_error(delta, metric, norm):
    """RRR_err (eq. 22, 27): the metric norm of a state difference, over `norm`. The
    squares of arrays of one shape (x's and w's blocks) are summed in one variadic
    reduction, which XLA computes from the state without writing the difference out."""
    groups = {}
    for name, d in delta.items():
        g = metric[name]
        if isinstance(d, _Blocked):
            for b, (lo, hi) in zip(d.blocks, d._spans(), strict=True):
                gb = jnp.asarray(g[lo:hi] if np.ndim(g) else g, b.dtype)
                groups.setdefault((b.shape, b.dtype), []).append(gb * b * b)
        else:
            g = jnp.asarray(g, d.dtype)
            groups.setdefault((d.shape, d.dtype), []).append(g * d * d)
    total = 0.0
    for terms in groups.values():
        n = terms[0].shape[-1]
        lanes = next((w for w in _LANES if n % w == 0 and n > w), None)
        if lanes is not None:  # rows as [n / lanes, lanes], summed over the lanes first
            terms = [t.reshape(t.shape[:-1] + (n // lanes, lanes)) for t in terms]
        zeros = tuple(jnp.zeros((), t.dtype) for t in terms)
        sums = jax.lax.reduce(
            tuple(terms),
            zeros,
            lambda a, b: tuple(u + v for u, v in zip(a, b, strict=True)),
            (terms[0].ndim - 1,),  # rows: XLA splits them over the cores
        )
        total = total + sum(r.sum() for r in sums)
    return jnp.sqrt(total / norm)


def _where(keep, old, new):
    """`old` where `keep` (a scalar), else `new`; either may be blocked."""
    if isinstance(old, _Blocked):
        return old._map(new, lambda a, b: jnp.where(keep, a, b))
    if isinstance(new, _Blocked):
        return new._map(old, lambda b, a: jnp.where(keep, a, b))
    return jnp.where(keep, old, new)


def rrr_update(project_A, project_B, state, data, beta, lam, method, metric, norm):
    """One iteration; returns (new state, RRR_err of P_B(2 P_A(x) - x) - P_A(x)).
    Functional (JAX arrays and blocks), so that XLA fuses it."""
    pa = project_A(state, data)
    if method == "ap" or lam is not None:
        new, err = _other_update(
            project_A, project_B, state, pa, data, beta, lam, method, metric, norm
        )
        if method == "ap":  # no step size: beta 0 (a step past the end of the
            # loop's pass, jax_loop.STEPS_PER_PASS) must keep the state, as for RRR
            new = {k: _where(beta == 0, state[k], new[k]) for k in state}
        return new, err
    pb = project_B({k: 2.0 * pa[k] - state[k] for k in state}, data)
    delta = {k: pb[k] - pa[k] for k in state}
    new = {k: state[k] + beta * delta[k] for k in state}
    return new, rrr_error(delta, metric, norm)
