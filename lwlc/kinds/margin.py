"""Class, `y[k, C] - b[k, C] in margin(c[k], Δ) [exempt n | relabel n | allow n as l]`: per
item, y − b ≥ Δ at the item's class node and ≤ 0 at the others (Elser eq. 26d-e), with
eccentric exemptions (eq. 32), relabeling (eq. 33) or a false-positive allowance (Sect. 6.2).
The model predicts the class node with the largest y − b (Sect. 5.4).
"""

from __future__ import annotations

import numpy as np

from lwlc import ir
from lwlc.laneplan import LaneBuilder, MarginMode, Op
from lwlc.lower import Learned, LoweredFamily, Source, Target, Which

KIND = "class"
PREFERRED_SET = None
COVERS_BATCH = True


def touches(fam: ir.ClassFamily, t) -> None:
    for name in (fam.y, fam.b):
        if name:
            t.classes(name, fam.classes)


def instances(fam: ir.ClassFamily) -> int:
    return fam.part.size if fam.part is not None else 1


def reads(fam: ir.ClassFamily) -> tuple[set[str], set[int]]:
    return {fam.label}, set(fam.classes)


def library(fam: ir.ClassFamily) -> list[str]:
    return ["margin"]



def lower(model: ir.Model, fam: ir.ClassFamily, which: Which) -> LoweredFamily:
    pos = {v: model.variables[v].positions(fam.classes) for v in (fam.y, fam.b) if v}
    return LoweredFamily(fam, which, (), pos)


def carries(model: ir.Model, fam: ir.ClassFamily) -> tuple[str, str] | None:
    return None


def sources(model: ir.Model, fam: ir.ClassFamily) -> list[Source]:
    return []


def learned(model: ir.Model, lf: LoweredFamily) -> list[Learned]:
    return []


def targets(model: ir.Model, fam: ir.ClassFamily) -> list[Target]:
    part = fam.part or model.batch.whole
    return [Target(fam.name, "class", fam, part, tuple(fam.classes), fam.label)]


def convex(fam: ir.ClassFamily) -> bool:
    return False


def emit(w, lf: LoweredFamily) -> list[str]:
    fam: ir.ClassFamily = lf.family
    w.need("margin", CLASS_MODES=fam.mode)
    R = w.rows(fam.part)
    ypos = w.index(lf.class_positions[fam.y], f"{fam.name}_{fam.y}")
    lab = w.model.labels[fam.label]
    lrows = w.input_rows(lab, fam.part)
    # the modes pick items by their distance in the metric of z = y - b (eq. 27); the
    # plain projection is the same in any metric
    weighted = fam.mode != "plain"
    lines = [f"y = {ypos.read('src', fam.y, R)}"]
    if fam.b or weighted:
        lines.append(f"gy = {w.metric(fam.y, ypos)}")
    if fam.b:
        bpos = w.index(lf.class_positions[fam.b], f"{fam.name}_{fam.b}")
        lines += [f"b = {bpos.read('src', fam.b, R)}", f"gb = {w.metric(fam.b, bpos)}",
                  "z = y - b"]
    else:
        lines += ["z = y"]
    weight = ""
    if weighted:
        weight = ", gy * gb / (gy + gb)" if fam.b else ", gy"
    lines.append(f"znew = class_projection(xp, z, data[{fam.label!r}][{lrows}], "
                 f"{w.num(fam.margin)}, {fam.mode!r}, {fam.count}, {fam.allow_label}"
                 f"{weight})")
    if fam.b:
        w.need("activation")  # activation_yb_update
        lines.append("y, b = activation_yb_update(xp, y, b, znew - z, gy, gb)")
        lines.append(ypos.put(fam.y, R, "y"))
        lines.append(bpos.put(fam.b, R, "b"))
    else:
        lines.append(ypos.put(fam.y, R, "znew"))
    return lines


def lane_ops(b: LaneBuilder, lf: LoweredFamily) -> None:
    """One op: each item's z = y - b on the class nodes onto the margin, in the family's
    mode (the ranking modes rank the items of each start), y and b moved with z."""
    fam: ir.ClassFamily = lf.family
    ypos = lf.class_positions[fam.y]
    n = len(ypos)
    brows = b.var_rows(fam.b, lf.class_positions[fam.b]) if fam.b else np.full(n, -1)
    gb = b.metric(fam.b, lf.class_positions[fam.b]) if fam.b else np.zeros(n)
    mode = MarginMode[fam.mode.upper()]
    b.add(Op.MARGIN, fam.part, n, 1,
          [b.var_rows(fam.y, ypos), brows, [b.labels[fam.label][0]],
           [int(mode), fam.count, fam.allow_label]],
          [fam.margin, b.metric(fam.y, ypos), gb])


def init(w, lf: LoweredFamily) -> list[str]:
    return []


# --- membership, for `lwlc test` (lwlc/modeltest.py): written from the definition, not from
# the emitted projection -------------------------------------------------------------------


def class_miss(z, classes, margin: float):
    """Per item, how far z [items, C] is from 'z ≥ Δ at the item's class, ≤ 0 elsewhere' for a
    class position per item: max(Δ − z[class], z[other], 0)."""
    import numpy as np

    z = np.asarray(z, dtype=np.float64)
    classes = np.broadcast_to(np.asarray(classes, dtype=np.int64), z.shape[:1])
    own = np.arange(z.shape[1])[None, :] == classes[:, None]
    short = np.maximum(margin - z[own], 0.0)
    over = np.max(np.where(own, 0.0, np.maximum(z, 0.0)), axis=1, initial=0.0)
    return np.maximum(short, over)


