"""Locked models: an ONNX file, the lock that pins its bytes, and a pinned session.

A *locked model* is a directory holding ``model.onnx``, ``model.lock.json`` and
``MODEL_CARD.md``. The lock records the sha256 of the ONNX bytes, the input and
output specification read from the graph, the preprocessing the model was
trained with, the device's locked operating threshold, its intended use and
its training provenance. :func:`load_locked_model` refuses a model whose bytes
differ from its lock, or whose lock was edited after locking (the lock carries
a digest of its own content), so a validation result can always be tied to
exact model bytes.

Inference runs through onnxruntime only (never torch) with pinned session
options — deterministic compute, a fixed intra-op thread count, sequential
execution, a fixed graph-optimisation level — so that two runs on the same
machine give bit-identical scores.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from validation.errors import InputError, IntegrityError
from validation.fileio import atomic_write_json
from validation.hashing import digest, sha256_file

# onnxruntime must never phone home; set before it is imported anywhere.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__all__ = [
    "LOCK_FILE",
    "LOCK_SCHEMA_VERSION",
    "TASKS",
    "LockedModel",
    "ModelLock",
    "SessionOptions",
    "load_locked_model",
    "lock_model",
    "read_lock",
    "read_onnx_spec",
]

LOCK_FILE = "model.lock.json"
LOCK_SCHEMA_VERSION = "1.0"
Task = Literal["binary-classification", "segmentation"]
TASKS: tuple[str, ...] = ("binary-classification", "segmentation")

#: What each output a medval reference model may declare means (used when the
#: caller does not pass its own meanings to :func:`lock_model`).
DEFAULT_OUTPUT_MEANINGS = {
    "score": "sigmoid probability that the image contains at least one lesion",
    "embedding": "penultimate pooled features, for drift monitoring",
    "probability": "per-pixel sigmoid probability of lesion",
}

#: Outputs each task must provide, with their rank (batch axis first).
REQUIRED_OUTPUTS: dict[str, dict[str, int]] = {
    "binary-classification": {"score": 1},
    "segmentation": {"probability": 3},
}

_REQUIRED_PREPROCESSING = ("intensity_scale", "mean", "std", "image_size")
_REQUIRED_LOCK_FIELDS = (
    "schema_version",
    "model_id",
    "version",
    "task",
    "sha256",
    "file",
    "opset",
    "onnx_ir_version",
    "producer",
    "inputs",
    "outputs",
    "preprocessing",
    "operating_threshold",
    "intended_use",
    "training",
    "locked_at",
    "lock_digest",
)

_ONNX_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
}


# --------------------------------------------------------------------------- lock


@dataclass(frozen=True, slots=True)
class ModelLock:
    """The content of ``model.lock.json``.

    Attributes
    ----------
    schema_version : str
        Version of the lock-file layout (``"1.0"``).
    model_id : str
        Model identifier, e.g. ``"lesion-classifier"``.
    version : int
        Model version (the directory name under the model id).
    task : {"binary-classification", "segmentation"}
        What the model does.
    sha256 : str
        Hex sha256 of the ONNX file's bytes.
    file : str
        ONNX file name, relative to the lock file's directory.
    opset, onnx_ir_version : int
        Default-domain opset and IR version of the graph.
    producer : str
        ``producer_name producer_version`` from the ONNX file.
    inputs, outputs : tuple of dict
        ``{name, shape, dtype}`` per graph input/output (symbolic axes as
        strings, e.g. ``"batch"``); outputs also carry ``meaning``.
    preprocessing : dict
        ``intensity_scale``, ``mean``, ``std``, ``image_size`` (and optionally
        ``spacing_mm`` etc.): ``x = (raw * intensity_scale - mean) / std``.
    operating_threshold : float
        The locked decision threshold on ``score`` (classifier) or on
        ``probability`` (segmenter).
    intended_use : str
        Intended-use statement.
    training : dict
        Training provenance (recipe, seeds, n_cases, epochs, versions, data digest, ...).
    locked_at : str
        ISO-8601 UTC time of locking.
    lock_digest : str
        sha256 of the canonical JSON of every other field: detects an edit of
        the lock file itself (e.g. a changed threshold).
    """

    schema_version: str
    model_id: str
    version: int
    task: str
    sha256: str
    file: str
    opset: int
    onnx_ir_version: int
    producer: str
    inputs: tuple[dict, ...]
    outputs: tuple[dict, ...]
    preprocessing: dict
    operating_threshold: float
    intended_use: str
    training: dict
    locked_at: str
    lock_digest: str = field(default="")

    def to_dict(self) -> dict:
        """JSON-ready dict (deep copy; lists instead of tuples)."""
        out = {name: copy.deepcopy(getattr(self, name)) for name in self.__dataclass_fields__}
        out["inputs"] = list(out["inputs"])
        out["outputs"] = list(out["outputs"])
        return out

    def content_digest(self) -> str:
        """sha256 of the canonical JSON of every field except ``lock_digest``."""
        body = self.to_dict()
        body.pop("lock_digest")
        return digest(body)

    def output_names(self) -> list[str]:
        return [o["name"] for o in self.outputs]


def read_onnx_spec(model_path: str | Path) -> dict:
    """Read opset, IR version, producer and the I/O spec from an ONNX file.

    Raises
    ------
    InputError
        If the file does not exist or is not a valid ONNX model.
    """
    import onnx

    model_path = Path(model_path)
    if not model_path.is_file():
        raise InputError(f"{model_path}: model file not found")
    try:
        proto = onnx.load(str(model_path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises several unrelated types
        raise InputError(f"{model_path}: not a valid ONNX model ({type(exc).__name__}: {exc})") from exc

    def _value_info(vi) -> dict:
        tt = vi.type.tensor_type
        shape: list[Any] = []
        for dim in tt.shape.dim:
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            else:
                shape.append(dim.dim_param or "?")
        return {
            "name": vi.name,
            "shape": shape,
            "dtype": _ONNX_DTYPES.get(tt.elem_type, f"onnx-type-{tt.elem_type}"),
        }

    initializers = {init.name for init in proto.graph.initializer}
    opset = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise InputError(f"{model_path}: no default-domain opset_import in the ONNX model")
    return {
        "opset": opset,
        "onnx_ir_version": int(proto.ir_version),
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "inputs": [_value_info(v) for v in proto.graph.input if v.name not in initializers],
        "outputs": [_value_info(v) for v in proto.graph.output],
    }


def _check_task_outputs(where: str, task: str, outputs: list[dict]) -> None:
    names = {o["name"]: o for o in outputs}
    for name, rank in REQUIRED_OUTPUTS[task].items():
        if name not in names:
            raise InputError(
                f"{where}: field 'outputs': a {task} model must have an output named {name!r}; "
                f"got {sorted(names)}"
            )
        if len(names[name]["shape"]) != rank:
            raise InputError(
                f"{where}: field 'outputs': output {name!r} must have rank {rank} (batch first); "
                f"got shape {names[name]['shape']}"
            )


def _check_preprocessing(where: str, pre: Any) -> dict:
    if not isinstance(pre, dict):
        raise InputError(f"{where}: field 'preprocessing': expected a mapping; got {pre!r}")
    for key in _REQUIRED_PREPROCESSING:
        if key not in pre:
            raise InputError(f"{where}: field 'preprocessing.{key}': missing")
    for key in ("intensity_scale", "mean", "std"):
        val = pre[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not np.isfinite(val):
            raise InputError(f"{where}: field 'preprocessing.{key}': expected a finite number; got {val!r}")
    if pre["std"] <= 0 or pre["intensity_scale"] <= 0:
        raise InputError(
            f"{where}: field 'preprocessing': 'std' and 'intensity_scale' must be > 0; "
            f"got std={pre['std']!r}, intensity_scale={pre['intensity_scale']!r}"
        )
    size = pre["image_size"]
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise InputError(
            f"{where}: field 'preprocessing.image_size': expected [height, width] positive integers; got {size!r}"
        )
    return dict(pre, image_size=[int(size[0]), int(size[1])])


def _check_threshold(where: str, threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise InputError(f"{where}: field 'operating_threshold': expected a number in [0, 1]; got {threshold!r}")
    return float(threshold)


def _check_version(where: str, version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"{where}: field 'version': expected a positive integer; got {version!r}")
    return version


def lock_model(
    model_path: str | Path,
    *,
    model_id: str,
    version: int,
    task: Task,
    threshold: float,
    preprocessing: dict,
    intended_use: str,
    training: dict,
    output_meanings: dict[str, str] | None = None,
    locked_at: str | None = None,
) -> ModelLock:
    """Lock an ONNX model: hash it, read its I/O spec and write ``model.lock.json`` beside it.

    Parameters
    ----------
    model_path : path
        The ONNX file. The lock is written to ``model.lock.json`` in the same
        directory (atomically).
    model_id : str
        Identifier, e.g. ``"lesion-classifier"`` (letters, digits, ``-_.``).
    version : int
        Positive model version.
    task : {"binary-classification", "segmentation"}
        A classifier must have a rank-1 ``score`` output; a segmenter a rank-3
        ``probability`` output (batch axis first).
    threshold : float
        Locked operating threshold in [0, 1].
    preprocessing : dict
        Must hold ``intensity_scale``, ``mean``, ``std`` and ``image_size``.
    intended_use : str
        Intended-use statement (non-empty).
    training : dict
        Training provenance; JSON-serialisable.
    output_meanings : dict, optional
        ``{output name: meaning}``; defaults to :data:`DEFAULT_OUTPUT_MEANINGS`.
    locked_at : str, optional
        ISO-8601 time to record; defaults to now (UTC).

    Returns
    -------
    ModelLock

    Raises
    ------
    InputError
        Missing/invalid ONNX file or an invalid argument (the message names it).
    """
    model_path = Path(model_path)
    where = f"{model_path.parent / LOCK_FILE}"
    if not isinstance(model_id, str) or not model_id or not all(c.isalnum() or c in "-_." for c in model_id):
        raise InputError(f"{where}: field 'model_id': expected letters, digits, '-', '_' or '.'; got {model_id!r}")
    version = _check_version(where, version)
    if task not in TASKS:
        raise InputError(f"{where}: field 'task': expected one of {list(TASKS)}; got {task!r}")
    threshold = _check_threshold(where, threshold)
    preprocessing = _check_preprocessing(where, preprocessing)
    if not isinstance(intended_use, str) or not intended_use.strip():
        raise InputError(f"{where}: field 'intended_use': expected a non-empty statement; got {intended_use!r}")
    if not isinstance(training, dict):
        raise InputError(f"{where}: field 'training': expected a mapping; got {training!r}")

    spec = read_onnx_spec(model_path)
    _check_task_outputs(str(model_path), task, spec["outputs"])
    if len(spec["inputs"]) != 1:
        raise InputError(
            f"{model_path}: expected exactly one graph input (the image batch); got {[i['name'] for i in spec['inputs']]}"
        )
    meanings = dict(DEFAULT_OUTPUT_MEANINGS, **(output_meanings or {}))
    outputs = tuple(dict(o, meaning=meanings.get(o["name"], "")) for o in spec["outputs"])
    lock = ModelLock(
        schema_version=LOCK_SCHEMA_VERSION,
        model_id=model_id,
        version=version,
        task=task,
        sha256=sha256_file(model_path),
        file=model_path.name,
        opset=spec["opset"],
        onnx_ir_version=spec["onnx_ir_version"],
        producer=spec["producer"],
        inputs=tuple(spec["inputs"]),
        outputs=outputs,
        preprocessing=preprocessing,
        operating_threshold=threshold,
        intended_use=intended_use.strip(),
        training=copy.deepcopy(training),
        locked_at=locked_at or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    # Round-trip through JSON so the digest is of exactly what a reader will see.
    body = json.loads(json.dumps(lock.to_dict(), allow_nan=False))
    lock = _lock_from_dict(where, body | {"lock_digest": ""}, check_digest=False)
    lock = _replace_digest(lock)
    atomic_write_json(model_path.parent / LOCK_FILE, lock.to_dict())
    return lock


def _replace_digest(lock: ModelLock) -> ModelLock:
    d = lock.to_dict()
    d["lock_digest"] = lock.content_digest()
    return ModelLock(**{**d, "inputs": tuple(d["inputs"]), "outputs": tuple(d["outputs"])})


def _lock_from_dict(where: str, data: Any, *, check_digest: bool = True) -> ModelLock:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object at the top level; got {type(data).__name__}")
    for key in _REQUIRED_LOCK_FIELDS:
        if key not in data:
            raise InputError(f"{where}: field '{key}': missing")
    unknown = set(data) - set(_REQUIRED_LOCK_FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {sorted(unknown)}")
    if data["schema_version"] != LOCK_SCHEMA_VERSION:
        raise InputError(
            f"{where}: field 'schema_version': expected {LOCK_SCHEMA_VERSION!r}; got {data['schema_version']!r}"
        )
    for key in ("model_id", "sha256", "file", "producer", "intended_use", "locked_at", "lock_digest"):
        if not isinstance(data[key], str):
            raise InputError(f"{where}: field '{key}': expected a string; got {data[key]!r}")
    sha = data["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise InputError(f"{where}: field 'sha256': expected 64 lower-case hex digits; got {sha!r}")
    if Path(data["file"]).name != data["file"] or data["file"] in ("", ".", ".."):
        raise InputError(f"{where}: field 'file': expected a file name in the lock's directory; got {data['file']!r}")
    _check_version(where, data["version"])
    if data["task"] not in TASKS:
        raise InputError(f"{where}: field 'task': expected one of {list(TASKS)}; got {data['task']!r}")
    for key in ("opset", "onnx_ir_version"):
        if isinstance(data[key], bool) or not isinstance(data[key], int):
            raise InputError(f"{where}: field '{key}': expected an integer; got {data[key]!r}")
    for key in ("inputs", "outputs"):
        items = data[key]
        if not isinstance(items, list) or not items:
            raise InputError(f"{where}: field '{key}': expected a non-empty list; got {items!r}")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not {"name", "shape", "dtype"} <= set(item):
                raise InputError(f"{where}: field '{key}[{i}]': expected {{name, shape, dtype}}; got {item!r}")
    _check_task_outputs(where, data["task"], data["outputs"])
    pre = _check_preprocessing(where, data["preprocessing"])
    thr = _check_threshold(where, data["operating_threshold"])
    if not isinstance(data["training"], dict):
        raise InputError(f"{where}: field 'training': expected a mapping; got {data['training']!r}")
    lock = ModelLock(
        **{
            **data,
            "inputs": tuple(data["inputs"]),
            "outputs": tuple(data["outputs"]),
            "preprocessing": pre,
            "operating_threshold": thr,
        }
    )
    if check_digest:
        actual = lock.content_digest()
        if actual != data["lock_digest"]:
            raise IntegrityError(
                f"{where}: lock file was edited after locking: field 'lock_digest' expected {actual} "
                f"(digest of the other fields); recorded {data['lock_digest']}"
            )
    return lock


def read_lock(lock_path: str | Path) -> ModelLock:
    """Parse and check a ``model.lock.json`` (not the ONNX bytes; see :func:`load_locked_model`)."""
    lock_path = Path(lock_path)
    if not lock_path.is_file():
        raise InputError(f"{lock_path}: lock file not found")
    try:
        data = json.loads(lock_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{lock_path}: not valid JSON ({exc})") from exc
    return _lock_from_dict(str(lock_path), data)


# ------------------------------------------------------------------ session options


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """The pinned onnxruntime session options a :class:`LockedModel` runs with.

    Attributes
    ----------
    intra_op_num_threads : int
        Fixed size of the intra-op thread pool (default 1: the most
        reproducible; reductions are never split differently between runs).
    inter_op_num_threads : int
        Fixed inter-op pool size (1; execution is sequential).
    execution_mode : str
        ``"sequential"``.
    graph_optimization_level : str
        ``"basic"`` (constant folding and redundant-node elimination only; no
        hardware-specific layout rewrites).
    deterministic_compute : bool
        ``SessionOptions.use_deterministic_compute``.
    memory_pattern : bool
        ``enable_mem_pattern`` (off: allocation does not depend on earlier shapes).
    provider : str
        ``"CPUExecutionProvider"``.
    """

    intra_op_num_threads: int = 1
    inter_op_num_threads: int = 1
    execution_mode: str = "sequential"
    graph_optimization_level: str = "basic"
    deterministic_compute: bool = True
    memory_pattern: bool = False
    provider: str = "CPUExecutionProvider"

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def build(self):
        """An ``onnxruntime.SessionOptions`` with exactly these settings."""
        import onnxruntime as ort

        levels = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        if self.graph_optimization_level not in levels:
            raise ValueError(
                f"'graph_optimization_level' must be one of {sorted(levels)}; got {self.graph_optimization_level!r}"
            )
        if self.execution_mode not in ("sequential", "parallel"):
            raise ValueError(f"'execution_mode' must be 'sequential' or 'parallel'; got {self.execution_mode!r}")
        if self.intra_op_num_threads < 1 or self.inter_op_num_threads < 1:
            raise ValueError(
                "thread counts must be fixed positive integers (0 would let onnxruntime choose); "
                f"got intra={self.intra_op_num_threads}, inter={self.inter_op_num_threads}"
            )
        so = ort.SessionOptions()
        so.use_deterministic_compute = self.deterministic_compute
        so.intra_op_num_threads = self.intra_op_num_threads
        so.inter_op_num_threads = self.inter_op_num_threads
        so.execution_mode = (
            ort.ExecutionMode.ORT_SEQUENTIAL if self.execution_mode == "sequential" else ort.ExecutionMode.ORT_PARALLEL
        )
        so.graph_optimization_level = levels[self.graph_optimization_level]
        so.enable_mem_pattern = self.memory_pattern
        so.log_severity_level = 3
        # Do not let idle intra-op threads spin: the CPU is shared.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return so


# ------------------------------------------------------------------ locked model


class LockedModel:
    """A verified locked model: its lock, its ONNX path and a pinned inference session.

    Create with :func:`load_locked_model`, which checks the bytes first.

    Parameters
    ----------
    lock : ModelLock
    path : Path
        The ONNX file (verified against ``lock.sha256``).
    options : SessionOptions, optional
        Pinned session options; the defaults are the reproducible ones.
    """

    def __init__(self, lock: ModelLock, path: Path, *, options: SessionOptions | None = None) -> None:
        self.lock = lock
        self.path = Path(path)
        self.options = options or SessionOptions()
        self._session = None
        self._session_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"LockedModel({self.lock.model_id!r} v{self.lock.version}, task={self.lock.task!r}, "
            f"sha256={self.lock.sha256[:12]}…)"
        )

    @property
    def sha256(self) -> str:
        return self.lock.sha256

    @property
    def input_name(self) -> str:
        return self.lock.inputs[0]["name"]

    @property
    def image_size(self) -> tuple[int, int]:
        h, w = self.lock.preprocessing["image_size"]
        return int(h), int(w)

    @property
    def runtime(self) -> dict:
        """What a result must record about how the scores were computed."""
        import onnxruntime as ort

        return {"engine": "onnxruntime", "version": ort.__version__, **self.options.to_dict()}

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """Raw pixel values (B,H,W) → model input (B,1,H,W) float32.

        ``x = (raw * intensity_scale - mean) / std`` with the locked values.

        Raises
        ------
        InputError
            If ``images`` is not (B,H,W) of the locked image size, or holds
            non-finite values.
        """
        arr = np.asarray(images)
        if arr.ndim != 3:
            raise InputError(f"images: expected an array of shape (B, H, W); got shape {arr.shape}")
        if tuple(arr.shape[1:]) != self.image_size:
            raise InputError(
                f"images: model {self.lock.model_id} v{self.lock.version} expects images of size "
                f"{list(self.image_size)} (preprocessing.image_size); got {list(arr.shape[1:])}"
            )
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise InputError(f"images: expected real numeric pixel values; got dtype {arr.dtype}")
        pre = self.lock.preprocessing
        x = arr.astype(np.float32, copy=True)
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(x).all():
            bad = int(np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))[0])
            raise InputError(f"images: image {bad} of the batch holds non-finite pixel values")
        x *= np.float32(pre["intensity_scale"])
        x -= np.float32(pre["mean"])
        x /= np.float32(pre["std"])
        return x[:, None, :, :]

    def session(self):
        """The (cached) ``onnxruntime.InferenceSession`` with the pinned options."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    import onnxruntime as ort

                    self._session = ort.InferenceSession(
                        str(self.path), sess_options=self.options.build(), providers=[self.options.provider]
                    )
        return self._session

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the session on an already preprocessed batch (B,1,H,W) float32."""
        names = self.lock.output_names()
        outs = self.session().run(names, {self.input_name: batch})
        return dict(zip(names, outs))

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Preprocess raw images and run the model.

        Returns
        -------
        dict
            Classifier: ``{"score": (B,), "embedding": (B,K)}``;
            segmenter: ``{"probability": (B,H,W)}`` — every output the lock declares.
        """
        return self.run(self.preprocess(images))


