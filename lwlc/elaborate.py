"""Stage 2, elaborate: AST → IR. Resolve names, evaluate parameters, make index sets concrete.

Parameter expressions are folded with plain float arithmetic over a fixed table of functions;
smooth activation pieces become sympy expressions built node by node from the parse tree. Nothing
from the model text is ever evaluated as Python.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from . import ir
from . import syntax as S
from .errors import ModelError, Span, did_you_mean
from .kinds import kind_of
from .parse import parse_prelude
from .rundir import RECORD_NAMES

if TYPE_CHECKING:
    import sympy

METRIC_MIN = 1e-100  # the smallest metric weight lwlc computes with (its square is 1e-200)
def _round_half_away(x: float, ndigits: float | None = None) -> float:
    """round() as in school, halves away from zero (round(2.5) = 3), as percentage counts
    round; Python's round() takes halves to even (round(2.5) = 2: a user test)."""
    from decimal import ROUND_HALF_UP, Decimal, localcontext

    places = 0 if ndigits is None else int(ndigits)
    if not math.isfinite(x):
        return x
    exact = Decimal(repr(float(x)))
    if -exact.as_tuple().exponent <= places:  # no digit beyond those places: x itself
        return int(x) if ndigits is None else float(x)
    if places < -400:  # every float is below half of 10^400
        return 0 if ndigits is None else 0.0
    with localcontext() as context:  # a float's digits to 10^-places: at most 17 + 325
        context.prec = 800
        got = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return int(got) if ndigits is None else float(got)


_FUNCTIONS = {
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "abs": abs, "floor": math.floor,
    "ceil": math.ceil, "round": _round_half_away, "min": min, "max": max, "tanh": math.tanh,
    "sin": math.sin, "cos": math.cos, "atan": math.atan, "erf": math.erf,
}
_ARITY = {"min": (1, None), "max": (1, None), "round": (1, 2)}  # others take one
_SYMPY_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul,
              "/": operator.truediv, "^": operator.pow}
# a smooth piece's functions: their sympy names (sympy is imported for such a piece only)
_SYMPY_FUNCTIONS = {
    "sqrt": "sqrt", "exp": "exp", "log": "log", "abs": "Abs", "tanh": "tanh", "sin": "sin",
    "cos": "cos", "atan": "atan", "erf": "erf",
}
SOLVER_SETTINGS = ("beta", "lam", "iterations", "tolerance", "epochs", "seed", "restart",
                   "error")
SOLVER_METHODS = ("rrr", "dr", "ap")
SIDE_SETS = ("nonneg", "sphere", "box", "sparse")


def _shown(v) -> str:
    """A number as a message shows it: every digit it has (`:g` printed 2.0000001 as 2,
    beside "must lie in (0, 2]"), a whole number without ".0"."""
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


DEGREE_NAMES = ("outdeg", "indeg")
MAX_NODES = 1_000_000  # all node groups together
MAX_EDGES = 1 << 25  # per edge set (about 33.5 million)


def _span_text(span: Span | None) -> str | None:
    """The source text under a one-line span (e.g. a number literal as written), if known."""
    if span is None or span.end_line != span.line or not span.end_col:
        return None
    text = span.line_text()
    return text[span.col - 1:span.end_col - 1] if text else None


def _string_span(span: Span) -> Span:
    """The span of the first string literal of a statement (a `data` spec), else the span."""
    src = span.source
    if not src:
        return span
    offset = sum(len(line) + 1 for line in src.split("\n")[:span.line - 1]) + span.col - 1
    q = src.find('"', offset)
    if q < 0:
        return span
    end = src.find('"', q + 1)
    line = src.count("\n", 0, q) + 1
    col = q - (src.rfind("\n", 0, q) + 1) + 1
    width = end - q + 1 if end > q and "\n" not in src[q:end] else 1
    return Span(span.file, line, col, line, col + width, src)


def _fmt_group(g: S.GroupExpr) -> str:
    if isinstance(g, S.GroupRef):
        return g.name
    op = "|" if isinstance(g, S.GroupUnion) else "-"
    # brackets where the right operand is itself an operation, or a union is subtracted
    left = _fmt_group(g.left)
    if op == "-" and isinstance(g.left, S.GroupUnion):
        left = f"({left})"
    right = _fmt_group(g.right)
    if not isinstance(g.right, S.GroupRef):
        right = f"({right})"
    return f"{left} {op} {right}"


