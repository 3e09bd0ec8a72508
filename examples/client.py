"""A small client for the Hessian service, as a training pipeline would use it (requests + numpy).

    from client import HessianClient
    hc = HessianClient("http://127.0.0.1:3000", api_key=None)
    model_id = hc.upload_model("export/model.json")          # model.json + the shards it lists
    data_id = hc.upload_batch(x_batch, y_batch)               # numpy arrays
    job = hc.run(model_id, data_id, loss={"name": "sparse_categorical_crossentropy"},
                 method={"name": "eigen", "k": 5})
    print(job["result"]["summary"]["eigenvalues"])
    vecs = hc.download(job, "eigenvectors.npy")               # numpy array

Run as a script to try it on a model directory and an .npz holding `inputs` and `targets`:

    python examples/client.py http://127.0.0.1:3000 path/to/model.json batch.npz --method hessian
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
import uuid

import numpy as np
import requests


class HessianServiceError(RuntimeError):
    """An RFC 9457 problem returned by the service: `code` is stable, `detail` says what to fix."""

    def __init__(self, status: int, problem: dict):
        self.status = status
        self.code = problem.get("code", "unknown")
        self.problem = problem
        super().__init__(f"{status} {self.code}: {problem.get('detail', problem)}")


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


class HessianClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout

    def _call(self, method: str, path: str, retries: int = 5, **kwargs) -> requests.Response:
        """Sends a request; waits and retries on 503 (Redis briefly unavailable) as its Retry-After says."""
        for attempt in range(retries + 1):
            response = self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
            if response.status_code == 503 and attempt < retries:
                time.sleep(float(response.headers.get("Retry-After", "2")))
                continue
            if response.status_code >= 400:
                try:
                    problem = response.json()
                except ValueError:
                    problem = {"detail": response.text}
                raise HessianServiceError(response.status_code, problem)
            return response
        raise AssertionError("unreachable")

    def upload_model(self, model_json_path: str) -> str:
        """Uploads a TF.js Layers model (model.json and the shard files next to it); returns its id."""
        with open(model_json_path, "rb") as f:
            model_json = f.read()
        directory = os.path.dirname(os.path.abspath(model_json_path))
        shards = [p for group in json.loads(model_json)["weightsManifest"] for p in group["paths"]]
        files = [("model", ("model.json", model_json, "application/json"))]
        for shard in shards:
            with open(os.path.join(directory, shard), "rb") as f:
                files.append(("weights", (os.path.basename(shard), f.read(), "application/octet-stream")))
        return self._call("POST", "/v1/models", files=files).json()["id"]

    def upload_batch(self, inputs: np.ndarray, targets: np.ndarray) -> str:
        """Uploads a batch as two .npy files; returns its id (identical data gives the same id)."""
        files = [
            ("inputs", ("inputs.npy", _npy_bytes(inputs), "application/octet-stream")),
            ("targets", ("targets.npy", _npy_bytes(targets), "application/octet-stream")),
        ]
        return self._call("POST", "/v1/datasets", files=files).json()["id"]

    def upload_vectors(self, vectors: np.ndarray) -> str:
        """Uploads k×P vectors for hvp / ggnvp / inverse_hvp; pass the id as `vectors_id` to `submit`."""
        files = [("array", ("vectors.npy", _npy_bytes(np.asarray(vectors, np.float32)), "application/octet-stream"))]
        return self._call("POST", "/v1/arrays", files=files).json()["id"]

    def submit(self, model_id: str, dataset_id: str, loss: dict, method: dict, parameters: dict | None = None,
               vectors_id: str | None = None, seed: int | None = None, idempotency_key: str | None = None) -> dict:
        """Submits a job. The Idempotency-Key makes a retried submission return the first job, never a second one."""
        body = {"modelId": model_id, "datasetId": dataset_id, "loss": loss, "method": method}
        if parameters is not None:
            body["parameters"] = parameters
        if vectors_id is not None:
            body["vectorsId"] = vectors_id
        if seed is not None:
            body["seed"] = seed
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return self._call("POST", "/v1/jobs", json=body, headers=headers).json()

    def wait(self, job_id: str, timeout: float = 3600.0, on_progress=None) -> dict:
        """Polls until the job has finished; raises on failure or cancellation."""
        deadline = time.monotonic() + timeout
        while True:
            response = self._call("GET", f"/v1/jobs/{job_id}")
            job = response.json()
            if on_progress:
                on_progress(job)
            if job["status"] == "succeeded":
                return job
            if job["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(float(response.headers.get("Retry-After", "1")))

    def run(self, model_id: str, dataset_id: str, loss: dict, method: dict, **kwargs) -> dict:
        """Submits and waits."""
        return self.wait(self.submit(model_id, dataset_id, loss, method, **kwargs)["id"])

    def download(self, job: dict, name: str) -> np.ndarray:
        """Downloads one result array (e.g. "hessian.npy") as a numpy array."""
        artifact = next(a for a in job["result"]["artifacts"] if a["name"] == name)
        response = self._call("GET", artifact["href"])
        return np.load(io.BytesIO(response.content), allow_pickle=False)

    def cancel(self, job_id: str) -> dict:
        return self._call("DELETE", f"/v1/jobs/{job_id}").json()


def print_verification(summary: dict) -> None:
    """Prints whether the result passed its checks, each check, and every warning (a result that failed a check
    is still returned: e.g. inverse_hvp on an indefinite matrix, with summary.converged false)."""
    verification = summary.get("verification", {})
    print("verification passed:", verification.get("passed"))
    for check in verification.get("checks", []):
        if check.get("approximation"):
            status = "estimate"
        elif check.get("inconclusive"):
            status = "inconclusive"
        else:
            status = "ok" if check["passed"] else "FAILED"
        value = "n/a" if check.get("value") is None else f"{check['value']:.3g}"
        limit = "" if check.get("tolerance") is None else f" (tolerance {check['tolerance']:.3g})"
        print(f"  {check['name']:22s} {status:12s} {value}{limit}: {check.get('detail', '')}")
    if "converged" in summary:
        print("converged:", summary["converged"])
    for warning in ([summary["warning"]] if summary.get("warning") else []) + verification.get("warnings", []):
        print("warning:", warning)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("model_json")
    parser.add_argument("batch_npz", help=".npz holding inputs and targets")
    parser.add_argument("--loss", default="mean_squared_error")
    parser.add_argument("--method", default="hessian")
    parser.add_argument("--api-key", default=os.environ.get("HESSIAN_API_KEY"))
    args = parser.parse_args()

    hc = HessianClient(args.url, api_key=args.api_key)
    batch = np.load(args.batch_npz)
    model_id = hc.upload_model(args.model_json)
    dataset_id = hc.upload_batch(batch["inputs"], batch["targets"])
    progress = lambda job: print(f"  {job['status']:9s} {100 * job['progress']['fraction']:5.1f}%")
    job = hc.wait(hc.submit(model_id, dataset_id, {"name": args.loss}, {"name": args.method})["id"],
                  on_progress=progress)
    summary = {k: v for k, v in job["result"]["summary"].items() if k != "verification"}
    print("summary:", json.dumps(summary)[:500])
    print_verification(job["result"]["summary"])
    for artifact in job["result"]["artifacts"]:
        array = hc.download(job, artifact["name"])
        print(f"{artifact['name']}: shape {array.shape}, dtype {array.dtype}")


if __name__ == "__main__":
    main()
