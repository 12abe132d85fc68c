"""Stage 3, split: the constraint families → the two sets A and B of the RRR algorithm.

Every constraint family is a vertex of the *family graph*; two families are joined when they touch
a common element of some variable. When (i) the instances of each family touch disjoint elements,
(ii) no element is touched by more than two families and (iii) the family graph is bipartite, the
projection onto each side is a product of independent local projections (PJAX Thm 2; Elser
Sect. 4.1 and 5.1: A = node consensus with its data/activation/class side constraint and weight
consensus with its norm, B = the bilinear neuron constraints and the bias consensus). This module
checks (i)-(iii) with located errors and derives A and B; the user never writes them.

The footprint of a family on one variable is always a product, batch items × positions along the
variable's axis, so the checks run on position masks per range of batch items, never on the
(possibly 10⁸) individual elements. `footprint` materializes the elements when a caller wants them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np

from . import ir
from .errors import SplitError
from .files import publish, temp_for
from .kinds import kind_of

__all__ = [
    "OddCycle", "PinConflict", "SplitPlan", "Touch", "assign_sets", "describe_element",
    "footprint", "format_split", "split", "touches", "write_graph",
]

COLORS = {"A": "#1f77b4", "B": "#ff7f0e"}  # matplotlib's default blue and orange
HINT_THIRD = "introduce a consensus copy (replicate the variable and add an agree constraint)"
HINT_CYCLE = (
    "replicate a variable on the cycle through a consensus: give one of these constraints its "
    "own copy of a shared variable and add an `agree` constraint that ties the copies together"
)
HINT_PIN = "remove one of the pins; lwlc derives A and B by itself (PJAX Thm 2)"
HINT_OVERLAP = (
    "each instance of a constraint must own its elements (its projection is then a product); "
    "split the constraint so that its instances do not overlap"
)


# --- footprints ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Touch:
    """The elements of one variable that one family touches: batch items × positions.

    items: the global batch items [start, stop) the family ranges over, None without a batch loop.
    per_item: instance ids are k_local * stride + owner (one instance per item); otherwise owner
    (a consensus over items: one instance per node, all items are its replicas).
    pos: positions along the variable's axis (edge positions or indices into `var.nodes`).
    owner: for each position, the index of its instance's node in `family.nodes` (0 for a class
    constraint, whose instance is the item alone).
    """

    family: str
    var: str
    batched: bool  # the variable has a batch axis
    size: int  # the variable's non-batch length
    items: tuple[int, int] | None
    per_item: bool
    stride: int
    pos: np.ndarray
    owner: np.ndarray

    @property
    def n_items(self) -> int:
        return 0 if self.items is None else self.items[1] - self.items[0]

    def materialize(self) -> tuple[np.ndarray, np.ndarray]:
        """(flat element ids, instance ids), element id = item * size + position if batched."""
        pos = self.pos.astype(np.int64)
        owner = self.owner.astype(np.int64)
        if self.items is None:
            return pos, owner
        start, stop = self.items
        ks = np.arange(start, stop, dtype=np.int64)
        if self.batched:
            elements = (ks[:, None] * self.size + pos[None, :]).ravel()
        else:
            elements = np.broadcast_to(pos, (ks.size, pos.size)).ravel()
        if self.per_item:
            inst = ((ks - start)[:, None] * self.stride + owner[None, :]).ravel()
        else:
            inst = np.broadcast_to(owner, (ks.size, owner.size)).ravel()
        return elements, inst


class _EdgeCache:
    """`EdgeSet.edges_of` results, shared by the families of one model."""

    def __init__(self, model: ir.Model):
        self.model = model
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, var: ir.Variable, direction: str, nodes: tuple[int, ...]):
        key = (var.edge_set, direction, nodes)
        if key not in self.cache:
            self.cache[key] = self.model.edge_sets[var.edge_set].edges_of(direction, nodes)
        return self.cache[key]


def _node_positions(model: ir.Model, var: ir.Variable, nodes) -> np.ndarray:
    lookup = np.full(model.n_nodes, -1, dtype=np.int64)
    lookup[np.asarray(var.nodes, dtype=np.int64)] = np.arange(len(var.nodes))
    pos = lookup[np.asarray(nodes, dtype=np.int64)]
    if np.any(pos < 0):  # the elaborator guarantees this never happens
        bad = int(np.asarray(nodes)[np.argmin(pos)])
        raise SplitError(f"{model.node_name(bad)} is not an index of {var.name}", var.span)
    return pos


class Footprint:
    """What one family touches, collected through its kind's `touches` (lwlc/kinds)."""

    def __init__(self, model: ir.Model, family: ir.Family, edges: _EdgeCache):
        self.model, self.family, self.edge_cache = model, family, edges
        part = family.part
        if part is None and model.batch is not None and kind_of(family).COVERS_BATCH:
            part = model.batch.whole
        self.items = None if part is None else (part.start, part.stop)
        self.out: list[Touch] = []

    def add(self, name: str, pos, owner, *, per_item: bool = True, stride: int | None = None):
        var = self.model.variables[name]
        rng = self.items
        if rng is None and var.batched:  # a batched variable is always read per item
            rng = (0, self.model.batch.size)
        nodes = self.family.nodes
        self.out.append(Touch(
            self.family.name, name, var.batched, var.size, rng, per_item and rng is not None,
            len(nodes) if stride is None else stride,
            np.asarray(pos, dtype=np.int64), np.asarray(owner, dtype=np.int64),
        ))

    def nodes(self, name: str, per_item: bool = True) -> None:
        """One element per node of the loop (y[k, i], b[*, j])."""
        nodes = self.family.nodes
        self.add(name, _node_positions(self.model, self.model.variables[name], nodes),
                 np.arange(len(nodes)), per_item=per_item)

    def edges(self, name: str, direction: str, per_item: bool = True) -> None:
        """The in(j)/out(i) edges of each node of the loop."""
        var = self.model.variables[name]
        self.add(name, *self.edge_cache(var, direction, self.family.nodes), per_item=per_item)

    def classes(self, name: str, nodes) -> None:
        """A fixed group of nodes, all in one instance per item (y[k, C])."""
        pos = _node_positions(self.model, self.model.variables[name], nodes)
        self.add(name, pos, np.zeros(len(pos)), stride=1)