class _Elaborator:
    def __init__(self, program: S.Program, overrides: dict[str, float], prelude: S.Program):
        self.program = program
        self.overrides = dict(overrides)
        self.used_overrides: set[str] = set()
        self.prelude = prelude
        self.params: dict[str, float] = {}
        self.param_spans: dict[str, Span] = {}
        self.hidden_params: set[str] = set()  # `param z` or `x`, said once to be hidden
        self.node_decls: list[ir.NodeDecl] = []
        self.groups: dict[str, tuple[int, ...]] = {}
        self.group_spans: dict[str, Span] = {}
        self.group_decls: dict[str, S.GroupExpr] = {}  # a defined group: its expression
        self.edge_sets: dict[str, ir.EdgeSet] = {}
        self.edge_files: list[str] = []
        self.batch: ir.Batch | None = None
        self.inputs: dict[str, ir.Input] = {}
        self.labels: dict[str, ir.Label] = {}
        self.samples: dict[str, ir.Sample] = {}
        self.variables: dict[str, ir.Variable] = {}
        self.set_decls: dict[str, S.SetDecl] = {}
        self.sets: dict[str, ir.ActivationSet] = {}
        self.families: list[ir.Family] = []
        self.solver: ir.Solver | None = None
        self.data: dict[str, str] = {}
        self.data_spans: dict[str, tuple[str, Span]] = {}
        self.warnings: list[ir.ModelWarning] = []
        self.names: dict[str, tuple[str, Span]] = {}  # every declared name → (kind, span)
        self.declared_at = _declarations(program)  # name → where the model declares it

    # --- names ---------------------------------------------------------------------------
    def declare(self, name: str, kind: str, span: Span) -> None:
        if name in RECORD_NAMES:
            raise ModelError(f"'{name}' is reserved: lwlc's files keep their own records "
                             "under it (params.npz its metadata, restarts.npz its starts)",
                             span, hint=f"rename it, e.g. {name.strip('_')}")
        if name in self.names:
            other_kind, other = self.names[name]
            raise ModelError(
                f"'{name}' is already declared (as {other_kind} at line {other.line})",
                _name_span(span, name),
                hint="every parameter, node group, edge set, batch, input, label and variable "
                "needs its own name",
            )
        self.names[name] = (kind, span)

    def unknown(self, name: str, span: Span, what: str, candidates) -> ModelError:
        later = self.later(name, span)
        if later is not None:
            return later
        if name in self.names and what not in self.names[name][0]:
            # `input d[k, E]` with E an edge set: not unknown, but of another kind
            kind, where = self.names[name]
            return ModelError(f"'{name}' is {kind} (line {where.line}), not {_article(what)}",
                              span, hint=did_you_mean(name, candidates))
        return ModelError(f"unknown {what} '{name}'", span, hint=did_you_mean(name, candidates))

    def later(self, name: str, span: Span) -> ModelError | None:
        """The error for a name used before the statement that declares it, if it is."""
        at = self.declared_at.get(name)
        if name in self.names or at is None or (at.line, at.col) <= (span.line, span.col):
            return None
        return ModelError(f"'{name}' is used before it is declared (at line {at.line})", span,
                          hint=f"move line {at.line} above this one: a model declares each "
                          "name before its first use")

    # --- expressions ---------------------------------------------------------------------
    def evaluate(self, e: S.Expr, env: dict[str, float] | None = None) -> float:
        """Fold a constant expression over parameters (and `env`, e.g. set arguments)."""
        env = env or {}
        if isinstance(e, S.Num):
            if e.percent:
                raise ModelError(
                    "a percentage is only meaningful as a count of batch items",
                    e.span,
                    hint="write it after exempt/relabel/allow, e.g. `exempt 0.5%`",
                )
            if not math.isfinite(e.value):
                raise ModelError(f"the number {_span_text(e.span) or e.value} is too large: it "
                                 "overflows a float (64-bit, at most about 1.8e308)", e.span)
            _check_literal(_span_text(e.span), e.value, e.span)
            return e.value
        if isinstance(e, S.Name):
            if e.id in env:
                return env[e.id]
            if e.id in self.params:
                return self.params[e.id]
            raise self.unknown(e.id, e.span, "parameter", list(self.params) + list(env))
        if isinstance(e, S.Neg):
            return -self.evaluate(e.operand, env)
        if isinstance(e, S.BinOp):
            a, b = self.evaluate(e.left, env), self.evaluate(e.right, env)
            try:
                if e.op == "+":
                    r = a + b
                elif e.op == "-":
                    r = a - b
                elif e.op == "*":
                    r = a * b
                elif e.op == "/":
                    r = a / b
                else:
                    r = a**b
                    if isinstance(r, complex):
                        raise ModelError(f"{_shown(a)} ^ {_shown(b)} is not a real number", e.span)
                    r = float(r)
            except ZeroDivisionError:
                raise ModelError("division by zero", e.span) from None
            except (OverflowError, TypeError):
                r = math.inf
            if not math.isfinite(r):
                raise ModelError(f"the value overflows: {_shown(a)} {e.op} {_shown(b)} is too "
                                 "large for a float (at most about 1.8e308)", e.span)
            return r
        if isinstance(e, S.Call):
            fn = _FUNCTIONS.get(e.func)
            if fn is None:
                raise self.unknown(e.func, e.span, "function", _FUNCTIONS)
            args = [self.evaluate(a, env) for a in e.args]
            lo, hi = _ARITY.get(e.func, (1, 1))
            if not lo <= len(args) <= (hi or len(args)):
                wanted = {(1, 1): "one argument", (1, 2): "one or two arguments",
                          (1, None): "one or more arguments"}[lo, hi]
                raise ModelError(f"{e.func} takes {wanted}, got {len(args)}", e.span)
            if e.func == "round" and len(args) == 2:
                if args[1] != int(args[1]):
                    raise ModelError(f"round's digits are a whole number, got {_shown(args[1])}",
                                     e.args[1].span)
                args[1] = int(args[1])
            try:
                r = float(fn(*args) if len(args) > 1 or e.func not in ("min", "max")
                          else args[0])
            except OverflowError:
                r = math.inf
            except (TypeError, ValueError) as err:
                raise ModelError(f"cannot evaluate {e.func}(...): {err}", e.span) from None
            if not math.isfinite(r):
                shown = ", ".join(f"{_shown(a)}" for a in args)
                raise ModelError(f"the value overflows: {e.func}({shown}) is too large for a "
                                 "float (at most about 1.8e308)", e.span)
            return r
        if isinstance(e, S.Ref):
            raise ModelError(
                f"'{e.name}[...]' is not a constant here",
                e.span,
                hint="only numbers, parameters and arithmetic are allowed in this place",
            )
        raise ModelError("not a constant expression", getattr(e, "span", None))

    def evaluate_int(self, e: S.Expr, what: str, minimum: int = 0) -> int:
        v = self.evaluate(e)
        if not math.isfinite(v) or v != int(v) or v < minimum:
            raise ModelError(
                f"{what} must be a whole number ≥ {minimum}, got {_shown(v)}", e.span
            )
        return int(v)

    def evaluate_count(self, e: S.Expr, base: int, what: str) -> int:
        if isinstance(e, S.Num) and e.percent and not math.isfinite(e.value):
            raise ModelError(f"the number {_span_text(e.span) or e.value} is too large: it "
                             "overflows a float", e.span)
        if isinstance(e, S.Num) and e.percent:
            # halves round up (round() took 2.5 % of 20 to 0, 7.5 % to 2: to even), in
            # exact decimal arithmetic (in floats 14.5 / 100 * 100 is 14.499999999999998)
            count = math.floor(Fraction(repr(e.value)) * base / 100 + Fraction(1, 2))
            if count == 0 and e.value > 0:
                self.warnings.append(ir.ModelWarning(
                    f"{_span_text(e.span) or f'{_shown(e.value)}%'} of {base} "
                    f"item{'s' if base != 1 else ''} rounds to 0: "
                    f"{what} is 0", e.span,
                    hint=f"at least {100.0 / base:.3g}% makes one item here"))
            return count
        return self.evaluate_int(e, what)

    # --- groups --------------------------------------------------------------------------
    def group(self, g: S.GroupExpr) -> tuple[int, ...]:
        if isinstance(g, S.GroupRef):
            if g.name in self.groups:
                return self.groups[g.name]
            raise self.unknown(g.name, g.span, "node group", self.groups)
        left, right = set(self.group(g.left)), set(self.group(g.right))
        if isinstance(g, S.GroupUnion):
            overlap = left & right
            if overlap:
                raise ModelError(
                    f"the groups in '{_fmt_group(g)}' share node(s) such as "
                    f"{self.node_name(min(overlap))}",
                    g.span,
                    hint="a union must be of disjoint groups",
                )
            return tuple(sorted(left | right))
        out = tuple(sorted(left - right))
        if not out:
            raise ModelError(f"'{_fmt_group(g)}' has no nodes", g.span)
        return out

    def written_order(self, g: S.GroupExpr) -> tuple[int, ...]:
        """The nodes of `g` in the order the model writes them (unions left to right,
        through group definitions); `group` gives them in declaration order."""
        if isinstance(g, S.GroupRef):
            decl = self.group_decls.get(g.name)
            return self.written_order(decl) if decl is not None else self.groups[g.name]
        left = self.written_order(g.left)
        if isinstance(g, S.GroupUnion):
            return left + self.written_order(g.right)
        drop = set(self.group(g.right))
        return tuple(n for n in left if n not in drop)

    def in_declared_order(self, g: S.GroupExpr, what: str, span: Span) -> tuple[int, ...]:
        """`group(g)` where data or classes are read in its order: refused where the model
        writes its nodes in another order, which would silently permute them."""
        nodes = self.group(g)
        written = self.written_order(g)
        if written != nodes:
            shown = " | ".join(dict.fromkeys(self.node_name(n).split("[")[0] for n in nodes))
            defined = (f" (group {g.name}, line {self.group_spans[g.name].line})"
                       if isinstance(g, S.GroupRef) and g.name in self.group_decls else "")
            raise ModelError(
                f"{what} follow the nodes of '{_fmt_group(g)}'{defined} in the order they were "
                f"declared ({', '.join(self.node_name(n) for n in nodes[:4])}"
                f"{', ...' if len(nodes) > 4 else ''}), not the order written here "
                f"({', '.join(self.node_name(n) for n in written[:4])}"
                f"{', ...' if len(written) > 4 else ''})",
                span,
                hint=f"write the groups in the order of the `nodes` line ({shown}), or "
                     "declare the nodes in the order you mean")
        return nodes

    def node_name(self, node: int) -> str:
        for d in self.node_decls:
            if d.start <= node < d.start + d.size:
                return f"{d.name}[{node - d.start}]"
        return str(node)

    # --- statements ----------------------------------------------------------------------
    def run(self) -> ir.Model:
        model_name, title = Path(self.program.file).stem, None
        for st in self.program.statements:
            handler = getattr(self, "st_" + type(st).__name__)
            result = handler(st)
            if isinstance(st, S.ModelDecl):
                model_name, title = result
        for st in self.program.statements:
            if isinstance(st, S.SampleDecl):
                self.sample(st)
        self.check_sample_sources()
        for role, (_spec, span) in list(self.data_spans.items()):
            if role not in ("train", "test") and role not in self.inputs:
                what = (f"'{role}' is a label, whose classes come with the training set"
                        if role in self.labels else f"unknown data role '{role}'")
                inputs = ", ".join(self.inputs) or "none"
                raise ModelError(what, span,
                                 hint="use data train = \"...\", data test = \"...\" or name "
                                 f"an input (the model's: {inputs})")
            if role in self.samples:
                smp = self.samples[role]
                raise ModelError(f"data '{role}': sample {role} draws its values from the "
                                 f"source of its `sample` line ({self.program.file}:"
                                 f"{smp.span.line}), so data of its own would be unused", span,
                                 hint=f"drop this line, or declare {role} as an input "
                                 f"(input {role}[...]) to read it from data")
        for role, (spec, span) in list(self.data_spans.items()):
            self.check_data(role, spec, span)
        for d in self.prelude.statements:
            if isinstance(d, S.SetDecl) and d.name not in self.set_decls:
                self.set_decls[d.name] = d
        # Constraints last: they may use anything declared anywhere in the file.
        for st in self.program.statements:
            if isinstance(st, S.ConstraintDecl):
                self.families.append(self.constraint(st))
        if not self.families:
            raise ModelError(
                "the model declares no constraints",
                Span(self.program.file, 1, 1, source=self.program.source),
                hint="write `constraint NAME for ...: RELATION`; see docs/language.md",
            )
        used_sets = {aset.name for aset in self.sets.values()}
        for st in self.program.statements:
            if isinstance(st, S.SetDecl) and st.name not in used_sets:
                if not st.params:  # its errors that no argument decides, used or not
                    self.instantiate_set(S.SetRef(st.name, (), st.span))
                self.warnings.append(ir.ModelWarning(
                    f"set {st.name} is not used by any constraint", st.span,
                    hint=f"use it in a constraint (`(y[k, i] - b[k, i], agree x[k, out(i)]) in "
                         f"{st.name}{'(...)' if st.params else ''}`) or remove it"))
        if self.solver is None:  # the defaults, before the --set check: they take --set too
            self.solver = self.make_solver(None)
        unused = set(self.overrides) - self.used_overrides
        if unused:
            name = sorted(unused)[0]
            known = list(self.params) + list(SOLVER_SETTINGS) + ["batch"]
            if self.batch:
                known += [p.name for p in self.batch.parts]
            if (self.batch and len(self.batch.parts) > 1
                    and name in ("batch", self.batch.index)):
                parts = ", ".join(p.name for p in self.batch.parts)
                raise ModelError(f"--set {name}: the batch has parts ({parts}); set each "
                                 f"part's size, e.g. --set {self.batch.parts[0].name}=...",
                                 None)
            raise ModelError(f"--set {name}: the model has no parameter or setting '{name}'",
                             None, hint=did_you_mean(name, known))
        self.model_warnings()
        return ir.Model(
            name=model_name, title=title, file=self.program.file, source=self.program.source,
            params=dict(self.params), node_decls=tuple(self.node_decls),
            groups=dict(self.groups), edge_sets=dict(self.edge_sets), batch=self.batch,
            inputs=dict(self.inputs), labels=dict(self.labels), samples=dict(self.samples),
            variables=dict(self.variables), sets=dict(self.sets),
            families=tuple(self.families), solver=self.solver, data=dict(self.data),
            warnings=tuple(sorted(self.warnings, key=lambda w: (w.span.line, w.span.col))),
            edge_files=tuple(self.edge_files),
        )

    # --- warnings ------------------------------------------------------------------------
    def model_warnings(self) -> None:
        """Legal but probably unintended: an input or label no constraint reads, and nodes
        whose value goes nowhere (no out-edges, or no edges at all)."""
        used = names_read(self)
        for inp in self.inputs.values():
            if inp.name not in used:
                kind = "sample" if inp.name in self.samples else "input"
                self.warnings.append(ir.ModelWarning(
                    f"{kind} {inp.name} is not used by any constraint: its values are ignored",
                    inp.span, hint=f"use it in a constraint (e.g. agree x[k, out(i)] == "
                    f"{inp.name}[k, i]) or remove it"))
        for inp, message, hint in input_problems(self):
            self.warnings.append(ir.ModelWarning(message, inp.span, hint=hint,
                                                 about="no values"))
        for lab, message, hint in label_problems(self):
            self.warnings.append(ir.ModelWarning(message + ": it gets no values", lab.span,
                                                 hint=hint, about="no values"))
        for lab in self.labels.values():
            if lab.name not in used:
                self.warnings.append(ir.ModelWarning(
                    f"label {lab.name} is not used by any constraint: the classes are ignored",
                    lab.span, hint=f"a classifier reads it as y[k, C] - b[k, C] in "
                    f"margin({lab.name}[k], margin), or remove it"))
        if not self.edge_sets:
            return
        n = sum(d.size for d in self.node_decls)
        # an edge set declared before later `nodes` counts fewer nodes: pad its degrees
        indeg = sum(np.pad(es.indeg, (0, n - es.indeg.size)) for es in self.edge_sets.values())
        outdeg = sum(np.pad(es.outdeg, (0, n - es.outdeg.size)) for es in self.edge_sets.values())
        warned: set[int] = set()
        # A consensus over a node's edges where it has none: its data or value is dropped.
        for f in self.families:
            if not (isinstance(f, ir.ConsensusFamily) and f.over == "edges" and f.nodes):
                continue
            es = self.edge_sets[self.variables[f.var].edge_set]
            deg = es.outdeg if f.direction == "out" else es.indeg
            empty = [i for i in f.nodes if deg[i] == 0 and i not in warned]
            if not empty:
                continue
            warned.update(empty)
            fixed = f.side.fixed
            what = (f"their data {fixed.input}[k, i] is dropped"
                    if fixed is not None and fixed.input is not None
                    else "the constraint does nothing there and their value is dropped")
            other = "in" if f.direction == "out" else "out"
            deg_other = es.indeg if f.direction == "out" else es.outdeg
            if all(deg_other[i] > 0 for i in empty):
                # edges the other way: `in(i)` written for `out(i)` (or the reverse)
                hint = (f"these nodes have {other}-edges: {f.direction}(i) selects the edges "
                        f"{'leaving' if f.direction == 'out' else 'entering'} node i; did you "
                        f"mean {other}(i)?")
            elif f.direction == "out":
                hint = ("random(...) draws the tails of each head, so a tail may get no "
                        "out-edge: raise fanin, change the seed, or add edges for these nodes")
            else:
                hint = "add edges into these nodes, or leave them out of the constraint's domain"
            self.warnings.append(ir.ModelWarning(
                f"{self._nodes_text(empty)} no {f.direction}-edges in {es.name}: constraint "
                f"'{f.name}' (line {f.span.line}) has nothing to agree over there, so {what}",
                self._edge_term_span(es.name, empty, f.direction), hint=hint))
        # In-edges but no out-edges, and no class or data constraint reads the node.
        read: set[int] = set()
        for f in self.families:
            read |= kind_of(f).reads(f)[1]
        sinks = [i for i in range(n) if indeg[i] > 0 and outdeg[i] == 0
                 and i not in read and i not in warned]
        if sinks:
            warned.update(sinks)
            es_name = next(iter(self.edge_sets))
            self.warnings.append(ir.ModelWarning(
                f"{self._nodes_text(sinks)} in-edges but no out-edges, and no class or data "
                "constraint reads them: their value is dropped",
                self._edge_term_span(es_name, sinks, "out"),
                hint="give them out-edges, or read them in a class constraint "
                "(y[k, C] - b[k, C] in margin(...))"))
        # No edges at all.
        for d in self.node_decls:
            alone = [i for i in range(d.start, d.start + d.size)
                     if indeg[i] == 0 and outdeg[i] == 0 and i not in warned]
            if alone:
                self.warnings.append(ir.ModelWarning(
                    f"{self._nodes_text(alone)} no edges: nothing connects them to the network",
                    d.span, hint="add edges for them (edges E = ... + dense(...)), or make the "
                    "group smaller"))

    def _nodes_text(self, nodes: list[int]) -> str:
        """'D[2] has' / 'D[2], D[5] (2 of the 6 nodes of D) have' / '... and 7 more ... have'."""
        names = [self.node_name(i) for i in nodes[:4]]
        shown = ", ".join(names) + (f" and {len(nodes) - 4} more" if len(nodes) > 4 else "")
        if len(nodes) == 1:
            return f"node {shown} has"
        decls = [d for d in self.node_decls if d.start <= nodes[0] < d.start + d.size]
        d = decls[0] if decls else None
        if d is not None and all(d.start <= i < d.start + d.size for i in nodes):
            part = "all" if len(nodes) == d.size else f"{len(nodes)} of the"
            return f"nodes {shown} ({part} {d.size} nodes of {d.name}) have"
        return f"nodes {shown} ({len(nodes)} in all) have"

    def _edge_term_span(self, es_name: str, nodes: list[int], direction: str) -> Span:
        """The first term of edge set `es_name` that could have given `nodes` their missing
        (out- or in-) edges: its tail (head) group holds one of them; else the statement."""
        decl = next(st for st in self.program.statements
                    if isinstance(st, S.EdgesDecl) and st.name == es_name)
        wanted = set(nodes)
        for term in decl.terms:
            if isinstance(term, S.EdgeCall) and term.func in ("dense", "random"):
                ends = self.group(term.tail if direction == "out" else term.head)
                if wanted & set(ends):
                    return term.span
        return decl.span

    def st_ModelDecl(self, st: S.ModelDecl):
        if getattr(self, "_model_span", None) is not None:
            raise ModelError(f"a file declares one model (the first is at line "
                             f"{self._model_span.line})", st.span)
        self._model_span = st.span
        return st.name, st.title

    def st_ParamDecl(self, st: S.ParamDecl):
        self.declare(st.name, "a parameter", st.span)
        if st.name in self.overrides:
            self.params[st.name] = float(self.overrides[st.name])
            self.used_overrides.add(st.name)
            given = self.overrides[st.name]
            if isinstance(given, int) and given != int(self.params[st.name]):
                raise ModelError(f"--set {st.name}={given}: a parameter is a float (64-bit), "
                                 f"which reads it as {int(self.params[st.name])} (whole "
                                 f"numbers are exact up to 2^53 = {2**53})", st.span)
            if not math.isfinite(self.params[st.name]):
                raise ModelError(f"--set {st.name}={_shown(self.params[st.name])}: a "
                                 "parameter is a finite number", st.span)
        else:
            self.params[st.name] = self.evaluate(st.value)
        self.param_spans[st.name] = st.span

    def st_NodesDecl(self, st: S.NodesDecl):
        self.declare(st.name, "a node group", st.span)
        size = self.evaluate_int(st.size, f"the size of node group {st.name}", minimum=1)
        start = sum(d.size for d in self.node_decls)
        if start + size > MAX_NODES:
            total = start + size
            shown = f"{total:,}" if total < 10**15 else f"{float(total):.3g}"  # not 301 digits
            raise ModelError(f"the model has too many nodes ({shown} > {MAX_NODES:,})",
                             st.size.span)
        self.node_decls.append(ir.NodeDecl(st.name, start, size, st.span))
        self.groups[st.name] = tuple(range(start, start + size))
        self.group_spans[st.name] = st.span

    def st_GroupDecl(self, st: S.GroupDecl):
        self.declare(st.name, "a node group", st.span)
        self.groups[st.name] = self.group(st.group)
        self.group_spans[st.name] = st.span
        self.group_decls[st.name] = st.group

    def st_EdgesDecl(self, st: S.EdgesDecl):
        self.declare(st.name, "an edge set", st.span)
        tails: list[np.ndarray] = []
        heads: list[np.ndarray] = []
        blocks = []
        total = 0
        for term in st.terms:
            if isinstance(term, S.EdgeCall) and term.func in ("dense", "random"):
                fan = len(self.group(term.tail))
                if term.func == "random" and "fanin" in {k.name for k in term.kwargs}:
                    fan = min(fan, self.evaluate_int(self.kw_expr(next(
                        k for k in term.kwargs if k.name == "fanin")), "fanin", minimum=1))
                total += fan * len(self.group(term.head))
                if total > MAX_EDGES:
                    raise ModelError(f"edge set {st.name} has too many edges (over "
                                     f"{_shown(MAX_EDGES)})", term.span)
            t, h = self.edge_term(term)
            if isinstance(term, S.EdgeCall) and term.func == "dense":
                blocks.append((self.group(term.tail), self.group(term.head)))
            tails.append(t)
            heads.append(h)
        tail = np.concatenate(tails).astype(np.int64)
        head = np.concatenate(heads).astype(np.int64)
        n = sum(d.size for d in self.node_decls)
        key = head * n + tail
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.cumsum([0] + [len(t) for t in tails])

        def where(e: int) -> Span:  # the term (or the list entry) that wrote edge e
            i = int(np.searchsorted(starts, e, side="right")) - 1
            term = st.terms[i]
            if isinstance(term, S.EdgeList):
                a, b = term.pairs[e - starts[i]]
                return replace(a.span, end_line=b.span.end_line, end_col=b.span.end_col)
            return term.span

        dup = np.nonzero(np.diff(key) == 0)[0]
        if dup.size:
            e = order[dup[0] + 1]  # the later of the two (the sort is stable)
            raise ModelError(
                f"edge set {st.name} has the edge {self.node_name(int(tail[e]))} -> "
                f"{self.node_name(int(head[e]))} twice",
                where(int(e)),
                hint="the terms of an edge set must not overlap",
            )
        loops = np.nonzero(tail == head)[0]
        if loops.size:
            raise ModelError(
                f"edge set {st.name} has a self-loop at {self.node_name(int(tail[loops[0]]))}",
                where(int(loops[0])),
                hint="an edge joins two different nodes",
            )
        self.edge_sets[st.name] = ir.EdgeSet(
            st.name, tail[order], head[order], n, tuple(blocks), st.span
        )

    def edge_term(self, term: S.EdgeTerm) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(term, S.EdgeCall):
            tails, heads = self.group(term.tail), self.group(term.head)
            kw = {}
            for k in term.kwargs:
                if k.name in kw:
                    raise ModelError(f"{term.func}(...) gives {k.name} twice", k.span,
                                     hint=f"keep one {k.name} = ...")
                kw[k.name] = k
            if term.func == "dense":
                if kw:
                    k = next(iter(kw.values()))
                    raise ModelError(f"dense(...) takes no option '{k.name}'", k.span)
                t = np.tile(np.array(tails), len(heads))
                h = np.repeat(np.array(heads), len(tails))
                return t, h
            if term.func == "random":
                for k in kw.values():
                    if k.name not in ("fanin", "seed"):
                        raise ModelError(f"random(...) has no option '{k.name}'", k.span,
                                         hint=did_you_mean(k.name, ["fanin", "seed"]))
                if "fanin" not in kw:
                    raise ModelError("random(...) needs fanin = N", term.span,
                                     hint="e.g. random(D -> H, fanin = 3, seed = 1)")
                fanin = self.evaluate_int(self.kw_expr(kw["fanin"]), "fanin", minimum=1)
                seed = self.evaluate_int(self.kw_expr(kw["seed"]), "seed") if "seed" in kw else 0
                if fanin > len(tails):
                    raise ModelError(
                        f"fanin {fanin} is larger than the {len(tails)} possible tails",
                        kw["fanin"].span,
                        hint=f"each head draws fanin distinct tails: at most fanin = "
                             f"{len(tails)}, which is dense(...)",
                    )
                rng = np.random.default_rng(seed)
                t = np.concatenate(
                    [rng.choice(np.array(tails), size=fanin, replace=False) for _ in heads]
                )
                h = np.repeat(np.array(heads), fanin)
                return t, h
            raise ModelError(f"unknown edge pattern '{term.func}'", term.span,
                             hint="use dense(A -> B), random(A -> B, fanin = N, seed = S), "
                             "a list [A[0] -> B[1], ...] or file(\"edges.txt\")")
        if isinstance(term, S.EdgeList):
            t = [self.node_at(a) for a, _ in term.pairs]
            h = [self.node_at(b) for _, b in term.pairs]
            return np.array(t), np.array(h)
        return self.edge_file(term)

    def kw_expr(self, k: S.KwArg) -> S.Expr:
        if isinstance(k.value, str):
            raise ModelError(f"option '{k.name}' takes a number, not a string", k.span)
        return k.value

    def node_at(self, n: S.NodeAt) -> int:
        if n.group not in self.groups:
            raise self.unknown(n.group, n.span, "node group", self.groups)
        members = self.groups[n.group]
        i = self.evaluate_int(n.index, "a node index")
        if i >= len(members):
            raise ModelError(f"{n.group} has {len(members)} nodes; index {i} is out of range",
                             n.span)
        return members[i]

    def edge_file(self, term: S.EdgeFile) -> tuple[np.ndarray, np.ndarray]:
        path = Path(self.program.file).parent / term.path
        self.edge_files.append(str(path))
        try:
            with open(path, "rb") as fh:  # up to a cap: /dev/zero read on without end
                raw = fh.read(EDGE_FILE_BYTES + 1)
        except OSError as e:
            raise ModelError(f"cannot read edge file {path}: {e.strerror}", term.span) from None
        if len(raw) > EDGE_FILE_BYTES:
            raise ModelError(f"edge file {path} is larger than {EDGE_FILE_BYTES >> 30} GB "
                             "(or a pipe or device that reads on)", term.span,
                             hint="an edge file lists 'TAIL HEAD' node numbers, one edge per "
                             "line; a dense or random wiring needs no file: dense(A -> B)")
        try:
            text = raw.decode("utf-8-sig")  # a byte-order mark is fine, as in model files
            if "\x00" in text:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
        except UnicodeDecodeError:
            raise ModelError(f"edge file {path} is not a text file",
                             term.span, hint="an edge file lists 'TAIL HEAD' node numbers, "
                             "one edge per line") from None
        t, h = [], []
        seen: dict[tuple[int, int], int] = {}
        n = sum(d.size for d in self.node_decls)
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.split("#")[0].strip()
            if not line:
                continue
            parts = line.replace("->", " ").split()
            try:
                if not all(p.isascii() for p in parts):  # int() takes '١' and '６' as digits
                    raise ValueError
                a, b = (int(p) for p in parts)
            except ValueError:
                raise ModelError(
                    f"{path}:{lineno}: expected two node numbers 'TAIL HEAD' on each line",
                    term.span,
                ) from None
            if not (0 <= a < n and 0 <= b < n):
                raise ModelError(f"{path}:{lineno}: node number out of range 0..{n - 1}",
                                 term.span)
            if a == b:
                raise ModelError(f"{path}:{lineno}: a self-loop at {self.node_name(a)}",
                                 term.span, hint="an edge joins two different nodes")
            if (a, b) in seen:
                raise ModelError(f"{path}:{lineno}: the edge {self.node_name(a)} -> "
                                 f"{self.node_name(b)} is listed twice (first on line "
                                 f"{seen[a, b]})", term.span)
            seen[a, b] = lineno
            t.append(a)
            h.append(b)
        if not t:
            raise ModelError(f"edge file {path} lists no edges", term.span)
        return np.array(t), np.array(h)

    def st_BatchDecl(self, st: S.BatchDecl):
        if self.batch is not None:
            raise ModelError("a model has one batch declaration", st.span,
                             hint="split one batch into parts: batch k = data[200] + code[20]")
        self.declare(st.name, "the batch index", st.span)
        parts = []
        start = 0
        for p in st.parts:
            key = p.name
            if len(st.parts) > 1 and p.name == st.name:
                raise ModelError(f"a batch part cannot be named like the batch index "
                                 f"'{st.name}'", p.span)
            # `--set batch` is a parameter named batch where the model has one, as a
            # parameter named like a solver setting takes its --set
            by_batch = len(st.parts) == 1 and "batch" in self.overrides and not any(
                isinstance(d, S.ParamDecl) and d.name == "batch"
                for d in self.program.statements)
            if by_batch and key != "batch" and key in self.overrides:
                raise ModelError(f"--set {key} and --set batch both set the batch size",
                                 p.span, hint="give one of them")
            given = key if key in self.overrides else ("batch" if by_batch else None)
            if given is not None:
                v = float(self.overrides[given])
                self.used_overrides.add(given)
                if not math.isfinite(v) or v != int(v) or v < 1:
                    raise ModelError(f"--set {given}={_shown(v)}: a batch size is a whole number "
                                     "≥ 1", p.span)
                size = int(v)
            else:
                what = ("the batch size" if len(st.parts) == 1
                        else f"the size of batch part {p.name}")
                size = self.evaluate_int(p.size, what, minimum=1)
            if size < 1:
                raise ModelError(f"batch part {p.name} must hold at least one item", p.span)
            if p.name != st.name:
                self.declare(p.name, "a batch part", p.span)
            parts.append(ir.SubBatch(p.name, start, size, p.span))
            start += size
        self.batch = ir.Batch(st.name, tuple(parts), st.span)

    def batch_part(self, name: str, span: Span) -> ir.SubBatch:
        if self.batch is None:
            later = self.later(name, span)
            if later is not None:
                raise later
            raise ModelError("declare the batch before using it", span,
                             hint="e.g. batch k[128]")
        if name == self.batch.index:
            return self.batch.whole
        part = self.batch.part(name)
        if part is None:
            raise self.unknown(name, span, "batch index or part",
                               [self.batch.index] + [p.name for p in self.batch.parts])
        return part

    def st_InputDecl(self, st: S.InputDecl):
        self.declare(st.name, "an input", st.span)
        nodes = self.in_declared_order(st.group, f"the columns of input {st.name}",
                                       st.group.span)
        self.inputs[st.name] = ir.Input(st.name, self.batch_part(st.batch, st.span), nodes,
                                        st.span)

    def st_LabelDecl(self, st: S.LabelDecl):
        self.declare(st.name, "a label", st.span)
        classes = self.in_declared_order(st.classes, f"the classes of label {st.name}",
                                         st.classes.span)
        if len(classes) < 2:
            raise ModelError("a label needs at least two classes", st.span,
                             hint=f"its group has {len(classes)} node(s); a label names one of "
                                  "the class nodes per item (a regression target is an input "
                                  "with `==`)")
        self.labels[st.name] = ir.Label(st.name, self.batch_part(st.batch, st.span), classes,
                                        st.span)

    def st_SampleDecl(self, st: S.SampleDecl):
        self.declare(st.name, "an input", st.span)  # resolved once variables are declared

    def sample(self, st: S.SampleDecl):
        part = self.batch_part(st.batch, st.span)
        nodes = self.in_declared_order(st.group, f"the columns of sample {st.name}",
                                       st.group.span)
        src = st.source
        var = self.variables.get(src.name)
        if var is None or var.axis != "edges" or len(src.indices) != 2:
            raise ModelError(
                "sample ... from agree X[PART, out(G)] needs an edge variable X",
                src.span,
                hint="e.g. sample s[code, Z] from agree x[data, out(Z)]",
            )
        first, second = src.indices
        if not isinstance(first, S.IndexGroup) or not isinstance(first.group, S.GroupRef):
            raise ModelError("the first index names a batch part", first.span)
        source_part = self.batch_part(first.group.name, first.span)
        if not (isinstance(second, S.IndexEdges) and second.direction == "out"):
            raise ModelError("the second index must be out(GROUP)", second.span)
        if second.node not in self.groups or self.groups[second.node] != nodes:
            raise ModelError(f"out({second.node}) must range over the sampled nodes",
                             second.span)
        self.inputs[st.name] = ir.Input(st.name, part, nodes, st.span)
        self.samples[st.name] = ir.Sample(st.name, part, nodes, src.name, source_part, st.span)

    def check_sample_sources(self) -> None:
        """A sample is drawn from the encodings of its source part's items, computed from
        their inputs (eq. 37): a source part that holds sampled items would need the very
        values being drawn (`from agree x[code, ...]` for a sample of part code, or of the
        whole batch, crashed the first batch)."""
        for s in self.samples.values():
            src = s.source_part
            for t in self.samples.values():
                if t.part.start < src.stop and src.start < t.part.stop:
                    own = (f"its own part ({t.part.name})" if t is s
                           else f"part {t.part.name}")
                    data = [p.name for p in self.batch.parts
                            if not any(u.part.start < p.stop and p.start < u.part.stop
                                       for u in self.samples.values())]
                    raise ModelError(
                        f"sample {s.name} is drawn from the items of {src.name}, which hold "
                        f"{own}, whose input {t.name} is itself sampled: "
                        "the encodings it is drawn from would need the values being drawn",
                        s.span, hint="draw it from a batch part whose inputs are data" + (
                            f", e.g. `from agree {s.source_var}[{data[0]}, out(...)]`"
                            if data else ""))

    def st_VarDecl(self, st: S.VarDecl):
        self.declare(st.name, "a variable", st.span)
        idx = list(st.indices)
        batched = False
        if len(idx) == 2:
            first = idx.pop(0)
            is_batch = (self.batch is not None
                        and getattr(first, "name", None) == self.batch.index)
            if not (isinstance(first, S.GroupRef) and is_batch):
                later = self.later(getattr(first, "name", ""), first.span)
                if later is not None:
                    raise later
                raise ModelError(
                    "the first index of a two-index variable is the batch index",
                    first.span,
                    hint=f"write var {st.name}[{self.batch.index if self.batch else 'k'}, ...]",
                )
            batched = True
        (axis_expr,) = idx
        if isinstance(axis_expr, S.GroupRef) and axis_expr.name in self.edge_sets:
            es = self.edge_sets[axis_expr.name]
            var = ir.Variable(st.name, batched, "edges", es.name, None, np.ones(len(es)),
                              len(es), st.span)
            if st.metric:
                weights = self.metric_values(st, var, es)
                var = replace(var, metric=weights)
        else:
            nodes = self.group(axis_expr)
            var = ir.Variable(st.name, batched, "nodes", None, nodes, np.ones(len(nodes)),
                              len(nodes), st.span)
            if st.metric:
                var = replace(var, metric=self.metric_values(st, var, None))
        self.variables[st.name] = var

    def metric_values(self, st: S.VarDecl, var: ir.Variable, es) -> np.ndarray:
        weights = np.ones(var.size)
        source = [None] * var.size  # the metric item that gave each weight
        # the degrees of the edge set the model's edge variables are over (an edge set
        # declared first and used by no variable gave them silently: a user test); of the
        # first of several, with a warning
        over = [d.indices[-1].name for d in self.program.statements
                if isinstance(d, S.VarDecl) and isinstance(d.indices[-1], S.GroupRef)
                and d.indices[-1].name in self.edge_sets]
        over = list(dict.fromkeys(over))
        edges = (self.edge_sets[over[0]] if over
                 else next(iter(self.edge_sets.values()), None))
        degrees = [i for i in st.metric if isinstance(i.value, S.Name)
                   and i.value.id in DEGREE_NAMES]
        if len(over) > 1 and degrees:
            self.warnings.append(ir.ModelWarning(
                f"{degrees[0].value.id} counts the edges of {over[0]}, the first of the edge "
                f"sets {', '.join(over)} that variables are over", degrees[0].span,
                hint="declare the variables over one edge set, or give the weights as "
                     "numbers"))
        for item in st.metric:
            if var.axis == "edges":
                if item.on is not None:
                    raise ModelError("a metric on an edge variable is one constant", item.span)
                weights[:] = self.evaluate(item.value)
                source = [item] * var.size
                continue
            nodes = var.nodes if item.on is None else self.group(item.on)
            missing = set(nodes) - set(var.nodes)
            if missing:
                raise ModelError(
                    f"{self.node_name(min(missing))} is not an index of {var.name}", item.span
                )
            pos = var.positions(nodes)
            if isinstance(item.value, S.Name) and item.value.id in DEGREE_NAMES:
                if edges is None:
                    raise ModelError(f"{item.value.id} needs an edge set", item.value.span)
                deg = edges.outdeg if item.value.id == "outdeg" else edges.indeg
                weights[pos] = deg[np.array(nodes)]
            else:
                weights[pos] = self.evaluate(item.value)
            for p in np.atleast_1d(pos):
                source[int(p)] = item
        # the projections divide by the weights and sum their squares: below 1e-100 (a
        # subnormal 1e-320) that underflows, and runs diverged, blaming beta and the data
        bad = np.flatnonzero(~(np.isfinite(weights) & (weights > 0)))
        tiny = np.flatnonzero((weights > 0) & (weights < METRIC_MIN))
        if tiny.size and not bad.size:
            i = int(tiny[0])
            item = source[i]
            raise ModelError(
                f"the metric weight of {var.name} is {_shown(weights[i])}, too small to compute "
                f"with (below {METRIC_MIN:g}: its square underflows)",
                item.span if item is not None else st.span,
                hint="metric weights are relative: scale them all up")
        if bad.size:
            i = int(bad[0])
            item = source[i]
            where = "" if var.axis == "edges" else f" at {self.node_name(var.nodes[i])}"
            why = ""
            if item is not None and isinstance(item.value, S.Name) \
                    and item.value.id in DEGREE_NAMES:
                why = (f": it has no {'out' if item.value.id == 'outdeg' else 'in'}-edges in "
                       f"edge set {edges.name}, so its {item.value.id} is 0"
                       + (f" ({item.value.id} counts the edges of {edges.name} only: the "
                          "first edge set that variables are over)" if len(self.edge_sets) > 1
                          else ""))
            raise ModelError(
                f"the metric weight of {var.name}{where} is {_shown(weights[i])}{why}",
                item.span if item is not None else st.span,
                hint="a metric weight is positive and finite"
                + (f" ({bad.size} of {var.name}'s weights are not)" if bad.size > 1 else "")
                + (f"; a node without {'out' if 'outdeg' in why else 'in'}-edges needs a "
                   f"weight of its own (`metric outdeg on H, 1 on C` gives the nodes of C "
                   f"weight 1), or edges: a `random` term may leave a node without any"
                   if why else ""))
        return weights

    def st_SetDecl(self, st: S.SetDecl):
        if st.name in self.set_decls:
            raise ModelError(f"set '{st.name}' is declared twice (first at line "
                             f"{self.set_decls[st.name].span.line})",
                             _name_span(st.span, st.name))
        for i, name in enumerate(st.params):
            if name in ("x", "z") or name in st.params[:i]:
                repeated = name in st.params[:i]
                renamed = ", ".join(p if p != name else name + "0" for p in st.params)
                raise ModelError(
                    f"set {st.name}: parameter '{name}' is "
                    + ("repeated" if repeated else "reserved: z and x are the set's coordinates"),
                    _param_span(st, name, st.params[:i].count(name)),
                    hint=(f"give each parameter of {st.name} its own name" if repeated else
                          f"rename it, e.g. set {st.name}({renamed})"))
        for name in ("z", "x"):  # a model parameter so named is hidden in the pieces
            if name in self.params and name not in self.hidden_params:
                self.hidden_params.add(name)
                self.warnings.append(ir.ModelWarning(
                    f"param {name}: inside the pieces of set {st.name} (line {st.span.line}), "
                    f"{name} is the set's coordinate, not this parameter",
                    self.param_spans[name],
                    hint=f"rename the parameter to use it in a set, e.g. param {name}0"))
        self.set_decls[st.name] = st

    def st_ConstraintDecl(self, st: S.ConstraintDecl):
        self.declare(st.name, "a constraint", st.span)  # elaborated after all declarations

    def st_SolveDecl(self, st: S.SolveDecl):
        if self.solver is not None:
            raise ModelError("a model has one solve statement", st.span)
        self.solver = self.make_solver(st)

    def st_DataDecl(self, st: S.DataDecl):
        if st.role in self.data:
            raise ModelError(f"data '{st.role}' is declared twice (first at line "
                             f"{self.data_spans[st.role][1].line})",
                             _name_span(st.span, st.role))
        spec = self.interpolate(st.spec, st.span)
        self.data[st.role] = spec  # checked, and a file path resolved, in check_data
        self.data_spans[st.role] = (spec, st.span)

    def check_data(self, role: str, spec: str, span: Span) -> None:
        """Check a `data` spec cheaply (generator name, keys and values; the file exists) and
        keep it as a ModelDataSpec, so that loading it later reports the model's line too."""
        from . import data as datamod

        where = _string_span(span)
        try:
            resolved = datamod.check_spec(spec, role="test" if role == "test" else "train",
                                          base_dir=Path(self.program.file).parent)
        except datamod.MissingDataFile as e:  # may exist where the model is trained
            resolved = getattr(e, "resolved", spec)
            self.warnings.append(ir.ModelWarning(
                f"data {role}: data file not found ({e.path})", where,
                hint="training fails unless the file is there or --data/--test names other "
                "data; a relative path is taken from the model file's folder",
                about="missing data"))
        except datamod.DataError as e:
            where_file = f" ({e.path})" if e.path is not None and e.path not in e.message else ""
            raise ModelError(f"data {role}: {e.message}{where_file}", where, hint=e.hint) from None
        self.data[role] = datamod.ModelDataSpec(resolved, role, where)

    def interpolate(self, spec: str, span: Span) -> str:
        """Replace {name} in a data spec by the parameter's value: "onehot:n={n}"."""
        import re

        def value(match: re.Match) -> str:
            name = match.group(1)
            if name not in self.params:
                raise self.unknown(name, _name_span(span, "{" + name + "}"), "parameter",
                                   self.params)
            v = self.params[name]
            return str(int(v)) if v == int(v) else repr(v)

        return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", value, spec)

    def make_solver(self, st: S.SolveDecl | None) -> ir.Solver:
        settings: dict[str, object] = {
            "beta": 1.0, "lam": None, "iterations": 100, "tolerance": 1e-4, "epochs": 10,
            "seed": 0, "restart": 0, "error": "item",
        }
        method = "rrr"
        if st is not None:
            method = st.method
            if method not in SOLVER_METHODS:
                raise ModelError(f"unknown solver '{method}'", st.span,
                                 hint="use rrr (Elser eq. 45), dr (Douglas-Rachford) or ap")
            first: dict[str, Span] = {}
            for k in st.kwargs:
                if k.name not in SOLVER_SETTINGS:
                    raise ModelError(f"unknown solver setting '{k.name}'", k.span,
                                     hint=did_you_mean(k.name, SOLVER_SETTINGS))
                if k.name in first:
                    raise ModelError(f"solver setting '{k.name}' is given twice (first at "
                                     f"line {first[k.name].line}, col {first[k.name].col})",
                                     k.span, hint="keep one of them")
                first[k.name] = k.span
                if k.name == "error":
                    if k.value not in ("item", "element"):
                        raise ModelError("error = \"item\" or \"element\"", k.span,
                                         hint="item: RRR_err² = Σ/|K| (eq. 22); element: "
                                         "Σ/(|K||E|)")
                    settings["error"] = k.value
                else:
                    settings[k.name] = self.evaluate(self.kw_expr(k))
        from_set = set()
        for key in SOLVER_SETTINGS:
            if key in self.overrides and key not in self.params:
                settings[key] = self.overrides[key]
                self.used_overrides.add(key)
                from_set.add(key)
        span = st.span if st else None
        spans = {k.name: k.span for k in st.kwargs} if st else {}

        def fail(key: str, message: str, hint: str | None = None):
            where = f"--set {key}={_shown(float(settings[key]))}: " if key in from_set else ""
            return ModelError(where + message, None if key in from_set else spans.get(key, span),
                              hint=hint)

        def whole(key: str, minimum: int) -> int:
            raw = settings[key]
            if isinstance(raw, int) and not isinstance(raw, bool) and raw >= minimum:
                return raw  # exact, however large (a seed)
            v = float(raw)
            if not math.isfinite(v) or v != int(v) or v < minimum:
                raise fail(key, f"solver setting {key} must be a whole number ≥ {minimum}, "
                           f"got {_shown(v)}")
            if abs(v) > 2**53:
                raise fail(key, f"solver setting {key} = {_shown(v)} is beyond 2^53, where a "
                           "number written with a decimal point or exponent has lost digits")
            return int(v)

        for key in sorted(from_set):
            if not math.isfinite(float(settings[key])):
                raise fail(key, "a solver setting is a finite number")
        beta = float(settings["beta"])
        if not 0 < beta <= 2:
            raise fail("beta", f"beta must lie in (0, 2], got {_shown(beta)}")
        if not float(settings["tolerance"]) >= 0:
            raise fail("tolerance", "the tolerance must be ≥ 0")
        lam = settings["lam"]
        if lam is not None and not float(lam) > 0:
            raise fail("lam", f"lam must be > 0, got {_shown(float(lam))}",
                       hint="λ of eq. 47: the generalized RRR flow approaches its fixed points "
                       "for λ > 0 (Elser Thm A.2); λ = 1 is plain RRR")
        ignored = {"ap": ("beta", "lam"), "dr": ("beta",)}.get(method, ())
        for key in ignored:
            given = key in from_set or key in spans
            if given and st is not None and (key != "beta" or float(settings[key]) != 1.0):
                what = {"ap": "alternating projections take no step size and no λ",
                        "dr": "Douglas-Rachford is RRR with beta = 1"}[method]
                self.warnings.append(ir.ModelWarning(
                    f"solve {method} ignores {key}: {what}",
                    spans.get(key, st.span),
                    hint="use rrr for a step size β and λ (eq. 45, 47), or drop the setting"))
        if method == "dr":
            beta = 1.0
        restart = whole("restart", 0)
        if restart > 1:
            raise fail("restart", f"restart is 0 or 1, got {restart}")
        return ir.Solver(
            method=method, beta=beta, lam=None if lam is None else float(lam),
            iterations=whole("iterations", 1), tolerance=float(settings["tolerance"]),
            epochs=whole("epochs", 1), seed=whole("seed", 0), error=str(settings["error"]),
            restart=bool(restart), span=span, epochs_span=spans.get("epochs"),
        )

    # --- constraints ---------------------------------------------------------------------
    def constraint(self, st: S.ConstraintDecl) -> ir.Family:
        ctx = _Context(self, st)
        rel = st.relation
        pin = st.pin
        if pin is not None and pin not in ("A", "B"):
            raise ModelError(f"a constraint is pinned to set A or B, not '{pin}'", st.span)
        if st.modifiers and not isinstance(rel, S.Membership):
            m = st.modifiers[0]
            raise ModelError(f"'{m.kind}' applies only to a class constraint (in margin(...))",
                             m.span)
        if isinstance(rel, S.Consensus):
            return ctx.consensus(rel, pin)
        if isinstance(rel, S.Activation):
            return ctx.activation(rel, pin)
        if isinstance(rel, S.Bilinear):
            return ctx.bilinear(rel, pin)
        return ctx.membership(rel, pin, st.modifiers)

    def instantiate_set(self, ref: S.SetRef) -> ir.ActivationSet:
        decl = self.set_decls.get(ref.name)
        if decl is None:
            raise self.unknown(ref.name, ref.span, "activation set", self.set_decls)
        if len(ref.args) != len(decl.params):
            raise ModelError(
                f"set {ref.name} takes {len(decl.params)} argument(s), got {len(ref.args)}",
                ref.span,
                hint=f"declared as set {ref.name}({', '.join(decl.params)})"
                if decl.params else f"write just `in {ref.name}`",
            )
        args = tuple(self.evaluate(a) for a in ref.args)
        env = dict(zip(decl.params, args, strict=True))
        try:
            pieces = tuple(self.piece(p, env) for p in decl.pieces)
        except ModelError as err:
            # In the prelude the user can only fix the arguments; in the model's own
            # parametrised set, either: the use is where the values come from.
            if err.span is None or (err.span.file == ref.span.file and not args):
                raise
            shown = ", ".join(f"{_shown(a)}" for a in args)
            named = ", ".join(f"{n} = {_shown(a)}" for n, a in zip(decl.params, args, strict=True))
            if err.span.file == ref.span.file:
                # the model's own set: the piece is where to look (and its hint applies);
                # the use says which arguments it was checked with
                raise ModelError(
                    err.message, err.span,
                    hint=(f"{err.hint}; " if err.hint else "") + f"the set is used at line "
                    f"{ref.span.line} as {ref.name}({shown}) ({named})") from None
            raise ModelError(f"set {ref.name}({shown}): {err.message} (in its definition at "
                             f"{Path(err.span.file).name}:{err.span.line})", ref.span,
                             hint=f"check the set's arguments here ({named})"
                             + (", or its definition" if err.span.file == ref.span.file
                                else "")) from None
        key = ref.name if not args else f"{ref.name}({', '.join(f'{_shown(a)}' for a in args)})"
        aset = ir.ActivationSet(ref.name, args, pieces, decl.span)
        overlap = _overlap(pieces) if key not in self.sets else None
        if overlap is not None:
            i, j, lo, hi, t, vi, vj = overlap
            # the piece activation_inference takes at t: of those that hold t, the last
            # in the order of (lo, hi), as written on ties
            later = max((n for n, p in enumerate(pieces) if p.lo <= t <= p.hi),
                        key=lambda n: (pieces[n].lo, pieces[n].hi, n))
            own = decl.span.file == ref.span.file and not args
            self.warnings.append(ir.ModelWarning(
                f"set {key}: pieces {i + 1} and {j + 1} overlap for z in [{_shown(lo)}, "
                f"{_shown(hi)}] with different x (at z = {_shown(t)}: {_shown(vi)} and "
                f"{_shown(vj)}); the set is their union, but the forward pass (warm start, "
                f"predict) takes piece {later + 1}'s x at z = {_shown(t)}",
                decl.span if own else ref.span,
                hint="let the pieces meet at a point (x = 0 for z <= 0; x = 1 for z >= 0)"
                + ("" if own else ", or check the set's arguments")))
        self.sets[key] = aset
        return aset

    def piece(self, p: S.Piece, env: dict[str, float]) -> ir.Piece:
        if p.target != "x":
            raise ModelError(f"a piece defines x, not '{p.target}'", p.span,
                             hint="write pieces as `x = EXPRESSION for CONDITION ON z`")
        lo, hi = self.interval(p.condition, env)
        affine = self.affine(p.expr, env)
        curve = None
        if affine is None:
            curve = self.sympy_expr(p.expr, env)
        if lo > hi:
            raise ModelError("the piece's interval is empty", p.condition.span)
        if curve is not None:
            try:
                _check_curve(curve, lo, hi, p)
                _check_numbers(curve, p)
            except RecursionError:  # in sympy: its recursion runs deeper than the parser's
                raise ModelError("the curve's expression is nested too deeply for lwlc to "
                                 "differentiate", p.span,
                                 hint="write it with fewer nested functions or powers") from None
        return ir.Piece(lo, hi, affine, curve, p.span)

    def interval(self, c: S.Condition, env) -> tuple[float, float]:
        if isinstance(c, S.CondAll):
            return -math.inf, math.inf
        if isinstance(c, S.CondInterval):
            if c.var != "z":
                raise ModelError("a piece's condition is on z", c.span)
            return self.evaluate(c.lo, env), self.evaluate(c.hi, env)
        parts = c.parts
        lo, hi = -math.inf, math.inf
        zpos = [i for i, q in enumerate(parts) if isinstance(q, S.Name) and q.id == "z"]
        if len(zpos) != 1:
            raise ModelError("a piece's condition compares z with constants", c.span,
                             hint="e.g. `for z <= 0`, `for -1 <= z <= 1`, `for z in [a, b]`")
        zi = zpos[0]
        for i in range(1, len(parts), 2):
            op = parts[i]
            left, right = parts[i - 1], parts[i + 1]
            if i - 1 == zi:  # z OP value
                v = self.evaluate(right, env)
                if op in ("<=", "<"):
                    hi = min(hi, v)
                else:
                    lo = max(lo, v)
            elif i + 1 == zi:  # value OP z
                v = self.evaluate(left, env)
                if op in ("<=", "<"):
                    lo = max(lo, v)
                else:
                    hi = min(hi, v)
            else:
                raise ModelError("a piece's condition compares z with constants", c.span)
        return lo, hi

    def affine(self, e: S.Expr, env) -> tuple[float, float] | None:
        """(a, c) when e = a z + c, else None (a smooth curve piece)."""
        if isinstance(e, S.Num):
            return 0.0, self.evaluate(e, env)
        if isinstance(e, S.Name):
            if e.id == "z":
                return 1.0, 0.0
            return 0.0, self.evaluate(e, env)
        if isinstance(e, S.Neg):
            inner = self.affine(e.operand, env)
            return None if inner is None else (-inner[0], -inner[1])
        if isinstance(e, S.BinOp):
            if not self._mentions_z(e):  # a constant: folded with located errors
                return 0.0, self.evaluate(e, env)
            try:
                r = self._affine_binop(e, env)
            except OverflowError:
                r = (math.inf, math.inf)
            if r is not None and not (math.isfinite(r[0]) and math.isfinite(r[1])):
                raise ModelError("the value overflows: the piece's coefficients are too large "
                                 "for a float (at most about 1.8e308)", e.span)
            return r
        if isinstance(e, S.Call):
            if all(self.affine(a, env) == (0.0, self.affine(a, env)[1]) for a in e.args
                   if self.affine(a, env) is not None) and not self._mentions_z(e):
                return 0.0, self.evaluate(e, env)
            return None
        raise ModelError("a piece's expression uses only z, numbers and parameters",
                         getattr(e, "span", None))

    def _affine_binop(self, e: S.BinOp, env) -> tuple[float, float] | None:
        """(a, c) of a binary operation that mentions z, or None when it is not affine."""
        a, b = self.affine(e.left, env), self.affine(e.right, env)
        if a is None or b is None:
            return None
        if e.op == "+":
            return a[0] + b[0], a[1] + b[1]
        if e.op == "-":
            return a[0] - b[0], a[1] - b[1]
        if e.op == "*":
            if a[0] == 0:
                return a[1] * b[0], a[1] * b[1]
            if b[0] == 0:
                return b[1] * a[0], b[1] * a[1]
            return None
        if e.op == "/" and b[0] == 0:
            if b[1] == 0:
                raise ModelError("division by zero", e.span)
            return a[0] / b[1], a[1] / b[1]
        return None

    def _mentions_z(self, e) -> bool:
        if isinstance(e, S.Name):
            return e.id == "z"
        if isinstance(e, S.Neg):
            return self._mentions_z(e.operand)
        if isinstance(e, S.BinOp):
            return self._mentions_z(e.left) or self._mentions_z(e.right)
        if isinstance(e, S.Call):
            return any(self._mentions_z(a) for a in e.args)
        return False

    def sympy_expr(self, e: S.Expr, env) -> sympy.Expr:
        """Build the sympy expression node by node from the parse tree (no text is parsed)."""
        import sympy

        z = sympy.Symbol("z", real=True)
        if isinstance(e, S.Num):
            v = self.evaluate(e, env)  # a located error for 1e400 or a stray %
            return sympy.Float(v) if v != int(v) else sympy.Integer(int(v))
        if isinstance(e, S.Name):
            if e.id == "z":
                return z
            return sympy.Float(self.evaluate(e, env))
        if isinstance(e, S.Neg):
            return -self.sympy_expr(e.operand, env)
        if isinstance(e, S.BinOp):
            a, b = self.sympy_expr(e.left, env), self.sympy_expr(e.right, env)
            # only the one operation: all five, eagerly, also raised 2 z^2 to the power
            # 1e19 for `2*z*z + 1e19`, and check ran out of memory (a user test)
            return _SYMPY_OPS[e.op](a, b)
        if isinstance(e, S.Call):
            if e.func not in _SYMPY_FUNCTIONS:
                raise self.unknown(e.func, e.span, "function", _SYMPY_FUNCTIONS)
            fn = getattr(sympy, _SYMPY_FUNCTIONS[e.func])
            if len(e.args) != 1:
                raise ModelError(f"{e.func}(...) takes one argument, got {len(e.args)}", e.span)
            return fn(*[self.sympy_expr(a, env) for a in e.args])
        raise ModelError("a piece's expression uses only z, numbers and parameters",
                         getattr(e, "span", None))


