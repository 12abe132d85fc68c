"""Activation, `(y[k, i] - b[k, i], agree x[k, out(i)] [== d[k, i]]) in SET`: a neuron's input
z = y − b and the consensus x of its output edges lie in an activation set (Elser eq. 26a,c, 29),
projected jointly by Lemma 4.1 with the (z, x) set as side constraint and the metric weights of
y, b and the replicas of x. With `== d` x is also fixed (the autoencoder's data and code layers,
eq. 38b-d): the node is a source of inference, and f(y − b) there is a prediction of d (eq. 40).
"""

from __future__ import annotations

from lwlc import ir
from lwlc.lower import Learned, LoweredFamily, Source, Target, Which, groups_of

KIND = "activation"


def lower(model: ir.Model, fam: ir.ActivationFamily, which: Which) -> LoweredFamily:
    node_vars = (fam.y,) + ((fam.b,) if fam.b else ())
    return LoweredFamily(fam, which, groups_of(model, tuple(fam.nodes), fam.x, fam.direction,
                                               node_vars))


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
    fam: ir.ActivationFamily = lf.family
    R = w.rows(fam.part)
    pieces = w.pieces(fam.set)
    xmetric = float(w.model.variables[fam.x].metric[0])
    lines = []
    for gi, g in enumerate(lf.groups):
        ix = w.group_index(lf, gi, g)
        m = g.edges.shape[1]
        lines.append(f"xe = {ix['E'].read('src', fam.x, R)}")
        lines.append("xbar = xe.mean(axis=-1)  # consensus of x over the node's edges")
        lines.append(f"y = {ix[fam.y].read('src', fam.y, R)}")
        lines.append(f"gy = {w.metric(fam.y, ix[fam.y])}")
        if fam.b:
            lines.append(f"b = {ix[fam.b].read('src', fam.b, R)}")
            lines.append(f"gb = {w.metric(fam.b, ix[fam.b])}")
            lines.append("z, gz = y - b, gy * gb / (gy + gb)  # y, b move oppositely")
        else:
            lines.append("z, gz = y, gy")
        lines.append(f"gx = {w.num(m * xmetric)}  # Lemma 4.1: replicas times x's metric")
        if fam.fixed is not None:
            if fam.fixed.input is None:
                lines.append(f"xnew = xp.full_like(xbar, {w.num(fam.fixed.constant)})")
            else:
                inp = w.model.inputs[fam.fixed.input]
                cols = w.input_cols(inp, g.nodes, f"{fam.name}_{gi}_cols")
                lines.append(f"xnew = data[{inp.name!r}][{w.input_rows(inp, fam.part)}, "
                             f"{cols}]  # x is fixed by the data")
            lines.append(f"znew = activation_fixed_projection(xp, z, xnew, {pieces})")
        else:
            lines.append(f"znew, xnew = activation_projection(xp, z, xbar, gz, gx, {pieces})")
        lines.append(ix["E"].put(fam.x, R, "xp.broadcast_to(xnew[..., None], xe.shape)"))
        if fam.b:
            lines.append("y, b = activation_yb_update(xp, y, b, znew - z, gy, gb)")
            lines.append(ix[fam.y].put(fam.y, R, "y"))
            lines.append(ix[fam.b].put(fam.b, R, "b"))
        else:
            lines.append(ix[fam.y].put(fam.y, R, "znew"))
    return lines


def init(w, lf: LoweredFamily) -> list[str]:
    """The output edges start at the node's value."""
    fam: ir.ActivationFamily = lf.family
    R = w.rows(fam.part)
    lines = []
    for gi, g in enumerate(lf.groups):
        ix = w.group_index(lf, gi, g)
        nodes = w.node_index(g.nodes, f"{fam.name}_{gi}_nodes")
        lines.append(w.init_put(fam, fam.x, ix["E"], f"X[{R}][:, {nodes}, None]"))
    return lines