def touches(model: ir.Model, family: ir.Family, _edges: _EdgeCache | None = None) -> list[Touch]:
    """The compact footprints of `family`, one per variable reference (Elser Sect. 4.1, 5.1),
    as its kind declares them."""
    t = Footprint(model, family, _edges or _EdgeCache(model))
    kind_of(family).touches(family, t)
    return t.out


def footprint(model: ir.Model, family: ir.Family) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each variable the family touches: (flat element ids, instance ids), int64.

    Element id = item * var.size + position (batched) or position; instance ids are unique within
    the family (k_local * len(nodes) + node index, node index, or k_local).
    """
    out: dict[str, list] = {}
    for t in touches(model, family):
        out.setdefault(t.var, []).append(t.materialize())
    return {v: parts[0] if len(parts) == 1 else
            (np.concatenate([e for e, _ in parts]), np.concatenate([i for _, i in parts]))
            for v, parts in out.items()}


class _Footprints(Mapping):
    """family name → footprint, computed on first use and kept."""

    def __init__(self, model: ir.Model):
        self._model = model
        self._cache: dict[str, dict] = {}

    def __getitem__(self, name: str):
        if name not in self._cache:
            self._cache[name] = footprint(self._model, self._model.family(name))
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return (f.name for f in self._model.families)

    def __len__(self) -> int:
        return len(self._model.families)


# --- readable element and instance names -----------------------------------------------------


def _item_name(model: ir.Model, item: int) -> str:
    b = model.batch
    text = f"{b.index}={item}"
    if len(b.parts) > 1:
        for p in b.parts:
            if p.start <= item < p.stop:
                text += f" ({p.name}[{item - p.start}])"
    return text


def describe_element(model: ir.Model, var: str, item: int | None, pos: int) -> str:
    """`y[k=3, H1[4]]`, `x[k=0, D[0] -> H1[2]]` or `w[D[0] -> H1[2]]`."""
    v = model.variables[var]
    if v.axis == "edges":
        es = model.edge_sets[v.edge_set]
        where = f"{model.node_name(int(es.tail[pos]))} -> {model.node_name(int(es.head[pos]))}"
    else:
        where = model.node_name(v.nodes[pos])
    if v.batched and item is not None:
        return f"{var}[{_item_name(model, item)}, {where}]"
    return f"{var}[{where}]"


def _instance_name(model: ir.Model, family: ir.Family, t: Touch, item: int | None, owner: int):
    parts = []
    if t.per_item and item is not None:
        parts.append(_item_name(model, item))
    if family.nodes is not None:
        parts.append(model.node_name(family.nodes[owner]))
    return "(" + ", ".join(parts) + ")"


def _where(family: ir.Family) -> str:
    return f"'{family.name}' (line {family.span.line})"


# --- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SplitPlan:
    """The derived split: each family's set, the family graph and the variables' coverage."""

    sets: dict[str, str]  # family name → "A" | "B"
    graph: nx.Graph = field(repr=False)
    free: dict[str, tuple[str, ...]]  # variables touched by fewer than two families → those
    footprints: Mapping[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(repr=False)
    touches: dict[str, tuple[Touch, ...]] = field(repr=False, default_factory=dict)
    coverage: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # var → (A, B, all)
    untouched: dict[str, int] = field(default_factory=dict)  # var → elements in no constraint

    @property
    def A(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.sets.items() if s == "A")

    @property
    def B(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.sets.items() if s == "B")


@dataclass(frozen=True)
class OddCycle:
    """A shortest odd cycle of the family graph, as vertices in order (not repeated at the end)."""

    vertices: tuple[str, ...]


@dataclass(frozen=True)
class PinConflict:
    """Two pinned vertices whose pins contradict the 2-coloring; `path` joins them."""

    first: str
    second: str
    path: tuple[str, ...]


def _bfs(graph: nx.Graph, root: str, rank: dict[str, int]):
    dist, parent, order = {root: 0}, {root: None}, [root]
    for u in order:
        for v in sorted(graph[u], key=rank.__getitem__):
            if v not in dist:
                dist[v], parent[v] = dist[u] + 1, u
                order.append(v)
    return dist, parent, order


def _shortest_odd_cycle(graph: nx.Graph, comp: list[str], rank: dict[str, int]) -> OddCycle:
    best = None
    for r in comp:
        dist, parent, order = _bfs(graph, r, rank)
        found = next(((u, v) for u in order for v in sorted(graph[u], key=rank.__getitem__)
                      if dist[u] == dist[v]), None)
        if found and (best is None or 2 * dist[found[0]] + 1 < best[0]):
            best = (2 * dist[found[0]] + 1, *found, parent)
    _, u, v, parent = best

    def up(x):
        path = []
        while x is not None:
            path.append(x)
            x = parent[x]
        return path

    pu, pv = up(u), up(v)
    on_v = set(pv)
    lca = next(x for x in pu if x in on_v)
    cycle = pu[: pu.index(lca) + 1][::-1] + pv[: pv.index(lca)]  # lca … u, v … (toward lca)
    # rotate to start at the first-declared vertex, then go toward its earlier neighbour
    i = min(range(len(cycle)), key=lambda j: rank[cycle[j]])
    cycle = cycle[i:] + cycle[:i]
    if len(cycle) > 2 and rank[cycle[-1]] < rank[cycle[1]]:
        cycle = [cycle[0]] + cycle[1:][::-1]
    return OddCycle(tuple(cycle))


def assign_sets(
    graph: nx.Graph, pins: Mapping[str, str], bilinear, order
) -> dict[str, str] | OddCycle | PinConflict:
    """2-color the family graph into A and B deterministically (PJAX Thm 2, Elser Sect. 5.1).

    Per connected component (in declaration `order`): the pins decide when there are any;
    otherwise the bilinear families (the first declared, if they disagree) go to B; otherwise the
    first-declared family goes to A. Isolated vertices go to A unless pinned. Returns the sets, or
    a shortest odd cycle of the first non-bipartite component, or the first contradicting pins.
    """
    order = list(order)
    rank = {n: i for i, n in enumerate(order)}
    bilinear = set(bilinear)
    seen: set[str] = set()
    sets: dict[str, str] = {}
    for root in order:
        if root in seen:
            continue
        dist, parent, comp = _bfs(graph, root, rank)
        seen.update(comp)
        color = {n: d % 2 for n, d in dist.items()}
        if any(color[u] == color[v] for u in comp for v in graph[u]):
            return _shortest_odd_cycle(graph, sorted(comp, key=rank.__getitem__), rank)
        members = sorted(comp, key=rank.__getitem__)
        pinned = [n for n in members if pins.get(n) in ("A", "B")]
        flip = None  # color 0 → A unless flipped
        if pinned:
            first = pinned[0]
            flip = (pins[first] == "B") != (color[first] == 1)
            for n in pinned[1:]:
                if ((pins[n] == "B") != (color[n] == 1)) != flip:
                    path = nx.shortest_path(graph, first, n)
                    return PinConflict(first, n, tuple(path))
        elif len(members) > 1 and any(n in bilinear for n in members):
            b = next(n for n in members if n in bilinear)
            flip = color[b] == 0
        else:
            flip = False
        for n in members:
            sets[n] = "AB"[color[n] ^ int(flip)]
    return {n: sets[n] for n in order}


def _check_within(model: ir.Model, family: ir.Family, ts: list[Touch]) -> None:
    """Instances of one family touch disjoint elements (else P_family is no product)."""
    by_var: dict[str, list[Touch]] = {}
    for t in ts:
        by_var.setdefault(t.var, []).append(t)
    for var, group in by_var.items():
        t0 = group[0]
        pos = np.concatenate([t.pos for t in group])
        owner = np.concatenate([t.owner for t in group])
        item0 = None if t0.items is None else t0.items[0]
        if pos.size and not t0.batched and t0.per_item and t0.n_items > 1:
            # an unbatched variable read by every item: items 0 and 1 share each element
            p = int(pos[0])
            a = _instance_name(model, family, t0, item0, int(owner[0]))
            b = _instance_name(model, family, t0, item0 + 1, int(owner[0]))
            raise SplitError(
                f"two instances of constraint '{family.name}', {a} and {b}, both touch "
                f"{describe_element(model, var, None, p)} (line {family.span.line}); "
                f"{var} has no batch index",
                family.span,
                hint=f"drop the batch loop from the for clause, or give {var} a batch index "
                f"(var {var}[{model.batch.index}, ...]) and agree its copies over items "
                f"({var}[*, ...])",
            )
        counts = np.bincount(pos, minlength=t0.size)
        dup = np.flatnonzero(counts > 1)
        if not dup.size:
            continue
        p = int(dup[0])
        idx = np.flatnonzero(pos == p)
        o1, o2 = int(owner[idx[0]]), int(owner[idx[1]])
        elem = describe_element(model, var, item0, p)
        if o1 == o2:
            raise SplitError(
                f"constraint '{family.name}' touches {elem} twice in one instance "
                f"{_instance_name(model, family, t0, item0, o1)} (line {family.span.line})",
                family.span,
                hint="use distinct variables for the terms of one constraint",
            )
        a = _instance_name(model, family, t0, item0, o1)
        b = _instance_name(model, family, t0, item0, o2)
        raise SplitError(
            f"two instances of constraint '{family.name}', {a} and {b}, both touch {elem} "
            f"(line {family.span.line})",
            family.span, hint=HINT_OVERLAP,
        )


@dataclass
class _Use:
    """One family's footprint on one variable: items [start, stop) × a position mask."""

    family: int
    start: int
    stop: int
    mask: np.ndarray


