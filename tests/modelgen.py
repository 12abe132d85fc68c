"""Random legal `.lwl` models that stress the compiler (issue 10, item 7), and a runner for them.

`models()` is a hypothesis strategy of `(text, facts)`: the text of a small model that passes
`lwlc check` (parse, elaborate, split) and a dict of facts about it (its kind, inputs, labels,
samples, batch parts, features). `draw_model(seed)` draws the same kind of model from a seeded
`random.Random`, for reproducible campaigns (`bench/model_campaign.py`). Both run one generator,
`generate(drawer)`, through a small `Drawer` interface.

The models cover, at random: layered and non-layered graphs (skip connections, several hidden
groups, back edges), dense / random / listed edge terms, groups defined with `group`, `|` and
`-`, user-declared affine and smooth activation sets and every built-in set, batch parts with
constraints per part, pins, class modifiers (exempt / relabel / allow, counts and percentages),
side constraints on consensus families, metrics, classifiers, regression heads, cyclic
autoencoders (with inputs or samples as codes), NMF-like factorizations, and odd but legal
names (names of the generated code's locals and helpers, Python keywords, names that differ
only in case, names ending in digits beside set names, `.lwl` keywords where legal).

`exercise(text)` compiles one model with each backend, runs a few RRR steps from one initial
state on random data, and checks that states and errors stay finite and that NumPy and JAX
(float64) agree; it returns a dict and never raises.
"""

from __future__ import annotations

import math
import random
import re
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

# --- drawing --------------------------------------------------------------------------------


class Drawer:
    """The few choices the generator makes; `integer` is inclusive at both ends."""

    def integer(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def chance(self, p: float) -> bool:
        # drawn so that hypothesis shrinks towards False: optional features off
        return self.integer(0, 999) >= 1000 - int(round(p * 1000))

    def choice(self, seq: Sequence):
        seq = list(seq)
        return seq[self.integer(0, len(seq) - 1)]

    def shuffled(self, seq: Sequence) -> list:
        out = list(seq)
        for i in range(len(out) - 1, 0, -1):
            j = self.integer(0, i)
            out[i], out[j] = out[j], out[i]
        return out

    def subset(self, seq: Sequence, p: float, at_least: int = 0) -> list:
        seq = list(seq)
        out = [s for s in seq if self.chance(p)]
        while len(out) < min(at_least, len(seq)):
            extra = self.choice([s for s in seq if s not in out])
            out.append(extra)
        return [s for s in seq if s in out]


class RandomDrawer(Drawer):
    def __init__(self, rng: random.Random):
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class HypothesisDrawer(Drawer):
    def __init__(self, draw: Callable):
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))


# --- names ----------------------------------------------------------------------------------

# Names the emitted solver uses for its own locals, helpers, modules and constants, Python
# keywords and builtins, and `.lwl` keywords: all legal `.lwl` names (the lexer's keywords are
# contextual). A model that uses them must compile to code that still works.
ODD_NAMES = (
    "A", "B", "xp", "np", "jnp", "jax", "math", "state", "data", "src", "params", "init",
    "predict", "project_A", "project_B", "forward", "forward_part", "forward_k", "reconstruct_k",
    "solve_batch", "rrr_step", "consensus_params", "initial_params", "K", "N", "BATCH", "PARTS",
    "ALL", "SOLVER", "METRIC", "PARAMS", "VARIABLES", "INPUTS", "LABELS", "SAMPLES", "MODEL",
    "N_NODES", "N_EDGES", "EDGE_TAIL", "EDGE_HEAD", "CLASS_NODES", "_assign", "_fresh", "_put",
    "_copy", "_error", "_rows", "_cols", "delta", "pa", "pb", "new", "mean", "v", "z", "x",
    "lam", "beta", "rng", "self", "cls", "None", "True", "False", "if", "def", "class",
    "lambda", "return", "import", "yield", "pass", "not", "and", "or", "is", "while", "print",
    "len", "range", "list", "dict", "sum", "min", "max", "abs", "_", "__init__", "__name__",
    "model", "param", "nodes", "group", "edges", "batch", "input", "label", "sample", "var",
    "set", "constraint", "solve", "for", "metric", "on", "exempt", "relabel", "allow", "as",
    "from", "all", "dense", "random", "file", "margin", "sphere", "nonneg", "box", "sparse",
    "rrr", "dr", "ap", "train", "test", "outdeg", "indeg", "relu", "step", "sqrt", "exp", "log",
    "tanh", "sigmoid", "lk", "Lk", "lk2", "lk2_1", "LK2_1", "PIECES_RELU", "x_1", "x1", "y_b",
    "in", "out", "agree", "dot",
)
# Names the grammar cannot take in some places (`x[k, in]` reads `in` as `in(j)`, ...).
BATCH_LOOPVARS = ["q", "kk", "item", "it"]  # names a batch loop variable may take besides k
NOT_AS = {
    "group": {"in", "out"}, "loop": {"in", "out"}, "batch": {"in", "out"},
    "var": {"agree", "dot"}, "part": {"in", "out"},
}
# `x` and `z` are the set's own variables: not set parameters, and no model parameter a set
# body reads may have these names.
NOT_SET_PARAM = {"x", "z"}


class Names:
    """One namespace of unique names (case-sensitive), with a per-model taste for odd ones."""

    def __init__(self, d: Drawer, odd: float):
        self.d = d
        self.odd = odd
        self.used: set[str] = set()
        self.odd_taken: set[str] = set()
        self.twins = 0

    def take(self, default: str, slot: str = "", odd: float | None = None) -> str:
        odd = self.odd if odd is None else odd
        banned = self.used | NOT_AS.get(slot, set())
        if self.d.chance(odd):
            pool = [n for n in ODD_NAMES if n not in banned]
            # a case twin of a name already taken (`lk` beside `Lk`, `d` beside `D`)
            twins = [n.swapcase() for n in sorted(self.used) if n.swapcase() not in banned
                     and n.swapcase() != n and re.fullmatch(r"[A-Za-z_]\w*", n)]
            if twins and self.d.chance(0.3):
                self.twins += 1
                return self._use(self.d.choice(twins), odd=True)
            if pool:
                return self._use(self.d.choice(pool), odd=True)
        if default not in banned:
            return self._use(default)
        i = 1
        while f"{default}{i}" in banned or f"{default}_{i}" in banned:
            i += 1
        return self._use(self.d.choice([f"{default}{i}", f"{default}_{i}"]))

    def _use(self, name: str, odd: bool = False) -> str:
        self.used.add(name)
        if odd:
            self.odd_taken.add(name)
        return name


# --- numbers --------------------------------------------------------------------------------


def num(v: float) -> str:
    return f"{v:.6g}"


class Consts:
    """Constant expressions, sometimes spelled the long way (`4 / 2`, `sqrt(4)`, `2 ^ 1`)."""

    def __init__(self, d: Drawer, fancy: float):
        self.d = d
        self.fancy = fancy

    def __call__(self, v: float) -> str:
        if not self.d.chance(self.fancy):
            return num(v)
        form = self.d.integer(0, 5)
        if form == 0:
            return f"{num(2 * v)} / 2"
        if form == 1 and v >= 0:
            return f"sqrt({num(v * v)})"
        if form == 2:
            return f"({num(v / 2)} + {num(v / 2)})"
        if form == 3 and v == int(v) and v > 0:
            return f"{num(v)} ^ 1"
        if form == 4:
            return f"{num(v * 10)}e-1"
        return f"+{num(v)}" if v >= 0 else num(v)


# --- activation sets ------------------------------------------------------------------------

# Built-in sets: (name, number of arguments, argument range).
BUILTIN_SETS = (
    ("relu", 0), ("step", 1), ("zigmoid", 1), ("hardtanh", 0), ("softthreshold", 1),
    ("ternary", 1), ("linear", 0), ("sigmoid", 0), ("tanh_act", 0),
)
SMOOTH_BUILTINS = {"sigmoid", "tanh_act"}


def _user_sets() -> list[tuple[str, tuple[str, ...], str, bool]]:
    """(default name, parameters, body with {a}, {b} for the parameters, smooth?)"""
    return [
        ("leaky", ("a",), "x = {a} * z for z <= 0; x = z for z >= 0", False),
        ("clip", ("c",), "x = -{c} for z <= -{c}; x = z for -{c} <= z <= {c}; x = {c} for z >= {c}",
         False),
        ("gstep", ("d", "h"), "x = 0 for z <= -{d}; x = {h} for z >= {d}", False),
        ("stairs", (), "x = 0 for z <= 0; x = 1 for z in [0.5, 1]; x = 2 for z >= 1.5", False),
        ("shifted", ("t",), "x = 0 for z <= {t}; x = z - {t} for z >= {t}", False),
        ("both", (), "x = 0 for all; x = z for z > 0", False),
        ("ramp", ("d",), "x = 0 for z < -{d}; x = (z + {d}) / (2 * {d}) for z in [-{d}, {d}]; "
         "x = 1 for {d} <= z", False),
        ("flat", (), "x = 0.5 for all", False),
        ("neg", (), "x = -z for 0 >= z; x = 0 for z >= 0", False),
        ("tanhs", (), "x = tanh(z) for all", True),
        ("softp", (), "x = 0 for z <= 0; x = log(1 + exp(z)) - log(2) for z >= 0", True),
        ("softp2", (), "x = z / 2 + log(2) for z <= 0; x = log(1 + exp(z)) for z >= 0", True),
        ("logist", (), "x = 1 / (1 + exp(-z)) for all", True),
        ("elu", ("a",), "x = {a} * (exp(z) - 1) for z <= 0; x = z for z >= 0", True),
        ("satur", ("a",), "x = {a} * tanh(z / {a}) for all", True),
        ("cubic", (), "x = -1 for z <= -1; x = z ^ 3 for -1 <= z <= 1; x = 1 for z >= 1", True),
        ("soft_sign", (), "x = z / (1 + abs(z)) for all", True),
        ("arctan", (), "x = atan(z) for all", True),
        ("gauss", (), "x = erf(z) for all", True),
        ("sine", (), "x = sin(z) for -1 <= z <= 1", True),
        ("root", (), "x = 0 for z <= 0; x = sqrt(z + 1) - 1 for z >= 0", True),
    ]


