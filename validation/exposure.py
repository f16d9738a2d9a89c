"""Test-set exposure: how many times a sequestered cohort has been scored, and by what.

Every scoring of a test cohort leaks a little of it into development decisions:
re-tuning a model until it passes on the same test set overfits that test set
[1]_ [2]_. The FDA's CADe guidance asks that a reused test set come with an
audit trail of who accessed it and when. medval counts every ``run`` entry in
the audit store whose payload names the cohort's digest — regulatory and
exploratory runs alike, since both expose the data — and warns once the count
passes the protocol's ``exposure.limit``.

The ``run`` payloads read here (written by :mod:`validation.runner`) carry
``cohort_digest`` and, for the per-model breakdown, ``model_id``,
``model_version``, ``model_sha256``, plus ``cohort_id``, ``cohort_version``
and ``mode``.

References
----------
.. [1] Dwork C, Feldman V, Hardt M, Pitassi T, Reingold O, Roth A, "The
   reusable holdout: Preserving validity in adaptive data analysis", Science
   349(6248):636-638, 2015. doi:10.1126/science.aaa9375
.. [2] U.S. Food and Drug Administration, "Clinical Performance Assessment:
   Considerations for Computer-Assisted Detection Devices Applied to Radiology
   Images and Radiology Device Data in Premarket Notification (510(k))
   Submissions", 2022 (test-set reuse and its audit trail).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Exposure:
    """How often one cohort (by digest) has been scored.

    Attributes
    ----------
    cohort_digest : str
    count : int
        ``run`` entries in the audit store for this digest.
    by_models : tuple of dict
        ``{"model_id", "version", "sha256", "runs"}`` per distinct model, in
        order of first exposure.
    by_mode : dict
        Runs per mode (``regulatory`` / ``exploratory``).
    limit : int or None
        The protocol's ``exposure.limit``.
    warning : str or None
        Set when ``count`` exceeds ``limit``.
    cohort_ids : tuple of str
        ``id vN`` labels the runs gave this digest (normally one).
    first_run_at, last_run_at : str or None
        Timestamps of the first and last scoring.
    """

    cohort_digest: str
    count: int
    by_models: tuple[dict, ...]
    limit: int | None
    warning: str | None
    by_mode: dict = field(default_factory=dict)
    cohort_ids: tuple[str, ...] = ()
    first_run_at: str | None = None
    last_run_at: str | None = None

    @property
    def exceeded(self) -> bool:
        return self.warning is not None

    def to_dict(self) -> dict:
        return {
            "cohort_digest": self.cohort_digest,
            "count": self.count,
            "by_models": [dict(m) for m in self.by_models],
            "by_mode": dict(self.by_mode),
            "limit": self.limit,
            "warning": self.warning,
            "cohort_ids": list(self.cohort_ids),
            "first_run_at": self.first_run_at,
            "last_run_at": self.last_run_at,
        }


def exposure(store: Any, cohort_digest: str, *, limit: int | None = None,
             cohort_id: str | None = None, cohort_version: int | None = None) -> Exposure:
    """Count the scorings of the cohort with ``cohort_digest``.

    Parameters
    ----------
    store : validation.audit.AuditStore
    cohort_digest : str
        The cohort digest (the content identity of the cohort).
    limit : int, optional
        The protocol's exposure limit; the warning fires when the count
        exceeds it.
    cohort_id, cohort_version : optional
        Count only runs that also name this id / version (the same bytes
        registered under another name are otherwise counted too: exposure
        follows content, not labels).

    Returns
    -------
    Exposure

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from validation.audit import AuditStore
    >>> store = AuditStore(pathlib.Path(tempfile.mkdtemp()) / "a.sqlite")
    >>> for v in (1, 1, 2):
    ...     _ = store.append("run", {"cohort_digest": "d" * 64, "model_id": "m", "model_version": v,
    ...                              "model_sha256": str(v) * 64, "mode": "regulatory"}, actor="qa")
    >>> e = exposure(store, "d" * 64, limit=2)
    >>> e.count, [m["runs"] for m in e.by_models], e.warning is not None
    (3, [2, 1], True)
    """
    if not isinstance(cohort_digest, str) or not cohort_digest:
        raise ValueError(f"'cohort_digest' must be a non-empty string; got {cohort_digest!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"'limit' must be a positive integer or None; got {limit!r}")
    match: dict[str, Any] = {"cohort_digest": cohort_digest}
    if cohort_id is not None:
        match["cohort_id"] = cohort_id
    if cohort_version is not None:
        match["cohort_version"] = cohort_version
    runs = store.find("run", **match)
    models: dict[tuple, dict] = {}
    modes: dict[str, int] = {}
    labels: list[str] = []
    for e in runs:
        p = e.payload
        key = (p.get("model_id"), p.get("model_version"), p.get("model_sha256"))
        if key not in models:
            models[key] = {"model_id": key[0], "version": key[1], "sha256": key[2], "runs": 0}
        models[key]["runs"] += 1
        mode = str(p.get("mode", "unknown"))
        modes[mode] = modes.get(mode, 0) + 1
        label = f"{p.get('cohort_id')} v{p.get('cohort_version')}"
        if label not in labels:
            labels.append(label)
    count = len(runs)
    warning = None
    if limit is not None and count > limit:
        name = labels[0] if len(labels) == 1 else "cohort"
        warning = (f"{name} (digest {cohort_digest[:16]}…) has been scored {count} times, past the "
                   f"protocol's exposure limit of {limit}; by {len(models)} model version(s). Results on a "
                   f"reused test set may be optimistic: use a fresh sequestered cohort for the claim.")
    return Exposure(
        cohort_digest=cohort_digest,
        count=count,
        by_models=tuple(models.values()),
        limit=limit,
        warning=warning,
        by_mode=modes,
        cohort_ids=tuple(labels),
        first_run_at=runs[0].timestamp if runs else None,
        last_run_at=runs[-1].timestamp if runs else None,
    )