def _segments(uses: list[_Use]) -> Iterator[tuple[int, int, list[_Use]]]:
    """Item ranges [lo, hi) on which a fixed subset of the uses is active, with that subset."""
    cuts = sorted({u.start for u in uses} | {u.stop for u in uses})
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=False):
        active = [u for u in uses if u.start <= lo and hi <= u.stop]
        if active:
            yield lo, hi, active


def split(model: ir.Model) -> SplitPlan:
    """Check the model's constraint families and split them into A and B (PJAX Thm 2)."""
    fams = list(model.families)
    names = [f.name for f in fams]
    edges = _EdgeCache(model)
    all_touches = {f.name: touches(model, f, edges) for f in fams}
    for f in fams:
        _check_within(model, f, all_touches[f.name])

    # per variable: which families use which elements
    uses: dict[str, list[_Use]] = {v: [] for v in model.variables}
    for i, f in enumerate(fams):
        grouped: dict[str, list[Touch]] = {}
        for t in all_touches[f.name]:
            grouped.setdefault(t.var, []).append(t)
        for var, group in grouped.items():
            mask = np.zeros(group[0].size, dtype=bool)
            for t in group:
                mask[t.pos] = True
            t0 = group[0]
            lo, hi = t0.items if (t0.batched and t0.items is not None) else (0, 1)
            uses[var].append(_Use(i, lo, hi, mask))

    graph = nx.Graph()
    for f in fams:
        graph.add_node(f.name, kind=f.kind, line=f.span.line, pin=f.pin)
    shared: dict[tuple[int, int], set[str]] = {}
    third: SplitError | None = None  # raised once the graph is complete (for `lwlc graph`)
    for var, us in uses.items():
        for lo, _hi, active in _segments(us):
            if len(active) < 2:
                continue
            count = np.zeros(active[0].mask.size, dtype=np.int16)
            for u in active:
                count += u.mask
            if count.max() > 2 and third is None:
                p = int(np.argmax(count > 2))
                three = [fams[u.family] for u in active if u.mask[p]][:3]
                elem = describe_element(model, var, lo, p)
                hint, at = HINT_THIRD, three[2]
                alike = next(((f, g) for i, f in enumerate(three) for g in three[i + 1:]
                              if f.kind == g.kind), None)
                if alike is not None:  # two of a kind: `for` domains that overlap
                    f, g = alike
                    at = g
                    overlap = f.nodes is None or g.nodes is None or set(f.nodes) & set(g.nodes)
                    hint = (f"'{f.name}' and '{g.name}' are both {f.kind} constraints on this "
                            "element: their `for` domains overlap; make them disjoint (e.g. "
                            "`i in N - D` for the rest of N), or introduce a consensus copy"
                            if overlap else
                            f"'{f.name}' and '{g.name}' are both {f.kind} constraints on this "
                            "element, over different nodes: an edge's element is the out-edge "
                            "of its tail and the in-edge of its head, and each reaches it from "
                            "one end; give one of them an edge variable of its own")
                third = SplitError(
                    f"{elem} is touched by three constraints: "
                    + ", ".join(_where(f) for f in three)
                    + "; a variable element may appear in at most two (one in A, one in B)",
                    at.span, hint=hint,
                )
                third.families = tuple(f.name for f in three)
                third.variables = (var,)
            for a in range(len(active)):
                for b in range(a + 1, len(active)):
                    ua, ub = active[a], active[b]
                    if np.any(ua.mask & ub.mask):
                        shared.setdefault((ua.family, ub.family), set()).add(var)
    for (a, b), vs in sorted(shared.items()):
        graph.add_edge(names[a], names[b], variables=tuple(sorted(vs)))
    if third is not None:
        third.graph = graph
        raise third

    pins = {f.name: f.pin for f in fams if f.pin}
    preferring_b = [f.name for f in fams if kind_of(f).PREFERRED_SET == "B"]
    result = assign_sets(graph, pins, preferring_b, names)
    if isinstance(result, OddCycle):
        raise _odd_cycle_error(model, graph, result)
    if isinstance(result, PinConflict):
        err = _pin_error(model, graph, result)
        err.graph, err.families, err.cycle = graph, (result.first, result.second), result.path
        raise err
    sets = result
    nx.set_node_attributes(graph, sets, "set")

    # element level, after assignment: within one set every element has at most one owner
    coverage: dict[str, tuple[int, int, int]] = {}
    untouched: dict[str, int] = {}
    for var, us in uses.items():
        v = model.variables[var]
        n_items = model.batch.size if (v.batched and model.batch) else 1
        covered = {"A": 0, "B": 0}
        touched = 0
        for lo, hi, active in _segments(us):
            touched += int(np.count_nonzero(np.logical_or.reduce([u.mask for u in active]))
                           ) * (hi - lo)
            for s in "AB":
                members = [u for u in active if sets[names[u.family]] == s]
                if not members:
                    continue
                count = np.zeros(v.size, dtype=np.int16)
                for u in members:
                    count += u.mask
                if count.max() > 1:
                    p = int(np.argmax(count > 1))
                    two = [fams[u.family] for u in members if u.mask[p]][:2]
                    err = SplitError(
                        f"constraints {_where(two[0])} and {_where(two[1])} are both in set {s} "
                        f"and both touch {describe_element(model, var, lo, p)}",
                        two[1].span, hint=HINT_CYCLE,
                    )
                    err.graph, err.families = graph, (two[0].name, two[1].name)
                    err.variables = (var,)
                    raise err
                covered[s] += int(np.count_nonzero(count)) * (hi - lo)
        coverage[var] = (covered["A"], covered["B"], n_items * v.size)
        if us and touched < n_items * v.size:
            untouched[var] = n_items * v.size - touched

    users: dict[str, list[str]] = {v: [] for v in model.variables}
    for var, us in uses.items():
        for u in us:
            if names[u.family] not in users[var]:
                users[var].append(names[u.family])
    free = {v: tuple(fs) for v, fs in users.items() if len(fs) < 2}
    return SplitPlan(
        sets=sets, graph=graph, free=free, footprints=_Footprints(model),
        touches={n: tuple(ts) for n, ts in all_touches.items()}, coverage=coverage,
        untouched=untouched,
    )


