"""Data sets for lwlc: the paper's text format, built-in generators, and checks against a model.

A data SPEC names either a file or a built-in generator (see ``docs/data.md``)::

    path/to/maj13_2_3_train            text file in the paper's format
    path/to/2x2.dat                    a boolearn task (Elser & Lal 2026), told by its header
    path/to/mnist_train_10k.zip        the same, as the single member of a zip archive
    path/to/file?limit=100             ... only the first 100 items
    ledm:m=6                           LEDM of eq. 25 (Elser 2021, Sect. 4.4.1)
    majority:inputs=13,depth=3,seed=1  majority-gate circuit data (Sect. 5.5.1, Fig. 9)
    onehot:n=3                         the 2^n one-hot vectors of binary encoding (Sect. 6.3.1)
    digits:seed=0                      scikit-learn's 8x8 digits, 80/20 split
    blobs:inputs=4,classes=2           Gaussian blobs for fast tests

Every generator takes ``limit=N`` (keep the first N items). Generators are deterministic in their
keys; ``role="train"`` or ``"test"`` picks the part of the draw where a generator has one.

The text format (the reference programs' ``RRRclass.c``/``RRRauto.c``, and ``RRRnmf.c`` for
unlabeled data): a header line ``NDATA NCLASS`` (or ``NDATA`` alone for unlabeled data), then per
item NDATA numbers followed by the class index (absent for unlabeled data), whitespace free-form.

Every failure is a :class:`DataError` with a file location where one exists and a hint.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import math
import os
import re
import stat
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import errors as _errors
from .files import publish, temp_for

__all__ = [
    "GENERATORS",
    "DataError",
    "Dataset",
    "Generator",
    "MajorityCircuit",
    "MissingDataFile",
    "ModelDataSpec",
    "binary_codes",
    "check_spec",
    "describe",
    "generator_names",
    "load",
    "majority_circuit",
    "save_text",
    "validate_for",
]

ROLES = ("train", "test")


# --------------------------------------------------------------------------------------------
# Errors and the data set type
# --------------------------------------------------------------------------------------------


class DataError(_errors.DataError):
    """A data file or data spec is unusable. Carries an optional ``path:line:col`` and a hint.

    Part of lwlc's error family (lwlc.errors.LwlcError), so the CLI reports it without a
    traceback."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        col: int | None = None,
        hint: str | None = None,
    ):
        span = None
        if path is not None:
            span = _errors.Span(str(path), line or 1, col or 1) if line is not None else None
        super().__init__(message, span, hint)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.col = col
        self.hint = hint

    @property
    def location(self) -> str | None:
        """``path``, ``path:line`` or ``path:line:col``; None without a path."""
        if self.path is None:
            return None
        loc = self.path
        if self.line is not None:
            loc += f":{self.line}"
            if self.col is not None:
                loc += f":{self.col}"
        return loc

    def format(self) -> str:
        if self.path is None and self.span is not None:  # located in a model file: with caret
            return super().format()
        where = self.location
        text = self._line_text()
        if text is not None:  # the data line and a caret, as under a model's errors
            span = _errors.Span(self.path, self.line, self.col or 1,
                                source="\n" * (self.line - 1) + text)
            return _errors.format_diagnostic("error", self.message, span, self.hint)
        out = f"{where}: error: {self.message}" if where else f"lwlc: error: {self.message}"
        if self.hint:
            out += f"\n  hint: {self.hint}"
        return out

    def __str__(self) -> str:
        return self.format()

    def _line_text(self) -> str | None:
        """The text of the error's line in its file, where that is a regular file of at
        most 64 MB (not a zip's member, a pipe or a generator)."""
        if self.path is None or self.line is None or self.col is None:
            return None
        try:
            if not (os.path.isfile(self.path) and os.path.getsize(self.path) <= 1 << 26):
                return None
            with open(self.path, "rb") as fh:
                raw = fh.read()
        except OSError:
            return None
        lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        if not 1 <= self.line <= len(lines):
            return None
        return lines[self.line - 1].decode("utf-8", "replace")


class MissingDataFile(DataError):
    """A data spec names a file that does not exist (``lwlc check`` warns, loading fails)."""


class ModelDataSpec(str):
    """A data SPEC written in a model's ``data ROLE = "SPEC"`` statement: a plain ``str`` that
    also carries the statement's role and the span of its string, so that :func:`load` can
    report a failure at that line of the model file."""

    role: str
    span: _errors.Span | None

    def __new__(cls, spec: str, role: str = "train",
                span: _errors.Span | None = None) -> ModelDataSpec:
        obj = super().__new__(cls, spec)
        obj.role = role
        obj.span = span
        return obj

    def __reduce__(self):  # copy and pickle keep the role and the span
        return (ModelDataSpec, (str(self), self.role, self.span))


def at_model_line(e: DataError, spec: ModelDataSpec) -> DataError:
    """``e`` (from loading ``spec``) pointed at the model's ``data`` statement."""
    role = f"data {spec.role}"
    if e.path is not None and e.line is not None:  # inside the data file: keep its line
        out = DataError(e.message, path=e.path, line=e.line, col=e.col,
                        hint=((e.hint + "; ") if e.hint else "")
                        + f"the file is the model's {role} ({spec.span})")
    else:
        where = f" ({e.path})" if e.path is not None and e.path not in e.message else ""
        out = type(e)(f"{role}: {e.message}{where}", hint=e.hint)
        out.span = spec.span
    return out


@dataclass(frozen=True, eq=False)
class Dataset:
    """Items as rows of ``inputs`` [N, n_in] (float64); ``labels`` [N] (int64) or None.

    ``labels`` and ``n_classes`` are both set (classified data, every label in
    ``[0, n_classes)``) or both None (unlabeled data, e.g. an NMF matrix). ``name`` is short
    (file name or generator name), ``source`` says where it came from (a resolved path or the
    generator spec with every key filled in). The arrays are made read-only.
    """

    inputs: np.ndarray
    labels: np.ndarray | None
    n_classes: int | None
    name: str
    source: str
    columns: str = ""  # what an item's numbers are, where the file says: "4 inputs + 4 outputs"

    def __post_init__(self) -> None:
        inputs = np.array(self.inputs, dtype=np.float64, copy=True)
        if inputs.ndim != 2 or inputs.shape[0] < 1 or inputs.shape[1] < 1:
            raise DataError(f"data set '{self.name}': inputs must be a non-empty 2-d array, "
                            f"got shape {inputs.shape}")
        if not np.isfinite(inputs).all():
            raise DataError(f"data set '{self.name}': inputs contain NaN or infinity")
        labels = self.labels
        if (labels is None) != (self.n_classes is None):
            raise DataError(f"data set '{self.name}': labels and n_classes must both be given "
                            "or both be None")
        if labels is not None:
            n_classes = int(self.n_classes)  # type: ignore[arg-type]
            if n_classes < 1:
                raise DataError(f"data set '{self.name}': n_classes must be >= 1")
            raw = np.asarray(labels)
            if raw.dtype.kind == "f" and not np.all(raw == np.round(raw)):
                raise DataError(f"data set '{self.name}': labels must be integers")
            labels = np.array(raw, dtype=np.int64, copy=True)
            if labels.shape != (inputs.shape[0],):
                raise DataError(f"data set '{self.name}': labels have shape {labels.shape}, "
                                f"expected ({inputs.shape[0]},)")
            if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
                raise DataError(f"data set '{self.name}': labels must lie in [0, {n_classes})")
            labels.setflags(write=False)
            object.__setattr__(self, "n_classes", n_classes)
        inputs.setflags(write=False)
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "labels", labels)

    @property
    def n_items(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.inputs.shape[1])

    def head(self, n: int) -> Dataset:
        """The first ``n`` items (all of them when ``n`` exceeds the count)."""
        n = max(1, min(int(n), self.n_items))
        labels = None if self.labels is None else self.labels[:n]
        return Dataset(self.inputs[:n], labels, self.n_classes, self.name, self.source,
                       self.columns)


