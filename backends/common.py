"""Shared code generation for the solver backends: lowered plan → standalone Python source.

The emitted module is the same for every backend up to a small `Dialect`: its imports, how an
array slice is written functionally, and how the iteration loop is driven. Projections come from
the set library verbatim (`lwlc.sets.emit_source`), so the emitted code and the library are the
same code. Every generated function says which .lwl line it implements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy
from sympy.printing.pycode import PythonCodePrinter

from lwlc import __version__, ir, sets
from lwlc.lower import Group, LoweredFamily, Plan


@dataclass(frozen=True)
class Dialect:
    name: str
    imports: str  # the module's import lines; must bind `xp` and `np`
    assign: str  # source of `_assign(a, index, value)`: a with a[index] = value, functionally
    driver: str  # source of `solve_batch(...)` and anything the backend adds


def _arr(a: np.ndarray) -> str:
    """A compact literal for an index array: an arange pattern when there is one."""
    a = np.asarray(a)
    if a.ndim == 1:
        if a.size and np.array_equal(a, a[0] + np.arange(a.size)):
            return f"np.arange({int(a[0])}, {int(a[0]) + a.size})"
        runs = _arithmetic_runs(a)
        if len(runs) == 1:
            return runs[0]
        if len(runs) <= 8:
            return f"np.concatenate([{', '.join(runs)}])"
        return f"np.array({a.tolist()})"
    n, m = a.shape
    s = int(a.flat[0])
    if np.array_equal(a, s + np.arange(n * m).reshape(n, m)):
        return f"_rows({s}, {n}, {m})"
    if np.array_equal(a, s + np.arange(n * m).reshape(m, n).T):
        return f"_cols({s}, {n}, {m})"
    # a dense block whose tails are a strided pattern: row i holds s_i + stride * arange(m)
    if m > 1:
        stride = int(a[0, 1] - a[0, 0])
        starts = a[:, 0]
        if np.array_equal(a, starts[:, None] + stride * np.arange(m)[None, :]):
            return f"_strided({_arr(starts)}, {stride}, {m})"
    return f"np.array({a.tolist()})"


def _dense_blocks(es) -> list[tuple[int, int, int, int]] | None:
    """The edge set as dense blocks of contiguous node ranges, when that is all it is."""
    blocks = []
    for tails, heads in es.blocks:
        t, h = np.asarray(tails), np.asarray(heads)
        if not (np.array_equal(t, t[0] + np.arange(t.size))
                and np.array_equal(h, h[0] + np.arange(h.size))):
            return None
        blocks.append((int(t[0]), int(t.size), int(h[0]), int(h.size)))
    if not blocks:
        return None
    tail, head = _dense_edges_numpy(blocks)
    if not (np.array_equal(tail, es.tail) and np.array_equal(head, es.head)):
        return None
    return blocks


def _dense_edges_numpy(blocks):
    tail = np.concatenate([np.tile(np.arange(t0, t0 + nt), nh) for t0, nt, h0, nh in blocks])
    head = np.concatenate([np.repeat(np.arange(h0, h0 + nh), nt) for t0, nt, h0, nh in blocks])
    order = np.lexsort((tail, head))
    return tail[order], head[order]


def _arithmetic_runs(a: np.ndarray) -> list[str]:
    """Split a 1-D integer array into maximal arithmetic runs, each written as np.arange."""
    out, i, n = [], 0, a.size
    while i < n:
        j = i + 1
        if j < n:
            step = int(a[j] - a[i])
            while j + 1 < n and a[j + 1] - a[j] == step and step != 0:
                j += 1
            if step == 0:
                j = i
        else:
            j, step = i, 1
        if j == i:
            out.append(f"np.array([{int(a[i])}])")
        elif step == 1:
            out.append(f"np.arange({int(a[i])}, {int(a[j]) + 1})")
        else:
            out.append(f"np.arange({int(a[i])}, {int(a[j]) + step}, {step})")
        i = j + 1
    return out


def _num(v: float) -> str:
    if math.isinf(v):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(float(v))


@dataclass(frozen=True)
class Ix:
    """How one group's elements sit in a flat state array: a reshape of a contiguous range
    (rows: in(j) of a dense layer; cols: out(i), a transposed reshape), a plain range, or a
    gather through an index matrix. Reads of the first three are views, writes slices."""

    kind: str  # rows | cols | range | gather
    start: int = 0
    n: int = 0
    m: int = 0
    name: str = ""

    @property
    def stop(self) -> int:
        return self.start + (self.n * self.m if self.kind in ("rows", "cols") else self.n)

    @property
    def cols(self) -> str:
        return self.name if self.kind == "gather" else f"{self.start}:{self.stop}"

    def read(self, src: str, var: str, R: str) -> str:
        base = f"{src}[{var!r}][{R}, {self.cols}]"
        if self.kind == "rows":
            return f"{base}.reshape(-1, {self.n}, {self.m})"
        if self.kind == "cols":
            return f"{base}.reshape(-1, {self.m}, {self.n}).transpose(0, 2, 1)"
        return base

    def read1(self, arr: str) -> str:
        """The same block of an unbatched vector (e.g. consensus weights)."""
        if self.kind == "rows":
            return f"{arr}[{self.cols}].reshape({self.n}, {self.m})"
        if self.kind == "cols":
            return f"{arr}[{self.cols}].reshape({self.m}, {self.n}).T"
        return f"{arr}[{self.cols}]"

    def assign1(self, arr: str, value: str) -> str:
        if self.kind == "gather":
            return f"{arr} = _assign({arr}, {self.name}, {value})"
        if self.kind == "cols":
            value = f"({value}).T.reshape(-1)"
        elif self.kind == "rows":
            value = f"({value}).reshape(-1)"
        return f"{arr} = _assign({arr}, slice({self.start}, {self.stop}), {value})"

    def put(self, var: str, R: str, value: str) -> str:
        if self.kind == "gather":
            return f"_put(out, {var!r}, ({R}, {self.name}), {value})"
        where = f"({R}, slice({self.start}, {self.stop}))"
        if self.kind == "rows":
            value = f"({value}).reshape(-1, {self.n * self.m})"
        elif self.kind == "cols":
            value = f"({value}).transpose(0, 2, 1).reshape(-1, {self.n * self.m})"
        return f"_put(out, {var!r}, {where}, {value})"


def _ix(a: np.ndarray, name: str, consts: list[str]) -> Ix:
    a = np.asarray(a)
    if a.ndim == 1:
        if a.size and np.array_equal(a, a[0] + np.arange(a.size)):
            return Ix("range", int(a[0]), int(a.size))
    else:
        n, m = a.shape
        s0 = int(a.flat[0])
        if np.array_equal(a, s0 + np.arange(n * m).reshape(n, m)):
            return Ix("rows", s0, n, m)
        if np.array_equal(a, s0 + np.arange(n * m).reshape(m, n).T):
            return Ix("cols", s0, n, m)
    consts.append(f"{name} = {_arr(a)}")
    return Ix("gather", name=name)


class _CurvePrinter(PythonCodePrinter):
    """Prints a sympy expression as array code over `xp` (no text is ever evaluated)."""

    def _print_Function(self, expr):
        return f"xp.{expr.func.__name__.lower()}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Abs(self, expr):
        return f"xp.abs({self._print(expr.args[0])})"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.as_base_exp()
        if exp == sympy.Rational(1, 2):
            return f"xp.sqrt({self._print(base)})"
        return f"({self._print(base)})**({self._print(exp)})"

    def _print_Exp1(self, expr):
        return "math.e"

    def _print_Pi(self, expr):
        return "math.pi"


class SolverWriter:
    """Writes one solver module for a plan and a dialect."""

    def __init__(self, plan: Plan, dialect: Dialect):
        self.plan = plan
        self.model = plan.model
        self.d = dialect
        self.consts: list[str] = []
        self.kinds: set[str] = set()
        self.curves: list[str] = []
        self.piece_tables: dict[str, str] = {}

    # --- helpers -----------------------------------------------------------------------
    def line_ref(self, f: ir.Family) -> str:
        text = f.span.line_text() or ""
        text = text.split("#")[0].strip()
        return f"{self.model.file}:{f.span.line}: {text}"

    def const(self, name: str, value: str) -> str:
        self.consts.append(f"{name} = {value}")
        return name

    def rows(self, part: ir.SubBatch | None) -> str:
        if part is None or (part.start == 0 and part.size == self.model.batch.size
                            and len(self.model.batch.parts) == 1):
            return "ALL"
        return f"slice({part.start}, {part.stop})"

    def pieces(self, aset: ir.ActivationSet) -> str:
        key = aset.name + ("_" + "_".join(f"{a:g}" for a in aset.args) if aset.args else "")
        key = "".join(ch if ch.isalnum() else "_" for ch in key).upper()
        if key in self.piece_tables:
            return self.piece_tables[key]
        items = []
        for i, p in enumerate(aset.pieces):
            if p.affine is not None:
                a, c = p.affine
                items.append(f'("affine", {_num(p.lo)}, {_num(p.hi)}, {_num(a)}, {_num(c)})')
                self.kinds.add("piecewise")
            else:
                self.kinds.add("smooth")
                z = sympy.Symbol("z", real=True)
                f = p.curve
                df = sympy.diff(f, z)
                d2f = sympy.diff(df, z)
                base = f"_{key.lower()}_{i}"
                pr = _CurvePrinter()
                for suffix, expr in (("", f), ("_d", df), ("_d2", d2f)):
                    self.curves.append(
                        f"def {base}{suffix}(xp, z):\n"
                        f"    # {suffix or 'f'}: {sympy.sstr(expr)}\n"
                        f"    return {pr.doprint(expr)} + 0.0 * z\n"
                    )
                items.append(f'("curve", {_num(p.lo)}, {_num(p.hi)}, {base}, {base}_d, '
                             f'{base}_d2)')
        self.kinds.add("activation")
        name = f"PIECES_{key}"
        self.piece_tables[key] = name
        args = f"({', '.join(f'{x:g}' for x in aset.args)})" if aset.args else ""
        self.consts.append(f"{name} = (  # set {aset.name}{args}: (kind, lo, hi, ...) per piece\n    "
                           + ",\n    ".join(items) + ",\n)")
        return name

    # --- families ------------------------------------------------------------------------
    def family_function(self, lf: LoweredFamily) -> str:
        f = lf.family
        fn = {
            "consensus": self.consensus,
            "activation": self.activation,
            "bilinear": self.bilinear,
            "class": self.class_constraint,
        }[f.kind]
        body = fn(lf)
        doc = f'    """{f.kind} ({lf.set}): {self.line_ref(f)}"""'
        return f"def project_{f.name}(src, out, data):\n{doc}\n" + "\n".join(
            "    " + b if b else "" for b in body
        ) + "\n"

    def group_index(self, lf: LoweredFamily, gi: int, g: Group) -> dict[str, Ix]:
        base = f"{lf.family.name.upper()}_{gi}"
        out = {}
        if g.edges is not None:
            out["E"] = _ix(g.edges, f"{base}_EDGES", self.consts)
        for v, pos in g.positions.items():
            out[v] = _ix(pos, f"{base}_{v.upper()}", self.consts)
        return out

    def consensus(self, lf: LoweredFamily) -> list[str]:
        f: ir.ConsensusFamily = lf.family
        var = self.model.variables[f.var]
        R = self.rows(f.part)
        lines = []
        side = f.side
        for gi, g in enumerate(lf.groups):
            c = self.group_index(lf, gi, g)
            idx = c["E"] if var.axis == "edges" else c[f.var]
            lines.append(f"v = {idx.read('src', f.var, R)}")
            if f.over == "edges":
                lines.append("mean = v.mean(axis=-1)  # the consensus value (Lemma 4.1)")
            else:
                lines.append("mean = v.mean(axis=0)  # consensus over the batch items")
            lines += self.side(f, side, g, gi)
            value = ("xp.broadcast_to(mean[..., None], v.shape)" if f.over == "edges"
                     else "xp.broadcast_to(mean, v.shape)")
            lines.append(idx.put(f.var, R, value))
        return lines

    def side(self, f: ir.ConsensusFamily, side: ir.SideConstraint, g: Group, gi: int) -> list:
        k = side.kind
        if k == "none":
            return []
        if k == "fixed":
            if side.fixed.input is None:
                return [f"mean = xp.full_like(mean, {_num(side.fixed.constant)})"]
            inp = self.model.inputs[side.fixed.input]
            cols = np.array([inp.nodes.index(n) for n in g.nodes])
            cname = _ix(cols, f"{f.name.upper()}_{gi}_COLS", self.consts).cols
            rows = self.input_rows(inp, f.part)
            return [f"mean = data[{inp.name!r}][{rows}, {cname}]  # the data (fixed value)"]
        self.kinds.add(k)
        if k == "nonneg":
            return ["mean = nonneg_projection(xp, mean)"]
        if k == "box":
            lo, hi = side.args
            return [f"mean = box_projection(xp, mean, {_num(lo)}, {_num(hi)})"]
        if f.over == "edges" or self.model.variables[f.var].axis != "edges":
            raise ValueError(f"{k} needs a vector consensus (w[*, in(j)])")
        if k == "sphere":
            return [f"mean = sphere_projection(xp, mean, {_num(side.args[0])})"]
        if k == "nonneg_sphere":
            return [f"mean = nonneg_sphere_projection(xp, mean, {_num(side.args[0])})"]
        if k == "sparse_nonneg":
            return [f"mean = sparse_nonneg_projection(xp, mean, {int(side.args[0])})"]
        raise ValueError(k)

    def input_rows(self, inp: ir.Input, part: ir.SubBatch | None) -> str:
        part = part or self.model.batch.whole
        if part.start == inp.part.start and part.size == inp.part.size:
            return "ALL"
        return f"slice({part.start - inp.part.start}, {part.stop - inp.part.start})"

    def metric(self, var: str, ix: Ix) -> str:
        v = self.model.variables[var]
        if np.all(v.metric == v.metric[0]):
            return _num(float(v.metric[0]))
        return f"METRIC[{var!r}][{ix.cols}]"

    def activation(self, lf: LoweredFamily) -> list[str]:
        f: ir.ActivationFamily = lf.family
        R = self.rows(f.part)
        pieces = self.pieces(f.set)
        xmetric = float(self.model.variables[f.x].metric[0])
        lines = []
        for gi, g in enumerate(lf.groups):
            c = self.group_index(lf, gi, g)
            m = g.edges.shape[1]
            lines.append(f"xe = {c['E'].read('src', f.x, R)}")
            lines.append("xbar = xe.mean(axis=-1)  # consensus of x over the node's edges")
            lines.append(f"y = {c[f.y].read('src', f.y, R)}")
            lines.append(f"gy = {self.metric(f.y, c[f.y])}")
            if f.b:
                lines.append(f"b = {c[f.b].read('src', f.b, R)}")
                lines.append(f"gb = {self.metric(f.b, c[f.b])}")
                lines.append("z, gz = y - b, gy * gb / (gy + gb)  # y, b move equally and oppositely")
            else:
                lines.append("z, gz = y, gy")
            lines.append(f"gx = {_num(m * xmetric)}  # Lemma 4.1: the replica count times x's metric")
            if f.fixed is not None:
                if f.fixed.input is None:
                    lines.append(f"xnew = xp.full_like(xbar, {_num(f.fixed.constant)})")
                else:
                    inp = self.model.inputs[f.fixed.input]
                    cols = np.array([inp.nodes.index(n) for n in g.nodes])
                    cname = _ix(cols, f"{f.name.upper()}_{gi}_COLS", self.consts).cols
                    lines.append(f"xnew = data[{inp.name!r}][{self.input_rows(inp, f.part)}, "
                                 f"{cname}]  # x is fixed by the data")
                lines.append(f"znew = activation_fixed_projection(xp, z, xnew, {pieces})")
            else:
                lines.append(f"znew, xnew = activation_projection(xp, z, xbar, gz, gx, {pieces})")
            lines.append(c["E"].put(f.x, R, "xp.broadcast_to(xnew[..., None], xe.shape)"))
            if f.b:
                lines.append("y, b = activation_yb_update(xp, y, b, znew - z, gy, gb)")
                lines.append(c[f.y].put(f.y, R, "y"))
                lines.append(c[f.b].put(f.b, R, "b"))
            else:
                lines.append(c[f.y].put(f.y, R, "znew"))
        return lines

    def bilinear(self, lf: LoweredFamily) -> list[str]:
        f: ir.BilinearFamily = lf.family
        self.kinds.add("bilinear")
        R = self.rows(f.part)
        lines = []
        for gi, g in enumerate(lf.groups):
            c = self.group_index(lf, gi, g)
            lines.append(f"x = {c['E'].read('src', f.x, R)}")
            lines.append(f"w = {c['E'].read('src', f.w, R)}")
            if f.y:
                lines.append(f"y = {c[f.y].read('src', f.y, R)}")
                lines.append(f"ginv = 1.0 / {self.metric(f.y, c[f.y])}")
            else:
                inp = self.model.inputs[f.data]
                cols = np.array([inp.nodes.index(n) for n in g.nodes])
                cname = _ix(cols, f"{f.name.upper()}_{gi}_COLS", self.consts).cols
                lines.append(f"y = data[{inp.name!r}][{self.input_rows(inp, f.part)}, {cname}]"
                             "  # fixed by the data")
                lines.append("ginv = 0.0")
            lines.append(f"x, w, y = bilinear_projection(xp, x, w, y, {_num(f.coef)}, ginv)"
                         "  # eq. 19, 51-54")
            lines.append(c["E"].put(f.x, R, "x"))
            lines.append(c["E"].put(f.w, R, "w"))
            if f.y:
                lines.append(c[f.y].put(f.y, R, "y"))
        return lines

    def class_constraint(self, lf: LoweredFamily) -> list[str]:
        f: ir.ClassFamily = lf.family
        self.kinds.add("margin")
        R = self.rows(f.part)
        name = f.name.upper()
        ypos = _ix(lf.class_positions[f.y], f"{name}_{f.y.upper()}", self.consts)
        lab = self.model.labels[f.label]
        lrows = self.input_rows(lab, f.part)
        lines = [f"y = {ypos.read('src', f.y, R)}", f"gy = {self.metric(f.y, ypos)}"]
        if f.b:
            bpos = _ix(lf.class_positions[f.b], f"{name}_{f.b.upper()}", self.consts)
            lines += [f"b = {bpos.read('src', f.b, R)}", f"gb = {self.metric(f.b, bpos)}",
                      "z = y - b"]
        else:
            lines += ["z = y"]
        lines.append(f"znew = class_projection(xp, z, data[{f.label!r}][{lrows}], "
                     f"{_num(f.margin)}, {f.mode!r}, {f.count}, {f.allow_label})")
        if f.b:
            self.kinds.add("activation")  # for activation_yb_update
            lines.append("y, b = activation_yb_update(xp, y, b, znew - z, gy, gb)")
            lines.append(ypos.put(f.y, R, "y"))
            lines.append(bpos.put(f.b, R, "b"))
        else:
            lines.append(ypos.put(f.y, R, "znew"))
        return lines

    # --- the whole module ------------------------------------------------------------------
    def write(self) -> str:
        plan = self.plan
        fam_src = [self.family_function(lf) for lf in plan.families]
        forward_src = self.forward()
        header = self.header()
        library = sets.emit_source(sorted(self.kinds | {"_common"}))
        set_fns = []
        for which in ("A", "B"):
            fams = plan.in_set(which)
            touched = sorted({v for lf in fams for v in lf.family.variables})
            names = ", ".join(lf.family.name for lf in fams)
            body = [f"def project_{which}(state, data):",
                    f'    """Project onto constraint set {which}: {names}."""',
                    f"    out = _copy(state, {touched!r})"]
            for lf in fams:
                body.append(f"    project_{lf.family.name}(state, out, data)")
            body.append("    return _assemble(out)")
            set_fns.append("\n".join(body) + "\n")
        parts = [
            header,
            self.d.imports,
            "\n# --- projections from the lwlc set library (lwlc/sets) ---\n",
            library,
            "\n".join(self.curves),
            "\n# --- the model's layout ---\n",
            INDEX_HELPERS,
            self.layout(),
            "\n".join(self.consts),
            "\n\n# --- one function per constraint family ---\n",
            "\n\n".join(fam_src),
            "\n# --- the two constraint sets (derived by lwlc's split) ---\n",
            "\n\n".join(set_fns),
            RRR_SOURCE.format(error_norm=self.error_norm()),
            forward_src,
            self.d.driver,
        ]
        text = "\n".join(p.rstrip("\n") + "\n" for p in parts if p)
        return text

    def header(self) -> str:
        m = self.model
        return (
            f'"""RRR solver for model {m.name!r} ({m.file}), emitted by lwlc {__version__} for '
            f"the {self.d.name} backend.\n\n"
            f"{m.title or ''}\n"
            "Regenerate instead of editing: "
            f"lwlc compile {m.file} --backend {self.d.name}\n"
            "API: initial_params, init, project_A, project_B, rrr_step, solve_batch, "
            "consensus_params, predict, forward.\n"
            '"""\n'
        )

    def error_norm(self) -> str:
        if self.model.solver.error == "element":
            return f"(K * {len(self.plan.edge_set) if self.plan.edge_set else 1})"
        return "K"

    def layout(self) -> str:
        plan, m = self.plan, self.model
        s = m.solver
        lines = [
            f"MODEL = {m.name!r}",
            f"PROBLEM = {plan.problem!r}",
            f"PARAMS = {dict(m.params)!r}",
            f"SOLVER = {dict(method=s.method, beta=s.beta, lam=s.lam, iterations=s.iterations, tolerance=s.tolerance, epochs=s.epochs, seed=s.seed, error=s.error, restart=s.restart)!r}",  # noqa: E501
            f"BATCH = {m.batch.size}",
            f"PARTS = {({p.name: (p.start, p.stop) for p in m.batch.parts})!r}",
            f"N_NODES = {m.n_nodes}",
            "ALL = slice(None)",
        ]
        es = plan.edge_set
        if es is not None:
            lines.append(f"N_EDGES = {len(es)}")
            blocks = _dense_blocks(es)
            if blocks is not None:
                lines.append(f"EDGE_TAIL, EDGE_HEAD = _dense_edges({blocks!r})  # {es.name}: "
                             "dense blocks (tail start, count, head start, count)")
            else:
                lines.append(f"EDGE_TAIL = {_arr(es.tail)}")
                lines.append(f"EDGE_HEAD = {_arr(es.head)}")
        shapes = {}
        metric = {}
        for v in m.variables.values():
            shapes[v.name] = (v.axis, v.size)
            if np.all(v.metric == v.metric[0]):
                metric[v.name] = _num(v.metric[0])
            else:  # runs of equal weights, e.g. outdeg per layer
                change = np.flatnonzero(np.diff(v.metric)) + 1
                starts = np.concatenate([[0], change])
                counts = np.diff(np.concatenate([starts, [v.metric.size]]))
                values = [float(x) for x in v.metric[starts]]
                metric[v.name] = f"np.repeat({values}, {counts.tolist()})"
        lines.append(f"VARIABLES = {shapes!r}  # name: (axis, size); state arrays are [items, size]")
        lines.append("METRIC = {  # metric weight of each element (eq. 15, 27, 30, 31)")
        for k, v in metric.items():
            lines.append(f"    {k!r}: {v},")
        lines.append("}")
        lines.append("INPUTS = {  # name: (batch part, start, stop, nodes)")
        for i in m.inputs.values():
            lines.append(f"    {i.name!r}: ({i.part.name!r}, {i.part.start}, {i.part.stop}, "
                         f"{_arr(np.array(i.nodes))}),")
        lines.append("}")
        labels = {lb.name: (lb.part.name, list(lb.classes)) for lb in m.labels.values()}
        lines.append(f"LABELS = {labels!r}  # name: (batch part, class nodes)")
        samples = {s.name: (s.source_var, s.source_part.start, s.source_part.stop, list(s.nodes))
                   for s in m.samples.values()}
        lines.append(f"SAMPLES = {samples!r}  # name: (variable, source items, nodes) (eq. 37)")
        return "\n".join(lines) + "\n"

    def forward(self) -> str:
        """`initial_params`, `forward`, `init`, `consensus_params`, `predict` from the plan."""
        plan, m = self.plan, self.model
        lines: list[str] = []
        w, b, x, y = plan.weights, plan.biases, plan.x, plan.y
        wf = plan.weight_family
        lines.append("def initial_params(rng):")
        lines.append('    """Random consensus weights satisfying their side constraint; zero '
                     'biases (Sect. 4.3, 5.4)."""')
        lines.append("    params = {}")
        if w and wf is not None:
            side = wf.side.kind
            lw = next(lf for lf in plan.families if lf.family is wf)
            lines.append("    wa = xp.asarray(rng.uniform(0.0, 1.0, size=N_EDGES))")
            for gi, g in enumerate(lw.groups):
                ix = self.group_index(lw, gi, g)["E"]
                lines.append(f"    v = {ix.read1('wa')}")
                if side == "sphere":
                    lines.append("    v = v - v.mean(axis=-1, keepdims=True)  # centered per neuron")
                    lines.append(f"    v = sphere_projection(xp, v, {_num(wf.side.args[0])})")
                elif side == "nonneg_sphere":
                    lines.append(f"    v = nonneg_sphere_projection(xp, v, {_num(wf.side.args[0])})")
                    self.kinds.add("nonneg_sphere")
                elif side in ("nonneg", "box", "sparse_nonneg"):
                    pass
                lines.append(f"    {ix.assign1('wa', 'v')}")
            lines.append(f"    params[{w!r}] = wa")
        if b:
            lines.append(f"    params[{b!r}] = xp.zeros({m.variables[b].size})")
        lines.append("    return params")
        lines.append("")
        # forward, one function per batch part
        for part in m.batch.parts:
            lines += self.forward_part(part)
        parts = m.batch.parts
        lines.append("def forward_part(name, params, data, K):")
        lines.append('    """Feed-forward for K items of one batch part (its own data/code layer)."""')
        lines.append("    return {" + ", ".join(f"{p.name!r}: forward_{p.name}" for p in parts)
                     + "}[name](params, data, K)")
        lines.append("")
        lines.append("def forward(params, data, K):")
        lines.append('    """Feed-forward of a whole batch (each part fed from its own fixed layer), or of '
                     'K items of the first part.')
        lines.append("    Returns node values X [K, N_NODES] and pre-activations Y [K, N_NODES]"
                     ' (y, before the bias)."""')
        if len(parts) == 1:
            lines.append(f"    return forward_{parts[0].name}(params, data, K)")
        else:
            lines.append(f"    if K != BATCH:\n        return forward_{parts[0].name}(params, data, K)")
            calls = ", ".join(f"forward_{p.name}(params, data, {p.size})" for p in parts)
            lines.append(f"    pieces = [{calls}]")
            lines.append("    X = xp.concatenate([p[0] for p in pieces], axis=0)")
            lines.append("    Y = xp.concatenate([p[1] for p in pieces], axis=0)")
            lines.append("    return X, Y")
        lines.append("")
        # init
        lines.append("def init(params, data, rng=None):")
        lines.append('    """A state that satisfies every constraint but the class/data ones: '
                     'warm start (Sect. 4.3, 5.4)."""')
        lines.append("    K = BATCH")
        lines.append("    X, Y = forward(params, data, K)")
        if plan.problem == "factorization":
            lines += self.factorization_codes()
        lines.append("    state = {}")
        for v in m.variables.values():
            if v.name == x:
                lines.append(f"    state[{x!r}] = X[:, EDGE_TAIL]")
            elif v.name == w:
                lines.append(f"    state[{w!r}] = xp.broadcast_to(params[{w!r}], (K, N_EDGES)) + 0.0")
            elif v.name == y and v.nodes is not None:
                lines.append(f"    state[{y!r}] = Y[:, {_arr(np.array(v.nodes))}]")
            elif v.name == b:
                lines.append(f"    state[{b!r}] = xp.broadcast_to(params[{b!r}], (K, {v.size})) + 0.0")
            else:
                lines.append(f"    state[{v.name!r}] = xp.zeros((K, {v.size}))")
        lines.append("    return state")
        lines.append("")
        # consensus params
        lines.append("def consensus_params(state, data):")
        lines.append('    """The learned parameters (Sect. 5.4: "the final consensus weights (wA) and '
                     'biases (bB)"): each item-consensus family\'s value from its own set\'s '
                     'projection in the last RRR iteration, P_A(x) or P_B(2 P_A(x) - x)."""')
        lines.append("    pa = project_A(state, data)")
        sides = {plan.split.sets[f.name] for f in (plan.weight_family, plan.bias_family) if f}
        if "B" in sides:
            lines.append("    pb = project_B({k: 2.0 * pa[k] - state[k] for k in state}, data)")
        lines.append("    params = {}")
        for var, fam in ((w, plan.weight_family), (b, plan.bias_family)):
            if var and fam is not None:
                src = "pa" if plan.split.sets[fam.name] == "A" else "pb"
                lines.append(f"    params[{var!r}] = {src}[{var!r}].mean(axis=0)")
        if plan.problem == "factorization" and x:
            lines.append(f"    params['codes'] = pa[{x!r}]")
        lines.append("    return params")
        lines.append("")
        # predict
        lines.append("def predict(params, data, K):")
        if plan.class_family is not None:
            cf = plan.class_family
            cn = self.const("CLASS_NODES", _arr(np.array(cf.classes)))
            lines.append('    """Class of each item: the class node with the largest y - b '
                         '(Sect. 5.4)."""')
            lines.append("    X, Y = forward(params, data, K)")
            bexpr = ""
            if cf.b:
                bpos = self.const("CLASS_BPOS", _arr(m.variables[cf.b].positions(cf.classes)))
                bexpr = f" - params[{cf.b!r}][{bpos}]"
            lines.append(f"    z = Y[:, {cn}]{bexpr}")
            lines.append("    return xp.argmax(z, axis=-1)")
        else:
            lines.append('    """Node values from the feed-forward pass (eq. 13 for codes)."""')
            lines.append("    X, Y = forward(params, data, K)")
            if plan.problem == "factorization":
                lines += self.factorization_codes()
                lines.append("    return X")
            else:
                lines.append("    return X")
        return "\n".join(lines) + "\n"

    def forward_part(self, part) -> list[str]:
        plan, m = self.plan, self.model
        w = plan.weights
        layers = plan.schedules.get(part.name, ())
        lines = [f"def forward_{part.name}(params, data, K):",
                 f'    """Feed-forward for items of batch part {part.name!r}: consensus weights '
                 'and biases, the activation\'s inference map (Sect. 5.4, 6.1.1)."""',
                 "    X = xp.zeros((K, N_NODES))",
                 "    Y = xp.zeros((K, N_NODES))"]
        tag = part.name.upper()
        for li, layer in enumerate(layers):
            if layer.kind == "data":
                inp = m.inputs[layer.source]
                cols = np.array([inp.nodes.index(n) for n in layer.nodes])
                nodes = self.const(f"{tag}_LAYER{li}_NODES", _arr(np.array(layer.nodes)))
                colc = self.const(f"{tag}_LAYER{li}_COLS", _arr(cols))
                lines.append(f"    if {inp.name!r} in data:  # data layer: the item's input")
                lines.append(f"        X = _assign(X, (ALL, {nodes}), data[{inp.name!r}][:K, {colc}])")
                continue
            g = layer.group
            edges = self.const(f"{tag}_LAYER{li}_EDGES", _arr(g.edges))
            nodes = self.const(f"{tag}_LAYER{li}_NODES", _arr(np.array(g.nodes)))
            coef = layer.bilinear.coef
            lines.append(f"    # {layer.bilinear.name} ({m.file}:{layer.bilinear.span.line}) on "
                         f"{len(g.nodes)} node(s)")
            lines.append(f"    yl = (X[:, EDGE_TAIL[{edges}]] * params[{w!r}][{edges}]).sum(axis=-1)"
                         f" / {_num(coef)}")
            lines.append(f"    Y = _assign(Y, (ALL, {nodes}), yl)")
            af = layer.activation
            if af is not None:
                pieces = self.pieces(af.set)
                if af.b:
                    bpos = self.const(f"{tag}_LAYER{li}_BPOS",
                                      _arr(m.variables[af.b].positions(g.nodes)))
                    zexpr = f"yl - params[{af.b!r}][{bpos}]"
                else:
                    zexpr = "yl"
                lines.append(f"    X = _assign(X, (ALL, {nodes}), activation_inference(xp, {zexpr}, "
                             f"{pieces}))")
        lines.append("    return X, Y")
        lines.append("")
        lines += self.reconstruct_part(part, layers)
        return lines

    def reconstruct_part(self, part, layers) -> list[str]:
        """Reconstruction at a part's fixed (data or code) layer: f(y - b) vs the fixed x
        (eq. 40-41), for autoencoders fed around a cycle."""
        m = self.model
        fixed = [ly for ly in layers if ly.kind == "data"]
        lines = [f"def reconstruct_{part.name}(params, data, K):",
                 f'    """{{input: (fixed values, f(y - b) after feeding around)}} for part '
                 f'{part.name!r} (eq. 40-41)."""',
                 f"    X, Y = forward_{part.name}(params, data, K)",
                 "    out = {}"]
        tag = part.name.upper()
        for li, layer in enumerate(fixed):
            af = next((f for f in m.families if isinstance(f, ir.ActivationFamily)
                       and f.fixed is not None and f.fixed.input == layer.source
                       and set(layer.nodes) <= set(f.nodes)), None)
            if af is None:
                continue
            nodes = self.const(f"{tag}_FIXED{li}_NODES", _arr(np.array(layer.nodes)))
            pieces = self.pieces(af.set)
            zexpr = f"Y[:, {nodes}]"
            if af.b:
                bpos = self.const(f"{tag}_FIXED{li}_BPOS",
                                  _arr(m.variables[af.b].positions(layer.nodes)))
                zexpr += f" - params[{af.b!r}][{bpos}]"
            lines.append(f"    out[{layer.source!r}] = (X[:, {nodes}], "
                         f"activation_inference(xp, {zexpr}, {pieces}))")
        lines.append("    return out")
        lines.append("")
        return lines

    def factorization_codes(self) -> list[str]:
        """Codes from the pseudo-inverse encoder x = P_side(E_W y) (eq. 12-13)."""
        plan, m = self.plan, self.model
        bf = next(f for f in m.families if isinstance(f, ir.BilinearFamily) and f.data)
        inp = m.inputs[bf.data]
        heads = np.array(inp.nodes)
        es = plan.edge_set
        tails = np.array(sorted(set(es.tail[np.isin(es.head, heads)].tolist())))
        tc = self.const("CODE_NODES", _arr(tails))
        hc = self.const("DATA_NODES", _arr(heads))
        codes_side = "codes"
        for f in m.families:
            if isinstance(f, ir.ConsensusFamily) and f.var == plan.x and f.over == "edges":
                if f.side.kind == "nonneg":
                    codes_side = "xp.maximum(codes, 0.0)"
        return [
            "    # codes from the pseudo-inverse encoder (eq. 12-13)",
            "    Wm = xp.zeros((N_NODES, N_NODES))",
            f"    Wm = _assign(Wm, (EDGE_TAIL, EDGE_HEAD), params[{plan.weights!r}])",
            f"    W = Wm[{tc}][:, {hc}]",
            f"    codes = data[{inp.name!r}][:K] @ xp.linalg.pinv(W)",
            f"    codes = {codes_side}",
            f"    X = _assign(X, (ALL, {tc}), codes)",
        ]


