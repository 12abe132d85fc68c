"""The lowered plan as a lane program: the tables the lane kernel runs (lwlc/runtime/lanes.py).

The kernel holds the state items minor, one array [rows, K]: each element of each
variable is a row, the batch items are its lanes. A program is a list of ops, one per
family group, each naming the rows it reads and writes (global row numbers), the lanes
of its batch part and its constants. Each family kind says how its families become ops
(`lane_ops` in lwlc/kinds/*.py); a family, side constraint or set the kernel has no rule
for leaves the model without a program (`NoLaneRule`, with the reason and the model's
line), and its solver runs XLA's step. Pure Python: the compiler builds programs without
importing numba.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Literal

import numpy as np

from . import ir
from .errors import Span
from .lower import Plan, Which


class Op(IntEnum):
    """What an op does (column CODE of the kernel's op table)."""

    CONSENSUS_EDGES = 1  # a node's replicas over its edges, per item (Lemma 4.1)
    CONSENSUS_ITEMS = 2  # an element's replicas over the batch items (Sect. 5.4)
    ACTIVATION = 3  # (y - b, mean of x) onto an affine piece set (eq. 26c)
    MARGIN = 4  # class nodes' z = y - b onto the margin (eq. 26d-e; modes 32, 33)
    BILINEAR = 5  # x . w = omega y per node and item (eq. 19, 51-54)


class MarginMode(IntEnum):
    """A margin op's mode (its fourth integer table: mode, count, allowed label)."""

    PLAIN = 0  # every item as labelled (eq. 26d-e)
    EXEMPT = 1  # the `count` items that would move the most stay (eq. 32)
    RELABEL = 2  # up to `count` items go to their nearest label (eq. 33)
    ALLOW = 3  # up to `count` items go to the allowed label (Sect. 6.2)


class Side(IntEnum):
    """A consensus's side constraint (column SIDE); a bilinear op's SIDE 1: y is data."""

    NONE = 0
    FIXED_DATA = 1
    FIXED_CONST = 2
    NONNEG = 3
    BOX = 4
    SPHERE = 5
    NONNEG_SPHERE = 6
    SPARSE_NONNEG = 7


# the columns of the op table: code, lanes k0:k1 (of a consensus over items of several
# starts: items), start in IX, n, m, start in FX, side, starts side by side (starts_program)
CODE, K0, K1, I0, N, M, F0, SIDE, STARTS = range(9)


class NoLaneRule(Exception):
    """The kernel has no rule for something the model uses."""

    def __init__(self, reason: str, span: Span | None = None):
        super().__init__(reason)
        self.reason = reason
        self.span = span

    def __str__(self) -> str:
        where = f"{self.span.file}:{self.span.line}: " if self.span is not None else ""
        return where + self.reason


@dataclass(frozen=True)
class LaneOp:
    """One op: `ints` and `floats` are its tables in the order lwlc/runtime/lanes.py
    reads them (each flattened row-major)."""

    set: Which
    code: Op
    lanes: tuple[int, int]
    n: int
    m: int
    side: Side
    ints: tuple[np.ndarray, ...]
    floats: tuple[np.ndarray, ...]
    family: str = ""  # the family it projects and its line (the emitted listing)
    line: int = 0
    starts: int = 1  # a consensus over items, a margin: starts side by side (starts_program)


@dataclass(frozen=True)
class LaneProgram:
    """Rows of the lane state per variable (first row, size), of the input array per input
    (first row, first lane, columns) and of the label array per label (row, first lane,
    size); the ops of set A, then of set B."""

    rows: dict[str, tuple[int, int]]
    metric: tuple[np.ndarray, ...]  # each variable's metric weight per position (eq. 15, 27)
    inputs: dict[str, tuple[int, int, int]]
    labels: dict[str, tuple[int, int, int]]
    ops: tuple[LaneOp, ...]
    batch: int  # lanes: the batch's items, times `starts`
    norm: float  # RRR_err's divisor: K, or K |E| (the solver's `error = element`)
    starts: int = 1  # independent starts side by side in the lanes (starts_program)
    method: Literal["rrr", "ap"] = "rrr"  # RRR (eq. 45) or alternating projections
    lam: float | None = None  # RRR with λ (eq. 47)
    n_rows: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "n_rows", sum(n for _, n in self.rows.values()))


def program_from(table: dict, metric: dict, batch: int) -> LaneProgram:
    """The program an emitted solver holds (its LANE_PROGRAM table and METRIC)."""
    rows = {k: tuple(v) for k, v in table["rows"].items()}
    weights = tuple(np.broadcast_to(np.asarray(metric[k], np.float64), (size,))
                    for k, (_, size) in rows.items())
    ops = tuple(LaneOp(which, Op[code], tuple(lanes), n, m, Side[side], tuple(ints),
                       tuple(floats))
                for which, code, lanes, n, m, side, ints, floats in table["ops"])
    return LaneProgram(rows, weights, table["inputs"], table["labels"], ops, batch,
                       float(table["norm"]), method=table.get("method", "rrr"),
                       lam=table.get("lam"))


