"""Tests of the split stage: footprints, the A/B derivation (PJAX Thm 2, Elser Sect. 4.1, 5.1),
its located errors, and the graph writers."""

from __future__ import annotations

import time
from itertools import combinations
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwlc import ir
from lwlc.elaborate import elaborate, load_model
from lwlc.errors import ModelError, ParseError, SplitError
from lwlc.parse import parse_text
from lwlc.split import (
    OddCycle,
    PinConflict,
    assign_sets,
    footprint,
    format_split,
    split,
    write_graph,
)

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted((ROOT / "models").glob("*.lwl"))


def model_of(text: str, file: str = "t.lwl") -> ir.Model:
    return elaborate(parse_text(text, file))


def split_error(text: str, file: str = "t.lwl") -> SplitError:
    with pytest.raises(SplitError) as info:
        split(model_of(text, file))
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- an independent, loop-by-loop footprint (slow; for small models only) ------------------


def naive_footprint(model: ir.Model, f: ir.Family) -> dict[str, set[tuple[int, int]]]:
    """{var: {(element id, instance id)}} written out instance by instance from the brief."""
    out: dict[str, set[tuple[int, int]]] = {}

    def put(var, item, pos, inst):
        v = model.variables[var]
        el = item * v.size + pos if v.batched else pos
        out.setdefault(var, set()).add((el, inst))

    def edges(var, direction, node):
        es = model.edge_sets[model.variables[var].edge_set]
        ends = es.head if direction == "in" else es.tail
        return [e for e in range(len(es)) if ends[e] == node]

    def npos(var, node):
        return model.variables[var].nodes.index(node)

    nodes = f.nodes or ()
    part = f.part
    ks = range(part.start, part.stop) if part is not None else [None]
    if isinstance(f, ir.ConsensusFamily) and f.over == "items":
        for j, node in enumerate(nodes):
            for k in ks:
                v = model.variables[f.var]
                for pos in (edges(f.var, f.direction, node) if v.axis == "edges"
                            else [npos(f.var, node)]):
                    put(f.var, k, pos, j)
        return out
    for kl, k in enumerate(ks):
        if isinstance(f, ir.ClassFamily):
            for var in (f.y, f.b):
                if var:
                    for c in f.classes:
                        put(var, k, npos(var, c), kl)
            continue
        for i, node in enumerate(nodes):
            inst = (kl * len(nodes) + i) if k is not None else i
            if isinstance(f, ir.ConsensusFamily):
                for e in edges(f.var, f.direction, node):
                    put(f.var, k, e, inst)
            elif isinstance(f, ir.ActivationFamily):
                for var in (f.y, f.b):
                    if var:
                        put(var, k, npos(var, node), inst)
                for e in edges(f.x, f.direction, node):
                    put(f.x, k, e, inst)
            elif isinstance(f, ir.BilinearFamily):
                for var in (f.x, f.w):
                    for e in edges(var, f.direction, node):
                        put(var, k, e, inst)
                if f.y:
                    put(f.y, k, npos(f.y, node), inst)
    return out


def check_plan(model: ir.Model, plan) -> None:
    """Element-level validity of a split, straight from the materialized footprints."""
    fps = {f.name: footprint(model, f) for f in model.families}
    per_var: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, fp in fps.items():
        for var, (el, _inst) in fp.items():
            # within a family every element has exactly one instance, and no repeats
            assert np.unique(el).size == el.size, (name, var)
            per_var.setdefault(var, []).append((name, el))
    for var, uses in per_var.items():
        for s in "AB":
            els = [el for name, el in uses if plan.sets[name] == s]
            if els:
                allel = np.concatenate(els)
                assert np.unique(allel).size == allel.size, (var, s)
        allel = np.concatenate([el for _, el in uses])
        _, counts = np.unique(allel, return_counts=True)
        assert counts.max() <= 2
        for (a, ea), (b, eb) in combinations(uses, 2):
            share = np.intersect1d(ea, eb).size > 0
            if share:
                assert plan.graph.has_edge(a, b)
                assert var in plan.graph.edges[a, b]["variables"]
            elif plan.graph.has_edge(a, b):
                assert var not in plan.graph.edges[a, b]["variables"]
    for a, b in plan.graph.edges:
        assert plan.sets[a] != plan.sets[b]


