"""A constraint set's output, assembled from its families' blocks.

Each family function reads slices of the input state and records its writes with
``_put``; ``_assemble`` applies them. ``_tiles`` tells whether a set's writes cover a
variable (or one of the JAX loop's blocks, lwlc/runtime/jax_blocks.py) exactly, so that
nothing of the input underneath needs copying.
"""

from __future__ import annotations

import math

import numpy as np

xp = np
ALL = slice(None)


# An RRR step leaves set A's writes unapplied (_Writes) for variables of at least this
# many bytes; a smaller P_A costs less to form than its writes do to read one by one
# (LEDM m = 6 under NumPy: 0.42 against 0.51 ms a step)
LAZY_BYTES = 1 << 20


def _fresh(a):
    return np.array(a, dtype=np.float64, copy=True)


def _assign(a, index, value):
    if isinstance(value, _Broadcast):  # a large one through a view of its block
        block = value.layout(a, index) if value.nbytes >= LAZY_BYTES else None
        if block is not None:
            np.copyto(block, value.broadcast())
            return a
        value = value.dense()
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


def _owned(src):
    """Whether a family may write its projection into the arrays it reads from `src`:
    an RRR step's reflection, which the step owns (rrr.py)."""
    return bool(src.get("__owned__", False))


def _spread(value, shape):
    """A consensus value broadcast to its replicas, kept as its value (the JAX loop's
    own keeps it where it can: lwlc/runtime/jax_fused.py)."""
    return _Broadcast(value, shape)


class _Broadcast:
    """``broadcast_to(value, shape)`` and the reshapes and transposes applied to it,
    kept as the value: a reshape after a transpose would copy a broadcast of the whole
    block. Written, it goes through a view of its block (``layout``): the ops that are
    views of the broadcast are done on it (``broadcast``), the rest undone on the
    block."""

    def __init__(self, value, shape, ops=()):
        self.value, self.base, self.ops = value, tuple(shape), tuple(ops)
        self._viewed = None

    @property
    def shapes(self):
        """The shape before each op and after the last."""
        out = [self.base]
        for op, arg in self.ops:
            s = out[-1]
            if op == "transpose":
                out.append(tuple(s[i] for i in arg))
                continue
            known = math.prod(n for n in arg if n != -1)
            out.append(tuple(math.prod(s) // known if n == -1 else n for n in arg))
        return out

    @property
    def shape(self):
        return self.shapes[-1]

    def reshape(self, *shape):
        return _Broadcast(self.value, self.base, self.ops + (("reshape", shape),))

    def transpose(self, *axes):
        return _Broadcast(self.value, self.base, self.ops + (("transpose", axes),))

    def items(self, part):
        """The broadcast on the items ``part`` (a slice) of its first axis alone."""
        n = len(range(self.base[0])[part])
        v = np.asarray(self.value)
        per_item = v.ndim == len(self.base) and v.shape[0] == self.base[0] != 1
        value = v[part] if per_item else self.value
        return _Broadcast(value, (n, *self.base[1:]), self.ops)

    def scaled(self, factor):
        """The same broadcast of factor × its value."""
        return _Broadcast(np.multiply(self.value, factor), self.base, self.ops)

    def broadcast(self):
        """The broadcast with its leading ops that are views of it done (a view, of
        ``layout``'s shape)."""
        if self._viewed is None:
            b, done = np.broadcast_to(self.value, self.base), 0
            for op, arg in self.ops:
                if op == "transpose":
                    b = b.transpose(arg)
                else:
                    try:
                        b = np.reshape(b, arg, copy=False)
                    except ValueError:
                        break
                done += 1
            self._viewed, self._done = b, done
        return self._viewed

    @property
    def nbytes(self):
        return math.prod(self.base) * np.asarray(self.value).itemsize

    def __array__(self, dtype=None, copy=None):
        return np.array(self.dense(), dtype=dtype, copy=True if copy is None else copy)

    def dense(self):
        a = np.broadcast_to(self.value, self.base)
        for op, arg in self.ops:
            a = a.reshape(arg) if op == "reshape" else a.transpose(arg)
        return a

    def layout(self, a, index):
        """The block a[index] as a view shaped as ``broadcast()``: the ops it leaves
        undone, undone on the block. None where a[index] is no view (a gather) or
        undoing a reshape would copy."""
        if not all(isinstance(i, slice | int) for i in index):
            return None
        block = a[index]
        self.broadcast()
        if self._done == len(self.ops):
            return block
        undone = zip(
            self.ops[self._done :][::-1],
            self.shapes[self._done : -1][::-1],
            strict=True,
        )
        for (op, arg), before in undone:
            if op == "transpose":
                block = block.transpose(np.argsort(arg))
                continue
            try:
                block = np.reshape(block, before, copy=False)
            except ValueError:
                return None
        return block


def _assemble(out):
    """Apply the recorded writes, variable by variable, to a copy of the input (to a
    fresh array where the writes tile the variable), or to the input itself where the
    caller owns it ("__owned__": an RRR step's reflection, rrr.py). Where the caller
    asked for them ("__lazy__": set A's projection in an RRR step), the writes that tile
    a variable are returned as they are (a _Writes)."""
    writes = out.pop("__writes__")
    owned = out.pop("__owned__", False)
    lazy = out.pop("__lazy__", False)
    for name, puts in writes.items():
        base = out[name]
        if owned:  # a value that reads the input is copied before any write lands
            puts = [
                (i, _detached(v, base)) for i, v in puts if not _in_place(v, base, i)
            ]
            joined = base
        elif _tiles(puts, 0, base.shape[1], base.shape[0]) is None:
            joined = _fresh(base)
        elif lazy and base.nbytes >= LAZY_BYTES:
            out[name] = _Writes(puts, base.shape)
            continue
        else:
            joined = np.empty(base.shape)
        for index, value in puts:
            joined = _assign(joined, index, value)
        out[name] = joined
    return out


class _Writes:
    """A set's writes (index, value) that tile a [K, n] variable, not yet applied."""

    def __init__(self, puts, shape):
        self.puts, self.shape = puts, shape


def _detached(value, base):
    """`value`, copied if it reads `base` (which the writes are about to change)."""
    if isinstance(value, _Broadcast):
        if np.may_share_memory(value.value, base):
            return _Broadcast(np.array(value.value), value.base, value.ops)
        return value
    return np.array(value) if np.may_share_memory(value, base) else value


def _in_place(value, base, index):
    """Whether `value` is the block base[index] itself: its family wrote it in place."""
    owner = base if base.base is None else base.base  # (a view's base is its owner)
    if not isinstance(value, np.ndarray) or value.base is not owner:
        return False
    if not all(isinstance(i, slice | int) for i in index):
        return False
    block = base[index]
    return (
        value.__array_interface__["data"][0] == block.__array_interface__["data"][0]
        and value.shape == block.shape
        and value.strides == block.strides
    )


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