class SetMaker:
    """Activation sets for one model: uses of built-in sets and declarations of the model's own."""

    def __init__(self, g: _Gen):
        self.g = g
        self.d = g.d
        self.decls: list[str] = []
        self.names: set[str] = set()  # sets have their own namespace
        self.builtins_used: set[str] = set()  # a model's own set must not shadow these
        self.kinds: list[str] = []

    def _set_name(self, default: str) -> str:
        d = self.d
        options = [default]
        if d.chance(self.g.names.odd):
            options = ["lk", "Lk", "lk2", "lk2_1", "LK2_1", "relu", "step", "sigmoid", "x", "z",
                       "set", "in", "margin", "sphere", "A", "B", "xp", "state", "project_A"]
        for name in d.shuffled(options) + [f"{default}{i}" for i in range(2, 50)]:
            if name not in self.names and name not in self.builtins_used:
                self.names.add(name)
                return name
        raise AssertionError("no set name left")

    def arg(self, lo: float, hi: float) -> str:
        """A positive set argument: a number, or a parameter, or an expression of one."""
        d = self.d
        v = round(d.choice([lo, (lo + hi) / 2, hi]), 4)
        if d.chance(0.3):
            name = self.g.param(v, "delta")
            if d.chance(0.3):
                return f"{name} * 2 / 2"
            return name
        return self.g.const(v)

    def use(self) -> str:
        """A set reference for an activation constraint; declares the set if it is the model's."""
        d = self.d
        g = self.g
        r = d.integer(0, 99)
        free = [(n, a) for n, a in BUILTIN_SETS if n not in self.names]
        if r < 50 and free:
            name, n_args = d.choice(free)
            self.builtins_used.add(name)
            self.kinds.append("smooth" if name in SMOOTH_BUILTINS else "builtin")
            g.feature(f"set:{name}")
            if n_args == 0:
                return name
            lo, hi = {"step": (0.05, 0.5), "zigmoid": (0.05, 0.5), "softthreshold": (0.0, 0.5),
                      "ternary": (0.1, 0.8)}[name]
            if name == "softthreshold" and d.chance(0.2):
                return f"{name}(0)"
            return f"{name}({self.arg(max(lo, 0.05), hi)})"
        default, params, body, smooth = d.choice(_user_sets())
        self.kinds.append("smooth" if smooth else "affine")
        g.feature("set:user-smooth" if smooth else "set:user-affine")
        name = self._set_name(default)
        if name != default:
            g.feature("odd-set-name")
        # parameters: their own names, sometimes shadowing a model parameter
        pnames = []
        for p in params:
            cand = [p, p + "1", p.upper()] + [n for n in sorted(g.params)
                                              if n not in NOT_SET_PARAM and d.chance(0.2)]
            pn = next(c for c in d.shuffled(cand) if c not in pnames and c not in NOT_SET_PARAM)
            pnames.append(pn)
        values = {"a": (0.1, 0.5), "c": (0.5, 2.0), "d": (0.1, 0.5), "h": (0.5, 2.0),
                  "t": (-0.5, 0.5)}
        inline = params and d.chance(0.2)  # a model parameter read in the body instead
        if inline:
            fill = {}
            for p in params:
                lo, hi = values[p]
                v = round(d.choice([lo, hi]), 4)
                pn = g.param(v, p + "_set")
                if pn in NOT_SET_PARAM:  # would read as the set's own variable
                    pn = g.const(v)
                fill[p] = pn if re.fullmatch(r"\w+", pn) else f"({pn})"
            text = body.format(**fill)
            self._declare(f"set {name} {{ {text} }}")
            return name
        text = body.format(**{p: pn for p, pn in zip(params, pnames, strict=True)})
        head = f"set {name}({', '.join(pnames)})" if pnames else f"set {name}"
        if not pnames and d.chance(0.2):
            head = f"set {name}"
        self._declare(f"{head} {{ {text}{';' if d.chance(0.2) else ''} }}")
        if not params:
            return name
        args = []
        for p in params:
            lo, hi = values[p]
            v = round(d.choice([lo, (lo + hi) / 2, hi]), 4)
            if v == 0:
                v = 0.25
            args.append(self.g.const(v) if d.chance(0.7) else self.g.param(v, p + "_arg"))
        return f"{name}({', '.join(args)})"

    def _declare(self, text: str) -> None:
        if self.d.chance(0.3):  # spread over lines
            text = text.replace("; ", ";\n    ").replace("{ ", "{\n    ").replace(" }", "\n}")
        self.decls.append(text)


# --- edges ----------------------------------------------------------------------------------


class EdgeBuilder:
    """Edge terms between node groups, tracked edge by edge as lwlc will build them."""

    def __init__(self, g: _Gen):
        self.g = g
        self.d = g.d
        self.edges: set[tuple[int, int]] = set()
        self.terms: list[str] = []
        self.dense: list[tuple[str, str]] = []  # (tail, head) of each dense(...) term

    def nodes(self, group: str) -> list[int]:
        return self.g.members[group]

    def add_pair(self, tail: str, head: str, kinds=("dense", "random", "list")) -> None:
        d = self.d
        t, h = self.nodes(tail), self.nodes(head)
        kind = d.choice(kinds) if d.chance(0.5) else kinds[0]
        if kind == "dense" or (kind == "random" and len(t) == 1 and d.chance(0.5)):
            new = {(a, b) for a in t for b in h}
            if new & self.edges:
                return self.add_list(tail, head)
            self.edges |= new
            self.terms.append(f"dense({tail} -> {head})")
            self.dense.append((tail, head))
            self.g.feature("edges:dense")
        elif kind == "random":
            fanin = d.integer(1, len(t))
            seed = d.integer(0, 9)
            rng = np.random.default_rng(seed)
            new = set()
            for b in h:
                for a in rng.choice(np.array(t), size=fanin, replace=False):
                    new.add((int(a), b))
            if new & self.edges:
                return self.add_list(tail, head)
            self.edges |= new
            opts = [f"fanin = {self.g.const(fanin) if d.chance(0.2) else fanin}"]
            if seed or d.chance(0.5):
                opts.append(f"seed = {seed}")
            if len(opts) == 2 and d.chance(0.3):
                opts.reverse()
            self.terms.append(f"random({tail} -> {head}, {', '.join(opts)})")
            self.g.feature("edges:random")
        else:
            self.add_list(tail, head)

    def add_list(self, tail: str, head: str, p: float = 0.5) -> None:
        pairs = [(a, b) for a in self.nodes(tail) for b in self.nodes(head)
                 if a != b and (a, b) not in self.edges]
        chosen = self.d.subset(pairs, p, at_least=1)
        self.add_listed(chosen)

    def add_listed(self, pairs: list[tuple[int, int]]) -> None:
        pairs = [p for p in pairs if p not in self.edges and p[0] != p[1]]
        if not pairs:
            return
        self.edges |= set(pairs)
        refs = [f"{self.g.node_ref(a)} -> {self.g.node_ref(b)}" for a, b in pairs]
        if len(refs) > 1:
            refs = self.d.shuffled(refs)
        trail = "," if self.d.chance(0.2) else ""
        self.terms.append("[" + ", ".join(refs) + trail + "]")
        self.g.feature("edges:list")

    def cover(self, need_out: dict[int, list[str]], need_in: dict[int, list[str]]) -> None:
        """Add listed edges so that every node of need_out has an out-edge (to a node of one of
        the given groups) and every node of need_in has an in-edge."""
        d = self.d
        patch: list[tuple[int, int]] = []
        have = set(self.edges)
        for a, heads in need_out.items():
            if any(e[0] == a for e in have):
                continue
            cands = [(a, b) for grp in heads for b in self.nodes(grp)
                     if b != a and (a, b) not in have]
            e = d.choice(cands)
            patch.append(e)
            have.add(e)
        for b, tails in need_in.items():
            if any(e[1] == b for e in have):
                continue
            cands = [(a, b) for grp in tails for a in self.nodes(grp)
                     if a != b and (a, b) not in have]
            e = d.choice(cands)
            patch.append(e)
            have.add(e)
        if patch:
            self.g.feature("edges:patched")
            self.add_listed(patch)

    def merge_dense(self) -> None:
        """Write dense terms that share a tail (or a head) as one, `dense(D -> H1 | H2)`."""
        for side in (0, 1):
            by: dict[str, list[tuple[str, str]]] = {}
            for pair in self.dense:
                by.setdefault(pair[side], []).append(pair)
            for key, pairs in by.items():
                if len(pairs) < 2 or not self.d.chance(0.5):
                    continue
                others = " | ".join(p[1 - side] for p in pairs)
                term = f"dense({key} -> {others})" if side == 0 else f"dense({others} -> {key})"
                at = min(self.terms.index(f"dense({t} -> {h})") for t, h in pairs)
                for t, h in pairs:
                    self.terms.remove(f"dense({t} -> {h})")
                    self.dense.remove((t, h))
                self.terms.insert(min(at, len(self.terms)), term)
                self.g.feature("edges:dense-union")


