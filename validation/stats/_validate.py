"""Argument checks shared by the statistics modules.

Every public statistic validates its inputs here, at the boundary, so that the
messages read the same everywhere: they name the argument, what was expected
and what came, e.g. ``'confidence_level' must be in (0, 1); got 1.5``.
``ValueError`` for bad values, ``TypeError`` for wrong types; never ``assert``.

All helpers return a cleaned value (a Python float/int or a fresh numpy array)
and never mutate their input.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "check_choice",
    "check_confidence_level",
    "check_count",
    "check_counts",
    "check_count_not_above",
    "check_positive_int",
    "check_probability",
    "check_binary_labels",
    "check_scores",
    "check_same_length",
    "check_1d",
]


def _show(value: Any) -> str:
    """Short repr of an offending value for an error message."""
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return repr(value.tolist())
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is exactly one of ``choices`` (no aliases, no prefixes).

    Raises
    ------
    ValueError
        ``'method' must be one of 'wilson', 'wald'; got 'wils'``.
    """
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name!r} must be one of {listed}; got {_show(value)}")
    return value


def check_confidence_level(confidence_level: Any, name: str = "confidence_level") -> float:
    """Check a two-sided confidence level lies strictly inside (0, 1).

    Raises
    ------
    TypeError
        If it is not a real number (bools are refused).
    ValueError
        ``'confidence_level' must be in (0, 1); got 1.5``.
    """
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, numbers.Real):
        raise TypeError(f"{name!r} must be a real number in (0, 1); got {_show(confidence_level)}")
    value = float(confidence_level)
    if not (0.0 < value < 1.0):  # also refuses NaN
        raise ValueError(f"{name!r} must be in (0, 1); got {_show(confidence_level)}")
    return value


def check_probability(p: Any, name: str, *, open_interval: bool = False) -> float:
    """Check a scalar probability lies in [0, 1] (or (0, 1) if ``open_interval``)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name!r} must be a real number; got {_show(p)}")
    value = float(p)
    ok = (0.0 < value < 1.0) if open_interval else (0.0 <= value <= 1.0)
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name!r} must be in {bounds}; got {_show(p)}")
    return value


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Check an integer option such as ``n_resamples`` is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name!r} must be an integer; got {_show(value)}")
    if int(value) < minimum:
        raise ValueError(f"{name!r} must be >= {minimum}; got {_show(value)}")
    return int(value)


def _as_count_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name!r} must be a non-negative integer count; got {_show(value)}")
    arr = np.asarray(value)
    if arr.dtype == bool:
        raise TypeError(f"{name!r} must be a non-negative integer count; got booleans {_show(value)}")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name!r} must be a non-negative integer count; got {_show(value)}")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError(f"{name!r} must be a non-negative integer count; got NaN in {_show(value)}")
        if not np.isfinite(arr).all() or np.any(arr != np.round(arr)):
            raise ValueError(f"{name!r} must be a non-negative integer count; got {_show(value)}")
    if np.any(arr < 0):
        raise ValueError(f"{name!r} must be a non-negative integer count; got {_show(value)}")
    return arr.astype(np.int64)


def check_count(value: Any, name: str) -> int:
    """Check one scalar count: a non-negative integer (integral floats like ``3.0`` pass).

    Raises
    ------
    TypeError
        For strings, booleans, None or non-scalars.
    ValueError
        For negative, fractional, infinite or NaN values.
    """
    arr = _as_count_array(value, name)
    if arr.ndim != 0:
        raise TypeError(f"{name!r} must be a scalar count; got {_show(value)}")
    return int(arr)


def check_counts(value: Any, name: str) -> np.ndarray:
    """Check a scalar or array of non-negative integer counts; returns an int64 array."""
    return _as_count_array(value, name)


def check_count_not_above(part: Any, part_name: str, whole: Any, whole_name: str) -> None:
    """Check ``part <= whole`` elementwise (e.g. ``successes <= n``)."""
    p = np.asarray(part)
    w = np.asarray(whole)
    bad = p > w
    if np.any(bad):
        idx = np.argwhere(np.atleast_1d(bad))[0]
        pv = np.atleast_1d(np.broadcast_to(p, np.broadcast(p, w).shape))[tuple(idx)]
        wv = np.atleast_1d(np.broadcast_to(w, np.broadcast(p, w).shape))[tuple(idx)]
        where = "" if np.ndim(bad) == 0 else f" at index {tuple(int(i) for i in idx)}"
        raise ValueError(
            f"{part_name!r} must not exceed {whole_name!r}; got {part_name}={int(pv)} > "
            f"{whole_name}={int(wv)}{where}"
        )


def check_1d(values: Any, name: str, *, allow_empty: bool = False, dtype: Any = float) -> np.ndarray:
    """Check a one-dimensional numeric array without NaN; returns a fresh copy."""
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name!r} must be a 1-D array of numbers; got {_show(values)}")
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name!r} must be a 1-D array of numbers; got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name!r} must be 1-D; got an array of shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name!r} must not be empty; got an empty array")
    arr = arr.astype(dtype, copy=True)
    if arr.dtype.kind == "f":
        n_nan = int(np.isnan(arr).sum())
        if n_nan:
            first = int(np.flatnonzero(np.isnan(arr))[0])
            raise ValueError(f"{name!r} contains {n_nan} NaN value(s) (first at index {first})")
        if not np.isfinite(arr).all():
            first = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"{name!r} contains infinite values (first at index {first})")
    return arr


def check_binary_labels(y_true: Any, name: str = "y_true", *, require_both: bool = True) -> np.ndarray:
    """Check labels are 1-D, non-empty, in {0, 1} (or bool); returns a bool array.

    Raises
    ------
    ValueError
        If a value other than 0/1 occurs, or (``require_both``) a class is absent:
        ``'y_true' must contain both classes 0 and 1; got only class 1 (n=12)``.
    """
    if isinstance(y_true, (str, bytes)) or y_true is None:
        raise TypeError(f"{name!r} must be a 1-D array of 0/1 labels; got {_show(y_true)}")
    arr = np.asarray(y_true)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name!r} must be a 1-D array of 0/1 labels; got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name!r} must be 1-D; got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name!r} must not be empty; got an empty array")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        first = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValueError(f"{name!r} contains {int(np.isnan(arr).sum())} NaN value(s) (first at index {first})")
    if arr.dtype != bool:
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name!r} must contain only 0 and 1; got {arr[first].item()!r} at index {first}")
    out = arr.astype(bool)
    if require_both:
        n_pos = int(out.sum())
        if n_pos == 0 or n_pos == out.size:
            only = 1 if n_pos else 0
            raise ValueError(
                f"{name!r} must contain both classes 0 and 1; got only class {only} (n={out.size})"
            )
    return out


def check_scores(scores: Any, name: str = "scores", *, n: int | None = None) -> np.ndarray:
    """Check finite 1-D float scores, optionally of length ``n``."""
    arr = check_1d(scores, name)
    if n is not None and arr.size != n:
        raise ValueError(f"{name!r} must have the same length as 'y_true' ({n}); got length {arr.size}")
    return arr


def check_same_length(**arrays: Any) -> int:
    """Check that every named array has the same first-axis length; returns it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"arrays must have the same length; got {shown}")
    return next(iter(lengths.values())) if lengths else 0
