"""Stage 4, lower: IR + A/B split → an explicit plan of one iteration and of inference.

The plan says, for every constraint family, which slices of which variables it projects, in
which set, as dense [items, nodes, length] blocks (`Group`); and, derived per family kind
(`lwlc.kinds`), what a trained model is: its learned parameters (the value of every consensus
over items, Elser Sect. 5.4), how node values are inferred from data (the feed-forward pass of
Sect. 4.3, 5.4, 6.1.1, with least-squares codes for latent nodes, eq. 12-13), and what the model
predicts (its targets: a class, or values that must equal data). Nothing here looks at the order
of declarations or at the kind of network: every role comes from a family's kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import networkx as nx
import numpy as np

from . import ir
from .errors import ModelError

if TYPE_CHECKING:
    from .split import SplitPlan

Which = Literal["A", "B"]


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
    set: Which
    groups: tuple[Group, ...]
    class_positions: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Learned:
    """A learned parameter: the consensus over items of `var` on one family's elements."""

    var: str
    family: ir.ConsensusFamily
    set: Which
    groups: tuple[Group, ...]


@dataclass(frozen=True, eq=False)
class Source:
    """Nodes whose value an input (or a constant) fixes for the items of a part."""

    nodes: tuple[int, ...]
    family: ir.Family
    fixed: ir.Fixed


@dataclass(frozen=True, eq=False)
class Neuron:
    """Y[j] = Σ_e X[owner(e)] · params[weight][e] / coef over the operand edges of node j
    (eq. 26h); then, with an activation, X[j] = f(Y[j] − b[j]) (the inference map, Sect. 5.4).
    `set_value` is False for nodes whose value is fixed (only their Y is computed)."""

    group: Group
    bilinear: ir.BilinearFamily
    weight: str
    value: str
    activation: ir.ActivationFamily | None
    set_value: bool


@dataclass(frozen=True, eq=False)
class LatentSolve:
    """Latent nodes' values by least squares from a fixed product Σ x w = Y (eq. 12-13),
    projected onto their consensus side constraint."""

    nodes: tuple[int, ...]
    bilinear: ir.BilinearFamily
    weight: str
    side: ir.SideConstraint


@dataclass(frozen=True, eq=False)
class LearnedValue:
    """Nodes with an activation and no neuron whose z = y − b is learned (each term a
    consensus over items, or absent): X = f(y − b) of the parameters, the same for every
    item (Sect. 5.4's inference map; a constant node, as a bias unit)."""

    nodes: tuple[int, ...]
    activation: ir.ActivationFamily


@dataclass(frozen=True, eq=False)
class Sweep:
    """Steps repeated `times` times: the nodes of a directed cycle, relaxed from zero."""

    steps: tuple
    times: int
    nodes: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Schedule:
    """Inference for the items of one batch part."""

    part: ir.SubBatch
    sources: tuple[Source, ...]
    steps: tuple  # LearnedValue | Neuron | LatentSolve | Sweep, in order
    latent: tuple[int, ...]  # nodes whose value comes from a LatentSolve


@dataclass(frozen=True, eq=False)
class Target:
    """What a trained model predicts for the items of a part, and against what.

    kind "class": the label's class, argmax of y − b over the class nodes (Sect. 5.4);
    kind "value": node values that a constraint equates to an input, as the model computes
    them (Σ x w / c for a fixed product, f(y − b) for an activation with a fixed x).
    """

    name: str
    kind: Literal["class", "value"]
    family: ir.Family
    part: ir.SubBatch
    nodes: tuple[int, ...]
    reference: str  # the label (class) or the input (value)
    infer: str = ""  # the batch part whose inference new items get: the first one it covers


@dataclass(frozen=True, eq=False)
class Plan:
    model: ir.Model
    split: SplitPlan
    families: tuple[LoweredFamily, ...]
    learned: tuple[Learned, ...]
    schedules: dict[str, Schedule]  # batch part → inference
    targets: tuple[Target, ...]
    owners: dict[str, np.ndarray]  # edge variable → node whose value each edge carries (-1)
    warnings: tuple[ir.ModelWarning, ...] = ()  # what lowering found legal but odd

    def in_set(self, which: str) -> tuple[LoweredFamily, ...]:
        return tuple(f for f in self.families if f.set == which)

    @property
    def params(self) -> tuple[str, ...]:
        """The variables that hold learned parameters, in declaration order."""
        names = {lp.var for lp in self.learned}
        return tuple(v for v in self.model.variables if v in names)

    @property
    def n_edges(self) -> int:
        """|E| of GWMs (Elser Sect. 5.5): the edges of every edge set the state uses."""
        sets = {v.edge_set for v in self.model.variables.values() if v.axis == "edges"}
        return sum(len(self.model.edge_sets[s]) for s in sets if s)


