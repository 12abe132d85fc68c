"""The elaborated model (IR): names resolved, parameters evaluated, index sets concrete.

Everything here is immutable. Index arrays are numpy arrays that are never written after
elaboration. Node ids are global (declaration order of `nodes`); edges of an edge set are sorted by
head, then tail, the layout the paper's reference code and the golden files use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from .errors import Span


@dataclass(frozen=True)
class NodeDecl:
    name: str
    start: int
    size: int
    span: Span = field(compare=False)


@dataclass(frozen=True, eq=False)
class EdgeSet:
    """Edges tail → head, sorted by (head, tail). `blocks` records dense terms for the layout."""

    name: str
    tail: np.ndarray
    head: np.ndarray
    n_nodes: int
    blocks: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    span: Span = field(compare=False)

    def __len__(self) -> int:
        return int(self.tail.size)

    @cached_property
    def indeg(self) -> np.ndarray:
        return np.bincount(self.head, minlength=self.n_nodes)

    @cached_property
    def outdeg(self) -> np.ndarray:
        return np.bincount(self.tail, minlength=self.n_nodes)

    def edges_of(self, direction: str, nodes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(edge positions, index of their node in `nodes`) for in(j)/out(i) over `nodes`."""
        ends = self.head if direction == "in" else self.tail
        lookup = np.full(self.n_nodes, -1)
        lookup[np.asarray(nodes, dtype=int)] = np.arange(len(nodes))
        owner = lookup[ends]
        pos = np.nonzero(owner >= 0)[0]
        order = np.argsort(owner[pos], kind="stable")
        return pos[order], owner[pos][order]


