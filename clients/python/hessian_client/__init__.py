"""A Python client for the Hessian service: curvature of a neural network's loss over HTTP.

Upload a model (TF.js model.json with its shards, or ONNX) and a batch of numpy arrays, submit a job (dense
Hessian, GGN, trace, eigenpairs, ...), wait for it with progress, and get the results as numpy arrays::

    from hessian_client import Client, HessianError

    hc = Client("http://127.0.0.1:3000", api_key=None)
    model = hc.upload_model("export/model.json")
    batch = hc.upload_batch(x_batch, y_batch)
    job = hc.submit(model, batch, loss="mean_squared_error", method="hessian")
    job = hc.wait(job, progress=lambda j: print(f"{j.status} {j.progress.fraction:.0%}"))
    result = hc.result(job)
    hessian = result.arrays["hessian.npy"]            # numpy.ndarray, P x P float32

Every error is a :class:`HessianError` carrying the service's problem document (``status``, ``code``,
``detail``, ``problem``).
"""

from ._client import Client, canonical_json, content_idempotency_key
from ._errors import HessianError, HessianTimeoutError
from ._types import (
    FINAL_STATUSES,
    ArrayInfo,
    Artifact,
    Dataset,
    Job,
    LazyArrays,
    Model,
    Progress,
    Result,
    StoredArray,
)

__version__ = "0.1.0"

__all__ = [
    "FINAL_STATUSES",
    "ArrayInfo",
    "Artifact",
    "Client",
    "Dataset",
    "HessianError",
    "HessianTimeoutError",
    "Job",
    "LazyArrays",
    "Model",
    "Progress",
    "Result",
    "StoredArray",
    "__version__",
    "canonical_json",
    "content_idempotency_key",
]