def _check_numbers(curve: sympy.Expr, piece: S.Piece) -> None:
    """Every number in a curve and its first two derivatives must be a finite float64: the
    solvers compute with them (1e308 * z * z has the slope 2e308 * z, beyond float64)."""
    import sympy

    z = sympy.Symbol("z", real=True)
    for what, e in (("the curve", curve), ("its slope", sympy.diff(curve, z)),
                    ("its second derivative", sympy.diff(curve, z, 2))):
        for n in e.atoms(sympy.Number):
            try:
                ok = math.isfinite(float(n))
            except OverflowError:
                ok = False
            if not ok:
                raise ModelError(f"{what} holds the number {sympy.N(n, 3)}, beyond the "
                                 "range of float64 (about 1.8e308)", piece.span,
                                 hint="rescale the piece: smaller constants, or z and x in "
                                      "other units")


def _check_curve(curve: sympy.Expr, lo: float, hi: float, piece: S.Piece) -> None:
    """A smooth piece's curve must be finite, with a finite slope, and without a kink on its
    closed interval: the projection solves for the stationary point of eq. 4's distance by
    Newton steps, which miss the nearest point at a kink or an infinite slope (`lwlc test`
    shows it). Refused with the point; a question sympy cannot decide is let through."""
    import sympy
    from sympy.calculus.util import continuous_domain

    z = sympy.Symbol("z", real=True)
    where = sympy.Interval(_sympy_bound(lo), _sympy_bound(hi))
    shown = f"[{_shown(lo)}, {_shown(hi)}]"
    slope = sympy.diff(curve, z)
    for kink in sorted(curve.atoms(sympy.Abs), key=str):
        try:  # where abs's argument is 0, the slope may jump: a kink
            zeros = sympy.solveset(kink.args[0], z, where.interior)
            if not isinstance(zeros, sympy.FiniteSet):
                zeros = zeros.intersect(sympy.Interval(-100, 100))
            points = sorted((float(p) for p in zeros), key=abs) if isinstance(
                zeros, sympy.FiniteSet) else []
        except (NotImplementedError, ValueError, TypeError):
            continue
        for p in points:
            h = 1e-9 * (1.0 + abs(p))
            left, right = (float(slope.subs(z, p + d).evalf()) for d in (-h, h))
            near = [float(slope.subs(z, p + d).evalf()) for d in (-h / 100, h / 100)]
            jump, near_jump = abs(right - left), abs(near[1] - near[0])
            # a kink's jump stays as h shrinks; a slope that is continuous there but steep
            # (abs(z)^1.5: ±4.7e-5 at 1e-9) has a jump that shrinks with it, and a cusp's
            # (abs(z)^0.5: ±1.6e4 at 1e-9, ±1.6e5 at 1e-11) grows
            if jump <= 1e-6 * (abs(left) + abs(right)) or near_jump <= 0.5 * jump:
                continue
            if near_jump > 2 * jump:
                raise ModelError(
                    f"the curve's slope is infinite at z = {p:g}, where abs({kink.args[0]}) "
                    f"turns (it grows from {right:.3g} to {near[1]:.3g} as z nears "
                    f"{p:g} from {p + h:.3g} to {p + h / 100:.3g}), inside this piece's "
                    f"interval {shown}", piece.span,
                    hint="a smooth piece's projection solves for its nearest point by Newton "
                         "steps and needs a finite slope: end the piece before that point")
            raise ModelError(
                f"the curve has a kink at z = {p:g}, where abs({kink.args[0]}) turns (its "
                f"slope jumps from {left:.3g} to {right:.3g}), inside this piece's "
                f"interval {shown}",
                piece.span,
                hint="a smooth piece's projection needs a curve without kinks: split the "
                     "piece there, e.g. `x = -z for z <= 0; x = z for z >= 0`")
    # the domain of abs and erf is all of the reals; sympy knows it for the others
    plain = curve.replace(sympy.Abs, lambda g: sympy.sqrt(g**2 + 1)).replace(
        sympy.erf, sympy.tanh)
    slope = sympy.diff(plain, z)
    for what, f in (("the curve is not real and finite", plain),
                    ("the curve's slope is infinite", slope)):
        bad = None
        if _nesting(plain) <= SYMBOLIC_NESTING:
            # deeper, sympy's domain takes minutes (1 s at 12 nested tanh, 20 s at 14)
            try:
                bad = sympy.Complement(where, continuous_domain(f, z, where))
            except (NotImplementedError, ValueError, TypeError, RecursionError):
                pass
        if bad is None or isinstance(bad, sympy.Complement):
            # sympy cannot tell (log(cos(z)) over all z): the curve is sampled instead
            point = _fails_on_samples(f, z, where)
            if point is not None:
                raise ModelError(
                    f"{what} at z = {_shown(float(point))}, in this piece's interval {shown}",
                    piece.span, hint="a smooth piece's projection needs a finite curve with "
                    "a finite slope on its closed interval: end the piece before that point")
            continue
        if bad is sympy.S.EmptySet:
            continue
        parts = [b for b in (bad.args if isinstance(bad, sympy.Union) else (bad,))
                 if _fails_somewhere(f, z, b) is not None]
        if not parts:
            continue  # sympy's domain was wrong: log(cos(z)) on [-1, 1] lost [-1, 0)
        # an interval where the curve fails at some samples only (sympy's set is partly
        # wrong) is named by a point where it does fail
        bad = sympy.Union(*(
            sympy.FiniteSet(_fails_somewhere(f, z, b))
            if isinstance(b, sympy.Interval) and _fails_everywhere(f, z, b) is None else b
            for b in parts))
        raise ModelError(
            f"{what} {_shown_points(bad)}, in this piece's interval {shown}", piece.span,
            hint="a smooth piece's projection solves for its nearest point by Newton steps "
                 "and needs a finite curve with a finite slope on the closed interval: end "
                 "the piece before that point and cover the rest with another piece")


