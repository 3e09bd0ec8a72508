"""Fixtures for the client's tests, which run against a LIVE Hessian service named by HESSIAN_URL.

    HESSIAN_URL=http://127.0.0.1:3000 PYTHONPATH=clients/python python3 -m pytest -q clients/python/tests

(`npm start` serves one on :3000; test/integration/python-client.test.ts starts a private stack and runs this suite
against it.) Without HESSIAN_URL every test is skipped. HESSIAN_API_KEY is sent when the service has API_KEYS set.
The fixtures come from the repository: examples/tiny (15-parameter linear regression, MSE) and the float64
golden references under test/fixtures/golden and test/fixtures/onnx.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Callable, Dict, Iterator, List

import numpy as np
import pytest
import requests

from hessian_client import Client
from support import GOLDEN, TINY, Uploaded

HESSIAN_URL = os.environ.get("HESSIAN_URL", "").strip()
SKIP_REASON = (
    "HESSIAN_URL is not set: these tests need a live Hessian service (e.g. `npm start`, then "
    "HESSIAN_URL=http://127.0.0.1:3000); test/integration/python-client.test.ts starts one and runs them"
)

def pytest_report_header(config: pytest.Config) -> str:
    """Names the service under test."""
    return f"hessian service: {HESSIAN_URL or '(HESSIAN_URL unset: skipping)'}"


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Skips every test, with the reason, when no service is named."""
    if HESSIAN_URL:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def url() -> str:
    """The service's base URL."""
    return HESSIAN_URL.rstrip("/")


@pytest.fixture(scope="session")
def auth_headers() -> Dict[str, str]:
    """Headers for the raw requests some tests make around the client."""
    key = os.environ.get("HESSIAN_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.fixture(scope="session")
def client(url: str) -> Iterator[Client]:
    """A client for the service under test."""
    with Client(url, api_key=os.environ.get("HESSIAN_API_KEY"), timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def tiny(client: Client) -> Uploaded:
    """examples/tiny uploaded: Dense(3) on 4 features (P = 15), 6 examples, MSE."""
    inputs = np.load(TINY / "inputs.npy", allow_pickle=False)
    targets = np.load(TINY / "targets.npy", allow_pickle=False)
    return Uploaded(client.upload_model(TINY), client.upload_batch(inputs, targets), inputs, targets)


@pytest.fixture(scope="session")
def mlp(client: Client) -> Uploaded:
    """The mlp_tanh_mse golden case uploaded: Dense(6, tanh) -> Dense(3) (P = 51), MSE; for jobs that take seconds."""
    directory = GOLDEN / "mlp_tanh_mse"
    inputs = np.load(directory / "inputs.npy", allow_pickle=False)
    targets = np.load(directory / "targets.npy", allow_pickle=False)
    return Uploaded(client.upload_model(directory), client.upload_batch(inputs, targets), inputs, targets)


@pytest.fixture
def fresh_key() -> Callable[[], str]:
    """Makes Idempotency-Keys no earlier run used, for tests that need a job of their own on a long-lived service."""
    return lambda: f"pytest-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def job_ids(url: str, auth_headers: Dict[str, str]) -> Callable[[], List[str]]:
    """Lists the ids of the caller's jobs (every page of GET /v1/jobs)."""

    def list_ids() -> List[str]:
        ids: List[str] = []
        cursor = None
        while True:
            params: Dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = requests.get(f"{url}/v1/jobs", params=params, headers=auth_headers, timeout=30)
            page.raise_for_status()
            body = page.json()
            ids.extend(item["id"] for item in body["items"])
            cursor = body.get("nextCursor")
            if not cursor:
                return ids

    return list_ids