INDEX_HELPERS = '''
def _dense_edges(blocks):
    """(tail, head) of every edge of dense blocks, sorted by head, then tail."""
    tail = np.concatenate([np.tile(np.arange(t0, t0 + nt), nh) for t0, nt, h0, nh in blocks])
    head = np.concatenate([np.repeat(np.arange(h0, h0 + nh), nt) for t0, nt, h0, nh in blocks])
    order = np.lexsort((tail, head))
    return tail[order], head[order]


def _rows(start, n, m):
    """Index matrix of a dense block whose rows are contiguous (in(j) of a dense layer)."""
    return start + np.arange(n * m).reshape(n, m)


def _cols(start, n, m):
    """Index matrix of a dense block read column-wise (out(i) of a dense layer)."""
    return start + np.arange(n * m).reshape(m, n).T


def _strided(starts, stride, m):
    return starts[:, None] + stride * np.arange(m)[None, :]


'''

RRR_SOURCE = '''
def _copy(state, names):
    """A set's output: the input state, with a list of pending writes per touched variable."""
    out = dict(state)
    out["__writes__"] = {{name: [] for name in names}}
    return out


def _put(out, name, index, value):
    """Record out[name][index] = value; _assemble applies it."""
    out["__writes__"][name].append((index, value))


def _assemble(out):
    """Apply the recorded writes: the input is copied and updated block by block, or (JAX)
    its column blocks are concatenated where they tile the variable for every item, which
    spares XLA the copy of the input and the updates in place."""
    writes = out.pop("__writes__")
    for name, puts in writes.items():
        joined = _joined(out[name], puts) if JOIN_BLOCKS else None
        if joined is None:
            joined = _fresh(out[name])
            for index, value in puts:
                joined = _assign(joined, index, value)
        out[name] = joined
    return out


def _joined(base, puts):
    """The writes as one concatenation, if they are column blocks tiling ``base``; else None."""
    if not all(index[0] is ALL and isinstance(index[1], slice) for index, _ in puts):
        return None
    blocks = sorted(((index[1].start, index[1].stop, value) for index, value in puts),
                    key=lambda block: block[0])
    stops = [0] + [stop for _, stop, _ in blocks]
    if [start for start, _, _ in blocks] != stops[:-1] or stops[-1] != base.shape[1]:
        return None
    return xp.concatenate([xp.broadcast_to(xp.asarray(value, dtype=base.dtype),
                                           (base.shape[0], stop - start))
                           for start, stop, value in blocks], axis=1)


def _error(delta, K):
    total = 0.0
    for name, d in delta.items():
        total = total + (METRIC[name] * d * d).sum()
    return xp.sqrt(total / {error_norm})


def rrr_step(state, data, beta=SOLVER["beta"], lam=SOLVER["lam"], method=SOLVER["method"]):
    """One iteration: RRR eq. 45 (eq. 47 with lam), DR (beta = 1) or AP. Returns (state, err)
    with err the RRR_err of eq. 22/27: the metric norm of P_B(2 P_A(x) - x) - P_A(x)."""
    K = next(iter(state.values())).shape[0]
    pa = project_A(state, data)
    if method == "ap":
        pb = project_B(pa, data)
        delta = {{k: pb[k] - pa[k] for k in state}}
        return pb, _error(delta, K)
    if lam is None:
        pb = project_B({{k: 2.0 * pa[k] - state[k] for k in state}}, data)
        delta = {{k: pb[k] - pa[k] for k in state}}
        new = {{k: state[k] + beta * delta[k] for k in state}}
        return new, _error(delta, K)
    pb_x = project_B(state, data)
    left = project_B({{k: (1.0 + lam) * pa[k] - lam * state[k] for k in state}}, data)
    right = project_A({{k: (1.0 - lam) * pb_x[k] + lam * state[k] for k in state}}, data)
    delta = {{k: left[k] - right[k] for k in state}}
    new = {{k: state[k] + beta * delta[k] for k in state}}
    return new, _error(delta, K)
'''


def curve_functions(expr):
    """(f, f', f'') of a smooth piece as callables (xp, z) for the set library's tests.

    sympy.lambdify prints the expression tree (built node by node from the parse tree, never
    from model text) for numpy or jax.
    """
    z = sympy.Symbol("z", real=True)
    exprs = (expr, sympy.diff(expr, z), sympy.diff(expr, z, 2))
    out = []
    for e in exprs:
        f_np = sympy.lambdify(z, e, modules="numpy")
        f_jax = sympy.lambdify(z, e, modules="jax")

        def fn(xp, zz, f_np=f_np, f_jax=f_jax):
            f = f_jax if xp.__name__.startswith("jax") else f_np
            return f(zz) + 0.0 * zz

        out.append(fn)
    return tuple(out)