# The most bytes an edge file may hold (about 80 million edges)
EDGE_FILE_BYTES = 1 << 30

# Functions nested deeper than this are checked by samples, not by sympy's domain
SYMBOLIC_NESTING = 8


def _nesting(e: sympy.Expr) -> int:
    """How deep functions (exp, tanh, ...) nest in a curve: 2 in log(1 + exp(z))."""
    import sympy

    inner = max((_nesting(a) for a in e.args), default=0)
    return inner + isinstance(e, sympy.Function)


def _overlap(pieces: tuple[ir.Piece, ...]):
    """The first two pieces whose intervals overlap on more than a point and whose x differ
    there, as (i, j, lo, hi, z, x_i, x_j) at a sample z of the overlap; else None."""
    for i, p in enumerate(pieces):
        for j in range(i + 1, len(pieces)):
            q = pieces[j]
            lo, hi = max(p.lo, q.lo), min(p.hi, q.hi)
            if not lo < hi:
                continue
            a = lo if math.isfinite(lo) else min(hi, 0.0) - 1e3
            b = hi if math.isfinite(hi) else max(a, 0.0) + 1e3
            for t in (a + (b - a) * k / 8 for k in range(9)):
                vp, vq = _piece_value(p, t), _piece_value(q, t)
                if vp is not None and vq is not None and \
                        abs(vp - vq) > 1e-9 * (1.0 + abs(vp) + abs(vq)):
                    return i, j, lo, hi, t, vp, vq
    return None


