"""Class constraints of the classifier (Elser eq. 26d–e, 32, 33; Sect. 5.3, 6.2).

Input z = y − b on the class nodes, shape [..., K, C] (items K, classes C), integer
labels [..., K] and the margin Δ. The labelled node needs z ≥ Δ, every other node z ≤ 0.
y and b move oppositely: with metric weights g_y, g_b on a class node (eq. 27), the
cheapest change of z by Δz there costs g Δz², g = g_y g_b / (g_y + g_b) (``weight``; 1/2
for unit weights, so an item's squared change of y and b is then |Δz|²/2). Each node's
constraint is its own, so the plain projection does not depend on g; which items the
modes exempt or relabel does.

Modes of ``class_projection`` (``count`` = EE or FPA):

- ``plain``: eq. 26d–e for every item;
- ``exempt`` (eq. 32): the ``count`` items whose projection moves y and b the most
  keep z unprojected (golden README "Exemptions");
- ``relabel`` (eq. 33): excess = d(own label) − min_l d(l); the ``count`` items with
  the largest positive excess are projected with their best label (first on ties);
- ``allow`` (Sect. 6.2, golden README "False-positive-allowance classifier"): items
  labelled other than ``allow_label`` for which the projection as ``allow_label`` is
  closer are candidates; at most ``count`` of them, those with the largest advantage,
  are projected as ``allow_label``.

Ties are broken by a stable sort (lower item index first); selection uses ranks and
masks only, so it runs under ``jax.jit``.
"""

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lwlc.sets._common import _barrier, _descending_ranks
from lwlc.sets._spec import PropertySpec, float_arrays, scalar

if TYPE_CHECKING:
    from lwlc.sets._common import Array, ModuleType


def margin_projection(
    xp: "ModuleType", z: "Array", labels: "Array", margin: "Array"
) -> "Array":
    """Project z onto z[label] ≥ Δ, z[other] ≤ 0 (eq. 26d–e) per item; z is [..., K,
    C]."""
    own = xp.arange(z.shape[-1]) == labels[..., None]
    m = xp.asarray(margin)[..., None, None]
    return xp.where(own, xp.maximum(z, m), xp.minimum(z, 0.0))


def class_distances(
    xp: "ModuleType", z: "Array", margin: "Array", weight: "Array" = 0.5
) -> "Array":
    """d[..., k, l]: the squared change of y and b, Σ_c g_c Δz_c² (g = ``weight``, per
    class node or one for all), when item k is projected as class l: every node's
    g (z)₊² but node l's, which costs g (Δ − z)₊² instead. [..., K, C] work (the sum
    over a [..., K, C, C] array of the terms took 1.85 GB at 1000 classes): the total
    less node l's term, at least 0 (it cancelled to −7e-15 for a true 1e-16, and the
    item went unprojected), so equal z give exactly equal distances (running sums
    rounded them apart, and relabel broke exact ties by rounding: re-tests)."""
    m = xp.asarray(margin)[..., None, None]
    over = xp.maximum(z, 0.0)
    short = xp.maximum(m - z, 0.0)
    over2 = weight * (over * over)
    rest = xp.maximum(xp.sum(over2, axis=-1, keepdims=True) - over2, 0.0)
    return rest + weight * (short * short)


def class_own_distance(
    xp: "ModuleType",
    z: "Array",
    labels: "Array",
    margin: "Array",
    weight: "Array" = 0.5,
) -> "Array":
    """class_distances at each item's own label only, d[..., k, labels[k]], without the
    [..., K, C, C] array of all labels (memory and time grew with C²)."""
    m = xp.asarray(margin)[..., None]
    over = xp.maximum(z, 0.0)
    short = xp.maximum(m - z, 0.0)
    own = xp.arange(z.shape[-1]) == labels[..., None]
    return xp.sum(weight * xp.where(own, short * short, over * over), axis=-1)


def _own_of(xp: "ModuleType", dist: "Array", labels: "Array") -> "Array":
    """d[..., k, labels[k]] from the distances to every label."""
    own = xp.arange(dist.shape[-1]) == labels[..., None]
    return xp.sum(xp.where(own, dist, 0.0), axis=-1)


def plain_selection(
    xp: "ModuleType",
    z: "Array",
    labels: "Array",
    margin: "Array",
    count: int,
    allow_label: int,
    weight: "Array",
) -> "tuple":
    """Mode plain (eq. 26d–e): every item, as labelled."""
    own = class_own_distance(xp, z, labels, margin, weight)
    return labels, own >= 0.0  # False where z is NaN, as for the other modes


