"""Control charts for monitoring a deployed model: CUSUM and EWMA with designed run lengths.

A chart is *designed* before it is run: its parameters are chosen so that the
in-control average run length (ARL0, the mean number of points between false
alarms when nothing has changed) has a stated value. The ARL is computed, not
simulated: the run length of both charts is the solution of a Fredholm
integral equation of the second kind (Page 1954 for CUSUM, Crowder 1987 for
EWMA), solved here by the Nyström method with Gauss–Legendre quadrature. That
is how FDA's AIM-CU tool and the published ARL tables (Montgomery, *Introduction
to Statistical Quality Control*; Lucas & Saccucci 1990) obtain their numbers.

Observations are assumed independent and approximately normal with the stated
``target`` (in-control mean) and ``sigma`` (in-control standard deviation of
one plotted value, e.g. the standard error of a window's mean score).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import optimize, special

ChartKind = Literal["cusum", "ewma"]
Side = Literal["lower", "upper", "two-sided"]

try:  # small dense solves: one BLAS thread is faster than many on a shared machine
    from threadpoolctl import threadpool_limits as _threadpool_limits
except ImportError:  # pragma: no cover - results are identical, only slower
    _threadpool_limits = None

_N_NODES = 120  # Gauss–Legendre nodes; 120 gives ARLs stable to < 0.05 % for the designs below

__all__ = ["ChartDesign", "ChartResult", "design_cusum", "design_ewma", "arl", "run_chart"]


@dataclass(frozen=True, slots=True)
class ChartDesign:
    """A designed CUSUM or EWMA chart.

    Attributes
    ----------
    kind : {"cusum", "ewma"}
    target, sigma : float
        In-control mean and standard deviation of one plotted value (raw units).
    side : {"lower", "upper", "two-sided"}
        Direction(s) of change that raise an alarm.
    arl0 : float
        In-control ARL of this design, computed by :func:`arl` (not the request).
    k, h : float or None
        CUSUM reference value and decision interval in sigma units
        (K = k sigma, H = h sigma in raw units). ``None`` for EWMA.
    lam, L : float or None
        EWMA smoothing constant and control-limit width in asymptotic-sigma
        units. ``None`` for CUSUM.
    shift : float or None
        The shift (in sigma units) the CUSUM is tuned to detect fastest (k = shift/2).
    arl0_requested : float or None
        The ARL0 asked for when the design was solved for it.
    method : str
        How ARL0 was computed.
    """

    kind: str
    target: float
    sigma: float
    side: str
    arl0: float
    k: float | None = None
    h: float | None = None
    lam: float | None = None
    L: float | None = None
    shift: float | None = None
    arl0_requested: float | None = None
    method: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def limits(self) -> tuple[float | None, float | None]:
        """(lower, upper) alarm limits in raw units of the plotted statistic.

        CUSUM: the decision interval H = h sigma for each one-sided statistic
        (``lower`` refers to the downward CUSUM, which is plotted as a positive
        quantity). EWMA: target -/+ L sigma sqrt(lam / (2 - lam)).
        """
        if self.kind == "cusum":
            hh = self.h * self.sigma
            return (hh if self.side != "upper" else None, hh if self.side != "lower" else None)
        w = self.L * self.sigma * math.sqrt(self.lam / (2.0 - self.lam))
        return (self.target - w if self.side != "upper" else None,
                self.target + w if self.side != "lower" else None)


@dataclass(frozen=True, slots=True)
class ChartResult:
    """A chart run over a sequence of values.

    Attributes
    ----------
    design : ChartDesign
    upper, lower : tuple of float or None
        Per-point statistics. CUSUM: C+ and C- (raw units, both >= 0). EWMA: the
        EWMA in ``upper`` (``lower`` is None). NaN where the value was excluded.
    limit_upper, limit_lower : float or None
        Alarm limits (see :attr:`ChartDesign.limits`).
    alarms : tuple of int
        Indices (into the given values) where the chart signals.
    first_alarm : int or None
    n, n_excluded : int
        Points given, and points excluded because they were NaN (the statistic
        carries over unchanged across an excluded point).
    reset : bool
        Whether the statistic was restarted after each alarm.
    """

    design: ChartDesign
    upper: tuple[float, ...] | None
    lower: tuple[float, ...] | None
    limit_upper: float | None
    limit_lower: float | None
    alarms: tuple[int, ...]
    first_alarm: int | None
    n: int
    n_excluded: int
    reset: bool

    def to_dict(self) -> dict:
        d = asdict(self)
        d["design"] = self.design.to_dict()
        for key in ("upper", "lower"):
            if d[key] is not None:
                d[key] = [None if math.isnan(v) else v for v in d[key]]
            else:
                d[key] = None
        d["alarms"] = list(self.alarms)
        return d


def _single_blas_thread(fn):
    """Run ``fn`` with BLAS limited to one thread (the ARL systems are ~120 x 120)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _threadpool_limits is None:
            return fn(*args, **kwargs)
        with _threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper


# --------------------------------------------------------------------------- ARL kernels
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _phi(z: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)


@lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _nodes(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = _gauss_legendre(n)
    return 0.5 * (b - a) * x + 0.5 * (b + a), 0.5 * (b - a) * w


def _arl_reflected(h: float, drift: float, scale: float, contract: float, n: int) -> float:
    """ARL from 0 of a chart S_t = max(0, contract * S_{t-1} + scale * (X_t - drift)), X ~ N(0,1),
    signalling when S_t > h. Upper one-sided CUSUM: contract=1, scale=1, drift=k - delta.
    One-sided EWMA reflected at the target: contract=1-lam, scale=lam, drift=-delta.

    Integral equation (Page 1954; Crowder & Hamilton 1989 for the EWMA):
    L(u) = 1 + L(0) P(S_1 = 0 | u) + int_0^h L(y) f(y | u) dy,
    with S_1 | u ~ N(contract u - scale drift, scale^2).
    """
    y, w = _nodes(0.0, h, n)
    u = np.concatenate([[0.0], y])
    mean = contract * u - scale * drift
    p0 = special.ndtr((0.0 - mean) / scale)
    dens = _phi((y[None, :] - mean[:, None]) / scale) / scale * w[None, :]
    a = np.eye(n + 1)
    a[:, 0] -= p0
    a[:, 1:] -= dens
    sol = np.linalg.solve(a, np.ones(n + 1))
    return float(sol[0])


def _arl_ewma_two_sided(c: float, lam: float, delta: float, n: int) -> float:
    """ARL from 0 of z_t = (1 - lam) z_{t-1} + lam X_t, X ~ N(delta, 1), signal when |z_t| > c.

    L(u) = 1 + (1/lam) int_{-c}^{c} L(y) phi((y - (1 - lam) u) / lam - delta) dy  (Crowder 1987).
    """
    y, w = _nodes(-c, c, n)
    kern = _phi((y[None, :] - (1 - lam) * y[:, None]) / lam - delta) / lam * w[None, :]
    sol = np.linalg.solve(np.eye(n) - kern, np.ones(n))
    k0 = _phi(y / lam - delta) / lam * w
    return float(1.0 + k0 @ sol)


def _combine_two_sided(up: float, down: float) -> float:
    """Lucas & Crosier (1982): 1/ARL = 1/ARL+ + 1/ARL- for two one-sided charts."""
    return 1.0 / (1.0 / up + 1.0 / down)


@_single_blas_thread
def arl(design: ChartDesign, *, shift: float = 0.0, n_nodes: int = _N_NODES) -> float:
    """Average run length of a designed chart when the mean is ``target + shift * sigma``.

    Parameters
    ----------
    design : ChartDesign
    shift : float, default 0.0
        Mean shift in sigma units; 0 gives the in-control ARL0. Negative shifts are
        what a ``"lower"`` chart is for.
    n_nodes : int, default 120
        Gauss–Legendre nodes of the Nyström solution.

    Returns
    -------
    float
        ARL starting from the in-control state (CUSUM at 0, EWMA at the target).

    Notes
    -----
    CUSUM (upper): :math:`C_t = \\max(0, C_{t-1} + x_t - k)`, signal when
    :math:`C_t > h` (sigma units); the ARL solves Page's integral equation
    [1]_, [2]_. EWMA: :math:`z_t = (1-\\lambda) z_{t-1} + \\lambda x_t` with
    asymptotic limits :math:`\\pm L\\sqrt{\\lambda/(2-\\lambda)}`; the ARL solves
    Crowder's integral equation [3]_. One-sided EWMAs are reflected at the
    target [4]_. A two-sided CUSUM combines its one-sided ARLs by
    :math:`1/ARL = 1/ARL^+ + 1/ARL^-` [5]_ (the convention of Montgomery's
    Table 9.3). The equations are solved by the Nyström method with
    Gauss–Legendre quadrature.

    References
    ----------
    .. [1] Page, E. S. (1954). Continuous inspection schemes. Biometrika 41,
       100–115. doi:10.1093/biomet/41.1-2.100
    .. [2] Goel, A. L. & Wu, S. M. (1971). Determination of A.R.L. and a
       contour nomogram for CUSUM charts to control normal mean.
       Technometrics 13(2), 221–230. doi:10.1080/00401706.1971.10488775
    .. [3] Crowder, S. V. (1987). A simple method for studying run-length
       distributions of exponentially weighted moving average charts.
       Technometrics 29(4), 401–407. doi:10.1080/00401706.1987.10488267
    .. [4] Crowder, S. V. & Hamilton, M. D. (1992). An EWMA for monitoring a
       process standard deviation. J. Quality Technology 24(1), 12–21.
    .. [5] Lucas, J. M. & Crosier, R. B. (1982). Fast initial response for
       CUSUM quality-control schemes. Technometrics 24(3), 199–205.
       doi:10.1080/00401706.1982.10487759
    """
    if not isinstance(design, ChartDesign):
        raise TypeError(f"'design' must be a ChartDesign; got {type(design).__name__}")
    return _arl_params(design.kind, design.side, design.k, design.h, design.lam, design.L,
                       float(shift), n_nodes)


def _arl_params(kind, side, k, h, lam, L, shift, n_nodes=_N_NODES) -> float:
    if kind == "cusum":
        up = lambda d: _arl_reflected(h, k - d, 1.0, 1.0, n_nodes)  # noqa: E731
        if side == "upper":
            return up(shift)
        if side == "lower":
            return up(-shift)
        return _combine_two_sided(up(shift), up(-shift))
    c = L * math.sqrt(lam / (2.0 - lam))
    if side == "two-sided":
        return _arl_ewma_two_sided(c, lam, shift, n_nodes)
    d = shift if side == "upper" else -shift
    return _arl_reflected(c, -d, lam, 1.0 - lam, n_nodes)


# --------------------------------------------------------------------------- design
def _solve_increasing(f, start: float) -> float:
    """Root of an increasing function of a positive width: bracket by halving/doubling, then Brent."""
    lo, hi = start, start
    while f(lo) > 0:
        lo /= 2.0
        if lo < 1e-6:
            raise ValueError("requested 'arl0' is too small for this chart")
    while f(hi) < 0:
        hi *= 1.5
        if hi > 100:
            raise ValueError("requested 'arl0' is too large for this chart")
    return float(optimize.brentq(f, lo, hi, xtol=1e-9))


def _check_common(target, sigma, side, arl0):
    if not (isinstance(target, (int, float)) and math.isfinite(target)):
        raise ValueError(f"'target' must be a finite number; got {target!r}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"'sigma' must be a positive number; got {sigma!r}")
    if side not in ("lower", "upper", "two-sided"):
        raise ValueError(f"'side' must be one of 'lower', 'upper', 'two-sided'; got {side!r}")
    if arl0 is not None and not (isinstance(arl0, (int, float)) and 1 < arl0 < 1e7):
        raise ValueError(f"'arl0' must be a number in (1, 1e7); got {arl0!r}")


@_single_blas_thread
def design_cusum(*, target: float, sigma: float, shift: float = 1.0, arl0: float | None = 370.0,
                 h: float | None = None, side: Side = "two-sided") -> ChartDesign:
    """Design a tabular CUSUM for a mean shift of ``shift`` sigma with in-control ARL ``arl0``.

    Parameters
    ----------
    target, sigma : float
        In-control mean and standard deviation of one plotted value.
    shift : float, default 1.0
        Shift (sigma units, > 0) to detect fastest; the reference value is
        k = shift / 2, which minimises the out-of-control ARL for that shift
        among CUSUMs with the same ARL0 (Moustakides 1986).
    arl0 : float or None, default 370.0
        Required in-control ARL (370 matches a Shewhart 3-sigma chart); the
        decision interval h is solved for it (Brent's method on the
        integral-equation ARL, see :func:`arl`). Pass ``None`` with ``h`` to
        evaluate a given design instead.
    h : float or None
        Decision interval in sigma units (only when ``arl0`` is None).
    side : {"two-sided", "upper", "lower"}, default "two-sided"

    Returns
    -------
    ChartDesign
        ``arl0`` holds the computed in-control ARL of the final design.

    References
    ----------
    .. [1] Montgomery, D. C. (2009). Introduction to Statistical Quality
       Control, 6th ed. Wiley, §9.1.
    .. [2] Siegmund, D. (1985). Sequential Analysis. Springer, ch. 2 (the
       approximation ARL ~ (exp(-2Δb) + 2Δb - 1) / (2Δ²), b = h + 1.166).
    .. [3] Moustakides, G. V. (1986). Optimal stopping times for detecting
       changes in distributions. Ann. Stat. 14(4), 1379–1387.
       doi:10.1214/aos/1176350164

    Examples
    --------
    >>> d = design_cusum(target=0.0, sigma=1.0, arl0=None, h=4.0)
    >>> round(d.arl0)
    168
    """
    _check_common(target, sigma, side, arl0)
    if not (isinstance(shift, (int, float)) and shift > 0):
        raise ValueError(f"'shift' must be a positive number of sigmas; got {shift!r}")
    k = shift / 2.0
    if (arl0 is None) == (h is None):
        raise ValueError("give exactly one of 'arl0' (to solve for h) or 'h' (to evaluate a design)")
    if h is None:
        f = lambda hh: math.log(_arl_params("cusum", side, k, hh, None, None, 0.0)) - math.log(arl0)  # noqa: E731
        h = _solve_increasing(f, 1.0)
    elif not (isinstance(h, (int, float)) and h > 0):
        raise ValueError(f"'h' must be a positive number; got {h!r}")
    value = _arl_params("cusum", side, k, h, None, None, 0.0)
    return ChartDesign(kind="cusum", target=float(target), sigma=float(sigma), side=side, arl0=value,
                       k=k, h=float(h), shift=float(shift), arl0_requested=arl0,
                       method=f"Page integral equation, Nystrom/Gauss-Legendre n={_N_NODES}"
                              + (", two-sided by Lucas-Crosier" if side == "two-sided" else ""))


@_single_blas_thread
def design_ewma(*, target: float, sigma: float, lam: float = 0.2, arl0: float | None = 370.0,
                L: float | None = None, side: Side = "two-sided") -> ChartDesign:
    """Design an EWMA chart with smoothing ``lam`` and in-control ARL ``arl0``.

    Parameters
    ----------
    target, sigma : float
        In-control mean and standard deviation of one plotted value.
    lam : float, default 0.2
        Smoothing constant in (0, 1]; 0.05–0.25 suits small shifts (Montgomery
        §9.2 recommends 0.05 <= lam <= 0.25).
    arl0 : float or None, default 370.0
        Required in-control ARL; L is solved for it. ``None`` with ``L`` evaluates
        a given design.
    L : float or None
        Limit width in asymptotic-sigma units (only when ``arl0`` is None).
    side : {"two-sided", "upper", "lower"}, default "two-sided"
        One-sided charts are reflected at the target (Crowder & Hamilton 1992).

    Returns
    -------
    ChartDesign

    References
    ----------
    .. [1] Lucas, J. M. & Saccucci, M. S. (1990). Exponentially weighted moving
       average control schemes: properties and enhancements. Technometrics
       32(1), 1–12. doi:10.1080/00401706.1990.10484583
    .. [2] Crowder, S. V. (1987), see :func:`arl`.

    Examples
    --------
    >>> d = design_ewma(target=0.0, sigma=1.0, lam=0.1, arl0=None, L=2.814)
    >>> round(d.arl0)
    500
    """
    _check_common(target, sigma, side, arl0)
    if not (isinstance(lam, (int, float)) and 0 < lam <= 1):
        raise ValueError(f"'lam' must be in (0, 1]; got {lam!r}")
    if (arl0 is None) == (L is None):
        raise ValueError("give exactly one of 'arl0' (to solve for L) or 'L' (to evaluate a design)")
    if L is None:
        f = lambda ll: math.log(_arl_params("ewma", side, None, None, lam, ll, 0.0)) - math.log(arl0)  # noqa: E731
        L = _solve_increasing(f, 1.0)
    elif not (isinstance(L, (int, float)) and L > 0):
        raise ValueError(f"'L' must be a positive number; got {L!r}")
    value = _arl_params("ewma", side, None, None, lam, L, 0.0)
    return ChartDesign(kind="ewma", target=float(target), sigma=float(sigma), side=side, arl0=value,
                       lam=float(lam), L=float(L), arl0_requested=arl0,
                       method=f"Crowder integral equation, Nystrom/Gauss-Legendre n={_N_NODES}, asymptotic limits")


# --------------------------------------------------------------------------- running
def run_chart(design: ChartDesign, values, *, reset: bool = False) -> ChartResult:
    """Run a designed chart over a sequence of plotted values (e.g. per-window metrics).

    Parameters
    ----------
    design : ChartDesign
    values : array-like of float
        One value per window, in time order. NaN values are excluded (counted in
        ``n_excluded``; the statistic carries over and is reported as NaN there).
    reset : bool, default False
        Restart the statistic (CUSUM at 0, EWMA at the target) after each alarm,
        as when a signal has been investigated and the process declared in control.

    Returns
    -------
    ChartResult

    Notes
    -----
    CUSUM (Montgomery 2009, §9.1.2, tabular form, raw units):
    :math:`C^+_t = \\max(0, x_t - (\\mu_0 + K) + C^+_{t-1})`,
    :math:`C^-_t = \\max(0, (\\mu_0 - K) - x_t + C^-_{t-1})`, alarm when either
    exceeds :math:`H`. EWMA: :math:`z_t = \\lambda x_t + (1-\\lambda) z_{t-1}`,
    :math:`z_0 = \\mu_0`, alarm outside the asymptotic limits (the limits the
    ARL is designed for); one-sided EWMAs are reflected at the target.

    Examples
    --------
    >>> d = design_cusum(target=0.0, sigma=1.0, arl0=None, h=4.0, side="upper")
    >>> run_chart(d, [0.0, 2.0, 2.0, 2.0]).first_alarm
    3
    """
    if not isinstance(design, ChartDesign):
        raise TypeError(f"'design' must be a ChartDesign; got {type(design).__name__}")
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.size
    if n == 0:
        raise ValueError("'values' is empty: a chart needs at least one value")
    if np.isinf(x).any():
        i = int(np.flatnonzero(np.isinf(x))[0])
        raise ValueError(f"'values'[{i}] is infinite ({x[i]}); charts need finite values or NaN for missing")
    missing = np.isnan(x)
    mu, sd = design.target, design.sigma
    lo_lim, up_lim = design.limits
    alarms: list[int] = []
    if design.kind == "cusum":
        kk, hh = design.k * sd, design.h * sd
        cp = np.full(n, np.nan)
        cm = np.full(n, np.nan)
        sp = sm = 0.0
        for i in range(n):
            if missing[i]:
                continue
            sp = max(0.0, x[i] - (mu + kk) + sp)
            sm = max(0.0, (mu - kk) - x[i] + sm)
            cp[i], cm[i] = sp, sm
            hit = (design.side != "lower" and sp > hh) or (design.side != "upper" and sm > hh)
            if hit:
                alarms.append(i)
                if reset:
                    sp = sm = 0.0
        upper = tuple(cp.tolist()) if design.side != "lower" else None
        lower = tuple(cm.tolist()) if design.side != "upper" else None
    else:
        lam = design.lam
        z = np.full(n, np.nan)
        s = mu
        for i in range(n):
            if missing[i]:
                continue
            s = lam * x[i] + (1 - lam) * s
            if design.side == "upper":
                s = max(s, mu)
            elif design.side == "lower":
                s = min(s, mu)
            z[i] = s
            if (up_lim is not None and s > up_lim) or (lo_lim is not None and s < lo_lim):
                alarms.append(i)
                if reset:
                    s = mu
        upper, lower = tuple(z.tolist()), None
    return ChartResult(design=design, upper=upper, lower=lower, limit_upper=up_lim, limit_lower=lo_lim,
                       alarms=tuple(alarms), first_alarm=alarms[0] if alarms else None, n=int(n),
                       n_excluded=int(missing.sum()), reset=bool(reset))