# --- the paper's models ----------------------------------------------------------------------


def test_majority_splits_as_the_paper():
    model = load_model(ROOT / "models" / "majority.lwl")
    plan = split(model)
    assert set(plan.A) == {"inputs", "hidden", "classes", "weights"}
    assert set(plan.B) == {"neuron", "bias"}
    assert plan.free == {}
    assert sorted(plan.graph.edges["hidden", "neuron"]["variables"]) == ["x", "y"]
    assert not plan.graph.has_edge("inputs", "hidden")  # both touch x, never the same element
    check_plan(model, plan)


def test_majority_footprints_match_the_definition():
    model = load_model(ROOT / "models" / "majority.lwl", {"k": 3})
    plan = split(model)
    for f in model.families:
        fp = plan.footprints[f.name]
        want = naive_footprint(model, f)
        assert set(fp) == set(want)
        for var, (el, inst) in fp.items():
            assert el.dtype == np.int64 and inst.dtype == np.int64
            assert set(zip(el.tolist(), inst.tolist(), strict=True)) == want[var]


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_models_split_like_the_paper(path):
    """Every bilinear family lands in B, every consensus with a side constraint in A."""
    try:
        model = load_model(path)
    except (ParseError, ModelError) as err:  # the front end's tests own these
        pytest.skip(f"{path.name} does not elaborate yet: {err.message}")
    plan = split(model)
    for f in model.families:
        if f.pin:
            assert plan.sets[f.name] == f.pin
            continue
        if isinstance(f, ir.BilinearFamily):
            assert plan.sets[f.name] == "B", f.name
        side = isinstance(f, ir.ActivationFamily | ir.ClassFamily) or (
            isinstance(f, ir.ConsensusFamily) and f.side.kind != "none"
        )
        if side:
            assert plan.sets[f.name] == "A", f.name
    text = format_split(model, plan)
    assert all(f.name in text for f in model.families)


AUTOENCODER = """\
model auto "cyclic autoencoder 784-200-10-200-784 (Elser Sect. 6.1)"
param omega = 1.0
param delta = 0.1
nodes D[784], E[200], Z[10], F[200]
group N = D | E | Z | F
edges W = dense(D -> E) + dense(E -> Z) + dense(Z -> F) + dense(F -> D)
batch k = data[200] + code[20]
input d[data, D]
var x[k, W]
var w[k, W]
var y[k, N] metric outdeg
var b[k, N] metric outdeg
sample s[code, Z] from agree x[data, out(Z)]
constraint data_fix  for k in data, i in D:  (y[k, i] - b[k, i], agree x[k, out(i)] == d[k, i]) in zigmoid(delta)
constraint data_free for k in data, i in E | Z | F: (y[k, i] - b[k, i], agree x[k, out(i)]) in zigmoid(delta)
constraint code_fix  for k in code, i in Z:  (y[k, i] - b[k, i], agree x[k, out(i)] == s[k, i]) in zigmoid(delta)
constraint code_free for k in code, i in D | E | F: (y[k, i] - b[k, i], agree x[k, out(i)]) in zigmoid(delta)
constraint weights   for j in N:             agree w[*, in(j)] in sphere(omega)
constraint neuron    for k, j in N:          dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
constraint bias      for j in N:             agree b[*, j]
"""  # noqa: E501


