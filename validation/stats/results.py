"""Result types shared by every statistic: frozen, with ``to_dict()`` for JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    Attributes
    ----------
    estimate, lower, upper : float
        Point estimate and interval bounds (NaN where undefined, e.g. 0/0).
    confidence_level : float
        Nominal two-sided coverage, e.g. 0.95.
    method : str
        The method actually used, spelled as the caller passes it.
    n : int
        The denominator / number of units analysed.
    """

    estimate: float
    lower: float
    upper: float
    confidence_level: float
    method: str
    n: int

    def to_dict(self) -> dict:
        return asdict(self)
