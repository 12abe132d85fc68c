"""Bilinear, `dot(x[k, in(j)], w[k, in(j)]) == c * y[k, j]` or `== Y[k, j]`: the weighted sum of
a node's operands equals c times a node variable (a neuron, Elser eq. 26h) or data (the fixed
product of NMF, eq. 14d). Projected by Appendix B (eq. 51-54), a one-dimensional root find per
instance. In inference the neuron computes y = Σ x w / c from its operands' values; with data on
the right, Σ x w / c is the model's prediction of that data (eq. 23).
"""

from __future__ import annotations

import math

import numpy as np

from lwlc import ir
from lwlc.errors import ModelError
from lwlc.laneplan import LaneBuilder, Op, Side
from lwlc.lower import Learned, LoweredFamily, Source, Target, Which, groups_of

KIND = "bilinear"
PREFERRED_SET = "B"  # the neurons go to B where the split leaves a choice (Elser Sect. 5.1)
COVERS_BATCH = True


def touches(fam: ir.BilinearFamily, t) -> None:
    t.edges(fam.x, fam.direction)
    t.edges(fam.w, fam.direction)
    if fam.y:
        t.nodes(fam.y)


def instances(fam: ir.BilinearFamily) -> int:
    return (fam.part.size if fam.part is not None else 1) * len(fam.nodes or ())


def reads(fam: ir.BilinearFamily) -> tuple[set[str], set[int]]:
    if fam.data:
        return {fam.data}, set(fam.nodes or ())
    return set(), set()


def library(fam: ir.BilinearFamily) -> list[str]:
    return ["bilinear"]



def lower(model: ir.Model, fam: ir.BilinearFamily, which: Which) -> LoweredFamily:
    for v in (fam.x, fam.w):
        if not np.all(model.variables[v].metric == model.variables[v].metric[0]):
            raise ModelError(f"the bilinear projection needs one metric weight for all of {v}",
                             fam.span, hint=f"write a single constant: var {v}[k, E] metric 2.0")
    node_vars = (fam.y,) if fam.y else ()
    return LoweredFamily(fam, which, groups_of(model, tuple(fam.nodes), fam.x, fam.direction,
                                               node_vars))


def carries(model: ir.Model, fam: ir.BilinearFamily) -> tuple[str, str] | None:
    return None


def sources(model: ir.Model, fam: ir.BilinearFamily) -> list[Source]:
    return []


def learned(model: ir.Model, lf: LoweredFamily) -> list[Learned]:
    return []


def targets(model: ir.Model, fam: ir.BilinearFamily) -> list[Target]:
    if fam.data is not None:
        part = fam.part or model.batch.whole
        return [Target(fam.name, "value", fam, part, tuple(fam.nodes), fam.data)]
    return []


def convex(fam: ir.BilinearFamily) -> bool:
    return False


def emit(w, lf: LoweredFamily) -> list[str]:
    """Each group's rows read, projected (eq. 19, 51-54) and written back. A family with
    several groups (nodes of different in-degrees) has their roots found together
    (bilinear_projection_groups: one solve, beside a dominant group's own)."""
    fam: ir.BilinearFamily = lf.family
    w.need("bilinear")
    R = w.rows(fam.part)
    gx = float(w.model.variables[fam.x].metric[0])
    gw = float(w.model.variables[fam.w].metric[0])
    # metric weights gx, gw: project sqrt(gx) x, sqrt(gw) w with c sqrt(gx gw)
    scaled = not (gx == 1.0 and gw == 1.0)
    sx, sw = w.num(math.sqrt(gx)), w.num(math.sqrt(gw))
    coef = w.num(fam.coef * math.sqrt(gx * gw)) if scaled else w.num(fam.coef)
    several = len(lf.groups) > 1
    lines = ["groups = []  # the rows of each in-degree, their roots solved together"] \
        if several else []
    indexes = [w.group_index(lf, gi, g) for gi, g in enumerate(lf.groups)]
    for gi, (g, ix) in enumerate(zip(lf.groups, indexes, strict=True)):
        if several:
            lines.append(f"# {len(g.nodes)} node(s) of {g.edges.shape[1]} edge(s) each")
        lines.append(f"x = {ix['E'].read('src', fam.x, R)}")
        lines.append(f"w = {ix['E'].read('src', fam.w, R)}")
        if fam.y:
            lines.append(f"y = {ix[fam.y].read('src', fam.y, R)}")
            lines.append(f"ginv = 1.0 / {w.metric(fam.y, ix[fam.y])}")
        else:
            inp = w.model.inputs[fam.data]
            cols = w.input_cols(inp, g.nodes, f"{fam.name}_{gi}_cols")
            lines.append(f"y = data[{inp.name!r}][{w.input_rows(inp, fam.part)}, {cols}]"
                         "  # fixed by the data")
            lines.append("ginv = 0.0")
        x, wv = (f"{sx} * x", f"{sw} * w") if scaled else ("x", "w")
        if several:
            lines.append(f"groups.append(({x}, {wv}, y, ginv))")
            continue
        lines.append(f"x, w, y = bilinear_projection(xp, {x}, {wv}, y, {coef}, ginv,"
                     " _owned(src))" + ("  # eq. 19, 51-54 in metric-scaled coordinates"
                                        if scaled else "  # eq. 19, 51-54"))
        lines += _write_back(ix, fam, R, scaled, sx, sw)
    if several:
        lines.append(f"projected = bilinear_projection_groups(xp, groups, {coef}, _owned(src))"
                     + ("  # eq. 19, 51-54 in metric-scaled coordinates" if scaled
                        else "  # eq. 19, 51-54"))
        for gi, ix in enumerate(indexes):
            lines.append(f"x, w, y = projected[{gi}]")
            lines += _write_back(ix, fam, R, scaled, sx, sw)
    return lines


