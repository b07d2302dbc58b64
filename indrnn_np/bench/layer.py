"""Benchmarks of one layer and of batch norm: medians of repeated runs, side by side in one process.

Timings belong here, not in tests: the machines are shared and noisy. Every
function returns plain dicts so the command line can print them as a table or
write them as JSON.
"""

from __future__ import annotations

import platform
import time

import numpy as np

from ..ops import indrnn_backward, indrnn_forward


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


def recurrence_bytes(T: int, B: int, N: int, itemsize: int) -> int:
    """Bytes the recurrence must move, forward + backward.

    Forward reads W x_t and writes h (2 arrays of T·B·N); backward reads
    ∂J/∂h and h and writes ∂J/∂a (3 arrays). The (B, N) and (N,) arrays are
    negligible next to these five (T, B, N) passes.
    """
    return 5 * T * B * N * itemsize


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


def time_recurrence(x, W, u, b, dh, act, repeats: int) -> float:
    """Median seconds of the recurrence kernels alone (forward + backward + reductions) on the device."""
    from numba import cuda

    from ..kernels import cuda as ck

    T, B, M = x.shape
    N = W.shape[1]
    xw = cuda.to_device(np.ascontiguousarray(np.einsum("tbm,mn->tbn", x, W)))
    u_d, b_d, dh_d = cuda.to_device(u), cuda.to_device(b), cuda.to_device(np.ascontiguousarray(dh))
    h0 = ck.zeros((B, N), x.dtype)
    h = cuda.device_array((T, B, N), x.dtype)
    da = cuda.device_array((T, B, N), x.dtype)
    dh0, du_part, db_part = (cuda.device_array((B, N), x.dtype) for _ in range(3))
    du, db = cuda.device_array(N, x.dtype), cuda.device_array(N, x.dtype)
    steps = cuda.to_device(np.full(B, T, np.int64))  # every sequence whole, forward in time

    def run():
        ck.recurrence_forward(xw, u_d, b_d, h0, act, h, steps, False)
        ck.recurrence_backward(dh_d, h, u_d, h0, act, da, dh0, du_part, db_part, steps, False)
        ck.reduce_rows(du_part, du)
        ck.reduce_rows(db_part, db)
        cuda.synchronize()

    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _time_recurrence(backend, x, W, u, b, dh, activation, repeats) -> float:
    """Median forward+backward time of the recurrence kernels alone (no GEMMs)."""
    from ..kernels import ACTIVATIONS
    from ..ops.backend import resolve

    if resolve(backend).on_device:
        return time_recurrence(x, W, u, b, dh, ACTIVATIONS[activation], repeats)
    kernels = resolve(backend).kernels
    T, B, _ = x.shape
    N = W.shape[1]
    xw = np.ascontiguousarray(np.einsum("tbm,mn->tbn", x, W))
    h0 = np.zeros((B, N), x.dtype)
    h = np.empty_like(xw)
    da = np.empty_like(xw)
    dh0, du_part, db_part = (np.empty_like(h0) for _ in range(3))
    act = ACTIVATIONS[activation]
    steps = np.full(B, T, np.int64)  # every sequence whole, forward in time

    def run():
        kernels.recurrence_forward(xw, u, b, h0, act, h, steps, False)
        kernels.recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part, steps, False)

    return float(np.median(time_call(run, repeats)))


def bench_batchnorm(T=784, B=32, N=128, layers=6, dtype=np.float32, repeats=7, seed=0) -> list[dict]:
    """Batch norm over time, NumPy reference against the Numba kernels, alone and inside a training step.

    Two measurements per backend, side by side in one process:

    * one BN forward+backward on a (T, B, N) array (default: one layer of the
      pixel-MNIST network);
    * forward+backward (softmax cross-entropy) of the whole pixel-MNIST network,
      ``layers`` × ``N`` with BN over time and a final BN before the head, its
      batch norms set to that backend (everything else identical).

    Returns
    -------
    list of dict
        One per backend: ``backend, T, B, N, dtype, bn_forward_s, bn_backward_s,
        bn_total_s`` (medians), ``step_s`` (median network forward+backward),
        ``max_abs_diff`` (largest |y_cpu - y_numpy| of the BN output), and
        ``bn_speedup, step_speedup`` (numpy's time over this backend's).
    """
    from ..nn import BatchNorm, build_indrnn, leaf_layers
    from ..ops import batchnorm_backward, batchnorm_forward, softmax_cross_entropy_forward
    from ..ops import softmax_cross_entropy_backward as ce_backward

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((T, B, N)) * 2 + 1).astype(dtype)
    dy = rng.standard_normal((T, B, N)).astype(dtype)
    gamma, beta = np.ones(N, dtype), np.zeros(N, dtype)
    model = build_indrnn(T, 1, 10, hidden=N, layers=layers, bn="time", dropout=0.1, seed=seed, dtype=dtype)
    xs = rng.random((T, B, 1)).astype(dtype)
    labels = rng.integers(0, 10, B)

    def step():
        logits, caches = model.forward(xs, train=True)
        _, c = softmax_cross_entropy_forward(logits, labels)
        model.backward(ce_backward(1.0, c), caches)

    rows, outputs = [], {}
    for backend in ("numpy", "cpu"):
        for layer in leaf_layers(model):
            if isinstance(layer, BatchNorm):
                layer.backend = backend
        outputs[backend] = batchnorm_forward(x, gamma, beta, (0, 1), backend=backend)[0]
        fwd, bwd = [], []
        for _ in range(repeats + 1):  # the first call compiles (or loads the cache)
            t0 = time.perf_counter()
            _, cache, _, _ = batchnorm_forward(x, gamma, beta, (0, 1), backend=backend)
            t1 = time.perf_counter()
            batchnorm_backward(dy, cache)
            fwd.append(t1 - t0)
            bwd.append(time.perf_counter() - t1)
        step()
        steps = time_call(step, repeats, warmup=0)
        rows.append(
            dict(
                backend=backend,
                T=T,
                B=B,
                N=N,
                dtype=np.dtype(dtype).name,
                bn_forward_s=float(np.median(fwd[1:])),
                bn_backward_s=float(np.median(bwd[1:])),
                bn_total_s=float(np.median(np.add(fwd[1:], bwd[1:]))),
                step_s=float(np.median(steps)),
            )
        )
    diff = float(np.max(np.abs(outputs["cpu"].astype(np.float64) - outputs["numpy"])))
    for r in rows:
        r["max_abs_diff"] = diff
        r["bn_speedup"] = rows[0]["bn_total_s"] / r["bn_total_s"]
        r["step_speedup"] = rows[0]["step_s"] / r["step_s"]
    return rows
