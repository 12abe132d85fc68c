"""Runtime of the emitted solvers: real, linted, unit-tested modules whose top-level
functions
and settings are copied, by name, into every solver module that reaches them
(:func:`lwlc.runtime.sections`).

A copied function uses the solver module's globals of the same name: each runtime
module binds
the names it relies on (``xp``, ``ALL``, ``_assign``, ...) to NumPy defaults, so that
it runs and
is tested on its own, and the emitted module binds them for its backend.
"""

from __future__ import annotations

import ast
import inspect
from types import ModuleType


def sections(module: ModuleType, names: tuple[str, ...] | list[str]) -> list[str]:
    """The source of the named top-level definitions (functions or assignments) of
    `module`,
    each with the comment lines just above it, in the module's order."""
    text = inspect.getsource(module)
    lines = text.splitlines()
    tree = ast.parse(text)
    want = set(names)
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound = {node.name}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound = {
                n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)
            }
        else:
            continue
        if not bound & want:
            continue
        start = node.lineno - 1
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.decorator_list:
            start = node.decorator_list[0].lineno - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        out.append("\n".join(lines[start : node.end_lineno]) + "\n")
        want -= bound
    if want:
        raise KeyError(f"{module.__name__} defines no {sorted(want)}")
    return out
