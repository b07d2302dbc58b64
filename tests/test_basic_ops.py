"""Dense layers, losses and the plain RNN: gradient-checked in float64."""

import numpy as np
import pytest

from indrnn_np import check_gradients
from indrnn_np.ops import (
    linear_backward,
    linear_forward,
    mse_backward,
    mse_forward,
    rnn_backward,
    rnn_forward,
)


@pytest.mark.parametrize("lead", [(5,), (4, 3)])
def test_linear_gradients(lead, rng):
    inputs = dict(x=rng.standard_normal((*lead, 6)), W=rng.standard_normal((6, 4)), b=rng.standard_normal(4))
    for r in check_gradients(linear_forward, linear_backward, inputs):
        assert r.rel_error < 1e-8, r.name


def test_linear_without_bias(rng):
    x, W = rng.standard_normal((4, 3, 5)), rng.standard_normal((5, 2))
    y, cache = linear_forward(x, W)
    np.testing.assert_allclose(y, x @ W, rtol=1e-12)
    g = linear_backward(np.ones_like(y), cache)
    assert g.db is None and g.dW.shape == (5, 2)
    for r in check_gradients(linear_forward, linear_backward, dict(x=x, W=W)):
        assert r.rel_error < 1e-8, r.name


def test_linear_is_one_gemm_over_all_leading_axes(rng):
    x = rng.standard_normal((7, 3, 5))
    W, b = rng.standard_normal((5, 2)), rng.standard_normal(2)
    y, _ = linear_forward(x, W, b)
    np.testing.assert_allclose(y, np.einsum("tbm,mn->tbn", x, W) + b, rtol=1e-12)


def test_linear_bad_input():
    with pytest.raises(ValueError, match=r"W must have shape \(M, N\) with M = x.shape\[-1\] = 3"):
        linear_forward(np.zeros((2, 3)), np.zeros((4, 2)), np.zeros(2))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        linear_forward(np.zeros((2, 3), int), np.zeros((3, 2)), np.zeros(2))


def test_mse_gradient_and_value(rng):
    target = rng.standard_normal((5, 2))
    res = check_gradients(
        lambda pred: mse_forward(pred, target),
        lambda d, c: {"dpred": mse_backward(d, c)},
        {"pred": rng.standard_normal((5, 2))},
    )
    assert res[0].rel_error < 1e-8
    assert mse_forward(np.ones((4, 1)), np.zeros((4, 1)))[0] == 1.0
    with pytest.raises(ValueError, match=r"target must be an array of pred's shape \(4, 1\)"):
        mse_forward(np.ones((4, 1)), np.zeros(4))


@pytest.mark.parametrize("activation", ["tanh", "relu", "identity"])
def test_rnn_gradients(activation, rng):
    T, B, M, N = 8, 2, 3, 4
    inputs = dict(
        x=rng.standard_normal((T, B, M)),
        W=rng.standard_normal((M, N)) / 2,
        U=rng.standard_normal((N, N)) / 2,
        b=0.1 * rng.standard_normal(N),
        h0=rng.standard_normal((B, N)),
        activation=activation,
    )
    for r in check_gradients(rnn_forward, rnn_backward, inputs, wrt=["x", "W", "U", "b", "h0"]):
        assert r.rel_error < 1e-6, (r.name, r.rel_error)


def test_rnn_with_diagonal_U_is_an_indrnn(rng):
    """IndRNN is the RNN whose recurrent matrix is diagonal: U = diag(u)."""
    from indrnn_np import indrnn_forward

    T, B, M, N = 20, 3, 2, 5
    x, W = rng.standard_normal((T, B, M)), rng.standard_normal((M, N))
    u, b = rng.uniform(-1, 1, N), rng.standard_normal(N)
    h_rnn, _ = rnn_forward(x, W, np.diag(u), b, activation="relu")
    h_ind, _ = indrnn_forward(x, W, u, b, activation="relu", backend="numpy")
    np.testing.assert_allclose(h_rnn, h_ind, rtol=1e-12, atol=1e-12)


def test_lstm_gradients(rng):
    from indrnn_np.ops import lstm_backward, lstm_forward

    T, B, M, N = 7, 2, 3, 4
    inputs = dict(
        x=rng.standard_normal((T, B, M)),
        W=rng.standard_normal((M, 4 * N)) / 2,
        U=rng.standard_normal((N, 4 * N)) / 2,
        b=0.3 * rng.standard_normal(4 * N),
        h0=rng.standard_normal((B, N)),
        c0=rng.standard_normal((B, N)),
    )
    for r in check_gradients(lstm_forward, lstm_backward, inputs):
        assert r.rel_error < 1e-7, (r.name, r.rel_error)


def test_lstm_cell_by_hand(rng):
    """One step against the textbook equations written out longhand."""
    from indrnn_np.ops import lstm_forward

    M, N = 3, 2
    x = rng.standard_normal((1, 1, M))
    W, U, b = rng.standard_normal((M, 4 * N)), rng.standard_normal((N, 4 * N)), rng.standard_normal(4 * N)
    h0, c0 = rng.standard_normal((1, N)), rng.standard_normal((1, N))
    h, _ = lstm_forward(x, W, U, b, h0, c0)
    z = x[0] @ W + h0 @ U + b
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(z[:, :N]), sig(z[:, N : 2 * N]), np.tanh(z[:, 2 * N : 3 * N]), sig(z[:, 3 * N :])
    np.testing.assert_allclose(h[0], o * np.tanh(f * c0 + i * g), rtol=1e-12)
