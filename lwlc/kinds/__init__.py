"""Constraint-family kinds: one module per kind, each declaring in one place what its families
touch, how they lower and project, and their part in initialization, inference, the learned
parameters and the model's predictions.

A kind module defines ``KIND`` (the IR family's ``kind``) and the functions of
:class:`lwlc.kinds._base.FamilyKind`; ``KINDS`` maps kind names to modules. The lowering stage,
the emitter and the driver consult these declarations and nothing else about a family.
"""

from __future__ import annotations

from types import ModuleType

from lwlc import ir
from lwlc.kinds import activation, bilinear, consensus, margin

KINDS: dict[str, ModuleType] = {m.KIND: m for m in (consensus, activation, bilinear, margin)}


def kind_of(family: ir.Family) -> ModuleType:
    """The module that declares `family`'s kind."""
    return KINDS[family.kind]


__all__ = ["KINDS", "kind_of"]
