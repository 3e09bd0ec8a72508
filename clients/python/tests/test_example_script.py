"""examples/client.py, the script the docs point to, run as a user would against the live service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from support import GOLDEN, REPO, TINY


def test_the_example_script_writes_the_hessian(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "clients" / "python")}
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "client.py"), url, str(TINY), "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "hessian.npy: shape (15, 15)" in done.stdout
    assert "succeeded 100%" in done.stderr
    # The same case's float64 golden, to 1e-5 relative (Frobenius): examples/tiny is linear_regression_mse.
    got = np.load(tmp_path / "hessian.npy").astype(np.float64)
    want = np.load(GOLDEN / "linear_regression_mse" / "hessian.npy")
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)
