"""Consensus, `agree v[...] [side]`: every replica takes one common value, which the side
constraint restricts (Elser Lemma 4.1: average, project the average with the weight multiplied
by the number of replicas, copy back).

Over edges (`agree x[k, out(i)]`) the replicas are a node's edges for one item: the node's value
is carried on them, which is what inference computes. Over items (`agree w[*, in(j)]`,
`agree b[*, j]`) the replicas are the batch's copies: the common value is a learned parameter
(Sect. 5.4: the consensus weights and biases).
"""

from __future__ import annotations

import numpy as np

from lwlc import ir
from lwlc.errors import ModelError
from lwlc.laneplan import LaneBuilder, Op, Side
from lwlc.lower import Group, Learned, LoweredFamily, Source, Which, groups_of

KIND = "consensus"
PREFERRED_SET = None  # the split decides
COVERS_BATCH = False  # without a batch loop, a consensus covers no items (over items: its part)


def touches(fam: ir.ConsensusFamily, t) -> None:
    """Its footprint (split): the replicas, per item over edges, across items over items."""
    per_item = fam.over == "edges"
    if t.model.variables[fam.var].axis == "edges":
        t.edges(fam.var, fam.direction, per_item=per_item)
    else:
        t.nodes(fam.var, per_item=per_item)


def instances(fam: ir.ConsensusFamily) -> int:
    nodes = len(fam.nodes) if fam.nodes is not None else 1
    if fam.over == "items" or fam.part is None:
        return nodes
    return fam.part.size * nodes


def reads(fam: ir.ConsensusFamily) -> tuple[set[str], set[int]]:
    """(the inputs and labels it reads, the nodes whose value it reads)."""
    fixed = fam.side.fixed
    if fixed is not None and fixed.input is not None:
        return {fixed.input}, set(fam.nodes or ())
    return set(), (set(fam.nodes or ()) if fixed is not None and fam.over == "edges" else set())


def library(fam: ir.ConsensusFamily) -> list[str]:
    """The set-library kinds its projection uses (`lwlc test`)."""
    return [fam.side.kind] if fam.side.kind not in ("none", "fixed") else []



def lower(model: ir.Model, fam: ir.ConsensusFamily, which: Which) -> LoweredFamily:
    var = model.variables[fam.var]
    nodes = tuple(fam.nodes)
    if var.axis == "edges":
        if not np.all(var.metric == var.metric[0]):
            raise ModelError(f"lowering supports a constant metric on edge variable {var.name}",
                             fam.span)
        groups = groups_of(model, nodes, fam.var, fam.direction, ())
    else:
        groups = groups_of(model, nodes, None, None, (fam.var,))
    return LoweredFamily(fam, which, groups)


def carries(model: ir.Model, fam: ir.ConsensusFamily) -> tuple[str, str] | None:
    """(edge variable, direction) on which each node's value is carried, if any."""
    if fam.over == "edges" and model.variables[fam.var].axis == "edges":
        return fam.var, fam.direction
    return None


def sources(model: ir.Model, fam: ir.ConsensusFamily) -> list[Source]:
    if fam.over == "edges" and fam.side.kind == "fixed":
        return [Source(tuple(fam.nodes), fam, fam.side.fixed)]
    return []


def learned(model: ir.Model, lf: LoweredFamily) -> list[Learned]:
    fam = lf.family
    if fam.over == "items":
        return [Learned(fam.var, fam, lf.set, lf.groups)]
    return []


def targets(model: ir.Model, fam: ir.ConsensusFamily) -> list:
    return []


def convex(fam: ir.ConsensusFamily) -> bool:
    """Consensus is a linear subspace; with a convex side constraint the family is convex."""
    return fam.side.kind in ("none", "fixed", "nonneg", "box")


def is_vector(model: ir.Model, fam: ir.ConsensusFamily) -> bool:
    """A consensus over items of an edge variable has a vector value per node (its edges);
    every other consensus has one scalar per instance, a vector of length 1."""
    return fam.over == "items" and model.variables[fam.var].axis == "edges"


