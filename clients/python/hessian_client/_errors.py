"""The one exception the client raises for anything the service (or the way to it) refused."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from requests.structures import CaseInsensitiveDict

if TYPE_CHECKING:  # pragma: no cover
    import requests

    from ._types import Job

__all__ = ["HessianError", "HessianTimeoutError"]


class HessianError(Exception):
    """An error from the Hessian service, or a job that did not succeed.

    Raised for every non-2xx response, carrying the RFC 9457 problem document the service answered with
    (``application/problem+json``), and by :meth:`Client.wait` / :meth:`Client.result` for a job that ended
    ``failed`` or ``cancelled``. Branch on :attr:`code`, which is stable; :attr:`detail` says what to fix.

    Attributes:
        status: The HTTP status (e.g. 404, 409, 422); ``None`` when there was no HTTP error: a job that failed or
            was cancelled, a connection that could not be made, or a wait that timed out.
        code: The stable machine-readable code: the problem's ``code`` (``model_not_found``,
            ``idempotency_key_reused``, ``validation_failed``, ...), a failed job's ``error.code`` (``cancelled``,
            ``timeout``, ``upload_missing``, ``invalid_batch``, ...), ``connection_error`` or ``wait_timeout``.
        title: The problem's short title (``"Not Found"``), or ``None``.
        detail: What went wrong, in words (the problem's ``detail``, or the job's ``error.message``).
        message: The whole one-line message (also ``str(error)``).
        problem: The whole problem document as a dict (extension members included, e.g. ``errors`` for a
            validation failure or ``jobId`` for a reused idempotency key); for a job, its ``error`` object.
        job: The job's last view when the error is about a job's outcome (failed, cancelled, wait timed out).
        headers: The response headers, when there was a response (case-insensitive: ``headers["retry-after"]``).
    """

    status: Optional[int]
    code: str
    title: Optional[str]
    detail: str
    problem: Dict[str, Any]
    job: Optional["Job"]
    headers: "CaseInsensitiveDict[str]"

    def __init__(
        self,
        status: Optional[int],
        code: str,
        detail: str,
        *,
        title: Optional[str] = None,
        problem: Optional[Mapping[str, Any]] = None,
        job: Optional["Job"] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        """Builds the error; use :meth:`from_response` or :meth:`from_job` rather than calling this directly."""
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.problem = dict(problem) if problem is not None else {"code": code, "detail": detail}
        self.job = job
        self.headers = CaseInsensitiveDict(headers or {})
        prefix = f"{status} {code}" if status is not None else code
        super().__init__(f"{prefix}: {detail}" if detail else prefix)

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickles with every field (so the error crosses process boundaries, e.g. from a multiprocessing pool)."""
        return (self.__class__, (self.status, self.code, self.detail), self.__dict__.copy())

    @property
    def message(self) -> str:
        """The one-line message: ``"<status> <code>: <detail>"`` (``"<code>: <detail>"`` without a status)."""
        return str(self)

    @classmethod
    def from_response(cls, response: "requests.Response") -> "HessianError":
        """The error for a non-2xx response: its problem+json document, or its text when it is not JSON."""
        problem: Dict[str, Any]
        try:
            parsed = response.json()
            problem = parsed if isinstance(parsed, dict) else {"detail": json.dumps(parsed)[:1000]}
        except ValueError:
            problem = {"detail": (response.text or "").strip()[:1000]}
        status = response.status_code
        code = problem.get("code")
        detail = problem.get("detail")
        title = problem.get("title")
        return cls(
            status,
            code if isinstance(code, str) and code else f"http_{status}",
            detail if isinstance(detail, str) and detail else (response.reason or f"HTTP {status}"),
            title=title if isinstance(title, str) else (response.reason or None),
            problem=problem,
            headers=response.headers,
        )

    @classmethod
    def from_job(cls, job: "Job") -> "HessianError":
        """The error for a job that ended ``failed`` or ``cancelled``: its ``error.code`` and ``error.message``."""
        error = dict(job.error or {})
        code = error.get("code") or job.status
        message = error.get("message") or f"the job {job.status}"
        return cls(
            None,
            str(code),
            f"job {job.id} {job.status}: {message}",
            title=f"Job {job.status}",
            problem=error or {"code": code, "message": message},
            job=job,
        )


class HessianTimeoutError(HessianError, TimeoutError):
    """:meth:`Client.wait` ran out of time before the job finished (the job goes on; ``job`` is its last view).

    A :class:`HessianError` with ``status`` ``None`` and ``code`` ``"wait_timeout"``, and also a
    :class:`TimeoutError`, so either ``except`` catches it.
    """
