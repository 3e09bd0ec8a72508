"""wait(): long polling with ?wait=N, and plain polling at Retry-After when a service refuses the parameter."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, List, Tuple
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from requests.adapters import HTTPAdapter

from hessian_client import Client
from support import SECONDS_OF_WORK, Uploaded

class Recorder(HTTPAdapter):
    """Passes requests through, recording (time, method, URL); may refuse ?wait=N as an older service would."""

    def __init__(self, refuse_wait: bool = False) -> None:
        super().__init__()
        self.refuse_wait = refuse_wait
        self.calls: List[Tuple[float, str, str]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.calls.append((time.monotonic(), request.method or "", request.url or ""))
        if self.refuse_wait and request.method == "GET" and "wait" in parse_qs(urlparse(request.url or "").query):
            problem = {
                "type": "/problems/validation_failed",
                "title": "Bad Request",
                "status": 400,
                "code": "validation_failed",
                "detail": 'querystring must NOT have additional properties ("wait")',
                "errors": [{"path": "querystring.wait", "message": "unknown parameter", "code": "unrecognized_keys"}],
            }
            response = requests.Response()
            response.status_code = 400
            response.reason = "Bad Request"
            response.headers["Content-Type"] = "application/problem+json"
            response._content = json.dumps(problem).encode()
            response.url = request.url or ""
            response.request = request
            return response
        return super().send(request, **kwargs)

    def job_gets(self) -> List[Tuple[float, str]]:
        """(time, query) of every GET of a job view."""
        return [
            (t, urlparse(u).query)
            for t, m, u in self.calls
            if m == "GET" and "/v1/jobs/" in u and "/artifacts/" not in u
        ]


def recording_client(url: str, refuse_wait: bool = False) -> Tuple[Client, Recorder]:
    """A client whose every request goes through a Recorder."""
    recorder = Recorder(refuse_wait)
    session = requests.Session()
    session.mount("http://", recorder)
    session.mount("https://", recorder)
    return Client(url, api_key=os.environ.get("HESSIAN_API_KEY"), timeout=30, session=session), recorder


def test_a_refused_wait_parameter_falls_back_to_polling_at_retry_after(
    url: str, mlp: Uploaded, fresh_key: Callable[[], str]
) -> None:
    client, recorder = recording_client(url, refuse_wait=True)
    with client:
        job = client.submit(
            mlp.model, mlp.dataset, loss="mean_squared_error", method=SECONDS_OF_WORK, idempotency_key=fresh_key()
        )
        seen: List[float] = []
        done = client.wait(job, timeout=120, progress=lambda j: seen.append(j.fraction))
        assert done.status == "succeeded" and seen[-1] == 1.0

        gets = recorder.job_gets()
        assert ["wait=" in q for _, q in gets].count(True) == 1, gets  # asked once, then never again
        assert "wait=" in gets[0][1]
        plain = [t for t, q in gets if "wait=" not in q]
        assert len(plain) >= 2, gets  # the job took more than one poll
        gaps = [b - a for a, b in zip(plain, plain[1:])]
        assert min(gaps) >= 0.9, gaps  # the service's Retry-After: 1

        # A later wait on this client goes straight to plain polls.
        recorder.calls.clear()
        client.wait(job.id, timeout=30)
        assert all("wait=" not in q for _, q in recorder.job_gets())


def test_long_polling_answers_when_the_job_ends(url: str, mlp: Uploaded, fresh_key: Callable[[], str]) -> None:
    spec = requests.get(f"{url}/openapi.json", timeout=30).json()
    parameters = spec["paths"]["/v1/jobs/{id}"]["get"].get("parameters", [])
    if not any(p.get("in") == "query" and p.get("name") == "wait" for p in parameters):
        pytest.skip("this service does not offer GET /v1/jobs/{id}?wait=N yet (the fallback test covers it)")
    client, recorder = recording_client(url)
    with client:
        job = client.submit(
            mlp.model, mlp.dataset, loss="mean_squared_error", method=SECONDS_OF_WORK, idempotency_key=fresh_key()
        )
        started = time.monotonic()
        done = client.wait(job, timeout=120)
        elapsed = time.monotonic() - started
        assert done.status == "succeeded"
        gets = recorder.job_gets()
        assert all("wait=" in q for _, q in gets), gets
        # One long poll that returns as the job ends (two if the job outlasts the first one's 30 s), where plain
        # polling would have taken one request per second.
        assert len(gets) <= 1 + int(elapsed // 30), (elapsed, gets)