@dataclass(frozen=True)
class SubBatch:
    name: str
    start: int
    size: int
    span: Span = field(compare=False)

    @property
    def stop(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Batch:
    index: str
    parts: tuple[SubBatch, ...]
    span: Span = field(compare=False)

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    def part(self, name: str) -> SubBatch | None:
        for p in self.parts:
            if p.name == name:
                return p
        return None

    @property
    def whole(self) -> SubBatch:
        return SubBatch(self.index, 0, self.size, self.span)


@dataclass(frozen=True)
class Input:
    """Per-item data on some nodes: `input d[k, D]`."""

    name: str
    part: SubBatch
    nodes: tuple[int, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Label:
    """Per-item class: `label c[k] in C`; the class index is a position in `classes`."""

    name: str
    part: SubBatch
    classes: tuple[int, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Sample:
    """Inputs drawn per node from the previous batch's consensus values (Elser eq. 37)."""

    name: str
    part: SubBatch
    nodes: tuple[int, ...]
    source_var: str
    source_part: SubBatch
    span: Span = field(compare=False)


@dataclass(frozen=True, eq=False)
class Variable:
    """A state variable; its elements are [batch item?] × [edge or node position]."""

    name: str
    batched: bool
    axis: str  # "edges" | "nodes"
    edge_set: str | None
    nodes: tuple[int, ...] | None
    metric: np.ndarray  # weight per position along the axis (eq. 15, 27)
    size: int  # length of the non-batch axis
    span: Span = field(compare=False)

    def position(self, node: int) -> int:
        assert self.nodes is not None
        return self.nodes.index(node)

    def positions(self, nodes) -> np.ndarray:
        assert self.nodes is not None
        lookup = {n: i for i, n in enumerate(self.nodes)}
        return np.array([lookup[n] for n in nodes], dtype=int)


@dataclass(frozen=True)
class Piece:
    """One piece of an activation set: x = a z + c (affine) or x = f(z) (curve) on [lo, hi]."""

    lo: float
    hi: float
    affine: tuple[float, float] | None  # (a, c)
    curve: object | None  # a sympy expression in the symbol z
    span: Span = field(compare=False)


@dataclass(frozen=True)
class ActivationSet:
    name: str
    args: tuple[float, ...]
    pieces: tuple[Piece, ...]
    span: Span = field(compare=False)

    @property
    def is_affine(self) -> bool:
        return all(p.affine is not None for p in self.pieces)


@dataclass(frozen=True)
class Fixed:
    """A fixed value: an input's column per node (`d[k, i]`) or a constant."""

    input: str | None
    constant: float | None


@dataclass(frozen=True)
class SideConstraint:
    """The side constraint of a consensus (Lemma 4.1), already normalized.

    kind: none | fixed | nonneg | box | sphere | nonneg_sphere | sparse_nonneg
    """

    kind: str
    args: tuple[float, ...] = ()
    fixed: Fixed | None = None


# --- constraint families --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Family:
    """A constraint written once in the model and instantiated for every index of its domain."""

    name: str
    span: Span = field(compare=False)
    pin: str | None = None  # "A" | "B" when the model pins it
    part: SubBatch | None = None  # the batch items the family covers
    nodes: tuple[int, ...] | None = None  # the node loop's domain

    kind = "family"

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for v, _, _ in self.touches_spec()))

    def touches_spec(self) -> list[tuple[str, str, object]]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class ConsensusFamily(Family):
    """`agree v[...] [side]`: replicas take one value (Lemma 4.1), then the side constraint.

    over = "edges": per (item, node), the replicas are the edges in(i)/out(i) of the node.
    over = "items": per node, the replicas are the batch items; the value is a vector over the
    node's edges (`w[*, in(j)]`) or a scalar (`b[*, j]`).
    """

    var: str = ""
    over: str = "edges"
    direction: str | None = None  # "in" | "out" for edge variables
    side: SideConstraint = SideConstraint("none")
    kind = "consensus"

    def touches_spec(self):
        return [(self.var, "consensus", None)]


@dataclass(frozen=True, eq=False)
class ActivationFamily(Family):
    """`(y - b, agree x[k, out(i)] [== d]) in set`: eq. 26c with Lemma 4.1."""

    y: str = ""
    b: str | None = None
    x: str = ""
    direction: str = "out"
    fixed: Fixed | None = None
    set: ActivationSet | None = None
    kind = "activation"

    def touches_spec(self):
        out = [(self.y, "node", None)]
        if self.b:
            out.append((self.b, "node", None))
        out.append((self.x, "edges", self.direction))
        return out


@dataclass(frozen=True, eq=False)
class ClassFamily(Family):
    """`y[k, C] - b[k, C] in margin(c[k], Δ) [exempt n | relabel n | allow n as l]` (eq. 26d-e,
    32, 33, Sect. 6.2)."""

    y: str = ""
    b: str | None = None
    classes: tuple[int, ...] = ()
    label: str = ""
    margin: float = 0.0
    mode: Literal["plain", "exempt", "relabel", "allow"] = "plain"
    count: int = 0
    allow_label: int = 0
    kind = "class"

    def touches_spec(self):
        out = [(self.y, "classes", None)]
        if self.b:
            out.append((self.b, "classes", None))
        return out


@dataclass(frozen=True, eq=False)
class BilinearFamily(Family):
    """`dot(x[k, in(j)], w[k, in(j)]) == ω y[k, j]` or `== Y[k, j]` (eq. 14d, 26h, App. B)."""

    x: str = ""
    w: str = ""
    direction: str = "in"
    y: str | None = None  # the variable on the right, or None when it is data
    coef: float = 1.0
    data: str | None = None  # the input on the right
    kind = "bilinear"

    def touches_spec(self):
        out = [(self.x, "edges", self.direction), (self.w, "edges", self.direction)]
        if self.y:
            out.append((self.y, "node", None))
        return out


@dataclass(frozen=True)
class Solver:
    method: str  # rrr | dr | ap
    beta: float
    lam: float | None  # eq. 47's λ (None: plain RRR, eq. 45)
    iterations: int
    tolerance: float
    epochs: int
    seed: int
    error: str  # "item": Σ/K (eq. 22, 27) | "element": Σ/(K |E|) (golden NMF convention)
    restart: bool = False  # a one-batch run restarts each epoch from the consensus parameters
    span: Span | None = field(default=None, compare=False)
    epochs_span: Span | None = field(default=None, compare=False)  # `epochs = N`, if written


@dataclass(frozen=True)
class ModelWarning:
    """Something legal but probably unintended (an unused input, a node whose value is dropped),
    located in the model file; `lwlc check` and `lwlc train` print it as
    `FILE:LINE:COL: warning: MESSAGE` with the line and a caret, like an error."""

    message: str
    span: Span | None = field(compare=False)  # None: about what the command line gave
    hint: str | None = None
    # "missing data": a `data` file not found where the model is checked. `lwlc check` says
    # so; a run leaves it out: the file it reads is an error then, the others do not matter.
    # "no values": an input or label no data set fills, which a run reports as an error.
    about: Literal["model", "missing data", "no values"] = "model"


@dataclass(frozen=True, eq=False)
class Model:
    name: str
    title: str | None
    file: str
    source: str = field(repr=False)
    params: dict[str, float] = field(default_factory=dict)
    node_decls: tuple[NodeDecl, ...] = ()
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    edge_sets: dict[str, EdgeSet] = field(default_factory=dict)
    batch: Batch | None = None
    inputs: dict[str, Input] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    samples: dict[str, Sample] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    sets: dict[str, ActivationSet] = field(default_factory=dict)  # instantiated, by use
    families: tuple[Family, ...] = ()
    solver: Solver | None = None
    data: dict[str, str] = field(default_factory=dict)
    warnings: tuple[ModelWarning, ...] = ()
    edge_files: tuple[str, ...] = ()  # the files `file(...)` edge terms read

    @property
    def n_nodes(self) -> int:
        return sum(d.size for d in self.node_decls)

    def node_name(self, node: int) -> str:
        for d in self.node_decls:
            if d.start <= node < d.start + d.size:
                return f"{d.name}[{node - d.start}]"
        return f"node {node}"

    def family(self, name: str) -> Family:
        for f in self.families:
            if f.name == name:
                return f
        raise KeyError(name)

    def line_of(self, family: Family) -> int:
        return family.span.line