def side_lines(w, fam: ir.ConsensusFamily, g: Group, gi: int, value: str = "mean") -> list[str]:
    """Project the consensus value onto the side constraint (Lemma 4.1)."""
    side, k = fam.side, fam.side.kind
    if k == "none":
        return []
    if k == "fixed":
        if side.fixed.input is None:
            return [f"{value} = xp.full_like({value}, {w.num(side.fixed.constant)})"]
        inp = w.model.inputs[side.fixed.input]
        cols = w.input_cols(inp, g.nodes, f"{fam.name}_{gi}_cols")
        rows = w.input_rows(inp, fam.part)
        return [f"{value} = data[{inp.name!r}][{rows}, {cols}]  # fixed by the data"]
    w.need(k)
    if k == "nonneg":
        return [f"{value} = nonneg_projection(xp, {value})"]
    if k == "box":
        lo, hi = side.args
        return [f"{value} = box_projection(xp, {value}, {w.num(lo)}, {w.num(hi)})"]
    # the vector sets act on the last axis: a scalar consensus is a vector of length 1
    vec, back = (value, "") if is_vector(w.model, fam) else (f"{value}[..., None]", "[..., 0]")
    if k == "sphere":
        call = f"sphere_projection(xp, {vec}, {w.num(side.args[0])})"
    elif k == "nonneg_sphere":
        call = f"nonneg_sphere_projection(xp, {vec}, {w.num(side.args[0])})"
    elif k == "sparse_nonneg":
        call = f"sparse_nonneg_projection(xp, {vec}, {int(side.args[0])})"
    else:
        raise ModelError(f"no projection onto the side constraint {k}", fam.span)
    return [f"{value} = {call}{back}"]


def emit(w, lf: LoweredFamily) -> list[str]:
    """Average the replicas, project the average, broadcast it back (Lemma 4.1)."""
    fam: ir.ConsensusFamily = lf.family
    var = w.model.variables[fam.var]
    R = w.rows(fam.part)
    lines = []
    for gi, g in enumerate(lf.groups):
        ix = w.group_index(lf, gi, g)
        idx = ix["E"] if var.axis == "edges" else ix[fam.var]
        lines.append(f"v = {idx.read('src', fam.var, R)}")
        if fam.over == "edges":
            lines.append("mean = v.mean(axis=-1)  # the consensus value (Lemma 4.1)")
        else:
            mean = idx.read_mean(f"src[{fam.var!r}]", R)
            lines.append(f"mean = {mean}  # consensus over the batch items")
        lines += side_lines(w, fam, g, gi)
        value = ("_spread(mean[..., None], v.shape)" if fam.over == "edges"
                 else "_spread(mean, v.shape)")
        lines.append(idx.put(fam.var, R, value))
    return lines


def init(w, lf: LoweredFamily) -> list[str]:
    """Replicas over items start at the learned value; over edges, at the node's value."""
    fam: ir.ConsensusFamily = lf.family
    var = w.model.variables[fam.var]
    R = w.rows(fam.part)
    lines = []
    for gi, g in enumerate(lf.groups):
        ix = w.group_index(lf, gi, g)
        if fam.over == "items":
            idx = ix["E"] if var.axis == "edges" else ix[fam.var]
            lines.append(w.init_put(fam, fam.var, idx, idx.read1(f"params[{fam.var!r}]")))
        elif var.axis == "edges":
            nodes = w.node_index(g.nodes, f"{fam.name}_{gi}_nodes")
            lines.append(w.init_put(fam, fam.var, ix["E"], f"X[{R}][:, {nodes}, None]"))
    return lines


# the side constraints the lane kernel projects onto, per replica axis
_LANE_SIDES = {"edges": {"none": Side.NONE, "nonneg": Side.NONNEG, "box": Side.BOX,
                         "sparse_nonneg": Side.SPARSE_NONNEG, "sphere": Side.SPHERE,
                         "nonneg_sphere": Side.NONNEG_SPHERE},
               "items": {"none": Side.NONE, "nonneg": Side.NONNEG, "box": Side.BOX,
                         "sphere": Side.SPHERE, "nonneg_sphere": Side.NONNEG_SPHERE,
                         "sparse_nonneg": Side.SPARSE_NONNEG}}


def lane_ops(b: LaneBuilder, lf: LoweredFamily) -> None:
    """One op per group: the replicas of each node (its edges' rows, per item) or of each
    element (a row's lanes, over items), averaged, projected onto the side constraint,
    copied back (Lemma 4.1)."""
    fam: ir.ConsensusFamily = lf.family
    var = b.model.variables[fam.var]
    side, kind = fam.side, fam.side.kind
    for g in lf.groups:
        positions = g.edges if var.axis == "edges" else g.positions[fam.var][:, None]
        rows = b.var_rows(fam.var, positions)
        n, m = rows.shape
        ints, floats, code = [rows], [], _LANE_SIDES[fam.over].get(kind)
        if kind == "fixed" and side.fixed.input is None:
            code, floats = Side.FIXED_CONST, [side.fixed.constant]
        elif kind == "fixed" and fam.over == "edges":
            code = Side.FIXED_DATA
            ints.append(b.input_rows(side.fixed.input, g.nodes))
        elif kind == "box":
            floats = list(side.args)
        elif kind in ("sphere", "nonneg_sphere", "sparse_nonneg"):
            floats = [side.args[0]]
        if code is None:
            raise b.unsupported(f"the lane kernel has no rule for a consensus over {fam.over} "
                                f"with side constraint {kind}")
        op = Op.CONSENSUS_EDGES if fam.over == "edges" else Op.CONSENSUS_ITEMS
        b.add(op, fam.part, n, m, ints, floats, code)


