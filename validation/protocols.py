"""Validation protocols: pre-registered, typed, hashed and locked before scoring.

A protocol (``protocols/<id>.v<N>.yaml``) fixes, before any result exists,
what is tested (the locked model and the versioned cohort, by hash), how it is
scored (task, unit of analysis, clustering, operating point, conventions for
undefined values), which endpoints are primary and secondary with which CI
method, the acceptance criterion of each, the pre-specified subgroup analyses
with their multiplicity control, the data-quality gate and the test-set
exposure limit.

The schema below is strict: unknown fields, wrong types and misspelt enum
values are errors, and each error names the file, the line and the field::

    protocols/x.yaml:14: endpoints[0].criterion: expected '<bound> <op> <number>'
    such as 'lower_bound >= 0.80'; got 'lower >= 0.8'

Locking records the sha256 of the file's bytes in the audit store (entry kind
``protocol.lock``); a regulatory run refuses a protocol that was never locked or
whose bytes changed since (:func:`require_locked`), and inputs other than the
ones the protocol pins (:func:`check_inputs`).

References
----------
.. [1] U.S. Food and Drug Administration, "Statistical Guidance on Reporting
   Results from Studies Evaluating Diagnostic Tests", 2007 (indeterminate
   results are reported, never dropped).
.. [2] Bossuyt PM et al., "STARD 2015: an updated list of essential items for
   reporting diagnostic accuracy studies", BMJ 351:h5527, 2015.
   doi:10.1136/bmj.h5527 (items 2, 27: registration and protocol).
.. [3] Mercaldo ND, Lau KF, Zhou XH, "Confidence intervals for predictive
   values with an emphasis to case-control studies", Stat Med 26(10):2170-2183,
   2007. doi:10.1002/sim.2677 (``mercaldo-logit``: PPV/NPV at a stated prevalence).
.. [4] Simel DL, Samsa GP, Matchar DB, "Likelihood ratios with confidence:
   sample size estimation for diagnostic test studies", J Clin Epidemiol
   44(8):763-770, 1991. doi:10.1016/0895-4356(91)90128-V (``simel``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from validation.acceptance import parse_criterion
from validation.errors import AuditError, ProtocolError
from validation.hashing import sha256_bytes

SCHEMA_VERSION = "1.0"
PLACEHOLDER = "to-be-pinned"

Task = Literal["binary-classification", "segmentation", "detection"]
Metric = Literal[
    # binary classification at the operating point
    "sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy",
    "positive_likelihood_ratio", "negative_likelihood_ratio",
    # threshold-free
    "auc",
    # segmentation
    "dice", "iou", "hd95", "hausdorff", "assd", "surface_dice",
    # detection
    "lesion_sensitivity_at_fp", "froc_cpm",
]
CIMethod = Literal[
    "wilson", "clopper-pearson", "agresti-coull", "jeffreys", "obuchowski",
    "delong", "mercaldo-logit", "simel",
    "bootstrap-percentile", "bootstrap-bca",
    "cluster-bootstrap-percentile", "cluster-bootstrap-bca",
    "tango", "newcombe-paired",
]
Multiplicity = Literal["holm", "bh", "bonferroni", "none"]

_PROPORTION = ("wilson", "clopper-pearson", "agresti-coull", "jeffreys", "obuchowski")
_BOOT = ("bootstrap-percentile", "bootstrap-bca", "cluster-bootstrap-percentile", "cluster-bootstrap-bca")
_PAIRED_PROPORTION = ("tango", "newcombe-paired")

#: The CI methods each metric admits (one spelling each; the runner maps them
#: onto :mod:`validation.stats`). Non-inferiority endpoints also admit the
#: paired-difference methods listed in :data:`PAIRED_CI_METHODS`.
CI_METHODS: dict[str, tuple[str, ...]] = {
    "sensitivity": _PROPORTION + _BOOT,
    "specificity": _PROPORTION + _BOOT,
    "accuracy": _PROPORTION + _BOOT,
    "ppv": _PROPORTION + ("mercaldo-logit",) + _BOOT,
    "npv": _PROPORTION + ("mercaldo-logit",) + _BOOT,
    "balanced_accuracy": _BOOT,
    "positive_likelihood_ratio": ("simel",),
    "negative_likelihood_ratio": ("simel",),
    "auc": ("delong",) + _BOOT,
    "dice": _BOOT,
    "iou": _BOOT,
    "hd95": _BOOT,
    "hausdorff": _BOOT,
    "assd": _BOOT,
    "surface_dice": _BOOT,
    "lesion_sensitivity_at_fp": _BOOT,
    "froc_cpm": _BOOT,
}
PAIRED_CI_METHODS: dict[str, tuple[str, ...]] = {
    "sensitivity": _PAIRED_PROPORTION + _BOOT,
    "specificity": _PAIRED_PROPORTION + _BOOT,
    "accuracy": _PAIRED_PROPORTION + _BOOT,
    "auc": ("delong",) + _BOOT,
}

#: Direction of each metric: used by non-inferiority margins.
HIGHER_IS_BETTER: dict[str, bool] = {m: True for m in CI_METHODS} | {
    "hd95": False, "hausdorff": False, "assd": False, "negative_likelihood_ratio": False,
}

#: Which task each metric belongs to.
METRIC_TASKS: dict[str, tuple[str, ...]] = {
    **{m: ("binary-classification",) for m in (
        "sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy",
        "positive_likelihood_ratio", "negative_likelihood_ratio", "auc")},
    **{m: ("segmentation",) for m in ("dice", "iou", "hd95", "hausdorff", "assd", "surface_dice")},
    **{m: ("detection",) for m in ("lesion_sensitivity_at_fp", "froc_cpm")},
}

#: Metric parameters: name -> (required, description).
METRIC_PARAMETERS: dict[str, dict[str, tuple[bool, str]]] = {
    "ppv": {"prevalence": (False, "intended-use prevalence in (0, 1) for Bayes-adjusted PPV")},
    "npv": {"prevalence": (False, "intended-use prevalence in (0, 1) for Bayes-adjusted NPV")},
    "surface_dice": {"tolerance_mm": (True, "boundary tolerance in mm (> 0)")},
    "lesion_sensitivity_at_fp": {
        "fp_per_image": (True, "false-positive marks per image (> 0)"),
        "hit_radius_px": (False, "mark-to-lesion distance counted as a hit, in pixels (default: lesion radius)"),
    },
    "froc_cpm": {
        "fp_rates": (False, "FP/image rates averaged (default 1/8,1/4,1/2,1,2,4,8)"),
        "hit_radius_px": (False, "mark-to-lesion distance counted as a hit, in pixels"),
    },
}

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _err(kind: str, message: str) -> PydanticCustomError:
    """A pydantic error whose message is used verbatim (no template substitution)."""
    return PydanticCustomError(kind, "{message}", {"message": message})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_sha(v: str) -> str:
    if v != PLACEHOLDER and not _SHA_RE.match(v):
        raise _err("sha256", f"expected 64 lowercase hex digits (or the placeholder {PLACEHOLDER!r}); got {v!r}")
    return v


def _check_id(v: str) -> str:
    if not _ID_RE.match(v):
        raise _err("identifier",
                   f"expected lowercase letters, digits, '.', '_' or '-' (e.g. 'lesion-classifier'); got {v!r}")
    return v


def _check_criterion(v: str) -> str:
    try:
        parse_criterion(v)
    except ValueError as exc:
        raise _err("criterion", str(exc)) from None
    return v


Sha256 = Annotated[str, AfterValidator(_check_sha)]
Identifier = Annotated[str, Field(min_length=1), AfterValidator(_check_id)]
CriterionText = Annotated[str, AfterValidator(_check_criterion)]
PositiveInt = Annotated[int, Field(ge=1)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class ModelRef(_Strict):
    """A locked model by id, version and sha256 of its ONNX bytes."""

    model_id: Identifier
    model_version: PositiveInt
    sha256: Sha256
    path: str | None = None



class Device(ModelRef):
    """The device under test, and optionally a comparator for paired non-inferiority."""

    comparator: ModelRef | None = None


class CohortRef(_Strict):
    """The versioned test cohort, by id, version and digest."""

    id: Identifier
    version: PositiveInt
    digest: Sha256
    path: str | None = None



class OperatingPoint(_Strict):
    """``threshold: locked`` takes the model lock's threshold; a number overrides it."""

    threshold: Union[Literal["locked"], Annotated[float, Field(ge=0.0, le=1.0)]]


