"""Stage 4, lower: IR + A/B split → a plan of vectorized projections, ready for a backend.

Each family's instances are grouped by vector length, so that one group is a dense
[items, nodes, length] block gathered from the flat state by an index matrix (a pure reshape
when the edges are a dense layer). The plan also names the roles variables play (which holds
the consensus weights, which the biases) and the feed-forward schedule used by `init` and
`predict` (Elser Sect. 4.3, 5.4, 6.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from . import ir
from .errors import ModelError
from .split import SplitPlan, split


@dataclass(frozen=True, eq=False)
class Group:
    """Instances of one family that share a vector length m.

    nodes: the loop's nodes in this group (global ids); edges: [n, m] positions into the edge
    variable (in(j)/out(i) of each node), or None; positions: [n] positions of the nodes in each
    node variable the family touches.
    """

    nodes: tuple[int, ...]
    edges: np.ndarray | None
    positions: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class LoweredFamily:
    family: ir.Family
    set: str  # "A" | "B"
    groups: tuple[Group, ...]
    class_positions: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Layer:
    """One step of the feed-forward schedule: nodes computed together."""

    kind: str  # "data" | "neuron" | "code"
    nodes: tuple[int, ...]
    group: Group | None = None  # in-edges of the nodes (for "neuron")
    activation: ir.ActivationFamily | None = None
    bilinear: ir.BilinearFamily | None = None
    source: str | None = None  # input name for "data"


@dataclass(frozen=True, eq=False)
class Plan:
    model: ir.Model
    split: SplitPlan
    families: tuple[LoweredFamily, ...]
    weights: str | None  # the edge variable whose item-consensus is the learned weight
    weight_family: ir.ConsensusFamily | None
    biases: str | None
    bias_family: ir.ConsensusFamily | None
    x: str | None  # the edge variable carrying node values
    y: str | None
    class_family: ir.ClassFamily | None
    schedules: dict[str, tuple[Layer, ...]]  # batch part → feed-forward layers
    edge_set: ir.EdgeSet | None
    problem: str  # "classifier" | "factorization" | "autoencoder" | "generic"

    def in_set(self, which: str) -> tuple[LoweredFamily, ...]:
        return tuple(f for f in self.families if f.set == which)


def _groups(model: ir.Model, fam: ir.Family, edge_var: str | None, direction: str | None,
            node_vars: tuple[str, ...]) -> tuple[Group, ...]:
    """Group a family's nodes by their number of `direction` edges."""
    nodes = fam.nodes or ()
    if edge_var is None or direction is None:
        pos = {v: model.variables[v].positions(nodes) for v in node_vars}
        return (Group(tuple(nodes), None, pos),)
    var = model.variables[edge_var]
    es = model.edge_sets[var.edge_set]
    positions, owner = es.edges_of(direction, tuple(nodes))
    deg = np.bincount(owner, minlength=len(nodes))
    out = []
    for m in sorted(set(deg.tolist())):
        members = [i for i in range(len(nodes)) if deg[i] == m]
        if m == 0:
            continue
        mat = np.stack([positions[owner == i] for i in members]).astype(np.int64)
        group_nodes = tuple(nodes[i] for i in members)
        pos = {v: model.variables[v].positions(group_nodes) for v in node_vars}
        out.append(Group(group_nodes, mat, pos))
    return tuple(out)


def _lower_family(model: ir.Model, fam: ir.Family, which: str) -> LoweredFamily:
    if isinstance(fam, ir.ConsensusFamily):
        var = model.variables[fam.var]
        if var.axis == "edges":
            groups = _groups(model, fam, fam.var, fam.direction, ())
        else:
            groups = _groups(model, fam, None, None, (fam.var,))
        if var.axis == "edges" and not np.all(var.metric == var.metric[0]):
            raise ModelError(f"lowering supports a constant metric on edge variable {var.name}",
                             fam.span)
        return LoweredFamily(fam, which, groups)
    if isinstance(fam, ir.ActivationFamily):
        nv = (fam.y,) + ((fam.b,) if fam.b else ())
        return LoweredFamily(fam, which, _groups(model, fam, fam.x, fam.direction, nv))
    if isinstance(fam, ir.BilinearFamily):
        for v in (fam.x, fam.w):
            if not np.all(model.variables[v].metric == 1.0):
                raise ModelError(
                    f"the bilinear projection (App. B) assumes metric 1 on {v}; rescale the "
                    "norm ω instead (Elser Sect. 4.2)", fam.span)
        nv = (fam.y,) if fam.y else ()
        return LoweredFamily(fam, which, _groups(model, fam, fam.x, fam.direction, nv))
    if isinstance(fam, ir.ClassFamily):
        pos = {v: model.variables[v].positions(fam.classes) for v in (fam.y, fam.b) if v}
        return LoweredFamily(fam, which, (), pos)
    raise ModelError(f"no projection for constraint {fam.name}", fam.span)