def exempt_selection(
    xp: "ModuleType",
    z: "Array",
    labels: "Array",
    margin: "Array",
    count: int,
    allow_label: int,
    weight: "Array",
) -> "tuple":
    """Mode exempt (eq. 32): the ``count`` items that would move the most stay."""
    own = class_own_distance(xp, z, labels, margin, weight)
    return labels, _descending_ranks(xp, own) >= count


def relabel_selection(
    xp: "ModuleType",
    z: "Array",
    labels: "Array",
    margin: "Array",
    count: int,
    allow_label: int,
    weight: "Array",
) -> "tuple":
    """Mode relabel (eq. 33): the ``count`` items of largest positive excess
    d(own) − min_l d(l) are projected as their nearest label (the first on ties)."""
    dist = _barrier(xp, (class_distances(xp, z, margin, weight),))[0]  # once
    own = _own_of(xp, dist, labels)
    excess = own - xp.min(dist, axis=-1)
    cand = excess > 0.0
    ranks = _descending_ranks(xp, xp.where(cand, excess, -xp.inf))
    target = xp.where(cand & (ranks < count), xp.argmin(dist, axis=-1), labels)
    return target, own >= 0.0


def allow_selection(
    xp: "ModuleType",
    z: "Array",
    labels: "Array",
    margin: "Array",
    count: int,
    allow_label: int,
    weight: "Array",
) -> "tuple":
    """Mode allow (Sect. 6.2): at most ``count`` items labelled otherwise, those that
    ``allow_label`` is the nearer by the most, are projected as ``allow_label``."""
    dist = _barrier(xp, (class_distances(xp, z, margin, weight),))[0]  # once
    own = _own_of(xp, dist, labels)
    is_allow = xp.arange(z.shape[-1]) == allow_label
    adv = own - xp.sum(xp.where(is_allow, dist, 0.0), axis=-1)
    cand = (labels != allow_label) & (adv > 0.0)
    ranks = _descending_ranks(xp, xp.where(cand, adv, -xp.inf))
    target = xp.where(cand & (ranks < count), allow_label, labels)
    return target, own >= 0.0


# Which items each mode projects, and as which label. An emitted solver holds the
# rows of the modes its model's class constraints use (TABLES).
CLASS_MODES: dict[str, tuple[Callable]] = {
    "plain": (plain_selection,),
    "exempt": (exempt_selection,),
    "relabel": (relabel_selection,),
    "allow": (allow_selection,),
}


def class_selection(
    xp: "ModuleType",
    z: "Array",
    labels: "Array",
    margin: "Array",
    mode: str,
    count: int,
    allow_label: int,
    weight: "Array" = 0.5,
) -> "tuple":
    """Target class per item and whether the item is projected (eq. 32, 33; Sect.
    6.2), by the distances in the metric ``weight`` (module doc)."""
    return CLASS_MODES[mode][0](xp, z, labels, margin, count, allow_label, weight)


def class_projection(
    xp: "ModuleType",
    z: "Array",
    labels: "Array",
    margin: "Array",
    mode: str,
    count: int,
    allow_label: int,
    weight: "Array" = 0.5,
) -> "Array":
    """Class constraint projection in mode plain / exempt / relabel / allow, nearest in
    the metric ``weight`` of z on the class nodes (module doc)."""
    target, active = class_selection(
        xp, z, labels, margin, mode, count, allow_label, weight
    )
    return xp.where(active[..., None], margin_projection(xp, z, target, margin), z)


NAME = "margin"
CONVEX = False
SUMMARY = (
    "class margins: label node ≥ Δ, others ≤ 0; exemptions (EE), relabeling, FP "
    "allowance"
)
EQUATIONS = "Elser eq. 26d–e, 32, 33; Sect. 5.2, 5.3, 6.2; golden README classifiers"
PROJECTION = class_projection
EMIT = (
    margin_projection,
    class_distances,
    class_own_distance,
    _own_of,
    plain_selection,
    exempt_selection,
    relabel_selection,
    allow_selection,
    class_selection,
    class_projection,
)
REQUIRES = ("_common",)
TABLES = ("CLASS_MODES",)


# --- properties (not emitted) ---------------------------------------------------------

_K, _C = 4, 3


def _satisfies(row: np.ndarray, label: int, margin: float, tol: float) -> bool:
    others = np.delete(row, label)
    return bool(row[label] >= margin - tol and np.all(others <= tol))


