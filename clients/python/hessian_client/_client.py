"""The client: uploads, job submission with idempotency keys, waiting (long polling), results as numpy arrays."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import numpy as np
import requests
from numpy.typing import ArrayLike

from ._errors import HessianError, HessianTimeoutError
from ._types import Artifact, Dataset, Job, LazyArrays, Model, Result, StoredArray, parse_npy

__all__ = ["Client", "canonical_json", "content_idempotency_key"]

log = logging.getLogger("hessian_client")

#: A model: its id, or what :meth:`Client.upload_model` returned.
ModelRef = Union[str, Model]
#: A dataset: its id, or what :meth:`Client.upload_batch` returned.
DatasetRef = Union[str, Dataset]
#: The batch of a job: one dataset, or several whose examples together form the batch (``datasetIds``).
BatchRef = Union[str, Dataset, Sequence[Union[str, Dataset]]]
#: A job: its id, or a view of it.
JobRef = Union[str, Job]
#: An array, or arrays by input (output) name for models with several inputs (outputs).
Arrays = Union[ArrayLike, Mapping[str, ArrayLike]]
#: A loss or method: its name, or the full spec (``{"name": "eigen", "k": 5}``).
Spec = Union[str, Mapping[str, Any]]
#: Called with each new view of a job while :meth:`Client.wait` waits.
ProgressCallback = Callable[[Job], None]

_JSON = "application/json"
_OCTETS = "application/octet-stream"


def _jsonable(value: Any) -> Any:
    """json.dumps' fallback: numpy arrays and scalars as plain lists and numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON of a request body: sorted keys, no spaces, UTF-8, no NaN (numpy values as lists/numbers).

    Two bodies that mean the same request (keys in another order) give the same bytes.
    """
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_jsonable
    )
    return text.encode("utf-8")


def content_idempotency_key(body: Mapping[str, Any]) -> str:
    """The Idempotency-Key :meth:`Client.submit` derives from a request body.

    ``hc-`` + the hex sha256 of the body's :func:`canonical_json`.
    """
    return "hc-" + hashlib.sha256(canonical_json(body)).hexdigest()


def _id_of(value: Any, what: str) -> str:
    """An id string from an id or an object with an ``id`` (Model, Dataset, StoredArray, Job)."""
    if isinstance(value, str):
        if not value:
            raise ValueError(f"empty {what} id")
        return value
    ident = getattr(value, "id", None)
    if isinstance(ident, str) and ident:
        return ident
    raise TypeError(f"expected a {what} id or an object with an id, got {type(value).__name__}")


def _spec(value: Spec, what: str) -> Dict[str, Any]:
    """A loss or method spec from a name or a mapping."""
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{what} must be a name or a mapping such as {{'name': ...}}, got {type(value).__name__}")


def _npy(array: ArrayLike, label: str) -> bytes:
    """An array as .npy bytes: C order, no pickles (object arrays refused)."""
    a = np.ascontiguousarray(np.asarray(array))
    if a.dtype.hasobject:
        raise TypeError(f"{label}: object arrays cannot be uploaded; convert to a numeric dtype")
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _array_parts(prefix: str, arrays: Arrays) -> List[Tuple[str, Tuple[str, bytes, str]]]:
    """Multipart parts for ``inputs``/``targets``: one ``<prefix>`` part, or ``<prefix>.<name>`` per dict entry."""
    if isinstance(arrays, Mapping):
        if not arrays:
            raise ValueError(f"{prefix}: the dict of arrays is empty")
        parts = []
        for name, array in arrays.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"{prefix}: keys must be non-empty {prefix[:-1]} names (got {name!r})")
            field = f"{prefix}.{name}"
            parts.append((field, (f"{field}.npy", _npy(array, field), _OCTETS)))
        return parts
    return [(prefix, (f"{prefix}.npy", _npy(arrays, prefix), _OCTETS))]


def _retry_after(response: requests.Response, default: float) -> float:
    """Seconds a response's Retry-After asks for (delta-seconds or an HTTP date), or ``default``."""
    value = response.headers.get("Retry-After")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return default


