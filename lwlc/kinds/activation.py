"""Activation, `(y[k, i] - b[k, i], agree x[k, out(i)] [== d[k, i]]) in SET`: a neuron's input
z = y − b and the consensus x of its output edges lie in an activation set (Elser eq. 26a,c, 29),
projected jointly by Lemma 4.1 with the (z, x) set as side constraint and the metric weights of
y, b and the replicas of x. With `== d` x is also fixed (the autoencoder's data and code layers,
eq. 38b-d): the node is a source of inference, and f(y − b) there is a prediction of d (eq. 40).
A node with x fixed may have no edges (a Boolean network's output unit): its group has edges
None, and z alone is projected onto where the set takes the value.
"""

from __future__ import annotations

import numpy as np

from lwlc import ir
from lwlc.laneplan import LaneBuilder, Op, Side
from lwlc.lower import Learned, LoweredFamily, Source, Target, Which, groups_of

KIND = "activation"
PREFERRED_SET = None
COVERS_BATCH = True


def touches(fam: ir.ActivationFamily, t) -> None:
    t.nodes(fam.y)
    if fam.b:
        t.nodes(fam.b)
    t.edges(fam.x, fam.direction)


def instances(fam: ir.ActivationFamily) -> int:
    return (fam.part.size if fam.part is not None else 1) * len(fam.nodes or ())


def reads(fam: ir.ActivationFamily) -> tuple[set[str], set[int]]:
    used = {fam.fixed.input} if fam.fixed is not None and fam.fixed.input else set()
    return used, set(fam.nodes or ())


def library(fam: ir.ActivationFamily) -> list[str]:
    return ["activation"]



def lower(model: ir.Model, fam: ir.ActivationFamily, which: Which) -> LoweredFamily:
    node_vars = (fam.y,) + ((fam.b,) if fam.b else ())
    return LoweredFamily(fam, which, groups_of(model, tuple(fam.nodes), fam.x, fam.direction,
                                               node_vars, edgeless=fam.fixed is not None))


def carries(model: ir.Model, fam: ir.ActivationFamily) -> tuple[str, str] | None:
    return fam.x, fam.direction


def sources(model: ir.Model, fam: ir.ActivationFamily) -> list[Source]:
    if fam.fixed is not None:
        return [Source(tuple(fam.nodes), fam, fam.fixed)]
    return []


def learned(model: ir.Model, lf: LoweredFamily) -> list[Learned]:
    return []


def targets(model: ir.Model, fam: ir.ActivationFamily) -> list[Target]:
    if fam.fixed is not None and fam.fixed.input is not None:
        part = fam.part or model.batch.whole
        return [Target(fam.name, "value", fam, part, tuple(fam.nodes), fam.fixed.input)]
    return []


def convex(fam: ir.ActivationFamily) -> bool:
    return False


def emit(w, lf: LoweredFamily) -> list[str]:
    """Per group of nodes (by number of output edges): read z = y − b and x's edges,
    project (several groups: `activation_projection_groups`, which puts a curve set's
    groups into one call), write back."""
    fam: ir.ActivationFamily = lf.family
    R = w.rows(fam.part)
    pieces = w.pieces(fam.set)
    fixed = fam.fixed is not None
    groups = list(enumerate(lf.groups))
    if len(groups) == 1:
        (gi, g), = groups
        lines = _reads(w, lf, gi, g, R, "")
        lines.append(f"znew = activation_fixed_projection(xp, z, xnew, {pieces})" if fixed
                     else f"znew, xnew = activation_projection(xp, z, xbar, gz, gx, {pieces})")
        return lines + _writes(w, lf, gi, g, R, "")
    lines = []
    for gi, g in groups:
        lines += _reads(w, lf, gi, g, R, f"_{gi}")
    if fixed:
        args = ", ".join(f"(z_{gi}, xnew_{gi})" for gi, _ in groups)
        outs = ", ".join(f"znew_{gi}" for gi, _ in groups)
        lines.append(f"{outs} = activation_fixed_projection_groups(xp, ({args}), {pieces})")
    else:
        args = ", ".join(f"(z_{gi}, xbar_{gi}, gz_{gi}, gx_{gi})" for gi, _ in groups)
        outs = ", ".join(f"(znew_{gi}, xnew_{gi})" for gi, _ in groups)
        lines.append(f"{outs} = activation_projection_groups(xp, ({args}), {pieces})")
    for gi, g in groups:
        lines += _writes(w, lf, gi, g, R, f"_{gi}")
    return lines