class NonInferiority(_Strict):
    """Paired non-inferiority against ``device.comparator``: margin on ``device - comparator``."""

    comparator: Identifier
    margin: Annotated[float, Field(gt=0.0)]


ParamValue = Union[float, list[float]]


class Endpoint(_Strict):
    """One endpoint: metric, CI method, and an acceptance criterion (or report-only)."""

    id: Identifier
    role: Literal["primary", "secondary"]
    metric: Metric
    ci_method: CIMethod
    criterion: CriterionText | None = None
    non_inferiority: NonInferiority | None = None
    report_only: bool = False
    parameters: dict[str, ParamValue] = Field(default_factory=dict)
    description: str | None = None

    @field_validator("parameters")
    @classmethod
    def _v_parameters(cls, v: dict, info: ValidationInfo) -> dict:
        metric = info.data.get("metric")
        if metric is None:
            return v
        allowed = METRIC_PARAMETERS.get(metric, {})
        for name in v:
            if name not in allowed:
                raise _err("parameter", f"metric {metric!r} takes no parameter {name!r}; "
                                        f"allowed: {', '.join(sorted(allowed)) or 'none'}")
        for name, (required, what) in allowed.items():
            if required and name not in v:
                raise _err("parameter", f"metric {metric!r} requires parameter {name!r} ({what})")
        for name, value in v.items():
            values = value if isinstance(value, list) else [value]
            if not values or any(not (x > 0) for x in values):
                raise _err("parameter", f"parameter {name!r} must be > 0; got {value!r}")
            if name == "prevalence" and not (0 < value < 1):  # type: ignore[operator]
                raise _err("parameter", f"parameter 'prevalence' must be in (0, 1); got {value!r}")
        return v

    @property
    def is_report_only(self) -> bool:
        return self.criterion is None and self.non_inferiority is None

    def acceptance(self):
        """The parsed rule (:class:`~validation.acceptance.Criterion` / NonInferiorityRule) or None."""
        from validation.acceptance import acceptance_rule

        return acceptance_rule(self)


