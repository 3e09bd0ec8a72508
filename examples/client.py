"""The Python client (clients/python, ``hessian_client``) on a model directory and a batch, as a pipeline step.

    pip install ./clients/python
    python examples/client.py http://127.0.0.1:3000 examples/tiny --loss mean_squared_error --method hessian

The batch is the directory's ``inputs.npy`` and ``targets.npy`` (or pass ``--batch batch.npz`` holding ``inputs``
and ``targets``). Running it twice computes once: the client derives the Idempotency-Key from the request.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from hessian_client import Client, HessianError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("model", help="a directory with model.json and its shards, a model.json, or a .onnx file")
    parser.add_argument("--batch", help=".npz with inputs and targets (default: inputs.npy, targets.npy beside it)")
    parser.add_argument("--loss", default="mean_squared_error")
    parser.add_argument("--method", default="hessian")
    parser.add_argument("--out", default="result", help="directory for the arrays")
    args = parser.parse_args()

    here = Path(args.model) if Path(args.model).is_dir() else Path(args.model).parent
    if args.batch:
        with np.load(args.batch) as batch:
            x, y = batch["inputs"], batch["targets"]
    else:
        x, y = np.load(here / "inputs.npy"), np.load(here / "targets.npy")

    hc = Client(args.url, api_key=os.environ.get("HESSIAN_API_KEY"))
    try:
        model = hc.upload_model(args.model)
        batch_ref = hc.upload_batch(x, y)
        job = hc.submit(model, batch_ref, loss=args.loss, method=args.method)
        job = hc.wait(job, progress=lambda j: print(f"{j.status} {j.progress.fraction:.0%}", file=sys.stderr))
        result = hc.result(job)
    except HessianError as err:
        print(f"error: {err.code}: {err.detail}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    for name, array in result.arrays.load_all().items():
        np.save(Path(args.out) / name.replace("/", "_"), array)
        print(f"{name}: shape {array.shape}")
    print({k: v for k, v in result.summary.items() if isinstance(v, (int, float, str))})
    print("verification:", result.verification)
    return 0


if __name__ == "__main__":
    sys.exit(main())