def _piece_value(p: ir.Piece, t: float) -> float | None:
    """x of a piece at z = t (None where a curve cannot be evaluated there)."""
    if p.affine is not None:
        return p.affine[0] * t + p.affine[1]
    import sympy

    try:
        v = complex(p.curve.evalf(subs={sympy.Symbol("z", real=True): t}))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return v.real if v.imag == 0 and math.isfinite(v.real) else None


def _article(what: str) -> str:
    return ("an " if what[:1] in "aeiou" else "a ") + what


def _check_literal(text: str | None, value: float, span: Span) -> None:
    """A number written nonzero that reads as 0 (1e-400: below the smallest float) or a
    whole number a float cannot hold exactly (2^53 + 1) is an error, not a silent change."""
    problem = literal_problem(text, value)
    if problem:
        raise ModelError(f"the number {text} {problem}", span)


def literal_problem(text: str | None, value: float) -> str | None:
    """Why the decimal `text` does not read as the float `value` it means, or None."""
    if not text:
        return None
    mantissa = text.lower().lstrip("+-").split("e")[0]
    if value == 0.0 and any(c in "123456789" for c in mantissa):
        return ("is too small: it underflows to 0 (the smallest float, 64-bit, is about "
                "4.9e-324)")
    if mantissa.isdecimal() and "e" not in text.lower() and int(mantissa) > 2**53 \
            and int(mantissa) != int(value):
        return (f"cannot be held exactly: a float (64-bit) reads it as {int(value)} (whole "
                f"numbers are exact up to 2^53 = {2**53})")
    return None


