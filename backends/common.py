"""Code generation shared by the backends: a lowered plan → a standalone solver module.

The module is assembled from real code: the set library's projections (`lwlc.sets`), the
runtime (`lwlc.runtime`: state assembly, the RRR step, the loop) and, generated from the plan,
one function per constraint family (written by the family's kind, `lwlc.kinds`), the two sets,
initialization, inference and prediction. A backend differs only in its `Dialect`. The result
is pruned to what the API reaches (`prune`), so it holds only what the model uses.
"""

from __future__ import annotations

import ast
import functools
import keyword
import math
import re
import textwrap
from dataclasses import dataclass, field

import numpy as np

from lwlc import __version__, ir, runtime, sets
from lwlc.kinds import kind_of
from lwlc.laneplan import NoLaneRule, Op, lane_program
from lwlc.lower import Group, LatentSolve, LearnedValue, LoweredFamily, Neuron, Plan, Sweep
from lwlc.runtime import inference, rrr, state

LINE = 88  # emitted code is checked with ruff's default line length


def latent_bounds(side: ir.SideConstraint) -> tuple[str, str] | None:
    """The bounds (lo, hi, as emitted) within which inference solves latent nodes under
    their side constraint: box's, or 0 and inf where it holds them nonnegative (nonneg,
    and nonneg & sparse or nonneg & sphere, whose sparsity and norm it leaves: an NMF's
    codes under nonneg & sparse(2) were inferred negative, a user test); None for others."""
    if side.kind == "box":
        return tuple(num(a) for a in side.args)
    if side.kind in ("nonneg", "sparse_nonneg", "nonneg_sphere"):
        return ("0.0", "xp.inf")
    return None


@dataclass(frozen=True)
class Dialect:
    """What a backend adds: its imports (binding `xp` and `np`), runtime sections (name,
    module, definitions), and the body of its API (`solve_batch`, ...)."""

    name: str
    imports: str
    runtime: tuple[tuple[object, tuple[str, ...]], ...]
    api: str
    roots: tuple[str, ...]  # API names the module exports beside the common ones
    options: dict = field(default_factory=dict)


API_ROOTS = ("initial_params", "init", "project_A", "project_B", "rrr_step", "solve_batch",
             "consensus_params", "forward", "predict", "latent_values", "project_family",
             "FAMILIES", "MODEL", "BATCH",
             "PARTS", "N_NODES", "METRIC")


class Namer:
    """Unique Python identifiers for the names a model brings into the module: no two model
    names collide (case and suffixes included) and none shadows the solver's own names."""

    def __init__(self, reserved: set[str]):
        self.used = set(reserved) | set(keyword.kwlist) | set(dir(__builtins__))

    def fresh(self, base: str) -> str:
        base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in base) or "v"
        if base[0].isdigit():
            base = "_" + base
        name, i = base, 2
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name


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


def _wrap_list(values: list, indent: int = 4) -> str:
    """A list literal wrapped to the line length."""
    items = [str(v) for v in values]
    lines, cur = [], ""
    for it in items:
        piece = it + ", "
        if len(cur) + len(piece) + indent > LINE - 2 and cur:
            lines.append(cur.rstrip())
            cur = ""
        cur += piece
    lines.append(cur.rstrip().rstrip(","))
    pad = " " * indent
    return "[\n" + "\n".join(pad + ln for ln in lines) + "\n]"


def _kept_wrapped(statement: str) -> str:
    """A statement whose literal _wrap_list wrapped over many lines, kept so: ruff's format
    put each number of a list on a line of its own (a million lines for 550k random
    edges)."""
    return statement + "  # fmt: skip" if statement.count("\n") >= 2 else statement


def array_literal(a: np.ndarray) -> str:
    """A compact literal for an index array: arange patterns when there are some."""
    a = np.asarray(a)
    if a.ndim == 1:
        if a.size and np.array_equal(a, a[0] + np.arange(a.size)):
            return f"np.arange({int(a[0])}, {int(a[0]) + a.size})"
        runs = _arithmetic_runs(a) if a.size else []
        if len(runs) == 1:
            return runs[0]
        if 1 < len(runs) <= 8:
            return "np.concatenate(" + _wrap_list(runs) + ")"
        return "np.array(" + _wrap_list(a.tolist()) + ")"
    n, m = a.shape
    s = int(a.flat[0])
    if np.array_equal(a, s + np.arange(n * m).reshape(n, m)):
        return f"_rows({s}, {n}, {m})"
    if np.array_equal(a, s + np.arange(n * m).reshape(m, n).T):
        return f"_cols({s}, {n}, {m})"
    if m > 1:
        stride = int(a[0, 1] - a[0, 0])
        starts = a[:, 0]
        if np.array_equal(a, starts[:, None] + stride * np.arange(m)[None, :]):
            return f"_strided({array_literal(starts)}, {stride}, {m})"
    return f"np.array({_wrap_list(a.ravel().tolist())}).reshape({n}, {m})"


def dense_blocks(es: ir.EdgeSet) -> list[tuple[int, int, int, int]] | None:
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
    tail, head = state._dense_edges(blocks)
    if not (np.array_equal(tail, es.tail) and np.array_equal(head, es.head)):
        return None
    return blocks


def _float_literal(a: np.ndarray) -> str:
    """A float table: a number, np.full of one, or the values."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return num(float(a))
    if a.size and np.all(a == a.flat[0]):
        return f"np.full({a.size}, {num(float(a.flat[0]))})"
    return "np.array(" + _wrap_list([num(float(v)) for v in a.ravel()]) + ")"


def num(v: float) -> str:
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
    dims: tuple[int, ...] = ()  # the index array's shape: [nodes] or [nodes, edges per node]
    # where the families' column ranges are recorded (var -> boundaries; None: a gather),
    # which become the JAX loop's state blocks (lwlc/runtime/jax_blocks.py)
    sink: dict | None = field(default=None, compare=False, repr=False)

    def _record(self, var: str) -> None:
        if self.sink is None:
            return
        if self.kind == "gather":
            self.sink[var] = None
            return
        seen = self.sink.setdefault(var, {"bounds": set()})
        if seen is not None:
            seen["bounds"].update((self.start, self.stop))

    @property
    def stop(self) -> int:
        return self.start + (self.n * self.m if self.kind in ("rows", "cols") else self.n)

    @property
    def cols(self) -> str:
        """The positions inside a subscript: `a:b` or the index constant's name."""
        return self.name if self.kind == "gather" else f"{self.start}:{self.stop}"

    @property
    def expr(self) -> str:
        """The positions as an expression (valid in a tuple)."""
        return self.name if self.kind == "gather" else f"slice({self.start}, {self.stop})"

    def read(self, src: str, var: str, R: str) -> str:
        if src == "src":
            self._record(var)
        base = f"{src}[{var!r}][{R}, {self.cols}]"
        if self.kind == "rows":
            return f"{base}.reshape(-1, {self.n}, {self.m})"
        if self.kind == "cols":
            return f"{base}.reshape(-1, {self.m}, {self.n}).transpose(0, 2, 1)"
        return base

    def _as_block(self, flat: str) -> str:
        """A vector of this block's elements, in order, shaped as the block."""
        if self.kind == "rows":
            return f"{flat}.reshape({self.n}, {self.m})"
        if self.kind == "cols":
            return f"{flat}.reshape({self.m}, {self.n}).T"
        return flat

    def read1(self, arr: str) -> str:
        """The same block of an unbatched vector (e.g. learned weights)."""
        return self._as_block(f"{arr}[{self.cols}]")

    def read_mean(self, arr: str, R: str) -> str:
        """The mean over the items R of this block of `arr`, shaped as read1 shapes it."""
        return self._as_block(f"_item_means(xp, {arr}, {R}, {self.expr})")

    def assign1(self, arr: str, value: str) -> str:
        if self.kind == "gather":
            return f"{arr} = _assign({arr}, {self.name}, {value})"
        if self.kind == "cols":
            value = f"({value}).T.reshape(-1)"
        elif self.kind == "rows":
            value = f"({value}).reshape(-1)"
        return f"{arr} = _assign({arr}, slice({self.start}, {self.stop}), {value})"

    def put(self, var: str, R: str, value: str) -> str:
        self._record(var)
        if self.kind == "gather":
            return f"_put(out, {var!r}, ({R}, {self.name}), {value})"
        where = f"({R}, slice({self.start}, {self.stop}))"
        if self.kind == "rows":
            value = f"({value}).reshape(-1, {self.n * self.m})"
        elif self.kind == "cols":
            value = f"({value}).transpose(0, 2, 1).reshape(-1, {self.n * self.m})"
        return f"_put(out, {var!r}, {where}, {value})"



