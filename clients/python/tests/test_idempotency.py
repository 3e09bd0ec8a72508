"""Idempotency-Key: derived from the request's content by default, so the same request never computes twice."""

from __future__ import annotations

from typing import Callable, List

import pytest

from hessian_client import Client, HessianError, canonical_json, content_idempotency_key
from support import Uploaded


def test_the_same_request_twice_is_one_job_computed_once(
    client: Client, tiny: Uploaded, job_ids: Callable[[], List[str]]
) -> None:
    loss = {"name": "mean_squared_error", "reduction": "mean"}
    method = {"name": "trace", "estimator": "exact"}
    before = job_ids()
    first = client.submit(tiny.model, tiny.dataset, loss=loss, method=method, seed=11)
    after_first = job_ids()
    assert first.id in after_first
    # The same request, written differently (keys in another order, objects instead of ids): the same key.
    second = client.submit(
        tiny.model.id,
        tiny.dataset,
        method={"estimator": "exact", "name": "trace"},
        loss={"reduction": "mean", "name": "mean_squared_error"},
        seed=11,
    )
    assert second.id == first.id
    assert second.replayed is True
    assert job_ids() == after_first  # no second job
    assert len(after_first) - len(before) <= 1

    done = client.wait(second, timeout=60)
    assert done.attempts == 1
    # A re-run of the whole step (run = submit + wait + result) returns the same job's result.
    rerun = client.run(tiny.model, tiny.dataset, loss=loss, method=method, seed=11)
    assert rerun.job.id == first.id
    assert job_ids() == after_first

    # Any change to the request is another job.
    other = client.submit(tiny.model, tiny.dataset, loss=loss, method=method, seed=12)
    assert other.id != first.id


def test_the_derived_key_is_the_sha256_of_the_canonical_body() -> None:
    body = {"method": {"name": "hessian"}, "modelId": "m", "datasetId": "d", "loss": {"name": "huber", "delta": 0.5}}
    reordered = {"loss": {"delta": 0.5, "name": "huber"}, "datasetId": "d", "modelId": "m", "method": body["method"]}
    assert canonical_json(body) == canonical_json(reordered)
    assert canonical_json(body) == (
        b'{"datasetId":"d","loss":{"delta":0.5,"name":"huber"},"method":{"name":"hessian"},"modelId":"m"}'
    )
    key = content_idempotency_key(body)
    assert key == content_idempotency_key(reordered)
    assert key.startswith("hc-") and len(key) == 3 + 64
    assert key != content_idempotency_key({**body, "seed": 1})


def test_an_explicit_key_reused_for_another_request_is_a_409(
    client: Client, tiny: Uploaded, fresh_key: Callable[[], str]
) -> None:
    key = fresh_key()
    first = client.submit(tiny.model, tiny.dataset, loss="mean_squared_error", method="hessian", idempotency_key=key)
    assert first.replayed is False
    # The same key and request: the same job.
    assert client.submit(
        tiny.model, tiny.dataset, loss="mean_squared_error", method="hessian", idempotency_key=key
    ).id == first.id
    # The same key with another request: refused.
    with pytest.raises(HessianError) as caught:
        client.submit(tiny.model, tiny.dataset, loss="mean_squared_error", method="diagonal", idempotency_key=key)
    error = caught.value
    assert error.status == 409
    assert error.code == "idempotency_key_reused"
    assert error.problem["jobId"] == first.id
    assert error.problem["type"] == "/problems/idempotency_key_reused"
    client.wait(first, timeout=60)