class AgeBand(_Strict):
    """A derived subgroup column: age bands from strictly increasing cut points.

    ``cuts: [40, 60]`` gives the levels ``<40``, ``40-59``, ``>=60``
    (integer years; a cut belongs to the band above it).
    """

    type: Literal["age_band"]
    source: NonEmptyStr = "age"
    cuts: Annotated[list[int], Field(min_length=1)]

    @field_validator("cuts")
    @classmethod
    def _v_cuts(cls, v: list[int]) -> list[int]:
        if any(b <= a for a, b in zip(v, v[1:])):
            raise _err("cuts", f"cut points must be strictly increasing; got {v!r}")
        return v

    def labels(self) -> list[str]:
        return age_band_labels(self.cuts)


class Subgroup(_Strict):
    """A subgroup analysis: strata of a column (or a derived age band)."""

    id: Identifier
    column: NonEmptyStr | None = None
    derived: AgeBand | None = None
    metrics: Annotated[list[Metric], Field(min_length=1)]
    min_n: PositiveInt
    role: Literal["prespecified", "exploratory"]
    criterion: CriterionText | None = None
    report_only: bool = False
    multiplicity: Multiplicity


class UndefinedValues(_Strict):
    """Conventions for values a metric leaves undefined: stated up front, never dropped [1]_.

    empty_masks
        When reference and prediction are both empty: ``score-1`` (Dice 1, HD95 0;
        MONAI's ``ignore_empty=False``) or ``exclude-and-report`` (excluded from the
        mean, counted in the flow).
    one_mask_empty_distance
        Surface distance when exactly one mask is empty: ``image-diagonal`` (the
        largest possible distance, in mm) or ``exclude-and-report``.
    indeterminate
        Missing/invalid model outputs: ``count-as-positive-and-negative`` (report
        both ways, FDA 2007) or ``count-as-incorrect`` (the conservative choice).
    """

    empty_masks: Literal["score-1", "exclude-and-report"] = "exclude-and-report"
    one_mask_empty_distance: Literal["image-diagonal", "exclude-and-report"] = "image-diagonal"
    indeterminate: Literal["count-as-positive-and-negative", "count-as-incorrect"] = "count-as-positive-and-negative"


class Range(_Strict):
    min: float
    max: float


class ImageSize(_Strict):
    rows: PositiveInt
    cols: PositiveInt


class DataQualityConfig(_Strict):
    """The data-quality gate applied to the cohort manifest before scoring."""

    required_columns: list[NonEmptyStr] = Field(
        default_factory=lambda: ["case_id", "patient_id", "image_path", "label"])
    not_null: list[NonEmptyStr] | None = None
    case_id_column: NonEmptyStr = "case_id"
    patient_column: NonEmptyStr = "patient_id"
    label_column: NonEmptyStr = "label"
    label_values: list[int] = Field(default_factory=lambda: [0, 1])
    age_column: NonEmptyStr = "age"
    age_range: Range | None = None
    allowed_values: dict[str, list[Union[str, int]]] = Field(default_factory=dict)
    image_size: ImageSize | None = None
    pixel_spacing_mm: Range | None = None
    training_manifest: str | None = None