# The fused edge pass is the default where the bilinear rows have at least this mean
# fan-in: below it XLA's vectorized Newton solves and the unfused passes are as fast or
# faster (docs/performance.md: 784-20-10 style nets at fan-in 17 gain 4-15 %, at 28 30-40
# %, at 92 2.3-2.7x; majority 13-26-2 (14) and LEDM (5) lose).
FUSED_MIN_FAN_IN = 24
# The lane kernel is solve_batch's default for a state of at most this many bytes (in
# float64), whose neurons' mean fan-in is below FUSED_MIN_FAN_IN: there it beats XLA's
# loop; from that fan-in on, the fused edge pass does (docs/performance.md, "The lane
# kernel"). Beyond the size it still ran faster (majority 13-26-2 at 52 MiB: 28 ms
# against 53), but holds two more copies of the state.
LANE_MAX_BYTES = 8 << 20


def fused_families(plan: Plan) -> list[LoweredFamily]:
    """The bilinear families of set B that the JAX loop's edge pass projects
    (lwlc/runtime/jax_fused.py): those over the first pair of edge variables (x, w) of a
    bilinear family in B, in either order, when no other family of B touches x or w, for
    RRR and DR (the update of eq. 45). Whether set A's writes of x and w allow it is
    decided when the loop is traced."""
    s = plan.model.solver
    if s.method == "ap" or s.lam is not None:
        return []
    in_b = plan.in_set("B")
    bilinear = [lf for lf in in_b if lf.family.kind == "bilinear"]
    if not bilinear:
        return []
    pair = (bilinear[0].family.x, bilinear[0].family.w)
    # dot(w, x) is dot(x, w): Σ x w = c y is symmetric in its operands (their metrics go
    # with them), so a family written the other way round is a row of the same pass
    fused = [lf for lf in bilinear if {lf.family.x, lf.family.w} == set(pair)]
    if pair[0] == pair[1] or any(set(pair) & set(lf.family.variables)
                                 for lf in in_b if not any(lf is f for f in fused)):
        return []
    return fused