def load_locked_model(model_dir: str | Path, *, options: SessionOptions | None = None) -> LockedModel:
    """Load a locked model directory (or its ``model.lock.json``) after verifying its bytes.

    Parameters
    ----------
    model_dir : path
        Directory holding ``model.lock.json`` and the ONNX file it names, or
        the lock file itself.
    options : SessionOptions, optional
        Pinned session options (defaults: the reproducible ones).

    Returns
    -------
    LockedModel

    Raises
    ------
    InputError
        The lock is missing or malformed (names the file and field), or the
        ONNX file is missing.
    IntegrityError
        The ONNX bytes differ from the lock's sha256 (names the file, the
        expected and the actual sha256), the lock was edited after locking,
        or the graph's inputs/outputs differ from the lock.
    """
    model_dir = Path(model_dir)
    lock_path = model_dir if model_dir.is_file() else model_dir / LOCK_FILE
    lock = read_lock(lock_path)
    onnx_path = lock_path.parent / lock.file
    if not onnx_path.is_file():
        raise InputError(f"{onnx_path}: model file named by {lock_path} (field 'file') not found")
    actual = sha256_file(onnx_path)
    if actual != lock.sha256:
        raise IntegrityError(
            f"{onnx_path}: sha256 does not match its lock {lock_path}: expected {lock.sha256}, got {actual}"
        )
    spec = read_onnx_spec(onnx_path)
    for key in ("inputs", "outputs"):
        got = [{k: io[k] for k in ("name", "shape", "dtype")} for io in spec[key]]
        want = [{k: io[k] for k in ("name", "shape", "dtype")} for io in getattr(lock, key)]
        if got != want:
            raise IntegrityError(f"{lock_path}: field '{key}': lock says {want}; the ONNX graph has {got}")
    return LockedModel(lock, onnx_path, options=options)