# --- the generator --------------------------------------------------------------------------

# Found by this generator and fixed: `nodes` declared after an `edges` statement, followed by
# another `edges` statement, crashed the elaborator's warnings (degree arrays of different
# lengths). The generator writes such models again; False keeps every node group before the
# first edge set.
NODES_AFTER_EDGES = True


class _Gen:
    def __init__(self, d: Drawer):
        self.d = d
        self.names = Names(d, odd=d.choice([0.0, 0.0, 0.1, 0.3, 0.7]))
        self.const = Consts(d, fancy=d.choice([0.0, 0.2, 0.5]))
        self.params: dict[str, float] = {}
        self.head: list[str] = []  # model, params
        self.decls: list[str] = []  # nodes, groups, edges, batch, inputs, vars (in order)
        self.constraints: list[str] = []
        self.tail: list[str] = []
        self.features: set[str] = set()
        self.members: dict[str, list[int]] = {}  # declared node groups and `group`s: node ids
        self.node_decl: list[tuple[str, int, int]] = []  # (name, start, size)
        self.n_nodes = 0
        self.sets = SetMaker(self)
        self.facts: dict[str, Any] = {"inputs": [], "labels": [], "samples": [], "parts": []}
        self.sides: dict[str, str] = {}  # constraint name -> "A" | "B" (the derived split)
        self.component = 0  # the connected component of the family graph being built
        self.component_of: dict[str, int] = {}

    def feature(self, f: str) -> None:
        self.features.add(f)

    # --- declarations ---

    def param(self, value: float, default: str) -> str:
        name = self.names.take(default, "param")
        self.params[name] = value
        self.head.append(f"param {name} = {self.const(value)}")
        return name

    def value(self, v: float, default: str, p: float = 0.4) -> str:
        """A constant for a setting: a parameter (probability p) or an expression."""
        return self.param(v, default) if self.d.chance(p) else self.const(v)

    def size(self, n: int) -> str:
        d = self.d
        if d.chance(0.15):
            return self.param(n, "n")
        if d.chance(0.1) and n > 1:
            return f"{n - 1} + 1"
        if d.chance(0.05) and n in (2, 4, 8):
            return f"2^{int(math.log2(n))}"
        return str(n)

    def node_groups(self, specs: list[tuple[str, int]]) -> list[str]:
        """Declare node groups [(default name, size)] in one or several `nodes` statements."""
        names = []
        parts = []
        for default, size in specs:
            name = self.names.take(default, "group")
            self.members[name] = list(range(self.n_nodes, self.n_nodes + size))
            self.node_decl.append((name, self.n_nodes, size))
            self.n_nodes += size
            names.append(name)
            parts.append(f"{name}[{self.size(size)}]")
        i = 0
        while i < len(parts):
            j = i + (self.d.integer(1, len(parts) - i) if self.d.chance(0.4) else 1)
            self.decls.append("nodes " + ", ".join(parts[i:j]))
            i = j
        return names

    def group_def(self, members: list[str], default: str) -> str:
        """`group NAME = A | B | ...`; returns NAME (or the union written inline)."""
        if len(members) == 1 and self.d.chance(0.5):
            return members[0]
        union = " | ".join(members)
        if self.d.chance(0.6):
            name = self.names.take(default, "group")
            self.decls.append(f"group {name} = {union}")
            self.members[name] = [n for m in members for n in self.members[m]]
            self.feature("group")
            return name
        return union if len(members) == 1 else f"({union})" if self.d.chance(0.2) else union

    def expr_nodes(self, expr: str) -> list[int]:
        """Nodes of a group expression written by this generator (names, `|`, `-`, parens)."""
        expr = expr.replace("(", " ").replace(")", " ")
        sign, out = "|", []
        for tok in re.findall(r"\||-|[A-Za-z_]\w*", expr):
            if tok in "|-":
                sign = tok
            elif sign == "|":
                out += self.members[tok]
            else:
                out = [n for n in out if n not in self.members[tok]]
        return out

    def node_ref(self, node: int) -> str:
        """`G[i]` for a node: its declared group, or sometimes a `group` that holds it in
        declaration order."""
        owner = next((n, s) for n, s, z in self.node_decl if s <= node < s + z)
        options = [f"{owner[0]}[{node - owner[1]}]"]
        for name, mem in self.members.items():
            if name != owner[0] and node in mem and mem == sorted(mem):
                options.append(f"{name}[{mem.index(node)}]")
        if len(options) > 1 and self.d.chance(0.3):
            self.feature("edges:list-via-group")
            return self.d.choice(options[1:])
        return options[0]

    def domain(self, groups: list[str], all_groups: dict[str, list[str]] | None = None) -> str:
        """A group expression for the union of `groups`: the names joined by `|`, a `group`
        name that equals it, or a difference `G - R`."""
        d = self.d
        want = sorted(n for g in groups for n in self.members[g])
        opts = [" | ".join(groups)]
        for name, mem in self.members.items():
            if sorted(mem) == want and name not in groups:
                opts.append(name)
        for name, mem in self.members.items():  # G - R with R declared groups
            rest = [g for g, _, _ in self.node_decl
                    if set(self.members[g]) <= set(mem) and set(self.members[g]).isdisjoint(want)]
            if set(want) < set(mem) and rest and sorted(
                    set(mem) - {n for g in rest for n in self.members[g]}) == want:
                opts.append(f"{name} - " + " - ".join(rest) if d.chance(0.5) or len(rest) == 1
                            else f"{name} - ({' | '.join(rest)})")
        choice = d.choice(opts) if d.chance(0.5) else opts[0]
        if "-" in choice:
            self.feature("group-difference")
        return choice

    def loopvar(self, default: str) -> str:
        """A node loop variable: local to its constraint, sometimes a global name; never a
        name the batch's loop variable may have (two loop variables of one constraint
        may not share a name)."""
        d = self.d
        if d.chance(self.names.odd / 2) and self.names.used:
            cand = [n for n in sorted(self.names.used) if n not in NOT_AS["loop"]]
            if cand:
                name = d.choice(cand)
                if name not in self._batch_loopvars():
                    self.feature("loopvar-shadows-global")
                    return name
                return default
        name = d.choice([default, default, "i", "j", "n", "q", "node", "nd"])
        return default if name in self._batch_loopvars() else name

    def _batch_loopvars(self) -> set[str]:
        """Every name batch_binding may give the batch's loop variable."""
        return {*self.part_size, *BATCH_LOOPVARS} if hasattr(self, "part_size") \
            else set(BATCH_LOOPVARS)

    def var(self, default: str, axis: str, batch: str, metric: str = "") -> str:
        name = self.names.take(default, "var")
        self.decls.append(f"var {name}[{batch}, {axis}]" + (f" metric {metric}" if metric else ""))
        return name

    def edge_metric(self, default: str) -> str:
        if not self.d.chance(0.03):
            return ""
        self.feature("metric:edge")
        return self.value(self.d.choice([0.5, 2]), default, 0.2)

    def constraint(self, default: str, side: str, text: str) -> str:
        name = self.names.take(default)
        self.sides[name] = side
        self.component_of[name] = self.component
        self.constraints.append((name, text))
        return name

    # --- batches ---

    def batch(self, parts: list[tuple[str, int]] | None, size: int) -> tuple[str, list[str]]:
        k = self.names.take("k", "batch")
        if not parts:
            self.decls.append(f"batch {k}[{self.size(size)}]")
            self.facts["parts"] = [k]
            self.part_size = {k: size}
            return k, [k]
        names = [self.names.take(p, "part") for p, _ in parts]
        self.decls.append(f"batch {k} = " + " + ".join(
            f"{n}[{self.size(s)}]" for n, (_, s) in zip(names, parts, strict=True)))
        self.facts["parts"] = names
        self.part_size = {n: s for n, (_, s) in zip(names, parts, strict=True)}
        self.part_size[k] = sum(s for _, s in parts)
        self.feature("batch-parts")
        if any(n in ("data", "code", "part", "k") for n in names):
            self.feature("odd-part-name")
        return k, names

    def batch_binding(self, k: str, part: str) -> tuple[str, str]:
        """(binding text, loop variable) for a batch part, or for the whole batch (part == k)."""
        if part == k:
            return k, k
        lv = k if self.d.chance(0.8) else self.d.choice(BATCH_LOOPVARS)
        if lv != k:
            self.feature("batch-loopvar-renamed")
        return f"{lv} in {part}", lv

    def count(self, items: int) -> str:
        """A count of batch items for a class modifier, ≤ items: a number or a percentage."""
        d = self.d
        if d.chance(0.35):
            pct = d.choice([0, 10, 25, 50, 100])
            if round(items * pct / 100) <= items:
                self.feature("modifier-percent")
                return f"{pct}%"
        n = d.integer(0, items)
        return self.value(n, "flips", 0.3)

    # --- side constraints ---

    def consensus_side(self, vector: bool, kind: str) -> str:
        """A side constraint for `agree ...`: kind 'weights' | 'bias' | 'codes'. `vector`: the
        consensus value of one instance is a vector (`w[*, in(j)]`), not a scalar (`b[*, j]`,
        `x[k, out(i)]`). The compiler refuses sphere and sparse sides on a scalar (the front end
        lets them through), so those come rarely there."""
        d = self.d
        r = d.integer(0, 99)

        def omega():
            return self.value(d.choice([0.5, 1.0, 2.0, 3.0]), "omega")

        if kind == "weights" and r < 55:
            self.feature("side:sphere")
            return f" in sphere({omega()})"
        if kind == "bias" and r < 75:
            return ""
        if kind == "codes" and r < 50:
            return d.choice([" >= 0", " in nonneg"])
        scalar = ["side:none", "side:ge", "side:le", "side:eq", "side:nonneg", "side:box"]
        vec = ["side:sphere", "side:nonneg-sphere", "side:sparse", "side:nonneg-sparse"]
        feat = d.choice(scalar + vec if vector or d.chance(0.05) else scalar)
        if feat in vec and not vector:
            self.feature("side:vector-on-scalar")
        self.feature(feat)
        if feat == "side:none":
            return ""
        if feat == "side:ge":
            return f" >= {self.const(d.choice([0, -1, 0.5]))}"
        if feat == "side:le":
            return f" <= {self.const(d.choice([0, 1, 2.5]))}"
        if feat == "side:eq":
            return f" == {self.const(d.choice([0, 0.5, 1]))}"
        if feat == "side:nonneg":
            return " in nonneg"
        if feat == "side:box":
            return f" in box({self.const(d.choice([-1, 0]))}, {self.const(d.choice([1, 2]))})"
        if feat == "side:sphere":
            return f" in sphere({omega()})"
        if feat == "side:nonneg-sphere":
            return f" in nonneg & sphere({omega()})"
        if feat == "side:sparse":
            return f" in sparse({d.integer(1, 3)})"
        return f" in nonneg & sparse({d.integer(1, 3)})"

    # --- metrics ---

    def node_metric(self, nodes_expr_groups: list[str], out_ok: list[str], in_ok: list[str]
                    ) -> str:
        """A metric for a node variable over the given groups; outdeg only on groups whose nodes
        all have out-edges, indeg only where all have in-edges."""
        d = self.d
        r = d.integer(0, 9)
        if r < 3:
            return ""
        if r < 5:
            self.feature("metric:const")
            return self.value(d.choice([0.5, 1, 2]), "gamma", 0.3)
        items = []
        for grp in nodes_expr_groups:
            opts = [self.const(d.choice([0.5, 1, 2, 3]))]
            if grp in out_ok:
                opts += ["outdeg"] * 2
            if grp in in_ok:
                opts.append("indeg")
            item = d.choice(opts)
            if item in ("outdeg", "indeg"):
                self.feature(f"metric:{item}")
            items.append((item, grp))
        if len({i for i, _ in items}) == 1 and d.chance(0.5):
            return items[0][0]
        # consecutive groups with the same item share a union, in a random order
        if d.chance(0.3):
            items = d.shuffled(items)
        return ", ".join(f"{i} on {g}" for i, g in items)

    # --- pins ---

    def finish_constraints(self) -> list[str]:
        """Pins consistent with the derived split (sometimes the whole split mirrored)."""
        d = self.d
        flip = d.chance(0.15)
        p = d.choice([0.0, 0.0, 0.2, 0.5])
        out = []
        pinned: set[int] = set()  # components with a pin
        for name, text in self.constraints:
            pin = ""
            if d.chance(p):
                side = self.sides[name]
                if flip:
                    side = "B" if side == "A" else "A"
                pin = f" [{side}]"
                pinned.add(self.component_of[name])
                self.feature("pins-mirrored" if flip else "pins")
            out.append(f"constraint {name}{pin} {text}")
        # the pins of a component decide it whole; one without pins gets the standard split
        self.facts["split"] = {
            n: ("B" if s == "A" else "A") if flip and self.component_of[n] in pinned else s
            for n, s in self.sides.items()}
        return out

    # --- kinds of model ---

    def feedforward(self, heads: str) -> None:
        """A classifier and/or regression network: D -> hidden groups -> C / O, any DAG."""
        d = self.d
        n_hidden = d.integer(0, 3)
        if n_hidden == 0 and (heads != "classify" or d.chance(0.5)):
            n_hidden = 1
        specs = [("D", d.integer(1, 5))]
        hidden_defaults = ["H1", "H2", "H3"]
        for i in range(n_hidden):
            specs.append((hidden_defaults[i], d.integer(1, 6)))
        outs = []
        if heads in ("classify", "both"):
            specs.append(("C", d.integer(2, 4)))
            outs.append("C")
        if heads in ("regress", "both"):
            specs.append(("O", d.integer(1, 3)))
            outs.append("O")
        order = list(range(len(specs)))
        if d.chance(0.2):  # declaration order not the layer order
            order = d.shuffled(order)
            self.feature("nodes-out-of-order")
        declared = self.node_groups([specs[i] for i in order])
        by_default = {specs[i][0]: declared[j] for j, i in enumerate(order)}
        D = by_default["D"]
        H = [by_default[h] for h in hidden_defaults[:n_hidden]]
        C = by_default.get("C")
        O = by_default.get("O")
        self.feature(f"hidden:{n_hidden}")
        # levels: D at 0, hidden at 1..depth, outputs at depth + 1
        level = {D: 0}
        depth = 0
        for h in H:
            lv = d.integer(1, depth + 1) if depth else 1
            level[h] = lv
            depth = max(depth, lv)
        for o in (C, O):
            if o:
                level[o] = depth + 1
        groups = [D] + H + [o for o in (C, O) if o]
        pairs: list[tuple[str, str]] = []
        for h in H + [o for o in (C, O) if o]:  # every non-input group gets a predecessor
            lower = [g for g in groups if level[g] < level[h] and g not in (C, O)]
            prev = [g for g in lower if level[g] == level[h] - 1] or lower
            pairs.append((d.choice(prev), h))
        for h in H:  # every hidden group gets a successor
            if not any(t == h for t, _ in pairs):
                higher = [g for g in groups if level[g] > level[h]]
                pairs.append((h, d.choice(higher)))
        for t in [D] + H:  # skip connections and other extra pairs
            for h in H + [o for o in (C, O) if o]:
                if level[h] > level[t] and (t, h) not in pairs and d.chance(0.2):
                    pairs.append((t, h))
                    if level[h] > level[t] + 1:
                        self.feature("skip-connection")
        if len(H) >= 2 and d.chance(0.1):  # a back edge: a cycle among hidden groups
            a, b = sorted(d.shuffled(H)[:2], key=lambda g: level[g])
            if level[a] < level[b] and (b, a) not in pairs:
                pairs.append((b, a))
                self.feature("cycle")
        if len({level[h] for h in H}) < len(H):
            self.feature("parallel-hidden")
        eb = EdgeBuilder(self)
        for t, h in d.shuffled(pairs) if d.chance(0.3) else pairs:
            eb.add_pair(t, h, d.choice([("dense",), ("dense", "random", "list")]))
        succ = {g: [h for t, h in pairs if t == g] for g in groups}
        pred = {g: [t for t, h in pairs if h == g] for g in groups}
        need_out = {n: succ[g] for g in [D] + H for n in self.members[g]}
        need_in = {n: pred[g] for g in H + [o for o in (C, O) if o] for n in self.members[g]}
        eb.cover(need_out, need_in)
        if self.d.chance(0.3):
            eb.merge_dense()

        # groups
        neurons = H + [o for o in (C, O) if o]
        if H:
            self.group_def(H, "H")
        if d.chance(0.3):
            self.group_def(groups, "N")
        E = self.names.take("E")
        terms = eb.terms if d.chance(0.7) else d.shuffled(eb.terms)
        sep = " +\n    " if len(terms) > 3 and d.chance(0.5) else " + "
        self.decls.append(f"edges {E} = " + sep.join(terms))
        if d.chance(0.05):
            F = self.names.take("F")
            a, b = self.members[D][0], self.members[neurons[-1]][0]
            self.decls.append(f"edges {F} = [{self.node_ref(a)} -> {self.node_ref(b)}]")
            self.feature("unused-edge-set")

        # batch
        if d.chance(0.35):
            n_parts = d.integer(2, 3)
            parts = [(d.choice(["a", "b", "tr", "aux", "data", "code", "part"]),
                      d.integer(1, 8 if n_parts == 2 else 5)) for _ in range(n_parts)]
            k, part_names = self.batch(parts, 0)
        else:
            k, part_names = self.batch(None, d.integer(1, 12))
        whole = [k]

        # inputs and labels: over the whole batch, or per part
        per_part = len(part_names) > 1 and d.chance(0.6)
        cover_parts = part_names if per_part else whole
        in_names = {}
        for p in cover_parts:
            if per_part and p != cover_parts[0] and d.chance(0.3):
                continue  # a part with no data of its own
            name = self.names.take("d")
            self.decls.append(f"input {name}[{p}, {D}]")
            in_names[p] = name
            self.facts["inputs"].append(name)
        lab_names = {}
        if C:
            for p in cover_parts:
                if per_part and p != cover_parts[0] and d.chance(0.4):
                    continue
                name = self.names.take("c")
                self.decls.append(f"label {name}[{p}] in {C}")
                lab_names[p] = name
                self.facts["labels"].append(name)
        tgt_names = {}
        if O:
            for p in cover_parts:
                if per_part and p != cover_parts[0] and d.chance(0.4):
                    continue
                name = self.names.take("t")
                self.decls.append(f"input {name}[{p}, {O}]")
                tgt_names[p] = name
                self.facts["inputs"].append(name)
                self.feature("regression")

        # variables
        # a metric on x or w: the compiler refuses it (App. B assumes metric 1), so rarely
        x = self.var("x", E, k, self.edge_metric("gx"))
        w = self.var("w", E, k, self.edge_metric("gw"))
        ynodes = H + ([C] if C else [])
        use_b = d.chance(0.85)
        wide = d.chance(0.1)  # y over more nodes than any constraint uses (free elements)
        yaxis_groups = ([D] if wide else []) + ynodes
        if wide:
            self.feature("free-elements")
        y = b = None
        if ynodes:
            yaxis = self.domain(yaxis_groups)
            out_ok = [D] + H
            in_ok = H + ([C] if C else [])
            y = self.var("y", yaxis, k, self.node_metric(yaxis_groups, out_ok, in_ok))
            if use_b:
                same = d.chance(0.6)
                bm = self.node_metric(yaxis_groups, out_ok, in_ok) if not same else None
                b = self.names.take("b", "var")
                ydecl = self.decls[-1]
                self.decls.append(ydecl.replace(f"var {y}[", f"var {b}[", 1) if same
                                  else f"var {b}[{k}, {yaxis}]" + (f" metric {bm}" if bm else ""))
            else:
                self.feature("no-bias")

        # constraints
        i = self.loopvar("i")
        for p, inp in in_names.items():
            bind, lv = self.batch_binding(k, p)
            self.constraint("inputs", "A", f"for {bind}, {i} in {D}: agree {x}[{lv}, out({i})] "
                                           f"== {inp}[{lv}, {i}]")
        if not in_names:
            self.feature("no-inputs")
        # hidden activations: groups split into families, optionally per part
        if H:
            chunks = self._chunks(H)
            for chunk in chunks:
                split_parts = len(part_names) > 1 and d.chance(0.3)
                for p in (part_names if split_parts else whole):
                    bind, lv = self.batch_binding(k, p)
                    i = self.loopvar("i")
                    z = f"{y}[{lv}, {i}] - {b}[{lv}, {i}]" if b else f"{y}[{lv}, {i}]"
                    fixed = ""
                    if d.chance(0.05):
                        fixed = f" == {self.const(d.choice([0, 0.5, 1]))}"
                    use = self.sets.use()
                    if fixed and self.sets.kinds[-1] == "smooth":
                        # a smooth curve may only approach the constant (logistic and 1),
                        # which the front end refuses: a fixed constant with affine sets only
                        fixed = ""
                    if fixed:
                        self.feature("activation-fixed-constant")
                    self.constraint("hidden", "A",
                                    f"for {bind}, {i} in {self.domain(chunk)}: ({z}, agree "
                                    f"{x}[{lv}, out({i})]{fixed}) in {use}")
                if split_parts:
                    self.feature("activation-per-part")
        # classes
        for p, lab in lab_names.items():
            targets = [p]
            if p == k and len(part_names) > 1 and d.chance(0.4):
                targets = d.subset(part_names, 0.7, at_least=1)  # label over k, families per part
                self.feature("class-per-part")
            for tp in targets:
                bind, lv = self.batch_binding(k, tp)
                z = f"{y}[{lv}, {C}] - {b}[{lv}, {C}]" if b else f"{y}[{lv}, {C}]"
                margin = self.value(d.choice([0, 0.1, 0.5]), "margin", 0.6)
                mod = ""
                r = d.integer(0, 9)
                items = self.part_size[tp]
                if r < 2:
                    mod = f" exempt {self.count(items)}"
                    self.feature("modifier:exempt")
                elif r < 4:
                    mod = f" relabel {self.count(items)}"
                    self.feature("modifier:relabel")
                elif r < 5 and len(self.members[C]) == 2:
                    mod = f" allow {self.count(items)} as {d.integer(0, 1)}"
                    self.feature("modifier:allow")
                self.constraint("classes", "A",
                                f"for {bind}: {z} in margin({lab}[{lv}], {margin}){mod}")
        # regression targets
        for p, tgt in tgt_names.items():
            bind, lv = self.batch_binding(k, p)
            j = self.loopvar("j")
            a, c = (x, w) if d.chance(0.8) else (w, x)
            self.constraint("fit", "B", f"for {bind}, {j} in {O}: dot({a}[{lv}, in({j})], "
                                        f"{c}[{lv}, in({j})]) == {tgt}[{lv}, {j}]")
        # weights: one family or one per chunk of neurons
        for chunk in (self._chunks(neurons) if d.chance(0.3) else [neurons]):
            j = self.loopvar("j")
            self.constraint("weights", "A", f"for {j} in {self.domain(chunk)}: agree "
                            f"{w}[*, in({j})]{self.consensus_side(True, 'weights')}")
        # neurons: y = x·w / ω on the hidden and class nodes
        if ynodes:
            for chunk in (self._chunks(ynodes) if d.chance(0.2) else [ynodes]):
                j = self.loopvar("j")
                omega = self.value(d.choice([1.0, 2.0, 0.5]), "omega")
                form = d.integer(0, 4)
                yref = f"{y}[{k}, {j}]"
                # `y * 1 / 2` reads as (y * 1) / 2, not a coefficient: parenthesize there
                right = omega if re.fullmatch(r"[\w.+]+", omega) else f"({omega})"
                rhs = [f"{omega} * {yref}", f"{yref} * {right}", yref, f"({omega}) * {yref}",
                       f"{omega}*{yref}"][form]
                a, c = (x, w) if d.chance(0.85) else (w, x)
                if (a, c) == (w, x):
                    self.feature("dot-swapped")
                self.constraint("neuron", "B", f"for {k}, {j} in {self.domain(chunk)}: "
                                f"dot({a}[{k}, in({j})], {c}[{k}, in({j})]) == {rhs}")
        if b:
            for chunk in (self._chunks(ynodes) if d.chance(0.2) else [ynodes]):
                j = self.loopvar("j")
                self.constraint("bias", "B", f"for {j} in {self.domain(chunk)}: agree "
                                f"{b}[*, {j}]{self.consensus_side(False, 'bias')}")
        if d.chance(0.08):  # a second, separate network in the same model
            self.component = 1
            self.nmf(block=k)
            self.component = 0
            self.feature("two-networks")
        if C and not O and len(in_names) == 1 and not lab_names.keys() - {k}:
            width = self.param(len(self.members[D]), "n_in") if d.chance(0.5) \
                else str(len(self.members[D]))
            self.facts["data_spec"] = (f"blobs:inputs={{{width}}}" if width in self.params else
                                       f"blobs:inputs={width}") + \
                f",classes={len(self.members[C])},items=8"
        self.facts["kind"] = {"classify": "classifier", "regress": "regression",
                              "both": "classifier+regression"}[heads]

    def _chunks(self, groups: list[str]) -> list[list[str]]:
        """Split a list of groups into 1..n consecutive chunks."""
        if len(groups) == 1 or self.d.chance(0.5):
            return [groups]
        cuts = sorted(self.d.subset(range(1, len(groups)), 0.5, at_least=1))
        out, start = [], 0
        for c in cuts + [len(groups)]:
            out.append(groups[start:c])
            start = c
        self.feature("families-split")
        return out

    def autoencoder(self) -> None:
        """The cyclic network of Sect. 6.1: D -> (E1) -> Z -> (F1) -> D, data and code items."""
        d = self.d
        specs = [("D", d.integer(2, 6))]
        enc = d.chance(0.4)
        dec = d.chance(0.4)
        if enc:
            specs.append(("E1", d.integer(2, 5)))
        specs.append(("Z", d.integer(1, 3)))
        if dec:
            specs.append(("F1", d.integer(2, 5)))
        names = self.node_groups(specs)
        chain = names + [names[0]]
        eb = EdgeBuilder(self)
        pairs = list(zip(chain[:-1], chain[1:], strict=True))
        for t, h in pairs:
            eb.add_pair(t, h, d.choice([("dense",), ("dense", "random", "list")]))
        if len(names) > 2 and d.chance(0.3):  # a shortcut D -> Z
            eb.add_pair(names[0], names[2 if enc else 1], ("dense", "list"))
            self.feature("skip-connection")
        succ = {t: [h] for t, h in pairs}
        pred = {h: [t] for t, h in pairs}
        eb.cover({n: succ[g] for g in names for n in self.members[g]},
                 {n: pred[g] for g in names for n in self.members[g]})
        self.feature("cycle")
        D = names[0]
        Z = names[2 if enc else 1]
        N = self.group_def(names, "N")
        E = self.names.take("E")
        self.decls.append(f"edges {E} = " + " + ".join(eb.terms))
        two = d.chance(0.75)
        if two:
            k, (dp, cp) = self.batch([(d.choice(["data", "a", "tr"]), d.integer(1, 8)),
                                      (d.choice(["code", "b", "cd"]), d.integer(1, 6))], 0)
        else:
            k, (dp,) = self.batch(None, d.integer(1, 10))
            cp = None
        din = self.names.take("d")
        self.decls.append(f"input {din}[{dp}, {D}]")
        self.facts["inputs"].append(din)
        s = None
        sampled = False
        if cp:
            s = self.names.take("s")
            if d.chance(0.5):
                # the source variable is declared below; its name is filled in then
                self.decls.append(f"sample {s}[{cp}, {Z}] from agree __X__[{dp}, out({Z})]")
                self.facts["samples"].append(s)
                self.facts["inputs"].append(s)
                sampled = True
                self.feature("sample")
            else:
                self.decls.append(f"input {s}[{cp}, {Z}]")
                self.facts["inputs"].append(s)
        x = self.var("x", E, k)
        if sampled:
            self.decls = [t.replace("__X__", x) for t in self.decls]
        w = self.var("w", E, k)
        m = "outdeg" if d.chance(0.6) else self.node_metric(names, names, names)
        y = self.var("y", N, k, m)
        b = self.var("b", N, k, m if d.chance(0.7) else "")

        def act(bind, lv, dom, fixed=""):
            i = self.loopvar("i")
            return (f"for {bind}, {i} in {dom}: ({y}[{lv}, {i}] - {b}[{lv}, {i}], agree "
                    f"{x}[{lv}, out({i})]{fixed.format(lv=lv, i=i)}) in {self.sets.use()}")

        rest_d = self.domain([g for g in names if g != D])
        bind, lv = self.batch_binding(k, dp)
        self.constraint("data_in", "A", act(bind, lv, D, f" == {din}[{{lv}}, {{i}}]"))
        self.constraint("data_rest", "A", act(bind, lv, rest_d))
        if cp:
            bind, lv = self.batch_binding(k, cp)
            self.constraint("code_in", "A", act(bind, lv, Z, f" == {s}[{{lv}}, {{i}}]"))
            self.constraint("code_rest", "A",
                            act(bind, lv, self.domain([g for g in names if g != Z])))
        j = self.loopvar("j")
        side = self.consensus_side(True, "weights")
        self.constraint("weights", "A", f"for {j} in {N}: agree {w}[*, in({j})]{side}")
        j = self.loopvar("j")
        omega = self.value(d.choice([1.0, 2.0, 5.0]), "omega")
        self.constraint("neuron", "B", f"for {k}, {j} in {N}: dot({x}[{k}, in({j})], "
                                       f"{w}[{k}, in({j})]) == {omega} * {y}[{k}, {j}]")
        j = self.loopvar("j")
        self.constraint("bias", "B", f"for {j} in {N}: agree {b}[*, {j}]")
        self.facts["kind"] = "autoencoder"

    def nmf(self, block: str | None = None) -> None:
        """Factorization Y = W X (Sect. 4): codes C, data D, edges C -> D. With `block` (the
        batch index of a model being built), a second, separate network in that model: its own
        groups, edge set, input, variables and constraints."""
        d = self.d
        r, m = d.integer(1, 5), d.integer(2, 8)
        if block:
            r, m = min(r, 3), min(m, 4)
        cn, dn = ("P", "Q") if block else ("C", "D")
        before = len(self.decls)
        if d.chance(0.5):
            C, D = self.node_groups([(cn, r), (dn, m)])
        else:
            D, C = self.node_groups([(dn, m), (cn, r)])
        if block and not NODES_AFTER_EDGES:  # the new nodes go before the first edge set
            new = self.decls[before:]
            del self.decls[before:]
            at = next(i for i, t in enumerate(self.decls) if t.startswith("edges "))
            self.decls[at:at] = new
        eb = EdgeBuilder(self)
        eb.add_pair(C, D, ("dense", "random", "list") if d.chance(0.4) else ("dense",))
        eb.cover({n: [D] for n in self.members[C]}, {n: [C] for n in self.members[D]})
        E = self.names.take("F" if block else "E")
        self.decls.append(f"edges {E} = " + " + ".join(eb.terms))
        if block:
            k, parts = block, [block]
        elif d.chance(0.25):
            k, parts = self.batch([(d.choice(["a", "data"]), d.integer(1, 6)),
                                   (d.choice(["b", "rest"]), d.integer(1, 6))], 0)
        else:
            k, parts = self.batch(None, d.choice([m, d.integer(1, 12)]))
        per_part = len(parts) > 1 and d.chance(0.5)
        cover = parts if per_part else [k]
        ins = {}
        for p in cover:
            name = self.names.take("Y")
            self.decls.append(f"input {name}[{p}, {D}]")
            ins[p] = name
            self.facts["inputs"].append(name)
        x = self.var("u" if block else "x", E, k)
        w = self.var("v" if block else "w", E, k)
        i = self.loopvar("i")
        self.constraint("codes", "A", f"for {k}, {i} in {C}: agree {x}[{k}, out({i})]"
                                      f"{self.consensus_side(False, 'codes')}")
        i = self.loopvar("i")
        side = f" in nonneg & sphere({self.value(d.choice([0.6, 1.0]), 'omega')})" \
            if d.chance(0.5) else self.consensus_side(True, "weights")
        self.constraint("weights", "A", f"for {i} in {C}: agree {w}[*, out({i})]{side}")
        for p, name in ins.items():
            bind, lv = self.batch_binding(k, p)
            j = self.loopvar("j")
            a, c = (x, w) if d.chance(0.8) else (w, x)
            self.constraint("factor", "B", f"for {bind}, {j} in {D}: dot({a}[{lv}, in({j})], "
                                           f"{c}[{lv}, in({j})]) == {name}[{lv}, {j}]")
        if not block:
            self.facts["kind"] = "nmf"

    # --- the whole file ---

    def solve(self) -> None:
        d = self.d
        if not d.chance(0.6):
            return
        method = d.choice(["rrr", "rrr", "rrr", "dr", "ap"])
        opts = []
        if d.chance(0.5):
            opts.append(f"beta = {self.const(d.choice([0.3, 0.5, 1.0, 1.5, 2.0]))}")
        if method == "rrr" and d.chance(0.15):
            opts.append(f"lam = {self.const(d.choice([0.5, 1.0]))}")
            self.feature("solver:lam")
        if d.chance(0.5):
            opts.append(f"iterations = {d.choice([1, 10, 100])}")
        if d.chance(0.3):
            opts.append(f"tolerance = {d.choice(['0', '1e-4', '1e-6'])}")
        if d.chance(0.3):
            opts.append(f"epochs = {d.choice([1, 2, 5])}")
        if d.chance(0.3):
            opts.append(f"seed = {d.integer(0, 3)}")
        if d.chance(0.2):
            opts.append(f"error = \"{d.choice(['item', 'element'])}\"")
        if d.chance(0.1):
            opts.append(f"restart = {d.integer(0, 1)}")
        self.feature(f"solver:{method}")
        opts = d.shuffled(opts)
        self.tail.append(f"solve {method}" + (f"({', '.join(opts)})" if opts or d.chance(0.3)
                                              else ""))

    def build(self) -> tuple[str, dict]:
        d = self.d
        kind = d.choice(["classify"] * 4 + ["regress", "both", "auto", "auto", "nmf", "nmf"])
        if kind == "auto":
            self.autoencoder()
        elif kind == "nmf":
            self.nmf()
        else:
            self.feedforward(kind)
        self.solve()
        if d.chance(0.15) and self.facts.get("data_spec"):
            self.tail.append(f'data train = "{self.facts.pop("data_spec")}"')
            self.feature("data-statement")
        self.facts.pop("data_spec", None)
        cons = self.finish_constraints()
        title = ""
        if d.chance(0.5):
            mname = self.names.take("m") if d.chance(0.5) else d.choice(["np", "model", "x", "m"])
            title = f"model {mname}" + (' "generated by tests/modelgen.py"' if d.chance(0.5)
                                        else "")
        body = self.decls
        if d.chance(0.2):  # constraints and sets may stand anywhere
            body = list(body)
            for c in cons + self.sets.decls:
                body.insert(d.integer(0, len(body)), c)
            lines = self.head + body
            self.feature("constraints-anywhere")
        else:
            lines = self.head + body + self.sets.decls + cons
            if d.chance(0.3):
                lines = self.head + self.sets.decls + body + cons
        lines = ([title] if title else []) + lines + self.tail
        if d.chance(0.1):  # comments
            lines = [ln + ("  # " + d.choice(["eq. 26", "odd: [x] -> y", "#", ""])
                           if d.chance(0.3) else "") for ln in lines]
        text = "\n".join(lines) + "\n"
        if self.names.twins:
            self.feature("case-twins")
        used_odd = sorted(self.names.odd_taken)
        if used_odd:
            self.feature("odd-names")
        for s in self.sets.kinds:
            self.feature(f"activation:{s}")
        facts = dict(self.facts)
        facts.update(features=sorted(self.features), n_nodes=self.n_nodes,
                     batch=max(self.part_size.values()), odd_names=used_odd,
                     constraints=[n for n, _ in self.constraints])
        return text, facts


