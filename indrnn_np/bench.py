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


# --------------------------------------------------------------------------
# GPU: the CUDA backend against its own memory bound and against PyTorch
# --------------------------------------------------------------------------


def recurrence_bytes(T: int, B: int, N: int, itemsize: int) -> int:
    """Bytes the recurrence must move, forward + backward.

    Forward reads W x_t and writes h (2 arrays of T·B·N); backward reads
    ∂J/∂h and h and writes ∂J/∂a (3 arrays). The (B, N) and (N,) arrays are
    negligible next to these five (T, B, N) passes.
    """
    return 5 * T * B * N * itemsize


def device_copy_bandwidth(nbytes: int = 1 << 30, repeats: int = 10) -> float:
    """Measured device-to-device copy bandwidth in bytes/s (bytes read + written), median."""
    from numba import cuda

    n = nbytes // 4
    a = cuda.device_array(n, np.float32)
    b = cuda.device_array(n, np.float32)
    b.copy_to_device(a)
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        b.copy_to_device(a)
        cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 2 * n * 4 / float(np.median(times))


def _torch_cuda_missing() -> str | None:
    """Why PyTorch cannot be measured on the GPU here, or None when it can."""
    from .kernels import cuda as ck

    if ck.simulator_enabled():
        return "the CUDA simulator is on: PyTorch peers skipped"
    try:
        import torch
    except ImportError:
        return "PyTorch not installed: peers skipped"
    if not torch.cuda.is_available():
        return "this PyTorch has no CUDA device: peers skipped"
    return None


def _torch_gpu_times(T, B, M, N, repeats, dtype):
    """PyTorch on the same GPU: a per-step IndRNN loop (autograd) and cuDNN LSTM, fwd+bwd medians."""
    import torch

    dev = torch.device("cuda")
    tdt = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    x = torch.randn(T, B, M, device=dev, dtype=tdt)
    W = (torch.randn(M, N, device=dev, dtype=tdt) / M**0.5).requires_grad_()
    u = torch.rand(N, device=dev, dtype=tdt).requires_grad_()
    b = torch.zeros(N, device=dev, dtype=tdt).requires_grad_()
    lstm = torch.nn.LSTM(M, N).to(device=dev, dtype=tdt)

    def indrnn_loop():
        xw = (x.reshape(T * B, M) @ W).reshape(T, B, N)  # the input GEMM hoisted out of the loop
        h = torch.zeros(B, N, device=dev, dtype=tdt)
        hs = []
        for t in range(T):  # the recurrence: one small element-wise launch group per step
            h = torch.relu(xw[t] + u * h + b)
            hs.append(h)
        torch.stack(hs).sum().backward()
        torch.cuda.synchronize()

    def lstm_step():
        out, _ = lstm(x)
        out.sum().backward()
        torch.cuda.synchronize()

    res = {}
    for name, fn in (("torch_loop_s", indrnn_loop), ("torch_lstm_s", lstm_step)):
        res[name] = float(np.median(time_call(fn, repeats, warmup=2)))
    return res


def bench_cuda_layer(Ts=(256, 1024, 4096), B=128, M=512, N=512, dtype=np.float32, repeats=10, peers=True):
    """The CUDA backend at the paper's speed-test sizes, with PyTorch on the same GPU as ratios.

    Returns one dict per T: ``recurrence_s`` (forward+backward recurrence
    kernels alone), ``layer_s`` (the whole layer on device arrays: tiled GEMMs
    included), ``recurrence_GBps`` (bytes of :func:`recurrence_bytes` over
    ``recurrence_s``), ``copy_GBps`` (measured device copy bandwidth in the
    same run), ``fraction_of_copy``, and with ``peers`` ``torch_loop_s``,
    ``torch_lstm_s`` and the ratios ``torch_loop_over_layer``,
    ``torch_lstm_over_layer``.
    """
    from numba import cuda

    from .kernels import cuda as ck

    copy_bw = device_copy_bandwidth(1 << 20 if ck.simulator_enabled() else 1 << 30)
    rng = np.random.default_rng(0)
    rows = []
    for T in Ts:
        x = rng.standard_normal((T, B, M)).astype(dtype)
        W = (rng.standard_normal((M, N)) / np.sqrt(M)).astype(dtype)
        u = rng.uniform(0, 1, N).astype(dtype)
        b = np.zeros(N, dtype)
        dh = rng.standard_normal((T, B, N)).astype(dtype)
        rec_s = ck.time_recurrence(x, W, u, b, dh, 1, repeats)
        xd, Wd, ud, bd, dhd = (cuda.to_device(a) for a in (x, W, u, b, dh))

        def layer(xd=xd, Wd=Wd, ud=ud, bd=bd, dhd=dhd):
            h, cache = indrnn_forward(xd, Wd, ud, bd, backend="cuda")
            indrnn_backward(dhd, cache)
            cuda.synchronize()

        layer_s = float(np.median(time_call(layer, repeats, warmup=2)))
        nbytes = recurrence_bytes(T, B, N, np.dtype(dtype).itemsize)
        row = dict(
            T=T,
            B=B,
            M=M,
            N=N,
            dtype=np.dtype(dtype).name,
            recurrence_s=rec_s,
            layer_s=layer_s,
            recurrence_GBps=nbytes / rec_s / 1e9,
            copy_GBps=copy_bw / 1e9,
            fraction_of_copy=nbytes / rec_s / copy_bw,
        )
        if peers:
            note = _torch_cuda_missing()
            if note:
                row["torch_note"] = note
            else:
                row.update(_torch_gpu_times(T, B, M, N, repeats, dtype))
                row["torch_loop_over_layer"] = row["torch_loop_s"] / layer_s
                row["torch_lstm_over_layer"] = row["torch_lstm_s"] / layer_s
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# A training step, part by part
# --------------------------------------------------------------------------