# --------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generator:
    """A built-in data generator: ``keys`` maps each key to its default (None: computed)."""

    name: str
    keys: dict[str, int | float | None]
    summary: str
    reference: str
    make: Callable[[dict, str], tuple[np.ndarray, np.ndarray | None, int | None]]
    role_dependent: bool
    check: Callable[[dict], None] | None = None  # the keys' ranges, without drawing any data
    # the keys that make the task both roles draw from, and what they draw: a test set whose
    # task keys differ from the training set's is another task (other_task)
    task_keys: tuple[str, ...] = ()
    task: str = ""


def _check_ledm(p: dict) -> None:
    m = p["m"]
    _require(m >= 2, "ledm", "m", m, "m must be at least 2")
    _require(m <= 2000, "ledm", "m", m, "m must be at most 2000")


def _ledm(p: dict, role: str):
    """Linear Euclidean distance matrix, eq. 25: Y_ik = ((i - k)/(m - 1))^2; items are columns."""
    _check_ledm(p)
    m = p["m"]
    i = np.arange(m, dtype=np.int64)
    d2 = (i[:, None] - i[None, :]) ** 2  # exact integers
    # One correctly rounded division of exact integers; equals ((i-k)/(m-1))^2 wherever that is
    # exact (e.g. every entry for m = 5, the golden file g_nmf_ledm5_r4.json).
    y = d2.astype(np.float64) / float((m - 1) ** 2)
    return y.T.copy(), None, None  # row k = column k of Y (Y is symmetric)


