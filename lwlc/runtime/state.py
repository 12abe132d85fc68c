"""A constraint set's output, assembled from its families' blocks.

Each family function reads slices of the input state and records its writes with
``_put``;
``_assemble`` applies them. With ``JOIN_BLOCKS`` (JAX) the blocks of a variable that
tile it
for every item are concatenated instead, which spares XLA the copy of the input and the
updates in place.
"""

from __future__ import annotations

import numpy as np

xp = np
ALL = slice(None)
JOIN_BLOCKS = False  # NumPy: a copy of the input, updated in place block by block


def _fresh(a):
    return np.array(a, dtype=np.float64, copy=True)


def _assign(a, index, value):
    a[index] = value
    return a


def _copy(state, names):
    """A set's output: the input state, with a list of pending writes per touched
    variable."""
    out = dict(state)
    out["__writes__"] = {name: [] for name in names}
    return out


def _put(out, name, index, value):
    """Record out[name][index] = value; _assemble applies it."""
    out["__writes__"][name].append((index, value))


def _assemble(out):
    """Apply the recorded writes, variable by variable."""
    writes = out.pop("__writes__")
    for name, puts in writes.items():
        joined = _joined(out[name], puts) if JOIN_BLOCKS else None
        if joined is None:
            # writes that tile the variable need no copy of the input underneath them
            tiled = _tiling(out[name], puts) is not None
            joined = np.empty(out[name].shape) if tiled else _fresh(out[name])
            for index, value in puts:
                joined = _assign(joined, index, value)
        out[name] = joined
    return out


def _tiling(base, puts):
    """The writes as (start, stop, value) sorted, if they are column blocks tiling
    ``base`` for every item; else None."""
    if not all(index[0] is ALL and isinstance(index[1], slice) for index, _ in puts):
        return None
    blocks = sorted(
        ((index[1].start, index[1].stop, value) for index, value in puts),
        key=lambda block: block[0],
    )
    stops = [0] + [stop for _, stop, _ in blocks]
    if [start for start, _, _ in blocks] != stops[:-1] or stops[-1] != base.shape[1]:
        return None
    return blocks


def _joined(base, puts):
    """The writes as one concatenation, if they are column blocks tiling ``base``; else
    None."""
    blocks = _tiling(base, puts)
    if blocks is None:
        return None
    return xp.concatenate(
        [
            xp.broadcast_to(
                xp.asarray(value, dtype=base.dtype), (base.shape[0], stop - start)
            )
            for start, stop, value in blocks
        ],
        axis=1,
    )


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