def _samples(part: sympy.Set) -> list | None:
    """Points of a set where a curve may fail: its points, or 33 evenly across an interval
    (ends included where they belong to it) followed by off-grid probes near 0 and the ends
    (0.37, 3.7, ...: an even grid lands on the integers where z^z and (-2)^z are real);
    None for a set of another form."""
    import sympy

    if isinstance(part, sympy.FiniteSet):
        return list(part)
    if not isinstance(part, sympy.Interval):
        return None
    lo, hi = (max(min(float(e), 1e6), -1e6) for e in (part.start, part.end))
    points = [lo + (hi - lo) * i / 32 for i in range(33)]
    points += [p for c in OFF_GRID for p in (c, -c, lo + c, hi - c) if lo < p < hi]
    keep = [p for p in dict.fromkeys(points) if (p != lo or not part.left_open)
            and (p != hi or not part.right_open)]
    return [sympy.Float(p) for p in keep]


# Off-grid distances of the probes `_samples` adds (from 0 and from an interval's ends)
OFF_GRID = (0.37, 3.7, 0.037, 37.3, 100.37, 1000.37)

# What a curve's value at a point can be: not real (or undefined), or real but beyond float64
Fault = Literal["not real", "beyond float64"]


def _fault_at(f: sympy.Expr, z: sympy.Symbol, p) -> Fault | None:
    """Whether `f` at z = p is not real and finite, and how; None where it is."""
    import sympy

    try:
        v = sympy.N(f.subs(z, p))
        c = complex(v)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return "not real"
    if c.imag != 0.0 or math.isnan(c.real):
        return "not real"
    if math.isfinite(c.real):
        return None
    return "beyond float64" if v.is_finite else "not real"


def _first_fault(f: sympy.Expr, z: sympy.Symbol, points: list, huge_ok: bool = False):
    """The first of `points` where `f` is not real, else the first where it is beyond
    float64 (None with huge_ok: a curve sampled where sympy saw no fault may grow past
    float64 far out, as exp(z) does); None where it is real and finite at all of them."""
    huge = None
    for p in points:
        fault = _fault_at(f, z, p)
        if fault == "not real":
            return p
        if fault == "beyond float64" and huge is None and not huge_ok:
            huge = p
    return huge


def _fails_somewhere(f: sympy.Expr, z: sympy.Symbol, bad: sympy.Set):
    """A point of `bad` (where sympy's continuous_domain says `f` fails) at which `f` is
    not real and finite, None where it is at every sample: that domain is sometimes wrong
    for a composition. A set of another form is believed (its first point: True)."""
    points = _samples(bad)
    if points is None:
        return True
    return _first_fault(f, z, points)


def _fails_on_samples(f: sympy.Expr, z: sympy.Symbol, where: sympy.Interval):
    """Where sympy cannot give a curve's domain: the sample of `where` nearest 0 at which
    `f` is not real (or infinite), else None."""
    return _first_fault(f, z, sorted(_samples(where), key=abs), huge_ok=True)


def _fails_everywhere(f: sympy.Expr, z: sympy.Symbol, bad: sympy.Set):
    """The first sample of `bad` if `f` fails at all of them, else None."""
    points = _samples(bad)
    return points[0] if points and all(_fault_at(f, z, p) for p in points) else None


def _holds_ref(e: S.Expr) -> bool:
    """Whether an expression holds a variable or input reference (y[k, j])."""
    if isinstance(e, S.Ref):
        return True
    if isinstance(e, S.Neg):
        return _holds_ref(e.operand)
    return isinstance(e, S.BinOp) and (_holds_ref(e.left) or _holds_ref(e.right))


def _shown_points(points: sympy.Set) -> str:
    """`at z = 0`, `at z = -1, 1`, `for z in [-1, 0)`: where a curve fails."""
    import sympy

    if isinstance(points, sympy.FiniteSet) and len(points) <= 3:
        return "at z = " + ", ".join(f"{_shown(float(p))}" for p in sorted(points))
    if isinstance(points, sympy.Interval):
        return (f"for z in {'(' if points.left_open else '['}{_shown(float(points.start))}, "
                f"{_shown(float(points.end))}{')' if points.right_open else ']'}")
    if isinstance(points, sympy.Union) and all(
            isinstance(p, sympy.Interval | sympy.FiniteSet) for p in points.args):
        return " and ".join(_shown_points(p) for p in points.args)
    return f"for z in {points}"


def _values(piece: ir.Piece) -> sympy.Set | None:
    """The values x the piece takes on its closed interval (None: sympy cannot tell)."""
    import sympy
    from sympy.calculus.util import function_range

    z = sympy.Symbol("z", real=True)
    lo, hi = _sympy_bound(piece.lo), _sympy_bound(piece.hi)
    if piece.affine is not None:
        a, c = (sympy.Float(v) for v in piece.affine)
        ends = sorted([a * lo + c if lo.is_finite or a else c,
                       a * hi + c if hi.is_finite or a else c], key=lambda e: float(e))
        return sympy.Interval(*ends)
    try:  # abs(g) is ±g between the zeros of g (sympy's range does not take abs)
        cuts = set()
        for kink in piece.curve.atoms(sympy.Abs):
            zeros = sympy.solveset(kink.args[0], z, sympy.Interval.open(lo, hi))
            if not isinstance(zeros, sympy.FiniteSet):
                return None
            cuts |= set(zeros)
        ends = [lo, *sorted(cuts), hi]
        taken = sympy.S.EmptySet
        for a, b in zip(ends[:-1], ends[1:], strict=True):
            mid = (a + b) / 2 if a.is_finite and b.is_finite else (
                b - 1 if b.is_finite else a + 1 if a.is_finite else sympy.Integer(0))
            part = piece.curve.replace(
                sympy.Abs, lambda g, m=mid: g if g.subs(z, m) >= 0 else -g)
            taken = taken | function_range(part, z, sympy.Interval(a, b))
    except (NotImplementedError, ValueError, TypeError, RecursionError):
        return None
    return taken