def _reads(w, lf: LoweredFamily, gi: int, g, R: str, s: str) -> list[str]:
    """A group's edges of x, y, b and z = y − b (names suffixed `s`); x's consensus and
    metric, or x's fixed value."""
    fam: ir.ActivationFamily = lf.family
    ix = w.group_index(lf, gi, g)
    fixed = fam.fixed is not None
    # nodes without edges (x fixed): z alone is projected, onto where f(z) is the value
    lines = [f"xe{s} = {ix['E'].read('src', fam.x, R)}"] if g.edges is not None else []
    if not fixed:
        lines.append(f"xbar{s} = xe{s}.mean(axis=-1)  # consensus of x over the node's edges")
    lines.append(f"y{s} = {ix[fam.y].read('src', fam.y, R)}")
    lines.append(f"gy{s} = {w.metric(fam.y, ix[fam.y])}")
    if fam.b:
        lines.append(f"b{s} = {ix[fam.b].read('src', fam.b, R)}")
        lines.append(f"gb{s} = {w.metric(fam.b, ix[fam.b])}")
        lines.append(f"z{s} = y{s} - b{s}" if fixed else
                     f"z{s}, gz{s} = y{s} - b{s}, gy{s} * gb{s} / (gy{s} + gb{s})"
                     "  # y, b move oppositely")
    else:
        lines.append(f"z{s} = y{s}" if fixed else f"z{s}, gz{s} = y{s}, gy{s}")
    if fixed:
        if fam.fixed.input is None:
            lines.append(f"xnew{s} = xp.full(z{s}.shape, {w.num(fam.fixed.constant)})")
        else:
            inp = w.model.inputs[fam.fixed.input]
            cols = w.input_cols(inp, g.nodes, f"{fam.name}_{gi}_cols")
            lines.append(f"xnew{s} = data[{inp.name!r}][{w.input_rows(inp, fam.part)}, "
                         f"{cols}]  # x is fixed by the data")
    else:
        m = g.edges.shape[1]
        xmetric = float(w.model.variables[fam.x].metric[0])
        lines.append(f"gx{s} = {w.num(m * xmetric)}  # Lemma 4.1: replicas times x's metric")
    return lines


def _writes(w, lf: LoweredFamily, gi: int, g, R: str, s: str) -> list[str]:
    """A group's x edges at x's new value, and y (and b) moved with z."""
    fam: ir.ActivationFamily = lf.family
    ix = w.group_index(lf, gi, g)
    lines = []
    if g.edges is not None:
        lines.append(ix["E"].put(fam.x, R, f"_spread(xnew{s}[..., None], xe{s}.shape)"))
    if fam.b:
        lines.append(f"y{s}, b{s} = activation_yb_update(xp, y{s}, b{s}, znew{s} - z{s}, "
                     f"gy{s}, gb{s})")
        lines.append(ix[fam.y].put(fam.y, R, f"y{s}"))
        lines.append(ix[fam.b].put(fam.b, R, f"b{s}"))
    else:
        lines.append(ix[fam.y].put(fam.y, R, f"znew{s}"))
    return lines


def lane_ops(b: LaneBuilder, lf: LoweredFamily) -> None:
    """One op per group: each node's x edges averaged (Lemma 4.1), (y - b, x̄) projected
    onto the piece set in the metric (gy gb / (gy + gb), m gx), y and b moved with z; with
    x fixed (by an input or a constant), z alone onto where f(z) = x. Affine pieces only:
    curve pieces have no lane rule yet."""
    fam: ir.ActivationFamily = lf.family
    if not fam.set.is_affine:
        raise b.unsupported(f"the lane kernel has no rule for the curve pieces of set "
                            f"{fam.set.name}")
    pieces = [v for p in fam.set.pieces for v in (p.lo, p.hi, *p.affine)]
    xmetric = float(b.model.variables[fam.x].metric[0])
    for g in lf.groups:
        n = len(g.nodes)
        edges = g.edges if g.edges is not None else np.zeros((n, 0), dtype=np.int64)
        m = edges.shape[1]
        ypos = g.positions[fam.y]
        brows = b.var_rows(fam.b, g.positions[fam.b]) if fam.b else np.full(n, -1)
        gb = b.metric(fam.b, g.positions[fam.b]) if fam.b else np.zeros(n)
        ints = [b.var_rows(fam.x, edges), b.var_rows(fam.y, ypos), brows]
        floats = [b.metric(fam.y, ypos), gb, m * xmetric, len(fam.set.pieces), pieces]
        side = Side.NONE
        if fam.fixed is not None and fam.fixed.input is not None:
            side = Side.FIXED_DATA
            ints.append(b.input_rows(fam.fixed.input, g.nodes))
        elif fam.fixed is not None:
            side = Side.FIXED_CONST
            floats.append(fam.fixed.constant)
        b.add(Op.ACTIVATION, fam.part, n, m, ints, floats, side)