def _edge_vars(graph: nx.Graph, a: str, b: str) -> str:
    return ", ".join(graph.edges[a, b]["variables"])


def _odd_cycle_error(model: ir.Model, graph: nx.Graph, cyc: OddCycle) -> SplitError:
    vs = list(cyc.vertices)
    chain = _where(model.family(vs[0]))
    for a, b in zip(vs, vs[1:] + vs[:1], strict=True):
        chain += f" —[{_edge_vars(graph, a, b)}]— " + (
            _where(model.family(b)) if b != vs[0] else f"'{b}'"
        )
    err = SplitError(
        f"the constraints cannot be split into two sets A and B: {len(vs)} of them form an odd "
        f"cycle, each sharing variable elements with the next: {chain}",
        model.family(vs[0]).span, hint=HINT_CYCLE,
    )
    # for `lwlc graph`, which draws the graph of a model that does not split
    err.graph, err.cycle, err.families = graph, tuple(vs), tuple(vs)
    return err


def _pin_error(model: ir.Model, graph: nx.Graph, pc: PinConflict) -> SplitError:
    f1, f2 = model.family(pc.first), model.family(pc.second)
    same = (len(pc.path) - 1) % 2 == 0
    chain = f"'{pc.path[0]}'" + "".join(
        f" —[{_edge_vars(graph, a, b)}]— '{b}'"
        for a, b in zip(pc.path, pc.path[1:], strict=False)
    )
    need = "the same set" if same else "different sets"
    return SplitError(
        f"constraint {_where(f1)} is pinned to {f1.pin} and {_where(f2)} to {f2.pin}, but they "
        f"must lie in {need}: {chain}",
        f2.span, hint=HINT_PIN,
    )