def relaxed_violation(own, alt, movable, count: int) -> float:
    """The least possible largest violation when up to `count` movable items may take their
    alternative (violation `alt` instead of `own`): the smallest t such that every item over t
    is movable with alt ≤ t, and there are at most `count` of them."""
    import numpy as np

    own, alt = np.asarray(own, dtype=np.float64), np.asarray(alt, dtype=np.float64)
    for t in np.unique(np.concatenate([[0.0], own, alt])):
        over = own > t
        if np.sum(over) <= count and np.all(movable[over] & (alt[over] <= t)):
            return float(t)
    return float(np.max(own, initial=0.0))


def violation(model: ir.Model, lf: LoweredFamily, state: dict, data: dict) -> float:
    """The largest violation of a class family by `state` over its items: z = y − b (or y) on
    the class nodes must be ≥ Δ at the label's class node and ≤ 0 at the others; with
    `exempt n` up to n items may violate it, with `relabel n` up to n items may satisfy it with
    another class, with `allow n as l` up to n items labelled otherwise may satisfy it as class
    l. 0 when the state satisfies it."""
    import numpy as np

    from lwlc.kinds.consensus import part_rows

    fam: ir.ClassFamily = lf.family
    rows = part_rows(model, fam.part)
    z = np.asarray(state[fam.y], dtype=np.float64)[rows][:, lf.class_positions[fam.y]]
    if fam.b:
        z = z - np.asarray(state[fam.b], dtype=np.float64)[rows][:, lf.class_positions[fam.b]]
    if z.size == 0:
        return 0.0
    part = fam.part or model.batch.whole
    lab = model.labels[fam.label]
    labels = np.asarray(data[fam.label]).astype(np.int64)[
        part.start - lab.part.start:part.stop - lab.part.start]
    own = class_miss(z, labels, fam.margin)
    everyone = np.ones(len(own), dtype=bool)
    if fam.mode == "plain":
        return float(np.max(own))
    if fam.mode == "exempt":
        return relaxed_violation(own, np.zeros_like(own), everyone, fam.count)
    if fam.mode == "relabel":
        best = np.min([class_miss(z, c, fam.margin) for c in range(z.shape[1])], axis=0)
        return relaxed_violation(own, best, everyone, fam.count)
    if fam.mode == "allow":
        alt = class_miss(z, fam.allow_label, fam.margin)
        return relaxed_violation(own, alt, labels != fam.allow_label, fam.count)
    raise ValueError(f"constraint {fam.name}: unknown class mode {fam.mode}")


def nearest_distance(model: ir.Model, lf: LoweredFamily, state: dict, data: dict) -> float:
    """The squared distance, in the model's metric on y and b, from `state` to the family's
    set, from the definition (an independent reference for the emitted projection): an item's
    nearest point as class c moves z to Δ at c and to 0 at the others where they are on the
    wrong side, at the cost Σ g Δz² with g = g_y g_b / (g_y + g_b) (y and b move oppositely);
    the modes then save, on at most `count` items, the most: all of it (exempt), the gain of
    the best class (relabel) or of class l (allow, items labelled otherwise)."""
    import numpy as np

    from lwlc.kinds.consensus import part_rows

    fam: ir.ClassFamily = lf.family
    rows = part_rows(model, fam.part)
    ypos = lf.class_positions[fam.y]
    z = np.asarray(state[fam.y], dtype=np.float64)[rows][:, ypos]
    g = np.asarray(model.variables[fam.y].metric, dtype=np.float64)[ypos]
    if fam.b:
        bpos = lf.class_positions[fam.b]
        z = z - np.asarray(state[fam.b], dtype=np.float64)[rows][:, bpos]
        gb = np.asarray(model.variables[fam.b].metric, dtype=np.float64)[bpos]
        g = g * gb / (g + gb)
    part = fam.part or model.batch.whole
    lab = model.labels[fam.label]
    labels = np.asarray(data[fam.label]).astype(np.int64)[
        part.start - lab.part.start:part.stop - lab.part.start]

    def cost(classes):
        classes = np.broadcast_to(np.asarray(classes, dtype=np.int64), labels.shape)
        own = np.arange(z.shape[1])[None, :] == classes[:, None]
        dz = np.where(own, np.maximum(fam.margin - z, 0.0), np.maximum(z, 0.0))
        return np.sum(g * dz * dz, axis=1)

    own = cost(labels)
    if fam.mode == "plain" or fam.count <= 0:
        return float(np.sum(own))
    if fam.mode == "exempt":
        saving = own
    elif fam.mode == "relabel":
        saving = own - np.min([cost(c) for c in range(z.shape[1])], axis=0)
    elif fam.mode == "allow":
        saving = np.where(labels != fam.allow_label, own - cost(fam.allow_label), 0.0)
    else:
        raise ValueError(f"constraint {fam.name}: unknown class mode {fam.mode}")
    best = np.sort(saving[saving > 0.0])[::-1][:fam.count]
    return float(np.sum(own) - np.sum(best))