def test_mnist_autoencoder_splits_fast():
    model = model_of(AUTOENCODER, "auto.lwl")
    split(model)  # warm caches of numpy/networkx
    t0 = time.perf_counter()
    plan = split(model)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, elapsed
    assert set(plan.B) == {"neuron", "bias"}
    assert set(plan.A) == {"data_fix", "data_free", "code_fix", "code_free", "weights"}
    n_edges = 784 * 200 + 200 * 10 + 10 * 200 + 200 * 784
    assert plan.coverage["x"] == (220 * n_edges,) * 3
    assert plan.coverage["y"] == (220 * 1194,) * 3
    fp = plan.footprints["code_fix"]  # a small family: materialize and look
    el, inst = fp["y"]
    assert el.size == 20 * 10 and np.unique(inst).size == 200
    assert el.min() == 200 * 1194 + 784 + 200


# --- located errors --------------------------------------------------------------------------

HEAD = """\
model t
nodes D[2], H1[3], H2[2]
edges E = dense(D -> H1) + dense(H1 -> H2)
batch k[4]
var x[k, E]
var w[k, E]
var y[k, H1 | H2]
var b[k, H1 | H2]
var u[E]
"""


def test_odd_cycle_is_reported_with_names_and_lines():
    text = HEAD + """\
constraint act for k, i in H1: (y[k, i], agree x[k, out(i)]) in relu
constraint neuron for k, j in H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint tie for j in H1 | H2: agree y[*, j]
"""
    err = split_error(text)
    assert "odd cycle" in err.message
    for name in ("act", "neuron", "tie"):
        assert f"'{name}' (line {line_of(text, 'constraint ' + name)})" in err.message
    assert "—[x]—" in err.message and "—[y]—" in err.message
    assert err.span.line == line_of(text, "constraint act")
    assert "replicate a variable on the cycle through a consensus" in err.hint
    assert err.format().startswith(f"t.lwl:{err.span.line}:1: error:")


def test_triply_used_variable():
    text = HEAD + """\
constraint act for k, i in H1: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint neuron for k, j in H1 | H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint tie for j in H1: agree y[*, j]
"""
    err = split_error(text)
    assert err.message.startswith("y[k=0, H1[0]] is touched by three constraints")
    for name in ("act", "neuron", "tie"):
        assert f"'{name}' (line {line_of(text, 'constraint ' + name)})" in err.message
    assert err.span.line == line_of(text, "constraint tie")
    assert err.hint == ("introduce a consensus copy (replicate the variable and add an agree "
                        "constraint)")


def test_two_constraints_of_a_kind_over_overlapping_domains_are_named_in_the_hint():
    """`for k, i in N` where `N - D` was meant: the error pointed at a third family and
    hinted at a consensus copy (a user test)."""
    text = HEAD + """\
constraint first for k, i in H1: (y[k, i], agree x[k, out(i)]) in relu
constraint rest for k, i in H1: (y[k, i], agree x[k, out(i)]) in step(0.1)
constraint neuron for k, j in H1 | H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
"""
    err = split_error(text)
    assert "is touched by three constraints" in err.message
    assert err.span.line == line_of(text, "constraint rest")
    assert err.hint.startswith("'first' and 'rest' are both activation constraints on this "
                               "element: their `for` domains overlap")


def test_two_constraints_of_a_kind_over_different_nodes_are_not_said_to_overlap():
    """`act` over D's out-edges and `pos` over H1's in-edges meet on the edges D -> H1; the
    hint said that their `for` domains overlap, which they do not (a user test)."""
    text = HEAD.replace("var y[k, H1 | H2]", "var y[k, D | H1 | H2]") + """\
constraint act for k, i in D: (y[k, i], agree x[k, out(i)]) in relu
constraint neuron for k, j in H1 | H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint pos for k, i in H1: (y[k, i], agree x[k, in(i)]) in relu
"""
    err = split_error(text)
    assert "is touched by three constraints" in err.message
    assert "over different nodes" in err.hint and "domains overlap" not in err.hint


