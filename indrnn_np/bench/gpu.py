"""The CUDA backend against its own memory bound and against PyTorch on the same GPU."""

from __future__ import annotations

import time

import numpy as np

from ..ops import device, indrnn_backward, indrnn_forward
from .layer import recurrence_bytes, time_call, time_recurrence


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
    from ..kernels import cuda as ck

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


def bench_cuda_layer(
    Ts=(256, 1024, 4096), B=128, M=512, N=512, dtype=np.float32, repeats=10, peers=True, progress=None
):
    """The CUDA backend at the paper's speed-test sizes, with PyTorch on the same GPU as ratios.

    ``progress`` (optional) is called with a line before each part is measured.

    Returns one dict per T: ``recurrence_s`` (forward+backward recurrence
    kernels alone), ``layer_s`` (the whole layer on device arrays: tiled GEMMs
    included), ``recurrence_GBps`` (bytes of :func:`recurrence_bytes` over
    ``recurrence_s``), ``copy_GBps`` (measured device copy bandwidth in the
    same run), ``fraction_of_copy``, and with ``peers`` ``torch_loop_s``,
    ``torch_lstm_s`` and the ratios ``torch_loop_over_layer``,
    ``torch_lstm_over_layer``.
    """
    from numba import cuda

    from ..kernels import cuda as ck

    def say(line):
        if progress is not None:
            progress(line)

    say("measuring the device copy bandwidth")
    copy_bw = device_copy_bandwidth(1 << 20 if ck.simulator_enabled() else 1 << 30)
    rng = np.random.default_rng(0)
    rows = []
    for T in Ts:
        say(f"T={T} B={B} M={M} N={N}: the recurrence kernels, {1 + repeats} calls")
        x = rng.standard_normal((T, B, M)).astype(dtype)
        W = (rng.standard_normal((M, N)) / np.sqrt(M)).astype(dtype)
        u = rng.uniform(0, 1, N).astype(dtype)
        b = np.zeros(N, dtype)
        dh = rng.standard_normal((T, B, N)).astype(dtype)
        rec_s = time_recurrence(x, W, u, b, dh, 1, repeats)
        xd, Wd, ud, bd, dhd = (cuda.to_device(a) for a in (x, W, u, b, dh))

        def layer(xd=xd, Wd=Wd, ud=ud, bd=bd, dhd=dhd):
            h, cache = indrnn_forward(xd, Wd, ud, bd, backend="cuda")
            indrnn_backward(dhd, cache)
            cuda.synchronize()

        say(f"T={T} B={B} M={M} N={N}: the whole layer, {2 + repeats} calls")
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
                say(f"T={T}: PyTorch on the same GPU")
                row.update(_torch_gpu_times(T, B, M, N, repeats, dtype))
                row["torch_loop_over_layer"] = row["torch_loop_s"] / layer_s
                row["torch_lstm_over_layer"] = row["torch_lstm_s"] / layer_s
        rows.append(row)
    return rows


def device_name() -> str:
    """The GPU's name, or "Numba's CUDA simulator".

    The simulator is asked nothing: plain numba's simulator has no ``get_current_device`` (numba-cuda's
    has), so only what both simulators provide is used there.
    """
    from ..kernels import cuda as ck

    if ck.simulator_enabled():
        return "Numba's CUDA simulator"
    name = ck.cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def bench_cuda_train(T=1000, B=50, hidden=128, steps=10, peers=True, mnist_T=784, mnist_B=32) -> dict:
    """Training steps with ``backend="cuda"``: the model, its gradients and the optimizer on the GPU.

    ``adding``: the adding network (2 x ``hidden`` IndRNN, Adam, clamp ±10) at T, with, when
    ``peers``, a per-step PyTorch loop of the same network on the same GPU (Adam, clamp, u
    projection), as in ``bench compare``. ``pixel_mnist``: the 6 x ``hidden`` IndRNN with batch norm
    of the pixel-MNIST recipe at ``mnist_T`` on random pixels (speed only; no PyTorch peer for it).

    Returns
    -------
    dict
        ``adding``: ``T``, ``B``, ``hidden``, ``step_s`` (median), and ``torch_loop_s`` and
        ``torch_loop_over_step`` or ``torch_note``; ``pixel_mnist``: ``T``, ``B``, ``step_s``.
    """
    from numba import cuda

    from .train import adding_step, classify_step

    def timed(fn, n):
        def run():
            fn()
            cuda.synchronize()

        return float(np.median(time_call(run, n, warmup=2)))

    adding = dict(
        T=T, B=B, hidden=hidden, step_s=timed(adding_step(T, B, hidden=hidden, backend="cuda"), steps)
    )
    if peers:
        note = _torch_cuda_missing()
        if note:
            adding["torch_note"] = note
        else:
            adding["torch_loop_s"] = _torch_gpu_train_step(T, B, hidden, max(3, steps // 3))
            adding["torch_loop_over_step"] = adding["torch_loop_s"] / adding["step_s"]
    mnist = dict(T=mnist_T, B=mnist_B, layers=6, hidden=hidden)
    mnist["step_s"] = timed(
        classify_step(mnist_T, mnist_B, hidden=hidden, backend="cuda"), max(3, steps // 2)
    )
    return {"adding": adding, "pixel_mnist": mnist}


def bench_gemms(R=128 * 1024, K=512, S=512, repeats=10) -> dict:
    """cuBLAS (through CuPy) against the tiled teaching GEMM on the GPU: ``x W`` of the layer at
    T·B = R rows and the dW GEMM ``xᵀ da``, float32; the largest difference relative to the
    largest entry, and the medians."""
    from numba import cuda

    from ..kernels import cuda as ck

    rng = np.random.default_rng(0)
    A = cuda.to_device(rng.standard_normal((R, K)).astype(np.float32))
    W = cuda.to_device((rng.standard_normal((K, S)) / np.sqrt(K)).astype(np.float32))
    D = cuda.to_device(rng.standard_normal((R, S)).astype(np.float32))
    out = {}
    for name, kw, a, b, shape in (("xW", {}, A, W, (R, S)), ("dW", {"trans_a": True}, A, D, (K, S))):
        results, times = {}, {}
        for kind, fn in (("cublas", device.cublas_gemm), ("tiled", ck.tiled_gemm)):
            extra = {"splits": ck.split_k(R, K, S, 16)} if kind == "tiled" and name == "dW" else {}
            C = cuda.device_array(shape, np.float32)
            args = {**kw, **extra}

            def run(fn=fn, a=a, b=b, C=C, args=args):
                fn(a, b, out=C, **args)
                cuda.synchronize()

            times[kind] = float(np.median(time_call(run, repeats, warmup=2)))
            results[kind] = C.copy_to_host()
        scale = float(np.max(np.abs(results["cublas"])))
        out[name] = dict(
            shape=list(shape),
            cublas_s=times["cublas"],
            tiled_s=times["tiled"],
            tiled_over_cublas=times["tiled"] / times["cublas"],
            max_rel_difference=float(np.max(np.abs(results["cublas"] - results["tiled"]))) / scale,
        )
    return out


def _torch_gpu_train_step(T, B, N, repeats) -> float:
    """Median seconds of ``bench compare``'s per-step PyTorch training step, on the GPU."""
    from .worker import step_torch_loop

    return step_torch_loop(dict(T=T, B=B, N=N, repeats=repeats, device="cuda"))["median_s"]