@dataclass(frozen=True)
class MajorityCircuit:
    """A layered circuit of majority gates with NOTs on the edges (Elser 2021, Sect. 5.5.1).

    ``hidden[l]`` is an int array [m, 3] of the nodes of layer l-1 (layer 0: the inputs) read by
    each gate of hidden layer l, ``hidden_not[l]`` the matching [m, 3] booleans (True: a NOT on
    that edge). The top gate is a single m-input majority over the last layer, with NOTs
    ``top_not`` [m]. Depth n = n - 1 hidden layers + the top gate.
    """

    inputs: int
    hidden: tuple[np.ndarray, ...]
    hidden_not: tuple[np.ndarray, ...]
    top_not: np.ndarray

    @property
    def depth(self) -> int:
        return len(self.hidden) + 1

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Truth value (0/1 int64) of the circuit on Boolean rows ``x`` [N, m] (0/1 or bool)."""
        v = np.asarray(x).astype(bool)
        for sel, neg in zip(self.hidden, self.hidden_not, strict=True):
            lit = v[:, sel] ^ neg[None, :, :]  # [N, m, 3]
            v = lit.sum(axis=2) >= 2
        top = (v ^ self.top_not[None, :]).sum(axis=1) * 2 > self.inputs
        return top.astype(np.int64)


def majority_circuit(inputs: int = 13, depth: int = 3, seed: int = 1) -> MajorityCircuit:
    """The random circuit that ``majority:inputs=..,depth=..,seed=..`` labels its data with.

    Each hidden gate reads three distinct, uniformly chosen nodes of the layer below; every edge
    (hidden and top) carries a NOT with probability 1/2.
    """
    rng = np.random.default_rng(seed)
    return _draw_circuit(rng, inputs, depth)


def _draw_circuit(rng: np.random.Generator, m: int, depth: int) -> MajorityCircuit:
    hidden, hidden_not = [], []
    for _ in range(depth - 1):
        sel = np.array([rng.choice(m, size=3, replace=False) for _ in range(m)], dtype=np.int64)
        hidden.append(sel)
        hidden_not.append(rng.integers(0, 2, size=(m, 3)).astype(bool))
    top_not = rng.integers(0, 2, size=m).astype(bool)
    for a in (*hidden, *hidden_not, top_not):
        a.setflags(write=False)
    return MajorityCircuit(m, tuple(hidden), tuple(hidden_not), top_not)


def _check_majority(p: dict) -> None:
    m, depth, items = p["inputs"], p["depth"], p["items"]
    _require(3 <= m <= 61, "majority", "inputs", m, "inputs must be between 3 and 61")
    _require(m % 2 == 1, "majority", "inputs", m,
             "inputs must be odd: the top gate is a majority over a layer of that many gates")
    _require(1 <= depth <= 64, "majority", "depth", depth, "depth must be between 1 and 64")
    if items is None:
        items = min(2**m, 8192)
        p["items"] = items
    _require(2 <= items <= min(2**m, 1 << 20), "majority", "items", items,
             f"items must be between 2 and {min(2**m, 1 << 20)} "
             f"(distinct Boolean vectors of length {m})")
    flip = p.get("flip", 0.0)
    _require(0.0 <= flip < 0.5, "majority", "flip", flip, "flip must lie in [0, 0.5)")


def _majority(p: dict, role: str):
    _check_majority(p)
    m, depth, seed, items = p["inputs"], p["depth"], p["seed"], p["items"]
    rng = np.random.default_rng(seed)
    circuit = _draw_circuit(rng, m, depth)
    # A random set of distinct Boolean vectors (for items = 2^m: a random order of all of them),
    # split into a train and a test half, as the paper's 8192 = 4096 + 4096.
    codes = rng.choice(2**m, size=items, replace=False).astype(np.int64)
    bits = ((codes[:, None] >> np.arange(m, dtype=np.int64)[None, :]) & 1).astype(np.float64)
    labels = circuit.evaluate(bits)
    flip = p.get("flip", 0.0)
    if flip > 0:  # wrong labels on a known fraction of the items (Sect. 5.3.2)
        wrong = np.random.default_rng([seed, 7]).random(items) < flip
        labels = np.where(wrong, 1 - labels, labels)
    n_train = (items + 1) // 2
    part = slice(0, n_train) if role == "train" else slice(n_train, items)
    return bits[part], labels[part], 2


def binary_codes(n: int) -> np.ndarray:
    """The 2^n binary codes of length n as 0/1 floats, row c = c in binary, bit j = (c >> j) & 1.

    These are the code items K_c of the binary-encoding task (Sect. 6.3.1), in the order the
    reference program ``RRRauto.c`` enumerates them (least significant bit on the first code node).
    """
    c = np.arange(2**n, dtype=np.int64)
    return ((c[:, None] >> np.arange(n, dtype=np.int64)[None, :]) & 1).astype(np.float64)


def _check_onehot(p: dict) -> None:
    n = p["n"]
    _require(1 <= n <= 10, "onehot", "n", n, "n must be between 1 and 10 (2^n items of 2^n inputs)")


def _onehot(p: dict, role: str):
    _check_onehot(p)
    n = p["n"]
    size = 2**n
    return np.eye(size, dtype=np.float64), np.arange(size, dtype=np.int64), size


def _check_bits(p: dict) -> None:
    _require(1 <= p["n"] <= 16, "bits", "n", p["n"], "n must be between 1 and 16")


def _bits(p: dict, role: str):
    _check_bits(p)
    n = p["n"]
    return binary_codes(n), None, None


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1797 items), read from the file it ships: importing
    sklearn.datasets (with SciPy) took 2-3 s of a run; load_digits reads the same file."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the digits generator needs scikit-learn, which is not installed",
                        hint="pip install scikit-learn")
    shipped = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    try:
        table = np.loadtxt(shipped / "digits.csv.gz", delimiter=",", ndmin=2)
    except (OSError, ValueError):  # not where scikit-learn keeps it: ask scikit-learn
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
    else:
        x, y = table[:, :-1], table[:, -1]
    x = np.asarray(x, dtype=np.float64) / 16.0  # pixels 0..16 -> [0, 1]
    y = np.asarray(y, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _digits(p: dict, role: str):
    x, y = _digits_arrays()
    rng = np.random.default_rng(p["seed"])
    train_idx, test_idx = [], []
    for c in range(10):  # stratified: 20% of each class to the test part
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(0.2 * idx.size))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    idx = np.concatenate(train_idx if role == "train" else test_idx)
    idx = rng.permutation(idx) if role == "train" else np.random.default_rng(
        [p["seed"], 1]).permutation(idx)
    return x[idx], y[idx], 10


def _check_blobs(p: dict) -> None:
    n_in, k, items, spread = p["inputs"], p["classes"], p["items"], p["spread"]
    _require(1 <= n_in <= 10_000, "blobs", "inputs", n_in, "inputs must be between 1 and 10000")
    _require(1 <= k <= 1000, "blobs", "classes", k, "classes must be between 1 and 1000")
    _require(1 <= items <= 1_000_000, "blobs", "items", items,
             "items must be between 1 and 1000000")
    _require(items * n_in <= 50_000_000, "blobs", "items", items,
             "items x inputs must be at most 50000000")
    _require(spread >= 0, "blobs", "spread", spread, "spread must be >= 0")
    _require(spread <= 1e100, "blobs", "spread", spread, "spread must be at most 1e100")


def _blobs(p: dict, role: str):
    _check_blobs(p)
    n_in, k, items, seed, spread = p["inputs"], p["classes"], p["items"], p["seed"], p["spread"]
    centers = np.random.default_rng([seed, 0]).uniform(-1.0, 1.0, size=(k, n_in))
    rng = np.random.default_rng([seed, 1 if role == "train" else 2])
    labels = rng.permutation(np.arange(items, dtype=np.int64) % k)  # balanced to within one
    x = centers[labels] + spread * rng.standard_normal((items, n_in))
    return x, labels, k


def _check_regression(p: dict) -> None:
    for key in ("inputs", "outputs", "items"):
        _require(p[key] >= 1, "regression", key, p[key], "must be at least 1")


def _regression(p: dict, role: str):
    """Columns [x, t]: x uniform in [-1, 1]^inputs, t = tanh(x A) / 2 for a random A."""
    _check_regression(p)
    n_in, n_out, items, seed = p["inputs"], p["outputs"], p["items"], p["seed"]
    mix = np.random.default_rng([seed, 0]).standard_normal((n_in, n_out)) / np.sqrt(n_in)
    x = np.random.default_rng([seed, 1 if role == "train" else 2]).uniform(-1, 1, (items, n_in))
    return np.concatenate([x, 0.5 * np.tanh(x @ mix)], axis=1), None, None


GENERATORS: dict[str, Generator] = {
    g.name: g
    for g in (
        Generator("ledm", {"m": 6}, "linear Euclidean distance matrix, items = its m columns",
                  "Elser 2021, eq. 25 (Sect. 4.4.1)", _ledm, False, _check_ledm),
        Generator("majority", {"inputs": 13, "depth": 3, "seed": 1, "items": None, "flip": 0.0},
                  "random majority-gate circuit on Boolean inputs, train/test halves",
                  "Elser 2021, Sect. 5.5.1, Fig. 9", _majority, True, _check_majority,
                  ("inputs", "depth", "seed", "items"), "its circuit and its train/test split"),
        Generator("onehot", {"n": 3}, "the 2^n one-hot vectors of length 2^n, label = position",
                  "Elser 2021, Sect. 6.3.1 (binary encoding)", _onehot, False, _check_onehot),
        Generator("bits", {"n": 3}, "the 2^n binary codes of length n (code items)",
                  "Elser 2021, Sect. 6.3.1 (binary encoding)", _bits, False, _check_bits),
        Generator("digits", {"seed": 0}, "scikit-learn 8x8 digits in [0, 1], 80/20 split",
                  "sklearn.datasets.load_digits", _digits, True, None, ("seed",),
                  "its 80/20 split (another seed's test part overlaps this training part)"),
        Generator("blobs", {"inputs": 4, "classes": 2, "items": 200, "seed": 0, "spread": 0.2},
                  "Gaussian blobs around uniform centers in [-1, 1]^inputs",
                  "for fast tests", _blobs, True, _check_blobs, ("inputs", "classes", "seed"),
                  "its class centers"),
        Generator("regression", {"inputs": 4, "outputs": 2, "items": 200, "seed": 0},
                  "columns x (uniform in [-1, 1]^inputs) then targets tanh(x A)/2, no labels",
                  "for regression models (outputs equal to data)", _regression, True,
                  _check_regression, ("inputs", "outputs", "seed"), "its mixing matrix A"),
    )
}

_COMMON_KEYS = ("limit",)
_FLOAT_KEYS = {"spread", "flip"}


def generator_names() -> list[str]:
    return list(GENERATORS)


def _require(ok: bool, gen: str, key: str, value: object, why: str) -> None:
    if not ok:
        raise DataError(f"{gen}: bad value {key}={value}: {why}",
                        hint=f"defaults: {_defaults_text(GENERATORS[gen])}")


def _defaults_text(g: Generator) -> str:
    parts = [f"{k}={'auto' if v is None else v}" for k, v in g.keys.items()]
    return f"{g.name}:" + ",".join(parts)


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INT_RE = re.compile(r"[+-]?[0-9]+")


def _parse_options(text: str, allowed: dict[str, object], what: str) -> dict[str, int | float]:
    """Parse ``key=value,...`` strictly; ``allowed`` maps key -> default (kind from the key)."""
    out: dict[str, int | float] = {}
    if not text.strip():
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise DataError(f"{what}: empty entry in '{text}'",
                            hint="separate key=value pairs with single commas")
        if "=" not in part:
            raise DataError(f"{what}: expected key=value, found '{part}'",
                            hint=f"known keys: {', '.join(allowed)}")
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise DataError(f"{what}: unknown key '{key}'",
                            hint=f"{hint}known keys: {', '.join(allowed)}")
        if key in out:
            raise DataError(f"{what}: key '{key}' given twice")
        if key in _FLOAT_KEYS:
            try:
                v: int | float = float(value)
            except ValueError:
                v = math.nan
            if not math.isfinite(v) or not re.fullmatch(r"[0-9eE.+-]+", value):
                raise DataError(f"{what}: bad value {key}={value}: expected a finite number")
        else:
            if not _INT_RE.fullmatch(value):
                raise DataError(f"{what}: bad value {key}={value}: expected an integer")
            v = int(value)
        out[key] = v
    return out


def _split_generator_spec(spec: str) -> tuple[str, str] | None:
    """``NAME:opts`` or a bare generator ``NAME`` -> (name, opts); None when it is no such form."""
    head, sep, rest = spec.partition(":")
    if not _NAME_RE.fullmatch(head.strip()):
        return None
    if sep:
        return head.strip(), rest
    if head.strip() in GENERATORS:
        return head.strip(), ""
    return None


def _generator_params(name: str, opts: str) -> tuple[Generator, dict, int | None]:
    """The generator, its keys with defaults filled in, and ``limit``; checked, nothing drawn."""
    if name not in GENERATORS:
        close = difflib.get_close_matches(name, list(GENERATORS), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise DataError(f"unknown data generator '{name}' (and no file of that name)",
                        hint=f"{hint}generators: {', '.join(GENERATORS)}")
    g = GENERATORS[name]
    allowed = {**g.keys, **dict.fromkeys(_COMMON_KEYS)}
    given = _parse_options(opts, allowed, name)
    params: dict = {k: given.get(k, v) for k, v in g.keys.items()}
    limit = given.get("limit")
    if limit is not None and limit < 1:
        raise DataError(f"{name}: bad value limit={limit}: limit must be at least 1")
    if "seed" in params and params["seed"] < 0:
        raise DataError(f"{name}: bad value seed={params['seed']}: seed must be >= 0")
    if g.check is not None:
        g.check(params)
    return g, params, limit


def other_task(train_source: str, source: str) -> tuple[str, list[str]] | None:
    """Where a training set and another set (their sources: generator specs with every key
    filled in) are draws of one generator whose task keys differ, e.g. blobs with two
    seeds, whose items lie around other centers: what differs, said in words, and those
    keys. Else None."""
    parsed = []
    for spec in (train_source, source):
        split = _split_generator_spec(spec)
        if split is None or split[0] not in GENERATORS:
            return None
        try:
            parsed.append(_generator_params(*split))
        except DataError:
            return None
    (g, trained, _), (h, given, _) = parsed
    keys = [k for k in g.task_keys if trained[k] != given[k]] if g is h else []
    if not keys:
        return None
    values = ", ".join(f"{k}={given[k]} against {trained[k]}" for k in keys)
    return (f"{g.name} draws {g.task} from {', '.join(g.task_keys)}, and these data have "
            f"{values}"), keys


def _load_generator(name: str, opts: str, role: str) -> Dataset:
    g, params, limit = _generator_params(name, opts)
    inputs, labels, n_classes = g.make(params, role)
    canonical = f"{name}:" + ",".join(f"{k}={params[k]}" for k in g.keys)
    if limit is not None:
        canonical += f",limit={limit}"
        inputs = inputs[:limit]
        labels = None if labels is None else labels[:limit]
    label = f"{name} ({role})" if g.role_dependent else name
    return Dataset(inputs, labels, n_classes, label, canonical)


# --------------------------------------------------------------------------------------------
# The text format
# --------------------------------------------------------------------------------------------

_WS = b" \t\n\r\x0b\x0c"
_IS_WS = np.zeros(256, dtype=bool)
_IS_WS[list(_WS)] = True
_NUMBER_RE = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONFINITE_RE = re.compile(rb"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_TOKEN_RE = re.compile(rb"[^ \t\n\r\x0b\x0c]+")
_WS_RE = re.compile(rb"[ \t\n\r\x0b\x0c]")
_CHUNK = 1 << 22


class _BadToken(Exception):
    """Raised inside the body parser with the byte offset (within the body) of a bad token."""

    def __init__(self, offset: int, token: bytes, why: str):
        super().__init__(why)
        self.offset, self.token, self.why = offset, token, why


def _token_starts(a: np.ndarray) -> np.ndarray:
    """Start offsets of the whitespace-separated tokens of byte array ``a``."""
    tok = (~_IS_WS[a]).view(np.int8)
    edge = np.diff(tok, prepend=np.int8(0))
    return np.flatnonzero(edge == 1)


def _chunks(body: bytes) -> list[tuple[int, int]]:
    """Split ``body`` into ranges of about _CHUNK bytes, each cut at a whitespace byte."""
    out, pos, n = [], 0, len(body)
    while pos < n:
        m = _WS_RE.search(body, pos + _CHUNK) if pos + _CHUNK < n else None
        end = n if m is None else m.start()
        out.append((pos, end))
        pos = end
    return out


def _parse_body(body: bytes) -> np.ndarray:
    """All numbers of ``body`` as float64; raises _BadToken at the first malformed token.

    NumPy's C parser (``np.fromstring``, exact like strtod, and strict: it fails on anything
    that is not a whitespace-separated number) does the work, a chunk at a time so that a bad
    token is then located by the strict, slower tokenizer within its chunk only.
    """
    parts = []
    for lo, hi in _chunks(body):
        chunk = body[lo:hi]
        if _TOKEN_RE.search(chunk) is None:
            continue  # (np.fromstring reads a blank string as [-1.0])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                parts.append(np.fromstring(chunk, dtype=np.float64, sep=" "))
        except (ValueError, DeprecationWarning):
            try:
                parts.append(_parse_body_slow(chunk))
            except _BadToken as e:
                e.offset += lo
                raise
    return np.concatenate(parts) if parts else np.empty(0)


def _parse_body_slow(body: bytes) -> np.ndarray:
    """Token by token with a strict grammar: locates the first token that is not a number."""
    vals = []
    for m in _TOKEN_RE.finditer(body):
        t = m.group()
        if _NUMBER_RE.fullmatch(t) or _NONFINITE_RE.fullmatch(t):
            vals.append(float(t))
        else:
            raise _BadToken(m.start(), t, "not a number")
    return np.array(vals, dtype=np.float64)


def _line_col(text: bytes, offset: int) -> tuple[int, int]:
    line = text.count(b"\n", 0, offset) + 1
    col = offset - (text.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


def _token_offset(body: bytes, index: int) -> int:
    """Byte offset within ``body`` of token number ``index`` (0-based)."""
    starts = _token_starts(np.frombuffer(body, dtype=np.uint8))
    return int(starts[index]) if index < starts.size else len(body)


# the hint for NumPy's own files given as data
_AS_TEXT = ("write the items as text, one per line (inputs, then the class index; see "
            "docs/data.md), e.g. with numpy.savetxt")


def _show(token: bytes) -> str:
    """A token as a message shows it: control characters (a Ctrl-Z, 0x1a) escaped, not
    printed as nothing."""
    s = token[:40].decode("ascii", errors="backslashreplace")
    s = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in s)
    return s + ("..." if len(token) > 40 else "")


def _check_lines(raw: bytes, body_start: int, hline: int, per_item: int, what: str,
                 where: str) -> None:
    """Check how the items lie on the lines, so that a missing or extra value is reported at
    its own line (not as a short last item, nor silently shifting every later item).

    One item per line is the layout of the shared files and of ``save_text``: when at least
    half of the lines with numbers hold exactly one item, every such line must. Otherwise an
    item may span lines (the reference programs read free-form whitespace), but each item
    starts on a new line: a line lies within one item or holds a whole number of items.
    """
    body = raw[body_start:]
    a = np.frombuffer(body, dtype=np.uint8)
    starts = _token_starts(a)
    if starts.size == 0:
        return
    tok_line = np.searchsorted(np.flatnonzero(a == 10), starts)  # body line of each token
    counts = np.bincount(tok_line)
    lines = np.flatnonzero(counts)
    c = counts[lines]
    if (c == per_item).all():
        return
    first_tok = np.concatenate(([0], np.cumsum(c)[:-1]))  # index of each line's first token
    if c.size > 1 and (c == c[0]).all() and c[0] % per_item == 0:
        # the format allows it, but every line holding the same several items is a header
        # whose NDATA is a fraction of the real one: the items would be misread silently
        line, col = _line_col(raw, body_start + int(starts[0]))
        raise DataError(f"every line holds {int(c[0])} numbers, {int(c[0]) // per_item} "
                        f"items of {per_item} ({what}): the header's NDATA is probably "
                        "wrong", path=where, line=line, col=col,
                        hint=f"if an item has {int(c[0])} numbers, correct the header; if "
                        "each line truly holds several items, put each item on its own line")

    def fail(k: int, tok: int, message: str, hint: str) -> None:
        line, col = _line_col(raw, body_start + int(starts[min(tok, starts.size - 1)]))
        raise DataError(message, path=where, line=line, col=col, hint=hint)

    if 2 * np.count_nonzero(c == per_item) >= c.size:  # one item per line
        k = int(np.flatnonzero(c != per_item)[0])
        n = int(c[k])
        missing = n < per_item
        fail(k, int(first_tok[k]) + (0 if missing else per_item),
             f"item {k + 1}: expected {per_item} numbers on its line ({what}), found {n}: "
             + ("a value is missing" if missing else f"{n - per_item} extra value(s)"),
             "this file holds one item per line (as its other lines do); check this line, "
             "and NDATA in the header")
    r = (first_tok % per_item).astype(np.int64)
    ok = (r + c <= per_item) | ((r == 0) & (c % per_item == 0))
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        n, rk = int(c[k]), int(r[k])
        item = int(first_tok[k]) // per_item + 1
        if rk == 0:
            fail(k, int(first_tok[k]) + (n // per_item) * per_item,
                 f"item {item}: this line holds {n} numbers, more than one item's {per_item} "
                 f"({what}) but not a whole number of items",
                 "an item may span lines, but each item starts on a new line; check this "
                 "line, and NDATA in the header")
        start_line, _ = _line_col(raw, body_start + int(starts[(item - 1) * per_item]))
        fail(k, int(first_tok[k]) + per_item - rk,
             f"item {item} (from line {start_line}) does not end at a line end: it has {rk} "
             f"numbers before this line, which holds {n} more, but an item has {per_item} "
             f"({what})",
             f"an item may span lines, but each item starts on a new line: item {item} lacks "
             "a value, or this line has extra values")


def _numbers(raw: bytes, body_start: int, where: str) -> np.ndarray:
    """Every number of ``raw`` from ``body_start`` on; a located DataError at a token that
    is not one."""
    try:
        return _parse_body(raw[body_start:])
    except _BadToken as e:
        line, col = _line_col(raw, body_start + e.offset)
        raise DataError(f"{e.why}: '{_show(e.token)}'", path=where, line=line, col=col,
                        hint="items are whitespace-separated decimal numbers") from None


_HEADER_MAX = 2**31 - 1  # a header count beyond this (inputs, classes, items) is a typo


def _boolearn_shaped(raw: bytes) -> tuple[list[tuple[int, list[re.Match]]], int] | None:
    """The first three lines of a file that starts as a boolearn ``.dat`` header does
    (``N`` / ``type count`` / ``type count``, whole numbers), each with its line number and
    tokens, and the offset after them; None where it does not start so."""
    lines, pos = [], 0
    while len(lines) < 3 and pos <= len(raw):
        nl = raw.find(b"\n", pos)
        end = len(raw) if nl < 0 else nl
        toks = list(_TOKEN_RE.finditer(raw, pos, end))
        if toks:
            if not all(re.fullmatch(rb"[0-9]+", t.group()) for t in toks):
                return None
            lines.append((_line_col(raw, pos)[0], toks))
        pos = end + 1
    if [len(t) for _, t in lines] != [1, 2, 2]:
        return None
    return lines, min(pos, len(raw))


def _boolearn_types_problem(lines: list[tuple[int, list[re.Match]]]) -> str | None:
    """What is wrong with the types on a boolearn-shaped header's lines 2 and 3, else None:
    inputs are of type 0 (analog), 1 or 2 (Boolean); outputs 0 or 2, or ``N 1`` (a class
    index over N classes)."""
    (iline, (in_type, in_count)), (oline, (out_type, out_count)) = lines[1], lines[2]
    if int(in_type.group()) not in (0, 1, 2):
        return (f"line {iline}'s input type {_show(in_type.group())} is not one of "
                "boolearn's types (0 analog, 2 Boolean; 1 for generators)")
    if int(in_type.group()) == 1 and int(in_count.group()) > 0:
        return (f"line {iline}'s input type 1 is boolearn's 1-hot generators, for a "
                "generative task (input count 0); inputs are of type 0 (analog) or 2 "
                "(Boolean)")
    otype, ocount = int(out_type.group()), int(out_count.group())
    if otype not in (0, 2) and (ocount != 1 or otype == 1):
        return (f"line {oline}'s output type {_show(out_type.group())} is not one of "
                "boolearn's types (0 analog, 2 Boolean, or N >= 2 with the count 1: a class "
                "index over N classes)")
    return None


def _boolearn_per_item(lines: list[tuple[int, list[re.Match]]]) -> int:
    """How many numbers each item of a boolearn-shaped header holds: its inputs, then its
    outputs (one class index for an output ``N 1``, N >= 2)."""
    in_count = int(lines[1][1][1].group())
    out_type, out_count = (int(t.group()) for t in lines[2][1])
    return in_count + (1 if out_count == 1 and out_type >= 2 else out_count)


def _boolearn_fits(raw: bytes, lines: list[tuple[int, list[re.Match]]], pos: int) -> bool:
    """Whether the numbers after a boolearn-shaped header are as many as its counts say
    (items × (inputs + outputs)): only then is a wrong type worth naming in a hint."""
    n_items = int(lines[0][1][0].group())
    return len(_TOKEN_RE.findall(raw, pos)) == n_items * _boolearn_per_item(lines)


def _boolearn_header(raw: bytes) -> tuple[list[tuple[int, list[re.Match]]], int] | None:
    """The three header lines of a boolearn ``.dat`` file with each line's number and
    tokens, and the offset where the items start; None where the file does not start so."""
    shaped = _boolearn_shaped(raw)
    if shaped is None or _boolearn_types_problem(shaped[0]) is not None:
        return None
    lines, pos = shaped
    if int(lines[0][1][0].group()) == 2:
        # also the paper's header of unlabeled items of two values each, as lines 2-3 would
        # be: boolearn's only where its count of numbers fits
        # or where every line after the header holds one item of it (a file of 3 items
        # whose header says 2 was read as 14 unlabeled items of 2 numbers, header and all)
        per_item = _boolearn_per_item(lines)
        counts = [len(_TOKEN_RE.findall(line)) for line in raw[pos:].split(b"\n")]
        by_line = per_item != 2 and all(c in (0, per_item) for c in counts) and any(counts)
        if len(_TOKEN_RE.findall(raw)) != 5 + 2 * per_item and not by_line:
            return None
    return shaped


def _parse_boolearn(raw: bytes, header: tuple, where: str, name: str,
                    source: str) -> Dataset:
    """A boolearn ``.dat`` file (shared/data/boolearn/README.md): each item's inputs, then
    its outputs. An output ``N 1`` (N ≥ 3, or 2) is a class index over N classes: the
    labels. Other outputs (Boolean or analog values) follow the inputs as more columns, so
    that a model reads them with ``input d[k, In | Out]``."""
    lines, body_start = header
    (hline, (n_tok,)), (iline, (in_type, in_count)), (oline, (out_type, out_count)) = lines
    for tok, line in ((n_tok, hline), (in_count, iline), (out_type, oline), (out_count, oline)):
        if int(tok.group()) > _HEADER_MAX:
            raise DataError(f"header number {_show(tok.group())} is larger than any data "
                            "file holds", path=where, line=line,
                            col=tok.start() - raw.rfind(b"\n", 0, tok.start()),
                            hint="the header counts items, inputs and outputs (README of "
                            "boolearn); check this number")
    n_items, n_in = int(n_tok.group()), int(in_count.group())
    otype, ocount = int(out_type.group()), int(out_count.group())
    if n_in == 0:
        raise DataError(
            "a generative boolearn task (input count 0) has no inputs to train on",
            path=where, line=iline, col=in_count.start() - raw.rfind(b"\n", 0,
                                                                    in_count.start()),
            hint="lwlc reads boolearn tasks with inputs: 2x2.dat, mnistjr.dat, auto8.dat")
    if n_items == 0:
        raise DataError("the header announces 0 items", path=where, line=hline,
                        col=n_tok.start() - raw.rfind(b"\n", 0, n_tok.start()),
                        hint="line 1 of a boolearn file counts its items")
    classes = ocount == 1 and otype >= 2
    per_item = n_in + (1 if classes else ocount)
    what = (f"{n_in} inputs + " + ("the class index" if classes else f"{ocount} outputs")
            + ", as the boolearn header says")
    body = raw[body_start:]
    flat = _numbers(raw, body_start, where)
    _check_lines(raw, body_start, hline, per_item, what, where)
    if flat.size != n_items * per_item:
        found, extra = divmod(flat.size, per_item)
        at = min(n_items, found) * per_item
        line, col = _line_col(raw, body_start + _token_offset(body, at))
        raise DataError(
            f"the header (line {hline}) announces {n_items} items of {per_item} numbers "
            f"({what}); the file holds {found} item(s)"
            + (f" and {extra} number(s) more" if extra else ""),
            path=where, line=line if at < flat.size else hline,
            col=col if at < flat.size else n_tok.start() + 1,
            hint="check the item count on the first line and the counts on lines 2 and 3")
    table = flat.reshape(n_items, per_item)
    if not np.isfinite(table).all():
        idx = int(np.flatnonzero(~np.isfinite(table).ravel())[0])
        line, col = _line_col(raw, body_start + _token_offset(body, idx))
        item, col_i = divmod(idx, per_item)
        kind, number = ("input", col_i + 1) if col_i < n_in else ("output", col_i - n_in + 1)
        raise DataError(f"item {item + 1}: {kind} {number} is not finite (NaN and infinity "
                        "are not allowed)", path=where, line=line, col=col)
    # analog columns (type 0) hold values in [0, 1] (boolearn's README)
    analog = np.zeros(per_item, dtype=bool)
    analog[:n_in] = int(in_type.group()) == 0
    analog[n_in:] = otype == 0 and not classes
    beyond = analog & ((table < 0.0) | (table > 1.0))
    if beyond.any():
        item, col_i = (int(v) for v in np.argwhere(beyond)[0])
        line, col = _line_col(raw, body_start + _token_offset(body, item * per_item + col_i))
        kind, number, declared = (("input", col_i + 1, iline) if col_i < n_in
                                  else ("output", col_i - n_in + 1, oline))
        raise DataError(
            f"item {item + 1}: {kind} {number} is {table[item, col_i]:g}, outside [0, 1]: "
            f"line {declared} declares analog {kind}s (type 0), which boolearn holds in "
            "[0, 1]", path=where, line=line, col=col,
            hint="scale the values into [0, 1], or give the data in the paper's format, "
                 "which takes any value (docs/data.md)")
    # Boolean columns (type 2) hold 0 or 1: an analog value there is a mistaken type
    boolean = np.zeros(per_item, dtype=bool)
    boolean[:n_in] = int(in_type.group()) == 2
    boolean[n_in:] = otype == 2 and not classes
    odd = boolean & (table != 0.0) & (table != 1.0)
    if odd.any():
        item, col_i = (int(v) for v in np.argwhere(odd)[0])
        line, col = _line_col(raw, body_start + _token_offset(body, item * per_item + col_i))
        kind, number, declared = (("input", col_i + 1, iline) if col_i < n_in
                                  else ("output", col_i - n_in + 1, oline))
        raise DataError(
            f"item {item + 1}: {kind} {number} is {table[item, col_i]:g}, not 0 or 1: line "
            f"{declared} declares Boolean {kind}s (type 2)",
            path=where, line=line, col=col,
            hint=f"type 0 on line {declared} declares analog {kind}s, which take any value")
    if not classes:
        return Dataset(table, None, None, name, source,
                       f"{n_in} inputs + {ocount} outputs, as its boolearn header says")
    lab = table[:, n_in]
    wrong = (lab != np.floor(lab)) | (lab < 0) | (lab >= otype)
    if wrong.any():
        item = int(np.flatnonzero(wrong)[0])
        line, col = _line_col(raw, body_start + _token_offset(body, item * per_item + n_in))
        raise DataError(
            f"item {item + 1}: class index {lab[item]:g} is not an integer in [0, {otype})",
            path=where, line=line, col=col,
            hint=f"line {oline} declares a 1-hot output over {otype} classes, stored as the "
                 "class index")
    return Dataset(table[:, :n_in], lab.astype(np.int64), otype, name, source)


def _parse_text(raw: bytes, where: str, name: str, source: str) -> Dataset:
    """Parse the paper's text format (or boolearn's, which its header tells apart) from
    ``raw`` bytes; ``where`` names the file in errors."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\r" in raw:  # CRLF and old Mac CR line ends, as model files take them
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if raw.startswith(b"\x93NUMPY"):
        raise DataError("a NumPy array file (.npy) is not a data format lwlc reads",
                        path=where, hint=_AS_TEXT)
    if b"\x00" in raw[:65536]:
        line, col = _line_col(raw, raw.index(b"\x00"))
        raise DataError("this is a binary file (it contains NUL bytes), not text data",
                        path=where, line=line, col=col,
                        hint="data files are text: a header line, then the numbers of each "
                        "item (docs/data.md); a .zip holding such a file is read too")
    boolearn = _boolearn_header(raw)
    if boolearn is not None:
        return _parse_boolearn(raw, boolearn, where, name, source)
    try:
        return _parse_paper(raw, where, name, source)
    except DataError as e:
        shaped = _boolearn_shaped(raw)
        problem = shaped and _boolearn_fits(raw, *shaped) and _boolearn_types_problem(
            shaped[0])
        if problem:
            e.hint = ((e.hint + "; or: " if e.hint else "")
                      + "the file starts as a boolearn task's header does (items / type "
                      f"count / type count), but {problem}")
        raise