def approached_limits(pieces: tuple, values) -> np.ndarray:
    """Per value of `values` (fixed x: a constant, a data column), the value the set's
    pieces only approach (a sigmoid's 0 and 1) where that is the nearest they come to x,
    else NaN: the set takes x, or a value nearest to it, or sympy cannot tell. At such an
    x, x = f(z) has no nearest z, and the projection's steps run off."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    if all(p.affine is not None for p in pieces):
        return out  # an affine piece takes the ends of its closed interval
    spans = _taken_spans(pieces)
    if spans is None:
        return out
    inside = np.zeros(values.shape, dtype=bool)
    ends, attained = [], []
    for lo, hi, lo_in, hi_in in spans:
        inside |= ((values > lo) | ((values == lo) & lo_in)) & \
            ((values < hi) | ((values == hi) & hi_in))
        for e, ok in ((lo, lo_in), (hi, hi_in)):
            if math.isfinite(e):
                ends.append(e)
                attained.append(ok)
    if not ends:
        return out
    ends_a = np.asarray(ends)
    nearest = np.argmin(np.abs(values[..., None] - ends_a), axis=-1)
    bad = ~inside & ~np.asarray(attained)[nearest]
    out[bad] = ends_a[nearest[bad]]
    return out


@functools.lru_cache(maxsize=64)
def _taken_spans(pieces: tuple) -> list[tuple[float, float, bool, bool]] | None:
    """The values x a set's pieces take, as (lo, hi, lo taken, hi taken) per interval or
    point; None where sympy cannot tell."""
    import sympy

    taken = sympy.S.EmptySet
    for piece in pieces:
        got = _values(piece)
        if got is None:
            return None
        taken = taken | got
    spans = []
    for part in (taken.args if isinstance(taken, sympy.Union) else (taken,)):
        if isinstance(part, sympy.Interval):
            spans.append((float(part.start), float(part.end), not part.left_open,
                          not part.right_open))
        elif isinstance(part, sympy.FiniteSet):
            spans += [(float(p), float(p), True, True) for p in part]
        elif part is not sympy.S.EmptySet:
            return None
    return spans


def never_taken(pieces: tuple, values) -> tuple[np.ndarray, str]:
    """Which of `values` (fixed x) lie outside every value the set takes or approaches
    (relu's x = -1, sin's 2), and the set's values as text ("[0, inf)"); nothing where
    sympy cannot tell. The projection then moves x to the nearest value the set takes, and
    the constraint never holds."""
    values = np.asarray(values, dtype=np.float64)
    spans = _taken_spans(pieces)
    if not spans:
        return np.zeros(values.shape, dtype=bool), ""
    near = np.zeros(values.shape, dtype=bool)
    for lo, hi, _, _ in spans:  # closed: a value only approached is approached_limits'
        near |= (values >= lo - 1e-12 * (1 + abs(lo))) & (values <= hi + 1e-12 * (1 + abs(hi)))
    shown = " | ".join(
        f"{_shown(lo)}" if lo == hi else
        f"{'[' if a else '('}{_shown(lo)}, {_shown(hi)}{']' if b else ')'}"
        for lo, hi, a, b in sorted(spans))
    return ~near, shown


def approached_only(pieces: tuple, values) -> np.ndarray:
    """The distinct values of `values` that the set only approaches (approached_limits)."""
    values = np.unique(np.asarray(values, dtype=np.float64))
    return values[~np.isnan(approached_limits(pieces, values))]


def _sympy_bound(v: float) -> sympy.Expr:
    import sympy

    return sympy.oo if v == math.inf else -sympy.oo if v == -math.inf else sympy.Float(v)


def _declarations(program: S.Program) -> dict[str, Span]:
    """Where each name of the model is declared (its first declaration): a parameter,
    node group, group, edge set, batch and its parts, input, label, sample, variable or
    set."""
    out: dict[str, Span] = {}
    for st in program.statements:
        if isinstance(st, S.ModelDecl | S.ConstraintDecl):
            continue  # the model's and the constraints' names are used nowhere
        name = getattr(st, "name", None)
        if isinstance(name, str):
            out.setdefault(name, st.span)
        for part in getattr(st, "parts", ()) or ():
            if isinstance(part, S.SubBatch):
                out.setdefault(part.name, part.span)
    return out


def _name_span(span: Span, name: str) -> Span:
    """Where a declaration writes its name: the first time it stands as a word on the
    statement's first line, from the statement's start; the whole statement where it
    cannot be found."""
    text = span.line_text() or ""
    m = re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w])").search(text, span.col - 1)
    if m is None:
        return span
    return Span(span.file, span.line, m.start() + 1, span.line, m.end() + 1, span.source)


def _param_span(st: S.SetDecl, name: str, nth: int) -> Span:
    """Where parameter `name` (its nth repeat) is written in a set's header; the whole
    statement where it cannot be found."""
    text = st.span.line_text() or ""
    start = text.find("(", text.find(st.name))
    stop = text.find(")", start)
    if start < 0 or stop < 0:
        return st.span
    hits = [start + 1 + m.start()
            for m in re.finditer(rf"\b{re.escape(name)}\b", text[start + 1:stop])]
    if len(hits) <= nth:
        return st.span
    col = hits[nth] + 1
    return Span(st.span.file, st.span.line, col, st.span.line, col + len(name), st.span.source)


class _Context:
    """The bindings of one constraint's `for` clause, and the resolution of its references."""

    def __init__(self, el: _Elaborator, st: S.ConstraintDecl):
        self.el = el
        self.st = st
        self.part: ir.SubBatch | None = None
        self.batch_var: str | None = None
        self.node_var: str | None = None
        self.nodes: tuple[int, ...] | None = None
        for b in st.bindings:
            self.bind(b)

    def bind(self, b: S.Binding) -> None:
        el = self.el
        if b.domain is None or (
            isinstance(b.domain, S.GroupRef) and el.batch is not None
            and (b.domain.name == el.batch.index or el.batch.part(b.domain.name))
        ):
            name = b.name if b.domain is None else b.domain.name
            if el.batch is None or (b.domain is None and b.name != el.batch.index):
                raise ModelError(
                    f"loop variable '{b.name}' needs a domain",
                    b.span,
                    hint=f"write `for {b.name} in GROUP`"
                    + (f"; only the batch index '{el.batch.index}' stands alone" if el.batch
                       else ""),
                )
            if self.batch_var is not None:
                raise ModelError("a constraint loops over the batch at most once", b.span)
            self.batch_var = b.name
            self.part = el.batch_part(name, b.span)
            return
        if b.name == self.batch_var:
            raise ModelError(f"the loop variable '{b.name}' is bound twice", b.span,
                             hint="give each loop variable its own name: `for k, i in GROUP`")
        if self.node_var is not None:
            raise ModelError(
                "a constraint loops over one node group (and the batch)",
                b.span,
                hint="v1 of the language allows `for k, i in GROUP`",
            )
        self.node_var = b.name
        if isinstance(b.domain, S.GroupRef) and b.domain.name not in el.groups \
                and el.batch is not None and self.batch_var is None \
                and el.later(b.domain.name, b.domain.span) is None:
            # `for k in cod, ...` (the part `code` misspelt): offer the batch's names too
            names = [*el.groups, el.batch.index, *(p.name for p in el.batch.parts)]
            raise ModelError(f"unknown node group or batch part '{b.domain.name}'",
                             b.domain.span, hint=did_you_mean(b.domain.name, names))
        self.nodes = el.group(b.domain)

    # --- references ---
    def var(self, ref: S.Ref) -> ir.Variable:
        v = self.el.variables.get(ref.name)
        if v is None:
            raise self.el.unknown(ref.name, ref.span, "variable", self.el.variables)
        want = 2 if v.batched else 1
        if len(ref.indices) != want:
            raise ModelError(f"{v.name} has {want} index(es), got {len(ref.indices)}", ref.span)
        return v

    def batch_index(self, v: ir.Variable, ref: S.Ref) -> str:
        """'item' (the loop's batch index) or 'all' (`*`) for a batched variable."""
        if not v.batched:
            return "none"
        first = ref.indices[0]
        if isinstance(first, S.IndexStar):
            return "all"
        if (isinstance(first, S.IndexGroup) and isinstance(first.group, S.GroupRef)
                and first.group.name == self.batch_var):
            return "item"
        raise ModelError(
            f"the first index of {v.name} must be the loop's batch index"
            + (f" '{self.batch_var}'" if self.batch_var else "") + " or *",
            first.span,
            hint="loop over the batch with `for k, ...` or agree over items with [*, ...]",
        )

    def node_index(self, v: ir.Variable, ref: S.Ref) -> tuple[str, object]:
        """('edges', direction) | ('node', None) | ('group', nodes) for the last index."""
        last = ref.indices[-1]
        if isinstance(last, S.IndexEdges):
            if v.axis != "edges":
                raise ModelError(f"{v.name} is indexed by nodes; {last.direction}(...) "
                                 "selects edges", last.span)
            if last.node != self.node_var:
                raise ModelError(
                    f"'{last.node}' is not this constraint's node loop variable",
                    last.span,
                    hint=f"loop over nodes with `for ..., {last.node} in GROUP`",
                )
            return "edges", last.direction
        if isinstance(last, S.IndexStar):
            raise ModelError("* stands only for the batch index", last.span)
        g = last.group
        if isinstance(g, S.GroupRef) and g.name == self.node_var:
            if v.axis == "edges":
                raise ModelError(f"{v.name} is indexed by edges; use in({g.name}) or "
                                 f"out({g.name})", last.span)
            missing = set(self.nodes) - set(v.nodes)
            if missing:
                raise ModelError(f"{self.el.node_name(min(missing))} is not an index of "
                                 f"{v.name}", last.span)
            return "node", None
        if v.axis == "edges":
            raise ModelError(f"{v.name} is indexed by edges; use in(j) or out(i) of the "
                             "loop's node", last.span)
        if isinstance(g, S.GroupRef) and g.name not in self.el.groups and self.node_var:
            raise self.el.unknown(g.name, g.span, "node group or loop variable",
                                  [self.node_var, *self.el.groups])
        nodes = self.el.group(g)
        missing = set(nodes) - set(v.nodes)
        if missing:
            raise ModelError(f"{self.el.node_name(min(missing))} is not an index of {v.name}",
                             last.span)
        return "group", nodes

    def need_nodes(self, span: Span) -> tuple[int, ...]:
        if self.nodes is None:
            raise ModelError("this constraint needs a node loop", span,
                             hint="e.g. `for k, i in H`")
        return self.nodes

    def fixed_value(self, e: S.Expr) -> ir.Fixed:
        if isinstance(e, S.Ref):
            inp = self.el.inputs.get(e.name)
            if inp is None:
                if e.name in self.el.variables:
                    raise ModelError(f"'{e.name}' is a variable; a fixed value is an input",
                                     e.span)
                raise self.el.unknown(e.name, e.span, "input", self.el.inputs)
            if len(e.indices) != 2:
                raise ModelError(f"input {e.name} has two indices", e.span)
            first, second = e.indices
            if not (isinstance(first, S.IndexGroup) and isinstance(first.group, S.GroupRef)
                    and first.group.name == self.batch_var):
                raise ModelError(f"the first index of {e.name} is the loop's batch index",
                                 first.span)
            if not (isinstance(second, S.IndexGroup) and isinstance(second.group, S.GroupRef)
                    and second.group.name == self.node_var):
                raise ModelError(f"the second index of {e.name} is the loop's node", second.span)
            nodes = self.need_nodes(e.span)
            missing = set(nodes) - set(inp.nodes)
            if missing:
                raise ModelError(f"input {e.name} has no value on "
                                 f"{self.el.node_name(min(missing))}", e.span)
            if self.part and not (inp.part.start <= self.part.start
                                  and self.part.stop <= inp.part.stop):
                raise ModelError(f"input {e.name} is given only for batch part "
                                 f"{inp.part.name}", e.span)
            return ir.Fixed(e.name, None)
        return ir.Fixed(None, self.el.evaluate(e))

    def base(self, pin: str | None, span: Span) -> dict:
        return dict(name=self.st.name, span=self.st.span, pin=pin, part=self.part,
                    nodes=self.nodes)

    # --- relation forms ---
    def consensus(self, rel: S.Consensus, pin) -> ir.ConsensusFamily:
        v = self.var(rel.ref)
        bidx = self.batch_index(v, rel.ref)
        kind, arg = self.node_index(v, rel.ref)
        self.need_nodes(rel.ref.span)
        if bidx == "all":
            over = "items"
            if self.batch_var is not None:
                raise ModelError("agree over items ([*, ...]) loops over nodes only",
                                 self.st.span, hint="drop the batch index from the for clause")
            if self.part is None:
                self.part = self.el.batch.whole
        elif kind == "edges":
            over = "edges"
            if v.batched and self.batch_var is None:
                raise ModelError("loop over the batch, e.g. `for k, i in GROUP`", self.st.span)
        else:
            raise ModelError(
                f"agree needs replicas: {v.name}[*, ...] (over items) or "
                f"{v.name}[k, out(i)] / [k, in(j)] (over edges)",
                rel.ref.span,
            )
        if kind == "group":
            raise ModelError("agree indexes the loop's node, not a fixed group", rel.ref.span)
        side = self.side(rel.side)
        if side.kind == "fixed" and over == "items" and side.fixed.input is not None:
            raise ModelError("a consensus over items cannot equal per-item data", rel.span)
        return ir.ConsensusFamily(**self.base(pin, rel.span), var=v.name, over=over,
                                  direction=arg if kind == "edges" else None, side=side)

    def side(self, side: S.Side | None) -> ir.SideConstraint:
        if side is None:
            return ir.SideConstraint("none")
        if side.op == "==":
            return ir.SideConstraint("fixed", fixed=self.fixed_value(side.value))
        if side.op in (">=", "<="):
            c = self.el.evaluate(side.value)
            if side.op == ">=" and c == 0:
                return ir.SideConstraint("nonneg")
            lo, hi = (c, math.inf) if side.op == ">=" else (-math.inf, c)
            return ir.SideConstraint("box", (lo, hi))
        kinds = []
        for s in side.sets:
            if s.name not in SIDE_SETS:
                raise ModelError(
                    f"'{s.name}' is not a side constraint of a consensus",
                    s.span,
                    hint="side constraints: nonneg, sphere(r), box(lo, hi), sparse(s), and "
                    "nonneg & sphere(r); activation sets go in (z, agree x) in SET",
                )
            args = tuple(self.el.evaluate(a) for a in s.args)
            want = {"nonneg": 0, "sphere": 1, "box": 2, "sparse": 1}[s.name]
            if len(args) != want:
                raise ModelError(f"{s.name} takes {want} argument(s)", s.span)
            if s.name == "sphere" and args[0] <= 0:
                raise ModelError("the sphere's radius must be positive", s.span)
            if s.name == "box" and not args[0] <= args[1]:
                raise ModelError(f"box({_shown(args[0])}, {_shown(args[1])}) is empty: its "
                                 "lower bound exceeds its upper one", s.span,
                                 hint="write box(lo, hi) with lo <= hi")
            if s.name == "sparse" and not (args[0] >= 1 and float(args[0]).is_integer()):
                raise ModelError(f"sparse({_shown(args[0])}): the number of nonzeros kept must be "
                                 "a whole number of at least 1", s.span,
                                 hint="e.g. sparse(3): at most 3 nonzero values")
            kinds.append((s.name, args))
        names = sorted(k for k, _ in kinds)
        args = {k: a for k, a in kinds}
        if names == ["nonneg"]:
            return ir.SideConstraint("nonneg")
        if names == ["sphere"]:
            return ir.SideConstraint("sphere", args["sphere"])
        if names == ["box"]:
            return ir.SideConstraint("box", args["box"])
        if names == ["nonneg", "sphere"]:
            return ir.SideConstraint("nonneg_sphere", args["sphere"])
        if names in (["sparse"], ["nonneg", "sparse"]):
            return ir.SideConstraint("sparse_nonneg", (float(int(args["sparse"][0])),))
        raise ModelError(
            f"lwlc has no projection onto {' & '.join(names)}",
            side.span,
            hint="supported: nonneg, sphere(r), nonneg & sphere(r), box(lo, hi), sparse(s)",
        )

    def z_terms(self, e: S.Expr, want: str) -> tuple[S.Ref, S.Ref | None]:
        """`y[...] - b[...]` or `y[...]`: the pre-activation minus bias."""
        if isinstance(e, S.Ref):
            return e, None
        if isinstance(e, S.BinOp) and e.op == "-" and isinstance(e.left, S.Ref) and isinstance(
            e.right, S.Ref
        ):
            return e.left, e.right
        raise ModelError(
            f"expected {want} as `y[...] - b[...]` or `y[...]`", getattr(e, "span", None),
            hint="the activation's input is a node variable minus an optional bias variable",
        )

    def activation(self, rel: S.Activation, pin) -> ir.ActivationFamily:
        nodes = self.need_nodes(rel.span)
        if self.batch_var is None:
            raise ModelError("an activation constraint loops over the batch", self.st.span,
                             hint="e.g. `for k, i in H`")
        yref, bref = self.z_terms(rel.z, "z")
        names = []
        for r in (yref, bref):
            if r is None:
                names.append(None)
                continue
            v = self.var(r)
            if self.batch_index(v, r) != "item" or self.node_index(v, r)[0] != "node":
                raise ModelError(f"write {v.name}[{self.batch_var}, {self.node_var}]", r.span)
            names.append(v.name)
        xv = self.var(rel.x)
        if self.batch_index(xv, rel.x) != "item":
            raise ModelError(f"write {xv.name}[{self.batch_var}, out({self.node_var})]",
                             rel.x.span)
        kind, direction = self.node_index(xv, rel.x)
        if kind != "edges":
            raise ModelError("the activation's output is a consensus over edges, "
                             f"agree {xv.name}[{self.batch_var}, out({self.node_var})]",
                             rel.x.span)
        es = self.el.edge_sets[xv.edge_set]
        deg = es.outdeg if direction == "out" else es.indeg
        empty = [n for n in nodes if deg[n] == 0]
        if empty and rel.fixed is None:  # with x fixed, z alone is projected there
            raise ModelError(f"{self.el.node_name(empty[0])} has no {direction}-edges to agree "
                             "over", rel.x.span,
                             hint="a node without them can still have its value fixed: "
                             f"agree {xv.name}[{self.batch_var}, {direction}({self.node_var})] "
                             "== d[k, i] (an output unit fixed to its target)")
        fixed = self.fixed_value(rel.fixed) if rel.fixed is not None else None
        aset = self.el.instantiate_set(rel.set)
        if fixed is not None and fixed.constant is not None:
            outside, values = never_taken(aset.pieces, fixed.constant)
            if outside:  # legal: the projection takes the nearest value the set takes
                self.el.warnings.append(ir.ModelWarning(
                    f"set {rel.set.name} never takes the value x = {_shown(fixed.constant)} "
                    f"(its values are {values}): the projection gives x the nearest value the "
                    "set takes, so this constraint never holds exactly", rel.fixed.span,
                    hint="fix x to a value the set takes, if that is what you mean"))
        if fixed is not None and fixed.constant is not None and any(
                p.curve is not None for p in aset.pieces):
            limit = float(approached_limits(aset.pieces, fixed.constant))
            if not math.isnan(limit):
                raise ModelError(
                    f"set {rel.set.name} never takes the value x = {_shown(fixed.constant)}: it "
                    f"only approaches {_shown(limit)}", rel.fixed.span,
                    hint="with x fixed, the projection moves z to where f(z) is x, or the "
                         "nearest value the set takes; a value the curve only approaches has "
                         "no such z. Fix x to a value the set takes")
        return ir.ActivationFamily(**self.base(pin, rel.span), y=names[0], b=names[1],
                                   x=xv.name, direction=direction, fixed=fixed, set=aset)

    def bilinear(self, rel: S.Bilinear, pin) -> ir.BilinearFamily:
        nodes = self.need_nodes(rel.span)
        if self.batch_var is None:
            raise ModelError("a bilinear constraint loops over the batch", self.st.span)
        vs = []
        for r in (rel.left, rel.right):
            v = self.var(r)
            if self.batch_index(v, r) != "item":
                raise ModelError(f"write {v.name}[{self.batch_var}, in({self.node_var})]", r.span)
            kind, direction = self.node_index(v, r)
            if kind != "edges":
                raise ModelError("dot(...) takes two edge variables over in(j) or out(i)",
                                 r.span)
            vs.append((v, direction))
        (xv, dx), (wv, dw) = vs
        if dx != dw or xv.edge_set != wv.edge_set:
            raise ModelError("both arguments of dot(...) must range over the same edges",
                             rel.span)
        if xv.name == wv.name:
            raise ModelError("dot(...) of a variable with itself is not bilinear", rel.span)
        rhs = rel.rhs
        coef = 1.0
        while True:  # c * y, y * c, y / c, -y, and products of them: the coefficient c
            if isinstance(rhs, S.Neg):
                coef, rhs = -coef, rhs.operand
            elif isinstance(rhs, S.BinOp) and rhs.op == "*" and _holds_ref(rhs.right):
                coef, rhs = coef * self.el.evaluate(rhs.left), rhs.right
            elif isinstance(rhs, S.BinOp) and rhs.op == "*" and _holds_ref(rhs.left):
                coef, rhs = coef * self.el.evaluate(rhs.right), rhs.left
            elif isinstance(rhs, S.BinOp) and rhs.op == "/" and _holds_ref(rhs.left):
                divisor = self.el.evaluate(rhs.right)
                if divisor == 0:
                    raise ModelError("the right side divides by 0", rhs.right.span)
                coef, rhs = coef / divisor, rhs.left
            else:
                break
        if not isinstance(rhs, S.Ref):
            raise ModelError("the right side of dot(...) == is `c * y[k, j]` or data "
                             "`Y[k, j]`", getattr(rhs, "span", rel.span))
        es = self.el.edge_sets[xv.edge_set]
        deg = es.indeg if dx == "in" else es.outdeg
        empty = [n for n in nodes if deg[n] == 0]
        if empty:
            raise ModelError(f"{self.el.node_name(empty[0])} has no {dx}-edges", rel.span)
        if rhs.name in self.el.inputs:
            self.fixed_value(rhs)
            return ir.BilinearFamily(**self.base(pin, rel.span), x=xv.name, w=wv.name,
                                     direction=dx, y=None, coef=coef, data=rhs.name)
        yv = self.var(rhs)
        if self.batch_index(yv, rhs) != "item" or self.node_index(yv, rhs)[0] != "node":
            raise ModelError(f"write {yv.name}[{self.batch_var}, {self.node_var}]", rhs.span)
        if coef == 0:
            raise ModelError("the coefficient of the right side must be nonzero", rel.span)
        return ir.BilinearFamily(**self.base(pin, rel.span), x=xv.name, w=wv.name,
                                 direction=dx, y=yv.name, coef=coef, data=None)

    def membership(self, rel: S.Membership, pin, modifiers) -> ir.Family:
        if rel.set.name != "margin":
            if rel.set.name in self.el.set_decls:
                raise ModelError(
                    f"an activation set relates z to a consensus x: write (y[k, i] - b[k, i], "
                    f"agree x[k, out(i)]) in {rel.set.name}",
                    rel.span,
                )
            raise ModelError(f"unknown set '{rel.set.name}' here", rel.set.span,
                             hint="a class constraint is `y[k, C] - b[k, C] in margin(c[k], Δ)`")
        if self.batch_var is None:
            raise ModelError("a class constraint loops over the batch: `for k`", self.st.span)
        if self.node_var is not None:
            raise ModelError("a class constraint loops over the batch only, `for k`; its "
                             "nodes are the class group in y[k, C]", self.st.span)
        yref, bref = self.z_terms(rel.expr, "the class nodes' z")
        classes = None
        names = []
        for r in (yref, bref):
            if r is None:
                names.append(None)
                continue
            v = self.var(r)
            if self.batch_index(v, r) != "item":
                raise ModelError(f"write {v.name}[{self.batch_var}, CLASSES]", r.span)
            kind, nodes = self.node_index(v, r)
            if kind != "group":
                raise ModelError(f"write {v.name}[{self.batch_var}, CLASSES] with the class "
                                 "node group", r.span)
            # class L is the L-th node in declared order, as a label's classes are
            last = r.indices[-1]
            self.el.in_declared_order(last.group, "the classes of a class constraint",
                                      getattr(last, "span", r.span))
            if classes is not None and nodes != classes:
                raise ModelError("both terms must range over the same class nodes", r.span)
            classes = nodes
            names.append(v.name)
        if len(rel.set.args) != 2:
            raise ModelError("margin takes (LABEL, Δ)", rel.set.span,
                             hint="e.g. margin(c[k], 0.1)")
        lab, delta = rel.set.args
        if not isinstance(lab, S.Ref) or lab.name not in self.el.labels:
            raise ModelError("margin's first argument is a label, e.g. c[k]",
                             getattr(lab, "span", rel.set.span),
                             hint=did_you_mean(getattr(lab, "name", ""), self.el.labels))
        label = self.el.labels[lab.name]
        first = lab.indices[0] if len(lab.indices) == 1 else None
        if not (isinstance(first, S.IndexGroup) and isinstance(first.group, S.GroupRef)
                and first.group.name == self.batch_var):
            raise ModelError(f"a label takes one index, the loop's batch index: "
                             f"write {lab.name}[{self.batch_var}]", lab.span,
                             hint=f"the class constraint loops `for {self.batch_var}`; "
                                  f"{lab.name}[{self.batch_var}] is item {self.batch_var}'s class")
        part = self.part or self.el.batch.whole
        if not (label.part.start <= part.start and part.stop <= label.part.stop):
            raise ModelError(f"label {lab.name} is given only for "
                             f"{_part_shown(self.el, label.part)}, and this constraint reads "
                             f"it for the items of {_part_shown(self.el, part)}", lab.span,
                             hint=f"loop over its items (for {self.batch_var} in "
                                  f"{label.part.name}), or declare the label on the part "
                                  "this constraint loops over")
        if label.classes != classes:
            raise ModelError(f"label {label.name} is over other nodes than this class "
                             f"constraint's y[{self.batch_var}, ...]", lab.span,
                             hint=f"label {label.name} is declared at line {label.span.line} "
                                  "over other class nodes; a label's group and the class "
                                  "constraint's group must be the same nodes")
        margin = self.el.evaluate(delta)
        if margin < 0:
            raise ModelError("the margin Δ must be ≥ 0", delta.span)
        mode, count, allow_label = "plain", 0, 0
        if len(modifiers) > 1:
            raise ModelError("use one of exempt, relabel and allow", modifiers[1].span)
        if modifiers:
            m = modifiers[0]
            mode = m.kind
            count = self.el.evaluate_count(m.count, self.part.size, f"the {m.kind} count")
            if count > self.part.size:
                shown = count if count < 10**15 else f"{float(count):g}"  # not 301 digits
                raise ModelError(f"{m.kind} {shown} is more than the {self.part.size} items of "
                                 "the batch", m.count.span)
            if m.kind == "allow":
                allow_label = self.el.evaluate_int(m.label, "the allowed class")
                if len(classes) != 2:
                    raise ModelError("allow ... as ... applies to a two-class classifier", m.span)
                if allow_label >= len(classes):
                    raise ModelError(f"class {allow_label} is out of range", m.label.span)
        return ir.ClassFamily(**self.base(pin, rel.span), y=names[0], b=names[1],
                              classes=classes, label=label.name, margin=margin, mode=mode,
                              count=count, allow_label=allow_label)


