"""The .lwl models of the golden RRR steps in ../shared/golden (README there), written from each
file's `model` settings, and loaders of its states into lwlc's layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("g_*.json")) if GOLDEN.is_dir() else []


def classifier_lwl(g: dict) -> str:
    m = g["model"]
    layers = m["layers"]
    hidden = [f"H{i + 1}" for i in range(len(layers) - 2)]
    names = ["D", *hidden, "C"]
    nodes = "\n".join(f"nodes {n}[{s}]" for n, s in zip(names, layers, strict=True))
    edges = " + ".join(f"dense({a} -> {b})" for a, b in zip(names, names[1:], strict=False))
    K = len(g["data"])
    if m["kind"] == "classifier_fpa":
        modifier = f"allow {m['fpa']} as 1"
    elif m.get("ee", 0):
        modifier = f"exempt {m['ee']}"
    else:
        modifier = ""
    return f"""
model golden_classifier
param omega = {m['omega']}
param upsilon = {m['upsilon']}
param margin = {m['margin']}
{nodes}
group H = {' | '.join(hidden)}
edges E = {edges}
batch k[{K}]
input d[k, D]
label c[k] in C
var x[k, E]
var w[k, E]
var y[k, H | C] metric outdeg on H, upsilon on C
var b[k, H | C] metric outdeg on H, upsilon on C
constraint inputs  for k, i in D:     agree x[k, out(i)] == d[k, i]
constraint hidden  for k, i in H:     (y[k, i] - b[k, i], agree x[k, out(i)]) in relu
constraint classes for k:             y[k, C] - b[k, C] in margin(c[k], margin) {modifier}
constraint weights for j in H | C:    agree w[*, in(j)] in sphere(omega)
constraint neuron  for k, j in H | C: dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
constraint bias    for j in H | C:    agree b[*, j]
solve rrr(beta = {m['beta']}, iterations = 1)
"""


def nmf_lwl(g: dict) -> str:
    m = g["model"]
    K = len(g["data"])
    return f"""
model golden_nmf
param omega = {m['omega']}
nodes C[{m['code_nodes']}]
nodes D[{m['data_nodes']}]
edges E = dense(C -> D)
batch k[{K}]
input Y[k, D]
var x[k, E]
var w[k, E]
constraint codes   for k, i in C: agree x[k, out(i)] >= 0
constraint weights for i in C:    agree w[*, out(i)] in nonneg & sphere(omega)
constraint factor  for k, j in D: dot(x[k, in(j)], w[k, in(j)]) == Y[k, j]
solve rrr(beta = {m['beta']}, iterations = 1, error = "element")
"""


def autoencoder_lwl(g: dict) -> str:
    m, c = g["model"], g["counts"]
    groups = [("D", c["data"]), ("E1", c["encode"]), ("Z", c["code"]), ("F1", c["decode"])]
    groups = [(n, s) for n, s in groups if s]
    nodes = "\n".join(f"nodes {n}[{s}]" for n, s in groups)
    names = [n for n, _ in groups] + ["D"]
    edges = " + ".join(f"dense({a} -> {b})" for a, b in zip(names, names[1:], strict=False))
    act = f"{m['activation']}(margin)"
    return f"""
model golden_autoencoder
param omega = {m['omega']}
param margin = {m['margin']}
{nodes}
group N = {' | '.join(n for n, _ in groups)}
edges E = {edges}
batch k = data[{c['data_items']}] + code[{c['code_items']}]
input d[data, D]
input s[code, Z]
var x[k, E]
var w[k, E]
var y[k, N] metric outdeg
var b[k, N] metric outdeg
constraint data_in   for k in data, i in D:     (y[k, i] - b[k, i], agree x[k, out(i)] == d[k, i]) in {act}
constraint data_rest for k in data, i in N - D: (y[k, i] - b[k, i], agree x[k, out(i)]) in {act}
constraint code_in   for k in code, i in Z:     (y[k, i] - b[k, i], agree x[k, out(i)] == s[k, i]) in {act}
constraint code_rest for k in code, i in N - Z: (y[k, i] - b[k, i], agree x[k, out(i)]) in {act}
constraint weights   for j in N:                agree w[*, in(j)] in sphere(omega)
constraint neuron    for k, j in N:             dot(x[k, in(j)], w[k, in(j)]) == omega * y[k, j]
constraint bias      for j in N:                agree b[*, j]
solve rrr(beta = {m['beta']}, iterations = 1)
"""


def load(path: Path) -> tuple[dict, str, dict, dict, dict]:
    """(golden json, model text, data dict, state before, state after) in lwlc's layout."""
    g = json.loads(path.read_text())
    kind = g["model"]["kind"]
    if kind == "nmf":
        text = nmf_lwl(g)
        data = {"Y": np.array(g["data"], dtype=float)}

        def state(s):
            return {k: np.array(v, dtype=float).reshape(len(v), -1) for k, v in s.items()}

    elif kind == "autoencoder":
        text = autoencoder_lwl(g)
        c = g["counts"]
        fixed = np.array(g["fixed"], dtype=float)
        nd, ncode = c["data"], c["code"]
        zstart = c["data"] + c["encode"]
        data = {"d": fixed[: c["data_items"], :nd],
                "s": fixed[c["data_items"]:, zstart:zstart + ncode]}

        def state(s):
            return {k: np.array(v, dtype=float) for k, v in s.items()}

    else:
        text = classifier_lwl(g)
        data = {"d": np.array(g["data"], dtype=float), "c": np.array(g["labels"], dtype=int)}

        def state(s):
            return {k: np.array(v, dtype=float) for k, v in s.items()}

    return g, text, data, state(g["before"]), state(g["after"])


def edges_match(g: dict, model) -> bool:
    """The golden file's edge order equals lwlc's (head, then tail)."""
    if "edges" not in g:
        return True
    es = next(iter(model.edge_sets.values()))
    ref = np.array(g["edges"])
    return np.array_equal(ref[:, 0], es.tail) and np.array_equal(ref[:, 1], es.head)
