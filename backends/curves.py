"""Smooth activation pieces (sympy expressions, lwlc/elaborate.py) as array code: the
emitted solvers' curve functions (f, f', f'') and the same as callables for the tests and
`lwlc test`. Its own module so that sympy is imported only for a model that has a smooth
piece."""

from __future__ import annotations

import ast
import functools
import math
import operator
import struct

import numpy as np
import sympy
from lwlc.backends.common import LINE, num
from sympy.printing.pycode import PythonCodePrinter

# sympy function → array code; the emitted module binds `_erf` per backend
_ARRAY_FUNCTIONS = {"exp": "xp.exp", "log": "xp.log", "sqrt": "xp.sqrt", "tanh": "xp.tanh",
                    "sin": "xp.sin", "cos": "xp.cos", "atan": "xp.arctan", "Abs": "xp.abs",
                    "sign": "xp.sign", "erf": "_erf", "cosh": "xp.cosh", "sinh": "xp.sinh"}


class CurvePrinter(PythonCodePrinter):
    """Prints a sympy expression as array code over `xp` (no text is ever evaluated): every
    function elementwise, so a curve works on arrays in both backends."""

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name not in _ARRAY_FUNCTIONS:
            raise ValueError(f"no array form of {name}")
        return f"{_ARRAY_FUNCTIONS[name]}({', '.join(self._print(a) for a in expr.args)})"

    _print_exp = _print_log = _print_tanh = _print_sin = _print_cos = _print_Function
    _print_atan = _print_Abs = _print_sign = _print_erf = _print_Function
    _print_cosh = _print_sinh = _print_Function

    def _print_DiracDelta(self, expr):
        return f"(0.0 * {self._print(expr.args[0])})"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.as_base_exp()
        if exp == sympy.Rational(1, 2):
            return f"xp.sqrt({self._print(base)})"
        if exp == sympy.Rational(-1, 2):
            return f"(1 / xp.sqrt({self._print(base)}))"
        return f"({self._print(base)})**({self._print(exp)})"

    def _print_Integer(self, expr):
        # a whole number beyond float64's exact integers stays a float: as a Python int,
        # 1e19 overflowed JAX's int64 arguments
        return super()._print_Integer(expr) if abs(expr) < 2**53 else repr(float(expr))

    def _print_Exp1(self, expr):
        return "math.e"

    def _print_Pi(self, expr):
        return "math.pi"


def curve_source(name: str, expr, lo: float = -math.inf, hi: float = math.inf) -> list[str]:
    """Three functions (f, f′, f″) of a smooth piece on [lo, hi], derived by sympy, as array
    code; where they overflow in a precision (finite_ranges), the piece is its tangent."""
    z = sympy.Symbol("z", real=True)
    out = []
    printer = CurvePrinter()
    ranges = finite_ranges(expr, lo, hi)
    bounded = any(r != (lo, hi) for r in ranges.values())
    if bounded:
        table = ", ".join(f"{size}: ({num(a)}, {num(b)})" for size, (a, b) in ranges.items())
        out.append(f"# z where {name}'s f and f' are finite, per float size in bytes (beyond:\n"
                   f"# its tangent there)\n{name.upper()}_FINITE = {{{table}}}\n")
    for suffix, e in zip(("", "_d", "_d2"), derivatives(expr), strict=True):
        head = (f"def {name}{suffix}(xp, z):\n"
                f"    # {'f' if not suffix else suffix[1:]}: {sympy.sstr(e)}"[:LINE] + "\n")
        if not bounded:
            out.append(head + f"    return {printer.doprint(e)} + 0.0 * z\n")
            continue
        body = printer.doprint(e.subs(z, sympy.Symbol("t", real=True)))
        clip = f"    t = xp.clip(z, *{name.upper()}_FINITE[xp.asarray(z).dtype.itemsize])\n"
        if suffix == "":  # f computed once: the Newton loops call it every step
            clip += f"    ft = {body}\n"
            ret = f"xp.where(t == z, ft, ft + {name}_d(xp, t) * (z - t))"
        elif suffix == "_d":
            ret = f"{body} + 0.0 * z"
        else:
            ret = f"xp.where(t == z, {body}, 0.0)"
        out.append(head + clip + f"    return {ret}\n")
    return out


@functools.lru_cache(maxsize=256)
def derivatives(expr) -> tuple:
    """(f, f′, f″) of a curve, derived once for the emitted code, its finite ranges and the
    tests' evaluator."""
    z = sympy.Symbol("z", real=True)
    return expr, sympy.diff(expr, z), sympy.diff(expr, z, 2)


