"""Scaling with T, peak memory, and the roofline arithmetic of one layer (this project only).

The comparison with JAX and PyTorch lives in :mod:`indrnn_np.bench.compare`,
which runs each framework in a fresh process of its own.

The roofline for one layer's forward+backward is (the three GEMMs' time at
BLAS's measured rate) + (the recurrence's bytes at the copy bandwidth).
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from ..ops import indrnn_backward, indrnn_forward
from .layer import recurrence_bytes, time_call


def _median(fn, repeats, warmup=2):
    return float(np.median(time_call(fn, repeats, warmup=warmup)))


def layer_inputs(T, B, M, N, seed=0):
    """float32 inputs of one layer: x (T, B, M), W (M, N), u (N,), b (N,), dh (T, B, N)."""
    rng = np.random.default_rng(seed)
    f = np.float32
    return dict(
        x=rng.standard_normal((T, B, M)).astype(f),
        W=(rng.standard_normal((M, N)) / np.sqrt(M)).astype(f),
        u=rng.uniform(0, 1, N).astype(f),
        b=np.zeros(N, f),
        dh=rng.standard_normal((T, B, N)).astype(f),
    )


def roofline(T, B, M, N, bandwidth: float, gemm: dict) -> dict:
    """Lower bound for one layer's forward+backward: GEMMs at BLAS speed + recurrence bytes at copy speed."""
    rec_bytes = recurrence_bytes(T, B, N, 4)
    return {
        "recurrence_bytes": rec_bytes,
        "gemm_flops": gemm["flops"],
        "bound_s": gemm["seconds"] + rec_bytes / bandwidth,
    }


def ours(backend, inp, repeats):
    def run():
        h, cache = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"], backend=backend)
        indrnn_backward(inp["dh"], cache)

    return _median(run, repeats)


def peak_memory(T, B, M, N) -> dict:
    """Peak bytes NumPy allocates during one forward+backward of the cpu backend (tracemalloc), and the cache."""
    inp = layer_inputs(T, B, M, N)
    indrnn_backward(inp["dh"], indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"])[1])  # compile first
    tracemalloc.start()
    h, cache = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"])
    indrnn_backward(inp["dh"], cache)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_bytes": peak, "h_bytes": h.nbytes, "tbn_bytes": T * B * N * 4}


def bench_scaling(Ts=(100, 300, 1000, 3000, 10000), B=50, M=2, N=128, repeats=5) -> dict:
    """Forward+backward time of the cpu backend against T (linear scaling), and its peak memory."""
    rows = []
    for T in Ts:
        inp = layer_inputs(T, B, M, N)
        rows.append(dict(T=T, cpu_s=ours("cpu", inp, repeats), **peak_memory(T, B, M, N)))
    return {"B": B, "M": M, "N": N, "rows": rows, "notes": []}