def names_read(model: ir.Model | _Elaborator) -> set[str]:
    """The inputs and labels some constraint reads."""
    read: set[str] = set()
    for f in model.families:
        read |= kind_of(f).reads(f)[0]
    return read


def training_inputs(model: ir.Model | _Elaborator) -> list[ir.Input]:
    """The inputs whose values come from the training set: all but those sampled (eq. 37)
    or bound by their own `data NAME = SPEC`. The first one's batch part is the data
    part, which the training set's columns and class column fill."""
    return [i for i in model.inputs.values()
            if i.name not in model.samples and i.name not in model.data]


def _part_shown(model: ir.Model | _Elaborator, part: ir.SubBatch) -> str:
    """A batch part as a message names it; the whole batch of a batch with parts by its
    index."""
    if model.batch is not None and part.name == model.batch.index:
        return f"the whole batch '{part.name}'"
    return f"batch part '{part.name}'"


def input_problems(model: ir.Model | _Elaborator) -> list[tuple[ir.Input, str, str]]:
    """Inputs no data can fill, as (input, message, hint): one a constraint reads, with
    no values of its own (`data NAME = ...`, a sample), on a batch part other than the
    data part, which is all the training set fills. A warning at elaboration, an error at
    its line when the model is trained (lwlc.driver.bind)."""
    fed = training_inputs(model)
    read = names_read(model)
    own = [inp for inp in model.inputs.values()
           if inp.name in model.data and inp.name not in model.samples and inp.name in read]
    if not fed:  # nothing for a training set to fill: no run can start
        return [(inp, f"every input has values of its own (input {inp.name}: `data "
                 f"{inp.name} = ...`), so no training set is read and lwlc train has no "
                 "items to train on",
                 f"drop the line `data {inp.name} = ...` and give its values as the training "
                 'set, `data train = "SPEC"`') for inp in own[:1]]
    dpart = fed[0].part
    return [(inp, f"input {inp.name} is on {_part_shown(model, inp.part)}, but the training "
             f"set fills {_part_shown(model, dpart)} (the items of input "
             f"{fed[0].name}, the first input without values of its own): it gets no "
             "values",
             f"declare it on that part (input {inp.name}[{dpart.name}, ...]), or give "
             f'it values of its own with a line `data {inp.name} = "SPEC"`')
            for inp in fed[1:] if inp.part != dpart and inp.name in read] + [
        (inp, f"input {inp.name} has values of its own (`data {inp.name} = ...`) on "
         f"{_part_shown(model, inp.part)}, whose items are the training set's (those of "
         f"input {fed[0].name}): its rows would not be those items'",
         f"give its values as columns of the training set (the inputs' columns side by side, "
         f"in declaration order) and drop `data {inp.name}`, or declare it on a batch part of "
         "its own") for inp in own
        if inp.part.start < dpart.stop and dpart.start < inp.part.stop]


def label_problems(model: ir.Model | _Elaborator) -> list[tuple[ir.Label, str, str]]:
    """Labels no training set can fill, as (label, message, hint). A label gets its
    classes from the training set's class column, which fills the data part: the
    batch part of the first input with no values of its own (sampled, or bound by
    `data NAME = ...`). A label that a constraint reads on another part, or a second
    one on that part, never gets values: a warning at elaboration (`lwlc test` still
    checks its constraints with drawn labels), an error at its line when the model is
    trained (lwlc.driver.bind)."""
    fed = training_inputs(model)
    read = names_read(model)
    out, seen = [], None
    for lab in model.labels.values():
        if lab.name not in read:  # unused: warned as such, and never bound
            continue
        if not fed:
            out.append((lab, f"label {lab.name} has no data to come from: every input "
                        "has values of its own, so no training set is read",
                        "labels are the class column of the training set, which fills "
                        "the first input not bound by its own `data NAME = ...` line or "
                        "sampled"))
            continue
        part = fed[0].part
        if lab.part != part:
            out.append((lab, f"label {lab.name} is on {_part_shown(model, lab.part)}, but "
                        f"the training set's class column fills {_part_shown(model, part)} "
                        f"(the items of input "
                        f"{fed[0].name}, the first one the training set fills)",
                        f"declare the label on that part, e.g. label {lab.name}"
                        f"[{part.name}] in ...; a part's classes come only from the "
                        "training set"))
        elif seen is not None:
            out.append((lab, f"a second label on batch part '{part.name}' (label "
                        f"{seen.name} is on line {seen.span.line}): the training set "
                        "has one class column", "keep one label per part"))
        else:
            seen = lab
    return out


def elaborate(program: S.Program, overrides: dict[str, float] | None = None) -> ir.Model:
    """Resolve and evaluate a parsed model. `overrides` are `--set name=value` pairs; an
    error at a line that reads an overridden name says which --set it comes with."""
    try:
        return _Elaborator(program, overrides or {}, parse_prelude()).run()
    except ModelError as e:
        text = (e.span.lines_text() or "") if e.span is not None else ""
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text.split("#")[0]))
        given = [f"--set {k}={_shown(v)}" if isinstance(v, float) else f"--set {k}={v}"
                 for k, v in (overrides or {}).items() if k in words]
        if given and "--set" not in e.message:
            e.message += f" (with {', '.join(given)})"
            e.args = (e.message,)
        raise


def load_model(path, overrides: dict[str, float] | None = None) -> ir.Model:
    """Parse and elaborate a model file."""
    from .parse import parse_file

    return elaborate(parse_file(path), overrides)