def _contains(pt: tuple, args: tuple, tol: float) -> np.ndarray:
    z = pt[0]
    _, labels, margin, mode, count, allow, _ = args
    margin, count, allow = float(margin), int(count), int(allow)
    t = tol * (1.0 + margin + np.abs(z).max())
    own_ok = [_satisfies(z[k], int(labels[k]), margin, t) for k in range(z.shape[0])]
    if mode == "plain":
        return np.asarray(all(own_ok))
    if mode == "exempt":
        return np.asarray(own_ok.count(False) <= count)
    if mode == "relabel":
        any_ok = [
            any(_satisfies(z[k], c, margin, t) for c in range(z.shape[1]))
            for k in range(z.shape[0])
        ]
        return np.asarray(all(any_ok) and own_ok.count(False) <= count)
    moved = [
        not own_ok[k] and labels[k] != allow and _satisfies(z[k], allow, margin, t)
        for k in range(z.shape[0])
    ]
    fine = all(own_ok[k] or moved[k] for k in range(z.shape[0]))
    return np.asarray(fine and sum(moved) <= count)


def _distance(p: tuple, q: tuple, args: tuple) -> np.ndarray:
    return np.sum(args[6] * (q[0] - p[0]) ** 2, axis=(-2, -1))


def _assignments(args: tuple) -> list[tuple[np.ndarray, np.ndarray]]:
    """All (target labels, active) structures allowed by the mode."""
    _, labels, _, mode, count, allow, _ = args
    count, allow = int(count), int(allow)
    k_items = labels.shape[0]
    out = []
    if mode == "plain":
        out.append((labels, np.ones(k_items, bool)))
    elif mode == "exempt":
        for r in range(min(count, k_items) + 1):
            for sub in itertools.combinations(range(k_items), r):
                active = np.ones(k_items, bool)
                active[list(sub)] = False
                out.append((labels, active))
    elif mode == "relabel":
        for combo in itertools.product(range(_C), repeat=k_items):
            target = np.asarray(combo)
            if np.sum(target != labels) <= count:
                out.append((target, np.ones(k_items, bool)))
    else:
        others = [k for k in range(k_items) if labels[k] != allow]
        for r in range(min(count, len(others)) + 1):
            for sub in itertools.combinations(others, r):
                target = labels.copy()
                target[list(sub)] = allow
                out.append((target, np.ones(k_items, bool)))
    return out


def _structured(
    z: np.ndarray, target: np.ndarray, active: np.ndarray, margin: np.ndarray
) -> np.ndarray:
    return np.where(active[:, None], margin_projection(np, z, target, margin), z)


def _bruteforce(args: tuple) -> tuple:
    z, margin = args[0], args[2]
    best, best_d = None, np.inf
    for target, active in _assignments(args):
        cand = _structured(z, target, active, margin)
        d = float(np.sum(args[6] * (cand - z) ** 2))
        if d < best_d:
            best, best_d = cand, d
    return (best,)


def _sample(args: tuple, rng: np.random.Generator, n: int) -> tuple:
    z, margin = args[0], args[2]
    structures = _assignments(args)
    out = np.empty((n,) + z.shape)
    for i in range(n):
        target, active = structures[rng.integers(len(structures))]
        noisy = z + 10.0 ** rng.uniform(-6, 1) * rng.normal(size=z.shape)
        out[i] = np.where(
            active[:, None], margin_projection(np, noisy, target, margin), z
        )
    return (out,)


def _make_args() -> object:
    from hypothesis import strategies as st

    @st.composite
    def draw(draw: Callable) -> tuple:
        z = draw(float_arrays((_K, _C), -3.0, 3.0))
        labels = np.asarray(
            draw(st.lists(st.integers(0, _C - 1), min_size=_K, max_size=_K)),
            dtype=np.int64,
        )
        margin = draw(scalar(0.1, 2.0))
        mode = draw(st.sampled_from(["plain", "exempt", "relabel", "allow"]))
        count = np.asarray(draw(st.integers(0, 2)))  # arrays: traced under jit
        allow = np.asarray(draw(st.integers(0, _C - 1)))
        # the metric of z per class node: unequal weights change which items the
        # modes pick
        weight = draw(st.sampled_from([np.full(_C, 0.5), None]))
        if weight is None:
            weight = 10.0 ** np.asarray(
                draw(st.lists(st.floats(-1.0, 1.0), min_size=_C, max_size=_C))
            )
        return z, labels, margin, mode, count, allow, weight

    return draw()


SPEC = PropertySpec(
    project=class_projection,
    make_args=_make_args,
    contains=_contains,
    distance=_distance,
    sample_set=_sample,
    convex=False,
    nearest_bruteforce=_bruteforce,
    tol=1e-9,
)
