"""Exactness: one RRR step of each emitted solver equals the paper's reference implementation
(../shared/golden, conventions in its README) to 1e-12 in float64, state and RRR_err alike."""

from __future__ import annotations

import numpy as np
import pytest
from golden_models import edges_match, golden_files, load

from lwlc.compiler import load_solver
from lwlc.elaborate import elaborate
from lwlc.lower import lower
from lwlc.parse import parse_text
from lwlc.split import split

FILES = golden_files()
pytestmark = pytest.mark.skipif(not FILES, reason="../shared/golden is not beside the checkout")


def _solver(path, backend, dtype="float64"):
    g, text, data, before, after = load(path)
    model = elaborate(parse_text(text, path.name))
    assert edges_match(g, model), "edge order differs from the golden file's"
    plan = lower(model, split(model))
    if backend == "numpy":
        from lwlc.backends.numpy.emit import emit

        source = emit(plan)
    else:
        from lwlc.backends.jax.emit import emit

        source = emit(plan, dtype=dtype)
    return g, load_solver(source), data, before, after


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_numpy_step_matches_reference(path):
    g, solver, data, before, after = _solver(path, "numpy")
    new, err = solver.rrr_step(before, data)
    for name, ref in after.items():
        np.testing.assert_allclose(new[name], ref, rtol=0, atol=1e-12, err_msg=name)
    assert abs(float(err) - g["rrr_err"]) < 1e-12


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_jax_step_matches_reference(path):
    g, solver, data, before, after = _solver(path, "jax")
    state, steps, first, last = solver.solve_batch(before, data, iterations=1, tolerance=0.0)
    assert steps == 1
    for name, ref in after.items():
        np.testing.assert_allclose(np.asarray(state[name]), ref, rtol=0, atol=1e-12, err_msg=name)
    assert abs(first - g["rrr_err"]) < 1e-12


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_jax_float32_step_matches_reference(path):
    """float32: the same step to 1e-5 relative to the state's scale."""
    g, solver, data, before, after = _solver(path, "jax", dtype="float32")
    state, steps, first, last = solver.solve_batch(before, data, iterations=1, tolerance=0.0)
    for name, ref in after.items():
        got = np.asarray(state[name], dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(ref))))
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * scale, err_msg=name)
    assert first == pytest.approx(g["rrr_err"], rel=1e-5)


def test_numpy_emitted_code_imports_only_numpy(tmp_path):
    """The compiled NumPy solver runs in a fresh interpreter where jax and lwlc are blocked."""
    import subprocess
    import sys

    g, text, data, before, after = load(FILES[0])
    model = elaborate(parse_text(text, "golden.lwl"))
    from lwlc.backends.numpy.emit import emit

    src = tmp_path / "solver.py"
    src.write_text(emit(lower(model, split(model))))
    probe = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('jax', 'lwlc', 'backends', 'scipy', 'sympy'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import solver\n"
        "print(sorted(m for m in sys.modules if not m.startswith('_'))[:0])\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=tmp_path)
