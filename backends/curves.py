"""Smooth activation pieces (sympy expressions, lwlc/elaborate.py) as array code: the
emitted solvers' curve functions (f, f', f'') and the same as callables for the tests and
`lwlc test`. Its own module so that sympy is imported only for a model that has a smooth
piece."""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
import sympy
from lwlc.backends.common import LINE
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

    def _print_Exp1(self, expr):
        return "math.e"

    def _print_Pi(self, expr):
        return "math.pi"


def curve_source(name: str, expr) -> list[str]:
    """Three functions (f, f′, f″) of a smooth piece, derived by sympy, as array code."""
    z = sympy.Symbol("z", real=True)
    out = []
    printer = CurvePrinter()
    for suffix, e in (("", expr), ("_d", sympy.diff(expr, z)), ("_d2", sympy.diff(expr, z, 2))):
        body = printer.doprint(e)
        out.append(f"def {name}{suffix}(xp, z):\n"
                   f"    # {'f' if not suffix else suffix[1:]}: {sympy.sstr(e)}"[:LINE] + "\n"
                   f"    return {body} + 0.0 * z\n")
    return out


def _erf(xp, z):
    if xp is np:
        return np.vectorize(math.erf, otypes=[float])(z)
    import jax.scipy.special

    return jax.scipy.special.erf(z)


# sympy function name → elementwise array function of (xp, argument)
_TREE_FUNCTIONS = {
    "exp": lambda xp, a: xp.exp(a), "log": lambda xp, a: xp.log(a),
    "tanh": lambda xp, a: xp.tanh(a), "sin": lambda xp, a: xp.sin(a),
    "cos": lambda xp, a: xp.cos(a), "atan": lambda xp, a: xp.arctan(a),
    "Abs": lambda xp, a: xp.abs(a), "sign": lambda xp, a: xp.sign(a),
    "cosh": lambda xp, a: xp.cosh(a), "sinh": lambda xp, a: xp.sinh(a),
    "erf": _erf, "DiracDelta": lambda xp, a: 0.0 * a,
}


def _evaluate(expr, xp, z):
    """The value of a sympy expression in z, computed by walking its tree (no source text)."""
    if expr.is_Symbol:
        return z
    if expr.is_Number or expr.is_NumberSymbol:
        return float(expr)
    args = [_evaluate(a, xp, z) for a in expr.args]
    if expr.is_Add:
        return functools.reduce(operator.add, args)
    if expr.is_Mul:
        return functools.reduce(operator.mul, args)
    if expr.is_Pow:
        return args[0] ** args[1]
    name = type(expr).__name__
    if name not in _TREE_FUNCTIONS:
        raise ValueError(f"no array form of {name}")
    return _TREE_FUNCTIONS[name](xp, args[0])


def curve_functions(expr):
    """(f, f', f'') of a smooth piece as callables (xp, z), evaluated from the sympy trees
    that the emitted solvers print (for the set library's tests and `lwlc test`)."""
    z = sympy.Symbol("z", real=True)
    trees = (expr, sympy.diff(expr, z), sympy.diff(expr, z, 2))
    return tuple((lambda xp, zz, t=t: _evaluate(t, xp, zz) + 0.0 * zz) for t in trees)
