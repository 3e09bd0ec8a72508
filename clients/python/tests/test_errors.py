"""HessianError: every non-2xx answer, with the problem+json document's fields."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from hessian_client import Client, HessianError
from support import Uploaded


def test_an_unknown_model_is_a_404_with_its_code(client: Client, tiny: Uploaded) -> None:
    missing = "0" * 32
    with pytest.raises(HessianError) as caught:
        client.submit(missing, tiny.dataset, loss="mean_squared_error", method="hessian")
    error = caught.value
    assert error.status == 404
    assert error.code == "model_not_found"
    assert error.title == "Not Found"
    assert missing in error.detail
    assert error.problem["type"] == "/problems/model_not_found"
    assert error.problem["status"] == 404 and error.problem["code"] == "model_not_found"
    assert str(error).startswith("404 model_not_found: ") and error.message == str(error)
    assert error.headers.get("Content-Type", "").startswith("application/problem+json")
    assert isinstance(error, Exception)
    # Picklable with its fields (errors cross process boundaries in multiprocessing pipelines).
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status, copy.code, copy.detail) == (error.status, error.code, error.detail)
    assert copy.problem == error.problem


def test_an_unknown_job_is_a_404(client: Client) -> None:
    with pytest.raises(HessianError) as caught:
        client.job("no-such-job")
    assert (caught.value.status, caught.value.code) == (404, "job_not_found")
    with pytest.raises(HessianError) as caught:
        client.cancel("no-such-job")
    assert caught.value.code == "job_not_found"


def test_an_invalid_request_is_a_400_listing_each_field(client: Client, tiny: Uploaded) -> None:
    with pytest.raises(HessianError) as caught:
        client.submit(tiny.model, tiny.dataset, loss="mean_squared_error", method={"name": "eigen", "k": 0})
    error = caught.value
    assert (error.status, error.code) == (400, "validation_failed")
    assert [e["path"] for e in error.problem["errors"]] == ["body.method.k"]


def test_a_batch_that_does_not_fit_the_model_is_a_422_with_details(client: Client, tiny: Uploaded) -> None:
    wrong = client.upload_batch(np.zeros((6, 5), np.float32), np.zeros((6, 3), np.float32))
    with pytest.raises(HessianError) as caught:
        client.submit(tiny.model, wrong, loss="mean_squared_error", method="hessian")
    error = caught.value
    assert (error.status, error.code) == (422, "invalid_batch")
    assert error.problem["details"]["expected"] == [6, 4]


def test_an_unreachable_service_is_a_connection_error() -> None:
    with Client("http://127.0.0.1:1", retries=0, timeout=5) as nowhere:
        with pytest.raises(HessianError) as caught:
            nowhere.job("x")
    assert caught.value.status is None
    assert caught.value.code == "connection_error"


def test_a_callback_off_the_allow_list_is_a_422(client: Client, tiny: Uploaded) -> None:
    # The test service has no CALLBACK_ALLOWED_HOSTS: every callback is refused before anything is queued.
    hook = {"url": "https://hooks.example.com/done", "secret": "s" * 32}
    with pytest.raises(HessianError) as caught:
        client.submit(tiny.model, tiny.dataset, loss="mean_squared_error", method="trace", callback=hook)
    assert (caught.value.status, caught.value.code) == (422, "callback_not_allowed")
    assert "CALLBACK_ALLOWED_HOSTS" in caught.value.detail