def generate(d: Drawer) -> tuple[str, dict]:
    """One random model: (text, facts)."""
    return _Gen(d).build()


@st.composite
def models(draw) -> tuple[str, dict]:
    """Hypothesis strategy: (text, facts) of a random legal model."""
    return generate(HypothesisDrawer(draw))


def draw_model(seed: int) -> tuple[str, dict]:
    """The model of one seed, reproducibly (no hypothesis involved)."""
    return generate(RandomDrawer(random.Random(seed)))


# --- the front end --------------------------------------------------------------------------


def front_end(text: str, file: str = "gen.lwl"):
    """Parse, elaborate and split, as `lwlc check`; returns (model, split plan). LwlcError
    propagates."""
    from lwlc.elaborate import elaborate
    from lwlc.parse import parse_text
    from lwlc.split import split

    model = elaborate(parse_text(text, file))
    return model, split(model)


# --- the runner -----------------------------------------------------------------------------

# Stages of one backend's run, in order; a failure names the stage it happened in.
STAGES = ("compile", "load", "initial_params", "init", "rrr_step", "solve_batch", "idempotence",
          "consensus_params", "predict")


# Words that read as English, Python or `.lwl` in a message: never blanked as model names.
_PLAIN_WORDS = {
    "a", "an", "and", "or", "not", "is", "in", "out", "for", "as", "from", "on", "all", "to",
    "of", "at", "by", "with", "set", "data", "state", "input", "label", "sample", "batch",
    "group", "nodes", "edges", "var", "model", "param", "constraint", "solve", "if", "None",
    "True", "False", "def", "class", "return", "import", "pass", "while", "print", "len",
    "range", "list", "dict", "sum", "min", "max", "abs", "margin", "sphere", "box", "sparse",
    "nonneg", "step", "relu", "exp", "log", "sqrt", "tanh", "sigmoid", "random", "dense",
    "file", "metric", "exempt", "relabel", "allow", "train", "test", "new", "mean", "self",
    "agree", "dot", "error", "App", "Sect", "A", "B",
}