def _parse_paper(raw: bytes, where: str, name: str, source: str) -> Dataset:
    """Parse the paper's text format: a header ``NDATA NCLASS`` (or ``NDATA``), then each
    item's inputs and its class index."""
    if _TOKEN_RE.search(raw) is None:
        raise DataError("empty data file", path=where,
                        hint="expected a header line 'NDATA NCLASS' followed by the items")
    # Header: the first line with any tokens.
    pos = 0
    while True:
        nl = raw.find(b"\n", pos)
        end = len(raw) if nl < 0 else nl
        if raw[pos:end].strip(_WS):
            break
        pos = end + 1
    header = raw[pos:end]
    hline, _ = _line_col(raw, pos)
    htoks = list(_TOKEN_RE.finditer(header))
    fmt_hint = ("the first line must be 'NDATA NCLASS' (inputs per item, number of classes), "
                "or 'NDATA' alone for unlabeled data")
    hvals = []
    for what, m in zip(("NDATA", "NCLASS"), htoks[:2], strict=False):
        t = m.group()
        if not re.fullmatch(rb"[0-9]+", t) or int(t) < 1:
            raise DataError(f"bad header: {what} must be a positive integer, found '{_show(t)}'",
                            path=where, line=hline, col=m.start() + 1, hint=fmt_hint)
        if int(t) > _HEADER_MAX:
            raise DataError(f"bad header: {what} = {_show(t)} is larger than any data file "
                            "holds", path=where, line=hline, col=m.start() + 1, hint=fmt_hint)
        hvals.append(int(t))
    if len(htoks) > 2:
        col = htoks[2].start() + 1
        comment = htoks[2].group().startswith(b"#")
        raise DataError(f"bad header: expected 'NDATA NCLASS', found {len(htoks)} fields on "
                        "the first line", path=where, line=hline, col=col,
                        hint="the format has no comments; " + fmt_hint if comment else fmt_hint)
    n_in = hvals[0]
    n_classes = hvals[1] if len(hvals) == 2 else None
    per_item = n_in + (1 if n_classes is not None else 0)
    body_start = end
    body = raw[body_start:]
    flat = _numbers(raw, body_start, where)
    if flat.size == 0:
        raise DataError("the file has a header but no items", path=where, line=hline,
                        hint=f"after the header, give {per_item} numbers per item")
    n_items, extra = divmod(flat.size, per_item)
    what = f"{n_in} inputs" + (" + the class index" if n_classes is not None else "")
    _check_lines(raw, body_start, hline, per_item, what, where)
    if extra:
        line, col = _line_col(raw, body_start + _token_offset(body, n_items * per_item))
        raise DataError(
            f"short last item: expected {per_item} numbers per item ({what}), found "
            f"{n_items} complete item(s) and {extra} number(s) left over",
            path=where, line=line, col=col,
            hint="check NDATA in the header against the number of values per item")
    table = flat.reshape(n_items, per_item)
    bad = ~np.isfinite(table)
    if bad.any():
        idx = int(np.flatnonzero(bad.ravel())[0])
        item, field = divmod(idx, per_item)
        line, col = _line_col(raw, body_start + _token_offset(body, idx))
        part = f"input {field + 1}" if field < n_in else "class index"
        token = _TOKEN_RE.match(raw, body_start + _token_offset(body, idx))
        shown = _show(token.group()) if token else str(float(flat[idx]))
        raise DataError(f"item {item + 1}, {part}: '{shown}' is not finite (NaN and infinity "
                        "are not allowed)", path=where, line=line, col=col)
    inputs = table[:, :n_in]
    labels = None
    if n_classes is not None:
        lab = table[:, n_in]
        wrong = (lab != np.floor(lab)) | (lab < 0) | (lab >= n_classes)
        if wrong.any():
            item = int(np.flatnonzero(wrong)[0])
            line, col = _line_col(raw, body_start + _token_offset(body, item * per_item + n_in))
            v = lab[item]
            shown = int(v) if v == np.floor(v) and abs(v) < 1e15 else f"{v:g}"
            raise DataError(
                f"item {item + 1}: class index {shown} is not an integer in [0, {n_classes})",
                path=where, line=line, col=col,
                hint=f"the header declares {n_classes} classes and {n_in} inputs per item; "
                     "a wrong NDATA also shifts the class column")
        labels = lab.astype(np.int64)
    return Dataset(inputs, labels, n_classes, name, source)