class Exposure(_Strict):
    limit: PositiveInt


class Protocol(_Strict):
    """A validation protocol; load it with :func:`load_protocol`.

    Besides the schema fields it carries ``sha256`` (of the file's bytes),
    ``text`` (the file as read) and ``path``.
    """

    schema_version: Literal["1.0"]
    id: Identifier
    version: PositiveInt
    title: NonEmptyStr
    intended_use: NonEmptyStr
    device: Device
    cohort: CohortRef
    task: Task
    reference_standard: NonEmptyStr
    unit_of_analysis: Literal["image", "patient", "lesion"]
    cluster_column: NonEmptyStr | None = None
    operating_point: OperatingPoint
    confidence_level: Annotated[float, Field(gt=0.0, lt=1.0)]
    seed: Annotated[int, Field(ge=0)]
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]
    subgroups: list[Subgroup] = Field(default_factory=list)
    undefined_values: UndefinedValues = Field(default_factory=UndefinedValues)
    data_quality: DataQualityConfig = Field(default_factory=DataQualityConfig)
    exposure: Exposure
    mode: Literal["regulatory", "exploratory"] = "regulatory"
    bootstrap_resamples: Annotated[int, Field(ge=100)] = 2000

    _sha256: str = PrivateAttr(default="")
    _text: str = PrivateAttr(default="")
    _path: Path | None = PrivateAttr(default=None)

    @property
    def sha256(self) -> str:
        """sha256 of the protocol file's bytes (the canonical protocol hash)."""
        return self._sha256

    @property
    def text(self) -> str:
        """The protocol file's text, as read."""
        return self._text

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def primary_endpoints(self) -> list[Endpoint]:
        return [e for e in self.endpoints if e.role == "primary"]

    def effective_mode(self, *, exploratory: bool = False) -> Literal["regulatory", "exploratory"]:
        """``'exploratory'`` if the caller asks for it or the protocol says so, else ``'regulatory'``."""
        return "exploratory" if exploratory or self.mode == "exploratory" else "regulatory"

    def resolve(self, relative: str | Path) -> Path:
        """Resolve a path named in the protocol.

        Tried in order: absolute; relative to the protocol's folder; relative to
        its parent (the repository when the file lives in ``protocols/``);
        relative to the working directory. The first that exists wins; if none
        does, the one relative to the working directory is returned.
        """
        p = Path(relative)
        if p.is_absolute():
            return p
        candidates = []
        if self._path is not None:
            here = self._path.resolve().parent
            candidates += [here / p, here.parent / p]
        candidates.append(Path.cwd() / p)
        for c in candidates:
            if c.exists():
                return c
        return candidates[-1]

    def to_dict(self) -> dict:
        d = self.model_dump(mode="json")
        d["sha256"] = self.sha256
        return d


def age_band_labels(cuts: list[int]) -> list[str]:
    """Level names for integer age bands: ``[40, 60]`` -> ``['<40', '40-59', '>=60']``."""
    labels = [f"<{cuts[0]}"]
    labels += [f"{a}-{b - 1}" for a, b in zip(cuts, cuts[1:])]
    labels.append(f">={cuts[-1]}")
    return labels


def subgroup_levels(manifest, subgroup: Subgroup):
    """The stratum of each manifest row for ``subgroup`` (a pandas Series of str).

    Missing values become the level ``'missing'`` (counted, never dropped).
    """
    import numpy as np
    import pandas as pd

    if subgroup.derived is not None:
        band = subgroup.derived
        if band.source not in manifest.columns:
            raise ProtocolError(f"subgroup {subgroup.id!r}: column {band.source!r} is not in the cohort manifest")
        age = pd.to_numeric(manifest[band.source], errors="coerce").to_numpy(dtype=float)
        idx = np.searchsorted(np.asarray(band.cuts, dtype=float), age, side="right")
        labels = np.asarray(band.labels(), dtype=object)
        out = np.where(np.isnan(age), "missing", labels[np.minimum(idx, len(labels) - 1)])
        return pd.Series(out, index=manifest.index, name=subgroup.id, dtype=object)
    col = subgroup.column
    if col not in manifest.columns:
        raise ProtocolError(f"subgroup {subgroup.id!r}: column {col!r} is not in the cohort manifest")
    s = manifest[col]
    return s.astype(object).where(s.notna(), "missing").astype(str).rename(subgroup.id)


