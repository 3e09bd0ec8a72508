"""Paths and helpers shared by the tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Union

import numpy as np

from hessian_client import Dataset, Model

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "examples" / "tiny"
GOLDEN = REPO / "test" / "fixtures" / "golden"
ONNX = REPO / "test" / "fixtures" / "onnx"

#: A long job for the mlp_tanh_mse golden model (P = 51): one Hutchinson probe is one HVP, so 100000 probes (the
#: most the service allows) take about 10 s, time to observe it, time out on it and cancel it.
LONG_JOB = {"name": "diagonal_estimate", "probes": 100000}
#: A job of about 2 s on the same model, long enough to show progress between its start and its end.
SECONDS_OF_WORK = {"name": "diagonal_estimate", "probes": 20000}

def load_arrays(directory: Path, what: str) -> Union[np.ndarray, Dict[str, np.ndarray]]:
    """``<what>.npy``, or ``<what>.npz`` as a dict by input (output) name, from a fixture directory."""
    npz = directory / f"{what}.npz"
    if npz.exists():
        with np.load(npz, allow_pickle=False) as z:
            return {key: z[key] for key in z.files}
    return np.load(directory / f"{what}.npy", allow_pickle=False)


def golden_case(name: str) -> Dict[str, Any]:
    """A committed float64 reference case: its case.json, plus ``hessian`` (P×P float64) and its directory."""
    directory = GOLDEN / name if (GOLDEN / name).is_dir() else ONNX / name
    case = json.loads((directory / "case.json").read_text())
    case["dir"] = directory
    case["hessian"] = np.load(directory / "hessian.npy", allow_pickle=False)
    return case


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """‖actual − expected‖_F / ‖expected‖_F, in float64."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@dataclass
class Uploaded:
    """A model and batch uploaded for the tests, with the arrays they came from."""

    model: Model
    dataset: Dataset
    inputs: Any
    targets: Any
