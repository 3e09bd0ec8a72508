"""What the client returns: uploads, job views and results, as small typed objects over the service's JSON."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

__all__ = [
    "FINAL_STATUSES",
    "Artifact",
    "ArrayInfo",
    "Dataset",
    "Job",
    "LazyArrays",
    "Model",
    "Progress",
    "Result",
    "StoredArray",
]

#: The statuses a job never leaves.
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Model:
    """An uploaded model (``POST /v1/models``). Pass it (or its :attr:`id`) to :meth:`Client.submit`.

    Attributes:
        id: The model's id. Uploads are content-addressed: the same bytes give the same id.
        num_params: Trainable parameters P (the side of a dense Hessian).
        parameters: The weights in parameter order: ``{"name", "shape", "size"}`` each.
        inputs: The model's inputs, ``{"name", "shape", "dtype"}`` each (several: give the batch as a dict).
        outputs: The model's outputs, ``{"name", "shape"}`` each (several: give targets as a dict).
        created: True when this upload stored it (201), False when it was already there (200).
        record: The service's whole record.
    """

    id: str
    num_params: int
    parameters: List[Dict[str, Any]]
    inputs: List[Dict[str, Any]]
    outputs: List[Dict[str, Any]]
    created: bool
    record: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], created: bool) -> "Model":
        """Builds it from the service's model record."""
        return cls(
            id=str(record["id"]),
            num_params=int(record.get("numParams", 0)),
            parameters=list(record.get("parameters", [])),
            inputs=list(record.get("inputs", [])),
            outputs=list(record.get("outputs", [])),
            created=created,
            record=dict(record),
        )

    def __str__(self) -> str:
        """The id, so a model can be used wherever an id string is expected in text."""
        return self.id


@dataclass(frozen=True)
class ArrayInfo:
    """The shape and dtype of one stored array, as the service records it."""

    shape: Tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Dataset:
    """An uploaded batch (``POST /v1/datasets``). Pass it (or its :attr:`id`) to :meth:`Client.submit`.

    Attributes:
        id: The dataset's id (content-addressed: the same arrays give the same id).
        num_examples: Examples in the batch (the leading axis of every array).
        arrays: Every stored array by name: ``inputs`` and ``targets``, or ``inputs.<input name>`` and
            ``targets.<output name>`` for arrays given as dicts.
        created: True when this upload stored it (201), False when it was already there (200).
        record: The service's whole record.
    """

    id: str
    num_examples: int
    arrays: Dict[str, ArrayInfo]
    created: bool
    record: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], created: bool) -> "Dataset":
        """Builds it from the service's dataset record."""
        arrays: Dict[str, ArrayInfo] = {}
        for entry in record.get("arrays") or []:
            arrays[str(entry["name"])] = ArrayInfo(tuple(entry["shape"]), str(entry["dtype"]))
        for name in ("inputs", "targets"):
            if name not in arrays and isinstance(record.get(name), Mapping):
                arrays[name] = ArrayInfo(tuple(record[name]["shape"]), str(record[name]["dtype"]))
        return cls(
            id=str(record["id"]),
            num_examples=int(record.get("numExamples", 0)),
            arrays=arrays,
            created=created,
            record=dict(record),
        )

    def __str__(self) -> str:
        """The id."""
        return self.id


@dataclass(frozen=True)
class StoredArray:
    """A standalone uploaded array (``POST /v1/arrays``), e.g. the k×P vectors of an ``hvp`` job.

    Attributes:
        id: The array's id (content-addressed).
        shape: Its shape.
        dtype: Its dtype as stored.
        created: True when this upload stored it (201), False when it was already there (200).
        record: The service's whole record.
    """

    id: str
    shape: Tuple[int, ...]
    dtype: str
    created: bool
    record: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], created: bool) -> "StoredArray":
        """Builds it from the service's array record."""
        return cls(
            id=str(record["id"]),
            shape=tuple(record.get("shape", ())),
            dtype=str(record.get("dtype", "")),
            created=created,
            record=dict(record),
        )

    def __str__(self) -> str:
        """The id."""
        return self.id


@dataclass(frozen=True)
class Progress:
    """A job's progress: units of work (HVPs, columns, probes) done of the total, and their ratio in [0, 1]."""

    completed: float
    total: float
    fraction: float