# ---------------------------------------------------------------------------------
# Loading: YAML with line marks, schema errors mapped back to file:line: field
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Marks:
    """YAML line numbers (1-based) for each path in the document."""

    value: dict[tuple, int]
    key: dict[tuple, int]


def _compose(text: str, path: str) -> tuple[Any, _Marks]:
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ProtocolError(f"{path}:1: the file is empty; expected a protocol mapping")
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise ProtocolError(_yaml_error(path, text, exc)) from None
    except yaml.YAMLError as exc:
        raise ProtocolError(f"{path}:1: YAML error: {exc}") from None
    marks = _Marks({}, {})
    dupes: list[tuple[tuple, int]] = []

    def walk(n: yaml.Node, loc: tuple) -> None:
        marks.value[loc] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            seen: set = set()
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                if key in seen:
                    dupes.append((loc + (key,), k.start_mark.line + 1))
                seen.add(key)
                marks.key[loc + (key,)] = k.start_mark.line + 1
                walk(v, loc + (key,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, loc + (i,))

    walk(node, ())
    if dupes:
        loc, line = dupes[0]
        raise ProtocolError(f"{path}:{line}: {_fmt_loc(loc)}: duplicate key (YAML would silently keep the last one)")
    return data, marks


_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][\w.-]*)\s*:(?:\s|$)")


def _field_at(text: str, line: int) -> str:
    """The key path in force at ``line`` (1-based), e.g. ``endpoints[1].criterion``, from indentation alone.

    Used only to name the field of a YAML syntax error, where no parse tree exists.
    """
    # stack of [indent, key, item index of the list under this key (-1: none)]
    stack: list[list] = []
    for raw in text.splitlines()[:line]:
        m = _KEY_LINE.match(raw)
        if not m:
            continue
        indent = len(m.group(1))
        item = raw.lstrip().startswith("- ")
        if item:
            while stack and stack[-1][0] > indent:
                stack.pop()
            if stack:  # the key owning this list (same indent in compact style)
                stack[-1][2] += 1
            indent += 2
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append([indent, m.group(2), -1])
    out = ""
    for i, (_, key, idx) in enumerate(stack):
        out += ("." if out else "") + key
        if idx >= 0 and i < len(stack) - 1:
            out += f"[{idx}]"
    return out or "(top level)"


def _yaml_error(path: str, text: str, exc: yaml.MarkedYAMLError) -> str:
    problem_mark, context_mark = exc.problem_mark, exc.context_mark
    mark = context_mark or problem_mark
    line = mark.line + 1 if mark is not None else 1
    what = exc.problem or "invalid YAML"
    if exc.context and problem_mark is not None:
        what = (f"{what} at line {problem_mark.line + 1}, column {problem_mark.column + 1} "
                f"({exc.context} that starts at line {line}, column {mark.column + 1})")
    elif problem_mark is not None:
        what = f"{what} at column {problem_mark.column + 1}"
    return f"{path}:{line}: {_field_at(text, line)}: YAML syntax error: {what}"


def _fmt_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _trim_loc(data: Any, loc: tuple, err_type: str) -> tuple[tuple, bool]:
    """Map a pydantic error location onto the document: drop union-member tags.

    Returns the location and whether its last part exists in the document.
    """
    out: tuple = ()
    cur = data
    exists = True
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(cur, dict) and isinstance(part, str):
            if part in cur:
                out += (part,)
                cur = cur[part]
                continue
            if err_type == "missing" and last:
                return out + (part,), False
            continue  # a union member tag such as "literal['locked']" or "float"
        if isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out += (part,)
            cur = cur[part]
            continue
        if isinstance(cur, dict) and isinstance(part, int):
            continue
        # scalar: remaining parts are type tags
        break
    return out, exists


def _message(err: dict) -> str:
    t = err["type"]
    if t == "missing":
        return "required field is missing"
    if t == "extra_forbidden":
        return "unknown field (not part of the protocol schema; check the spelling)"
    msg = err["msg"]
    if t in {"criterion", "sha256", "identifier", "parameter", "cuts", "value_error", "semantic"}:
        return msg.removeprefix("Value error, ")
    got = err.get("input")
    if t == "string_type" and isinstance(got, (int, float)) and not isinstance(got, bool):
        return f"expected text; got the number {got!r} (YAML reads unquoted digits as a number: quote the value)"
    if isinstance(got, (dict, list)):
        got_s = f"a {'mapping' if isinstance(got, dict) else 'list'}"
    else:
        got_s = repr(got)
    return f"{msg[0].lower()}{msg[1:]}; got {got_s}"