# the float sizes (bytes) a solver computes in, and the fraction of |z| by which a range
# where a curve is finite is pulled in (XLA's exp may overflow a little before NumPy's)
_PRECISIONS = {8: np.float64, 4: np.float32}
_MARGIN = 1e-3


@functools.lru_cache(maxsize=256)
def finite_ranges(expr, lo: float = -math.inf, hi: float = math.inf) -> dict:
    """Per float size (8 and 4 bytes): the z range within [lo, hi] on which f and f′
    evaluate finite in that precision, pulled in by 1e-3 |z| at an end where they do not.
    log(1 + exp(z)) overflows in float32 beyond z = 88.7, and its projection was computed on
    the curve cut off there ((95, 95.5) went to (88.7, 88.7)); beyond the range the solvers
    use the tangent at its end, to which such a curve has converged within rounding. f″
    is left out: it overflows close to a pole that f and f′ survive (log z below 5e-20 in
    float32), where the tangent is no stand-in for the curve. (lo, hi) where both stay
    finite."""
    trees = derivatives(expr)[:2]
    out = {}
    for size, dtype in _PRECISIONS.items():

        def finite(t, dtype=dtype):
            with np.errstate(all="ignore"):
                tt = np.asarray([t], dtype=dtype)
                return all(bool(np.all(np.isfinite(_printed(e)(np, tt)))) for e in trees)

        # where f may overflow at 0 (log(1 + exp(100 - z)) in float32), farther points
        tries = [0.0, 1.0, -1.0] + [sign * 10.0**k for k in range(1, 39) for sign in (1, -1)]
        starts = [min(max(v, lo), hi) for v in tries]
        if math.isfinite(lo) and math.isfinite(hi):
            starts.append(0.5 * (lo + hi))
        start = next((t for t in starts if math.isfinite(t) and finite(t)), None)
        if start is None:
            out[size] = (lo, hi)
            continue
        out[size] = (_finite_end(finite, start, lo, -1.0, dtype),
                     _finite_end(finite, start, hi, 1.0, dtype))
    return out


def _finite_end(finite, start: float, end: float, sign: float, dtype) -> float:
    """From `start` (where `finite` holds) towards `end` (sign: the direction): `end` if
    `finite` holds there, else the last float64 where it holds (bisection over the floats'
    order, 64 steps at most), pulled back towards `start` by _MARGIN of its size."""
    cap = end if math.isfinite(end) else sign * float(np.finfo(dtype).max)
    if finite(cap):
        return end
    good, bad = _float_order(start), _float_order(cap)
    while abs(bad - good) > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if finite(_float_at(mid)) else (good, mid)
    last = _float_at(good)
    last -= sign * _MARGIN * abs(last)
    tiny = float(np.finfo(dtype).tiny)
    if 0.0 < abs(last) < tiny:  # XLA flushes subnormals to 0, where f' may be infinite
        last = math.copysign(tiny, last) if sign * last < 0 else 0.0
    return last


def _float_order(v: float) -> int:
    """The position of a float64 among all float64s, as an integer (0.0 at 0)."""
    i = struct.unpack("<q", struct.pack("<d", v))[0]
    return i if i >= 0 else -(i & 0x7FFFFFFFFFFFFFFF)


def _float_at(k: int) -> float:
    """The float64 at position k of _float_order."""
    i = k if k >= 0 else (-k) | (1 << 63)
    return struct.unpack("<d", struct.pack("<Q", i & 0xFFFFFFFFFFFFFFFF))[0]


def _erf(z):
    """erf for the printed code (the emitted modules bind their own): NumPy's arrays
    through math.erf, anything else through JAX."""
    if isinstance(z, np.ndarray | np.generic | float):
        return np.vectorize(math.erf, otypes=[np.asarray(z).dtype])(z)
    import jax.scipy.special

    return jax.scipy.special.erf(z)


@functools.lru_cache(maxsize=1024)
def _printed(expr):
    """`expr` as a callable (xp, z) computing exactly the text that the emitted solvers
    hold (CurvePrinter, from a sympy tree, never from the model's text), operation by
    operation in its order: that order decides where it overflows (100 exp(-100 z)/(1 +
    exp(-100 z))^2 is inf/inf = NaN from z = -7.09 in float64, where a product taken in
    another order is 0). The printed text is parsed, never evaluated: _closure takes only
    the few forms CurvePrinter writes."""
    return _closure(ast.parse(CurvePrinter().doprint(expr), mode="eval").body)


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: operator.pow}
_XP_FUNCTIONS = {f.split(".")[1] for f in _ARRAY_FUNCTIONS.values() if f.startswith("xp.")}


