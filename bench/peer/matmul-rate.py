"""The matMul ceiling on the PyTorch side (docs/engine.md, "Where time goes"): the two large products of a block
of 10 W1 HVPs and the one of a single HVP, on one thread, median of 50 runs after 3 warm-ups.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peer/matmul-rate.py
"""
import statistics
import time

import torch

torch.set_num_threads(1)
for m, k, n in [(128, 784, 640), (784, 128, 640), (128, 784, 64)]:
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(50):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    dt = statistics.median(times)
    print(f"[{m},{k}]·[{k},{n}]: {dt * 1e3:.3f} ms, {2 * m * k * n / dt / 1e9:.1f} GFLOP/s")