def _roles(model: ir.Model):
    weights = biases = x = y = None
    weight_family = bias_family = None
    class_family = None
    for f in model.families:
        if isinstance(f, ir.ConsensusFamily) and f.over == "items":
            var = model.variables[f.var]
            if var.axis == "edges" and weight_family is None:
                weights, weight_family = f.var, f
            elif var.axis == "nodes" and bias_family is None:
                biases, bias_family = f.var, f
        if isinstance(f, ir.BilinearFamily):
            x = x or f.x
            y = y or f.y
        if isinstance(f, ir.ClassFamily):
            class_family = class_family or f
    return weights, weight_family, biases, bias_family, x, y, class_family


def _overlaps(a: ir.SubBatch | None, b: ir.SubBatch) -> bool:
    return a is None or (a.start < b.stop and b.start < a.stop)


def _schedule(model: ir.Model, x: str | None, edge_set: ir.EdgeSet | None,
              part: ir.SubBatch) -> tuple[Layer, ...]:
    """Feed-forward order for the items of one batch part (Sect. 4.3, 5.4, 6.1.1).

    Nodes whose consensus value an input fixes for these items are sources; edges into them are
    cut, which is how a cyclic autoencoder is "fed around" from its data (or code) layer. Their
    pre-activation y is computed last, without overwriting their x.
    """
    if edge_set is None or x is None:
        return ()
    fixed_nodes: dict[int, str] = {}
    act: dict[int, ir.ActivationFamily] = {}
    bil: dict[int, ir.BilinearFamily] = {}
    for f in model.families:
        if not _overlaps(f.part, part):
            continue
        if isinstance(f, ir.ConsensusFamily) and f.var == x and f.side.kind == "fixed":
            if f.side.fixed.input is not None:
                for n in f.nodes:
                    fixed_nodes.setdefault(n, f.side.fixed.input)
        if isinstance(f, ir.ActivationFamily) and f.x == x:
            for n in f.nodes:
                if f.fixed is not None and f.fixed.input is not None:
                    fixed_nodes.setdefault(n, f.fixed.input)
                act.setdefault(n, f)
        if isinstance(f, ir.BilinearFamily) and f.x == x:
            for n in f.nodes:
                bil.setdefault(n, f)
    g = nx.DiGraph()
    g.add_nodes_from(range(model.n_nodes))
    for t, h in zip(edge_set.tail.tolist(), edge_set.head.tolist(), strict=True):
        if h not in fixed_nodes:
            g.add_edge(t, h)
    if not nx.is_directed_acyclic_graph(g):
        return ()
    depth: dict[int, int] = {}
    for n in nx.topological_sort(g):
        depth[n] = 1 + max((depth[p] for p in g.predecessors(n)), default=-1)
    layers: list[Layer] = []
    by_input: dict[str, list[int]] = {}
    for n, inp in sorted(fixed_nodes.items()):
        by_input.setdefault(inp, []).append(n)
    for inp, nodes in by_input.items():
        layers.append(Layer("data", tuple(nodes), source=inp))
    levels: dict[int, list[int]] = {}
    last = 1 + max(depth.values(), default=0)
    for n, d in depth.items():
        if n in bil:
            levels.setdefault(last if n in fixed_nodes else d, []).append(n)
    for d in sorted(levels):
        keyed: dict[tuple, list[int]] = {}
        for n in sorted(levels[d]):
            a = act[n].name if (n in act and n not in fixed_nodes) else None
            keyed.setdefault((bil[n].name, a), []).append(n)
        for (_bname, aname), ns in keyed.items():
            bf = bil[ns[0]]
            af = act[ns[0]] if aname else None
            sub = ir.ConsensusFamily(name="_forward", span=bf.span, nodes=tuple(ns))
            for grp in _groups(model, sub, x, bf.direction, ()):
                layers.append(Layer("neuron", grp.nodes, grp, af, bf))
    return tuple(layers)


def lower(model: ir.Model, plan: SplitPlan | None = None) -> Plan:
    """Lower an elaborated model to the vectorized projection plan the backends emit."""
    plan = plan or split(model)
    fams = tuple(_lower_family(model, f, plan.sets[f.name]) for f in model.families)
    weights, wfam, biases, bfam, x, y, cfam = _roles(model)
    edge_set = None
    if x is not None:
        edge_set = model.edge_sets[model.variables[x].edge_set]
    elif model.edge_sets:
        edge_set = next(iter(model.edge_sets.values()))
    if cfam is not None:
        problem = "classifier"
    elif any(isinstance(f, ir.BilinearFamily) and f.data for f in model.families):
        problem = "factorization"
    elif model.samples:
        problem = "autoencoder"
    else:
        problem = "generic"
    schedules = {p.name: _schedule(model, x, edge_set, p) for p in model.batch.parts}
    return Plan(model, plan, fams, weights, wfam, biases, bfam, x, y, cfam, schedules, edge_set,
                problem)
