"""Explicit timers (indrnn_np.timing): what a training step reports, with nothing swapped at run time."""

import numpy as np

from indrnn_np.nn import Adam, indrnn_regressor
from indrnn_np.tasks.adding import adding_batch
from indrnn_np.timing import Timers, section
from indrnn_np.train import mse_train_step


def test_sections_record_only_inside_a_timers_block():
    with section("gemm"):
        pass  # no active timers: nothing recorded anywhere
    timers = Timers()
    with timers:
        with section("gemm"):
            pass
        with section("gemm"):
            pass
    with section("gemm"):
        pass
    assert timers.calls == {"gemm": 2}


def test_a_training_step_reports_each_gemm_and_kernel_call():
    """2 IndRNN layers and a dense head: the first layer (M = 2 inputs) computes W x_t inside its fused
    kernels, so 2 forward GEMMs (layer 2, head) and dW, dx of layer 2 and the head backward = 4; 2 kernels
    each way."""
    model = indrnn_regressor(20, hidden=16, seed=0)  # layer 2's M = 16 > FUSE_MAX_M: its GEMMs run
    opt = Adam(model.params, lr=1e-3)
    x, y, _ = adding_batch(20, 4, np.random.default_rng(0))
    timers = Timers()
    with timers:
        mse_train_step(model, opt, x, y, clip_value=10.0)
    assert timers.calls["gemm"] == 2 + 4
    assert timers.calls["recurrence"] == 4
    assert timers.calls["optimizer"] == 1
    total = sum(timers.seconds.values())
    assert total == sum(timers.seconds[k] for k in ("gemm", "recurrence", "optimizer"))