def model_names(model) -> set[str]:
    """The names a model declares (parameters, groups, edge sets, batch and parts, inputs,
    labels, samples, variables, constraints), for `normalize`."""
    names = set(model.params) | set(model.groups) | set(model.edge_sets) | set(model.inputs)
    names |= set(model.labels) | set(model.samples) | set(model.variables)
    names |= {f.name for f in model.families}
    if model.batch is not None:
        names |= {model.batch.index} | {p.name for p in model.batch.parts}
    return names


def normalize(message: str, names: set[str] = frozenset()) -> str:
    """A message with the model's particulars (names, numbers, places) blanked out, so that
    failures of one kind group together. `names`: the model's own names, blanked where they
    stand as words (except those that read as English or Python)."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = re.sub(r"^\S+\.lwl:\d+:\d+: ", "", line)
    blank = sorted((n for n in names if n not in _PLAIN_WORDS), key=len, reverse=True)
    if blank:
        line = re.sub(r"(?<![\w'])(" + "|".join(map(re.escape, blank)) + r")(?![\w'])", "_",
                      line)
    line = re.sub(r"/\S+", "PATH", line)
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'_'", line)
    line = re.sub(r"\b0x[0-9a-f]+\b", "ADDR", line)
    line = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", line)
    line = re.sub(r"\(N(, N)*,?\)", "(N...)", line)
    return line[:200]


def _finite(tree: dict) -> str | None:
    """The name of the first array of a dict of arrays holding NaN or inf, or None."""
    for k, v in tree.items():
        a = np.asarray(v)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            return k
    return None


def random_data(model, seed: int = 0) -> dict[str, np.ndarray]:
    """Random values for every input (samples included) and label of a model: inputs
    [part.size, len(nodes)] float64 in [0, 1), labels [part.size] int64 class positions."""
    rng = np.random.default_rng([seed, 1])
    data: dict[str, np.ndarray] = {}
    for inp in list(model.inputs.values()) + [s for s in model.samples.values()
                                              if s.name not in model.inputs]:
        data[inp.name] = rng.uniform(0.0, 1.0, size=(inp.part.size, len(inp.nodes)))
    for lab in model.labels.values():
        data[lab.name] = rng.integers(0, len(lab.classes), size=lab.part.size).astype(np.int64)
    return data


def _primary(model):
    return next((i for i in model.inputs.values() if i.name not in model.samples), None)


def _compare(ref: dict, got: dict, rtol: float, atol: float) -> tuple[str | None, float]:
    """(name of the first array that differs, largest |difference| over all arrays)."""
    first, worst = None, 0.0
    for k in ref:
        a = np.asarray(ref[k], dtype=np.float64)
        if k not in got:
            return k, math.inf
        b = np.asarray(got[k], dtype=np.float64)
        if a.shape != b.shape:
            return k, math.inf
        if a.size:
            diff = float(np.max(np.abs(a - b)))
            worst = max(worst, diff)
            if first is None and not np.allclose(b, a, rtol=rtol, atol=atol):
                first = k
    return first, worst


def _discontinuous(solver, state: dict, data: dict, rtol: float, atol: float, seed: int,
                   trials: int = 4, scale: float = 1e-12) -> bool:
    """Whether one NumPy RRR step from `state` jumps by more than the tolerance when the state
    is perturbed by `scale` (relative): the step is at a tie between two choices."""
    rng = np.random.default_rng([seed, 2])
    base, e0 = solver.rrr_step({k: np.array(v) for k, v in state.items()}, data)
    for _ in range(trials):
        moved = {k: v + scale * (1.0 + np.abs(v)) * rng.standard_normal(v.shape)
                 for k, v in state.items()}
        out, e1 = solver.rrr_step(moved, data)
        name, _ = _compare(base, out, rtol, atol)
        if name is not None or not math.isclose(float(e0), float(e1), rel_tol=rtol,
                                                abs_tol=atol):
            return True
    return False


def _check_idempotent(solver, state: dict, data: dict, tol: float = 1e-7) -> None:
    """P(P(x)) = P(x) for the module's project_A and project_B, if it has them."""
    for name in ("project_A", "project_B"):
        project = getattr(solver, name, None)
        if project is None:
            continue
        once = project({k: np.array(v) for k, v in state.items()}, data)
        twice = project({k: np.array(v) for k, v in once.items()}, data)
        bad, diff = _compare(once, twice, tol, tol)
        if bad is not None:
            raise _Fail(f"{name} is not idempotent: {name}({name}(x)) moves {bad} by {diff:.3g}")


