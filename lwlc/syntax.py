"""The abstract syntax tree of a .lwl file: frozen dataclasses, each node with its source span."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Span

# --- expressions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float
    span: Span = field(compare=False)
    percent: bool = False  # written with a trailing %: a fraction of the batch size


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / ^
    left: Expr
    right: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span = field(compare=False)


# --- node groups and indices ----------------------------------------------------------------


@dataclass(frozen=True)
class GroupRef:
    name: str
    span: Span = field(compare=False)


@dataclass(frozen=True)
class GroupUnion:
    left: GroupExpr
    right: GroupExpr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class GroupDiff:
    left: GroupExpr
    right: GroupExpr
    span: Span = field(compare=False)


GroupExpr = GroupRef | GroupUnion | GroupDiff


@dataclass(frozen=True)
class IndexStar:
    """`*`: every item of the batch (the replicas of a consensus over items)."""

    span: Span = field(compare=False)


@dataclass(frozen=True)
class IndexEdges:
    """`in(j)` or `out(i)`: the edges into / out of the node bound to a loop variable."""

    direction: str  # "in" | "out"
    node: str
    span: Span = field(compare=False)


@dataclass(frozen=True)
class IndexGroup:
    """A name (loop variable, batch index, group, edge set) or a group expression."""

    group: GroupExpr
    span: Span = field(compare=False)


Index = IndexStar | IndexEdges | IndexGroup


@dataclass(frozen=True)
class Ref:
    """`v[i, j]`: a reference to elements of a variable, input or label."""

    name: str
    indices: tuple[Index, ...]
    span: Span = field(compare=False)


Expr = Num | Name | Call | BinOp | Neg | Ref

# --- statements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelDecl:
    name: str
    title: str | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class ParamDecl:
    name: str
    value: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class NodesDecl:
    name: str
    size: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class GroupDecl:
    name: str
    group: GroupExpr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class KwArg:
    name: str
    value: Expr | str
    span: Span = field(compare=False)


@dataclass(frozen=True)
class EdgeCall:
    """`dense(A -> B)`, `random(A -> B, fanin = 3, seed = 1)`."""

    func: str
    tail: GroupExpr
    head: GroupExpr
    kwargs: tuple[KwArg, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class NodeAt:
    group: str
    index: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class EdgeList:
    pairs: tuple[tuple[NodeAt, NodeAt], ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class EdgeFile:
    path: str
    span: Span = field(compare=False)


EdgeTerm = EdgeCall | EdgeList | EdgeFile


@dataclass(frozen=True)
class EdgesDecl:
    name: str
    terms: tuple[EdgeTerm, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class SubBatch:
    name: str
    size: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class BatchDecl:
    name: str
    parts: tuple[SubBatch, ...]  # a plain `batch k[128]` has one part named `k`
    span: Span = field(compare=False)


@dataclass(frozen=True)
class InputDecl:
    name: str
    batch: str
    group: GroupExpr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class LabelDecl:
    name: str
    batch: str
    classes: GroupExpr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class SampleDecl:
    """`sample s[code, Z] from agree x[data, out(Z)]`: inputs drawn from earlier encodings."""

    name: str
    batch: str
    group: GroupExpr
    source: Ref
    span: Span = field(compare=False)


@dataclass(frozen=True)
class MetricItem:
    value: Expr
    on: GroupExpr | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class VarDecl:
    name: str
    indices: tuple[GroupExpr, ...]
    metric: tuple[MetricItem, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class CondCompare:
    """`z <= 0`, `-1 <= z <= 1`: parts alternate expression, operator, expression, ..."""

    parts: tuple[Expr | str, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class CondInterval:
    var: str
    lo: Expr
    hi: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class CondAll:
    span: Span = field(compare=False)


Condition = CondCompare | CondInterval | CondAll


@dataclass(frozen=True)
class Piece:
    target: str  # must be the set's output coordinate, x
    expr: Expr
    condition: Condition
    span: Span = field(compare=False)


@dataclass(frozen=True)
class SetDecl:
    name: str
    params: tuple[str, ...]
    pieces: tuple[Piece, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class SetRef:
    name: str
    args: tuple[Expr, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Side:
    """The side constraint of a consensus: `== e`, `>= e`, `<= e` or `in S & T`."""

    op: str  # "==" | ">=" | "<=" | "in"
    value: Expr | None
    sets: tuple[SetRef, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Consensus:
    ref: Ref
    side: Side | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Activation:
    z: Expr
    x: Ref
    fixed: Expr | None
    set: SetRef
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Bilinear:
    left: Ref
    right: Ref
    rhs: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Membership:
    expr: Expr
    set: SetRef
    span: Span = field(compare=False)


Relation = Consensus | Activation | Bilinear | Membership


@dataclass(frozen=True)
class Modifier:
    kind: str  # "exempt" | "relabel" | "allow"
    count: Expr
    label: Expr | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Binding:
    name: str
    domain: GroupExpr | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class ConstraintDecl:
    name: str
    pin: str | None
    bindings: tuple[Binding, ...]
    relation: Relation
    modifiers: tuple[Modifier, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class SolveDecl:
    method: str
    kwargs: tuple[KwArg, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class DataDecl:
    role: str
    spec: str
    span: Span = field(compare=False)


Statement = (
    ModelDecl | ParamDecl | NodesDecl | GroupDecl | EdgesDecl | BatchDecl | InputDecl | LabelDecl
    | SampleDecl | VarDecl | SetDecl | ConstraintDecl | SolveDecl | DataDecl
)


@dataclass(frozen=True)
class Program:
    file: str
    source: str = field(repr=False)
    statements: tuple[Statement, ...]