def _format_errors(path: str, data: Any, marks: _Marks, errors: list[tuple[tuple, str, str]]) -> str:
    """errors: (pydantic loc, type, message) -> 'file:line: field: message' lines."""
    grouped: dict[tuple, list[str]] = {}
    order: list[tuple] = []
    lines: dict[tuple, int] = {}
    for loc, etype, msg in errors:
        trimmed, _ = _trim_loc(data, loc, etype)
        if etype == "extra_forbidden":
            line = marks.key.get(trimmed, marks.value.get(trimmed, 1))
        elif trimmed in marks.value:
            line = marks.value[trimmed]
        else:
            line = marks.value.get(trimmed[:-1], 1)
        if trimmed not in grouped:
            grouped[trimmed] = []
            order.append(trimmed)
            lines[trimmed] = line
        if msg not in grouped[trimmed]:
            grouped[trimmed].append(msg)
    out = []
    for loc in sorted(order, key=lambda k: (lines[k], order.index(k))):
        msgs = grouped[loc]
        text = msgs[0] if len(msgs) == 1 else "; or ".join(msgs)
        out.append(f"{path}:{lines[loc]}: {_fmt_loc(loc)}: {text}")
    return "\n".join(out)


def _semantic_errors(p: Protocol) -> list[tuple[tuple, str, str]]:
    """Cross-field rules pydantic field validators cannot see."""
    errs: list[tuple[tuple, str, str]] = []

    def add(loc: tuple, msg: str) -> None:
        errs.append((loc, "semantic", msg))

    seen: dict[str, int] = {}
    for i, e in enumerate(p.endpoints):
        if e.id in seen:
            add(("endpoints", i, "id"), f"duplicate endpoint id {e.id!r} (also endpoints[{seen[e.id]}])")
        seen.setdefault(e.id, i)
        if p.task not in METRIC_TASKS[e.metric]:
            add(("endpoints", i, "metric"), f"metric {e.metric!r} does not apply to task {p.task!r}")
        allowed = CI_METHODS[e.metric]
        if e.non_inferiority is not None:
            allowed = PAIRED_CI_METHODS.get(e.metric, _BOOT)
        if e.ci_method not in allowed:
            add(("endpoints", i, "ci_method"),
                f"ci_method {e.ci_method!r} is not available for metric {e.metric!r}"
                f"{' (paired difference)' if e.non_inferiority is not None else ''}; allowed: {', '.join(allowed)}")
        if e.parameters.get("prevalence") is not None and e.ci_method != "mercaldo-logit":
            add(("endpoints", i, "ci_method"),
                f"a predictive value at an intended-use 'prevalence' takes ci_method 'mercaldo-logit' "
                f"(Mercaldo, Lau & Zhou 2007); got {e.ci_method!r}")
        if e.ci_method.startswith("cluster-") and p.cluster_column is None:
            add(("endpoints", i, "ci_method"), f"ci_method {e.ci_method!r} needs 'cluster_column' at the top level")
        n_rules = (e.criterion is not None) + (e.non_inferiority is not None) + bool(e.report_only)
        if n_rules != 1:
            add(("endpoints", i), "give exactly one of 'criterion', 'non_inferiority' or 'report_only: true'")
        if e.role == "primary" and e.is_report_only:
            add(("endpoints", i, "role"), "a primary endpoint needs an acceptance criterion; it cannot be report-only")
        if e.non_inferiority is not None:
            comp = p.device.comparator
            if comp is None:
                add(("endpoints", i, "non_inferiority", "comparator"),
                    "non-inferiority needs 'device.comparator' (the locked comparator model)")
            elif e.non_inferiority.comparator != comp.model_id:
                add(("endpoints", i, "non_inferiority", "comparator"),
                    f"comparator {e.non_inferiority.comparator!r} is not device.comparator.model_id {comp.model_id!r}")
    if not p.primary_endpoints:
        add(("endpoints",), "at least one endpoint must have role 'primary'")
    if p.unit_of_analysis != "image" and p.cluster_column is None:
        add(("cluster_column",), f"unit_of_analysis {p.unit_of_analysis!r} needs 'cluster_column'")
    sg_seen: set[str] = set()
    for i, s in enumerate(p.subgroups):
        if s.id in sg_seen:
            add(("subgroups", i, "id"), f"duplicate subgroup id {s.id!r}")
        sg_seen.add(s.id)
        if (s.column is None) == (s.derived is None):
            add(("subgroups", i), "give exactly one of 'column' or 'derived'")
        if s.criterion is not None and s.report_only:
            add(("subgroups", i, "report_only"), "a subgroup with a criterion cannot be report-only")
        if s.criterion is None and not s.report_only:
            add(("subgroups", i), "give a 'criterion' or 'report_only: true'")
        for j, m in enumerate(s.metrics):
            if p.task not in METRIC_TASKS[m]:
                add(("subgroups", i, "metrics", j), f"metric {m!r} does not apply to task {p.task!r}")
    return errs