@dataclass(frozen=True)
class Job:
    """One view of a job (``GET /v1/jobs/{id}``); views are snapshots, get a fresh one with :meth:`Client.job`.

    Attributes:
        id: The job's id.
        status: ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
        progress: Units done, total and fraction (summed over the pieces of a split job).
        request: The request as it runs (defaults filled in).
        created_at: ISO 8601 time of submission.
        started_at: When a worker started it, or None.
        finished_at: When it reached a final status, or None.
        attempts: Attempts made so far.
        cancel_requested: Whether a cancellation was asked for.
        error: ``{"code", "message"}`` of a failed or cancelled job, else None.
        result: The raw ``result`` object of a succeeded job (use :meth:`Client.result` for arrays), else None.
        shards: A split job's pieces by state, else None.
        replayed: True when :meth:`Client.submit` got an existing job back for its Idempotency-Key.
        view: The whole JSON view, including members this version of the client does not know.
    """

    id: str
    status: str
    progress: Progress
    request: Dict[str, Any]
    created_at: Optional[str]
    started_at: Optional[str]
    finished_at: Optional[str]
    attempts: int
    cancel_requested: bool
    error: Optional[Dict[str, Any]]
    result: Optional[Dict[str, Any]] = field(repr=False)
    shards: Optional[Dict[str, int]]
    replayed: bool = False
    view: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_view(cls, view: Mapping[str, Any], replayed: bool = False) -> "Job":
        """Builds it from the service's job view (``jobViewSchema``)."""
        progress = view.get("progress") or {}
        return cls(
            id=str(view["id"]),
            status=str(view["status"]),
            progress=Progress(
                completed=float(progress.get("completed", 0)),
                total=float(progress.get("total", 0)),
                fraction=float(progress.get("fraction", 0)),
            ),
            request=dict(view.get("request") or {}),
            created_at=view.get("createdAt"),
            started_at=view.get("startedAt"),
            finished_at=view.get("finishedAt"),
            attempts=int(view.get("attempts", 0)),
            cancel_requested=bool(view.get("cancelRequested", False)),
            error=dict(view["error"]) if isinstance(view.get("error"), Mapping) else None,
            result=dict(view["result"]) if isinstance(view.get("result"), Mapping) else None,
            shards=dict(view["shards"]) if isinstance(view.get("shards"), Mapping) else None,
            replayed=replayed,
            view=dict(view),
        )

    @property
    def done(self) -> bool:
        """Whether the job is in a final status (succeeded, failed or cancelled)."""
        return self.status in FINAL_STATUSES

    @property
    def fraction(self) -> float:
        """Shorthand for ``progress.fraction``."""
        return self.progress.fraction

    def __str__(self) -> str:
        """The id."""
        return self.id


@dataclass(frozen=True)
class Artifact:
    """One result file of a succeeded job, as its view lists it (the array itself is in :attr:`Result.arrays`).

    Attributes:
        name: The file name, as the CLI writes it (``hessian.npy``, ``eigenvectors.npy``, ``kfac/0-dense/A.npy``).
        href: Its download path (``/v1/jobs/{id}/artifacts/{name}``, slashes of the name as ``%2F``).
        shape: The array's shape.
        dtype: The array's dtype (``float32``).
        bytes: The size of the .npy file.
        sha256: The file's sha256, checked after every download.
    """

    name: str
    href: str
    shape: Tuple[int, ...]
    dtype: str
    bytes: int
    sha256: str

    @classmethod
    def from_view(cls, entry: Mapping[str, Any]) -> "Artifact":
        """Builds it from one entry of a job view's ``result.artifacts``."""
        return cls(
            name=str(entry["name"]),
            href=str(entry["href"]),
            shape=tuple(int(n) for n in entry.get("shape", ())),
            dtype=str(entry.get("dtype", "")),
            bytes=int(entry.get("bytes", 0)),
            sha256=str(entry.get("sha256", "")),
        )


