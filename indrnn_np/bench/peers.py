"""Benchmarks against the frameworks people use instead, and against the machine's limits.

Everything is measured in one process, side by side: medians of several runs
after warm-up, ratios computed pair by pair against this project's ``cpu``
backend. Peers are optional (the ``bench`` extra): PyTorch on the CPU (a
per-step IndRNN loop, as the official code runs on a CPU; and the fused
``torch.nn.RNN(nonlinearity="relu")`` and ``torch.nn.LSTM``) and JAX
(``jax.lax.scan`` under ``jit``, compile time reported apart). A peer that is
not installed is skipped with a note.

The limits: a STREAM-like copy gives the memory bandwidth, and NumPy's GEMM
at the layer's own shapes gives BLAS's rate. The roofline for one layer's
forward+backward is then (the three GEMMs' FLOPs at that rate) + (the
recurrence's bytes at that bandwidth).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from ..ops import indrnn_backward, indrnn_forward
from .layer import recurrence_bytes, time_call

#: The sizes of the issue: the paper's adding setup, a pixel-MNIST layer, a wide layer.
SIZES = {
    "adding": dict(T=1000, B=50, M=2, N=128),
    "pixel-mnist": dict(T=784, B=32, M=1, N=128),
    "wide": dict(T=256, B=64, M=1024, N=1024),
}


def _median(fn, repeats, warmup=2):
    return float(np.median(time_call(fn, repeats, warmup=warmup)))


def _inputs(T, B, M, N, seed=0):
    rng = np.random.default_rng(seed)
    f = np.float32
    return dict(
        x=rng.standard_normal((T, B, M)).astype(f),
        W=(rng.standard_normal((M, N)) / np.sqrt(M)).astype(f),
        u=rng.uniform(0, 1, N).astype(f),
        b=np.zeros(N, f),
        dh=rng.standard_normal((T, B, N)).astype(f),
    )


# --------------------------------------------------------------------------
# The machine's limits
# --------------------------------------------------------------------------


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 7) -> float:
    """Bytes/s of a large array copy, counting bytes read and written (STREAM's "copy")."""
    a = np.ones(nbytes // 4, np.float32)
    b = np.empty_like(a)
    t = _median(lambda: np.copyto(b, a), repeats)
    return 2 * a.nbytes / t


def gemm_flops(T, B, M, N, repeats: int = 7) -> dict:
    """FLOPs and measured seconds of the layer's three GEMMs (projection, dW, dx) at its shapes."""
    rng = np.random.default_rng(0)
    x2 = rng.standard_normal((T * B, M)).astype(np.float32)
    W = rng.standard_normal((M, N)).astype(np.float32)
    d2 = rng.standard_normal((T * B, N)).astype(np.float32)
    flops = 3 * 2 * T * B * M * N
    t = (
        _median(lambda: x2 @ W, repeats)
        + _median(lambda: x2.T @ d2, repeats)
        + _median(lambda: d2 @ W.T, repeats)
    )
    return {"flops": flops, "seconds": t, "gflops": flops / t / 1e9}


def roofline(T, B, M, N, bandwidth: float, gemm: dict) -> dict:
    """Lower bound for one layer's forward+backward: GEMMs at BLAS speed + recurrence bytes at copy speed."""
    rec_bytes = recurrence_bytes(T, B, N, 4)
    return {
        "recurrence_bytes": rec_bytes,
        "gemm_flops": gemm["flops"],
        "bound_s": gemm["seconds"] + rec_bytes / bandwidth,
    }


# --------------------------------------------------------------------------
# This project
# --------------------------------------------------------------------------


def ours(backend, inp, repeats):
    def run():
        h, cache = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"], backend=backend)
        indrnn_backward(inp["dh"], cache)

    return _median(run, repeats)


def peak_memory(T, B, M, N) -> dict:
    """Peak bytes NumPy allocates during one forward+backward of the cpu backend (tracemalloc), and the cache."""
    inp = _inputs(T, B, M, N)
    indrnn_backward(inp["dh"], indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"])[1])  # compile first
    tracemalloc.start()
    h, cache = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"])
    indrnn_backward(inp["dh"], cache)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_bytes": peak, "h_bytes": h.nbytes, "tbn_bytes": T * B * N * 4}


# --------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------


def torch_times(inp, repeats, which=("loop", "rnn", "lstm")) -> dict:
    """PyTorch on the CPU: a per-step IndRNN loop with autograd, fused nn.RNN(relu) and nn.LSTM."""
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    x = torch.from_numpy(inp["x"]).requires_grad_()
    W = torch.from_numpy(inp["W"]).requires_grad_()
    u = torch.from_numpy(inp["u"]).requires_grad_()
    b = torch.from_numpy(inp["b"]).requires_grad_()
    dh = torch.from_numpy(inp["dh"])
    T, B, M = x.shape
    N = W.shape[1]

    def loop():
        xw = (x.reshape(T * B, M) @ W).reshape(T, B, N)
        h = torch.zeros(B, N)
        hs = []
        for t in range(T):
            h = torch.relu(xw[t] + u * h + b)
            hs.append(h)
        torch.stack(hs).backward(dh)

    rnn = torch.nn.RNN(M, N, nonlinearity="relu")
    lstm = torch.nn.LSTM(M, N)

    def fused(mod):
        def run():
            out, _ = mod(x)
            out.backward(dh)

        return run

    runs = {"loop": loop, "rnn": fused(rnn), "lstm": fused(lstm)}
    return {f"torch_{k}_s": _median(runs[k], repeats) for k in which}


def jax_times(inp, repeats) -> dict:
    """JAX: the recurrence as ``lax.scan`` inside ``jit``, gradients by ``jax.vjp``; compile time apart."""
    import jax
    import jax.numpy as jnp

    def layer(x, W, u, b):
        T, B, M = x.shape
        xw = (x.reshape(T * B, M) @ W).reshape(T, B, -1)

        def step(h, xw_t):
            h = jnp.maximum(xw_t + u * h + b, 0.0)
            return h, h

        _, hs = jax.lax.scan(step, jnp.zeros((B, W.shape[1]), x.dtype), xw)
        return hs

    @jax.jit
    def fwd_bwd(x, W, u, b, dh):
        hs, vjp = jax.vjp(layer, x, W, u, b)
        return hs, vjp(dh)

    args = [jnp.asarray(inp[k]) for k in ("x", "W", "u", "b", "dh")]
    t0 = time.perf_counter()
    jax.block_until_ready(fwd_bwd(*args))
    compile_s = time.perf_counter() - t0
    run_s = _median(lambda: jax.block_until_ready(fwd_bwd(*args)), repeats)
    return {"jax_scan_s": run_s, "jax_compile_s": compile_s}


def _try(fn, *a):
    try:
        return fn(*a), None
    except ImportError as exc:
        return {}, f"{exc.name or exc} not installed (pip install 'indrnn-np[bench]')"


def bench_sizes(sizes=SIZES, repeats=7, peers=True) -> dict:
    """Every implementation at every size, the machine's limits, and the roofline fractions."""
    bandwidth = copy_bandwidth()
    rows, notes = [], set()
    for name, s in sizes.items():
        T, B, M, N = s["T"], s["B"], s["M"], s["N"]
        inp = _inputs(T, B, M, N)
        gemm = gemm_flops(T, B, M, N)
        roof = roofline(T, B, M, N, bandwidth, gemm)
        row = dict(
            size=name,
            **s,
            roofline_s=roof["bound_s"],
            gemm_gflops=gemm["gflops"],
            recurrence_MB=roof["recurrence_bytes"] / 1e6,
            numpy_s=ours("numpy", inp, max(3, repeats // 2)),
            cpu_s=ours("cpu", inp, repeats),
        )
        if peers:
            for fn in (torch_times, jax_times):
                res, note = _try(fn, inp, repeats)
                row.update(res)
                if note:
                    notes.add(note)
        for key in ("numpy_s", "torch_loop_s", "torch_rnn_s", "torch_lstm_s", "jax_scan_s"):
            if key in row:
                row[key[: -len("_s")] + "_over_cpu"] = row[key] / row["cpu_s"]
        for key in ("cpu_s", "numpy_s", "torch_loop_s", "torch_rnn_s", "torch_lstm_s", "jax_scan_s"):
            if key in row:
                row[key[: -len("_s")] + "_roofline_fraction"] = row["roofline_s"] / row[key]
        rows.append(row)
    return {"bandwidth_GBps": bandwidth / 1e9, "rows": rows, "notes": sorted(notes)}


def bench_scaling(Ts=(100, 300, 1000, 3000, 10000), B=50, M=2, N=128, repeats=5, peers=True) -> dict:
    """Forward+backward time against T (linear scaling), and peak memory against T for the cpu backend."""
    rows, notes = [], set()
    for T in Ts:
        inp = _inputs(T, B, M, N)
        row = dict(T=T, cpu_s=ours("cpu", inp, repeats), **peak_memory(T, B, M, N))
        if peers:
            for fn, args in ((torch_times, (inp, repeats, ("rnn",))), (jax_times, (inp, repeats))):
                res, note = _try(fn, *args)
                row.update({k: v for k, v in res.items() if k in ("torch_rnn_s", "jax_scan_s")})
                if note:
                    notes.add(note)
        rows.append(row)
    return {"B": B, "M": M, "N": N, "rows": rows, "notes": sorted(notes)}