def test_triple_names_an_edge_readably():
    text = HEAD + """\
constraint a for k, i in H1: agree x[k, out(i)]
constraint c for k, j in H2: agree x[k, in(j)]
constraint d for j in H2: agree x[*, in(j)]
"""
    err = split_error(text)
    assert err.message.startswith("x[k=0, H1[0] -> H2[0]] is touched by three constraints")


def test_overlapping_instances_of_one_family():
    text = HEAD + "constraint shared for k, i in H1: agree u[out(i)]\n"
    err = split_error(text)
    assert err.message.startswith("two instances of constraint 'shared', (k=0, H1[0]) and "
                                  "(k=1, H1[0]), both touch u[H1[0] -> H2[0]]")
    assert f"(line {line_of(text, 'constraint shared')})" in err.message
    assert err.span.line == line_of(text, "constraint shared")


def test_one_instance_touching_an_element_twice():
    text = HEAD + "constraint act for k, i in H1: (y[k, i] - y[k, i], agree x[k, out(i)]) in relu\n"
    err = split_error(text)
    assert "touches y[k=0, H1[0]] twice" in err.message


def test_conflicting_pins():
    text = HEAD + """\
constraint act [A] for k, i in H1: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint neuron [A] for k, j in H1 | H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
"""
    err = split_error(text)
    la, ln = line_of(text, "constraint act"), line_of(text, "constraint neuron")
    assert f"'act' (line {la}) is pinned to A and 'neuron' (line {ln}) to A" in err.message
    assert "different sets" in err.message
    assert err.span.line == ln
    assert "pin" in err.hint


def test_pins_are_honored_and_orient_the_component():
    text = HEAD + """\
constraint act for k, i in H1: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint neuron [A] for k, j in H1 | H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
constraint lonely [B] for j in H2: agree b[*, j]
constraint alone for j in D: agree u[out(j)]
"""
    plan = split(model_of(text))
    assert plan.sets == {"act": "B", "neuron": "A", "lonely": "B", "alone": "A"}


def test_disjoint_parts_of_a_variable_are_not_shared():
    text = HEAD + """\
constraint a for k, i in H1: agree x[k, in(i)]
constraint c for k, i in H1: agree x[k, out(i)]
constraint d for k, i in H1 | H2: agree x[k, in(i)]
"""
    model = model_of(text)
    plan = split(model)
    assert plan.sets == {"a": "A", "c": "A", "d": "B"}
    assert not plan.graph.has_edge("a", "c")
    assert set(plan.free) == {"w", "y", "b", "u"}
    assert plan.free["w"] == ()
    check_plan(model, plan)


def test_same_set_check_at_element_level(monkeypatch):
    import lwlc.split as sp

    text = HEAD + """\
constraint act for k, i in H1: (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint neuron for k, j in H1 | H2: dot(x[k, in(j)], w[k, in(j)]) == y[k, j]
"""
    monkeypatch.setattr(sp, "assign_sets", lambda g, p, b, o: {n: "A" for n in o})
    err = split_error(text)
    assert "are both in set A and both touch" in err.message


# --- random models (hypothesis) --------------------------------------------------------------