def groups_of(model: ir.Model, nodes: tuple[int, ...], edge_var: str | None,
              direction: str | None, node_vars: tuple[str, ...],
              edgeless: bool = False) -> tuple[Group, ...]:
    """Group `nodes` by their number of `direction` edges in `edge_var`'s edge set; nodes
    without such edges are left out, or with `edgeless` form a group of their own (edges
    None: an activation with x fixed projects their z alone)."""
    if edge_var is None or direction is None:
        pos = {v: model.variables[v].positions(nodes) for v in node_vars}
        return (Group(tuple(nodes), None, pos),)
    var = model.variables[edge_var]
    es = model.edge_sets[var.edge_set]
    positions, owner = es.edges_of(direction, tuple(nodes))  # sorted by owner
    deg = np.bincount(owner, minlength=len(nodes))
    first = np.concatenate(([0], np.cumsum(deg)[:-1]))  # each node's first position
    out = []
    for m in sorted(set(deg.tolist())):
        if m == 0:
            if edgeless:
                group_nodes = tuple(nodes[i] for i in np.flatnonzero(deg == 0))
                pos = {v: model.variables[v].positions(group_nodes) for v in node_vars}
                out.append(Group(group_nodes, None, pos))
            continue
        members = np.flatnonzero(deg == m).tolist()
        mat = positions[first[members][:, None] + np.arange(m)].astype(np.int64)
        for lo, hi in _contiguous_runs(mat):
            group_nodes = tuple(nodes[i] for i in members[lo:hi])
            pos = {v: model.variables[v].positions(group_nodes) for v in node_vars}
            out.append(Group(group_nodes, mat[lo:hi], pos))
    return tuple(out)


def _block_kind(mat: np.ndarray) -> str | None:
    """'rows' or 'cols' if the [nodes, edges] positions are one contiguous range read
    row-wise or column-wise (a dense layer's in- or out-edges), else None."""
    n, m = mat.shape
    s0 = int(mat.flat[0])
    if np.array_equal(mat, s0 + np.arange(n * m).reshape(n, m)):
        return "rows"
    if np.array_equal(mat, s0 + np.arange(n * m).reshape(m, n).T):
        return "cols"
    return None


