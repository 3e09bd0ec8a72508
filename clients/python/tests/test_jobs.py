"""Jobs end to end: results against float64 goldens, arrays, progress, cancellation, failures, time-outs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import pytest
import requests

from hessian_client import Client, HessianError, HessianTimeoutError, Job
from support import LONG_JOB, SECONDS_OF_WORK, TINY, Uploaded, golden_case, load_arrays, relative_error

#: Tolerance of a float32 result against its float64 golden: ‖H − H_golden‖_F / ‖H_golden‖_F ≤ 1e-5 (the engine's
#: own golden tests reach about 1e-7 on these models).
GOLDEN_RTOL = 1e-5


def test_dense_hessian_of_tiny_matches_its_float64_golden(client: Client, tiny: Uploaded) -> None:
    golden = golden_case("linear_regression_mse")  # examples/tiny is this golden case's model and batch
    assert (TINY / "model.json").read_bytes() == (golden["dir"] / "model.json").read_bytes()

    result = client.run(tiny.model, tiny.dataset, loss="mean_squared_error", method="hessian")

    assert result.status == "succeeded"
    assert result.method == "hessian" and result.num_params == 15
    assert result.verification["passed"] is True
    assert "verification" not in result.summary and result.summary["blocks"] == "full"
    assert list(result.arrays) == ["hessian.npy"]
    assert [(a.name, a.shape, a.dtype) for a in result.artifacts] == [("hessian.npy", (15, 15), "float32")]
    hessian = result.arrays["hessian.npy"]
    assert isinstance(hessian, np.ndarray)
    assert hessian.shape == (15, 15) and hessian.dtype == np.float32
    assert relative_error(hessian, golden["hessian"]) <= GOLDEN_RTOL
    np.testing.assert_array_equal(hessian, hessian.T)  # symmetrized by the service
    # The same array by its short name, downloaded once and kept; and through download().
    assert result.arrays["hessian"] is hessian
    np.testing.assert_array_equal(client.download(result.job, "hessian.npy"), hessian)
    with pytest.raises(KeyError):
        result.arrays["ggn.npy"]


def test_exact_trace_of_tiny_is_the_trace_of_the_golden_hessian(client: Client, tiny: Uploaded) -> None:
    golden = golden_case("linear_regression_mse")
    method = {"name": "trace", "estimator": "exact"}
    result = client.run(tiny.model, tiny.dataset, loss="mean_squared_error", method=method)
    expected = float(np.trace(golden["hessian"]))  # 9.136...
    assert result.summary["trace"] == pytest.approx(expected, rel=GOLDEN_RTOL)
    assert result.summary["estimator"] == "exact"
    assert len(result.arrays) == 0  # a trace is a scalar: no arrays


def test_multi_input_multi_output_model_from_dicts_matches_its_golden(client: Client) -> None:
    golden = golden_case("multi_io_two_outputs")  # inputs a, b; outputs cls (CCE) and reg (MSE, weight 0.5)
    directory: Path = golden["dir"]
    model = client.upload_model(directory)
    dataset = client.upload_batch(load_arrays(directory, "inputs"), load_arrays(directory, "targets"))
    result = client.run(model, dataset, loss=golden["loss"], method="hessian")
    hessian = result.arrays["hessian.npy"]
    assert hessian.shape == (73, 73) and hessian.dtype == np.float32
    assert relative_error(hessian, golden["hessian"]) <= GOLDEN_RTOL


def test_onnx_model_hessian_matches_its_golden(client: Client) -> None:
    golden = golden_case("onnx_mlp")
    model = client.upload_model(golden["dir"] / "model.onnx")
    dataset = client.upload_batch(np.load(golden["dir"] / "inputs.npy"), np.load(golden["dir"] / "targets.npy"))
    result = client.run(model, dataset, loss=golden["loss"], method="hessian")
    assert relative_error(result.arrays["hessian"], golden["hessian"]) <= GOLDEN_RTOL


def test_progress_is_reported_as_it_changes_and_never_goes_back(
    client: Client, mlp: Uploaded, fresh_key: Callable[[], str]
) -> None:
    seen: List[Job] = []
    job = client.submit(
        mlp.model,
        mlp.dataset,
        loss="mean_squared_error",
        method=SECONDS_OF_WORK,
        seed=3,
        idempotency_key=fresh_key(),
    )
    final = client.wait(job, timeout=120, progress=seen.append)

    probes = SECONDS_OF_WORK["probes"]
    assert final.status == "succeeded"
    assert len(seen) >= 2, [(j.status, j.fraction) for j in seen]
    assert seen[0].status in ("queued", "running") and seen[0].fraction < 1
    assert seen[-1].status == "succeeded" and seen[-1].fraction == 1.0
    assert seen[-1].progress.completed == seen[-1].progress.total == probes
    fractions = [j.fraction for j in seen]
    assert fractions == sorted(fractions), fractions
    assert all(0.0 <= f <= 1.0 for f in fractions)
    # Called on changes only: no two consecutive calls see the same state.
    states = [(j.status, j.progress.completed) for j in seen]
    assert all(a != b for a, b in zip(states, states[1:])), states

    # The estimated diagonal and its standard errors, against the exact diagonal of the golden Hessian.
    result = client.result(final)
    assert sorted(result.arrays) == ["diagonal.npy", "diagonal_stderr.npy"]
    arrays = result.arrays.load_all()
    assert {name: (a.shape, a.dtype) for name, a in arrays.items()} == {
        "diagonal.npy": ((51,), np.dtype(np.float32)),
        "diagonal_stderr.npy": ((51,), np.dtype(np.float32)),
    }
    assert result.summary["probes"] == probes
    exact = np.diag(golden_case("mlp_tanh_mse")["hessian"])
    stderr = arrays["diagonal_stderr.npy"].astype(np.float64)
    assert np.all(stderr >= 0) and float(np.max(stderr)) < 0.1 * float(np.max(np.abs(exact)))
    # Within 6 standard errors of the exact values (plus float32 rounding).
    assert np.all(np.abs(arrays["diagonal.npy"] - exact) <= 6 * stderr + 1e-5 * np.abs(exact) + 1e-6)


def test_wait_times_out_then_cancel_stops_the_job_and_wait_raises(
    client: Client, mlp: Uploaded, fresh_key: Callable[[], str]
) -> None:
    job = client.submit(mlp.model, mlp.dataset, "mean_squared_error", LONG_JOB, idempotency_key=fresh_key())
    # Until it is running (so the cancellation reaches the compute child, not the queue).
    deadline = time.monotonic() + 60
    while job.status == "queued" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.job(job)
    assert job.status == "running"

    started = time.monotonic()
    with pytest.raises(HessianTimeoutError) as timed_out:
        client.wait(job, timeout=1.5)
    assert 1.2 <= time.monotonic() - started < 10
    assert isinstance(timed_out.value, HessianError) and isinstance(timed_out.value, TimeoutError)
    assert timed_out.value.code == "wait_timeout" and timed_out.value.status is None
    assert timed_out.value.job is not None and timed_out.value.job.status == "running"

    cancelled = client.cancel(job)
    assert cancelled.id == job.id and cancelled.cancel_requested is True
    with pytest.raises(HessianError) as caught:
        client.wait(job, timeout=30)
    error = caught.value
    assert error.code == "cancelled" and error.status is None
    assert error.job is not None and error.job.status == "cancelled"
    assert error.job.progress.completed < 100000
    assert error.problem["code"] == "cancelled"
    with pytest.raises(HessianError) as again:
        client.result(job)
    assert again.value.code == "cancelled"
    # Cancelling a finished job is a 409 with the job's status.
    with pytest.raises(HessianError) as finished:
        client.cancel(job)
    assert (finished.value.status, finished.value.code) == (409, "job_finished")
    assert finished.value.problem["jobStatus"] == "cancelled"


def test_a_job_that_fails_raises_its_error_code(
    client: Client,
    tiny: Uploaded,
    mlp: Uploaded,
    url: str,
    auth_headers: Dict[str, str],
    tmp_path: Path,
    fresh_key: Callable[[], str],
) -> None:
    # A model of its own (same weights, another id), deleted while its job waits behind a long one: the job fails
    # with upload_missing when the worker takes it.
    model_json = json.loads((TINY / "model.json").read_text())
    model_json["generatedBy"] = fresh_key()
    (tmp_path / "model.json").write_text(json.dumps(model_json))
    (tmp_path / "group1-shard1of1.bin").write_bytes((TINY / "group1-shard1of1.bin").read_bytes())
    doomed_model = client.upload_model(tmp_path)
    assert doomed_model.id != tiny.model.id

    blocker = client.submit(mlp.model, mlp.dataset, "mean_squared_error", LONG_JOB, idempotency_key=fresh_key())
    doomed = client.submit(doomed_model, tiny.dataset, loss="mean_squared_error", method="hessian")
    deleted = requests.delete(f"{url}/v1/models/{doomed_model.id}", headers=auth_headers, timeout=30)
    assert deleted.status_code in (200, 204), deleted.text
    try:
        still = client.job(doomed)
        if still.status != "queued":
            pytest.skip("the service ran the job before its model was deleted (more than one worker slot)")
    finally:
        client.cancel(blocker)

    with pytest.raises(HessianError) as caught:
        client.wait(doomed, timeout=60)
    assert caught.value.code == "upload_missing"
    assert caught.value.job is not None and caught.value.job.status == "failed"
    assert caught.value.job.error is not None and caught.value.job.error["code"] == "upload_missing"
    assert doomed.id in str(caught.value)
