"""The projection algorithms on a state (a dict of arrays): RRR (Elser eq. 45), its
generalized
form with λ (eq. 47), Douglas-Rachford (β = 1) and alternating projections, and
RRR_err."""

from __future__ import annotations

import numpy as np

from lwlc.runtime.state import _Broadcast, _Writes

xp = np


def rrr_error(delta, metric, norm):
    """RRR_err (eq. 22, 27): the metric norm of a state difference, over `norm` (NumPy:
    each sum of squares taken without a temporary)."""
    total = 0.0
    for name, d in delta.items():
        d2 = d.reshape(d.shape[0], -1)
        g = np.broadcast_to(np.asarray(metric[name], dtype=d.dtype), d2.shape[1:])
        total = total + np.einsum("ij,ij,j->", d2, d2, g)
    return xp.sqrt(total / norm)


def rrr_update(project_A, project_B, state, data, beta, lam, method, metric, norm):
    """One iteration; returns (new state, RRR_err of P_B(2 P_A(x) - x) - P_A(x)).

    NumPy: the reflection, its projection, the difference and the new state are written
    into arrays this step owns (no temporary per operation); the input state is never
    written. Where set A's writes tile a variable, P_A(x) itself is never formed: the
    reflection and the difference read its writes (of a consensus: its values)."""
    if method == "ap" or lam is not None:
        pa = project_A(state, data)
        new, err = _other_update(
            project_A, project_B, state, pa, data, beta, lam, method, metric, norm
        )
        if method == "ap" and beta == 0:  # beta 0 keeps the state, as it does for RRR
            new = {k: state[k].copy() for k in state}
        return new, err
    pa = project_A({**state, "__lazy__": True}, data)
    reflected = {k: _reflection(pa[k], state[k]) for k in state}
    # set B writes its projection into the reflection, which this step owns
    pb = project_B({**reflected, "__owned__": True}, data)
    new, total = {}, 0.0
    for k in state:  # pb's arrays are the reflection's, or fresh
        own = pb[k].flags.writeable and pb[k] is not state[k]
        new[k] = pb[k] if own else np.array(pb[k])
        total = total + _finish(new[k], pa[k], state[k], metric[k], beta)
    return new, xp.sqrt(total / norm)


def _finish(d, pa, s, g, beta):
    """RRR's last pass over a variable (eq. 45) from d = P_B(2 P_A(x) − x): δ = d −
    P_A(x), then x + β δ written into d, a block of items at a time (one pass over d
    and x, δ in the cache). Returns Σ g δ², its part of RRR_err (eq. 22, 27)."""
    d2 = d.reshape(d.shape[0], -1)
    g = np.broadcast_to(np.asarray(g, dtype=d.dtype), d2.shape[1:])
    total = 0.0
    for rows in _row_blocks(d, pa):
        _less(d, pa, rows)
        total = total + np.einsum("ij,ij,j->", d2[rows], d2[rows], g)
        if beta != 1.0:  # (times 1 is exact: skip the pass)
            d[rows] *= beta
        d[rows] += s[rows]
    return total


