"""Bootstrap confidence intervals: percentile and BCa; stratified; cluster-level.

``bootstrap(statistic, *data, ...)`` resamples the rows of ``data`` (one or more
arrays of equal length, e.g. ``y_true, y_pred``) and recomputes ``statistic``.

Speed and memory
----------------
* Resample indices are drawn as ``(rows, n)`` integer matrices in chunks whose
  size is set from ``n`` alone (about 64 MB of working memory), so results do
  not depend on the chunking and peak memory stays bounded.
* A *vectorised* statistic (one that accepts ``axis`` and reduces along it,
  like ``numpy.mean``) is called once per chunk on ``(rows, n)`` arrays; any
  other statistic is called once per resample.
* BCa's jackknife is computed once per *distinct row* of the data: a
  statistic of i.i.d. rows does not depend on their order, so deleting either
  of two identical rows gives the same value. Binary data such as
  ``(y_true, y_pred)`` have at most four distinct rows, which makes BCa for
  sensitivity or specificity cost no more than the percentile interval.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import special

from validation.stats._validate import (
    check_choice,
    check_confidence_level,
    check_positive_int,
)

__all__ = ["BootstrapResult", "bootstrap"]

_WORK_ELEMENTS = 8_000_000  # ~64 MB of float64 per chunk of resampled data


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """A bootstrap confidence interval and what was done to get it.

    Attributes
    ----------
    estimate : float
        The statistic on the original data.
    lower, upper : float
    confidence_level : float
    method : str
        ``'bca'`` or ``'percentile'``.
    n : int
        Number of observations (rows).
    n_resamples : int
        Number of resamples drawn.
    standard_error : float
        Standard deviation (ddof=1) of the valid bootstrap replicates.
    seed : int
    n_strata : int or None
    n_clusters : int or None
    bias : float
        Mean of the replicates minus the estimate.
    z0 : float or None
        BCa bias-correction (None for the percentile method).
    acceleration : float or None
        BCa acceleration from the (cluster) jackknife (None for percentile).
    n_invalid : int
        Replicates where the statistic was NaN/inf (e.g. a resample with no
        positives); they are excluded from the interval and counted here.
    """

    estimate: float
    lower: float
    upper: float
    confidence_level: float
    method: str
    n: int
    n_resamples: int
    standard_error: float
    seed: int
    n_strata: int | None = None
    n_clusters: int | None = None
    bias: float = 0.0
    z0: float | None = None
    acceleration: float | None = None
    n_invalid: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _accepts_axis(statistic: Callable) -> bool:
    try:
        params = inspect.signature(statistic).parameters
    except (TypeError, ValueError):  # builtins / ufuncs without signature
        return False
    return "axis" in params


def _as_data(data: tuple) -> list[np.ndarray]:
    if len(data) == 0:
        raise TypeError("bootstrap() needs at least one data array after 'statistic'; got none")
    arrays = []
    for i, d in enumerate(data):
        name = f"data[{i}]"
        if callable(d) and not isinstance(d, np.ndarray):
            raise TypeError(
                f"{name!r} must be an array; got a callable. The signature is bootstrap(statistic, *data, ...)"
            )
        a = np.asarray(d)
        if a.ndim == 0:
            raise ValueError(f"{name!r} must have at least one dimension; got a scalar {d!r}")
        if a.shape[0] == 0:
            raise ValueError(f"{name!r} must not be empty; got an empty array")
        if a.dtype.kind not in "biufc":
            raise TypeError(f"{name!r} must be numeric or boolean; got dtype {a.dtype}")
        if a.dtype.kind in "fc" and np.isnan(a).any():
            first = int(np.flatnonzero(np.isnan(a).reshape(a.shape[0], -1).any(axis=1))[0])
            raise ValueError(f"{name!r} contains NaN (first at row {first})")
        arrays.append(a)
    lengths = [a.shape[0] for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"all data arrays must have the same length; got lengths {lengths}")
    return arrays


def _labels(values, name: str, n: int) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name!r} must be 1-D with one entry per row ({n}); got shape {a.shape}")
    if a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError(f"{name!r} contains NaN (first at row {int(np.flatnonzero(np.isnan(a))[0])})")
    _, inv = np.unique(a, return_inverse=True)
    return inv.reshape(-1)


class _Evaluator:
    """Calls the statistic on row subsets, vectorised over resamples where possible."""

    def __init__(self, statistic, arrays, vectorized):
        self.statistic = statistic
        self.arrays = arrays
        self.vectorized = vectorized and all(a.ndim == 1 for a in arrays)

    def one(self, idx: np.ndarray | None) -> float:
        parts = self.arrays if idx is None else [a[idx] for a in self.arrays]
        if self.vectorized:
            val = self.statistic(*parts, axis=-1)
        else:
            val = self.statistic(*parts)
        val = np.asarray(val, dtype=float)
        if val.size != 1:
            raise ValueError(f"'statistic' must return a scalar; got an array of shape {val.shape}")
        return float(val.reshape(()))

    def many(self, idx: np.ndarray) -> np.ndarray:
        """idx: (rows, k) integer matrix -> (rows,) values."""
        if self.vectorized:
            val = np.asarray(self.statistic(*[a[idx] for a in self.arrays], axis=-1), dtype=float)
            if val.shape != (idx.shape[0],):
                raise ValueError(
                    "a vectorised 'statistic' must reduce along axis=-1 and return one value per "
                    f"resample; got shape {val.shape} for input shape {idx.shape}"
                )
            return val
        return np.array([self.one(row) for row in idx])


def _row_keys(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """First index of each distinct data row, and each row's distinct-row id."""
    n = arrays[0].shape[0]
    cols = [a.reshape(n, -1).astype(np.float64, copy=False) if a.dtype.kind != "c" else
            np.column_stack([a.real.reshape(n, -1), a.imag.reshape(n, -1)]) for a in arrays]
    mat = np.ascontiguousarray(np.column_stack(cols))
    _, first, inv = np.unique(mat, axis=0, return_index=True, return_inverse=True)
    return first, inv.reshape(-1)


