"""Benchmarks: medians of repeated runs, measured side by side in one process.

Timings belong here, not in tests: the machines are shared and noisy. Every
function returns plain dicts so the command line can print them as a table or
write them as JSON.
"""

from __future__ import annotations

import platform
import time

import numpy as np

from .ops import indrnn_backward, indrnn_forward


def machine_description() -> str:
    """One line about the machine the numbers come from."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, NumPy {np.__version__}"


def time_call(fn, repeats: int, warmup: int = 1) -> list[float]:
    """Wall times in seconds of ``repeats`` calls of ``fn()`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def bench_layer(
    backends=("numpy", "cpu"),
    T: int = 1000,
    B: int = 50,
    M: int = 128,
    N: int = 128,
    dtype=np.float32,
    repeats: int = 7,
    activation: str = "relu",
    seed: int = 0,
) -> list[dict]:
    """Forward+backward time of one IndRNN layer for each backend.

    Returns
    -------
    list of dict
        One per backend: ``backend, T, B, M, N, dtype, compile_s`` (first call,
        which includes Numba compilation or loading from its cache),
        ``forward_s, backward_s, total_s`` (medians over ``repeats``),
        ``recurrence_s`` (forward+backward of the recurrence kernels alone,
        without the GEMMs; median) and
        ``speedup_vs_numpy`` (numpy's total over this backend's total, when
        numpy was measured in the same run).
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, M)).astype(dtype)
    W = (rng.standard_normal((M, N)) / np.sqrt(M)).astype(dtype)
    u = rng.uniform(0, 1, N).astype(dtype)
    b = np.zeros(N, dtype)
    dh = rng.standard_normal((T, B, N)).astype(dtype)
    rows = []
    for backend in backends:
        rec_s = _time_recurrence(backend, x, W, u, b, dh, activation, repeats)
        t0 = time.perf_counter()
        h, cache = indrnn_forward(x, W, u, b, activation=activation, backend=backend)
        indrnn_backward(dh, cache)
        compile_s = time.perf_counter() - t0
        fwd, bwd, tot = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            h, cache = indrnn_forward(x, W, u, b, activation=activation, backend=backend)
            t1 = time.perf_counter()
            indrnn_backward(dh, cache)
            t2 = time.perf_counter()
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            tot.append(t2 - t0)
        rows.append(
            dict(
                backend=backend,
                T=T,
                B=B,
                M=M,
                N=N,
                dtype=np.dtype(dtype).name,
                compile_s=compile_s,
                forward_s=float(np.median(fwd)),
                backward_s=float(np.median(bwd)),
                total_s=float(np.median(tot)),
                recurrence_s=rec_s,
            )
        )
    ref = {r["T"]: r["total_s"] for r in rows if r["backend"] == "numpy"}
    for r in rows:
        r["speedup_vs_numpy"] = ref[r["T"]] / r["total_s"] if r["T"] in ref else None
    return rows


def _time_recurrence(backend, x, W, u, b, dh, activation, repeats) -> float:
    """Median forward+backward time of the recurrence kernels alone (no GEMMs)."""
    from .kernels import ACTIVATIONS
    from .ops.indrnn import _kernels

    kernels = _kernels(backend)
    if backend == "cuda":
        return kernels.time_recurrence(x, W, u, b, dh, ACTIVATIONS[activation], repeats)
    T, B, _ = x.shape
    N = W.shape[1]
    xw = np.ascontiguousarray(np.einsum("tbm,mn->tbn", x, W))
    h0 = np.zeros((B, N), x.dtype)
    h = np.empty_like(xw)
    da = np.empty_like(xw)
    dh0, du_part, db_part = (np.empty_like(h0) for _ in range(3))
    act = ACTIVATIONS[activation]

    def run():
        kernels.recurrence_forward(xw, u, b, h0, act, h)
        kernels.recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part)

    return float(np.median(time_call(run, repeats)))
