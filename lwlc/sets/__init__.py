"""The set library: one module per constraint-set kind, each with its projection
(written once, generic over the array namespace ``xp``), its property spec and its docs.

``REGISTRY`` maps kind names (as used in .lwl files and docs) to modules. Every module
defines ``NAME``, ``CONVEX``, ``SUMMARY``, ``EQUATIONS``, ``PROJECTION`` (its main
function), ``EMIT`` (the functions copied verbatim into generated solvers, in dependency
order), ``REQUIRES`` (other modules of this package whose ``EMIT`` it calls) and
``SPEC`` (a :class:`PropertySpec`); optionally ``TABLES``, the names of module-level
dicts of EMIT functions through which its functions dispatch (``activation``'s
``PIECE_KINDS``, ``margin``'s ``CLASS_MODES``). :func:`emit_source` returns the source
text of the functions a solver needs and of those tables, each cut to the rows the
solver uses; the generated module must import ``math`` and bind ``xp``-independent
names only through these.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from types import ModuleType

from lwlc.sets import (
    activation,
    bilinear,
    box,
    fixed,
    margin,
    nonneg,
    nonneg_sphere,
    piecewise,
    pjax_cross_entropy,
    pjax_margin,
    pjax_max,
    pjax_quantize,
    pjax_sum,
    smooth,
    sparse_nonneg,
    sphere,
)
from lwlc.sets._spec import PropertyResult, PropertySpec, check_kind

_KIND_MODULES = (
    bilinear,
    fixed,
    nonneg,
    box,
    sphere,
    nonneg_sphere,
    sparse_nonneg,
    piecewise,
    smooth,
    activation,
    margin,
    pjax_sum,
    pjax_max,
    pjax_quantize,
    pjax_margin,
    pjax_cross_entropy,
)

REGISTRY: dict[str, ModuleType] = {m.NAME: m for m in _KIND_MODULES}


def module_for(name: str) -> ModuleType:
    """The module of a kind name (``REGISTRY``) or of a module name in this package."""
    if name in REGISTRY:
        return REGISTRY[name]
    if not name.replace("_", "").isalnum():
        raise KeyError(name)
    try:
        mod = importlib.import_module(f"lwlc.sets.{name}")
    except ImportError as exc:
        raise KeyError(f"unknown set kind or module {name!r}") from exc
    if not hasattr(mod, "EMIT"):
        raise KeyError(f"lwlc.sets.{name} emits nothing")
    return mod


def _module_key(mod: ModuleType) -> str:
    return mod.__name__.rsplit(".", 1)[-1]


def emit_order(names: list[str] | tuple[str, ...] | set[str]) -> list:
    """The EMIT functions of the named kinds/modules and their REQUIRES, dependencies
    first, each once, in a deterministic order (names sorted, then depth-first)."""
    seen_mods: set[str] = set()
    seen_fns: set[int] = set()
    out: list = []

    def visit(mod: ModuleType, stack: tuple[str, ...]) -> None:
        key = _module_key(mod)
        if key in seen_mods:
            return
        if key in stack:
            raise ValueError(f"circular REQUIRES: {' -> '.join(stack + (key,))}")
        for dep in mod.REQUIRES:
            visit(module_for(dep), stack + (key,))
        seen_mods.add(key)
        for fn in mod.EMIT:
            if id(fn) not in seen_fns:
                seen_fns.add(id(fn))
                out.append(fn)

    for name in sorted(set(names)):
        visit(module_for(name), ())
    return out


def emit_source(names: list[str] | tuple[str, ...] | set[str],
                tables: dict[str, set[str]] | None = None) -> str:
    """Concatenated source text of the EMIT functions of ``names`` (kind or module
    names) and their REQUIRES, deduplicated and in dependency order, then their modules'
    TABLES; ``tables`` names the rows to keep of each table (a table it does not name
    keeps none; without ``tables`` every table keeps every row)."""
    chunks = []
    fns = emit_order(names)
    for fn in fns:
        src = textwrap.dedent(inspect.getsource(fn)).rstrip() + "\n"
        chunks.append(f"# lwlc.sets.{fn.__module__.rsplit('.', 1)[-1]}\n{src}")
    modules = dict.fromkeys(importlib.import_module(fn.__module__) for fn in fns)
    for mod in modules:
        for table in getattr(mod, "TABLES", ()):
            rows = getattr(mod, table)
            keep = rows if tables is None else tables.get(table, ())
            body = "".join(
                f"    {key!r}: ({', '.join(f.__name__ for f in rows[key])},),\n"
                for key in rows if key in keep)
            chunks.append(f"# lwlc.sets.{_module_key(mod)}\n{table} = {{\n{body}}}\n")
    return "\n\n".join(chunks)


__all__ = [
    "REGISTRY",
    "PropertyResult",
    "PropertySpec",
    "check_kind",
    "emit_order",
    "emit_source",
    "module_for",
]
