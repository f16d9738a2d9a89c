"""Monitoring plans: what to watch in production, how often, with which tests, and what alarms.

A monitoring plan is the post-market counterpart of a validation protocol
(FDA's AI-enabled device software draft guidance, 2025, asks for a
"performance monitoring plan"; the PCCP guidance, 2024, for pre-specified
methods): it is written before monitoring starts, versioned, hashed (sha256
of the file's bytes) and the hash is recorded with every monitoring run.

The YAML schema is the pydantic model :class:`MonitoringPlan`; see
``protocols/monitoring-lesion-classifier.v1.yaml`` for a commented example.
Errors name the file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from validation.errors import ProtocolError
from validation.hashing import sha256_bytes

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Strict):
    id: str
    version: str

    @field_validator("version", mode="before")
    @classmethod
    def _str_version(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class WindowSpec(_Strict):
    """How production records are grouped: calendar weeks (ISO, Monday 00:00 UTC) or fixed counts."""

    kind: Literal["calendar_week", "count"]
    size: int = Field(1, ge=1, description="weeks per window, or records per window")
    min_n: int = Field(50, ge=1, description="windows with fewer records are reported but not tested")


class WatchSpec(_Strict):
    numeric: list[str] = Field(min_length=1)
    categorical: list[str] = Field(default_factory=list)
    embedding: bool = True
    output: bool = True


class FeatureDriftSpec(_Strict):
    method: Literal["ks", "psi", "wasserstein", "jensenshannon"] = "ks"
    categorical_method: Literal["chisquare", "psi", "jensenshannon"] = "chisquare"
    multiplicity: Literal["holm", "bh", "none"] = "holm"
    alpha: float = Field(0.01, gt=0, lt=1)
    min_effect: float = Field(0.0, ge=0, description="a feature drifts only if its effect size reaches this too")
    severity: Severity = "warning"


class EmbeddingDriftSpec(_Strict):
    method: Literal["mmd", "classifier"] = "mmd"
    alpha: float = Field(0.01, gt=0, lt=1)
    min_effect: float = Field(0.0, ge=0)
    n_permutations: int = Field(200, ge=19)
    max_reference: int = Field(1000, ge=50, description="reference rows subsampled (seeded) for the test")
    severity: Severity = "warning"


class OutputDriftSpec(_Strict):
    alpha: float = Field(0.01, gt=0, lt=1)
    min_effect: float = Field(0.0, ge=0)
    severity: Severity = "warning"


class DriftSpec(_Strict):
    features: FeatureDriftSpec = FeatureDriftSpec()
    embedding: EmbeddingDriftSpec = EmbeddingDriftSpec()
    output: OutputDriftSpec = OutputDriftSpec()


class EstimatedPerformanceSpec(_Strict):
    """Label-free performance (CBPE): alarm when an estimate falls below its limit."""

    method: Literal["cbpe"] = "cbpe"
    limits: dict[Literal["sensitivity", "specificity"], float] = Field(default_factory=dict)
    limit_source: Literal["plan", "validated_lower_bound"] = "validated_lower_bound"
    margin: float = Field(0.0, ge=0, lt=1, description="alarm below (limit - margin)")
    by: list[str] = Field(default_factory=list, description="also estimate per level of these columns")
    min_subgroup_n: int = Field(40, ge=10, description="smallest subgroup estimated within a window")
    severity: Severity = "critical"


class RealisedPerformanceSpec(_Strict):
    """Performance against delayed ground truth: alarm when the CI's upper bound is below the limit."""

    confidence_level: float = Field(0.95, gt=0, lt=1)
    min_labelled: int = Field(30, ge=1)
    severity: Severity = "critical"


class PerformanceSpec(_Strict):
    estimated: EstimatedPerformanceSpec = EstimatedPerformanceSpec()
    realised: RealisedPerformanceSpec = RealisedPerformanceSpec()


ChartStatistic = Literal["positive_rate", "mean_score", "estimated_sensitivity", "estimated_specificity"]


class ChartSpec(_Strict):
    """A control chart on a per-window statistic, designed for an in-control ARL."""

    name: str
    statistic: ChartStatistic
    kind: Literal["cusum", "ewma"]
    shift: float = Field(gt=0, description="shift to detect, in units of the per-window standard deviation")
    arl0: float = Field(gt=1, description="in-control average run length, in windows")
    side: Literal["upper", "lower", "two-sided"] = "two-sided"
    lam: float | None = Field(None, gt=0, le=1, description="EWMA smoothing constant")
    severity: Severity = "warning"

    @model_validator(mode="after")
    def _lam_only_for_ewma(self) -> "ChartSpec":
        if self.kind == "cusum" and self.lam is not None:
            raise ValueError("'lam' applies to EWMA charts only")
        return self


class MonitoringPlan(_Strict):
    """A monitoring plan (the YAML's schema)."""

    schema_version: Literal["1.0"] = "1.0"
    id: str
    version: int = Field(ge=1)
    title: str
    model: ModelRef
    description: str = ""
    window: WindowSpec
    watch: WatchSpec
    drift: DriftSpec = DriftSpec()
    performance: PerformanceSpec = PerformanceSpec()
    charts: list[ChartSpec] = Field(default_factory=list)
    evidently: bool = Field(True, description="write an evidently drift report per window")
    seed: int = Field(5000, ge=0, description="seed of every resampling test")

    @model_validator(mode="after")
    def _unique_chart_names(self) -> "MonitoringPlan":
        names = [c.name for c in self.charts]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"chart names must be unique; repeated: {dup}")
        return self


class LoadedPlan:
    """A parsed plan with its source path, bytes' sha256 and text."""

    __slots__ = ("plan", "path", "sha256", "text")

    def __init__(self, plan: MonitoringPlan, path: Path | None, sha256: str, text: str):
        self.plan = plan
        self.path = path
        self.sha256 = sha256
        self.text = text

    def to_dict(self) -> dict:
        return {
            "id": self.plan.id,
            "version": self.plan.version,
            "title": self.plan.title,
            "path": self.path.name if self.path else None,
            "sha256": self.sha256,
        }


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at pydantic location ``loc`` (nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(key):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return line


def parse_plan(text: str, *, source: str = "<plan>", path: Path | None = None) -> LoadedPlan:
    """Parse and validate plan YAML text; :class:`ProtocolError` names source, line and field."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise ProtocolError(f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{source}: a monitoring plan must be a YAML mapping; got {type(data).__name__}")
    try:
        plan = MonitoringPlan.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field_name = ".".join(str(p) for p in loc) or "<root>"
            line = _line_of(node, loc)
            value = err.get("input")
            shown = "" if err["type"] == "missing" else f"; got {value!r}"
            msgs.append(f"{source}, line {line}: field '{field_name}': {err['msg']}{shown}")
        raise ProtocolError("\n".join(msgs)) from None
    return LoadedPlan(plan, path, sha256_bytes(text.encode("utf-8")), text)


def load_plan(path: str | Path) -> LoadedPlan:
    """Load a monitoring plan YAML file; its hash is the sha256 of the file's bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read monitoring plan ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: monitoring plan is not UTF-8 text") from None
    loaded = parse_plan(text, source=str(path), path=path)
    loaded.sha256 = sha256_bytes(raw)
    return loaded