def _closure(node):
    """A callable (xp, z) for one node of a printed curve: z, a number, math.e or math.pi,
    + - * / ** and unary minus, a call of an xp function of _ARRAY_FUNCTIONS or _erf."""
    if isinstance(node, ast.Name) and node.id == "z":
        return lambda xp, z: z
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        return lambda xp, z: value
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "math" and node.attr in ("e", "pi")):
        value = getattr(math, node.attr)
        return lambda xp, z: value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _closure(node.operand)
        if isinstance(node.op, ast.UAdd):
            return inner
        return lambda xp, z: -inner(xp, z)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        op, left, right = _OPERATORS[type(node.op)], _closure(node.left), _closure(node.right)
        return lambda xp, z: op(left(xp, z), right(xp, z))
    if isinstance(node, ast.Call) and not node.keywords:
        args = [_closure(a) for a in node.args]
        f = node.func
        if isinstance(f, ast.Name) and f.id == "_erf":
            return lambda xp, z: _erf(*(a(xp, z) for a in args))
        if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                and f.value.id == "xp" and f.attr in _XP_FUNCTIONS):
            name = f.attr
            return lambda xp, z: getattr(xp, name)(*(a(xp, z) for a in args))
    raise ValueError(f"no array form of {ast.dump(node)[:80]}")


MARKS = 16  # the most marks a piece's table holds (those nearest 0)


def curve_marks(expr, lo: float = -math.inf, hi: float = math.inf) -> tuple[float, ...]:
    """The turning points (f′ = 0) and inflection points (f″ = 0) of a smooth piece's
    curve inside (lo, hi) ∩ [−100, 100], the MARKS of them nearest 0, in ascending
    order: extra points of the free projection's window search (lwlc/sets/smooth.py
    curve_piece_candidate). Its even points missed a narrow peak seen from far away, and
    the valley of a steep step (1/(1 + exp(−100 z)) from (1.58, −3.37) lies beside its
    inflection point, between two of them: 1.2 % of random points missed. Found
    numerically, so that any curve takes milliseconds (sympy's solveset took 11 s for
    one of the tests' curves): the sign changes of f′ and f″ on 20001 even points of
    [−100, 100], each bisected to the last bit."""
    _, df, d2f = curve_functions(expr, lo, hi)
    grid = np.linspace(-100.0, 100.0, 20001)
    grid = grid[(grid > lo) & (grid < hi)]
    if grid.size < 2:
        return ()
    points = sorted({*_sign_changes(df, grid), *_sign_changes(d2f, grid)}, key=abs)
    return tuple(sorted(points[:MARKS]))


def _sign_changes(g, grid: np.ndarray) -> list[float]:
    """The points where g(np, t) changes sign between neighbours of `grid`, skipping
    exact zeros (f′ underflows to 0 far out on a flat curve, tanh beyond 19, which is no
    turning point), each bisected to the last bit."""
    with np.errstate(all="ignore"):
        value = np.asarray(g(np, grid), dtype=float)
        keep = (value != 0.0) & np.isfinite(value)
        grid, value = grid[keep], value[keep]
        left = np.flatnonzero(np.sign(value[:-1]) != np.sign(value[1:]))
        a, b = grid[left], grid[left + 1]
        sa = np.sign(value[left])
        for _ in range(60):
            mid = 0.5 * (a + b)
            sign = np.sign(np.asarray(g(np, mid), dtype=float))
            a = np.where((sign == sa) | (sign == 0), mid, a)
            b = np.where(sign != sa, mid, b)
    return [float(v) for v in 0.5 * (a + b) if math.isfinite(v)]


def curve_functions(expr, lo: float = -math.inf, hi: float = math.inf):
    """(f, f', f'') of a smooth piece on [lo, hi] as callables (xp, z), computing the code
    that the emitted solvers print, with their tangent beyond finite_ranges (for the set
    library's tests and `lwlc test`)."""
    f0, f1, f2 = (_printed(e) for e in derivatives(expr))
    ranges = finite_ranges(expr, lo, hi)

    def clipped(xp, zz):
        zz = xp.asarray(zz)
        return xp.clip(zz, *ranges.get(zz.dtype.itemsize, ranges[4]))

    def f(xp, zz):
        t = clipped(xp, zz)
        ft = f0(xp, t) + 0.0 * zz
        return xp.where(t == zz, ft, ft + f1(xp, t) * (zz - t))

    def df(xp, zz):
        return f1(xp, clipped(xp, zz)) + 0.0 * zz

    def d2f(xp, zz):
        t = clipped(xp, zz)
        return xp.where(t == zz, f2(xp, t) + 0.0 * zz, 0.0)

    return f, df, d2f
