"""A constraint set's output, assembled from its families' blocks.

Each family function reads slices of the input state and records its writes with
``_put``; ``_assemble`` applies them. ``_tiles`` tells whether a set's writes cover a
variable (or one of the JAX loop's blocks, lwlc/runtime/jax_blocks.py) exactly, so that
nothing of the input underneath needs copying.
"""

from __future__ import annotations

import numpy as np

xp = np
ALL = slice(None)


def _fresh(a):
    return np.array(a, dtype=np.float64, copy=True)


def _assign(a, index, value):
    a[index] = value
    return a


_host_assign = _assign  # the initial parameters' writes (the JAX runtime's differs)


def _copy(state, names):
    """A set's output: the input state, with a list of pending writes per touched
    variable."""
    out = dict(state)
    out["__writes__"] = {name: [] for name in names}
    return out


def _put(out, name, index, value):
    """Record out[name][index] = value; _assemble applies it."""
    out["__writes__"][name].append((index, value))


def _spread(value, shape):
    """A consensus value broadcast to its replicas (the JAX loop keeps it as the value
    where it can: lwlc/runtime/jax_fused.py)."""
    return xp.broadcast_to(value, shape)


def _assemble(out):
    """Apply the recorded writes, variable by variable, to a copy of the input (to a
    fresh array where the writes tile the variable), or to the input itself where the
    caller owns it ("__owned__": an RRR step's reflection, rrr.py)."""
    writes = out.pop("__writes__")
    owned = out.pop("__owned__", False)
    for name, puts in writes.items():
        base = out[name]
        if owned:  # a value that reads the input is copied before any write lands
            puts = [(i, np.array(v) if np.may_share_memory(v, base) else v)
                    for i, v in puts]
            joined = base
        elif _tiles(puts, 0, base.shape[1], base.shape[0]) is not None:
            joined = np.empty(base.shape)
        else:
            joined = _fresh(base)
        for index, value in puts:
            joined = _assign(joined, index, value)
        out[name] = joined
    return out


def _tiles(puts, lo, hi, K):
    """The writes ((rows, cols) index, value) that fall in columns lo:hi, if they tile
    [0, K) x [lo, hi) exactly as bands of rows (a batch part's), each cut into column
    ranges: [(row start, row stop, [(col start, col stop, value), ...]), ...]; else
    None. A gather, or overlapping writes, never tile."""
    bands = {}
    for (rows, cols), value in puts:
        if not isinstance(cols, slice):
            return None
        if not (cols.start < hi and lo < cols.stop):
            continue
        r = range(K)[rows]
        if r.step != 1 or not len(r):
            return None
        bands.setdefault((r.start, r.stop), []).append((cols.start, cols.stop, value))
    spans = sorted(bands)
    if not spans or [a for a, _ in spans] != [0] + [b for _, b in spans[:-1]]:
        return None
    if spans[-1][1] != K:
        return None
    out = []
    for r0, r1 in spans:
        tiles = sorted(bands[(r0, r1)], key=lambda t: t[0])
        ends = [lo] + [min(b, hi) for _, b, _ in tiles]
        if [max(a, lo) for a, _, _ in tiles] != ends[:-1] or ends[-1] != hi:
            return None
        out.append((r0, r1, tiles))
    return out


def _rows(start, n, m):
    """Index matrix of a dense block whose rows are contiguous (in(j) of a dense
    layer)."""
    return start + np.arange(n * m).reshape(n, m)


def _cols(start, n, m):
    """Index matrix of a dense block read column-wise (out(i) of a dense layer)."""
    return start + np.arange(n * m).reshape(m, n).T


def _strided(starts, stride, m):
    """Index matrix whose row i is starts[i] + stride * arange(m)."""
    return starts[:, None] + stride * np.arange(m)[None, :]


def _dense_edges(blocks):
    """(tail, head) of every edge of dense blocks, sorted by head, then tail."""
    tail = np.concatenate(
        [np.tile(np.arange(t0, t0 + nt), nh) for t0, nt, h0, nh in blocks]
    )
    head = np.concatenate(
        [np.repeat(np.arange(h0, h0 + nh), nt) for t0, nt, h0, nh in blocks]
    )
    order = np.lexsort((tail, head))
    return tail[order], head[order]