def _problem_code(response: requests.Response) -> Optional[str]:
    """The ``code`` of a problem+json response, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


class Client:
    """A client for the Hessian service's REST API (``/v1``).

    Args:
        url: The service's base URL, e.g. ``"http://127.0.0.1:3000"``.
        api_key: Sent as ``Authorization: Bearer <key>`` when the service has ``API_KEYS`` set.
        timeout: Seconds to wait for a connection and for each response (a long poll adds its own wait).
        retries: How many times a request is retried after a connection error or timeout, a 429, a 503 or a
            409 ``idempotency_key_in_use``, waiting as ``Retry-After`` says (uploads are content-addressed and job
            submissions carry an Idempotency-Key, so every retry is safe).
        session: A ``requests.Session`` to use (proxies, TLS settings, adapters); one is made by default.

    Every method raises :class:`HessianError` for a non-2xx response (and, after the retries, for a connection
    error, with ``code`` ``"connection_error"``). A client can be used as a context manager, which closes its
    session.

    Example::

        hc = Client("http://127.0.0.1:3000")
        model = hc.upload_model("export/")                        # model.json + its shards, or a .onnx
        batch = hc.upload_batch(x, y)                             # numpy arrays (or dicts of them)
        result = hc.run(model, batch, loss="sparse_categorical_crossentropy",
                        method={"name": "eigen", "k": 5})
        result.summary["eigenvalues"], result.arrays["eigenvectors.npy"]
    """

    def __init__(
        self,
        url: str,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
        *,
        retries: int = 5,
        session: Optional[requests.Session] = None,
    ) -> None:
        """Sets up the client; nothing is sent until the first call."""
        from . import __version__

        if not url or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http(s) URL, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.session = session if session is not None else requests.Session()
        self._headers: Dict[str, str] = {
            "User-Agent": f"hessian-client/{__version__} python-requests/{requests.__version__}",
            "Accept": f"{_JSON}, application/problem+json;q=0.9, */*;q=0.1",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        # Whether GET /v1/jobs/{id}?wait=N may be used: None until known, False once the service refused it.
        self._long_poll: Optional[bool] = None

    def __repr__(self) -> str:
        """The URL (never the key)."""
        return f"Client({self.url!r})"

    def close(self) -> None:
        """Closes the HTTP session."""
        self.session.close()

    def __enter__(self) -> "Client":
        """Returns the client."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Closes the HTTP session."""
        self.close()

    # ----------------------------------------------------------------------------------------------- transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        data: Optional[bytes] = None,
        files: Optional[Sequence[Tuple[str, Tuple[str, bytes, str]]]] = None,
        headers: Optional[Mapping[str, str]] = None,
        extra_wait: float = 0.0,
    ) -> requests.Response:
        """Sends one request, retrying what is safe to retry; raises HessianError unless the answer is 2xx."""
        url = path if path.startswith(("http://", "https://")) else self.url + path
        all_headers = {**self._headers, **(headers or {})}
        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    files=list(files) if files is not None else None,
                    headers=all_headers,
                    timeout=(self.timeout, self.timeout + extra_wait),
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                if attempt < self.retries:
                    delay = min(0.5 * 2**attempt, 8.0)
                    log.debug("%s %s: %s; retrying in %.1f s", method, url, err, delay)
                    time.sleep(delay)
                    continue
                raise HessianError(None, "connection_error", f"{method} {url}: {err}") from err
            except requests.RequestException as err:
                raise HessianError(None, "connection_error", f"{method} {url}: {err}") from err
            status = response.status_code
            busy = status in (429, 503) or (status == 409 and _problem_code(response) == "idempotency_key_in_use")
            if busy and attempt < self.retries:
                delay = min(_retry_after(response, 1.0), 60.0)
                log.debug("%s %s: %s; retrying in %.1f s", method, url, status, delay)
                time.sleep(delay)
                continue
            if not 200 <= status < 300:
                raise HessianError.from_response(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    # ----------------------------------------------------------------------------------------------- uploads

    def upload_model(self, path: Union[str, "os.PathLike[str]"]) -> Model:
        """Uploads a model: a TF.js Layers model (model.json with its weight shards) or an ONNX file.

        Args:
            path: A directory holding ``model.json`` (or a single ``*.onnx`` file), the path of a ``model.json``,
                or the path of a ``.onnx`` file. For model.json the shard files are those its ``weightsManifest``
                lists, read relative to the model.json's directory; an ONNX file is sent alone (it holds its
                weights).

        Returns:
            The stored model (uploading the same bytes again gives the same id, with ``created`` False).

        Raises:
            FileNotFoundError: The path, a model.json in the directory, or a shard the manifest lists is missing.
            ValueError: model.json is not JSON or has no weightsManifest, or a directory holds several .onnx files.
            HessianError: The service refused the model (422 ``invalid_model``, ``unsupported_layer``, ...).
        """
        p = Path(path)
        if p.is_dir():
            if (p / "model.json").is_file():
                p = p / "model.json"
            else:
                onnx = sorted(f for f in p.iterdir() if f.suffix.lower() == ".onnx" and f.is_file())
                if len(onnx) != 1:
                    raise FileNotFoundError(
                        f"{p}: expected a model.json or exactly one .onnx file (found {len(onnx)} .onnx files)"
                    )
                p = onnx[0]
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such model file")
        content = p.read_bytes()
        files: List[Tuple[str, Tuple[str, bytes, str]]]
        if p.suffix.lower() == ".onnx":
            files = [("model", (p.name, content, _OCTETS))]
        else:
            files = [("model", ("model.json", content, _JSON))]
            for shard in self._manifest_paths(p, content):
                shard_path = p.parent / shard
                if not shard_path.is_file():
                    raise FileNotFoundError(f"{shard_path}: a weight shard {p.name} lists is missing")
                files.append(("weights", (shard, shard_path.read_bytes(), _OCTETS)))
        response = self._request("POST", "/v1/models", files=files)
        return Model.from_record(response.json(), created=response.status_code == 201)

    @staticmethod
    def _manifest_paths(path: Path, content: bytes) -> List[str]:
        """The shard paths a model.json's weightsManifest lists, in order, each once."""
        try:
            model_json = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ValueError(f"{path}: not a TF.js model.json ({err}); an ONNX model must end in .onnx") from err
        manifest = model_json.get("weightsManifest") if isinstance(model_json, dict) else None
        if not isinstance(manifest, list):
            raise ValueError(f"{path}: no weightsManifest; is this a TF.js Layers model.json?")
        paths: List[str] = []
        for group in manifest:
            for shard in (group or {}).get("paths", []) if isinstance(group, dict) else []:
                if isinstance(shard, str) and shard not in paths:
                    paths.append(shard)
        return paths

    def upload_batch(self, inputs: Arrays, targets: Arrays) -> Dataset:
        """Uploads a batch of examples and their targets as .npy parts.

        Args:
            inputs: The inputs (leading axis: examples), or for a model with several inputs a dict of arrays by
                input name (sent as parts ``inputs.<name>``).
            targets: The targets, or for a model with several outputs a dict by output name (``targets.<name>``).
                Anything ``numpy.asarray`` accepts; the dtype is kept (the service converts narrow ones).

        Returns:
            The stored dataset; identical arrays give the same id (``created`` False the second time).

        Raises:
            HessianError: The service refused the arrays (422 ``invalid_array``/``invalid_batch``: example
                counts differ, non-finite values, ...; 413 when over ``MAX_UPLOAD_BYTES``).
        """
        files = _array_parts("inputs", inputs) + _array_parts("targets", targets)
        response = self._request("POST", "/v1/datasets", files=files)
        return Dataset.from_record(response.json(), created=response.status_code == 201)

    def upload_array(self, array: ArrayLike) -> StoredArray:
        """Uploads a standalone array: the k×P vectors of ``hvp``, ``ggnvp``, ``fvp``, ``inverse_hvp`` or ``kfac``.

        :meth:`submit` does this itself when given ``vectors`` as an array; use this to reuse one upload.

        Returns:
            The stored array (content-addressed).
        """
        files = [("array", ("array.npy", _npy(array, "array"), _OCTETS))]
        response = self._request("POST", "/v1/arrays", files=files)
        return StoredArray.from_record(response.json(), created=response.status_code == 201)

    # ----------------------------------------------------------------------------------------------- jobs

    def submit(
        self,
        model: ModelRef,
        batch: BatchRef,
        loss: Spec,
        method: Spec,
        parameters: Optional[Union[Mapping[str, Any], Sequence[str]]] = None,
        seed: Optional[int] = None,
        execution: Optional[Union[Mapping[str, Any], int, str]] = None,
        vectors: Optional[Union[str, StoredArray, ArrayLike]] = None,
        idempotency_key: Optional[str] = None,
        callback: Optional[Mapping[str, str]] = None,
    ) -> Job:
        """Submits a curvature job (``POST /v1/jobs``); returns its first view (usually ``queued``).

        Args:
            model: The model (id or :class:`Model`).
            batch: The dataset (id or :class:`Dataset`), or a list of them whose examples together form the batch.
            loss: The loss name (``"mean_squared_error"``) or spec (``{"name": ..., "fromLogits": True}``).
            method: The method name (``"hessian"``) or spec (``{"name": "eigen", "k": 5}``).
            parameters: Which parameters: ``{"include": [...]}`` or a list of weight or layer names.
            seed: Seed of the random probes.
            execution: ``{"shards": N}`` (or just N, or ``"auto"``) to spread the job over workers.
            vectors: The k×P vectors of a product method: an uploaded array (id or :class:`StoredArray`), or an
                array, uploaded first (content-addressed, so the derived key stays the same).
            idempotency_key: The ``Idempotency-Key`` header. By default it is derived from the request itself,
                ``hc-`` + the sha256 of the body's canonical JSON, so submitting the same request again (a
                re-run pipeline step, a retry) returns the first job instead of computing again; within the
                service's 24 h window that holds even when that job failed or was cancelled, so pass your own
                key (e.g. ``str(uuid.uuid4())``) to force a new computation.
            callback: ``{"url": ..., "secret": ...}``: the service POSTs the final job view to ``url``, signed
                with ``Hessian-Signature: sha256=<hex HMAC-SHA256 of the body keyed with secret>`` (at least 16
                characters), retried with backoff. The URL's host must be on the service's allow-list
                (``CALLBACK_ALLOWED_HOSTS``); otherwise 422 ``callback_not_allowed``.

        Returns:
            The job's view; ``replayed`` is True when the key returned an existing job.

        Raises:
            HessianError: 404 (``model_not_found``, ``dataset_not_found``, ...), 400 ``validation_failed``,
                422 (the batch does not fit the model or loss, ...), 413 ``too_large``, 409
                ``idempotency_key_reused`` (the key was used for a different request; ``problem["jobId"]``).
        """
        body: Dict[str, Any] = {"modelId": _id_of(model, "model")}
        if isinstance(batch, (str, Dataset)):
            body["datasetId"] = _id_of(batch, "dataset")
        else:
            body["datasetIds"] = [_id_of(d, "dataset") for d in batch]
        body["loss"] = _spec(loss, "loss")
        body["method"] = _spec(method, "method")
        if parameters is not None:
            if isinstance(parameters, Mapping):
                body["parameters"] = dict(parameters)
            elif isinstance(parameters, str):
                body["parameters"] = {"include": [parameters]}
            else:
                body["parameters"] = {"include": list(parameters)}
        if seed is not None:
            body["seed"] = int(seed)
        if execution is not None:
            body["execution"] = dict(execution) if isinstance(execution, Mapping) else {"shards": execution}
        if vectors is not None:
            if isinstance(vectors, (str, StoredArray)):
                body["vectorsId"] = _id_of(vectors, "array")
            else:
                body["vectorsId"] = self.upload_array(vectors).id
        if callback is not None:
            body["callback"] = {"url": str(callback["url"]), "secret": str(callback["secret"])}
        data = canonical_json(body)
        key = idempotency_key if idempotency_key is not None else content_idempotency_key(body)
        response = self._request(
            "POST", "/v1/jobs", data=data, headers={"Content-Type": _JSON, "Idempotency-Key": key}
        )
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return Job.from_view(response.json(), replayed=replayed)

    def job(self, job: JobRef) -> Job:
        """A fresh view of a job (``GET /v1/jobs/{id}``)."""
        return Job.from_view(self._request("GET", self._job_path(job)).json())

    @staticmethod
    def _job_path(job: JobRef) -> str:
        return f"/v1/jobs/{quote(_id_of(job, 'job'), safe='')}"

    def _poll(self, job: JobRef, wait_seconds: int) -> Tuple[Job, requests.Response]:
        """One GET of a job, long-polling ``?wait=N`` when the service takes it; plain otherwise.

        A service that does not know ``wait`` yet may refuse it with a 400 naming it: then this client stops
        asking for it and polls plainly (its caller keeps to Retry-After). A service that ignores it answers at
        once, which the caller's Retry-After pacing covers too.
        """
        path = self._job_path(job)
        if wait_seconds > 0 and self._long_poll is not False:
            try:
                response = self._request("GET", path, params={"wait": wait_seconds}, extra_wait=wait_seconds)
                return Job.from_view(response.json()), response
            except HessianError as err:
                if err.status != 400 or "wait" not in json.dumps(err.problem).lower():
                    raise
                log.info("the service refused ?wait= (%s); polling instead", err.detail)
                self._long_poll = False
        response = self._request("GET", path)
        return Job.from_view(response.json()), response

    def wait(
        self,
        job: JobRef,
        timeout: float = 3600.0,
        progress: Optional[ProgressCallback] = None,
        *,
        long_poll: float = 30.0,
        progress_interval: float = 1.0,
    ) -> Job:
        """Waits until a job has finished; returns its final view if it succeeded.

        Uses long polling, ``GET /v1/jobs/{id}?wait=N``: the service answers as soon as the job is in a final state,
        or after N seconds. If the service refuses ``wait`` (400), it falls back to plain polling; either way it
        never asks more often than the ``Retry-After`` the service sends (1 s).

        Args:
            job: The job (id or view). A final view is returned (or raised) without asking the service again.
            timeout: Seconds to wait in all before giving up.
            progress: Called with the job's view first and then whenever its status or progress changes
                (``view.progress.fraction`` in [0, 1]); an exception it raises stops the wait.
            long_poll: Longest single wait asked of the service (seconds, at most 60).
            progress_interval: With ``progress``, the longest single wait, so progress is seen that often.

        Returns:
            The job's final view (``status == "succeeded"``; ``result`` holds the summary and artifact list).

        Raises:
            HessianError: The job ended ``failed`` or ``cancelled`` (``code`` is its ``error.code``, e.g.
                ``cancelled``, ``timeout``, ``upload_missing``; ``job`` its final view), or a request failed.
            HessianTimeoutError: ``timeout`` passed first (``code`` ``wait_timeout``); the job goes on.
        """
        deadline = time.monotonic() + timeout
        longest = min(60.0, long_poll, progress_interval if progress is not None else long_poll)
        last: Optional[Tuple[Any, ...]] = None
        view: Optional[Job] = job if isinstance(job, Job) and job.done else None
        while True:
            started = time.monotonic()
            response: Optional[requests.Response] = None
            if view is None:
                remaining = deadline - started
                seconds = int(max(0.0, min(longest, math.floor(remaining))))
                view, response = self._poll(job, seconds)
            state = (view.status, view.progress.completed, view.progress.total, view.cancel_requested)
            if progress is not None and state != last:
                progress(view)
            last = state
            if view.status == "succeeded":
                return view
            if view.status in ("failed", "cancelled"):
                raise HessianError.from_job(view)
            now = time.monotonic()
            if now >= deadline:
                raise HessianTimeoutError(
                    None,
                    "wait_timeout",
                    f"job {view.id} still {view.status} after {timeout:g} s",
                    title="Wait timed out",
                    job=view,
                )
            pause = _retry_after(response, 1.0) if response is not None else 1.0
            time.sleep(max(0.0, min(pause - (now - started), deadline - now)))
            view = None

    def result(self, job: JobRef, timeout: float = 3600.0) -> Result:
        """The result of a job, waiting for it first (see :meth:`wait`) when it has not finished.

        Args:
            job: The job (id or view).
            timeout: Seconds to wait for an unfinished job.

        Returns:
            The result: ``status``, ``summary`` (scalars such as ``trace`` or ``eigenvalues``), ``verification``
            and ``arrays``, the result arrays as ``numpy.ndarray`` by artifact name (``"hessian.npy"``). Arrays are
            downloaded lazily, each on first access and then kept (``result.arrays.load_all()`` fetches all);
            each download is checked against the sha256 the job lists. Results expire on the service
            (``RESULT_TTL_SECONDS``, 7 days by default), so read the arrays you need soon.

        Raises:
            HessianError: The job failed or was cancelled, or a request failed.
            HessianTimeoutError: The job did not finish within ``timeout``.
        """
        view = job if isinstance(job, Job) and job.status == "succeeded" and job.result else None
        if view is None:
            view = self.wait(job, timeout=timeout)
        outcome = dict(view.result or {})
        summary = dict(outcome.get("summary") or {})
        verification = summary.pop("verification", None) or outcome.get("verification") or {}
        artifacts = [Artifact.from_view(a) for a in outcome.get("artifacts") or []]
        return Result(
            status=view.status,
            method=str(outcome.get("method", "")),
            num_params=int(outcome.get("numParams", 0)),
            summary=summary,
            verification=dict(verification),
            arrays=LazyArrays(artifacts, self._download),
            artifacts=artifacts,
            backend=str(outcome.get("backend", "")),
            timings=dict(outcome.get("timings") or {}),
            job=view,
        )

    def _download(self, artifact: Artifact) -> np.ndarray:
        """Downloads one artifact and parses it (checked against its listing)."""
        response = self._request("GET", artifact.href, headers={"Accept": f"{_OCTETS}, application/problem+json"})
        try:
            return parse_npy(response.content, artifact)
        except ValueError as err:
            raise HessianError(None, "invalid_artifact", str(err)) from err

    def download(self, job: JobRef, name: str) -> np.ndarray:
        """Downloads one result array of a succeeded job by artifact name (``"hessian.npy"`` or ``"hessian"``).

        Raises:
            KeyError: The job has no artifact of that name.
            HessianError: The job has not succeeded (``job_not_succeeded``, or its failure), or a request failed.
        """
        view = job if isinstance(job, Job) and job.result else self.job(job)
        if view.status != "succeeded":
            if view.status in ("failed", "cancelled"):
                raise HessianError.from_job(view)
            raise HessianError(None, "job_not_succeeded", f"job {view.id} is {view.status}", job=view)
        return self.result(view).arrays[name]

    def cancel(self, job: JobRef) -> Job:
        """Cancels a job (``DELETE /v1/jobs/{id}``); returns its view.

        A queued job is cancelled at once (``status`` ``cancelled``); a running one stops at its next unit of work
        (the view shows ``cancel_requested``; :meth:`wait` then raises HessianError with code ``cancelled``).

        Raises:
            HessianError: 409 ``job_finished`` when it had already finished (``problem["jobStatus"]``), 404.
        """
        return Job.from_view(self._request("DELETE", self._job_path(job)).json())

    def run(
        self,
        model: ModelRef,
        batch: BatchRef,
        loss: Spec,
        method: Spec,
        parameters: Optional[Union[Mapping[str, Any], Sequence[str]]] = None,
        seed: Optional[int] = None,
        execution: Optional[Union[Mapping[str, Any], int, str]] = None,
        vectors: Optional[Union[str, StoredArray, ArrayLike]] = None,
        idempotency_key: Optional[str] = None,
        callback: Optional[Mapping[str, str]] = None,
        *,
        timeout: float = 3600.0,
        progress: Optional[ProgressCallback] = None,
    ) -> Result:
        """Submits a job, waits for it and returns its result: :meth:`submit`, :meth:`wait`, :meth:`result`.

        The arguments are those of :meth:`submit`, plus ``timeout`` and ``progress`` of :meth:`wait`. Running the
        same request again returns the first job's result without computing again (the derived Idempotency-Key).
        """
        submitted = self.submit(
            model,
            batch,
            loss,
            method,
            parameters=parameters,
            seed=seed,
            execution=execution,
            vectors=vectors,
            idempotency_key=idempotency_key,
            callback=callback,
        )
        return self.result(self.wait(submitted, timeout=timeout, progress=progress))
