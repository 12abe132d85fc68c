"""The pipeline in one place: parse → elaborate → split → lower → emit, and loading the result."""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from . import ir
from .elaborate import load_model
from .errors import LwlcError
from .lower import Plan, lower
from .split import SplitPlan, split

BACKENDS = ("numpy", "jax")


@dataclass(frozen=True)
class Compiled:
    model: ir.Model
    split: SplitPlan
    plan: Plan
    backend: str
    source: str


def emit(plan: Plan, backend: str, dtype: str = "float64", command: str | None = None) -> str:
    """The solver module's source for a backend; `command` regenerates it (its header)."""
    if backend == "numpy":
        from lwlc.backends.numpy.emit import emit as emit_numpy

        return emit_numpy(plan, command=command)
    if backend == "jax":
        from lwlc.backends.jax.emit import emit as emit_jax

        return emit_jax(plan, dtype=dtype, command=command)
    raise LwlcError(f"unknown backend '{backend}'", hint="use --backend numpy or --backend jax")


def compile_command(path: str | Path, overrides: dict[str, float] | None, backend: str,
                    dtype: str) -> str:
    """The `lwlc compile` command line that gives this module: path as given, every option."""
    words = ["lwlc compile", shlex.quote(str(path)), "--backend", backend]
    if backend == "jax":
        words += ["--dtype", dtype]
    for name, value in (overrides or {}).items():
        words += ["--set", shlex.quote(f"{name}={value:g}" if isinstance(value, float)
                                       else f"{name}={value}")]
    return " ".join(words)


def _constants(model: ir.Model):
    """Every number the solver computes with, beside the line that writes it and what it
    is: the families' margins, coefficients and side constraints' arguments, the sets'
    piece ends and affine coefficients, and the variables' metric weights."""
    for f in model.families:
        if isinstance(f, ir.ClassFamily):
            yield f.margin, f.span, "the class margin"
        elif isinstance(f, ir.BilinearFamily):
            yield f.coef, f.span, "the coefficient"
        elif isinstance(f, ir.ConsensusFamily):
            side = f"an argument of {f.side.kind.replace('_', ' & ')}"
            yield from ((a, f.span, side) for a in f.side.args)
            if f.side.fixed is not None and f.side.fixed.constant is not None:
                yield f.side.fixed.constant, f.span, "the fixed value"
        elif isinstance(f, ir.ActivationFamily):
            if f.fixed is not None and f.fixed.constant is not None:
                yield f.fixed.constant, f.span, "the fixed value"
    for f in model.families:  # the sets the constraints use, at the constraint where
        # the piece is not in the model's file (a built-in set: its arguments are the use's)
        aset = getattr(f, "set", None)
        for p in aset.pieces if aset is not None else ():
            at = p.span if p.span.file == model.file else f.span
            shown = ", ".join(f"{a:g}" for a in aset.args)
            what = f"set {aset.name}({shown})" if aset.args else f"set {aset.name}"
            yield from ((v, at, f"an end of a piece of {what}") for v in (p.lo, p.hi))
            yield from ((v, at, f"a coefficient of a piece of {what}")
                        for v in p.affine or ())
            if p.curve is not None:  # the numbers written in a curve (1e39 / (1 + exp(-z)))
                yield from ((float(abs(n)), at, f"a number in the curve of {what}")
                            for n in p.curve.atoms() if n.is_Number and n.is_finite
                            and n.is_real)
    for v in model.variables.values():
        yield from ((float(g), v.span, f"a metric weight of {v.name}")
                    for g in np.unique(v.metric))


def check_float32(model: ir.Model) -> None:
    """Refuse a constant that float32 cannot hold: above its largest number it becomes inf,
    below its smallest normal one 0 (XLA flushes subnormals), and the run then diverges
    or divides by zero far from the cause."""
    big, tiny = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
    for value, span, what in _constants(model):
        if math.isfinite(value) and value and not tiny <= abs(value) <= big:
            becomes = "inf" if abs(value) > big else "0"
            raise LwlcError(
                f"{what}, {value:g}, is {becomes} in float32 (its numbers run from "
                f"{tiny:.3g} to {big:.3g})", span,
                hint="use --dtype float64, or rescale the model's constants")


def compile_model(path: str | Path, overrides: dict[str, float] | None = None,
                  backend: str = "numpy", dtype: str = "float64") -> Compiled:
    model = load_model(path, overrides)
    if dtype == "float32":
        check_float32(model)
    plan = split(model)
    lowered = lower(model, plan)
    command = compile_command(path, overrides, backend, dtype)
    return Compiled(model, plan, lowered, backend, emit(lowered, backend, dtype, command))


class _SourceLoader(importlib.abc.InspectLoader):
    """Loads one module from source text in memory; serves that text to linecache/inspect."""

    def __init__(self, filename: str, source: str):
        self.filename = filename
        self.source = source

    def get_source(self, fullname: str) -> str:
        return self.source

    def get_code(self, fullname: str):
        return compile(self.source, self.filename, "exec", dont_inherit=True)

    def is_package(self, fullname: str) -> bool:
        return False


def load_solver(source: str, name: str = "lwlc_solver") -> ModuleType:
    """Import emitted solver source as a module, from memory.

    Nothing is written to or read from disk (no shared cache a file could be slipped into).
    The module is registered in sys.modules under NAME_DIGEST and has a file name of its own,
    ``<lwlc>/NAME_DIGEST.py``, whose lines are in linecache and served by the module's loader,
    so tracebacks, inspect and JAX show the emitted code.
    """
    import linecache

    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"{name}_{digest}"
    module = sys.modules.get(modname)
    if module is not None and getattr(module, "__lwlc_source__", None) == source:
        return module
    filename = f"<lwlc>/{modname}.py"
    loader = _SourceLoader(filename, source)
    spec = importlib.util.spec_from_loader(modname, loader, origin=filename)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = filename
    module.__lwlc_source__ = source
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.modules[modname] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return module