class _Fail(Exception):
    """A check of the runner failed (not an exception of the compiler or the solver)."""


def exercise(text: str, backends: Sequence[str] = ("numpy", "jax"), iterations: int = 3,
             seed: int = 0, *, rtol: float = 1e-9, atol: float = 1e-9,
             solve_batch: bool = True, jax_jit: bool = True, idempotence: bool = True,
             keep_modules: bool = False) -> dict:
    """Compile a model with each backend and run it a few RRR steps on random data.

    Checks: the front end accepts it; each backend compiles it (an `LwlcError` from the compiler
    is a refusal, recorded apart) and its module loads; `initial_params`, `init`, `iterations`
    calls of `rrr_step`, `solve_batch` (same steps, tolerance 0), `consensus_params` and
    `predict` run and give finite arrays; NumPy's `project_A` and `project_B` (where the module
    has them) are idempotent at the last state (a projection leaves a point of its set in
    place: a check independent of both backends); every backend, started from the NumPy backend's
    initial state, gives the NumPy states and errors after every step (float64, `rtol`/`atol`;
    JAX's `rrr_step` under `jax.jit` unless `jax_jit=False`, op by op then, much slower);
    predicted classes lie in range. Where a backend parts from NumPy at a step that is itself
    discontinuous at its input (a NumPy step from a slightly perturbed state jumps: a tie that
    either choice resolves correctly), that is a note (`notes`), not a failure.

    Never raises: returns a dict with `status` ("ok", "rejected" by the front end, "refused" by
    the compiler, "failed"), `failures` (one dict per failed check: backend, stage, type,
    message, kind, traceback), `refused` ({backend: message}), `rejected` (the front end's
    message), `refused_kinds` ({backend: message normalized}), `notes`, `warnings`
    (RuntimeWarnings seen) and per-backend figures (`backends`,
    `max_diff`, `seconds`).
    """
    import sys
    import warnings

    from lwlc.errors import LwlcError

    t_start = time.perf_counter()
    names: set[str] = set()  # the model's names, blanked in failure kinds
    result: dict[str, Any] = {"status": "ok", "rejected": None, "refused": {}, "failures": [],
                              "refused_kinds": {},
                              "backends": {}, "max_diff": {}, "warnings": [], "notes": []}

    def fail(backend: str, stage: str, exc: BaseException | None, message: str = "") -> None:
        typ = type(exc).__name__ if exc is not None and not isinstance(exc, _Fail) else "Check"
        msg = message or (str(exc) if exc is not None else "")
        if isinstance(exc, LwlcError):
            msg = exc.format()
        tb = "".join(traceback.format_exception(exc)) if exc is not None else ""
        result["failures"].append({
            "backend": backend, "stage": stage, "type": typ, "message": msg,
            "kind": f"{stage}: {typ}: {normalize(msg, names)}", "traceback": tb[-6000:],
        })

    with tempfile.TemporaryDirectory(prefix="lwlc_modelgen_") as tmp:
        path = Path(tmp) / "gen.lwl"
        path.write_text(text)
        try:
            model, _ = front_end(text, str(path))
        except LwlcError as e:
            result["status"] = "rejected"
            result["rejected"] = e.format()
            return result
        except Exception as e:  # noqa: BLE001 - a crash of the front end is a finding
            fail("front_end", "front_end", e)
            result["status"] = "failed"
            return result
        names = model_names(model)
        data_np = random_data(model, seed)
        primary = _primary(model)
        runs: dict[str, dict] = {}  # backend -> {"init": state, "states": [...], "errs": [...]}
        init_ref = None  # the NumPy backend's initial state: every backend starts from it
        order = sorted(backends, key=lambda b: b != "numpy")  # NumPy first
        for backend in order:
            info: dict[str, Any] = {"compiled": False, "steps": 0, "seconds": 0.0}
            result["backends"][backend] = info
            t0 = time.perf_counter()
            solver = None
            t_stage = [t0, "compile"]

            def mark(name, info=info, t_stage=t_stage):
                now = time.perf_counter()
                info.setdefault("stage_seconds", {})[t_stage[1]] = round(now - t_stage[0], 3)
                t_stage[:] = [now, name]
                return name

            stage = "compile"
            try:
                from lwlc.compiler import compile_model, load_solver

                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        compiled = compile_model(path, overrides=None, backend=backend,
                                                 dtype="float64")
                    except LwlcError as e:
                        if "internal error" in e.message:
                            raise
                        result["refused"][backend] = e.format()
                        result["refused_kinds"][backend] = normalize(e.format(), names)
                        continue
                    info["compiled"] = True
                    info["source_lines"] = compiled.source.count("\n")
                    stage = mark("load")
                    solver = load_solver(compiled.source)
                    if backend == "numpy":
                        xp = np
                        data = data_np
                    else:
                        import jax.numpy as jnp

                        xp = jnp
                        data = {k: jnp.asarray(v) for k, v in data_np.items()}
                    stage = mark("initial_params")
                    params = solver.initial_params(np.random.default_rng(seed))
                    bad = _finite(params)
                    if bad:
                        raise _Fail(f"initial parameter {bad} is not finite")
                    stage = mark("init")
                    own_init = solver.init(params, data)
                    bad = _finite(own_init)
                    if bad:
                        raise _Fail(f"initial state {bad} is not finite")
                    if init_ref is None:
                        init_ref = {k: np.array(v, dtype=np.float64) for k, v in own_init.items()}
                    stage = mark("rrr_step")
                    state = {k: xp.asarray(v) for k, v in init_ref.items()}
                    states, errs = [], []
                    step_fn = solver.rrr_step
                    if backend == "jax" and jax_jit:  # as training runs it; eager is slow
                        step_fn = solver.jit(solver.rrr_step)
                    for step in range(iterations):
                        state, err = step_fn(state, data)
                        err = float(err)
                        bad = _finite(state)
                        if bad or not math.isfinite(err):
                            raise _Fail(f"after step {step + 1}: "
                                        + (f"state {bad} is not finite" if bad
                                           else f"RRR_err is {err}"))
                        states.append({k: np.array(v, dtype=np.float64)
                                       for k, v in state.items()})
                        errs.append(err)
                        info["steps"] = step + 1
                    runs[backend] = {"states": states, "errs": errs, "solver": solver}
                    if solve_batch and hasattr(solver, "solve_batch"):
                        stage = mark("solve_batch")
                        start = {k: xp.array(v) for k, v in init_ref.items()}
                        st_, steps, first, last = solver.solve_batch(
                            start, data, iterations=iterations, tolerance=0.0)
                        if int(steps) != iterations:
                            raise _Fail(f"solve_batch ran {steps} steps, not {iterations}")
                        bad = _finite(st_)
                        if bad or not (math.isfinite(first) and math.isfinite(last)):
                            raise _Fail("solve_batch: " + (f"state {bad} is not finite" if bad
                                        else f"errors {first}, {last}"))
                        runs[backend]["solve_batch"] = (
                            {k: np.array(v, dtype=np.float64) for k, v in st_.items()},
                            float(first), float(last))
                    if backend == "numpy" and idempotence:
                        stage = mark("idempotence")
                        _check_idempotent(solver, state, data)
                    if hasattr(solver, "consensus_params"):
                        stage = mark("consensus_params")
                        cp = solver.consensus_params(state, data)
                        bad = _finite(cp)
                        if bad:
                            raise _Fail(f"consensus parameter {bad} is not finite")
                    if hasattr(solver, "predict") and primary is not None:
                        stage = mark("predict")
                        K = primary.part.size
                        pred = np.asarray(solver.predict(params, data, K))
                        if pred.dtype.kind == "f" and not np.all(np.isfinite(pred)):
                            raise _Fail("predict gave values that are not finite")
                        if model.labels and pred.dtype.kind in "iu":
                            n_classes = len(next(iter(model.labels.values())).classes)
                            if pred.shape[:1] != (K,) or pred.min() < 0 or pred.max() >= n_classes:
                                raise _Fail(f"predict gave classes {pred.tolist()} "
                                            f"for {K} items and {n_classes} classes")
                    for w in caught:
                        if issubclass(w.category, RuntimeWarning):
                            result["warnings"].append(
                                f"{backend}: {w.category.__name__}: {str(w.message)[:200]}")
            except Exception as e:  # noqa: BLE001 - every exception is a finding
                fail(backend, stage, e)
            finally:
                mark("")
                info["seconds"] = round(time.perf_counter() - t0, 3)
                if solver is not None and not keep_modules:
                    sys.modules.pop(solver.__name__, None)
        # every backend against NumPy, step by step. Where the NumPy step itself jumps under a
        # perturbation of its input far below the tolerance, the step is at a discontinuity
        # (a tie: two class or piece choices equally near) and either choice is right: the
        # backends may part there, which is noted, not failed.
        ref = runs.get("numpy")
        sensitive: dict[int, bool] = {}

        def tie_at(step: int) -> bool:
            if step not in sensitive:
                start = init_ref if step == 0 else ref["states"][step - 1]
                sensitive[step] = _discontinuous(ref["solver"], start, data_np, rtol, atol,
                                                 seed)
            return sensitive[step]

        for backend, run in runs.items():
            if backend == "numpy" or ref is None:
                continue
            worst = 0.0
            parted = False
            for step, (a, b) in enumerate(zip(ref["states"], run["states"], strict=True)):
                name, diff = _compare(a, b, rtol, atol)
                ea, eb = ref["errs"][step], run["errs"][step]
                err_ok = math.isclose(ea, eb, rel_tol=rtol, abs_tol=atol)
                if name is None and err_ok:
                    worst = max(worst, diff)
                    continue
                parted = True
                what = (f"in {name} (max |difference| {diff:.3g})" if name is not None
                        else f"in RRR_err: {eb!r} vs {ea!r}")
                if tie_at(step):
                    result["notes"].append(f"{backend} parts from numpy after step {step + 1} "
                                           f"{what} at a tie of the numpy step")
                else:
                    worst = max(worst, diff)
                    fail(backend, "compare", _Fail(), f"{backend} differs from numpy after "
                         f"step {step + 1} {what}")
                break
            if "solve_batch" in run and "solve_batch" in ref and not parted:
                name, diff = _compare(ref["solve_batch"][0], run["solve_batch"][0], rtol, atol)
                if name is not None:
                    if any(tie_at(s) for s in range(iterations)):
                        result["notes"].append(f"{backend} solve_batch parts from numpy at a "
                                               "tie")
                    else:
                        fail(backend, "compare", _Fail(), f"{backend} solve_batch differs from "
                             f"numpy solve_batch in {name} (max |difference| {diff:.3g})")
                else:
                    worst = max(worst, diff)
            result["max_diff"][backend] = worst
        # solve_batch must agree with the same number of rrr_step calls, per backend
        for backend, run in runs.items():
            if "solve_batch" in run and run["states"]:
                name, diff = _compare(run["states"][-1], run["solve_batch"][0], rtol, atol)
                if name is None:
                    continue
                if ref is not None and any(tie_at(s) for s in range(iterations)):
                    result["notes"].append(f"{backend}: solve_batch parts from its rrr_step "
                                           "calls at a tie")
                else:
                    fail(backend, "compare", _Fail(), f"{backend}: solve_batch differs from "
                         f"{iterations} rrr_step calls in {name} (max |difference| {diff:.3g})")
    if result["failures"]:
        result["status"] = "failed"
    elif result["refused"]:
        result["status"] = "refused"
    result["seconds"] = round(time.perf_counter() - t_start, 3)
    return result