@st.composite
def layered_models(draw):
    """Random feed-forward classifiers and cyclic autoencoders in the paper's formulation."""
    n_layers = draw(st.integers(2, 4))
    sizes = [draw(st.integers(1, 4)) for _ in range(n_layers)]
    cyclic = draw(st.booleans()) and n_layers >= 3
    classes = not cyclic and sizes[-1] >= 2 and draw(st.booleans())
    bias = draw(st.booleans())
    names = [f"L{i}" for i in range(n_layers)]
    lines = ["model r", "param omega = 1.5"]
    lines.append("nodes " + ", ".join(f"{n}[{s}]" for n, s in zip(names, sizes, strict=True)))
    pairs = list(zip(names, names[1:], strict=False)) + ([(names[-1], names[0])] if cyclic else [])
    terms = []
    for i, (a, b) in enumerate(pairs):
        fanin = draw(st.integers(1, sizes[names.index(a)]))
        # random(...) may leave a tail without out-edges; only the data layer may have such
        free_tail = i == 0 and not cyclic
        terms.append(f"random({a} -> {b}, fanin = {fanin}, seed = {i})"
                     if free_tail and draw(st.booleans()) else f"dense({a} -> {b})")
    lines.append("edges E = " + " + ".join(terms))
    n1 = draw(st.integers(1, 3))
    n2 = draw(st.integers(0, 2))
    lines.append(f"batch k = p1[{n1}] + p2[{n2}]" if n2 else f"batch k[{n1}]")
    heads = names if cyclic else names[1:]
    group = " | ".join(heads)
    lines.append(f"group N = {group}")
    lines.append("var x[k, E]")
    lines.append("var w[k, E]")
    lines.append("var y[k, N]")
    if bias:
        lines.append("var b[k, N]")
    z = "y[k, i] - b[k, i]" if bias else "y[k, i]"
    side = draw(st.sampled_from(["", " in sphere(omega)", " >= 0", " in nonneg & sphere(omega)"]))
    act = draw(st.sampled_from(["relu", "step(0.1)", "zigmoid(0.2)", "hardtanh"]))
    if not cyclic:
        lines.append(f"input d[k, {names[0]}]")
        lines.append(f"constraint data for k, i in {names[0]}: agree x[k, out(i)] == d[k, i]")
        hidden = names[1:-1] if classes else names[1:]
        outs = [n for n in hidden if n != names[-1]]
        if outs:
            lines.append(f"constraint act for k, i in {' | '.join(outs)}: "
                         f"({z}, agree x[k, out(i)]) in {act}")
        if classes:
            lines.append(f"label c[k] in {names[-1]}")
            zc = f"y[k, {names[-1]}]" + (f" - b[k, {names[-1]}]" if bias else "")
            lines.append(f"constraint cls for k: {zc} in margin(c[k], 0.1)")
    elif n2 and draw(st.booleans()):  # one activation constraint per batch part
        lines.append(f"constraint act1 for k in p1, i in N: ({z}, agree x[k, out(i)]) in {act}")
        lines.append(f"constraint act2 for k in p2, i in N: ({z}, agree x[k, out(i)]) in {act}")
    else:
        lines.append(f"constraint act for k, i in N: ({z}, agree x[k, out(i)]) in {act}")
    lines.append(f"constraint weights for j in N: agree w[*, in(j)]{side}")
    lines.append("constraint neuron for k, j in N: "
                 "dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]")
    if bias:
        lines.append("constraint bias for j in N: agree b[*, j]")
    return "\n".join(lines) + "\n"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layered_models())
def test_random_layered_models_split_validly(text):
    model = model_of(text)
    plan = split(model)
    check_plan(model, plan)
    for f in model.families:
        if isinstance(f, ir.BilinearFamily):
            assert plan.sets[f.name] == "B"
        if isinstance(f, ir.ActivationFamily | ir.ClassFamily) or (
            isinstance(f, ir.ConsensusFamily) and f.side.kind != "none"
        ):
            assert plan.sets[f.name] == "A"