def _write_back(ix: dict, fam: ir.BilinearFamily, R: str, scaled: bool, sx: str,
                sw: str) -> list[str]:
    """A group's projected x, w (unscaled) and y written to its columns."""
    lines = [f"x, w = x / {sx}, w / {sw}"] if scaled else []
    lines.append(ix["E"].put(fam.x, R, "x"))
    lines.append(ix["E"].put(fam.w, R, "w"))
    if fam.y:
        lines.append(ix[fam.y].put(fam.y, R, "y"))
    return lines


def lane_ops(b: LaneBuilder, lf: LoweredFamily) -> None:
    """One op per group (nodes of one in-degree): each node's and item's x, w rows
    projected onto x · w = ω y (eq. 19, 51-54) in metric-scaled coordinates, y moved
    with the multiplier (or fixed by the data: 1/g = 0)."""
    fam: ir.BilinearFamily = lf.family
    gx = float(b.model.variables[fam.x].metric[0])
    gw = float(b.model.variables[fam.w].metric[0])
    omega = fam.coef * math.sqrt(gx * gw)
    for g in lf.groups:
        n, m = g.edges.shape
        if fam.y:
            ypos = g.positions[fam.y]
            yrows, ginv, side = b.var_rows(fam.y, ypos), 1.0 / b.metric(fam.y, ypos), Side.NONE
        else:
            yrows, ginv = b.input_rows(fam.data, g.nodes), np.zeros(n)
            side = Side.FIXED_DATA
        b.add(Op.BILINEAR, fam.part, n, m,
              [b.var_rows(fam.x, g.edges), b.var_rows(fam.w, g.edges), yrows],
              [ginv, omega, math.sqrt(gx), math.sqrt(gw)], side)


def init(w, lf: LoweredFamily) -> list[str]:
    """The neuron's y starts at the feed-forward pre-activation."""
    fam: ir.BilinearFamily = lf.family
    if not fam.y:
        return []
    R = w.rows(fam.part)
    lines = []
    for gi, g in enumerate(lf.groups):
        ix = w.group_index(lf, gi, g)
        nodes = w.node_index(g.nodes, f"{fam.name}_{gi}_nodes")
        lines.append(w.init_put(fam, fam.y, ix[fam.y], f"Y[{R}][:, {nodes}]"))
    return lines


# --- membership, for `lwlc test` (lwlc/modeltest.py): written from the definition, not from
# the emitted projection -------------------------------------------------------------------


def violation(model: ir.Model, lf: LoweredFamily, state: dict, data: dict) -> float:
    """The largest |Σ_e x_e w_e − c·y| (or − the data) over the family's (item, node)
    instances, e the node's in(j) (or out(i)) edges. 0 when the state satisfies it."""
    from lwlc.kinds.consensus import part_rows

    fam: ir.BilinearFamily = lf.family
    rows = part_rows(model, fam.part)
    X = np.asarray(state[fam.x], dtype=np.float64)[rows]
    W = np.asarray(state[fam.w], dtype=np.float64)[rows]
    worst = 0.0
    for g in lf.groups:
        if g.edges.size == 0:
            continue
        dot = (X[:, g.edges] * W[:, g.edges]).sum(axis=-1)  # [items, n]
        if fam.y:
            rhs = fam.coef * np.asarray(state[fam.y], dtype=np.float64)[rows][
                :, g.positions[fam.y]]
        else:
            part = fam.part or model.batch.whole
            inp = model.inputs[fam.data]
            cols = [inp.nodes.index(n) for n in g.nodes]
            rhs = np.asarray(data[inp.name], dtype=np.float64)[
                part.start - inp.part.start:part.stop - inp.part.start][:, cols]
        worst = max(worst, float(np.max(np.abs(dot - rhs))))
    return worst
