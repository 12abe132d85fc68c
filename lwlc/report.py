"""Human-readable views of a model: `lwlc check`'s summary, `--emit ir`, `lwlc test`'s table."""

from __future__ import annotations

import math
import re

import numpy as np
from rich.table import Table

from . import ir


def instance_count(f: ir.Family) -> int:
    from .kinds import kind_of

    return kind_of(f).instances(f)


def relation_text(f: ir.Family) -> str:
    text = f.span.lines_text() or ""
    return text.split(":", 1)[1].strip() if ":" in text else text.strip()


def summary(m: ir.Model) -> str:
    out = [f"model {m.name}" + (f" — {m.title}" if m.title else ""), ""]
    if m.params:
        out.append("parameters: " + ", ".join(f"{k} = {v:g}" for k, v in m.params.items()))
    out.append("node groups: " + ", ".join(f"{d.name}[{d.size}]" for d in m.node_decls)
               + f"  ({m.n_nodes} nodes)")
    derived = [k for k in m.groups if k not in {d.name for d in m.node_decls}]
    if derived:
        out.append("groups: " + ", ".join(f"{k} = {len(m.groups[k])} nodes" for k in derived))
    for es in m.edge_sets.values():
        out.append(f"edges {es.name}: {len(es)} edges, in-degree {_range(es.indeg)}, "
                   f"out-degree {_range(es.outdeg)}")
    if m.batch:
        parts = " + ".join(f"{p.name}[{p.size}]" for p in m.batch.parts)
        out.append(f"batch {m.batch.index}: {m.batch.size} items" +
                   (f" ({parts})" if len(m.batch.parts) > 1 else ""))
    for v in m.variables.values():
        shape = (f"[{m.batch.size}, {v.size}]" if v.batched else f"[{v.size}]")
        metric = ("" if np.all(v.metric == 1) else
                  f", metric {_range(v.metric)}")
        count = math.prod(int(n) for n in eval_shape(m, v))  # Python's: no int64 wrap
        out.append(f"var {v.name}{shape} over {v.axis}{metric}: {count} elements")
    out.append("")
    out.append(f"{'constraint':<12} {'kind':<11} {'instances':>9}  relation")
    for f in m.families:
        out.append(f"{f.name:<12} {f.kind:<11} {instance_count(f):>9}  {relation_text(f)}"
                   f"   (line {f.span.line})")
    s = m.solver
    out.append("")
    extra = (f", lam {s.lam:g}" if s.lam is not None else "") + (
        f", error per {s.error}" if s.error != "item" else "") + (
        ", restart each epoch" if s.restart else "")
    out.append(f"solve {s.method}: beta {s.beta:g}{extra}, {s.iterations} iterations/batch, "
               f"tolerance {s.tolerance:g}, {s.epochs} epochs, seed {s.seed}")
    if m.data:
        out.append("data: " + ", ".join(f"{k} = {v}" for k, v in m.data.items()))
    return "\n".join(out)


def eval_shape(m: ir.Model, v: ir.Variable) -> tuple[int, ...]:
    return (m.batch.size, v.size) if v.batched else (v.size,)


def _range(a) -> str:
    a = np.asarray(a)
    lo, hi = float(a.min()), float(a.max())
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"


def ir_text(m: ir.Model, plan) -> str:
    """`lwlc compile --emit ir`: the elaborated families with their concrete domains."""
    lines = [summary(m), "", "families (elaborated):"]
    for f in m.families:
        fields = {k: getattr(f, k) for k in f.__dataclass_fields__
                  if k not in ("span", "name", "nodes", "part", "set")}
        nodes = f"{len(f.nodes)} nodes" if f.nodes is not None else "-"
        part = f"{f.part.name}[{f.part.start}:{f.part.stop}]" if f.part else "-"
        lines.append(f"  {f.name} [{plan.sets.get(f.name, '?')}] {f.kind} items={part} "
                     f"nodes={nodes} {fields}")
        if isinstance(f, ir.ActivationFamily) and f.set is not None:
            for p in f.set.pieces:
                what = (f"x = {p.affine[0]:g} z + {p.affine[1]:g}" if p.affine
                        else f"x = {p.curve}")
                lines.append(f"      piece {what} on [{p.lo:g}, {p.hi:g}]")
    return "\n".join(lines) + "\n"