def parse_protocol(text: str | bytes, *, path: str | Path = "<protocol>") -> Protocol:
    """Parse and validate protocol text; see :func:`load_protocol`."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    name = str(path)
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{name}:1: the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    data, marks = _compose(s, name)
    if not isinstance(data, dict):
        raise ProtocolError(f"{name}:1: (top level): expected a mapping of protocol fields; got {type(data).__name__}")
    try:
        proto = Protocol.model_validate(data)
    except ValidationError as exc:
        errs = [(tuple(e["loc"]), e["type"], _message(e)) for e in exc.errors()]
        raise ProtocolError(_format_errors(name, data, marks, errs)) from None
    sem = _semantic_errors(proto)
    if sem:
        raise ProtocolError(_format_errors(name, data, marks, sem))
    proto._sha256 = sha256_bytes(raw)
    proto._text = s
    proto._path = Path(path) if not isinstance(path, Path) else path
    return proto


def load_protocol(path: str | Path) -> Protocol:
    """Load, schema-check and hash a protocol YAML file.

    Parameters
    ----------
    path : str or Path
        ``protocols/<id>.v<N>.yaml``.

    Returns
    -------
    Protocol
        With ``.sha256`` (sha256 of the file's bytes) and ``.text``.

    Raises
    ------
    ProtocolError
        Naming the file, the line and the field of every schema error, e.g.
        ``protocols/x.yaml:14: endpoints[0].criterion: expected '<bound> <op>
        <number>' such as 'lower_bound >= 0.80'; got 'lower >= 0.8'``.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ProtocolError(f"{path}: protocol file not found") from None
    except IsADirectoryError:
        raise ProtocolError(f"{path}: is a directory; expected a protocol YAML file") from None
    proto = parse_protocol(raw, path=path)
    m = re.match(r"^(.+)\.v(\d+)\.ya?ml$", p.name)
    if m and (m.group(1) != proto.id or int(m.group(2)) != proto.version):
        line = 1
        raise ProtocolError(
            f"{path}:{line}: id/version: the file name says {m.group(1)!r} v{m.group(2)} "
            f"but the file says {proto.id!r} v{proto.version}")
    return proto


# ---------------------------------------------------------------------------------
# Locking and lock enforcement
# ---------------------------------------------------------------------------------


def _lock_payload(protocol: Protocol) -> dict:
    return {
        "protocol_id": protocol.id,
        "version": protocol.version,
        "sha256": protocol.sha256,
        "title": protocol.title,
        "path": None if protocol.path is None else Path(protocol.path).as_posix(),
    }


def find_lock(protocol: Protocol, store) -> Any | None:
    """The first ``protocol.lock`` entry for this protocol's id and version, or None."""
    entries = store.find("protocol.lock", protocol_id=protocol.id, version=protocol.version)
    return entries[0] if entries else None


def lock_protocol(protocol: Protocol | str | Path, store, *, actor: str | None = None):
    """Record the protocol's sha256 in the audit store (entry kind ``protocol.lock``).

    A protocol id+version is locked once: locking the same bytes again returns
    the existing entry (no new entry); locking different bytes under the same
    id and version is refused (a changed protocol is a new version). The check
    and the append happen in one write transaction
    (:meth:`~validation.audit.AuditStore.append_unique`), so racing lockers
    cannot both succeed.

    Parameters
    ----------
    protocol : Protocol or path
    store : validation.audit.AuditStore
    actor : str, optional
        Who locks it (default ``$MEDVAL_OPERATOR`` or the OS user).

    Returns
    -------
    AuditEntry
        The lock entry (new, or the existing one for the same bytes); compare
        ``entry.actor``/``entry.timestamp`` or call :func:`find_lock` first to
        tell them apart.

    Raises
    ------
    ProtocolError
        If this id+version is already locked with other bytes.
    """
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    entry, _created = store.append_unique("protocol.lock", _lock_payload(protocol),
                                          unique_on=("protocol_id", "version"), actor=actor)
    if entry.payload.get("sha256") == protocol.sha256:
        return entry
    raise ProtocolError(
        f"{protocol.path}: protocol {protocol.id!r} version {protocol.version} is already locked "
        f"(audit entry {entry.seq}, {entry.timestamp}) with sha256 {entry.payload.get('sha256')}; "
        f"this file has sha256 {protocol.sha256}. A changed protocol needs a new version number.")


def require_locked(protocol: Protocol, store):
    """The lock entry of ``protocol``; refuse an unlocked or altered protocol.

    Parameters
    ----------
    protocol : Protocol
    store : validation.audit.AuditStore

    Returns
    -------
    AuditEntry
        The ``protocol.lock`` entry for this id and version.

    Raises
    ------
    ProtocolError
        If the protocol was never locked, or if the file's bytes changed since
        it was locked (the message gives both hashes).
    AuditError
        If the audit chain itself does not verify (a lock in a tampered log
        is no evidence).
    """
    where = protocol.path or protocol.id
    chain = store.verify()
    if not chain.ok:
        # A lock is only evidence if the log it sits in is intact (21 CFR 11.10(e)).
        first = chain.problems[0]
        raise AuditError(
            f"{store.path}: the audit chain does not verify (entry {first['seq']}: {first['problem']}); "
            f"cannot trust the lock of {where}. Run `medval audit verify --db {store.path}`.")
    entry = find_lock(protocol, store)
    if entry is None:
        raise ProtocolError(
            f"{where}: protocol {protocol.id!r} version {protocol.version} was never locked; "
            f"run `medval protocol lock {where}` before a regulatory run")
    locked = entry.payload.get("sha256")
    if locked != protocol.sha256:
        raise ProtocolError(
            f"{where}: protocol {protocol.id!r} version {protocol.version} changed since it was locked "
            f"(audit entry {entry.seq} by {entry.actor} at {entry.timestamp}): locked sha256 {locked}, "
            f"file now {protocol.sha256}")
    return entry


@dataclass(frozen=True, slots=True)
class InputCheck:
    """Outcome of :func:`check_inputs`: the mismatches found (empty when all match)."""

    ok: bool
    mismatches: tuple[dict, ...]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "mismatches": list(self.mismatches)}