# --- membership, for `lwlc test` (lwlc/modeltest.py): written from the definition, not from
# the emitted projection -------------------------------------------------------------------


def part_rows(model: ir.Model, part: ir.SubBatch | None) -> slice:
    """The state rows of a family's batch items (its part, or the whole batch)."""
    part = part or model.batch.whole
    return slice(part.start, part.stop)


def fixed_values(model: ir.Model, part: ir.SubBatch | None, fixed: ir.Fixed,
                 nodes: tuple[int, ...], data: dict) -> np.ndarray:
    """[items, nodes]: the value an input (or a constant) fixes for `nodes` on a part's items."""
    part = part or model.batch.whole
    if fixed.input is None:
        return np.full((part.size, len(nodes)), float(fixed.constant))
    inp = model.inputs[fixed.input]
    cols = [inp.nodes.index(n) for n in nodes]
    a = np.asarray(data[inp.name], dtype=np.float64)
    return a[part.start - inp.part.start:part.stop - inp.part.start][:, cols]


def _side_violation(fam: ir.ConsensusFamily, value: np.ndarray, vector: bool) -> float:
    """How far consensus values are from the side constraint; `value` is [..., m] for a vector
    consensus (over items of an edge variable), else [...] scalars. Fixed values: the caller."""
    kind, args = fam.side.kind, fam.side.args
    if kind in ("none", "fixed") or value.size == 0:
        return 0.0
    neg = float(np.max(np.maximum(-value, 0.0)))
    if kind == "nonneg":
        return neg
    if kind == "box":
        lo, hi = args
        return float(np.max(np.maximum(np.maximum(lo - value, value - hi), 0.0)))
    if not vector:  # sphere & co. on a scalar: a vector of length 1
        value = value[..., None]
    if kind == "sphere":
        return float(np.max(np.abs(np.linalg.norm(value, axis=-1) - args[0])))
    if kind == "nonneg_sphere":
        return max(neg, float(np.max(np.abs(np.linalg.norm(value, axis=-1) - args[0]))))
    if kind == "sparse_nonneg":
        s = int(args[0])
        mags = -np.sort(-np.abs(value), axis=-1)  # descending
        excess = float(np.max(mags[..., s])) if s < value.shape[-1] else 0.0
        return max(neg, excess)  # the (s+1)-th largest magnitude must be zero
    raise ModelError(f"constraint {fam.name}: no membership test for side {kind}", fam.span)


def violation(model: ir.Model, lf: LoweredFamily, state: dict, data: dict) -> float:
    """The largest violation of a consensus family by `state` over all its instances: how far
    a replica is from the replicas' mean (over a node's edges for each item, or over the items
    for each node), and how far that mean is from the side constraint (fixed value, nonneg,
    box, sphere norm, nonneg & sphere, at most s nonzeros). 0 when the state satisfies it."""
    fam: ir.ConsensusFamily = lf.family
    a = np.asarray(state[fam.var], dtype=np.float64)[part_rows(model, fam.part)]
    worst = 0.0
    for g in lf.groups:
        if g.edges is not None:
            v = a[:, g.edges]  # [items, n, m]
        else:
            v = a[:, g.positions[fam.var]][..., None]  # [items, n, 1]
        if v.size == 0:
            continue
        if fam.over == "edges":
            value = v.mean(axis=-1)  # [items, n]
            spread = np.abs(v - value[..., None])
            vector = False
        else:
            value = v.mean(axis=0)  # [n, m]
            spread = np.abs(v - value)
            vector = g.edges is not None
            if not vector:
                value = value[..., 0]
        worst = max(worst, float(np.max(spread)), _side_violation(fam, value, vector))
        if fam.side.kind == "fixed":
            fixed = fam.side.fixed
            if fam.over == "edges":
                want = fixed_values(model, fam.part, fixed, g.nodes, data)
            elif fixed.input is None:
                want = np.full(value.shape, float(fixed.constant))
            else:
                raise ModelError(f"constraint {fam.name}: a consensus over items cannot equal "
                                 "per-item data", fam.span)
            if vector and want.ndim == value.ndim - 1:
                want = want[..., None]
            worst = max(worst, float(np.max(np.abs(value - want))))
    return worst