def parse_npy(content: bytes, artifact: Artifact) -> np.ndarray:
    """Checks a downloaded .npy against its listing (sha256, shape) and parses it without pickles.

    Raises:
        ValueError: The bytes are not the artifact the job lists (corrupted or truncated download).
    """
    if artifact.sha256 and hashlib.sha256(content).hexdigest() != artifact.sha256:
        raise ValueError(f"{artifact.name}: the download does not match the sha256 its job lists")
    array = np.load(io.BytesIO(content), allow_pickle=False)
    if not isinstance(array, np.ndarray):  # an .npz would load as NpzFile
        raise ValueError(f"{artifact.name}: not a single .npy array")
    if artifact.shape and tuple(array.shape) != artifact.shape:
        raise ValueError(f"{artifact.name}: shape {array.shape}, but its job lists {artifact.shape}")
    return array


class LazyArrays(Mapping[str, np.ndarray]):
    """A job's result arrays by artifact name, each downloaded on first access and then kept.

    The keys are the artifact names exactly as the job lists them (``"hessian.npy"``, ``"eigenvectors.npy"``,
    ``"kfac/0-dense/A.npy"``); a name may also be looked up without its ``.npy`` suffix (``arrays["hessian"]``).
    Listing the keys, ``len()`` and ``in`` download nothing; :meth:`load_all` downloads everything at once.
    Each download is checked against the sha256 and shape the job lists and parsed with
    ``numpy.load(..., allow_pickle=False)``: C-order ``float32`` arrays.
    """

    def __init__(self, artifacts: List[Artifact], fetch: Callable[[Artifact], np.ndarray]) -> None:
        """Wraps the job's artifacts; ``fetch`` downloads and parses one of them."""
        self._artifacts: Dict[str, Artifact] = {a.name: a for a in artifacts}
        self._fetch = fetch
        self._loaded: Dict[str, np.ndarray] = {}

    def _resolve(self, name: str) -> Optional[str]:
        if name in self._artifacts:
            return name
        if isinstance(name, str) and f"{name}.npy" in self._artifacts:
            return f"{name}.npy"
        return None

    def __getitem__(self, name: str) -> np.ndarray:
        """The array of artifact ``name`` (with or without ``.npy``), downloading it the first time."""
        key = self._resolve(name)
        if key is None:
            raise KeyError(f"{name!r}: the job has no such array (it has {', '.join(self._artifacts) or 'none'})")
        if key not in self._loaded:
            self._loaded[key] = self._fetch(self._artifacts[key])
        return self._loaded[key]

    def __contains__(self, name: object) -> bool:
        """Whether the job has an array of that name (with or without ``.npy``); downloads nothing."""
        return isinstance(name, str) and self._resolve(name) is not None

    def __iter__(self) -> Iterator[str]:
        """The artifact names, in the job's order."""
        return iter(self._artifacts)

    def __len__(self) -> int:
        """How many arrays the job has."""
        return len(self._artifacts)

    def load_all(self) -> Dict[str, np.ndarray]:
        """Downloads every array not downloaded yet; returns them all as a plain dict by artifact name."""
        return {name: self[name] for name in self._artifacts}

    def __repr__(self) -> str:
        """The names, marking those already downloaded."""
        names = ", ".join(f"{n}{'' if n in self._loaded else ' (not loaded)'}" for n in self._artifacts)
        return f"LazyArrays({names})"


@dataclass(frozen=True)
class Result:
    """The outcome of a succeeded job (:meth:`Client.result`).

    Attributes:
        status: ``"succeeded"`` (a failed or cancelled job raises :class:`HessianError` instead).
        method: The method that ran (``hessian``, ``trace``, ``eigen``, ...).
        num_params: P, the number of parameters the curvature is over.
        summary: The scalar results and small values (``trace``, ``eigenvalues``, ``standardError``, ``loss``,
            ...), as the job view's ``result.summary`` without its ``verification``.
        verification: The checks the service ran on the result: ``{"passed", "checks", "warnings", ...}``.
        arrays: The result arrays (``numpy.ndarray``) by artifact name, downloaded lazily on first access (see
            :class:`LazyArrays`; ``arrays.load_all()`` downloads them all).
        artifacts: The artifacts' listings (name, shape, dtype, bytes, sha256), without downloading.
        backend: The TF.js backend the worker used.
        timings: Seconds spent, by phase.
        job: The job's final view.
    """

    status: str
    method: str
    num_params: int
    summary: Dict[str, Any]
    verification: Dict[str, Any]
    arrays: LazyArrays = field(repr=False)
    artifacts: List[Artifact] = field(repr=False)
    backend: str
    timings: Dict[str, float]
    job: Job = field(repr=False)