def check_inputs(protocol: Protocol, *, model_sha256: str, cohort_id: str, cohort_version: int,
                 cohort_digest: str, model_id: str | None = None, model_version: int | None = None,
                 comparator_sha256: str | None = None, exploratory: bool = False) -> InputCheck:
    """Check that the model and cohort given are the ones the protocol pins.

    Parameters
    ----------
    protocol : Protocol
    model_sha256, cohort_id, cohort_version, cohort_digest
        What the runner actually loaded.
    model_id, model_version, comparator_sha256 : optional
        Checked too when given.
    exploratory : bool
        Report mismatches (as deviations) instead of raising.

    Returns
    -------
    InputCheck

    Raises
    ------
    ProtocolError
        In regulatory mode, naming the first field, the expected and the
        actual value; a placeholder (``'to-be-pinned'``) is always a mismatch
        ("protocol does not pin ...").
    """
    checks: list[tuple[str, Any, Any]] = [
        ("device.sha256", protocol.device.sha256, model_sha256),
        ("cohort.id", protocol.cohort.id, cohort_id),
        ("cohort.version", protocol.cohort.version, cohort_version),
        ("cohort.digest", protocol.cohort.digest, cohort_digest),
    ]
    if model_id is not None:
        checks.insert(0, ("device.model_id", protocol.device.model_id, model_id))
    if model_version is not None:
        checks.insert(1, ("device.model_version", protocol.device.model_version, model_version))
    if comparator_sha256 is not None:
        exp = protocol.device.comparator.sha256 if protocol.device.comparator else None
        checks.append(("device.comparator.sha256", exp, comparator_sha256))
    mismatches = []
    for field, expected, actual in checks:
        if expected == PLACEHOLDER:
            mismatches.append({"field": field, "expected": expected, "actual": actual,
                               "message": f"protocol does not pin {field} (it says {PLACEHOLDER!r}); "
                                          f"the input has {actual!r}"})
        elif expected != actual:
            mismatches.append({"field": field, "expected": expected, "actual": actual,
                               "message": f"{field}: the protocol expects {expected!r}; got {actual!r}"})
    if mismatches and not exploratory and protocol.mode != "exploratory":
        where = protocol.path or protocol.id
        detail = "; ".join(m["message"] for m in mismatches)
        raise ProtocolError(f"{where}: inputs do not match the protocol: {detail}")
    return InputCheck(ok=not mismatches, mismatches=tuple(mismatches))