class LaneBuilder:
    """What a family kind's `lane_ops` calls: global rows of a variable's positions and of
    an input's or label's columns, the lanes of a batch part, and `add` for each op."""

    def __init__(self, plan: Plan):
        self.model = plan.model
        self.plan = plan
        self.rows: dict[str, tuple[int, int]] = {}
        start = 0
        for v in self.model.variables.values():
            if not v.batched:
                raise NoLaneRule(f"variable {v.name} has no batch axis", v.span)
            self.rows[v.name] = (start, v.size)
            start += v.size
        self.inputs: dict[str, tuple[int, int, int]] = {}
        row = 0
        for inp in self.model.inputs.values():
            self.inputs[inp.name] = (row, inp.part.start, len(inp.nodes))
            row += len(inp.nodes)
        self.labels = {lab.name: (i, lab.part.start, lab.part.size)
                       for i, lab in enumerate(self.model.labels.values())}
        self.ops: list[LaneOp] = []
        self.which: Which = "A"
        self.family: ir.Family | None = None

    def var_rows(self, var: str, positions) -> np.ndarray:
        """Global rows of positions (any shape) of variable `var`."""
        return self.rows[var][0] + np.asarray(positions, dtype=np.int64)

    def input_rows(self, name: str, nodes) -> np.ndarray:
        """Rows of the input array that hold input `name`'s columns of `nodes`."""
        inp = self.model.inputs[name]
        lookup = {n: i for i, n in enumerate(inp.nodes)}
        return self.inputs[name][0] + np.array([lookup[n] for n in nodes], dtype=np.int64)

    def lanes(self, part: ir.SubBatch | None) -> tuple[int, int]:
        part = part or self.model.batch.whole
        return part.start, part.stop

    def metric(self, var: str, positions) -> np.ndarray:
        return np.asarray(self.model.variables[var].metric, np.float64)[np.asarray(positions)]

    def unsupported(self, reason: str) -> NoLaneRule:
        return NoLaneRule(reason, self.family.span if self.family is not None else None)

    def add(self, code: Op, part: ir.SubBatch | None, n: int, m: int, ints, floats=(),
            side: Side = Side.NONE) -> None:
        fam = self.family
        self.ops.append(LaneOp(
            self.which, code, self.lanes(part), n, m, side,
            tuple(np.asarray(a, np.int64) for a in ints),
            tuple(np.asarray(a, np.float64) for a in floats), fam.name, fam.span.line))


def lane_program(plan: Plan) -> LaneProgram:
    """The plan's lane program; raises NoLaneRule where the kernel has no rule."""
    from .kinds import kind_of

    model = plan.model
    if model.batch is None:
        raise NoLaneRule("the model has no batch")
    solver = model.solver
    b = LaneBuilder(plan)
    for which in ("A", "B"):
        b.which = which
        for lf in plan.in_set(which):
            b.family = lf.family
            rule = getattr(kind_of(lf.family), "lane_ops", None)
            if rule is None:
                raise b.unsupported(f"no lane rule for the {lf.family.kind} kind")
            rule(b, lf)
    metric = tuple(np.asarray(v.metric, np.float64) for v in model.variables.values())
    K = model.batch.size
    norm = K * max(1, plan.n_edges) if solver is not None and solver.error == "element" else K
    method = "ap" if solver is not None and solver.method == "ap" else "rrr"
    lam = solver.lam if solver is not None and method == "rrr" else None
    return LaneProgram(b.rows, metric, b.inputs, b.labels, tuple(b.ops), K, float(norm),
                       method=method, lam=lam)


def starts_program(program: LaneProgram, starts: int) -> LaneProgram:
    """`starts` independent starts of a program's model as one program (`lwlc train
    --restarts`), items major: lane k R + s holds item k of start s (R = starts). An op over
    items k0:k1 runs over lanes k0 R .. k1 R - 1 (each lane is on its own), a consensus over
    items over each start's items k0:k1, the starts side by side in SIMD; a margin op that
    ranks items ranks each start's own (lanes s, s + R, ...)."""
    ops = tuple(replace(op, starts=starts) if op.code == Op.CONSENSUS_ITEMS
                else replace(op, lanes=(op.lanes[0] * starts, op.lanes[1] * starts),
                             starts=starts if op.code == Op.MARGIN else 1)
                for op in program.ops)
    return replace(program, ops=ops, batch=program.batch * starts, starts=starts)


def pack(program: LaneProgram):
    """The kernel's tables: (OPS [ops, 8] int64, number of set A's ops, IX int64, FX
    float64, the longest vector a consensus over items projects)."""
    ops = np.zeros((len(program.ops), 9), dtype=np.int64)
    ints, floats = [], []
    i0 = f0 = 0
    widest = 1
    for o, op in enumerate(program.ops):
        ops[o] = (int(op.code), op.lanes[0], op.lanes[1], i0, op.n, op.m, f0, int(op.side),
                  op.starts)
        for a in op.ints:
            ints.append(np.asarray(a, np.int64).ravel())
            i0 += ints[-1].size
        for a in op.floats:
            floats.append(np.asarray(a, np.float64).ravel())
            f0 += floats[-1].size
        if op.code == Op.CONSENSUS_ITEMS:
            widest = max(widest, op.m)
    n_a = sum(1 for op in program.ops if op.set == "A")
    ix = np.concatenate(ints) if ints else np.zeros(1, np.int64)
    fx = np.concatenate(floats) if floats else np.zeros(1)
    return ops, n_a, ix, fx, widest