class SolverWriter:
    """Writes one solver module for a plan and a dialect."""

    def __init__(self, plan: Plan, dialect: Dialect, command: str | None = None):
        self.plan = plan
        self.model = plan.model
        self.d = dialect
        self.command = command
        self.consts: list[str] = []
        self.kinds: set[str] = set()
        self.curves: list[str] = []
        self.piece_tables: dict[tuple, str] = {}
        self.table_rows: dict[str, set[str]] = {}  # the library's TABLES: rows used
        self.indices: dict[tuple, Ix] = {}
        self.blocks: dict[str, dict | None] = {}  # filled by the families' Ix (BLOCKS)
        self.names = Namer(set(API_ROOTS) | set(dialect.roots) | _runtime_names(dialect))
        self._owner_names: dict[str, str] = {}

    # --- helpers the family kinds use --------------------------------------------------
    num = staticmethod(num)

    def line_ref(self, f: ir.Family) -> str:
        text = quoted(f.span.lines_text() or "")
        return f"{self.file}:{f.span.line}: {text}"

    @property
    def file(self) -> str:
        return quoted(self.model.file.replace("\\", "/").rsplit("/", 1)[-1])

    def need(self, kind: str, **rows: str) -> None:
        """Bring a set-library kind's functions into the module, and the named rows of
        its tables (``need("margin", CLASS_MODES="plain")``); other rows stay out."""
        self.kinds.add(kind)
        for table, row in rows.items():
            self.table_rows.setdefault(table, set()).add(row)

    def const(self, base: str, value: str) -> str:
        name = self.names.fresh(base.upper())
        self.consts.append(_kept_wrapped(f"{name} = {value}"))
        return name

    def index(self, a: np.ndarray, base: str) -> Ix:
        """The Ix of an index array (a constant only when it is a gather)."""
        a = np.asarray(a)
        key = (a.shape, a.tobytes())
        if key in self.indices:
            return self.indices[key]
        ix = None
        if a.ndim == 1:
            if a.size and np.array_equal(a, a[0] + np.arange(a.size)):
                ix = Ix("range", int(a[0]), int(a.size), dims=a.shape, sink=self.blocks)
        else:
            n, m = a.shape
            s0 = int(a.flat[0])
            if np.array_equal(a, s0 + np.arange(n * m).reshape(n, m)):
                ix = Ix("rows", s0, n, m, dims=a.shape, sink=self.blocks)
            elif np.array_equal(a, s0 + np.arange(n * m).reshape(m, n).T):
                ix = Ix("cols", s0, n, m, dims=a.shape, sink=self.blocks)
        if ix is None:
            ix = Ix("gather", name=self.const(base, array_literal(a)), dims=a.shape,
                    sink=self.blocks)
        self.indices[key] = ix
        return ix

    def node_index(self, nodes, base: str) -> str:
        """An expression indexing node columns (a slice when the nodes are a range)."""
        return self.index(np.asarray(nodes, dtype=np.int64), base).expr

    def group_index(self, lf: LoweredFamily, gi: int, g: Group) -> dict[str, Ix]:
        base = f"{lf.family.name}_{gi}"
        out = {}
        if g.edges is not None:
            out["E"] = self.index(g.edges, f"{base}_edges")
        for v, pos in g.positions.items():
            out[v] = self.index(pos, f"{base}_{v}")
        return out

    def rows(self, part: ir.SubBatch | None) -> str:
        if part is None or (part.start == 0 and part.size == self.model.batch.size):
            return "ALL"
        return f"slice({part.start}, {part.stop})"

    def input_rows(self, inp, part: ir.SubBatch | None) -> str:
        part = part or self.model.batch.whole
        if part.start == inp.part.start and part.size == inp.part.size:
            return "ALL"
        return f"slice({part.start - inp.part.start}, {part.stop - inp.part.start})"

    def input_cols(self, inp: ir.Input, nodes, base: str) -> str:
        cols = np.array([inp.nodes.index(n) for n in nodes], dtype=np.int64)
        return self.index(cols, base).cols

    def metric(self, var: str, ix: Ix) -> str:
        v = self.model.variables[var]
        if np.all(v.metric == v.metric[0]):
            return num(float(v.metric[0]))
        return f"METRIC[{var!r}][{ix.cols}]"

    def pieces(self, aset: ir.ActivationSet) -> str:
        key = (aset.name, aset.args)
        if key in self.piece_tables:
            return self.piece_tables[key]
        args = "_".join(f"{a:g}" for a in aset.args)
        name = self.names.fresh(f"PIECES_{aset.name}" + (f"_{args}" if args else "").upper()
                                .replace("-", "M").replace(".", "P").replace("+", ""))
        items = []
        for i, p in enumerate(aset.pieces):
            if p.affine is not None:
                a, c = p.affine
                items.append(f'("affine", {num(p.lo)}, {num(p.hi)}, {num(a)}, {num(c)})')
                self.need("piecewise")
                self.need("activation", PIECE_KINDS="affine")
            else:
                self.need("smooth")
                self.need("activation", PIECE_KINDS="curve")
                base = self.names.fresh(f"_{name.lower()}_{i}")
                self.names.used |= {base + "_d", base + "_d2", base.upper() + "_FINITE"}
                from lwlc.backends.curves import curve_marks, curve_source  # sympy

                self.curves += curve_source(base, p.curve, p.lo, p.hi)
                marks = curve_marks(p.curve, p.lo, p.hi)  # turning, inflection points
                shown = f", ({''.join(f'{num(v)}, ' for v in marks)})" if marks else ""
                items.append(f'("curve", {num(p.lo)}, {num(p.hi)}, {base}, {base}_d, '
                             f"{base}_d2{shown})")
        self.need("activation")
        self.piece_tables[key] = name
        shown = f"({', '.join(f'{x:g}' for x in aset.args)})" if aset.args else ""
        self.consts.append(f"{name} = (  # set {aset.name}{shown}: (kind, lo, hi, ...) per piece\n"
                           + "".join(f"    {it},\n" for it in items) + ")")
        return name

    def init_put(self, fam: ir.Family, var: str, ix: Ix, value: str) -> str:
        part = fam.part or self.model.batch.whole
        shape = (part.size, *ix.dims)
        return ix.put(var, self.rows(fam.part), f"xp.broadcast_to({value}, {shape})")

    # --- the module ------------------------------------------------------------------------
    def family_function(self, lf: LoweredFamily) -> tuple[str, str]:
        f = lf.family
        body = kind_of(f).emit(self, lf)
        name = self.names.fresh(f"constraint_{f.name}")
        doc = f'    """{f.kind} ({lf.set}): {self.line_ref(f)}"""'
        if len(doc) > LINE:
            doc = f'    """{f.kind} ({lf.set}), {self.file}:{f.span.line}"""'
        text = f"def {name}(src, out, data):\n{doc}\n" + "\n".join(
            "    " + b if b else "" for b in body) + "\n"
        return name, text

    def write(self) -> str:
        plan = self.plan
        fam_names, fam_src = {}, []
        for lf in plan.families:
            name, text = self.family_function(lf)
            fam_names[lf.family.name] = name
            fam_src.append(text)
        set_fns = []
        for which in ("A", "B"):
            fams = plan.in_set(which)
            touched = sorted({v for lf in fams for v in lf.family.variables})
            names = ", ".join(lf.family.name for lf in fams) or "none"
            doc = textwrap.wrap(f"Project onto constraint set {which}: {names}.", LINE - 10)
            body = [f"def project_{which}(state, data):",
                    '    """' + "\n    ".join(doc) + '"""']
            if fams:
                body.append(f"    out = _copy(state, {touched!r})")
                body += [f"    {fam_names[lf.family.name]}(state, out, data)" for lf in fams]
                body.append("    return _assemble(out)")
            else:
                body.append("    return dict(state)")
            set_fns.append("\n".join(body) + "\n")
        table = ["FAMILIES = {  # constraint: (its projection, the variables it writes, its set)"]
        for lf in plan.families:
            touched = sorted(set(lf.family.variables))
            table.append(f"    {lf.family.name!r}: ({fam_names[lf.family.name]}, {touched!r}, "
                         f"{lf.set!r}),")
        table.append("}")
        set_fns.append("\n".join(table) + "\n")
        set_fns.append(self.fused(fam_names))
        set_fns.append(self.lanes())
        set_fns.append(
            "def project_family(name, state, data):\n"
            '    """Project onto one constraint family alone (what `lwlc test` checks)."""\n'
            "    function, touched, _ = FAMILIES[name]\n"
            "    out = _copy(state, touched)\n"
            "    function(state, out, data)\n"
            "    return _assemble(out)\n")
        layout_src = self.layout() + self.block_bounds()
        inference_src = self.inference()
        library = sets.emit_source(sorted(self.kinds | {"_common"}),
                                   tables=self.table_rows)
        runtime_src = []
        own = {n for _, names in self.d.runtime for n in names}
        for module, names in ((state, ("xp", "ALL", "_copy", "_put", "_owned", "_spread",
                                       "_Broadcast", "LAZY_BYTES", "_assemble", "_Writes",
                                       "_detached",
                                       "_in_place", "_tiles",
                                       "_rows", "_cols", "_strided", "_dense_edges")),
                              (rrr, ("rrr_error", "rrr_update", "_finish", "_row_blocks",
                                     "_reflection", "_less", "_cuts", "_on_rows",
                                     "_subtract_in_place",
                                     "_blocks", "_dense", "_other_update")),
                              (inference, ("edge_matrix", "_pinv", "least_squares_values",
                                           "_free_solution", "_bounded_ls_step",
                                           "bounded_least_squares_values"))):
            runtime_src += [f"# {module.__name__}\n{s}" for s in runtime.sections(
                module, [n for n in names if n != "xp" and n not in own])]
        for module, names in self.d.runtime:
            runtime_src += [f"# {module.__name__}\n{s}" for s in runtime.sections(module, names)]
        parts = [
            self.header(),
            self.d.imports,
            "Array = Any  # an array of the backend (annotations of the library functions)",
            "\n# --- projections from the lwlc set library (lwlc/sets) ---\n",
            library,
            "\n\n".join(self.curves),
            "\n# --- runtime (lwlc/runtime) ---\n",
            "\n\n".join(runtime_src),
            "\n# --- the model's layout ---\n",
            layout_src,
            "\n".join(self.consts),
            "\n\n# --- one function per constraint family ---\n",
            "\n\n".join(fam_src),
            "\n# --- the two constraint sets (derived by lwlc's split) ---\n",
            "\n\n".join(set_fns),
            self.step(),
            inference_src,
            self.d.api,
        ]
        text = "\n".join(p.rstrip("\n") + "\n" for p in parts if p)
        return format_source(prune(text, API_ROOTS + self.d.roots))

    def header(self) -> str:
        m = self.model
        title = "\n".join(textwrap.wrap(quoted(m.title), LINE)) + "\n\n" if m.title else ""
        regen = quoted(self.command) if self.command else \
            f"lwlc compile {self.file} --backend {self.d.name}"
        lines, cur = [], ""
        for word in re.findall(r"--\S+ \S+|\S+", regen):  # an option stays with its value
            if cur and len(cur) + len(word) + 1 > LINE - 12:
                lines.append(cur)
                cur = word
            else:
                cur = f"{cur} {word}" if cur else word
        regen = " \\\n        ".join(lines + [cur])
        first = textwrap.wrap(f"RRR solver for model {m.name!r} ({self.file}), emitted by lwlc "
                              f"{__version__} for the {self.d.name} backend.", LINE - 3)
        return (
            '"""' + "\n".join(first) + "\n\n" + title
            + f"Regenerate instead of editing:\n    {regen}\n\n"
            "API: initial_params, init, project_A, project_B, rrr_step, solve_batch,\n"
            "consensus_params, forward, predict, latent_values, project_family.\n"
            '"""\n'
            "\nfrom collections.abc import Callable\n"
            "from collections.abc import Iterable\n"
            "from types import ModuleType\n"
            "from typing import Any\n"
        )

    def layout(self) -> str:
        m = self.model
        lines = [
            f"MODEL = {m.name!r}",
            f"BATCH = {m.batch.size}",
            f"PARTS = {({p.name: (p.start, p.stop) for p in m.batch.parts})!r}",
            f"N_NODES = {m.n_nodes}  # X, Y have one more column: 0 for edges without a node",
        ]
        metric = {}
        for v in m.variables.values():
            if np.all(v.metric == v.metric[0]):
                metric[v.name] = num(v.metric[0])
            else:  # runs of equal weights, e.g. outdeg per layer
                change = np.flatnonzero(np.diff(v.metric)) + 1
                starts = np.concatenate([[0], change])
                counts = np.diff(np.concatenate([starts, [v.metric.size]]))
                values = [float(x) for x in v.metric[starts]]
                metric[v.name] = f"np.repeat({values}, {counts.tolist()})"
        lines.append("METRIC = {  # metric weight of each element (eq. 15, 27, 30, 31)")
        for k, v in metric.items():
            lines.append(f"    {k!r}: {v},")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def block_bounds(self) -> str:
        """BLOCKS, for a backend whose loop holds the state as column blocks: per variable,
        the boundaries of every column range a family reads or writes. A variable some
        family gathers from stays whole. (Keeping a dense layer's block as [K, heads,
        tails] was tried: XLA then materialized more, 110 ms against 64 ms per MNIST
        iteration.)"""
        if not any("_Blocked" in names for _, names in self.d.runtime):
            return ""
        m = self.model
        lines = ["BLOCKS = {  # column blocks of the compiled loop's state (jax_blocks.py)"]
        for var in sorted(v for v, b in self.blocks.items() if b is not None):
            seen = self.blocks[var]
            bounds = sorted(seen["bounds"] | {0, m.variables[var].size})
            if len(bounds) > 2:
                lines.append(f"    {var!r}: {tuple(bounds)!r},")
        return "\n".join(lines + ["}"]) + "\n"

    def owner(self, var: str) -> str:
        """The constant naming, for each edge of `var`, the node whose value it carries."""
        if var in self._owner_names:
            return self._owner_names[var]
        m = self.model
        es = m.edge_sets[m.variables[var].edge_set]
        owner = np.where(self.plan.owners[var] < 0, m.n_nodes, self.plan.owners[var])
        what = {True: "its tail"}.get(bool(np.array_equal(owner, es.tail)),
                                      "its head" if np.array_equal(owner, es.head) else "its node")
        blocks = dense_blocks(es)
        if blocks is not None and what != "its node":
            ends = self.const(f"_{es.name}_{'tail' if what == 'its tail' else 'head'}",
                              f"_dense_edges({blocks!r})[{0 if what == 'its tail' else 1}]")
            value = ends
        else:
            value = array_literal(owner)
        name = self.names.fresh(f"OWNER_{var}".upper())
        self.consts.append(_kept_wrapped(f"# {var}: each edge carries the value of {what}\n"
                                         f"{name} = {value}"))
        self._owner_names[var] = name
        return name

    def index_expr(self, a: np.ndarray, base: str) -> str:
        """An index array as an expression: _rows/_cols/np.arange, or its constant."""
        ix = self.index(np.asarray(a, dtype=np.int64), base)
        if ix.kind == "rows":
            return f"_rows({ix.start}, {ix.n}, {ix.m})"
        if ix.kind == "cols":
            return f"_cols({ix.start}, {ix.n}, {ix.m})"
        if ix.kind == "range":
            return f"np.arange({ix.start}, {ix.stop})"
        return ix.name

    def lanes(self) -> str:
        """LANE_PROGRAM and LANE_KERNEL, for a backend whose solve_batch can run the lane
        kernel (lwlc/laneplan.py, lwlc/runtime/lanes.py)."""
        if not any("run_lanes" in names for _, names in self.d.runtime):
            return ""
        head = ["# The whole RRR step with the batch items as SIMD lanes (lwlc/runtime/",
                "# lanes.py): one op per family group, set A's, then set B's."]
        try:
            program = lane_program(self.plan)
        except NoLaneRule as e:
            where = f"{self.file}:{e.span.line}: " if e.span is not None else ""
            why = textwrap.wrap(f"no lane kernel: {where}{e.reason}", LINE - 2)
            return "\n".join([*head, *(f"# {line}" for line in why),
                              "LANE_PROGRAM = None", "LANE_KERNEL = False"]) + "\n"
        size = program.n_rows * program.batch * 8
        rows = [(op.n, op.n * op.m) for op in program.ops if op.code == Op.BILINEAR]
        fan_in = sum(e for _, e in rows) / max(sum(n for n, _ in rows), 1)
        on = size <= LANE_MAX_BYTES and fan_in < FUSED_MIN_FAN_IN
        lines = [*head, "LANE_PROGRAM = {",
                 f"    \"rows\": {program.rows!r},  # each variable's first row, size",
                 f"    \"inputs\": {program.inputs!r},  # first row, first item, columns",
                 f"    \"labels\": {program.labels!r},  # row, first item, items",
                 f"    \"norm\": {num(program.norm)},  # RRR_err's divisor",
                 f"    \"method\": {program.method!r},  # RRR, or alternating projections",
                 *([f"    \"lam\": {num(program.lam)},  # RRR with λ (eq. 47)"]
                   if program.lam is not None else []),
                 "    # (set, op, items, nodes n, rows per node m, side, integer tables,",
                 "    # float tables): the tables as lwlc/runtime/lanes.py reads them",
                 "    \"ops\": ("]
        for op in program.ops:
            ints = "".join(self._lane_ints(a, op.family) + ", " for a in op.ints).rstrip()
            floats = "".join(_float_literal(a) + ", " for a in op.floats).rstrip()
            lines += [f"        # {op.family} ({self.file}:{op.line})",
                      f"        ({op.set!r}, {op.code.name!r}, {op.lanes!r}, {op.n}, {op.m}, "
                      f"{op.side.name!r}, ({ints}), ({floats})),"]
        lines += ["    ),", "}",
                  f"# the state: {size / 2**20:.3g} MiB in float64 (the default up to "
                  f"{LANE_MAX_BYTES >> 20} MiB);",
                  f"# the neurons' mean fan-in: {fan_in:.3g} (the default below "
                  f"{FUSED_MIN_FAN_IN}; LWLC_LANES=0/1 overrides)",
                  f"LANE_KERNEL = {on}"]
        return "\n".join(lines) + "\n"

    def _lane_ints(self, a: np.ndarray, family: str) -> str:
        """An integer table of the lane program: a range, a constant, or a named array."""
        a = np.asarray(a, dtype=np.int64)
        if a.size == 0:
            return f"np.zeros({a.shape!r}, dtype=np.int64)"
        if np.all(a == a.flat[0]) and a.size > 1:
            return f"np.full({a.shape!r}, {int(a.flat[0])})"
        literal = array_literal(a)
        if literal.startswith("np.array("):
            return self.const(f"_LANE_{family}", literal)
        return literal

    def fused(self, fam_names: dict[str, str]) -> str:
        """FUSED_ROWS and rrr_step_fused, for a backend whose loop has the edge pass
        (lwlc/runtime/jax_fused.py)."""
        if not any("_fused_update" in names for _, names in self.d.runtime):
            return ""
        fused = fused_families(self.plan)
        if not fused:
            return ""
        m = self.model
        lines = ["FUSED_ROWS = (  # the bilinear families the edge pass projects (jax_fused.py)"]
        x, w = fused[0].family.x, fused[0].family.w  # every row in this order
        for lf in fused:
            fam = lf.family
            part = fam.part or m.batch.whole
            groups = []
            for gi, g in enumerate(lf.groups):
                edges = self.index_expr(g.edges, f"{fam.name}_{gi}_edges")
                if fam.y:
                    where = self.index_expr(g.positions[fam.y], f"{fam.name}_{gi}_{fam.y}")
                else:
                    inp = m.inputs[fam.data]
                    where = self.index_expr([inp.nodes.index(n) for n in g.nodes],
                                            f"{fam.name}_{gi}_cols")
                groups.append(f"({edges}, {where})")
            inp = m.inputs[fam.data] if fam.data else None
            gx = num(float(m.variables[x].metric[0]))
            gw = num(float(m.variables[w].metric[0]))
            lines += [
                f"    {{  # {fam.name} ({self.file}:{fam.span.line})",
                f'        "x": {x!r}, "w": {w!r}, "y": {fam.y or None!r},  # Σ x w = c y',
                f'        "input": {inp.name if inp else None!r},  # or y fixed by this input,',
                f'        "first": {inp.part.start if inp else 0},  # whose first item this is',
                f'        "items": ({part.start}, {part.stop}), "c": {num(fam.coef)},',
                f'        "gx": {gx}, "gw": {gw},  # the metric of x and w',
                '        "groups": (  # (edges [n, m], the columns of y or the input [n])',
                *[f"            {g}," for g in groups],
                "        ),",
                "    },",
            ]
        lines.append(")")
        rows = sum(len(g.nodes) for lf in fused for g in lf.groups)
        fan_in = sum(g.edges.size for lf in fused for g in lf.groups) / max(rows, 1)
        on = fan_in >= FUSED_MIN_FAN_IN
        lines.append(f"FUSED_EDGE_PASS = {on}  # mean fan-in of the rows {fan_in:.3g} "
                     f"{'>=' if on else '<'} {FUSED_MIN_FAN_IN} (LWLC_FUSED=0/1 overrides)")
        rest = [lf for lf in self.plan.in_set("B") if not any(lf is f for f in fused)]
        lines.append("B_REST = (  # set B's other families: (projection, variables it writes)")
        lines += [f"    ({fam_names[lf.family.name]}, {sorted(set(lf.family.variables))!r}),"
                  for lf in rest]
        lines.append(")")
        norm = "K" if self.model.solver.error != "element" else \
            f"(K * {max(1, self.plan.n_edges)})"
        lines += [
            "",
            "",
            "def rrr_step_fused(state, data, beta=1.0):",
            '    """rrr_step with set B\'s bilinear rows, the update and its error in one pass',
            "    over the edge variables (lwlc/runtime/fused.py), where set A writes them as",
            '    spreads; otherwise rrr_step."""',
            "    K = next(iter(state.values())).shape[0]",
            f"    done = _fused_update(project_A, B_REST, state, data, beta, METRIC, {norm})",
            "    return rrr_step(state, data, beta) if done is None else done",
            "",
            "",
            "rrr_step_fused.unblocked = True  # the loop holds the edge variables whole",
        ]
        return "\n".join(lines) + "\n"

    def step(self) -> str:
        s = self.model.solver
        method = "rrr" if s.method == "dr" else s.method
        beta = 1.0 if s.method == "dr" else s.beta
        norm = "K"
        if s.error == "element":
            norm = f"(K * {max(1, self.plan.n_edges)})"
        what = {"rrr": "RRR, eq. 45", "ap": "alternating projections"}[method]
        if s.lam is not None:
            what = "RRR with λ, eq. 47"
        if s.method == "dr":
            what = "Douglas-Rachford, RRR with beta = 1"
        gap = "P_B(2 P_A(x) - x) - P_A(x)"  # what RRR_err measures, per method
        if method == "ap":
            gap = "P_B(P_A(x)) - P_A(x)"
        elif s.lam is not None:
            gap = "P_B((1 + λ) P_A(x) - λ x) - P_A((1 - λ) P_B(x) + λ x)"
        return (
            f"\n\ndef rrr_step(state, data, beta={num(beta)}):\n"
            f'    """One iteration ({what}).\n\n'
            f"    Returns (state, RRR_err), RRR_err the metric norm of\n    {gap} (eq. 22, 27)."
            '"""\n'
            "    K = next(iter(state.values())).shape[0]\n"
            f"    return rrr_update(project_A, project_B, state, data, beta, "
            f"{None if s.lam is None else num(s.lam)}, {method!r},\n"
            f"                      METRIC, {norm})\n"
        )

    # --- inference, initialization, parameters, prediction ------------------------------
    def inference(self) -> str:
        m = self.model
        out: list[str] = []
        out += self.initial_params()
        forward_names = {}
        for part in m.batch.parts:
            fname = self.names.fresh(f"forward_{part.name}")
            forward_names[part.name] = fname
            out += self.forward_part(fname, part)
        first = m.batch.parts[0].name
        out += ["def forward(params, data, K, part=" + repr(first) + ", latent=None):",
                '    """Node values X and pre-activations Y [K, N_NODES + 1] of K items of a '
                'batch\n    part, each part fed from its own fixed nodes (Sect. 4.3, 5.4, '
                '6.1.1)."""',
                "    return {" + ", ".join(f"{p!r}: {f}" for p, f in forward_names.items())
                + "}[part](params, data, K, latent)", ""]
        out += self.init_function(forward_names)
        out += self.consensus_params()
        out += self.latent_values()
        out += self.predict(forward_names)
        return "\n".join(out) + "\n"

    def initial_params(self) -> list[str]:
        plan, m = self.plan, self.model
        lines = ["def initial_params(rng):",
                 '    """Learned parameters to start from: weights on edges uniform in [0, 1) '
                 '(centred\n    per node under a sphere, in [-1, 1) where another side '
                 'constraint admits\n    negatives), zeros on nodes, each projected onto its '
                 'consensus side constraint\n    (Sect. 4.3, 5.4)."""',
                 "    params = {}"]
        for name in plan.params:
            var = m.variables[name]
            if var.axis == "edges":
                lines.append(f"    params[{name!r}] = rng.uniform(0.0, 1.0, size={var.size})")
            else:
                lines.append(f"    params[{name!r}] = np.zeros({var.size})")
        lines += ["    params = _side_projected(params, np, _host_assign)",
                  "    return {name: xp.asarray(value) for name, value in params.items()}", "",
                  "",
                  "def _side_projected(params, xp, _assign):",
                  '    """Each learned parameter projected onto its consensus side constraint, '
                  'with\n    the array module xp and its _assign: NumPy, float64, under every '
                  'backend\n    (it runs once per run; JAX took longer to compile it than '
                  'NumPy\n    takes to run it)."""',
                  "    params = dict(params)"]
        for lp in plan.learned:
            side = lp.family.side
            on_edges = m.variables[lp.var].axis == "edges"
            # weights drawn in [0, 1) are centred per node under a sphere, and drawn in
            # [-1, 1) where another side constraint admits negative values: all-positive
            # weights can start a whole layer dead or saturated (a ReLU layer behind a
            # negative coefficient, a sigmoid's tail). (Centring those too left a node of one
            # edge at 0 for every seed.)
            centred = on_edges and side.kind == "sphere"
            signed = on_edges and (side.kind == "none"
                                   or (side.kind == "box" and side.args[0] < 0.0))
            if side.kind == "none" and not signed:
                continue
            lines.append(f"    # {lp.family.name} ({self.file}:{lp.family.span.line})")
            for gi, g in enumerate(lp.groups):
                lf = next(f for f in plan.families if f.family is lp.family)
                ix = self.group_index(lf, gi, g)
                idx = ix["E"] if on_edges else ix[lp.var]
                lines.append(f"    mean = {idx.read1(f'params[{lp.var!r}]')}")
                if centred:
                    lines.append("    mean = mean - mean.mean(axis=-1, keepdims=True)  # centred")
                if signed:
                    lines.append("    mean = 2.0 * mean - 1.0  # uniform in [-1, 1)")
                from lwlc.kinds.consensus import side_lines

                lines += ["    " + s for s in side_lines(self, lp.family, g, gi)]
                lines.append(f"    {idx.assign1(f'params[{lp.var!r}]', 'mean')}")
        lines += ["    return params", ""]
        return lines

    def _source_lines(self, src) -> list[str]:
        m = self.model
        fam = src.family
        nodes = self.node_index(src.nodes, f"{fam.name}_nodes")
        where = f"{fam.name} ({self.file}:{fam.span.line})"
        if src.fixed.input is None:
            return [f"    X = _assign(X, (ALL, {nodes}), {num(src.fixed.constant)})  # {where}"]
        inp = m.inputs[src.fixed.input]
        cols = self.input_cols(inp, src.nodes, f"{fam.name}_cols")
        return [f"    # {where}: the nodes' values are the data",
                f"    X = _assign(X, (ALL, {nodes}), data[{inp.name!r}][:K, {cols}])"]

    def _product(self, fam: ir.BilinearFamily, weight: str, value: str, g: Group) -> str:
        """Σ_e X[owner(e)] · params[weight][e] over each node's operand edges, / c. Where
        every node reads the same operand nodes in the same order (a dense layer), a
        matrix product: the gathered [K, nodes, operands] array is never formed."""
        edges = self.index(g.edges, f"{fam.name}_{len(g.nodes)}_edges")
        coef = "" if fam.coef == 1.0 else f" / {num(fam.coef)}"
        if edges.kind == "gather":
            ws = f"params[{weight!r}][{edges.name}]"
        else:
            ws = edges.read1(f"params[{weight!r}]")
        operands = self.plan.owners[value][np.asarray(g.edges)]
        if operands.ndim == 2 and (operands >= 0).all() and (operands == operands[0]).all():
            cols = self.index(operands[0], f"{fam.name}_{len(g.nodes)}_operands").cols
            return f"(X[:, {cols}] @ {ws}.T){coef}"
        owner = self.owner(value)
        if edges.kind == "gather":
            xs = f"X[:, {owner}[{edges.name}]]"
        else:
            xs = f"X[:, {owner}[{edges.cols}].reshape({edges.n}, {edges.m})]"
            if edges.kind == "cols":
                xs = f"X[:, {owner}[{edges.cols}].reshape({edges.m}, {edges.n}).T]"
        return f"({xs} * {ws}).sum(axis=-1){coef}"

    def _learned_term(self, var: str | None, nodes, base: str) -> str | None:
        """The learned value of `var` on `nodes` (params[...]), None where it is not learned."""
        if var and var in self.plan.params:
            pos = self.index(self.model.variables[var].positions(nodes), base)
            return f"params[{var!r}][{pos.cols}]"
        return None

    def _neuron_var(self, nodes) -> str | None:
        """The variable the forward pass computes for `nodes` by their neuron's product
        (Y of the inference), None where no neuron computes them."""
        want = set(np.asarray(nodes).tolist())

        def find(steps):
            for st in steps:
                if isinstance(st, Neuron) and want & set(np.asarray(st.group.nodes).tolist()):
                    return st.bilinear.y
                if isinstance(st, Sweep):
                    got = find(st.steps)
                    if got:
                        return got
            return None

        for sched in self.plan.schedules.values():
            got = find(sched.steps)
            if got:
                return got
        return None

    def _preactivation(self, fam, nodes, value: str, neuron: str | None) -> str:
        """z = y - b of an activation or class family on `nodes`, `value` being the
        neuron's computed variable `neuron`, which may be either term; the other term
        is its learned value, or 0 where it is not learned (a per-item variable)."""
        if neuron is not None and fam.b == neuron and fam.y != neuron:
            other = self._learned_term(fam.y, nodes, f"{fam.name}_ypos")
            return f"{other} - {value}" if other else f"-{value}"
        bias = self._learned_term(fam.b, nodes, f"{fam.name}_bpos")
        return f"{value} - {bias}" if bias else value

    def _neuron_lines(self, step: Neuron, indent: str) -> list[str]:
        bf, g = step.bilinear, step.group
        nodes = self.node_index(g.nodes, f"{bf.name}_{len(g.nodes)}_nodes")
        lines = [f"{indent}# {bf.name} ({self.file}:{bf.span.line}) on {len(g.nodes)} node(s)"
                 + ("" if step.set_value else ", y only"),
                 f"{indent}yl = {self._product(bf, step.weight, step.value, g)}",
                 f"{indent}Y = _assign(Y, (ALL, {nodes}), yl)"]
        af = step.activation
        if step.set_value and af is not None:
            pieces = self.pieces(af.set)
            z = self._preactivation(af, g.nodes, "yl", bf.y)
            diff = f"{af.y} - {af.b}" if af.b else af.y
            lines.append(f"{indent}# {af.name} ({self.file}:{af.span.line}): x = f({diff})")
            lines.append(f"{indent}X = _assign(X, (ALL, {nodes}), activation_inference("
                         f"xp, {z}, {pieces}))")
        return lines

    def array(self, a: np.ndarray, base: str) -> str:
        """A named constant holding an index array (always an array, never a slice)."""
        a = np.asarray(a, dtype=np.int64)
        key = ("array", a.shape, a.tobytes())
        if key not in self.indices:
            self.indices[key] = Ix("gather", name=self.const(base, array_literal(a)))
        return self.indices[key].name

    def _data_product(self, fam: ir.BilinearFamily, weight: str, value: str) -> str:
        """The line building A with X @ A = Σ x w over the operand edges of `fam`'s nodes."""
        m = self.model
        es = m.edge_sets[m.variables[value].edge_set]
        pos, col = es.edges_of(fam.direction, tuple(fam.nodes))
        e = self.array(pos, f"{fam.name}_edges")
        c = self.array(col, f"{fam.name}_edge_nodes")
        owner = self.owner(value)
        return (f"A = edge_matrix(params[{weight!r}][{e}], {owner}[{e}], {c}, N_NODES + 1, "
                f"{len(fam.nodes)})")

    def _latent_lines(self, step: LatentSolve, indent: str) -> list[str]:
        f = step.bilinear
        value = f.w if step.weight == f.x else f.x
        inp = self.model.inputs[f.data]
        cols = self.input_cols(inp, f.nodes, f"{f.name}_cols")
        unknown = self.node_index(step.nodes, f"{f.name}_latent")
        scale = "" if f.coef == 1.0 else f" * {num(f.coef)}"
        build = self._data_product(f, step.weight, value)
        target = f"data[{inp.name!r}][:K, {cols}]{scale}"
        k = step.side.kind
        bounds = latent_bounds(step.side)
        lines = [f"{indent}# latent nodes from {f.name} ({self.file}:{f.span.line}) by least "
                 "squares (eq. 12-13)" + (f",\n{indent}# within the bounds of their side "
                                          f"constraint ({k})" if bounds else ""),
                 f"{indent}{build}"]
        if bounds:
            lines += [f"{indent}if bounded:",
                      f"{indent}    v = bounded_least_squares_values(",
                      f"{indent}        X, A, {target}, {unknown}, {bounds[0]}, {bounds[1]})",
                      f"{indent}else:  # the warm start: the unbounded solution, clipped",
                      f"{indent}    v = xp.clip(least_squares_values(X, A, {target}, "
                      f"{unknown}), {bounds[0]}, {bounds[1]})"]
        else:
            lines.append(f"{indent}v = least_squares_values(X, A, {target}, {unknown})")
        lines.append(f"{indent}X = _assign(X, (ALL, {unknown}), v)")
        return lines

    def _learned_value_lines(self, step: LearnedValue, indent: str) -> list[str]:
        af = step.activation
        nodes = self.node_index(step.nodes, f"{af.name}_learned_nodes")
        y = self._learned_term(af.y, step.nodes, f"{af.name}_ypos")
        b = self._learned_term(af.b, step.nodes, f"{af.name}_bpos")
        z = f"{y} - {b}" if b else y
        diff = f"{af.y} - {af.b}" if af.b else af.y
        return [f"{indent}# {af.name} ({self.file}:{af.span.line}): x = f({diff}) of the "
                "learned parameters, the same for every item",
                f"{indent}X = _assign(X, (ALL, {nodes}), xp.broadcast_to(activation_inference("
                f"xp, {z}, {self.pieces(af.set)}), (K, {len(step.nodes)})))"]

    def _steps(self, steps, indent: str) -> list[str]:
        lines = []
        for st in steps:
            if isinstance(st, LearnedValue):
                lines += self._learned_value_lines(st, indent)
            elif isinstance(st, Neuron):
                lines += self._neuron_lines(st, indent)
            elif isinstance(st, LatentSolve):
                lines += self._latent_lines(st, indent)
            elif isinstance(st, Sweep):
                names = ", ".join(self.model.node_name(n) for n in st.nodes[:4])
                lines.append(f"{indent}for _ in range({st.times}):  # the cycle {names}"
                             f"{' ...' if len(st.nodes) > 4 else ''}: relaxed from zero")
                lines += self._steps(st.steps, indent + "    ")
        return lines

    def bounded_latent(self, part: ir.SubBatch) -> bool:
        """Whether the part's inference solves latent nodes within bounds (nonneg, box):
        its forward function then takes `bounded`, which init turns off."""
        def solves(steps) -> bool:
            return any(isinstance(st, LatentSolve) and latent_bounds(st.side) is not None
                       or solves(getattr(st, "steps", ())) for st in steps)
        return solves(self.plan.schedules[part.name].steps)

    def forward_part(self, fname: str, part: ir.SubBatch) -> list[str]:
        sched = self.plan.schedules[part.name]
        bounded = self.bounded_latent(part)
        lines = [f"def {fname}(params, data, K, latent=None"
                 + (", bounded=True" if bounded else "") + "):",
                 f'    """Inference for K items of batch part {part.name!r}: the learned '
                 'parameters,\n    the neurons and the activations\' inference maps '
                 '(Sect. 5.4, 6.1.1)."""' if not bounded else
                 f'    """Inference for K items of batch part {part.name!r}: the learned '
                 'parameters,\n    the neurons and the activations\' inference maps '
                 '(Sect. 5.4, 6.1.1);\n    latent nodes by least squares within their '
                 'bounds (`bounded`), else\n    clipped to them (the warm start)."""',
                 "    X = xp.zeros((K, N_NODES + 1))",
                 "    Y = xp.zeros((K, N_NODES + 1))"]
        for src in sched.sources:
            lines += self._source_lines(src)
        # nodes of learned values first: a least-squares solve may read them
        lines += self._steps([s for s in sched.steps if isinstance(s, LearnedValue)], "    ")
        latent_steps = [s for s in sched.steps if isinstance(s, LatentSolve)]
        other = [s for s in sched.steps if not isinstance(s, LatentSolve | LearnedValue)]
        if sched.latent:
            nodes = self.node_index(sched.latent, f"{part.name}_latent_nodes")
            lines.append("    if latent is not None:  # latent nodes' values given")
            lines.append(f"        X = _assign(X, (ALL, {nodes}), latent)")
            if latent_steps:
                lines.append("    else:")
                lines += self._steps(latent_steps, "        ")
        lines += self._steps(other, "    ")
        lines += ["    return X, Y", ""]
        return lines

    def _part_data(self, part: ir.SubBatch) -> str:
        items = []
        for inp in self.model.inputs.values():
            if not (inp.part.start <= part.start and part.stop <= inp.part.stop):
                continue
            if inp.part.start == part.start and inp.part.size == part.size:
                items.append(f"{inp.name!r}: data[{inp.name!r}]")
            else:
                a, b = part.start - inp.part.start, part.stop - inp.part.start
                items.append(f"{inp.name!r}: data[{inp.name!r}][{a}:{b}]")
        return "{" + ", ".join(items) + "}"

    def init_function(self, forward_names) -> list[str]:
        plan, m = self.plan, self.model
        body = []
        for lf in plan.families:
            body += kind_of(lf.family).init(self, lf)
        uses = [name for name in ("X", "Y") if any(f"{name}[" in b for b in body)]
        lines = ["def init(params, data, rng=None):",
                 '    """A warm start (Sect. 4.3, 5.4): every variable from the learned '
                 'parameters and\n    the inference pass, as each family\'s kind says."""']
        parts = m.batch.parts
        # the warm start's latent nodes: clipped least squares (as the runs that docs/
        # reproduction.md quotes began; predict and evaluate solve within the bounds)
        warm = {p.name: ", bounded=False" if self.bounded_latent(p) else "" for p in parts}
        if uses and len(parts) == 1:
            got = ", ".join(n if n in uses else "_" for n in ("X", "Y"))
            lines.append(f"    {got} = {forward_names[parts[0].name]}(params, data, BATCH"
                         f"{warm[parts[0].name]})")
        elif uses:
            calls = [f"        {forward_names[p.name]}(params, {self._part_data(p)}, {p.size}"
                     f"{warm[p.name]}),"
                     for p in parts]
            lines += ["    pieces = ["] + calls + ["    ]"]
            for i, name in enumerate(("X", "Y")):
                if name in uses:
                    lines.append(f"    {name} = xp.concatenate([p[{i}] for p in pieces], axis=0)")
        sizes = {v.name: v.size for v in m.variables.values()}
        lines.append("    state = {" + ", ".join(f"{k!r}: xp.zeros((BATCH, {s}))"
                                                 for k, s in sizes.items()) + "}")
        touched = sorted({v for lf in plan.families for v in lf.family.variables})
        if body:
            lines.append(f"    out = _copy(state, {touched!r})")
            lines += ["    " + b for b in body]
            lines.append("    return _assemble(out)")
        else:
            lines.append("    return state")
        lines.append("")
        return lines

    def consensus_params(self) -> list[str]:
        plan = self.plan
        lines = ["def consensus_params(state, data):",
                 '    """The learned parameters (Sect. 5.4: "the final consensus weights (wA) '
                 'and\n    biases (bB)"): each consensus over items from its own set\'s '
                 'projection."""']
        sets_used = {lp.set for lp in plan.learned}
        if "A" in sets_used or "B" in sets_used:
            lines.append("    pa = project_A(state, data)")
        if "B" in sets_used:
            lines.append("    pb = project_B({k: 2.0 * pa[k] - state[k] for k in state}, data)")
        lines.append("    params = {}")
        for name in plan.params:
            lines.append(f"    params[{name!r}] = xp.zeros({self.model.variables[name].size})")
        for lp in plan.learned:
            src = "pa" if lp.set == "A" else "pb"
            lf = next(f for f in plan.families if f.family is lp.family)
            R = self.rows(lp.family.part)
            for gi, g in enumerate(lp.groups):
                ix = self.group_index(lf, gi, g)
                idx = ix["E"] if self.model.variables[lp.var].axis == "edges" else ix[lp.var]
                lines.append(f"    {idx.assign1(f'params[{lp.var!r}]', idx.read(src, lp.var, R) + '.mean(axis=0)')}")  # noqa: E501
        lines += ["    return params", ""]
        return lines

    def latent_values(self) -> list[str]:
        plan, m = self.plan, self.model
        lines = ["def latent_values(state, data):",
                 '    """Values of the latent nodes of each part\'s items in the state: the '
                 'consensus of\n    their edges in P_A (the codes of a one-batch '
                 'factorization, Sect. 4.4)."""']
        parts = [(p, plan.schedules[p.name].latent) for p in m.batch.parts
                 if plan.schedules[p.name].latent]
        if not parts:
            return lines + ["    return {}", ""]
        lines += ["    pa = project_A(state, data)", "    out = {}"]
        for p, latent in parts:
            cols = []
            for n in latent:
                for var, owner in plan.owners.items():
                    pos = np.flatnonzero(owner == n)
                    if pos.size:
                        cols.append((var, int(pos[0])))
                        break
                else:
                    cols.append((None, 0))
            R = self.rows(p)
            items = [f"pa[{v!r}][{R}, {e}]" if v else f"xp.zeros({p.size})" for v, e in cols]
            lines.append(f"    out[{p.name!r}] = xp.stack([")
            lines += [f"        {it}," for it in items]
            lines.append("    ], axis=1)")
        lines += ["    return out", ""]
        return lines

    def predict(self, forward_names) -> list[str]:
        plan, m = self.plan, self.model
        lines = []
        by_part: dict[str, list] = {}
        for t in plan.targets:
            by_part.setdefault(t.infer, []).append(t)
        pnames = {}
        for part in m.batch.parts:
            targets = by_part.get(part.name, [])
            if not targets:
                continue
            pname = self.names.fresh(f"predict_{part.name}")
            pnames[part.name] = pname
            lines += [f"def {pname}(params, data, K, latent=None):",
                      f'    """What the model predicts for K items of part {part.name!r}: '
                      + ", ".join(t.name for t in targets) + '."""',
                      f"    X, Y = {forward_names[part.name]}(params, data, K, latent)",
                      "    out = {}"]
            head = len(lines) - 2
            for t in targets:
                f = t.family
                where = f"{f.name} ({self.file}:{f.span.line})"
                nodes = self.node_index(t.nodes, f"{f.name}_target_nodes")
                if t.kind == "class" or isinstance(f, ir.ActivationFamily):
                    z = self._preactivation(f, t.nodes, f"Y[:, {nodes}]",
                                            self._neuron_var(t.nodes))
                    diff = f"{f.y} - {f.b}" if f.b else f.y
                if t.kind == "class":
                    lines.append(f"    # {where}: the class node with the largest {diff};")
                    lines.append("    # -1 for an item where it is not finite (an overflow)")
                    lines.append(f"    scores = {z}")
                    lines.append(f"    out[{t.name!r}] = xp.where(xp.all(xp.isfinite(scores), "
                                 "axis=-1), xp.argmax(scores, axis=-1), -1)")
                elif isinstance(f, ir.ActivationFamily):
                    lines.append(f"    # {where}: f({diff}) where x is fixed (eq. 40-41)")
                    lines.append(f"    out[{t.name!r}] = activation_inference(xp, {z}, "
                                 f"{self.pieces(f.set)})")
                else:
                    weight = self._weight_of(f)
                    value = f.w if weight == f.x else f.x
                    build = self._data_product(f, weight, value)
                    coef = "" if f.coef == 1.0 else f" / {num(f.coef)}"
                    lines.append(f"    # {where}: the product the data must equal (eq. 23)")
                    lines.append(f"    {build}")
                    lines.append(f"    out[{t.name!r}] = (X @ A){coef}")
            body = lines[head + 1:]
            got = ", ".join(n if any(re.search(rf"\b{n}\b", b) for b in body) else "_"
                            for n in ("X", "Y"))
            lines[head] = lines[head].replace("X, Y =", f"{got} =")
            lines += ["    return out", ""]
        default = next(iter(pnames), m.batch.parts[0].name)
        lines += [f"def predict(params, data, K, part={default!r}, latent=None):",
                  '    """{target: prediction} for K items of a batch part: classes, or the '
                  'values\n    that the model\'s data constraints equate to data. `latent`: '
                  "the part's latent node\n    values, [K, nodes] (or latent_values's "
                  '{part: array}); None infers them."""']
        if pnames:
            lines += ["    if isinstance(latent, dict):  # latent_values's, by part",
                      "        latent = latent[part]"]
            lines.append("    return {" + ", ".join(f"{p!r}: {f}" for p, f in pnames.items())
                         + "}[part](params, data, K, latent)")
        else:
            lines.append("    return {}")
        lines.append("")
        return lines

    def _weight_of(self, f: ir.BilinearFamily) -> str:
        from lwlc.lower import _covered, _weight_operand

        return _weight_operand(self.model, f, _covered(self.model, self.plan.learned))


