"""The work-array pool: arrays come back only when nothing holds them; a training step stops allocating."""

import numpy as np
import pytest

from indrnn_np.ops import buffers, indrnn_backward, indrnn_forward
from indrnn_np.ops.buffers import MIN_BYTES, BufferPool

BIG = (MIN_BYTES // 4 + 1,)  # just above the pooling threshold in float32


def test_an_array_is_reused_only_when_no_one_holds_it():
    pool = BufferPool(1 << 30)
    a = pool.empty(BIG, np.float32)
    b = pool.empty(BIG, np.float32)
    assert a is not b  # a is held
    a_id = id(a)
    del a
    c = pool.empty(BIG, np.float32)
    assert id(c) == a_id and pool.reused == 1
    view = c[:10]  # a view holds its base
    del c
    d = pool.empty(BIG, np.float32)
    assert d.base is None and not np.shares_memory(d, view)
    assert pool.empty(BIG, np.float64).dtype == np.float64  # another key


def test_small_arrays_the_cap_and_off():
    pool = BufferPool(MIN_BYTES * 2)
    small = pool.empty((10,), np.float32)
    assert pool.allocated == 0 and small.shape == (10,)
    kept = [pool.empty(BIG, np.float32) for _ in range(3)]  # the third is beyond the cap: not kept
    assert pool.kept_bytes <= MIN_BYTES * 2 and len(kept) == 3
    off = BufferPool(0)
    x = off.empty(BIG, np.float32)
    del x
    assert off.allocated == 0 and off.kept_bytes == 0
    z = pool.zeros(BIG, np.float32)
    assert not z.any()
    with pytest.raises(ValueError, match="max_bytes"):
        BufferPool(-1)


def test_results_a_user_keeps_are_never_overwritten():
    rng = np.random.default_rng(0)
    T, B, M, N = 400, 8, 3, 128  # h is 1.6 MB: pooled
    x, W = rng.standard_normal((T, B, M)).astype(np.float32), rng.standard_normal((M, N)).astype(np.float32)
    u, b = rng.uniform(0, 1, N).astype(np.float32), np.zeros(N, np.float32)
    h1, cache1 = indrnn_forward(x, W, u, b)
    kept = h1.copy()
    g1 = indrnn_backward(np.ones_like(h1), cache1)
    dx1 = g1.dx.copy()
    for _ in range(3):  # more calls, with other inputs, while h1 and g1 are held
        h2, cache2 = indrnn_forward(2 * x, W, u, b)
        indrnn_backward(np.ones_like(h2), cache2)
    np.testing.assert_array_equal(h1, kept)
    np.testing.assert_array_equal(g1.dx, dx1)


def test_a_training_step_stops_allocating_work_arrays():
    from indrnn_np.train import TrainConfig, model_of, optimizer_of, task_of, train_step

    cfg = TrainConfig(T=300, batch=16, hidden=128, test_size=1).validate()  # (T, B, N) arrays of 2.5 MB
    task = task_of(cfg)
    model, rng = model_of(cfg, task), np.random.default_rng(0)
    opt = optimizer_of(cfg, model)

    def step():
        x, y = task.train_batch(rng, cfg.batch)
        train_step(model, opt, x, y, loss_forward=task.loss_forward, loss_backward=task.loss_backward)

    step()
    step()
    before = (buffers.POOL.allocated, buffers.POOL.reused)
    for _ in range(3):
        step()
    assert buffers.POOL.allocated == before[0]  # nothing new
    assert buffers.POOL.reused > before[1]
