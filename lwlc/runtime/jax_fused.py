"""The JAX loop's fused iteration: set A's broadcasts kept low-rank, and the bilinear
rows of set B, the RRR update and its error done in one pass over x and w by the
kernel of lwlc/runtime/fused.py.

``FUSED_ROWS`` (emitted per model) lists the bilinear families of set B over the edge
variables that no other family of B touches. While ``_fused_update`` traces set A,
``_spread`` returns a :class:`_Spread` (a consensus value and the map from the
broadcast's elements to it) instead of the broadcast array, and ``_assemble`` leaves
the fused variables' writes as they are. Where those writes cover x and w exactly, as
tables the kernel reads, the iteration is fused; otherwise (a family of A that writes
x or w otherwise, or leaves elements untouched) it is the unfused step, decided when
the loop is traced. The unfused step is the reference: tests/test_fused.py compares the
two.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lwlc.runtime.jax_blocks import _assemble  # bound in a solver from the same runtime
from lwlc.runtime.jax_loop import cpu_kernel_on
from lwlc.runtime.state import _copy, _put

FUSED_EDGE_PASS = True  # emitted per model: whether the pass is the default
FUSED_ROWS = ()  # bilinear families of set B the edge pass projects (emitted per model)
METRIC = {}  # the model's metric weights (emitted per model)
_LAZY = set()  # the variables whose writes set A leaves as spreads while it is traced


class _Spread:
    """``broadcast_to(value, shape)`` kept as its value: the consensus values and, for
    each element of the broadcast (after the reshapes and transposes applied to it),
    the position of its value (``slots``). ``per_item``: the value has one row per item
    (a node's value on its edges); otherwise one value for all items (a weight)."""

    def __init__(self, value, shape, ops=()):
        self.value, self.base, self.ops = value, tuple(shape), tuple(ops)
        v = value.shape
        self.per_item = len(v) == len(self.base) and v[0] != 1
        inner = v[1:] if len(v) == len(self.base) else v
        n = int(np.prod(inner, dtype=np.int64))
        slots = np.broadcast_to(np.arange(n).reshape(inner), self.base[1:])
        for op, arg in self.ops:
            slots = slots.reshape(arg[1:]) if op == "reshape" else slots.transpose(arg)
        self.slots = slots

    @property
    def shape(self):
        return (self.base[0],) + self.slots.shape

    def reshape(self, *shape):
        shape = (self.base[0],) + tuple(shape[1:])
        return _Spread(self.value, self.base, self.ops + (("reshape", shape),))

    def transpose(self, *axes):
        assert axes[0] == 0, "a spread keeps its item axis first"
        inner = tuple(a - 1 for a in axes[1:])
        return _Spread(self.value, self.base, self.ops + (("transpose", inner),))

    def table(self):
        """The values as the kernel reads them: [items, slots], or [slots]."""
        if self.per_item:
            return self.value.reshape(self.value.shape[0], -1)
        return self.value.reshape(-1)

    def dense(self):
        """The broadcast array itself (the unfused step's value)."""
        a = jnp.broadcast_to(self.value, self.base)
        for op, arg in self.ops:
            if op == "reshape":
                a = a.reshape(arg)
            else:
                a = a.transpose((0,) + tuple(i + 1 for i in arg))
        return a


def _spread(value, shape):
    """``broadcast_to(value, shape)``, or its :class:`_Spread` while set A is traced for
    the fused iteration."""
    if _LAZY:
        return _Spread(value, shape)
    return jnp.broadcast_to(value, shape)


def _band_slots(puts, K, E, bands):
    """Per item band, where each column of an edge variable finds its P_A value: the
    slot in the per-item table (-1: none) and in the per-edge table, and the tables'
    pieces. None unless set A's writes are spreads that cover every element once."""
    items, edges = [], []
    n_item = n_edge = 0
    cover = [np.zeros(E, np.int64) for _ in bands]
    item_slot = [np.full(E, -1, np.int64) for _ in bands]
    edge_slot = [np.full(E, -1, np.int64) for _ in bands]
    if not isinstance(puts, list):  # set A does not write the variable
        return None
    for (rows, cols), value in puts:
        if not isinstance(value, _Spread) or not isinstance(rows, slice):
            return None
        r = range(K)[rows]
        if r.step != 1:
            return None
        if isinstance(cols, slice):
            cols = np.arange(cols.start, cols.stop)
        cols, slots = np.asarray(cols).reshape(-1), value.slots.reshape(-1)
        if cols.size != slots.size:
            return None
        if value.per_item:
            t = value.table()
            items.append((r.start, r.stop, t))
            slots, n_item = slots + n_item, n_item + t.shape[1]
        elif r.start == 0 and r.stop == K:
            t = value.table()
            edges.append(t)
            slots, n_edge = slots + n_edge, n_edge + t.shape[0]
        else:
            return None
        for b, (k0, k1) in enumerate(bands):
            if r.start <= k0 and k1 <= r.stop:
                np.add.at(cover[b], cols, 1)
                (item_slot if value.per_item else edge_slot)[b][cols] = slots
    if any(np.any(c != 1) for c in cover):
        return None
    return item_slot, edge_slot, items, edges, n_item, n_edge


def _tables(items, edges, n_item, n_edge, K, dtype):
    """The per-item table [K, n_item + 1] and the per-edge table [n_edge + 1], each
    ending in a 0 (the slot of elements the other table holds)."""
    cols = [jnp.pad(t.astype(dtype), ((k0, K - k1), (0, 0))) for k0, k1, t in items]
    t_item = jnp.concatenate(cols + [jnp.zeros((K, 1), dtype)], axis=1)
    t_edge = jnp.concatenate([t.astype(dtype) for t in edges] + [jnp.zeros(1, dtype)])
    return t_item, t_edge


def _run_mode(item, edge, zero_item, zero_edge):
    """How a row reads its P_A values (lwlc/runtime/fused.py: ITEM_RUN, EDGE_RUN,
    GATHER), and its item and edge slots with the tables' zero slot for "none"."""
    if np.all(item >= 0) and np.all(np.diff(item) == 1):
        return 0, item, np.full_like(edge, zero_edge)
    if np.all(edge >= 0) and np.all(np.diff(edge) == 1):
        return 1, np.full_like(item, zero_item), edge
    return 2, np.where(item >= 0, item, zero_item), np.where(edge >= 0, edge, zero_edge)


def _fused_update(project_A, families, state, data, beta, metric, norm):
    """One RRR iteration (eq. 45) with the bilinear rows of ``FUSED_ROWS`` done by the
    edge pass; None where set A's writes of x and w are not spreads covering them."""
    from lwlc.runtime.fused import register

    xv, wv = FUSED_ROWS[0]["x"], FUSED_ROWS[0]["w"]
    _LAZY.update((xv, wv))
    try:
        pa = project_A(state, data)
    finally:
        _LAZY.clear()
    K, E = state[xv].shape
    dtype = state[xv].dtype
    cuts = {0, K}
    for v in (xv, wv):
        for (rows, _), _value in pa[v] if isinstance(pa[v], list) else ():
            r = range(K)[rows] if isinstance(rows, slice) else range(0)
            cuts |= {r.start, r.stop}
    for row in FUSED_ROWS:
        cuts |= set(row["items"])
    bands = list(zip(sorted(cuts)[:-1], sorted(cuts)[1:], strict=True))
    found = {v: _band_slots(pa[v], K, E, bands) for v in (xv, wv)}
    if any(f is None for f in found.values()):
        return None
    tables = {}
    for v, (_, _, items, edges, n_item, n_edge) in found.items():
        tables[v] = _tables(items, edges, n_item, n_edge, K, dtype)
    nodes = [k for k in state if k not in (xv, wv)]
    reflected = {k: 2.0 * pa[k] - state[k] for k in nodes}

    rows, coefs, index, ry, y_puts = [], [], [[], [], [], [], []], [], []
    off = first = 0
    for row in FUSED_ROWS:
        yv, inp, shift, (r0, r1) = row["y"], row["input"], row["first"], row["items"]
        coef, gx, gw, groups = row["c"], row["gx"], row["gw"], row["groups"]
        sx, sw = float(np.sqrt(gx)), float(np.sqrt(gw))
        for edges_of, where in groups:
            edges_of, where = np.asarray(edges_of), np.asarray(where)
            if yv is not None:
                ginv = (
                    1.0
                    / np.broadcast_to(
                        np.asarray(metric[yv], np.float64), (state[yv].shape[1],)
                    )[where]
                )
                values = reflected[yv][:, where]
            else:
                ginv = np.zeros(where.size)
                values = data[inp][r0 - shift : r1 - shift][:, where]
                values = jnp.pad(values, ((r0, K - r1), (0, 0)))
            ry.append(values.astype(dtype))
            for i, pos in enumerate(edges_of):
                for b, (k0, k1) in enumerate(bands):
                    if not (r0 <= k0 and k1 <= r1):
                        continue
                    modes, slots = [], []
                    for v in (xv, wv):
                        item_slot, edge_slot, _, _, n_item, n_edge = found[v]
                        mode, si, se = _run_mode(
                            item_slot[b][pos], edge_slot[b][pos], n_item, n_edge
                        )
                        modes.append(mode)
                        slots += [si, se]
                    contiguous = bool(np.all(np.diff(pos) == 1))
                    rows.append(
                        [
                            k0,
                            k1,
                            pos.size,
                            off,
                            pos[0] if pos.size else 0,
                            int(contiguous),
                            modes[0],
                            modes[1],
                            first + i,
                        ]
                    )
                    coefs.append([coef * sx * sw, sx, sw, ginv[i]])
                    for a, s in zip(index, [pos] + slots, strict=True):
                        a.append(s)
                    off += pos.size
            if yv is not None:
                y_puts.append((yv, r0, r1, where, first))
            first += where.size
    if not rows:
        return None
    ry = jnp.concatenate(ry, axis=1)
    index = np.stack([np.concatenate(a) if a else np.zeros(0, np.int64) for a in index])
    # float32 runs (JAX without x64) pass their tables in float32 and int32
    itype = np.int64 if dtype == np.float64 else np.int32
    shapes = (
        jax.ShapeDtypeStruct((K, E), dtype),
        jax.ShapeDtypeStruct((K, E), dtype),
        jax.ShapeDtypeStruct(ry.shape, dtype),
        jax.ShapeDtypeStruct((1,), dtype),
    )
    x_new, w_new, y_b, err_edges = jax.ffi.ffi_call(
        register(np.dtype(dtype).name), shapes, input_output_aliases={0: 0, 1: 1}
    )(
        state[xv],
        state[wv],
        *tables[xv],
        *tables[wv],
        ry,
        np.asarray(rows, itype),
        np.asarray(coefs, dtype),
        np.asarray(index, itype),
        jnp.asarray(beta, dtype).reshape(1),
    )
    # set B's other families, on the reflected node variables; the rows' y from the pass
    out = _copy(
        reflected,
        sorted(
            {v for _, touched in families for v in touched} | {p[0] for p in y_puts}
        ),
    )
    for function, _ in families:
        function(reflected, out, data)
    for yv, r0, r1, where, first in y_puts:
        _put(out, yv, (slice(r0, r1), where), y_b[r0:r1, first : first + where.size])
    pb = _assemble(out)
    new = {xv: x_new, wv: w_new}
    total = err_edges[0]
    for k in nodes:
        d = pb[k] - pa[k]
        new[k] = state[k] + beta * d
        g = jnp.asarray(
            np.broadcast_to(np.asarray(metric[k], np.float64), (d.shape[-1],)), d.dtype
        )
        total = total + jnp.sum(g * d * d)
    return new, jnp.sqrt(total / norm)


def fused_edge_pass():
    """Whether solve_batch runs the fused iteration: by default where FUSED_EDGE_PASS
    says so (LWLC_FUSED=1 turns it on, 0 off), on one CPU device in one process (the
    pass is a CPU kernel and does not split the batch), with numba there."""
    return cpu_kernel_on("LWLC_FUSED", FUSED_EDGE_PASS, "lwlc.runtime.fused")
