"""The registry contract: every kind has its projection, spec, docs and emittable functions, and
the emitted source is self-contained (the code emitter copies it verbatim)."""

from __future__ import annotations

import builtins
import inspect
import math
import symtable
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from set_examples import examples

from lwlc import sets
from lwlc.sets import REGISTRY, activation, emit_order, emit_source, module_for
from lwlc.sets._spec import PropertySpec
from lwlc.sets.piecewise import zigmoid_pieces

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sets.md"
KINDS = sorted(REGISTRY)


def test_registry_lists_every_kind() -> None:
    assert set(KINDS) == {
        "bilinear", "fixed", "nonneg", "box", "sphere", "nonneg_sphere", "sparse_nonneg",
        "piecewise", "smooth", "activation", "margin", "sum", "max", "quantize", "pjax_margin",
        "cross_entropy"}
    assert set(examples()) == set(KINDS)


@pytest.mark.parametrize("name", KINDS)
def test_kind_declares_its_contract(name: str) -> None:
    mod = REGISTRY[name]
    assert mod.NAME == name
    assert isinstance(mod.CONVEX, bool)
    assert isinstance(mod.SUMMARY, str) and mod.SUMMARY.strip(), "SUMMARY missing"
    assert isinstance(mod.EQUATIONS, str) and mod.EQUATIONS.strip(), "EQUATIONS missing"
    assert isinstance(mod.EMIT, tuple) and mod.EMIT, "EMIT missing"
    assert all(inspect.isfunction(f) for f in mod.EMIT)
    assert callable(mod.PROJECTION) and mod.PROJECTION in mod.EMIT, "projection not emitted"
    assert isinstance(mod.REQUIRES, tuple)
    for dep in mod.REQUIRES:
        module_for(dep)
    assert isinstance(mod.SPEC, PropertySpec), "SPEC missing"
    assert mod.SPEC.convex == mod.CONVEX
    assert mod.__doc__ and mod.PROJECTION.__doc__


@pytest.mark.parametrize("name", KINDS)
def test_docs_mention_every_kind(name: str) -> None:
    text = DOCS.read_text()
    assert f"## `{name}`" in text, f"docs/sets.md has no section for {name}"
    assert REGISTRY[name].PROJECTION.__name__ in text


def _free_globals(fn) -> set[str]:
    src = textwrap.dedent(inspect.getsource(fn))
    out: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for sym in table.get_symbols():
            if sym.is_global() and sym.is_referenced():
                out.add(sym.get_name())
        for child in table.get_children():
            walk(child)

    walk(symtable.symtable(src, "<emit>", "exec"))
    return out - {fn.__name__}


@pytest.mark.parametrize("name", KINDS)
def test_emitted_functions_are_self_contained(name: str) -> None:
    fns = emit_order([name])
    emitted = {f.__name__ for f in fns}
    tables = {t for fn in fns for t in getattr(sys.modules[fn.__module__], "TABLES", ())}
    allowed = set(dir(builtins)) | {"math"} | emitted | tables
    for fn in fns:
        assert fn.__qualname__ == fn.__name__, f"{fn.__name__} is not top-level"
        src = inspect.getsource(fn)
        assert not src.lstrip().startswith("@"), f"{fn.__name__} is decorated"
        assert "import " not in src.split('"""')[-1], f"{fn.__name__} imports"
        assert fn.__code__.co_freevars == (), f"{fn.__name__} is a closure"
        extra = _free_globals(fn) - allowed
        assert not extra, f"{fn.__name__} uses module-level names {extra}"


def test_a_table_of_emitted_functions_keeps_the_rows_asked_for() -> None:
    """A solver of affine pieces holds PIECE_KINDS's affine row and no curve code."""
    ns: dict = {"math": math}
    text = emit_source(["activation"], tables={"PIECE_KINDS": {"affine"}})
    exec(compile(text, "<emitted activation>", "exec"), ns)
    assert set(ns["PIECE_KINDS"]) == {"affine"}
    assert ns["PIECE_KINDS"]["affine"][0].__name__ == "affine_piece_candidate"
    z, x = np.linspace(-2, 2, 9), np.linspace(1, -1, 9)
    pieces = zigmoid_pieces(0.5)
    for got, want in zip(ns["activation_projection"](np, z, x, 1.5, 3.0, pieces),
                         activation.activation_projection(np, z, x, 1.5, 3.0, pieces),
                         strict=True):
        np.testing.assert_array_equal(got, want)
    table = text[text.index("PIECE_KINDS = {"):]
    assert "'affine'" in table and "'curve'" not in table


def test_emit_source_is_deterministic_and_ordered() -> None:
    a = emit_source(["activation", "bilinear", "_common", "margin"])
    b = emit_source(["margin", "_common", "bilinear", "activation", "margin"])
    assert a == b
    names = [line.split("(")[0][4:] for line in a.splitlines() if line.startswith("def ")]
    assert len(names) == len(set(names)), "duplicates"
    assert names.index("_fixed_loop") < names.index("bilinear_solve")
    assert names.index("affine_piece_candidate") < names.index("activation_projection")
    with pytest.raises(KeyError):
        emit_source(["no_such_kind"])


@pytest.mark.parametrize("name", KINDS)
def test_emitted_source_runs_standalone(name: str) -> None:
    """Exec the emitted text in a namespace holding only ``math`` and compare with the library."""
    ns: dict = {"math": math}
    exec(compile(emit_source([name]), f"<emitted {name}>", "exec"), ns)
    proj = REGISTRY[name].PROJECTION
    args = examples()[name]
    ours = proj(np, *args)
    theirs = ns[proj.__name__](np, *args)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for u, v in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(u, v)


def test_package_exports() -> None:
    assert sets.check_kind is not None and sets.PropertySpec is PropertySpec