def _read_file(path: Path, shown: str) -> tuple[bytes, str]:
    """Bytes of a data file or of the single member of a zip; the name to show in errors.
    A pipe or a device (/dev/stdin) is read once, up to STREAM_BYTES."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
        if regular:
            with open(path, "rb") as f:
                magic = f.read(4)
        else:
            with open(path, "rb") as f:
                payload = f.read(STREAM_BYTES + 1)
            magic = payload[:4]
    except IsADirectoryError:
        raise DataError("is a directory, not a data file", path=shown) from None
    except OSError as e:
        raise DataError(f"cannot read data file: {e.strerror or e}", path=shown) from None
    if not regular and len(payload) > STREAM_BYTES:
        raise DataError(f"reads on past {STREAM_BYTES >> 30} GB: a pipe or a device gives data "
                        "up to that size", path=shown,
                        hint="write the data to a file and name the file")
    if magic in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path if regular else io.BytesIO(payload)) as z:
                # macOS's Finder adds __MACOSX/._name (resource forks) and .DS_Store
                members = [i for i in z.infolist() if not i.is_dir()
                           and not i.filename.startswith("__MACOSX/")
                           and not i.filename.rsplit("/", 1)[-1].startswith("._")
                           and i.filename.rsplit("/", 1)[-1] != ".DS_Store"]
                if members and all(i.filename.endswith(".npy") for i in members):
                    raise DataError("a NumPy archive (.npz) is not a data format lwlc reads",
                                    path=shown, hint=_AS_TEXT)
                if len(members) != 1:
                    names = ", ".join(i.filename for i in members[:5]) or "none"
                    raise DataError(
                        f"zip archive must hold exactly one data file, found {len(members)} "
                        f"({names})", path=shown, hint="unzip it and name the member's file")
                info = members[0]
                with z.open(info) as member:  # up to a cap: a small archive can unpack
                    payload = member.read(STREAM_BYTES + 1)  # to any size
                if len(payload) > STREAM_BYTES:
                    raise DataError(f"its member {info.filename} unpacks to more than "
                                    f"{STREAM_BYTES >> 30} GB", path=shown,
                                    hint="a data file of that size is no data set lwlc "
                                    "reads; unzip it and check it")
                return payload, f"{shown}!{info.filename}"
        except DataError:
            raise
        except Exception as e:  # BadZipFile, zlib.error, EOFError, ...: a damaged archive
            raise DataError(f"cannot read zip archive: {e}", path=shown) from None
    if path.suffix.lower() == ".zip":
        raise DataError("not a zip archive (the name ends in .zip)", path=shown,
                        hint="rename the file if it is plain text")
    if not regular:
        return payload, shown
    try:
        return path.read_bytes(), shown
    except OSError as e:
        raise DataError(f"cannot read data file: {e.strerror or e}", path=shown) from None


# The most bytes read from a data "file" that is no regular file (a pipe, a device):
# /dev/zero as --data read on until the memory ran out.
STREAM_BYTES = 1 << 30


def _resolve(spec: str, base_dir: Path | None) -> Path:
    path = Path(spec)
    with contextlib.suppress(RuntimeError):  # "~nosuchuser/..."
        path = path.expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # e.g. a NUL byte or an over-long name
        return False


def _load_file(spec: str, opts: str | None, base_dir: Path | None) -> Dataset:
    limit = None
    if opts is not None:
        given = _parse_options(opts, {"limit": None}, f"file options '?{opts}'")
        limit = given.get("limit")
        if limit is not None and limit < 1:
            raise DataError(f"bad value limit={limit}: limit must be at least 1")
    path = _resolve(spec, base_dir)
    if not _exists(path):
        hint = (f"a data spec is a file path or a generator NAME:key=value,... "
                f"(generators: {', '.join(GENERATORS)})")
        raise MissingDataFile("data file not found", path=str(path), hint=hint)
    raw, where = _read_file(path, str(path))
    source = str(path.resolve()) + (f"?limit={limit}" if limit is not None else "")
    name = path.name
    try:
        ds = _parse_text(raw, where, name, source)
    except DataError as e:
        if path.suffix == ".wth":  # a boolearn network's widths: a file beside the data
            e.hint = (f"{path.name} holds a boolearn network's layer widths, not data: give "
                      f"the task's .dat file ({path.with_suffix('.dat').name})")
        raise
    return ds.head(limit) if limit is not None else ds


def load(spec: str | os.PathLike[str], *, role: str = "train",
         base_dir: Path | None = None) -> Dataset:
    """Load a data set from a file path or a generator spec (see the module docstring).

    ``role`` ("train" or "test") selects the part of a generator's draw; it does not change what
    a file holds. Relative paths are taken from ``base_dir`` when given (e.g. the model file's
    folder). Raises DataError, never anything else, for any bad spec or file. A spec from a model
    file (:class:`ModelDataSpec`) has its errors located at the model's ``data`` line.
    """
    if isinstance(spec, ModelDataSpec) and spec.span is not None:
        try:
            return load(str(spec), role=role, base_dir=base_dir)
        except DataError as e:
            raise at_model_line(e, spec) from None
    if role not in ROLES:
        raise DataError(f"unknown data role '{role}'", hint="role is 'train' or 'test'")
    spec = os.fspath(spec)
    if not isinstance(spec, str):
        spec = os.fsdecode(spec)
    if not spec.strip():
        raise DataError("empty data spec",
                        hint=f"give a file path or a generator: {', '.join(GENERATORS)}")
    spec = spec.strip()
    if _exists(_resolve(spec, base_dir)):
        return _load_file(spec, None, base_dir)
    gen = _split_generator_spec(spec)
    if gen is not None:
        return _load_generator(gen[0], gen[1], role)
    if "?" in spec:
        path, _, opts = spec.rpartition("?")
        return _load_file(path, opts, base_dir)
    if _NAME_RE.fullmatch(spec):
        close = difflib.get_close_matches(spec, list(GENERATORS), n=1, cutoff=0.75)
        if close:
            raise DataError(f"data file not found, and '{spec}' is no generator", path=spec,
                            hint=f"did you mean '{close[0]}'? generators: "
                                 f"{', '.join(GENERATORS)}")
    return _load_file(spec, None, base_dir)


def spec_file(spec: str, base_dir: Path | None = None) -> Path | None:
    """The file a data SPEC reads, as :func:`load` finds it; None for a generator."""
    spec = os.fsdecode(os.fspath(spec)).strip()
    if not spec or _exists(_resolve(spec, base_dir)):
        return _resolve(spec, base_dir) if spec else None
    if _split_generator_spec(spec) is not None:
        return None
    return _resolve(spec.rpartition("?")[0] if "?" in spec else spec, base_dir)


def check_spec(spec: str | os.PathLike[str], *, role: str = "train",
               base_dir: Path | None = None) -> str:
    """Check a SPEC as :func:`load` reads it, without reading a file or drawing any data.

    Generator names, keys and values and file options are checked; a file must exist and not
    be a directory (:class:`MissingDataFile` when it does not exist). Returns the spec in the
    form ``load`` takes without ``base_dir`` (a relative path joined to ``base_dir``).
    """
    if role not in ROLES:
        raise DataError(f"unknown data role '{role}'", hint="role is 'train' or 'test'")
    spec = os.fsdecode(os.fspath(spec)).strip()
    if not spec:
        raise DataError("empty data spec",
                        hint=f"give a file path or a generator: {', '.join(GENERATORS)}")

    def existing(path_spec: str, opts: str | None) -> str:
        path = _resolve(path_spec, base_dir)
        if opts is not None:
            given = _parse_options(opts, {"limit": None}, f"file options '?{opts}'")
            if given.get("limit") is not None and given["limit"] < 1:
                raise DataError(f"bad value limit={given['limit']}: limit must be at least 1")
        shown = str(path) if base_dir is not None else path_spec
        shown = shown if opts is None else f"{shown}?{opts}"
        if not _exists(path):
            hint = (f"a data spec is a file path or a generator NAME:key=value,... "
                    f"(generators: {', '.join(GENERATORS)})")
            e = MissingDataFile("data file not found", path=str(path), hint=hint)
            e.resolved = shown
            raise e
        if path.is_dir():
            raise DataError("is a directory, not a data file", path=str(path))
        return shown

    if _exists(_resolve(spec, base_dir)):
        return existing(spec, None)
    gen = _split_generator_spec(spec)
    if gen is not None:
        _generator_params(gen[0], gen[1])
        return spec
    if "?" in spec:
        path, _, opts = spec.rpartition("?")
        return existing(path, opts)
    if _NAME_RE.fullmatch(spec):
        close = difflib.get_close_matches(spec, list(GENERATORS), n=1, cutoff=0.75)
        if close:
            raise DataError(f"data file not found, and '{spec}' is no generator", path=spec,
                            hint=f"did you mean '{close[0]}'? generators: "
                                 f"{', '.join(GENERATORS)}")
    return existing(spec, None)


# --------------------------------------------------------------------------------------------
# Writing, describing, checking against a model
# --------------------------------------------------------------------------------------------


def save_text(dataset: Dataset, path: str | os.PathLike[str]) -> None:
    """Write ``dataset`` in the paper's text format, atomically (temporary file + os.replace).

    Numbers are written with Python's shortest round-trip repr, so loading the file gives back
    exactly the same float64 values. Unlabeled data get the one-number header ``NDATA``.
    """
    path = Path(path)
    header = f"{dataset.n_inputs}" + (
        f" {dataset.n_classes}" if dataset.labels is not None else "")
    lines = [header, ""]
    rows = dataset.inputs.tolist()
    if dataset.labels is not None:
        for row, lab in zip(rows, dataset.labels.tolist(), strict=True):
            lines.append(" ".join(map(repr, row)) + f" {lab}")
    else:
        for row in rows:
            lines.append(" ".join(map(repr, row)))
    text = "\n".join(lines) + "\n"
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = temp_for(directory / path.name, suffix=".tmp")
    except _errors.LwlcError as e:  # no file can be made in that folder
        raise DataError(e.message.replace("cannot write", "cannot write data file"),
                        hint=e.hint) from None
    try:
        with os.fdopen(fd, "w", encoding="ascii", newline="\n") as f:
            f.write(text)
        publish(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise DataError(f"cannot write data file: {e.strerror or e}", path=str(path)) from None


def describe(dataset: Dataset) -> str:
    """One line: name, items x inputs, value range, classes with counts, source."""
    lo, hi = float(dataset.inputs.min()), float(dataset.inputs.max())
    text = (f"{dataset.name}: {dataset.n_items} items x {dataset.n_inputs} inputs, "
            f"values in [{lo:.6g}, {hi:.6g}]")
    if dataset.labels is not None:
        counts = np.bincount(dataset.labels, minlength=dataset.n_classes)
        shown = "/".join(str(int(c)) for c in counts[:12])
        if dataset.n_classes > 12:
            shown += "/..."
        text += f", {dataset.n_classes} classes ({shown})"
    else:
        text += ", unlabeled"
    return f"{text} <- {dataset.source}"


def validate_for(dataset: Dataset, n_inputs: int, n_classes: int | None,
                 layer: str = "the model's data layer") -> None:
    """Check ``dataset`` against a model's data-layer width and class count (None: no labels);
    ``layer`` names what the data fill in messages.

    Raises DataError with a hint on any disagreement.
    """
    if dataset.n_inputs != n_inputs:
        if dataset.columns:  # a boolearn task: its outputs are columns too
            has = f"{dataset.n_inputs} values per item ({dataset.columns})"
            hint = (f"a model reads a boolearn task's outputs as inputs too (input "
                    f"d[k, In | Out], {dataset.n_inputs} nodes in all), or use data with "
                    f"{n_inputs} inputs")
        else:
            has = f"{dataset.n_inputs} inputs per item"
            hint = f"use data with {n_inputs} inputs, or give {layer} {dataset.n_inputs} nodes"
        raise DataError(f"data '{dataset.name}' has {has} but {layer} has {n_inputs} nodes",
                        hint=f"{hint} (source: {dataset.source})")
    if n_classes is None:
        return
    if dataset.labels is None:
        raise DataError(
            f"data '{dataset.name}' has no labels but the model has {n_classes} class nodes",
            hint="a classifier needs labeled data (header 'NDATA NCLASS', a class index after "
                 "each item)")
    if dataset.n_classes != n_classes:
        def count(n: int, what: str) -> str:
            return f"{n} {what}" + ("" if n == 1 else "es" if what.endswith("s") else "s")

        raise DataError(
            f"data '{dataset.name}' has {count(dataset.n_classes, 'class')} but the model "
            f"has {count(n_classes, 'class node')}",
            hint=(f"give the model {count(dataset.n_classes, 'class node')}, or use data "
                  f"with {count(n_classes, 'class')}" if dataset.n_classes >= 2 else
                  f"a classifier needs data of at least two classes: use data with "
                  f"{count(n_classes, 'class')}"))
