"""Class, `y[k, C] - b[k, C] in margin(c[k], Δ) [exempt n | relabel n | allow n as l]`: per
item, y − b ≥ Δ at the item's class node and ≤ 0 at the others (Elser eq. 26d-e), with
eccentric exemptions (eq. 32), relabeling (eq. 33) or a false-positive allowance (Sect. 6.2).
The model predicts the class node with the largest y − b (Sect. 5.4).
"""

from __future__ import annotations

from lwlc import ir
from lwlc.lower import Learned, LoweredFamily, Source, Target, Which

KIND = "class"


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
    w.need("margin")
    R = w.rows(fam.part)
    ypos = w.index(lf.class_positions[fam.y], f"{fam.name}_{fam.y}")
    lab = w.model.labels[fam.label]
    lrows = w.input_rows(lab, fam.part)
    lines = [f"y = {ypos.read('src', fam.y, R)}", f"gy = {w.metric(fam.y, ypos)}"]
    if fam.b:
        bpos = w.index(lf.class_positions[fam.b], f"{fam.name}_{fam.b}")
        lines += [f"b = {bpos.read('src', fam.b, R)}", f"gb = {w.metric(fam.b, bpos)}",
                  "z = y - b"]
    else:
        lines += ["z = y"]
    lines.append(f"znew = class_projection(xp, z, data[{fam.label!r}][{lrows}], "
                 f"{w.num(fam.margin)}, {fam.mode!r}, {fam.count}, {fam.allow_label})")
    if fam.b:
        w.need("activation")  # activation_yb_update
        lines.append("y, b = activation_yb_update(xp, y, b, znew - z, gy, gb)")
        lines.append(ypos.put(fam.y, R, "y"))
        lines.append(bpos.put(fam.b, R, "b"))
    else:
        lines.append(ypos.put(fam.y, R, "znew"))
    return lines


def init(w, lf: LoweredFamily) -> list[str]:
    return []