def init(w, lf: LoweredFamily) -> list[str]:
    """The output edges start at the node's value."""
    fam: ir.ActivationFamily = lf.family
    R = w.rows(fam.part)
    lines = []
    for gi, g in enumerate(lf.groups):
        if g.edges is None:  # no edges to start
            continue
        ix = w.group_index(lf, gi, g)
        nodes = w.node_index(g.nodes, f"{fam.name}_{gi}_nodes")
        lines.append(w.init_put(fam, fam.x, ix["E"], f"X[{R}][:, {nodes}, None]"))
    return lines


# --- membership, for `lwlc test` (lwlc/modeltest.py): written from the definition, not from
# the emitted projection -------------------------------------------------------------------


def piece_functions(aset: ir.ActivationSet) -> list[tuple[float, float, object]]:
    """(lo, hi, f) per piece of an activation set, f a NumPy function of z: x = a z + c for an
    affine piece, the sympy curve (via the compiler's printer) for a smooth one."""
    import numpy as np

    from lwlc.backends.curves import curve_functions

    out = []
    for p in aset.pieces:
        if p.affine is not None:
            a, c = p.affine
            out.append((p.lo, p.hi, lambda t, a=a, c=c: a * t + c))
        else:
            f = curve_functions(p.curve, p.lo, p.hi)[0]
            out.append((p.lo, p.hi, lambda t, f=f: np.asarray(f(np, t), dtype=np.float64)))
    return out


def piece_distance(aset: ir.ActivationSet, z, x):
    """Per element, how far (z, x) is from the set's graph: the least, over pieces, of
    max(distance of z to [lo, hi], |x − f(z clipped to [lo, hi])|); 0 on the graph."""
    import numpy as np

    z = np.asarray(z, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    best = np.full(np.broadcast(z, x).shape, np.inf)
    for lo, hi, f in piece_functions(aset):
        t = np.clip(z, lo, hi)
        gap = np.maximum(np.maximum(lo - z, z - hi), 0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            miss = np.abs(x - f(t))
        miss = np.where(np.isnan(miss), np.inf, miss)
        best = np.minimum(best, np.maximum(gap, miss))
    return best


def violation(model: ir.Model, lf: LoweredFamily, state: dict, data: dict) -> float:
    """The largest violation of an activation family by `state` over its (item, node)
    instances: with z = y − b (or y) and x̄ the mean of x over the node's edges, the x replicas'
    distance from x̄, (z, x̄)'s distance from the set's pieces (`piece_distance`) and, with a
    fixed x, |x̄ − the fixed value|. 0 when the state satisfies it."""
    import numpy as np

    from lwlc.kinds.consensus import fixed_values, part_rows

    fam: ir.ActivationFamily = lf.family
    rows = part_rows(model, fam.part)
    X = np.asarray(state[fam.x], dtype=np.float64)[rows]
    Y = np.asarray(state[fam.y], dtype=np.float64)[rows]
    B = np.asarray(state[fam.b], dtype=np.float64)[rows] if fam.b else None
    worst = 0.0
    for g in lf.groups:
        z = Y[:, g.positions[fam.y]]
        if B is not None:
            z = z - B[:, g.positions[fam.b]]
        if g.edges is None:  # nodes without edges, x fixed: f(z) is the value
            want = fixed_values(model, fam.part, fam.fixed, g.nodes, data)
            worst = max(worst, float(np.max(piece_distance(fam.set, z, want))))
            continue
        xe = X[:, g.edges]  # [items, n, m]
        if xe.size == 0:
            continue
        xbar = xe.mean(axis=-1)
        worst = max(worst, float(np.max(np.abs(xe - xbar[..., None]))),
                    float(np.max(piece_distance(fam.set, z, xbar))))
        if fam.fixed is not None:
            want = fixed_values(model, fam.part, fam.fixed, g.nodes, data)
            worst = max(worst, float(np.max(np.abs(xbar - want))))
    return worst