def set_property_table(model_path, overrides, examples: int):
    """Run the set library's property checks on every set kind a model uses; (ok, table)."""
    results = library_results(model_path, overrides, examples)
    return all(r.ok for r in results), result_table(f"set properties for {model_path}", results)


def library_results(model_path, overrides, examples: int, seed: int | None = None,
                    families: tuple[str, ...] = (), progress=None) -> list:
    """The set library's property checks (`lwlc.sets._spec.check_kind`) on every set kind a
    model uses, declared activation tables as pieces; one `lwlc.modeltest.Result` per kind and
    property, kind "library", family the constraints that use the set. With `seed`, hypothesis
    draws the same examples every time (`lwlc test --seed`). With `families`, only the set
    kinds those constraint families use (`lwlc test --family`). `progress(what)` is told
    which kind is checked next."""
    from . import sets
    from .elaborate import load_model
    from .lower import lower
    from .modeltest import Result
    from .sets._spec import check_kind
    from .split import split

    m = load_model(model_path, overrides)
    plan = lower(m, split(m))
    kinds: dict[str, object] = {}
    users: dict[str, list[str]] = {}
    modes: dict[str, set[str]] = {}  # a declared table: x free, fixed, or both
    for lf in plan.families:
        f = lf.family
        if families and f.name not in families:
            continue
        key = None
        if isinstance(f, ir.BilinearFamily):
            key = "bilinear"
        elif isinstance(f, ir.ClassFamily):
            key = "margin"
        elif isinstance(f, ir.ConsensusFamily) and f.side.kind not in ("none", "fixed"):
            key = f.side.kind
        elif isinstance(f, ir.ActivationFamily):
            key = f"activation:{f.set.name}"
            kinds[key] = piece_tuple(f.set)
            modes.setdefault(key, set()).add("free" if f.fixed is None else "fixed")
        if key is not None:
            kinds.setdefault(key, None)
            users.setdefault(key, []).append(f.name)
    out = []
    for key, pieces in kinds.items():
        name = key.split(":")[0]
        if name not in sets.REGISTRY and pieces is None:
            continue
        used = tuple(sorted(modes[key])) if key in modes else None
        if progress:
            progress(f"the set library's tests of {key}")
        for r in check_kind("activation" if pieces is not None else name, examples,
                            pieces=pieces, seed=seed, modes=used):
            out.append(Result(", ".join(users[key]), "library", key, r.property,
                              r.examples, bool(r.ok), None,
                              "" if r.ok else shown(r.counterexample)[:600]))
    return out


def shown(value) -> str:
    """A counterexample as text, functions by name: a curve piece's generated f, f', f''
    print as <lambda>, not as their addresses."""
    return re.sub(r"<function (?:[\w.<>]*\.)?([\w<>]+) at 0x[0-9a-f]+>", r"\1", str(value))


def result_table(title: str, results) -> Table:
    """One row per checked property: family, kind, set, property, examples, result, worst.
    Names wrap rather than being cut (a narrow or piped console keeps them whole)."""
    table = Table(title=title)
    for col in ("family", "kind", "set", "property", "examples", "result", "worst"):
        table.add_column(col, justify="right" if col in ("examples", "worst") else "left",
                         overflow="fold")
    for r in results:
        worst = "" if r.worst is None else f"{r.worst:.2e}"
        table.add_row(r.family, r.kind, r.set, r.property, str(r.examples),
                      "pass" if r.ok else "FAIL", worst, style=None if r.ok else "bold red")
    return table