def _runtime_names(d: Dialect) -> set[str]:
    names = {"xp", "np", "jnp", "jax", "math", "os", "time", "ALL", "DTYPE",
             "Any", "Array", "A", "X", "Y", "K", "v", "mean", "out", "data", "params",
             "state", "src", "latent", "pa", "pb", "yl", "part", "rng", "pieces"}
    for mod in (state, rrr, inference, *(m for m, _ in d.runtime)):
        names |= {n for n in vars(mod) if not n.startswith("__")}
    for kind in sets.REGISTRY.values():
        names |= {fn.__name__ for fn in kind.EMIT}
    return names


def format_source(text: str) -> str:
    """The module in ruff's format (88 columns) with its imports sorted: generated lines
    wrapped like written ones."""
    import subprocess

    from ruff.__main__ import find_ruff_bin

    ruff = find_ruff_bin()
    for command in (["check", "--select", "I", "--fix"],  # the imports sorted, as isort does
                    ["format", "--line-length", str(LINE)]):
        done = subprocess.run([ruff, *command, "--isolated", "--stdin-filename", "solver.py",
                               "-"], input=text.encode(), capture_output=True, check=False)
        if done.returncode != 0:  # pragma: no cover - the emitted source is valid Python
            raise RuntimeError(f"ruff {command[0]} failed on the emitted solver: "
                               f"{done.stderr.decode()}")
        text = done.stdout.decode()
    return text