def _row_blocks(d, pa):
    """Slices of d's items of about 1 MB each (MNIST 784-20-10 float64: 0.30 -> 0.27 s a
    step, against 0.28 s in blocks of 256 kB), or one for all of a d of at most 4 MB or
    whose writes ``pa`` cannot be cut into items (_on_rows)."""
    if d.ndim < 2 or d.nbytes <= 1 << 22:
        return [slice(None)]
    if isinstance(pa, _Writes) and not all(_cuts(v) for _, v in pa.puts):
        return [slice(None)]
    per = max(1, (1 << 20) // max(1, d[:1].nbytes))
    return [slice(a, min(a + per, d.shape[0])) for a in range(0, d.shape[0], per)]


def _reflection(pa, s):
    """2 P_A(x) − x (eq. 45) in an array of its own; ``pa`` an array, or set A's writes
    that tile it (a _Writes)."""
    if not isinstance(pa, _Writes):
        r = np.multiply(pa, 2.0)
        r -= s
        return r
    r = np.empty(s.shape)
    for index, value in pa.puts:
        doubled = (
            value.scaled(2.0)
            if isinstance(value, _Broadcast)
            else np.multiply(value, 2.0)
        )
        blocks = _blocks(doubled, index, r, s)
        if blocks is None:
            r[index] = _dense(doubled) - s[index]
        else:
            v, (r_block, s_block) = blocks
            np.subtract(v, s_block, out=r_block)
    return r


def _less(d, pa, rows):
    """d − P_A(x) on the items ``rows``, written into d; ``pa`` an array, or set A's
    writes that tile it (a _Writes)."""
    if not isinstance(pa, _Writes):
        np.subtract(d[rows], pa[rows], out=d[rows])
        return
    for index, value in pa.puts:
        part = _on_rows(index, value, rows, d.shape[0])
        if part is None:
            continue
        index, value = part
        blocks = _blocks(value, index, d)
        if blocks is None:
            d[index] = d[index] - _dense(value)
        else:
            v, (d_block,) = blocks
            _subtract_in_place(d_block, v)


def _cuts(value):
    """Whether a write's value can be cut into items (_on_rows): an array, or a
    _Broadcast whose reshapes keep the items first (as -1)."""
    if not isinstance(value, _Broadcast):
        return True
    return all(op != "reshape" or arg[0] == -1 for op, arg in value.ops)


def _on_rows(index, value, rows, K):
    """The part of a write (index, value) on the items ``rows`` of [K, ...], or None."""
    if rows == slice(None):
        return index, value
    have, want = range(K)[index[0]], range(K)[rows]
    lo, hi = max(have.start, want.start), min(have.stop, want.stop)
    if lo >= hi:
        return None
    part = slice(lo - have.start, hi - have.start)
    if isinstance(value, _Broadcast):
        value = value.items(part)
    elif np.ndim(value) == 2 and np.shape(value)[0] == len(have):
        value = value[part]
    return (slice(lo, hi), *index[1:]), value


def _subtract_in_place(a, v):
    """a −= v, a block of a's first axis at a time where a is a strided view of more
    than two axes: for such an a NumPy runs an in-place ufunc through a copy of all of
    it (an extra array of the block's size; here one of about 256 kB, in the cache)."""
    if a.ndim <= 2 or a.flags.c_contiguous:
        np.subtract(a, v, out=a)
        return
    v = np.broadcast_to(v, a.shape)
    per = max(1, (1 << 18) // max(1, a[:1].nbytes))
    for i in range(0, a.shape[0], per):
        np.subtract(a[i : i + per], v[i : i + per], out=a[i : i + per])


def _blocks(value, index, *arrays):
    """(v, blocks): the value of a write and each array's block at ``index`` as views
    of the same shape (a _Broadcast's blocks in its own layout, v its broadcast), or
    None where a block is no view (a gather, or a reshape that would copy)."""
    if isinstance(value, _Broadcast):
        blocks = tuple(value.layout(a, index) for a in arrays)
        if any(b is None for b in blocks):
            return None
        return value.broadcast(), blocks
    if not all(isinstance(i, slice | int) for i in index):
        return None
    return value, tuple(a[index] for a in arrays)


def _dense(value):
    return value.dense() if isinstance(value, _Broadcast) else value


def _other_update(
    project_A, project_B, state, pa, data, beta, lam, method, metric, norm
):
    """Alternating projections (``method`` "ap"), or RRR with λ (eq. 47), from P_A(x)
    = ``pa``; functional, for both backends."""
    if method == "ap":
        pb = project_B(pa, data)
        delta = {k: pb[k] - pa[k] for k in state}
        return pb, rrr_error(delta, metric, norm)
    pb_x = project_B(state, data)
    left = project_B({k: (1.0 + lam) * pa[k] - lam * state[k] for k in state}, data)
    right = project_A({k: (1.0 - lam) * pb_x[k] + lam * state[k] for k in state}, data)
    delta = {k: left[k] - right[k] for k in state}
    new = {k: state[k] + beta * delta[k] for k in state}
    return new, rrr_error(delta, metric, norm)


def iterate(step, state, data, iterations, tolerance, beta):
    """Iterate `step` until RRR_err < tolerance or `iterations` steps. Returns
    (state, steps, first error, last error)."""
    first = last = None
    steps = 0
    while steps < iterations:
        state, err = step(state, data, beta)
        steps += 1
        last = float(err)
        if first is None:
            first = last
        if last < tolerance:
            break
    return state, steps, first, last