# --- reports ---------------------------------------------------------------------------------


def _instances(model: ir.Model, family: ir.Family) -> int:
    return kind_of(family).instances(family)


def format_split(model: ir.Model, plan: SplitPlan) -> str:
    """The split as a table for `lwlc check`: family, set, instances, variables, line."""
    rows = [("constraint", "set", "kind", "instances", "touches", "line")]
    for f in model.families:
        rows.append((f.name, plan.sets[f.name], f.kind, f"{_instances(model, f):,}",
                     ", ".join(f.variables), str(f.span.line)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    right = {3, 5}
    lines = [
        f"split of {model.name} (PJAX Thm 2): A = {len(plan.A)} constraint(s), "
        f"B = {len(plan.B)} constraint(s)"
    ]
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  " + "  ".join(cells).rstrip())
    if plan.coverage:
        lines.append("")
        vrows = [("variable", "elements", "in A", "in B")]
        for v, (a, b, n) in plan.coverage.items():
            vrows.append((v, f"{n:,}", f"{a:,}", f"{b:,}"))
        vw = [max(len(r[c]) for r in vrows) for c in range(4)]
        for r in vrows:
            lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                          for i, (c, w) in enumerate(zip(r, vw, strict=True))))
    lines.append("")
    if plan.free:
        lines.append("free variables (touched by fewer than two constraints):")
        for v, fs in plan.free.items():
            lines.append(f"  {v}: " + (", ".join(fs) if fs else "unused"))
    else:
        lines.append("free variables: none")
    if plan.untouched:
        lines.append("elements in no constraint (RRR leaves them at their initial values):")
        for v, n in plan.untouched.items():
            lines.append(f"  {v}: {n:,} of {plan.coverage[v][2]:,}")
    return "\n".join(lines)


