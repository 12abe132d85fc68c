"""Generated models (tests/modelgen.py): every one passes the front end, and the back end
compiles and runs them: finite states, NumPy = JAX (float64) step by step, predict runs.

The back-end tests carry the `modelgen` mark (`pytest -m modelgen` runs only them); they also
run in the normal suite, bounded to well under a minute on 2 cores. For a long run use
`bench/model_campaign.py`; LWLC_MODELGEN_EXAMPLES=N raises the number of examples here, and
LWLC_MODELGEN_SHRINK=1 lets hypothesis shrink a failing model (minutes with JAX).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from modelgen import draw_model, exercise, front_end, models, normalize

from lwlc.errors import LwlcError
from lwlc.report import summary
from lwlc.split import format_split

EXAMPLES = int(os.environ.get("LWLC_MODELGEN_EXAMPLES", 0))
PHASES = (tuple(Phase) if os.environ.get("LWLC_MODELGEN_SHRINK")
          else (Phase.explicit, Phase.reuse, Phase.generate))
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
FRONT = settings(max_examples=EXAMPLES or 150, deadline=None, suppress_health_check=SLOW_OK)
NUMPY = settings(max_examples=EXAMPLES or 25, deadline=None, suppress_health_check=SLOW_OK,
                 phases=PHASES)
BOTH = settings(max_examples=EXAMPLES or 3, deadline=None, suppress_health_check=SLOW_OK,
                phases=PHASES)


def _report(text: str, result: dict) -> str:
    """The model and what went wrong with it, for an assertion message."""
    out = ["model:", text]
    for f in result["failures"]:
        out.append(f"--- {f['backend']} {f['kind']}\n{f['message']}\n{f['traceback'][-2500:]}")
    return "\n".join(out)


# --- the generator --------------------------------------------------------------------------


@FRONT
@given(models())
def test_generated_models_pass_the_front_end(model):
    text, facts = model
    try:
        m, plan = front_end(text)
    except LwlcError as e:
        pytest.fail(f"the front end rejects a generated model:\n{text}\n{e.format()}")
    assert sorted(m.inputs) == sorted(facts["inputs"])
    assert sorted(m.labels) == sorted(facts["labels"])
    assert sorted(m.samples) == sorted(facts["samples"])
    assert [p.name for p in m.batch.parts] == facts["parts"]
    assert m.n_nodes == facts["n_nodes"] <= 40
    assert m.batch.size <= 16
    assert plan.sets == facts["split"]
    summary(m)  # what `lwlc check` prints
    format_split(m, plan)


def test_seeded_draws_are_reproducible_and_accepted():
    accepted = 0
    for seed in range(200):
        text, facts = draw_model(seed)
        assert draw_model(seed) == (text, facts)
        try:
            front_end(text)
            accepted += 1
        except LwlcError:
            pass
    assert accepted >= 0.95 * 200  # in practice all of them
    assert len({draw_model(s)[0] for s in range(50)}) == 50


def test_generator_covers_the_features():
    """The features issue 10 asks for all turn up within a few hundred draws."""
    seen = set()
    kinds = set()
    for seed in range(400):
        _, facts = draw_model(seed)
        seen.update(facts["features"])
        kinds.add(facts["kind"])
    assert kinds == {"classifier", "regression", "classifier+regression", "autoencoder", "nmf"}
    want = {
        "skip-connection", "parallel-hidden", "group", "group-difference", "edges:dense",
        "edges:random", "edges:list", "set:user-affine", "set:user-smooth", "batch-parts",
        "activation-per-part", "pins", "pins-mirrored", "modifier:exempt", "modifier:relabel",
        "modifier:allow", "modifier-percent", "side:ge", "side:le", "side:box", "side:sphere",
        "side:nonneg-sphere", "side:sparse", "side:eq", "metric:outdeg", "metric:const",
        "regression", "sample", "odd-names", "case-twins", "odd-part-name", "odd-set-name",
        "cycle", "no-bias", "free-elements", "solver:dr", "solver:ap", "solver:lam",
    } | {f"set:{s}" for s in ("relu", "step", "zigmoid", "hardtanh", "softthreshold",
                              "ternary", "linear", "sigmoid", "tanh_act")}
    assert want <= seen, sorted(want - seen)


# --- the runner, on models whose fate does not depend on the back end ----------------------


def test_exercise_reports_a_model_the_front_end_rejects():
    result = exercise("nodes D[2]\nnodes D[3]\n", backends=("numpy",))
    assert result["status"] == "rejected"
    assert "declared" in result["rejected"] or "D" in result["rejected"]
    assert not result["failures"]


def test_normalize_groups_messages_of_one_kind():
    a = normalize("gen.lwl:3:4: error: x[k=0, D[0] -> H[1]] is touched by 'act' (line 8)")
    b = normalize("gen.lwl:9:1: error: x[k=5, D[2] -> H[0]] is touched by 'hid' (line 12)")
    assert a == b
    assert normalize("index 12 is out of bounds for axis 1 with size 7\nmore") == \
        "index N is out of bounds for axis N with size N"
    assert normalize("assumes metric 1 on w2; rescale", {"w2", "and"}) == \
        normalize("assumes metric 1 on NP; rescale", {"NP"}) == "assumes metric N on _; rescale"
    assert normalize("a and b", {"and"}) == "a and b"  # names that read as words stay


# --- the back end ---------------------------------------------------------------------------


# The back-end tests draw models by seed (`draw_model(seed)`): in a few dozen examples that
# spreads over the features far better than hypothesis' own choices, which favour the simplest
# branch of every choice; a failure names its seed, which `bench/model_campaign.py --seed S
# --models 1` reruns. With LWLC_MODELGEN_SHRINK=1 they draw from `models()` instead, so that
# hypothesis can shrink a failing model.
SHRINK = bool(os.environ.get("LWLC_MODELGEN_SHRINK"))
DRAWS = models() if SHRINK else st.integers(0, 2**32 - 1).map(lambda s: (s, *draw_model(s)))


def _unpack(drawn) -> tuple[str, str]:
    if SHRINK:
        return drawn[0], "(drawn by hypothesis)"
    seed, text, _ = drawn
    return text, f"seed {seed}"


@pytest.mark.modelgen
@NUMPY
@given(DRAWS)
def test_generated_models_run_on_numpy(drawn):
    text, where = _unpack(drawn)
    result = exercise(text, backends=("numpy",), iterations=3)
    assert result["status"] in ("ok", "refused"), where + "\n" + _report(text, result)


@pytest.mark.modelgen
@BOTH
@given(DRAWS)
def test_generated_models_run_alike_on_numpy_and_jax(drawn):
    pytest.importorskip("jax")
    text, where = _unpack(drawn)
    result = exercise(text, backends=("numpy", "jax"), iterations=3, solve_batch=False)
    assert result["status"] in ("ok", "refused"), where + "\n" + _report(text, result)


@pytest.mark.modelgen
def test_generated_model_26329_project_b_is_idempotent():
    """A fan-in-1 neuron with x = w exactly and no root of eq. 53 in (−1, 1): its bilinear
    projection left the set (x' = w' = x/2), so P_B moved it again (y by 0.5)."""
    result = exercise(draw_model(26329)[0], backends=("numpy",), iterations=3)
    assert result["status"] in ("ok", "refused"), _report(draw_model(26329)[0], result)