@st.composite
def ring_models(draw):
    """Rings and paths of class constraints, each sharing one node variable with the next.

    Constraint i of a ring of length n touches v_i and v_{i+1 mod n}: an odd n is an odd cycle.
    A path ends in `agree v[*, j]` consensus constraints or in a class constraint on one variable.
    """
    rings = draw(st.lists(st.integers(2, 7), min_size=0, max_size=2))
    paths = draw(st.lists(st.integers(1, 5), min_size=0 if rings else 1, max_size=2))
    n_classes = draw(st.integers(2, 3))
    lines = ["model ring", f"nodes C[{n_classes}]", f"batch k[{draw(st.integers(1, 3))}]",
             "label c[k] in C"]
    cons, groups, nv = [], [], 0
    for n in rings:
        vs = [f"v{nv + i}" for i in range(n)]
        nv += n
        names = []
        for i in range(n):
            name = f"c{len(cons)}"
            cons.append(f"constraint {name} for k: {vs[i]}[k, C] - {vs[(i + 1) % n]}[k, C] "
                        "in margin(c[k], 0.1)")
            names.append(name)
        groups.append(("ring", names))
    for n in paths:  # n + 1 constraints along n variables
        vs = [f"v{nv + i}" for i in range(n)]
        nv += n
        names = []
        name = f"c{len(cons)}"
        if draw(st.booleans()):
            cons.append(f"constraint {name} for j in C: agree {vs[0]}[*, j]")
        else:
            cons.append(f"constraint {name} for k: {vs[0]}[k, C] in margin(c[k], 0.1)")
        names.append(name)
        for i in range(n - 1):
            name = f"c{len(cons)}"
            cons.append(f"constraint {name} for k: {vs[i]}[k, C] - {vs[i + 1]}[k, C] "
                        "in margin(c[k], 0.1)")
            names.append(name)
        name = f"c{len(cons)}"
        cons.append(f"constraint {name} for j in C: agree {vs[-1]}[*, j]")
        names.append(name)
        groups.append(("path", names))
    lines += [f"var v{i}[k, C]" for i in range(nv)]
    order = draw(st.permutations(range(len(cons))))
    lines += [cons[i] for i in order]
    return "\n".join(lines) + "\n", groups


@settings(max_examples=40, deadline=None)
@given(ring_models())
def test_random_rings_and_paths(case):
    text, groups = case
    model = model_of(text)
    odd = [names for kind, names in groups if kind == "ring" and len(names) % 2]
    if not odd:
        plan = split(model)
        check_plan(model, plan)
        return
    err = split_error(text)
    assert "odd cycle" in err.message
    # the reported cycle is exactly one of the odd rings, with every constraint's line
    reported = [names for names in odd
                if all(f"'{n}' (line {line_of(text, f'constraint {n} ')})" in err.message
                       for n in names)]
    assert reported
    assert f"{len(reported[0])} of them form an odd cycle" in err.message


# --- assign_sets on random graphs ------------------------------------------------------------


def shortest_odd_cycle_length(g: nx.Graph) -> int | None:
    """Via the bipartite double cover: the shortest (v, 0) → (v, 1) path is an odd closed walk."""
    cover = nx.Graph()
    cover.add_nodes_from((v, p) for v in g for p in (0, 1))
    for a, b in g.edges:
        cover.add_edge((a, 0), (b, 1))
        cover.add_edge((a, 1), (b, 0))
    best = None
    for v in g:
        try:
            d = nx.shortest_path_length(cover, (v, 0), (v, 1))
        except nx.NetworkXNoPath:
            continue
        best = d if best is None else min(best, d)
    return best


@st.composite
def graphs(draw, bipartite: bool):
    n = draw(st.integers(1, 12))
    order = [f"f{i}" for i in draw(st.permutations(range(n)))]
    g = nx.Graph()
    g.add_nodes_from(order)
    side = {v: draw(st.integers(0, 1)) for v in order}
    for a, b in combinations(order, 2):
        if (not bipartite or side[a] != side[b]) and draw(st.integers(0, 3)) == 0:
            g.add_edge(a, b)
    if not bipartite:  # make sure of an odd cycle
        k = draw(st.sampled_from([3, 5, 7]))
        if n < k:
            extra = [f"g{i}" for i in range(k - n)]
            order += extra
            g.add_nodes_from(extra)
        cyc = draw(st.permutations(order))[:k]
        nx.add_cycle(g, cyc)
    bil = draw(st.sets(st.sampled_from(order)))
    pins = draw(st.dictionaries(st.sampled_from(order), st.sampled_from("AB"), max_size=3))
    return g, order, bil, pins


