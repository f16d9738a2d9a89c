"""Acceptance criteria: strict parsing, judging on CI bounds, non-inferiority, verdict; results schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.acceptance import (
    Criterion,
    CriterionOutcome,
    NonInferiorityRule,
    judge,
    parse_criterion,
    verdict,
)
from validation.errors import InputError
from validation.protocols import parse_protocol
from validation.schemas import load_schema, validate_results
from validation.stats import proportion_ci

DATA = Path(__file__).parent / "data" / "protocols"
REPORT_FIXTURES = Path(__file__).resolve().parents[1] / "reports" / "fixtures"


@pytest.mark.parametrize(("text", "expected"), [
    ("lower_bound >= 0.80", Criterion("lower_bound", ">=", 0.80)),
    ("upper_bound <= 6.0", Criterion("upper_bound", "<=", 6.0)),
    ("estimate > 0.5", Criterion("estimate", ">", 0.5)),
    ("upper_bound < 1e-2", Criterion("upper_bound", "<", 0.01)),
    ("lower_bound >= -0.05", Criterion("lower_bound", ">=", -0.05)),
    ("  lower_bound >= .9  ", Criterion("lower_bound", ">=", 0.9)),
])
def test_parse_valid(text, expected):
    assert parse_criterion(text) == expected


@pytest.mark.parametrize("text", [
    "lower >= 0.8",             # bound misspelt
    "lower_bound => 0.8",       # operator misspelt
    "lower_bound == 0.8",       # no equality criteria
    "lower_bound >=0.8",        # one space between parts
    "lower_bound >= 80%",       # no percentages
    "lower_bound >= 0.8 and upper_bound <= 1",
    "LOWER_BOUND >= 0.8",       # one spelling
    "lower_bound >= nan",
    "",
])
def test_parse_rejects_with_the_expected_form(text):
    with pytest.raises(ValueError) as exc:
        parse_criterion(text)
    assert str(exc.value) == f"expected '<bound> <op> <number>' such as 'lower_bound >= 0.80'; got {text!r}"


def test_parse_rejects_non_strings():
    with pytest.raises(ValueError, match=r"got 0\.8 \(float\)"):
        parse_criterion(0.8)


def test_evaluate_on_each_bound_and_nan_never_passes():
    c = parse_criterion("lower_bound >= 0.80")
    assert c.evaluate(0.9, 0.80, 0.95) is True      # boundary included by >=
    assert c.evaluate(0.9, 0.7999, 0.95) is False
    assert parse_criterion("lower_bound > 0.80").evaluate(0.9, 0.80, 0.95) is False
    assert parse_criterion("upper_bound <= 6").evaluate(4.0, 3.0, 6.0) is True
    assert parse_criterion("upper_bound < 6").evaluate(4.0, 3.0, 6.0) is False
    assert parse_criterion("estimate >= 0.5").evaluate(0.5, 0.1, 0.9) is True
    assert c.evaluate(float("nan"), float("nan"), float("nan")) is False
    assert str(c) == "lower_bound >= 0.8" and c.to_dict()["bound"] == "lower_bound"


@given(lo=st.floats(0, 1), width=st.floats(0, 1), goal=st.floats(0, 1))
def test_lower_bound_criterion_is_monotone(lo, width, goal):
    # property: raising the lower bound never turns a pass into a fail
    c = Criterion("lower_bound", ">=", goal)
    if c.evaluate(lo, lo, lo + width):
        assert c.evaluate(lo, min(1.0, lo + width / 2), lo + width)


def test_non_inferiority_direction():
    # higher is better (sensitivity difference): pass when lower bound of d > -margin
    ni = NonInferiorityRule("comparator", 0.05, higher_is_better=True)
    assert ni.evaluate(-0.01, -0.049, 0.03) and not ni.evaluate(-0.01, -0.05, 0.03)
    # lower is better (HD95 difference in mm): pass when upper bound of d < +margin
    ni_mm = NonInferiorityRule("comparator", 1.0, higher_is_better=False)
    assert ni_mm.evaluate(0.2, -0.5, 0.99) and not ni_mm.evaluate(0.2, -0.5, 1.0)
    assert not ni.evaluate(0.0, float("nan"), 0.1)
    assert str(ni) == "lower_bound(device - comparator) > -0.05"


def _protocol(**replace):
    text = (DATA / "valid.yaml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return parse_protocol(text, path="valid.yaml")


def test_judge_an_interval_from_the_stats_package():
    proto = _protocol()
    sens = proto.endpoints[0]                      # lower_bound >= 0.80, Wilson
    iv = proportion_ci(45, 50, method="wilson", confidence_level=0.95)
    # Wilson score interval written out (Wilson 1927; Brown, Cai & DasGupta 2001 eq. 4):
    # centre = (x + z^2/2)/(n + z^2), half = z*sqrt(n p (1-p) + z^2/4)/(n + z^2)
    z, x, n = 1.959963984540054, 45, 50
    p = x / n
    centre, half = (x + z * z / 2) / (n + z * z), z * math.sqrt(n * p * (1 - p) + z * z / 4) / (n + z * z)
    assert iv.lower == pytest.approx(centre - half, abs=1e-12)
    out = judge(sens, iv)
    assert isinstance(out, CriterionOutcome)
    assert out.passed is (centre - half >= 0.80)   # 0.7864 < 0.80: FAIL
    assert out.passed is False
    assert out.to_dict() == {
        "endpoint": "sensitivity", "role": "primary", "metric": "sensitivity", "estimate": 0.9,
        "lower": iv.lower, "upper": iv.upper, "confidence_level": 0.95, "method": "wilson", "n": 50,
        "criterion": "lower_bound >= 0.8", "passed": False}
    passing = judge(sens, proportion_ci(95, 100, method="wilson"))
    assert passing.passed is True


def test_judge_accepts_dicts_auc_style_counts_and_report_only():
    proto = _protocol(**{"    criterion: lower_bound >= 0.85": "    report_only: true"})
    auc = proto.endpoints[1]
    out = judge(auc, {"estimate": 0.9, "lower": 0.86, "upper": 0.94, "confidence_level": 0.95,
                      "method": "delong", "n_pos": 40, "n_neg": 60})
    assert out.passed is None and out.criterion is None and out.n == 100
    with pytest.raises(ValueError, match="'result' must have 'lower'"):
        judge(auc, {"estimate": 0.9})


def test_verdict():
    def o(passed):
        return CriterionOutcome("e", "primary", "sensitivity", 0.9, 0.8, 0.95, 0.95, "wilson", 10, "x", passed)
    assert verdict([o(True), o(True), o(None)]) == "PASS"
    assert verdict([o(True), o(False)]) == "FAIL"
    assert verdict([o(None)]) == "FAIL"       # nothing judged: criteria not met
    assert verdict([{"passed": True}]) == "PASS"


# -- results.json schema -----------------------------------------------------------------


def test_schema_is_valid_draft_2020_12():
    from jsonschema import Draft202012Validator

    schema = load_schema("results")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("task", ["classification", "segmentation", "detection"])
def test_report_fixtures_conform(task):
    # the reports engineer's fixtures, written independently from docs/contracts.md
    path = REPORT_FIXTURES / task / "results.json"
    assert path.exists(), f"{path}: the report fixtures ship with the repository"
    validate_results(json.loads(path.read_text()), where=str(path))


def _minimal_results() -> dict:
    sha = "f" * 64
    return {
        "schema_version": "1.0", "results_digest": sha,
        "inputs": {"protocol": {"id": "p", "version": 1, "sha256": sha},
                   "model": {"id": "m", "version": 1, "sha256": sha},
                   "cohort": {"id": "c", "version": 1, "digest": sha, "n_cases": 10},
                   "seed": 1, "mode": "regulatory"},
        "outcome": {"verdict": "PASS",
                    "criteria": [judge(_protocol().endpoints[0], proportion_ci(95, 100)).to_dict()],
                    "data_quality": {"success": True, "suite": "s", "results": []}},
        "context": {"run_id": "r", "operator": "qa", "started_at": "2026-01-01T00:00:00Z",
                    "exposure": {"count": 0, "by_models": [], "limit": 5, "warning": None},
                    "audit": {"chain_verified": True}, "protocol_lock": None},
    }


def test_minimal_results_conform_and_violations_are_named():
    validate_results(_minimal_results())
    bad = _minimal_results()
    bad["outcome"]["verdict"] = "MAYBE"
    bad["inputs"]["cohort"]["digest"] = "to-be-pinned"
    bad["unexpected"] = 1
    with pytest.raises(InputError) as exc:
        validate_results(bad, where="run/results.json")
    msg = str(exc.value)
    assert "run/results.json: inputs/cohort/digest: 'to-be-pinned' does not match" in msg
    assert "run/results.json: outcome/verdict: 'MAYBE' is not one of ['PASS', 'FAIL']" in msg
    assert "Additional properties are not allowed ('unexpected' was unexpected)" in msg


def test_nan_bounds_are_allowed_as_text():
    r = _minimal_results()
    r["outcome"]["criteria"][0].update(lower="nan", passed=False)
    validate_results(r)


@given(bound=st.sampled_from(["lower_bound", "upper_bound", "estimate"]),
       op=st.sampled_from([">=", ">", "<=", "<"]),
       value=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
def test_parse_round_trips_every_well_formed_criterion(bound, op, value):
    # property: '<bound> <op> <repr(value)>' parses to exactly those parts
    c = parse_criterion(f"{bound} {op} {value!r}")
    assert (c.bound, c.op, c.value) == (bound, op, value)