def _dot_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(model: ir.Model, plan: SplitPlan) -> str:
    g = plan.graph
    out = [f"graph {_dot_quote(model.name)} {{", "  rankdir=LR;",
           '  node [shape=box, style="rounded,filled", fontcolor=white];']
    for s in "AB":
        out.append(f"  subgraph cluster_{s} {{")
        out.append(f'    label="set {s}"; color={_dot_quote(COLORS[s])};')
        for n in (f.name for f in model.families if plan.sets[f.name] == s):
            label = f"{n}\\nline {g.nodes[n]['line']}"
            out.append(f'    {_dot_quote(n)} [label="{label}", '
                       f"fillcolor={_dot_quote(COLORS[s])}];")
        out.append("  }")
    for a, b, data in g.edges(data=True):
        out.append(f"  {_dot_quote(a)} -- {_dot_quote(b)} "
                   f"[label={_dot_quote(', '.join(data['variables']))}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _draw(model: ir.Model, plan: SplitPlan, path: str, fmt: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = plan.graph
    pos = {}  # bipartite layout: A left, B right, each in declaration order from the top
    for x, side in ((0.0, plan.A), (1.0, plan.B)):
        for i, n in enumerate(side):
            pos[n] = (x, (len(side) - 1) / 2 - i)
    height = max(3.0, 0.9 * max(len(plan.A), len(plan.B)))
    fig, ax = plt.subplots(figsize=(8, height))
    try:
        nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#777777")
        nx.draw_networkx_edge_labels(
            g, pos, ax=ax, font_size=8, label_pos=0.3,
            edge_labels={(a, b): ", ".join(d["variables"]) for a, b, d in g.edges(data=True)},
        )
        nx.draw_networkx_nodes(g, pos, ax=ax, node_size=1800,
                               node_color=[COLORS[plan.sets[n]] for n in g.nodes])
        nx.draw_networkx_labels(g, pos, ax=ax, font_size=8, font_color="white",
                                labels={n: f"{n}\nline {g.nodes[n]['line']}" for n in g.nodes})
        ax.set_title(f"{model.name}: A (blue, left) and B (orange, right)")
        ax.margins(0.2)
        ax.axis("off")
        fig.savefig(path, format=fmt, bbox_inches="tight")
    finally:
        plt.close(fig)


def graph_format(path: Path) -> str:
    """The picture's format from the file's suffix; DOT text into what is no regular file
    (/dev/stdout, a pipe), which has none."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("dot", "svg", "png") and path.exists() and not path.is_dir() \
            and not path.is_file():
        return "dot"
    return fmt


def write_graph(model: ir.Model, plan: SplitPlan, path) -> None:
    """Write the family graph as .dot, .svg or .png (atomically: temp file + os.replace)."""
    path = Path(path)
    fmt = graph_format(path)
    if path.is_dir():
        raise SplitError(f"{path} is a directory, not a file", None,
                         hint="name the file *.dot (Graphviz), *.svg or *.png")
    if fmt not in ("dot", "svg", "png"):
        raise SplitError(
            f"cannot write the constraint graph as '{path.suffix or path.name}'",
            None, hint="name the file *.dot (Graphviz), *.svg or *.png",
        )
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = temp_for(directory / path.name, suffix=f".{fmt}")
    try:
        if fmt == "dot":
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(_dot(model, plan))
        else:
            os.close(fd)
            _draw(model, plan, tmp, fmt)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
