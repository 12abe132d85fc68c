"""Property tests of every set kind, generated from its ``SPEC`` (lwlc/sets/_spec.py).

One hypothesis test per (kind, property): in the set, idempotent, nearest (sampled points and
brute force), non-expansive (convex kinds), NumPy = JAX (eager and jitted, float64) and, for
activation graphs, inference in the set. ``lwlc test MODEL.lwl`` runs the same checks through
``check_kind``.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwlc.sets import REGISTRY
from lwlc.sets._spec import check_kind, run_property, strategy_for
from lwlc.sets.piecewise import random_pieces
from lwlc.sets.smooth import tanh_piece

SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def property_test(name: str, prop: str):
    """Build the hypothesis test of one property of one kind (a test factory)."""
    spec = REGISTRY[name].SPEC
    counter = {"n": 0}

    @SETTINGS
    @given(pair=strategy_for(spec, prop))
    def test(pair: tuple) -> None:
        run_property(spec, prop, pair[0], pair[1], example=counter["n"])
        counter["n"] += 1

    test.__name__ = f"test_{name}_{prop}"
    test.__doc__ = f"{name}: {prop} ({REGISTRY[name].EQUATIONS})"
    return test


for _name in sorted(REGISTRY):
    for _prop in REGISTRY[_name].SPEC.properties():
        globals()[f"test_{_name}_{_prop}"] = property_test(_name, _prop)


@SETTINGS
@given(data=st.data())
def test_random_declared_piecewise_sets(data: st.DataObject) -> None:
    """Random affine pieces on random disjoint intervals, as a user would declare them."""
    pieces = data.draw(st.composite(lambda draw: random_pieces(draw))())
    spec = REGISTRY["piecewise"].SPEC
    args = data.draw(spec.make_args_with_pieces(pieces))
    for prop in ("in_set", "idempotent", "nearest", "inference"):
        run_property(spec, prop, args)


@pytest.mark.parametrize("pieces", [
    (("affine", -math.inf, -0.5, 0.0, 0.0), ("affine", 0.5, math.inf, 0.0, 1.0)),
    (("affine", -math.inf, 0.0, 0.1, 0.0), tanh_piece(0.0, math.inf)),
])
def test_check_kind_on_declared_pieces(pieces: tuple) -> None:
    """The entry point of ``lwlc test``: every property passes on declared tables."""
    results = check_kind("activation", max_examples=5, pieces=pieces)
    assert {r.property for r in results} >= {"in_set", "idempotent", "nearest", "numpy_jax"}
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert all(r.examples > 0 for r in results)


def test_check_kind_reports_a_counterexample() -> None:
    """A broken projection is reported with its counterexample instead of raising."""
    import dataclasses

    from lwlc.sets import _spec

    spec = REGISTRY["nonneg"].SPEC
    broken = dataclasses.replace(spec, project=lambda xp, v: v - 1.0)
    original = REGISTRY["nonneg"].SPEC
    try:
        REGISTRY["nonneg"].SPEC = broken
        results = _spec.check_kind("nonneg", max_examples=5, shrink=False)
    finally:
        REGISTRY["nonneg"].SPEC = original
    bad = {r.property: r for r in results if not r.ok}
    assert "in_set" in bad and bad["in_set"].counterexample
