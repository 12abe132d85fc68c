"""The pipeline in one place: parse → elaborate → split → lower → emit, and loading the result."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
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


def emit(plan: Plan, backend: str, dtype: str = "float64") -> str:
    if backend == "numpy":
        from backends.numpy.emit import emit as emit_numpy

        return emit_numpy(plan)
    if backend == "jax":
        from backends.jax.emit import emit as emit_jax

        return emit_jax(plan, dtype=dtype)
    raise LwlcError(f"unknown backend '{backend}'", hint="use --backend numpy or --backend jax")


def compile_model(path: str | Path, overrides: dict[str, float] | None = None,
                  backend: str = "numpy", dtype: str = "float64") -> Compiled:
    model = load_model(path, overrides)
    plan = split(model)
    lowered = lower(model, plan)
    return Compiled(model, plan, lowered, backend, emit(lowered, backend, dtype))


def load_solver(source: str, name: str = "lwlc_solver") -> ModuleType:
    """Import emitted solver source as a module (from a private temporary file)."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    modname = f"{name}_{digest}"
    if modname in sys.modules:
        return sys.modules[modname]
    tmp = Path(tempfile.gettempdir()) / "lwlc_solvers"
    tmp.mkdir(exist_ok=True)
    path = tmp / f"{modname}.py"
    if not path.exists():
        part = path.with_suffix(".part")
        part.write_text(source)
        part.replace(path)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module