def piece_tuple(aset: ir.ActivationSet) -> tuple:
    """The set library's piece tuple for an instantiated activation set (curves via sympy)."""
    from lwlc.backends.curves import curve_functions, curve_marks

    out = []
    for p in aset.pieces:
        if p.affine is not None:
            out.append(("affine", p.lo, p.hi, p.affine[0], p.affine[1]))
        else:
            f, df, d2f = curve_functions(p.curve, p.lo, p.hi)
            marks = curve_marks(p.curve, p.lo, p.hi)
            out.append(("curve", p.lo, p.hi, f, df, d2f) + ((marks,) if marks else ()))
    return tuple(out)


UNSPLIT_COLOR = "#d62728"  # matplotlib's default red: the constraints at fault
NEUTRAL_COLOR = "#7f7f7f"


def unsplit_graph(model: ir.Model, err, fmt: str) -> bytes:
    """The family graph of a model whose split failed (a SplitError carrying ``graph``), as DOT,
    SVG or PNG bytes: every constraint in gray, the ones at fault (the odd cycle, the three
    constraints on one element, the contradicting pins' path) outlined and joined in red."""
    import networkx as nx

    from .errors import LwlcError

    if fmt not in ("dot", "svg", "png"):
        raise LwlcError(f"cannot write the constraint graph as '.{fmt}'",
                        hint="name the file *.dot (Graphviz), *.svg or *.png")
    g = nx.Graph(err.graph)
    fault = list(err.cycle or err.families)
    ring = list(zip(fault, fault[1:] + fault[:1], strict=True)) if err.cycle else []
    if err.cycle and len(err.cycle) > 1 and set(err.cycle) != set(err.families):
        ring = ring[:-1]  # a path between two pins, not a cycle
    if not err.cycle:  # three (or two) constraints on one element: join them all
        ring = [(a, b) for i, a in enumerate(fault) for b in fault[i + 1:]]
    red_edges = set()
    for a, b in ring:
        if not g.has_edge(a, b):
            g.add_edge(a, b, variables=tuple(err.variables))
        red_edges.add(frozenset((a, b)))
    if err.cycle and set(err.cycle) == set(err.families):
        what = f"an odd cycle of {len(err.cycle)} constraints"
    elif err.cycle:
        what = "the path between contradicting pins"
    else:
        what = (f"{len(fault)} constraints on one element of "
                f"{', '.join(err.variables) or 'a variable'}")
    title = f"{model.name}: no A/B split; in red: {what}"
    if fmt == "dot":
        return _unsplit_dot(model, g, set(fault), red_edges, title).encode()
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f.name for f in model.families if f.name in g]
    pos = nx.circular_layout(names) if len(names) > 2 else {
        n: (float(i), 0.0) for i, n in enumerate(names)}
    fig, ax = plt.subplots(figsize=(8, max(4.0, 0.6 * len(names))))
    try:
        edges = list(g.edges())
        red = [frozenset(e) in red_edges for e in edges]
        nx.draw_networkx_edges(g, pos, ax=ax, edgelist=edges,
                               edge_color=[UNSPLIT_COLOR if r else "#bbbbbb" for r in red],
                               width=[3.0 if r else 1.0 for r in red])
        nx.draw_networkx_edge_labels(
            g, pos, ax=ax, font_size=8, label_pos=0.3,
            edge_labels={(a, b): ", ".join(d.get("variables", ())) for a, b, d in
                         g.edges(data=True)})
        nx.draw_networkx_nodes(g, pos, ax=ax, nodelist=names, node_size=1800,
                               node_color=NEUTRAL_COLOR,
                               edgecolors=[UNSPLIT_COLOR if n in fault else NEUTRAL_COLOR
                                           for n in names],
                               linewidths=[4.0 if n in fault else 1.0 for n in names])
        nx.draw_networkx_labels(g, pos, ax=ax, font_size=8, font_color="white",
                                labels={n: f"{n}\nline {model.family(n).span.line}"
                                        for n in names})
        ax.set_title(title)
        ax.margins(0.2)
        ax.axis("off")
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _unsplit_dot(model: ir.Model, g, fault: set[str], red_edges: set, title: str) -> str:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = [f"graph {q(model.name)} {{", f"  label={q(title)}; labelloc=t;",
           f'  node [shape=box, style="rounded,filled", fontcolor=white, '
           f"fillcolor={q(NEUTRAL_COLOR)}];"]
    for f in model.families:
        if f.name not in g:
            continue
        extra = f", color={q(UNSPLIT_COLOR)}, penwidth=4" if f.name in fault else ""
        label = q(f.name)[:-1] + f'\\nline {f.span.line}"'
        out.append(f"  {q(f.name)} [label={label}{extra}];")
    for a, b, data in g.edges(data=True):
        extra = (f", color={q(UNSPLIT_COLOR)}, penwidth=3"
                 if frozenset((a, b)) in red_edges else "")
        out.append(f"  {q(a)} -- {q(b)} [label={q(', '.join(data.get('variables', ())))}"
                   f"{extra}];")
    out.append("}")
    return "\n".join(out) + "\n"


