"""A training step of the adding network, timed as a whole and split into its parts."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from ..ops import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..timing import Timers, section
from ..train import TrainConfig, model_of, optimizer_of, task_of, train_step
from .layer import time_call

#: The parts the ops and the loop mark with :func:`indrnn_np.timing.section`, and their labels.
PARTS = {
    "gemm": "GEMMs (BLAS)",
    "recurrence": "recurrence kernels (Numba)",
    "optimizer": "gradient norm, clipping, optimizer, u projection",
    "data": "data generation",
}


def _step(cfg: TrainConfig, task, batch):
    """One training step of ``cfg``'s model on ``task`` as a function of no arguments; ``batch()``
    gives (x, y) and is timed as the part ``"data"``."""
    model = model_of(cfg, task)
    opt = optimizer_of(cfg, model)

    def one_step():
        with section("data"):
            x, y = batch()
        train_step(
            model,
            opt,
            x,
            y,
            loss_forward=task.loss_forward,
            loss_backward=task.loss_backward,
            clip_value=cfg.clip_value,
        )

    return one_step


def adding_step(T=1000, B=50, layers=2, hidden=128, backend="cpu", dtype="float32", seed=0):
    """One training step of the adding network as a function of no arguments (data generation marked
    as the timing part ``"data"``), with the project's defaults: Adam, clamp ±10, u projection."""
    cfg = TrainConfig(T=T, batch=B, layers=layers, hidden=hidden, backend=backend, dtype=dtype, test_size=1)
    cfg.validate()
    task = task_of(cfg)
    rng = np.random.default_rng(seed)
    return _step(cfg, task, lambda: task.train_batch(rng, B))


def classify_step(T=784, B=32, layers=6, hidden=128, backend="cpu", dtype="float32", seed=0):
    """One training step of the pixel-MNIST network (``layers`` x ``hidden`` IndRNN with batch norm over
    time, softmax head, Adam, the recipe's clamp) on random pixels and labels, as a function of no
    arguments: the speed of the step, without the data files."""
    cfg = TrainConfig(
        task="mnist", T=784, batch=B, layers=layers, hidden=hidden, bn="time", backend=backend, dtype=dtype
    )
    cfg.validate()
    cfg = dataclasses.replace(cfg, T=T)  # any length: the speed of a step, not the task
    task = SimpleNamespace(
        inputs=1,
        outputs=10,
        head="last",
        loss_forward=softmax_cross_entropy_forward,
        loss_backward=softmax_cross_entropy_backward,
    )
    rng = np.random.default_rng(seed)
    x, labels = rng.random((T, B, 1)).astype(dtype), rng.integers(0, 10, B)
    return _step(cfg, task, lambda: (x, labels))


def bench_train(T=1000, B=50, layers=2, hidden=128, steps=20, backend="cpu", dtype="float32") -> dict:
    """Time training steps of the adding-problem network and split each into its parts.

    The parts come from the explicit timers of :mod:`indrnn_np.timing`: the
    ops mark every GEMM and recurrence kernel call, the training step marks
    the optimizer's work, and this function marks the data generation. What
    is left ("other") is Python glue, element-wise NumPy work (loss, batch
    reductions, the head) and allocation.

    Returns
    -------
    dict
        ``step_s`` (median), ``steps_per_s``, per part ``<part>_s`` (mean per
        step) and ``<part>_share`` (of the mean step), ``other_s``,
        ``other_share`` and ``step_over_gemm_plus_recurrence``.
    """
    one_step = adding_step(T, B, layers, hidden, backend, dtype)
    for _ in range(2):
        one_step()  # warm-up: compilation, caches, page faults
    timers = Timers()
    with timers:
        times = time_call(one_step, steps, warmup=0)
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
    for part in PARTS:
        out[f"{part}_s"] = timers.seconds[part] / steps
        out[f"{part}_share"] = out[f"{part}_s"] / mean
    other = mean - sum(timers.seconds[p] for p in PARTS) / steps
    out["other_s"], out["other_share"] = other, other / mean
    out["step_over_gemm_plus_recurrence"] = mean / (
        (timers.seconds["gemm"] + timers.seconds["recurrence"]) / steps
    )
    return out