@settings(max_examples=100, deadline=None)
@given(graphs(bipartite=True))
def test_assign_sets_on_bipartite_graphs(case):
    g, order, bil, pins = case
    result = assign_sets(g, pins, bil, order)
    if isinstance(result, PinConflict):
        path = result.path
        assert path[0] == result.first and path[-1] == result.second
        assert all(g.has_edge(a, b) for a, b in zip(path, path[1:], strict=False))
        same_set_needed = (len(path) - 1) % 2 == 0
        assert (pins[result.first] == pins[result.second]) != same_set_needed
        return
    assert isinstance(result, dict)
    assert list(result) == order
    assert all(result[a] != result[b] for a, b in g.edges)
    for v, p in pins.items():
        assert result[v] == p
    again = assign_sets(g, pins, bil, order)
    assert again == result
    for comp in nx.connected_components(g):
        members = sorted(comp, key=order.index)
        if any(v in pins for v in members):
            continue
        if len(members) == 1:
            assert result[members[0]] == "A"
        elif any(v in bil for v in members):
            assert result[next(v for v in members if v in bil)] == "B"
        else:
            assert result[members[0]] == "A"


@settings(max_examples=100, deadline=None)
@given(graphs(bipartite=False))
def test_assign_sets_reports_a_shortest_odd_cycle(case):
    g, order, bil, pins = case
    result = assign_sets(g, {}, bil, order)
    assert isinstance(result, OddCycle)
    cyc = result.vertices
    assert len(cyc) % 2 == 1 and len(set(cyc)) == len(cyc)
    assert all(g.has_edge(a, b) for a, b in zip(cyc, cyc[1:] + cyc[:1], strict=True))
    comp = nx.node_connected_component(g, cyc[0])
    assert len(cyc) == shortest_odd_cycle_length(g.subgraph(comp))


# --- graph output ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".dot", ".svg", ".png"])
def test_write_graph(tmp_path, suffix):
    model = load_model(ROOT / "models" / "majority.lwl")
    plan = split(model)
    path = tmp_path / f"graph{suffix}"
    write_graph(model, plan, path)
    data = path.read_bytes()
    assert data
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    elif suffix == ".svg":
        assert b"<svg" in data
    else:
        text = data.decode()
        assert text.startswith('graph "majority" {')
        assert '"neuron" [label="neuron\\nline 27", fillcolor="#ff7f0e"]' in text
        assert '"hidden" -- "neuron" [label="x, y"]' in text


def test_write_graph_rejects_unknown_suffix(tmp_path):
    model = load_model(ROOT / "models" / "majority.lwl")
    with pytest.raises(SplitError) as info:
        write_graph(model, split(model), tmp_path / "graph.pdf")
    assert ".pdf" in info.value.message and ".dot" in info.value.hint
    assert list(tmp_path.iterdir()) == []


def test_format_split_table():
    model = load_model(ROOT / "models" / "majority.lwl")
    text = format_split(model, split(model))
    rows = {line.split()[0]: line.split() for line in text.splitlines()[2:8]}
    assert rows["neuron"][1] == "B" and rows["neuron"][-1] == "27"
    assert rows["inputs"][3] == f"{128 * 13:,}"
    assert "free variables: none" in text


def test_check_counts_the_elements_no_constraint_touches():
    """y is declared on T too, but the outputs fix a data value, not y: its T elements are
    in no constraint. `free variables: none` alone would hide that."""
    src = (Path(__file__).parent / "models" / "regression.lwl").read_text()
    model = model_of(src, "regression.lwl")
    plan = split(model)
    assert plan.untouched == {"y": 16 * 2}  # batch 16, T = 2 nodes
    text = format_split(model, plan)
    assert "elements in no constraint (RRR leaves them at their initial values):" in text
    assert "  y: 32 of 128" in text
    plan = split(model_of(src.replace("var y[k, H | T] metric outdeg on H, 1 on T",
                                      "var y[k, H] metric outdeg"), "regression.lwl"))
    assert plan.untouched == {}
    assert "elements in no constraint" not in format_split(model, plan)