# --- a run's training curves (lwlc plot) ----------------------------------------------------

CURVE_FORMATS = ("png", "svg", "pdf")
# log.csv's bookkeeping columns; every other column is a metric (an error rate or RMS error)
_LOG_BOOKKEEPING = ("epoch", "gwm", "iterations", "avg_iterations", "seconds")


def training_curves(runs: list[tuple[str, list[dict]]], title: str, fmt: str) -> bytes:
    """Runs' log.csv (name, rundir.parse_log's rows) drawn per epoch: on the left RRR_err
    (eq. 22, 27: the gap between the two projections, at the start and the end of the
    epoch's batches; log scale), on the right each metric a run recorded (error rates, RMS
    errors). One run: a color per column; several: a color per run, a line style per
    column. PNG, SVG or PDF bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = {"rrr_err_start": "mean at the batches' first iteration",
             "rrr_err_end": "mean at their last iteration"}
    styles = ("-", "--", ":", "-.")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    try:
        for i, (_, rows) in enumerate(runs):
            epoch = np.array([float(r["epoch"]) for r in rows])
            columns = list(rows[0]) if rows else []
            gaps = [c for c in columns if c.startswith("rrr_err")]
            metrics = [c for c in columns if c not in _LOG_BOOKKEEPING and c not in gaps]
            marker = "o" if len(rows) <= 30 else None
            for ax, group in ((left, gaps), (right, metrics)):
                for j, column in enumerate(group):
                    v = np.array([float(r[column]) for r in rows])  # NaN, inf: gaps
                    if ax is left:
                        v = np.where(v > 0, v, np.nan)
                    label = names.get(column, column)
                    if len(runs) == 1:
                        ax.plot(epoch, v, marker=marker, markersize=3, label=label,
                                color=colors[j % len(colors)])
                        continue
                    ax.plot(epoch, v, marker=marker, markersize=3,
                            color=colors[i % len(colors)], linestyle=styles[j % 4])
                    if label not in ax.get_legend_handles_labels()[1]:
                        ax.plot([], [], color="black", linestyle=styles[j % 4],
                                label=label)  # the column's style, in black
        if len(runs) > 1:  # which color is which run, under the plots
            fig.legend([plt.Line2D([], [], color=colors[i % len(colors)])
                        for i in range(len(runs))], [name for name, _ in runs],
                       loc="lower center", ncol=min(len(runs), 3), fontsize=8)
        left.set_yscale("log")
        left.set_title("RRR_err")
        right.set_title("metrics" if right.get_lines() else "no metrics recorded")
        for ax in (left, right):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        fig.suptitle(title)
        rows_of_runs = -(-len(runs) // 3) if len(runs) > 1 else 0
        fig.tight_layout(rect=(0.0, 0.06 * rows_of_runs, 1.0, 1.0))
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt)
    finally:
        plt.close(fig)
    return buf.getvalue()