def _contiguous_runs(mat: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of `mat` to emit as separate groups: the whole, if it is one contiguous
    block or irregular anyway; else its maximal runs that each are one (nodes of equal
    degree in several dense layers: one group per layer reads slices, not a gather)."""
    n = mat.shape[0]
    if _block_kind(mat) is not None or n == 1:
        return [(0, n)]
    # a run goes on where the next row continues the last one as rows (it starts where
    # the last one ends) or as columns (every position one further)
    rows_go_on = mat[1:, 0] == mat[:-1, -1] + 1
    cols_go_on = np.all(mat[1:] == mat[:-1] + 1, axis=1)
    cuts = [0, *(np.flatnonzero(~(rows_go_on | cols_go_on)) + 1).tolist(), n]
    runs = list(zip(cuts[:-1], cuts[1:], strict=True))
    if len(runs) < n and all(_block_kind(mat[a:b]) is not None for a, b in runs):
        return runs
    return [(0, n)]


def overlaps(a: ir.SubBatch | None, b: ir.SubBatch) -> bool:
    return a is None or (a.start < b.stop and b.start < a.stop)


def edge_owners(model: ir.Model) -> dict[str, np.ndarray]:
    """For each edge variable, the node whose value each edge carries: the node of the consensus
    over edges (or activation) that covers it — i for `agree x[k, out(i)]` — or -1."""
    from .kinds import kind_of

    owners: dict[str, np.ndarray] = {}
    for name, var in model.variables.items():
        if var.axis == "edges":
            owners[name] = np.full(var.size, -1, dtype=np.int64)
    for fam in model.families:
        carried = kind_of(fam).carries(model, fam)
        if carried is None:
            continue
        var, direction = carried
        es = model.edge_sets[model.variables[var].edge_set]
        pos, own = es.edges_of(direction, tuple(fam.nodes))
        owners[var][pos] = np.asarray(fam.nodes, dtype=np.int64)[own]
    return owners


def _weight_operand(model: ir.Model, fam: ir.BilinearFamily,
                    learned_vars: dict[str, np.ndarray]) -> str:
    """Which operand of dot(x, w) holds the learned weights: the one a consensus over items
    ties together (`learned_vars`: each such variable's elements it covers). Anything else
    is ambiguous, and the model must say; so is a node whose weights no consensus covers
    (nothing would learn them: prediction took them as 0, and the model came out at
    chance)."""
    def edges(v: str):  # the positions of this family's edges in v, and their nodes
        es = model.edge_sets[model.variables[v].edge_set]
        return es.edges_of(fam.direction, tuple(fam.nodes))

    # an operand counts where a consensus over items covers it on this family's edges (a
    # variable may hold the weights of one layer and the values of another)
    held = [v for v in (fam.x, fam.w) if v in learned_vars and learned_vars[v][edges(v)[0]].any()]
    if len(held) == 1:
        weight = held[0]
        pos, own = edges(weight)
        loose = sorted({fam.nodes[i] for i in own[~learned_vars[weight][pos]].tolist()})
        if loose:
            names = ", ".join(model.node_name(n) for n in loose[:6])
            more = f" and {len(loose) - 6} more" if len(loose) > 6 else ""
            raise ModelError(
                f"constraint {fam.name}: the weights {weight}[*, {fam.direction}(j)] of "
                f"{names}{more} have no consensus over items, so nothing learns them",
                fam.span,
                hint=f"tie them together as for the other nodes, e.g. `constraint tie for j "
                f"in ...: agree {weight}[*, {fam.direction}(j)]` over these nodes too")
        return weight
    both = "both operands of dot({}, {}) have" if held else "neither operand of dot({}, {}) has"
    raise ModelError(
        f"constraint {fam.name}: {both.format(fam.x, fam.w)} a consensus over items on its "
        "edges, so lwlc cannot tell which one holds the learned weights",
        fam.span,
        hint=f"tie the weights' copies together with a consensus over items, e.g. "
        f"`constraint tie for j in ...: agree {fam.w}[*, {fam.direction}(j)]`, and leave the "
        "other operand per item",
    )


def _schedule(model: ir.Model, part: ir.SubBatch, learned_vars: dict[str, np.ndarray],
              owners: dict[str, np.ndarray]) -> Schedule:
    """Inference for the items of one part (Sect. 4.3, 5.4, 6.1.1).

    Nodes whose value an input fixes for these items are sources; edges into them are cut, which
    is how a cyclic autoencoder is fed around from its data (or code) layer. A node with a
    bilinear neuron and an activation is computed from its operands; a directed cycle of such
    nodes is relaxed from zero, once per node of the cycle. A node with an activation of
    learned terms only is that function of the parameters (LearnedValue). Nodes with neither
    are latent: solved by least squares where a fixed product needs them (eq. 12-13), else
    zero.
    """
    from .kinds import kind_of

    fams = [f for f in model.families if overlaps(f.part, part)]
    sources: dict[int, Source] = {}
    for f in fams:
        for src in kind_of(f).sources(model, f):
            for n in src.nodes:
                sources.setdefault(n, src)
    activation: dict[int, ir.ActivationFamily] = {}
    neuron: dict[int, ir.BilinearFamily] = {}
    for f in fams:
        if isinstance(f, ir.ActivationFamily):
            for n in f.nodes:
                activation.setdefault(n, f)
        if isinstance(f, ir.BilinearFamily) and f.y is not None:
            for n in f.nodes:
                neuron.setdefault(n, f)
    computed: dict[int, tuple[ir.BilinearFamily, str, str, np.ndarray]] = {}
    for bf in dict.fromkeys(neuron.values()):
        weight = _weight_operand(model, bf, learned_vars)
        value = bf.w if weight == bf.x else bf.x
        es = model.edge_sets[model.variables[value].edge_set]
        mine = tuple(n for n in bf.nodes if neuron[n] is bf)
        pos, own = es.edges_of(bf.direction, mine)
        operands = owners[value][pos]
        split_at = np.cumsum(np.bincount(own, minlength=len(mine)))[:-1]
        for n, ops in zip(mine, np.split(operands, split_at), strict=True):
            computed[n] = (bf, weight, value, ops)
    # X of a node is determined by its neuron when its activation links the neuron's y
    # (either term of the activation's y - b) to its x
    determined = {n for n, (bf, *_rest) in computed.items()
                  if n not in sources and n in activation
                  and bf.y in (activation[n].y, activation[n].b)}
    levels, loops = _levels(determined, computed, model.n_nodes + 1)
    steps: list = []
    constant: dict[str, list[int]] = {}  # activation family → its nodes of learned z
    for n, af in activation.items():
        if n not in sources and n not in computed and all(
                _learned_at(model, learned_vars, v, n) for v in (af.y, af.b)):
            constant.setdefault(af.name, []).append(n)
    named = {f.name: f for f in fams}
    steps += [LearnedValue(tuple(ns), named[name]) for name, ns in constant.items()]
    known = determined | {n for ns in constant.values() for n in ns}
    operands = np.unique(np.concatenate([c[3] for c in computed.values()] or [[]])).astype(int)
    latent = sorted(o for o in operands.tolist()
                    if o >= 0 and o not in known and o not in sources)
    for f in fams:
        if isinstance(f, ir.BilinearFamily) and f.data is not None:
            weight = _weight_operand(model, f, learned_vars)
            value = f.w if weight == f.x else f.x
            es = model.edge_sets[model.variables[value].edge_set]
            pos, _ = es.edges_of(f.direction, tuple(f.nodes))
            owned = {o for o in owners[value][pos].tolist() if o >= 0}
            unknown = tuple(sorted(owned - known - set(sources)))
            if unknown:
                side = _latent_side(model, value, unknown)
                steps.append(LatentSolve(unknown, f, weight, side))
                latent = sorted(set(latent) | set(unknown))
    for d in sorted(levels):
        plain = sorted(n for members in levels[d] if len(members) == 1 for n in members
                       if n not in loops)
        steps += _neurons(model, plain, computed, activation, True)
        for members in levels[d]:
            if len(members) > 1 or members[0] in loops:
                inner = _neurons(model, list(members), computed, activation, True)
                steps.append(Sweep(tuple(inner), len(members), members))
    # pre-activations of the other computed nodes (fixed or without activation): Y only
    rest = [n for n in computed if n not in determined]
    steps += _neurons(model, sorted(rest), computed, activation, False)
    return Schedule(part, tuple(dict.fromkeys(sources.values())), tuple(steps), tuple(latent))


def _learned_at(model: ir.Model, learned_vars: dict[str, np.ndarray], var: str | None,
                node: int) -> bool:
    """Whether a consensus over items covers `var` at `node` (absent: nothing to learn)."""
    if var is None:
        return True
    return var in learned_vars and bool(
        learned_vars[var][model.variables[var].positions([node])].all())


def _levels(determined: set[int], computed: dict, size: int
            ) -> tuple[dict[int, list[tuple[int, ...]]], set[int]]:
    """The determined nodes in the order inference computes them, and the nodes that are
    their own operand. Level d holds the node tuples whose operands lie in earlier levels:
    single nodes, or the members of a directed cycle (relaxed together). The acyclic part
    is peeled level by level on the edge arrays (Kahn's algorithm); only what lies on or
    after a cycle goes to networkx's condensation."""
    nodes = np.array(sorted(determined), dtype=np.int64)
    if not nodes.size:
        return {}, set()
    inside = np.zeros(size, dtype=bool)
    inside[nodes] = True
    src, dst = [], []
    for n in nodes.tolist():
        ops = np.asarray(computed[n][3], dtype=np.int64)
        ops = np.unique(ops[ops >= 0])
        ops = ops[inside[ops]]
        src.append(ops)
        dst.append(np.full(ops.size, n, dtype=np.int64))
    src, dst = np.concatenate(src), np.concatenate(dst)
    loops = set(src[src == dst].tolist())
    indeg = np.bincount(dst, minlength=size)
    depth = np.full(size, -1, dtype=np.int64)
    frontier, d = nodes[indeg[nodes] == 0], 0
    while frontier.size:
        depth[frontier] = d
        out = np.isin(src, frontier)
        indeg -= np.bincount(dst[out], minlength=size)
        reached = np.unique(dst[out])
        frontier, d = reached[indeg[reached] == 0], d + 1
    levels: dict[int, list[tuple[int, ...]]] = {}
    for n in nodes[depth[nodes] >= 0].tolist():
        levels.setdefault(int(depth[n]), []).append((n,))
    rest = nodes[depth[nodes] < 0]
    if rest.size:
        graph = nx.DiGraph()
        graph.add_nodes_from(rest.tolist())
        within = (depth[src] < 0) & (depth[dst] < 0)
        graph.add_edges_from(zip(src[within].tolist(), dst[within].tolist(), strict=True))
        after = np.zeros(size, dtype=np.int64)  # 1 + the deepest peeled operand
        fed = (depth[src] >= 0) & (depth[dst] < 0)
        np.maximum.at(after, dst[fed], depth[src[fed]] + 1)
        cond = nx.condensation(graph)
        level: dict[int, int] = {}
        for c in nx.topological_sort(cond):
            members = tuple(sorted(cond.nodes[c]["members"]))
            level[c] = max([int(after[m]) for m in members]
                           + [level[p] + 1 for p in cond.predecessors(c)])
            levels.setdefault(level[c], []).append(members)
    return levels, loops


def _latent_side(model: ir.Model, var: str, nodes: tuple[int, ...]) -> ir.SideConstraint:
    """The side constraint that the consensus of `var` over the latent nodes' edges imposes."""
    for f in model.families:
        if (isinstance(f, ir.ConsensusFamily) and f.var == var and f.over == "edges"
                and set(nodes) <= set(f.nodes or ())):
            return f.side
    return ir.SideConstraint("none")


def _neurons(model, nodes, computed, activation, set_value) -> list[Neuron]:
    keyed: dict[tuple, list[int]] = {}
    for n in nodes:
        bf, weight, value, _ = computed[n]
        af = activation.get(n) if set_value else None
        keyed.setdefault((bf.name, af.name if af else None, weight, value), []).append(n)
    out = []
    for (_b, _a, weight, value), ns in keyed.items():
        bf = computed[ns[0]][0]
        af = activation.get(ns[0]) if set_value else None
        for g in groups_of(model, tuple(ns), value, bf.direction, ()):
            out.append(Neuron(g, bf, weight, value, af, set_value))
    return out


def _covered(model: ir.Model, learned: tuple[Learned, ...]) -> dict[str, np.ndarray]:
    """For each variable with a consensus over items, which of its elements one covers."""
    out: dict[str, np.ndarray] = {}
    for lp in learned:
        var = model.variables[lp.var]
        mask = out.setdefault(lp.var, np.zeros(var.size, dtype=bool))
        for g in lp.groups:
            if var.axis == "edges" and g.edges is not None:
                mask[np.asarray(g.edges).reshape(-1)] = True
            elif lp.var in g.positions:
                mask[np.asarray(g.positions[lp.var]).reshape(-1)] = True
            else:  # a group that names no positions: take the variable as covered
                mask[:] = True
    return out


def _inferred(schedules: dict) -> set[tuple[str, int]]:
    """(variable, node) of each neuron output the inference pass computes."""
    out: set[tuple[str, int]] = set()

    def walk(steps) -> None:
        for st in steps:
            if isinstance(st, Neuron):
                out.update((st.bilinear.y, int(n)) for n in np.asarray(st.group.nodes).ravel())
            walk(getattr(st, "steps", ()))

    for sched in schedules.values():
        walk(sched.steps)
    return out


def _unlearned_terms(model: ir.Model, learned_vars: dict[str, np.ndarray],
                     inferred: set[tuple[str, int]]):
    """A warning for each term of an activation or class constraint's z = y − b that is,
    on some of its nodes, neither computed by a neuron (`dot(...) == c * y[k, j]`) nor
    tied by a consensus over items: each item's value is then free, so the constraint
    holds whatever the other term is, nothing learns it, and inference takes it as 0 (a
    model without its `agree b[*, j]` trained to rrr_err 7e-4 at chance: a user test)."""
    computed = {(f.y, n) for f in model.families
                if isinstance(f, ir.BilinearFamily) and f.y for n in f.nodes}
    for fam in model.families:
        if not isinstance(fam, ir.ActivationFamily | ir.ClassFamily) or not fam.b:
            continue
        nodes = fam.classes if isinstance(fam, ir.ClassFamily) else fam.nodes
        for term, other in ((fam.y, fam.b), (fam.b, fam.y)):
            covered = learned_vars.get(term)
            pos = model.variables[term].positions(nodes)
            loose = [n for n, p in zip(nodes, pos, strict=True)
                     if (term, n) not in computed and (covered is None or not covered[p])]
            # a second neuron output at the same nodes: inference computes one per node
            dropped = [n for n, p in zip(nodes, pos, strict=True)
                       if (term, n) in computed and (term, n) not in inferred
                       and (covered is None or not covered[p])]
            if dropped and term == fam.y:
                # predictions read the node's inferred value, another neuron's output
                names = ", ".join(model.node_name(n) for n in dropped[:6])
                theirs = next((f for f in model.families if isinstance(f, ir.BilinearFamily)
                               and f.y and (f.y, dropped[0]) in inferred), None)
                source = f"{theirs.y} from constraint {theirs.name}" if theirs else "another"
                yield ir.ModelWarning(
                    f"constraint {fam.name}: {term} of {names} is computed by a neuron that "
                    f"inference does not evaluate: inference computes one value per node, "
                    f"here {source}, so {fam.name} is neither predicted nor scored",
                    fam.span,
                    hint="give each network its own output nodes (e.g. `nodes C2[...]`) to "
                         "predict and score both")
            elif dropped:
                names = ", ".join(model.node_name(n) for n in dropped[:6])
                yield ir.ModelWarning(
                    f"constraint {fam.name}: {term} of {names} is computed by a neuron that "
                    f"inference does not evaluate (it computes {other}'s there): predictions "
                    f"take {term} as 0 while training does not",
                    fam.span,
                    hint=f"subtract a learned bias (`{other}[k, i] - b[k, i]` with `agree "
                         f"b[*, j]`), and feed {term}'s neuron into other nodes")
            if not loose:
                continue
            names = ", ".join(model.node_name(n) for n in loose[:6])
            more = f" and {len(loose) - 6} more" if len(loose) > 6 else ""
            yield ir.ModelWarning(
                f"constraint {fam.name}: {term} of {names}{more} is neither computed by a "
                f"neuron nor tied by a consensus over items, so each item's {term} is free: "
                f"the constraint holds whatever {other} is, nothing learns {term}, and "
                "inference takes it as 0",
                fam.span,
                hint=f"tie it together, e.g. `constraint bias for j in ...: agree "
                     f"{term}[*, j]` over these nodes")


def lower(model: ir.Model, plan: SplitPlan | None = None) -> Plan:
    """Lower an elaborated model to the plan the backends emit."""
    from .kinds import kind_of
    from .split import split

    plan = plan or split(model)
    families = tuple(kind_of(f).lower(model, f, plan.sets[f.name]) for f in model.families)
    learned = tuple(lp for lf in families for lp in kind_of(lf.family).learned(model, lf))
    learned_vars = _covered(model, learned)
    owners = edge_owners(model)
    schedules = {p.name: _schedule(model, p, learned_vars, owners) for p in model.batch.parts}
    inferred = _inferred(schedules)
    elsewhere = _predicted_elsewhere(model, learned_vars, inferred)
    targets = tuple(
        replace(t, infer=next(p.name for p in model.batch.parts if overlaps(t.part, p)))
        for f in model.families if f.name not in elsewhere
        for t in kind_of(f).targets(model, f))
    return Plan(model, plan, families, learned, schedules, targets, owners,
                tuple(_unlearned_terms(model, learned_vars, inferred)))


def _predicted_elsewhere(model: ir.Model, learned_vars: dict[str, np.ndarray],
                         inferred: set[tuple[str, int]]) -> set[str]:
    """The activation and class constraints whose y is computed by a neuron that inference
    does not evaluate: their nodes' inferred values are another neuron's, so their
    predictions would be another network's (two networks onto the same class nodes reported
    the first one's error as the second's: a user test)."""
    computed = {(f.y, n) for f in model.families
                if isinstance(f, ir.BilinearFamily) and f.y for n in f.nodes}
    out = set()
    for fam in model.families:
        if not isinstance(fam, ir.ActivationFamily | ir.ClassFamily) or not fam.y:
            continue
        nodes = fam.classes if isinstance(fam, ir.ClassFamily) else fam.nodes
        covered = learned_vars.get(fam.y)
        pos = model.variables[fam.y].positions(nodes)
        if any((fam.y, n) in computed and (fam.y, n) not in inferred
               and (covered is None or not covered[p]) for n, p in zip(nodes, pos, strict=True)):
            out.add(fam.name)
    return out