def bench_train(T=1000, B=50, layers=2, hidden=128, steps=20, backend="cpu", dtype="float32") -> dict:
    """Time training steps of the adding-problem network and split each into its parts.

    The parts are timed inside the real step, by wrapping for the duration of
    the measurement: every GEMM of the ops (``indrnn_np.ops._gemm.matmul``),
    the recurrence kernels, the optimizer update (with the u projection) and
    the data generation. What is left is Python glue, element-wise NumPy work
    (loss, clipping, batch reductions) and allocation.

    Returns
    -------
    dict
        ``step_s`` (median), ``steps_per_s``, and per part ``<part>_s`` (mean
        per step) and ``<part>_share`` (of the mean step).
    """
    from .ops import _gemm
    from .ops.indrnn import _kernels
    from .train import TrainConfig, make_model, make_optimizer, make_task, train_step

    cfg = TrainConfig(T=T, batch=B, layers=layers, hidden=hidden, backend=backend, dtype=dtype, test_size=1)
    task = make_task(cfg)
    model = make_model(cfg, task)
    opt = make_optimizer(cfg, model)
    rng = np.random.default_rng(0)
    spent = {"gemm": 0.0, "recurrence": 0.0, "optimizer": 0.0, "data": 0.0}

    def timed(part, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[part] += time.perf_counter() - t0

        return wrapper

    kernels = _kernels(backend)
    saved = [(_gemm, "matmul"), (kernels, "recurrence_forward"), (kernels, "recurrence_backward")]
    originals = [getattr(mod, name) for mod, name in saved]

    def one_step():
        x, y = task.train_batch(rng, B)
        train_step(
            model,
            opt,
            x,
            y,
            loss_forward=task.loss_forward,
            loss_backward=task.loss_backward,
            clip_value=cfg.clip_value,
        )

    for _ in range(2):
        one_step()  # warm-up: compilation, caches, page faults
    try:
        _gemm.matmul = timed("gemm", originals[0])
        kernels.recurrence_forward = timed("recurrence", originals[1])
        kernels.recurrence_backward = timed("recurrence", originals[2])
        opt.step = timed("optimizer", opt.step)
        task.train_batch = timed("data", task.train_batch)
        times = time_call(one_step, steps, warmup=0)
    finally:
        for (mod, name), fn in zip(saved, originals, strict=True):
            setattr(mod, name, fn)
        del opt.step, task.train_batch
    mean = float(np.mean(times))
    out = {
        "T": T,
        "B": B,
        "layers": layers,
        "hidden": hidden,
        "dtype": dtype,
        "backend": backend,
        "step_s": float(np.median(times)),
        "steps_per_s": 1.0 / float(np.median(times)),
    }
    for part, total in spent.items():
        out[f"{part}_s"] = total / steps
        out[f"{part}_share"] = total / steps / mean
    other = mean - sum(spent.values()) / steps
    out["other_s"], out["other_share"] = other, other / mean
    out["step_over_gemm_plus_recurrence"] = mean / ((spent["gemm"] + spent["recurrence"]) / steps)
    return out


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
    from .models import BatchNorm, build_indrnn, leaf_layers
    from .ops import batchnorm_backward, batchnorm_forward, softmax_cross_entropy_forward
    from .ops import softmax_cross_entropy_backward as ce_backward

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
