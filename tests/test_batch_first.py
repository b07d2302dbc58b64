"""``batch_first=True`` (PyTorch's name): the ops and the layers on (B, T, ·) arrays equal the time-major
call transposed, forward and backward, with lengths, in float64 on the numpy and cpu backends."""

import numpy as np
import pytest

from indrnn_np import indrnn_backward, indrnn_forward
from indrnn_np.nn import IndRNN, Recurrence, Sequential
from indrnn_np.nn.layers import Bidirectional, Dense
from indrnn_np.ops import indrnn_recurrence_backward, indrnn_recurrence_forward

B, T, N = 4, 9, 5
LENGTHS = np.array([9, 3, 6, 1])


def _tm(a):
    """(B, T, K) <-> (T, B, K), as a new array."""
    return np.ascontiguousarray(np.swapaxes(a, 0, 1))


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("M", [3, 12], ids=["fused", "gemm"])  # M <= FUSE_MAX_M runs the fused kernels
@pytest.mark.parametrize("algorithm", ["sequential", "scan"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_layer_op_batch_first_equals_the_transposed_time_major_call(backend, M, algorithm, lengths, rng):
    x = rng.standard_normal((B, T, M))
    W, u, b = 0.4 * rng.standard_normal((M, N)), rng.uniform(0, 1, N), 0.1 * rng.standard_normal(N)
    h0 = rng.standard_normal((B, N))
    dh = rng.standard_normal((B, T, N))
    kw = dict(activation="relu", backend=backend, lengths=lengths, algorithm=algorithm)
    h, cache = indrnn_forward(x, W, u, b, h0, batch_first=True, **kw)
    h_tm, cache_tm = indrnn_forward(_tm(x), W, u, b, h0, **kw)
    assert h.shape == (B, T, N) and cache.batch_first and not cache_tm.batch_first
    _same(h, _tm(h_tm))
    g, g_tm = indrnn_backward(dh, cache), indrnn_backward(_tm(dh), cache_tm)
    assert g.dx.shape == (B, T, M)
    _same(g.dx, _tm(g_tm.dx))
    for name in ("dW", "du", "db", "dh0"):
        _same(getattr(g, name), getattr(g_tm, name))
    assert indrnn_backward(dh, cache, need_dx=False).dx is None


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_recurrence_op_batch_first_equals_the_transposed_time_major_call(backend, lengths, rng):
    xw, dh = rng.standard_normal((B, T, N)), rng.standard_normal((B, T, N))
    u, b = rng.uniform(0, 1, N), 0.1 * rng.standard_normal(N)
    h, cache = indrnn_recurrence_forward(xw, u, b, backend=backend, lengths=lengths, batch_first=True)
    h_tm, cache_tm = indrnn_recurrence_forward(_tm(xw), u, b, backend=backend, lengths=lengths)
    _same(h, _tm(h_tm))
    g, g_tm = indrnn_recurrence_backward(dh, cache), indrnn_recurrence_backward(_tm(dh), cache_tm)
    assert g.dxw.shape == (B, T, N)
    _same(g.dxw, _tm(g_tm.dxw))
    for name in ("du", "db", "dh0"):
        _same(getattr(g, name), getattr(g_tm, name))


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("kind", ["IndRNN", "Recurrence"])
def test_layers_batch_first_take_and_return_batch_first_arrays(backend, kind, rng):
    M = 6 if kind == "IndRNN" else N

    def build(batch_first):
        r = np.random.default_rng(0)
        kw = dict(backend=backend, rng=r, dtype=np.float64, batch_first=batch_first)
        return IndRNN(M, N, w_std=0.3, **kw) if kind == "IndRNN" else Recurrence(N, **kw)

    bf, tm = build(True), build(False)
    x, dh = rng.standard_normal((B, T, M)), rng.standard_normal((B, T, N))
    bf.stateful = tm.stateful = True  # the carried state is each sequence's last real state either way
    h, cache = bf.forward(x, lengths=LENGTHS)
    h_tm, cache_tm = tm.forward(_tm(x), lengths=LENGTHS)
    _same(h, _tm(h_tm))
    _same(bf.state, tm.state)
    dx, grads = bf.backward(dh, cache)
    dx_tm, grads_tm = tm.backward(_tm(dh), cache_tm)
    assert dx.shape == (B, T, M)
    _same(dx, _tm(dx_tm))
    for k in grads_tm:
        _same(grads[k], grads_tm[k])
    for k, v in bf.param_grads(dh, cache).items():
        _same(v, grads_tm[k])
    h2, _ = bf.forward(x)  # the next batch starts from the kept state, as the time-major layer's
    h2_tm, _ = tm.forward(_tm(x))
    _same(h2, _tm(h2_tm))


def test_from_arrays_keeps_batch_first(rng):
    W, u, b = rng.standard_normal((3, N)), rng.uniform(0, 1, N), np.zeros(N)
    layer = IndRNN.from_arrays(W, u, b, batch_first=True)
    assert layer.batch_first and layer.forward(rng.standard_normal((B, T, 3)))[0].shape == (B, T, N)


def test_a_sequential_refuses_batch_first_layers_by_name(rng):
    layer = IndRNN(3, N, rng=rng, batch_first=True)
    with pytest.raises(
        ValueError, match=r"layer 'rnn' \(IndRNN\) has batch_first=True, but a Sequential passes"
    ):
        Sequential([("rnn", layer), ("head", Dense(N, 2, rng=rng))])
    rec = Recurrence(N, rng=rng, batch_first=True)
    with pytest.raises(ValueError, match=r"layer 'bwd' \(Recurrence\) has batch_first=True"):
        Bidirectional(IndRNN(N, N, rng=rng), rec)
    ok = IndRNN(3, N, rng=rng)
    model = Sequential([("rnn", ok)])
    ok.batch_first = True  # set after the model was built: refused where it would go wrong
    with pytest.raises(ValueError, match="layer 'rnn'"):
        model.forward(np.zeros((T, B, 3), np.float32))


def test_batch_first_arguments_are_checked_by_name(rng):
    x, W, u, b = rng.standard_normal((B, T, 3)), rng.standard_normal((3, N)), np.zeros(N), np.zeros(N)
    with pytest.raises(TypeError, match="batch_first must be True or False; got 1"):
        indrnn_forward(x, W, u, b, batch_first=1)
    with pytest.raises(ValueError, match=r"x must have 3 dimensions; got shape \(4, 9\)"):
        indrnn_forward(x[:, :, 0], W, u, b, batch_first=True)
    with pytest.raises(ValueError, match=r"lengths must have shape \(B,\) = \(4,\); got \(9,\)"):
        indrnn_forward(x, W, u, b, batch_first=True, lengths=np.ones(T, int))
    with pytest.raises(ValueError, match=r"h0 must have shape \(B, N\) = \(4, 5\)"):
        indrnn_forward(x, W, u, b, np.zeros((T, N)), batch_first=True)
    _, cache = indrnn_forward(x, W, u, b, batch_first=True)
    with pytest.raises(
        ValueError, match=r"dh must have shape \(B, T, N\) \(batch_first\) = \(4, 9, 5\); got \(9, 4, 5\)"
    ):
        indrnn_backward(np.zeros((T, B, N)), cache)
    _, rcache = indrnn_recurrence_forward(rng.standard_normal((B, T, N)), u, b, batch_first=True)
    with pytest.raises(ValueError, match=r"dh must have shape \(B, T, N\) \(batch_first\)"):
        indrnn_recurrence_backward(np.zeros((T, B, N)), rcache)
    with pytest.raises(ValueError, match=r"xw must have 3 dimensions"):
        indrnn_recurrence_forward(np.zeros((B, N)), u, b, batch_first=True)
    with pytest.raises(TypeError, match="batch_first must be True or False"):
        IndRNN(3, N, rng=rng, batch_first="yes")