def _jackknife_rows(ev: _Evaluator, n: int) -> np.ndarray:
    """Delete-one jackknife values for every row, computed once per distinct row."""
    first, inv = _row_keys(ev.arrays)
    k = first.size
    vals = np.empty(k)
    base = np.arange(n - 1)
    rows_per_chunk = max(1, _WORK_ELEMENTS // max(n * len(ev.arrays), 1))
    for s in range(0, k, rows_per_chunk):
        drop = first[s : s + rows_per_chunk]
        idx = base[None, :] + (base[None, :] >= drop[:, None])
        vals[s : s + drop.size] = ev.many(idx)
    return vals[inv]


def _jackknife_clusters(ev: _Evaluator, cl_inv: np.ndarray, n_clusters: int) -> np.ndarray:
    """Delete-one-cluster jackknife values, computed once per distinct cluster content.

    Two clusters holding the same multiset of data rows give the same
    delete-one value for any order-invariant statistic.
    """
    order = np.argsort(cl_inv, kind="stable")
    bounds = np.searchsorted(cl_inv[order], np.arange(n_clusters + 1))
    _, row_id = _row_keys(ev.arrays)
    keys: dict[tuple, int] = {}
    key_of = np.empty(n_clusters, dtype=np.int64)
    first_cluster: list[int] = []
    for g in range(n_clusters):
        k = tuple(np.sort(row_id[order[bounds[g] : bounds[g + 1]]]).tolist())
        if k not in keys:
            keys[k] = len(first_cluster)
            first_cluster.append(g)
        key_of[g] = keys[k]
    vals = np.empty(len(first_cluster))
    for j, g in enumerate(first_cluster):
        keep = np.concatenate([order[: bounds[g]], order[bounds[g + 1] :]])
        vals[j] = ev.one(keep)
    return vals[key_of]


def _acceleration(jack: np.ndarray) -> float:
    d = jack.mean() - jack
    den = 6.0 * float(np.sum(d * d)) ** 1.5
    return float(np.sum(d**3) / den) if den > 0 else 0.0


def bootstrap(
    statistic: Callable[..., float],
    *data,
    n_resamples: int = 2000,
    method: Literal["bca", "percentile"] = "bca",
    confidence_level: float = 0.95,
    strata=None,
    clusters=None,
    seed: int = 0,
    vectorized: bool | None = None,
) -> BootstrapResult:
    """Bootstrap confidence interval of any statistic of one or more paired arrays.

    Parameters
    ----------
    statistic : callable
        ``statistic(*data) -> float``. If it accepts an ``axis`` keyword (or
        ``vectorized=True``) it is called as ``statistic(*resampled, axis=-1)``
        on ``(rows, n)`` arrays and must return ``rows`` values. It must not
        depend on the order of the rows.
    *data : array_like
        One or more arrays with the same first-axis length ``n`` (rows are the
        resampled units), e.g. ``y_true, y_pred``. NaN is refused.
    n_resamples : int
        Number of bootstrap resamples (default 2000).
    method : {'bca', 'percentile'}
        - ``'bca'`` : bias-corrected and accelerated interval [1]_ [2]_
          (default; second-order accurate). ``z0`` is the normal quantile of
          the share of replicates below the estimate, ties counted 1/2
          (equal to the usual ``#{theta* < theta}/B`` when there are no ties,
          and stable for discrete statistics such as a sensitivity of 1.0);
          the acceleration comes from the delete-one jackknife, or the
          delete-one-cluster jackknife when ``clusters`` is given.
        - ``'percentile'`` : the ``alpha/2`` and ``1 - alpha/2`` quantiles of
          the replicates [1]_.
    confidence_level : float
    strata : array_like, optional
        Stratum label per row (e.g. the class): rows are resampled within
        each stratum, so every resample keeps the stratum sizes [1]_ (sec. 8.3).
    clusters : array_like, optional
        Cluster label per row (e.g. patient id): whole clusters are resampled
        with replacement, keeping all rows of a drawn cluster [3]_. With
        ``strata`` too, clusters are resampled within strata and each cluster
        must lie in one stratum.
    seed : int
        Seed for ``numpy.random.default_rng``; same data and seed, same result.
    vectorized : bool, optional
        Force or forbid the vectorised path; default: vectorised if the
        statistic has an ``axis`` parameter and all data are 1-D.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    TypeError
        ``statistic`` not callable, or data not numeric.
    ValueError
        Empty or NaN data, unequal lengths, a statistic returning non-scalars,
        a cluster spanning two strata, fewer than 2 clusters, or bad options.

    Notes
    -----
    Quantiles use linear interpolation (``numpy.quantile``), as
    ``scipy.stats.bootstrap``. With the same seed, no strata or clusters and a
    continuous statistic, the percentile and BCa intervals equal
    ``scipy.stats.bootstrap(..., rng=numpy.random.default_rng(seed))``
    exactly, because the resample indices are drawn in the same order.

    References
    ----------
    .. [1] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman &
       Hall, 1993. doi:10.1201/9780429246593
    .. [2] DiCiccio TJ, Efron B. Bootstrap confidence intervals. Stat Sci
       1996;11:189-228. doi:10.1214/ss/1032280214
    .. [3] Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B
       2007;69:369-390. doi:10.1111/j.1467-9868.2007.00593.x

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1] * 40 + [0] * 60); p = np.array([1] * 34 + [0] * 6 + [0] * 60)
    >>> def sens(y, p, axis=-1):
    ...     return (y & p).sum(axis=axis) / y.sum(axis=axis)
    >>> r = bootstrap(sens, y.astype(bool), p.astype(bool), strata=y, n_resamples=1000)
    >>> r.estimate, r.method, r.n_strata
    (0.85, 'bca', 2)
    """
    if not callable(statistic):
        raise TypeError(
            f"'statistic' must be callable; got {type(statistic).__name__}. "
            "The signature is bootstrap(statistic, *data, ...)"
        )
    b = check_positive_int(n_resamples, "n_resamples", minimum=2)
    method = check_choice(method, "method", ("bca", "percentile"))
    cl = check_confidence_level(confidence_level)
    seed = check_positive_int(seed, "seed", minimum=0)
    if vectorized is not None and not isinstance(vectorized, bool):
        raise TypeError(f"'vectorized' must be True, False or None; got {vectorized!r}")
    arrays = _as_data(data)
    n = arrays[0].shape[0]
    vec = _accepts_axis(statistic) if vectorized is None else vectorized
    ev = _Evaluator(statistic, arrays, vec)

    st_inv = _labels(strata, "strata", n) if strata is not None else None
    cl_inv = _labels(clusters, "clusters", n) if clusters is not None else None
    n_strata = int(st_inv.max()) + 1 if st_inv is not None else None
    n_clusters = int(cl_inv.max()) + 1 if cl_inv is not None else None

    estimate = ev.one(None)
    rng = np.random.default_rng(seed)
    reps = np.empty(b)

    if cl_inv is None:
        if st_inv is None:
            groups = [np.arange(n)]
        else:
            groups = [np.flatnonzero(st_inv == s) for s in range(n_strata)]
        rows = max(1, _WORK_ELEMENTS // max(n * len(arrays), 1))
        done = 0
        while done < b:
            r = min(rows, b - done)
            if len(groups) == 1:
                idx = rng.integers(0, n, size=(r, n))
            else:
                idx = np.concatenate([g[rng.integers(0, g.size, size=(r, g.size))] for g in groups], axis=1)
            reps[done : done + r] = ev.many(idx)
            done += r
    else:
        if n_clusters < 2:
            raise ValueError(f"'clusters' must contain at least 2 distinct clusters; got {n_clusters}")
        order = np.argsort(cl_inv, kind="stable")
        bounds = np.searchsorted(cl_inv[order], np.arange(n_clusters + 1))
        members = [order[bounds[g] : bounds[g + 1]] for g in range(n_clusters)]
        if st_inv is not None:
            cl_stratum = np.empty(n_clusters, dtype=np.int64)
            for g, mem in enumerate(members):
                s = np.unique(st_inv[mem])
                if s.size > 1:
                    raise ValueError(
                        f"each cluster must lie in one stratum; cluster {np.unique(np.asarray(clusters))[g].item()!r} "
                        f"spans {s.size} strata"
                    )
                cl_stratum[g] = s[0]
            cgroups = [np.flatnonzero(cl_stratum == s) for s in range(n_strata)]
        else:
            cgroups = [np.arange(n_clusters)]
        sizes = np.array([m.size for m in members])
        flat = np.concatenate(members)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        for i in range(b):
            picked = np.concatenate([g[rng.integers(0, g.size, size=g.size)] for g in cgroups])
            lens = sizes[picked]
            # gather all members of the picked clusters without a Python loop
            offs = np.repeat(starts[picked] - np.r_[0, np.cumsum(lens)[:-1]], lens)
            idx = flat[np.arange(lens.sum()) + offs]
            reps[i] = ev.one(idx)

    finite = np.isfinite(reps)
    n_invalid = int(b - finite.sum())
    good = reps[finite]
    if good.size < 2:
        raise ValueError(
            f"the statistic was NaN/inf in {n_invalid} of {b} resamples; no interval can be formed "
            "(stratify by class, e.g. strata=y_true, if the statistic needs both classes)"
        )
    alpha = 1.0 - cl
    se = float(np.std(good, ddof=1))
    bias = float(good.mean() - estimate)
    if method == "percentile":
        lo, hi = np.quantile(good, [alpha / 2, 1 - alpha / 2])
        return BootstrapResult(
            estimate, float(lo), float(hi), cl, method, n, b, se, seed, n_strata, n_clusters, bias, None, None, n_invalid
        )

    prop = (np.sum(good < estimate) + 0.5 * np.sum(good == estimate)) / good.size
    prop = min(max(prop, 0.5 / good.size), 1 - 0.5 / good.size)
    z0 = float(special.ndtri(prop))
    if cl_inv is None:
        jack = _jackknife_rows(ev, n)
    else:
        jack = _jackknife_clusters(ev, cl_inv, n_clusters)
    jack = jack[np.isfinite(jack)]
    a = _acceleration(jack) if jack.size > 1 else 0.0
    zl, zu = special.ndtri(alpha / 2), special.ndtri(1 - alpha / 2)

    def adj(zq: float) -> float:
        t = z0 + zq
        den = 1.0 - a * t
        if den <= 0:
            return 1.0 if t > 0 else 0.0
        return float(special.ndtr(z0 + t / den))

    a1, a2 = adj(zl), adj(zu)
    lo, hi = np.quantile(good, [a1, a2])
    if not (math.isfinite(lo) and math.isfinite(hi)):  # pragma: no cover - defensive
        raise ValueError("BCa interval could not be formed")
    return BootstrapResult(
        estimate, float(lo), float(hi), cl, method, n, b, se, seed, n_strata, n_clusters, bias, z0, a, n_invalid
    )
