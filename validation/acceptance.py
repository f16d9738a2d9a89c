"""Acceptance criteria: a protocol's pre-specified pass/fail rule on a CI bound.

A protocol states each endpoint's criterion as a string on one bound of the
confidence interval, for example ``lower_bound >= 0.80`` (sensitivity) or
``upper_bound <= 6.0`` (HD95 in mm), or as a non-inferiority margin on a paired
difference against a comparator model. This module parses those strings
strictly (one spelling per bound and operator, no aliases) and judges a
computed interval against them. It holds no statistics: the interval comes
from :mod:`validation.stats`.

Notes
-----
Judging on a CI bound rather than on the point estimate is how a pre-specified
performance goal is tested in diagnostic-accuracy studies: a sensitivity
criterion ``lower_bound >= 0.80`` at 95% confidence is a one-sided test of
``H0: Se < 0.80`` at level 2.5% [1]_. A non-inferiority criterion on a paired
difference ``d = device - comparator`` with margin ``delta`` passes when the
whole interval lies above ``-delta`` (metrics where higher is better) or below
``+delta`` (metrics where lower is better, e.g. HD95) [2]_.

An undefined bound (NaN, e.g. sensitivity with no positive cases) never
passes: a criterion that cannot be evaluated is not met.

References
----------
.. [1] U.S. Food and Drug Administration, "Statistical Guidance on Reporting
   Results from Studies Evaluating Diagnostic Tests", 2007.
.. [2] U.S. Food and Drug Administration, "Non-Inferiority Clinical Trials to
   Establish Effectiveness: Guidance for Industry", 2016.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Literal

Bound = Literal["lower_bound", "upper_bound", "estimate"]
Operator = Literal[">=", ">", "<=", "<"]
Verdict = Literal["PASS", "FAIL"]

BOUNDS: tuple[str, ...] = ("lower_bound", "upper_bound", "estimate")
OPERATORS: tuple[str, ...] = (">=", ">", "<=", "<")

CRITERION_HELP = "expected '<bound> <op> <number>' such as 'lower_bound >= 0.80'"

# bound, operator, a plain decimal number (optionally signed, optional exponent);
# exactly one space-separated token each, nothing else on the line.
_CRITERION_RE = re.compile(
    r"^(lower_bound|upper_bound|estimate) (>=|>|<=|<) ([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)$"
)


@dataclass(frozen=True, slots=True)
class Criterion:
    """A parsed acceptance criterion ``<bound> <op> <value>``.

    Attributes
    ----------
    bound : {'lower_bound', 'upper_bound', 'estimate'}
        Which part of the interval is judged.
    op : {'>=', '>', '<=', '<'}
        The comparison.
    value : float
        The performance goal.
    """

    bound: Bound
    op: Operator
    value: float

    def __str__(self) -> str:
        return f"{self.bound} {self.op} {self.value:g}"

    def evaluate(self, estimate: float, lower: float, upper: float) -> bool:
        """Whether the interval ``(estimate, lower, upper)`` meets the criterion.

        A NaN at the judged bound is never a pass.
        """
        x = {"lower_bound": lower, "upper_bound": upper, "estimate": estimate}[self.bound]
        x = float(x)
        if math.isnan(x):
            return False
        return _compare(x, self.op, self.value)

    def to_dict(self) -> dict:
        return {"bound": self.bound, "op": self.op, "value": self.value, "text": str(self)}


def _compare(x: float, op: str, value: float) -> bool:
    if op == ">=":
        return x >= value
    if op == ">":
        return x > value
    if op == "<=":
        return x <= value
    return x < value


def parse_criterion(text: Any) -> Criterion:
    """Parse ``'<bound> <op> <number>'`` strictly.

    Parameters
    ----------
    text : str
        For example ``'lower_bound >= 0.80'``. The bound is one of
        ``lower_bound``, ``upper_bound``, ``estimate``; the operator one of
        ``>=``, ``>``, ``<=``, ``<``; single spaces between the three parts.

    Returns
    -------
    Criterion

    Raises
    ------
    ValueError
        If ``text`` does not have that form; the message shows the expected form
        and what came.

    Examples
    --------
    >>> parse_criterion("lower_bound >= 0.80")
    Criterion(bound='lower_bound', op='>=', value=0.8)
    >>> str(parse_criterion("upper_bound <= 6.0"))
    'upper_bound <= 6'
    """
    if not isinstance(text, str):
        raise ValueError(f"{CRITERION_HELP}; got {text!r} ({type(text).__name__})")
    m = _CRITERION_RE.match(text.strip())
    if m is None:
        raise ValueError(f"{CRITERION_HELP}; got {text!r}")
    value = float(m.group(3))
    if not math.isfinite(value):  # pragma: no cover - the regex admits only finite decimals
        raise ValueError(f"{CRITERION_HELP}; got {text!r}")
    return Criterion(bound=m.group(1), op=m.group(2), value=value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class NonInferiorityRule:
    """Non-inferiority of the device against a comparator on a paired difference.

    The difference is ``device - comparator``. With ``higher_is_better`` the
    device is non-inferior when the interval's lower bound exceeds ``-margin``;
    otherwise (e.g. HD95) when the upper bound is below ``+margin``.
    """

    comparator: str
    margin: float
    higher_is_better: bool

    def __str__(self) -> str:
        if self.higher_is_better:
            return f"lower_bound(device - {self.comparator}) > -{self.margin:g}"
        return f"upper_bound(device - {self.comparator}) < {self.margin:g}"

    def evaluate(self, estimate: float, lower: float, upper: float) -> bool:
        """Whether the difference interval shows non-inferiority (NaN never passes)."""
        if self.higher_is_better:
            x = float(lower)
            return (not math.isnan(x)) and x > -self.margin
        x = float(upper)
        return (not math.isnan(x)) and x < self.margin

    def to_dict(self) -> dict:
        return {"comparator": self.comparator, "margin": self.margin,
                "higher_is_better": self.higher_is_better, "text": str(self)}


@dataclass(frozen=True, slots=True)
class CriterionOutcome:
    """One endpoint judged against its criterion: a row of ``outcome.criteria``.

    ``passed`` is ``None`` for report-only endpoints (no criterion).
    """

    endpoint: str
    role: str
    metric: str
    estimate: float
    lower: float
    upper: float
    confidence_level: float
    method: str
    n: int
    criterion: str | None
    passed: bool | None

    def to_dict(self) -> dict:
        return asdict(self)


def judge(endpoint: Any, result: Any, *, subject: str | None = None) -> CriterionOutcome:
    """Judge one computed interval against a protocol endpoint's criterion.

    Parameters
    ----------
    endpoint : validation.protocols.Endpoint
        The endpoint (``id``, ``role``, ``metric``, ``criterion`` or
        ``non_inferiority`` or ``report_only``).
    result : object or dict
        Anything with ``estimate``, ``lower``, ``upper``, ``confidence_level``,
        ``method`` and ``n`` (an :class:`~validation.stats.results.Interval`, an
        AUC or bootstrap result, or a dict with those keys). For a
        non-inferiority endpoint it is the interval of the paired difference
        ``device - comparator``. Results that count ``n_pos``/``n_neg`` instead
        of ``n`` are accepted.
    subject : str, optional
        Overrides the endpoint id in the outcome (e.g. ``'sensitivity[site=A]'``).

    Returns
    -------
    CriterionOutcome
    """
    get = result.get if isinstance(result, dict) else (lambda k, d=None: getattr(result, k, d))
    for key in ("estimate", "lower", "upper"):
        if get(key) is None:
            raise ValueError(f"'result' must have '{key}'; got {type(result).__name__} without it")
    n = get("n")
    if n is None:
        n = int(get("n_pos", 0) or 0) + int(get("n_neg", 0) or 0)
    rule = acceptance_rule(endpoint)
    estimate, lower, upper = float(get("estimate")), float(get("lower")), float(get("upper"))
    passed = None if rule is None else bool(rule.evaluate(estimate, lower, upper))
    return CriterionOutcome(
        endpoint=subject or endpoint.id,
        role=endpoint.role,
        metric=endpoint.metric,
        estimate=estimate,
        lower=lower,
        upper=upper,
        confidence_level=float(get("confidence_level", float("nan"))),
        method=str(get("method", endpoint.ci_method)),
        n=int(n),
        criterion=None if rule is None else str(rule),
        passed=passed,
    )


def acceptance_rule(endpoint: Any) -> Criterion | NonInferiorityRule | None:
    """The endpoint's rule: a :class:`Criterion`, a :class:`NonInferiorityRule`, or None (report-only)."""
    from validation.protocols import HIGHER_IS_BETTER  # local: protocols imports this module

    if getattr(endpoint, "criterion", None) is not None:
        return parse_criterion(endpoint.criterion)
    ni = getattr(endpoint, "non_inferiority", None)
    if ni is not None:
        return NonInferiorityRule(comparator=ni.comparator, margin=float(ni.margin),
                                  higher_is_better=HIGHER_IS_BETTER[endpoint.metric])
    return None


def verdict(outcomes: Iterable[CriterionOutcome | dict]) -> Verdict:
    """``'PASS'`` when every judged criterion passed, else ``'FAIL'``.

    Report-only outcomes (``passed is None``) do not count. With no judged
    criterion at all the verdict is ``'FAIL'``: a run that tested nothing has
    not met its acceptance criteria.
    """
    judged = []
    for o in outcomes:
        p = o["passed"] if isinstance(o, dict) else o.passed
        if p is not None:
            judged.append(bool(p))
    return "PASS" if judged and all(judged) else "FAIL"
