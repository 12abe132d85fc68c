"""The pipeline in one place: parse → elaborate → split → lower → emit, and loading the result."""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

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


def compile_model(path: str | Path, overrides: dict[str, float] | None = None,
                  backend: str = "numpy", dtype: str = "float64") -> Compiled:
    model = load_model(path, overrides)
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
