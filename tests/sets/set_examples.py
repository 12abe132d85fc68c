"""One fixed argument tuple per kind for each ``PROJECTION`` (registry, emission, float32)."""

from __future__ import annotations

import math

import numpy as np

from lwlc.sets.piecewise import relu_pieces, zigmoid_pieces
from lwlc.sets.smooth import tanh_piece


def examples(dtype=np.float64) -> dict[str, tuple]:
    rng = np.random.default_rng(7)

    def a(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (scale * rng.normal(size=shape)).astype(dtype)

    mixed = relu_pieces()[:1] + (tanh_piece(0.0, math.inf),)
    return {
        "bilinear": (a(3, 4), a(3, 4), a(3), 1.5, np.asarray([0.5, 0.0, 2.0], dtype=dtype)),
        "fixed": (a(3, 4), a(3, 4)),
        "nonneg": (a(3, 4),),
        "box": (a(3, 4), -0.5, 0.75),
        "sphere": (a(3, 4), 2.0),
        "nonneg_sphere": (np.concatenate([a(2, 4), -np.abs(a(1, 4))]), 2.0),
        "sparse_nonneg": (a(3, 5), 2),
        "piecewise": (a(6, scale=2.0), a(6), 1.5, 3.0, zigmoid_pieces(0.5)),
        "smooth": (a(6, scale=2.0), a(6), 1.5, 3.0, (tanh_piece(),)),
        "activation": (a(6, scale=2.0), a(6), 1.5, 3.0, mixed),
        "margin": (a(5, 3), np.array([0, 1, 2, 1, 0]), 1.0, "relabel", 1, 0),
        "sum": (a(3, 4), a(3)),
        "max": (a(3, 4), a(3)),
        "quantize": (a(6, scale=2.0), a(6), (-1.0, 0.0, 1.0)),
        "pjax_margin": (a(6), np.array([1.0, 0.0, -1.0, 1.0, 1.0, 0.0]), 0.5),
        "cross_entropy": (a(3, 4, scale=3.0), np.eye(4, dtype=dtype)[[0, 2, 3]], 5.0),
    }