def quoted(text: str) -> str:
    """Text of the user's (a path, the model's title, a line of the model) as it may stand
    in an emitted comment or docstring: backslashes and double quotes escaped (no \"\"\"
    ends a docstring, no \\N{...} breaks one) and every character that is not printable
    (line breaks among them: none starts a line of code) written as its escape."""
    out = []
    for ch in text:
        if ch in "\\\"":
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


@functools.cache
def _annotation_names(text: str) -> frozenset[str]:
    """The names a string annotation uses."""
    tree = ast.parse(text, mode="eval")
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


def prune(text: str, roots: tuple[str, ...]) -> str:
    """Drop the top-level functions, assignments and imports that nothing reachable from
    `roots` (and from the module's other statements) uses, with the comments just above them."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)

    def bound(node) -> set[str]:
        if isinstance(node, ast.FunctionDef):
            return {node.name}
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                return set()
            return {(a.asname or a.name).split(".")[0] for a in node.names}
        return set()

    def used(node) -> set[str]:
        names: set[str] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                names.add(n.id)
            elif isinstance(n, ast.FunctionDef):  # string annotations ("Array", ...)
                for a in [*(arg.annotation for arg in n.args.args), n.returns]:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        names |= _annotation_names(a.value)
        return names

    defs = {}
    for node in tree.body:
        for name in bound(node):
            defs.setdefault(name, []).append(node)
    keep: set[int] = set()
    todo = list(roots)
    for node in tree.body:
        if not bound(node):
            keep.add(id(node))
            todo += used(node)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in defs.get(name, []):
            if id(node) not in keep:
                keep.add(id(node))
                todo += used(node)
                if isinstance(node, ast.FunctionDef):
                    todo += [n.id for d in node.decorator_list for n in ast.walk(d)
                             if isinstance(n, ast.Name)]
    drop = [node for node in tree.body if id(node) not in keep]
    removed = set()
    for node in drop:
        start = node.lineno - 1
        if isinstance(node, ast.FunctionDef) and node.decorator_list:
            start = node.decorator_list[0].lineno - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#") and \
                not lines[start - 1].lstrip().startswith("# ---"):
            start -= 1
        removed.update(range(start, node.end_lineno))
    out = "".join(line for i, line in enumerate(lines) if i not in removed)
    # at most two blank lines in a row, none at the end
    text = ""
    blank = 0
    for line in out.splitlines(keepends=True):
        blank = blank + 1 if not line.strip() else 0
        if blank <= 2:
            text += line
    return text.rstrip("\n") + "\n"
