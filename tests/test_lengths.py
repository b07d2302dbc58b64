"""Variable lengths and bidirectional layers: a padded batch equals each sequence run alone.

Every claim of the lengths API is checked the same way: run B sequences of
different lengths padded into one (T, B, ...) batch, with garbage (NaN, huge
values) in the padding, and compare the real steps' outputs and every gradient
with running each sequence alone, unpadded. Finite differences in float64 check
the gradients of the padded ops and models directly.
"""

import numpy as np
import pytest

from indrnn_np import cuda_available, final_states, indrnn_backward, indrnn_forward
from indrnn_np.gradcheck import check_gradients, check_model_gradients
from indrnn_np.kernels import reference as ref
from indrnn_np.nn import (
    BatchNorm,
    Bidirectional,
    IndRNN,
    LastStep,
    build_indrnn,
    set_recurrent_states,
    set_stateful,
)
from indrnn_np.ops import (
    indrnn_recurrence_backward,
    indrnn_recurrence_forward,
    mask_padding,
    mse_backward,
    mse_forward,
    reverse_padded,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

T, B, M, N = 7, 4, 3, 5
LENGTHS = np.array([7, 2, 5, 1])  # spread 7x from shortest to longest
HOST_BACKENDS = ["numpy", "cpu"]


def _layer_inputs(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, M)).astype(dtype)
    W = (rng.standard_normal((M, N)) * 0.5).astype(dtype)
    u = rng.uniform(0.2, 1.0, N).astype(dtype)
    b = (rng.standard_normal(N) * 0.1).astype(dtype)
    dh = rng.standard_normal((T, B, N)).astype(dtype)
    h0 = (rng.standard_normal((B, N)) * 0.1).astype(dtype)
    return x, W, u, b, dh, h0


def _garbage_padding(a, lengths):
    """A copy of a (T, B, ...) with NaN and huge values in its padding: none may reach a real value."""
    a = a.copy()
    for i, n in enumerate(lengths):
        a[n:, i] = np.nan if i % 2 else 1e30
    return a


def _alone(backend, x, W, u, b, dh, h0, activation):
    """Forward and backward of each sequence alone; returns per-sequence (h, grads)."""
    out = []
    for i, n in enumerate(LENGTHS):
        h, cache = indrnn_forward(
            x[:n, i : i + 1], W, u, b, h0[i : i + 1], activation=activation, backend=backend
        )
        out.append((h, indrnn_backward(dh[:n, i : i + 1], cache)))
    return out


def _layer_backends():
    marks = [] if cuda_available() else [pytest.mark.skip(reason="the CUDA backend cannot load here")]
    return [*HOST_BACKENDS, pytest.param("cuda", marks=[pytest.mark.cudasim, *marks])]


@pytest.mark.parametrize("backend", _layer_backends())
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_padded_layer_equals_each_sequence_alone(backend, activation):
    x, W, u, b, dh, h0 = _layer_inputs()
    h, cache = indrnn_forward(
        _garbage_padding(x, LENGTHS), W, u, b, h0, activation=activation, backend=backend, lengths=LENGTHS
    )
    g = indrnn_backward(_garbage_padding(dh, LENGTHS), cache)
    dW = du = db = 0
    for i, (n, (h_i, g_i)) in enumerate(
        zip(LENGTHS, _alone(backend, x, W, u, b, dh, h0, activation), strict=True)
    ):
        np.testing.assert_allclose(h[:n, i : i + 1], h_i, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g.dx[:n, i : i + 1], g_i.dx, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g.dh0[i : i + 1], g_i.dh0, rtol=1e-12, atol=1e-14)
        assert np.all(h[n:, i] == 0) and np.all(g.dx[n:, i] == 0)  # padding: zeros, never NaN
        np.testing.assert_array_equal(final_states(h, LENGTHS)[i], h[n - 1, i])
        dW, du, db = dW + g_i.dW, du + g_i.du, db + g_i.db
    np.testing.assert_allclose(g.dW, dW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.du, du, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.db, db, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", _layer_backends())
def test_padded_recurrence_equals_each_sequence_alone(backend):
    _, _, u, b, dh, h0 = _layer_inputs()
    xw = np.random.default_rng(1).standard_normal((T, B, N))
    h, cache = indrnn_recurrence_forward(
        _garbage_padding(xw, LENGTHS), u, b, h0, backend=backend, lengths=LENGTHS
    )
    g = indrnn_recurrence_backward(_garbage_padding(dh, LENGTHS), cache)
    du = 0
    for i, n in enumerate(LENGTHS):
        h_i, c_i = indrnn_recurrence_forward(xw[:n, i : i + 1], u, b, h0[i : i + 1], backend=backend)
        g_i = indrnn_recurrence_backward(dh[:n, i : i + 1], c_i)
        np.testing.assert_allclose(h[:n, i : i + 1], h_i, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g.dxw[:n, i : i + 1], g_i.dxw, rtol=1e-12, atol=1e-14)
        assert np.all(h[n:, i] == 0) and np.all(g.dxw[n:, i] == 0)
        du = du + g_i.du
    np.testing.assert_allclose(g.du, du, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_layer_with_lengths_matches_finite_differences(backend):
    x, W, u, b, _, h0 = _layer_inputs()

    def forward(x, W, u, b, h0):
        return indrnn_forward(x, W, u, b, h0, backend=backend, lengths=LENGTHS)

    results = check_gradients(forward, indrnn_backward, {"x": x, "W": W, "u": u, "b": b, "h0": h0})
    assert all(r.rel_error < 1e-6 for r in results), [(r.name, r.rel_error) for r in results]


def test_lengths_are_checked_before_any_kernel():
    x, W, u, b, _, _ = _layer_inputs()
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T\] = \[1, 7\]; got lengths\[1\] = 0"):
        indrnn_forward(x, W, u, b, lengths=np.array([7, 0, 5, 1]))
    with pytest.raises(ValueError, match=r"lengths\[0\] = 8"):
        indrnn_forward(x, W, u, b, lengths=np.array([8, 2, 5, 1]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(B,\) = \(4,\); got \(3,\)"):
        indrnn_forward(x, W, u, b, lengths=np.array([7, 2, 5]))
    with pytest.raises(TypeError, match="lengths must be an integer array"):
        indrnn_forward(x, W, u, b, lengths=np.array([7.0, 2, 5, 1]))


def test_reverse_padded_reverses_real_steps_and_is_its_own_inverse():
    x = np.arange(T * B, dtype=np.float64).reshape(T, B, 1)
    r = reverse_padded(x, LENGTHS)
    for i, n in enumerate(LENGTHS):
        np.testing.assert_array_equal(r[:n, i, 0], x[:n, i, 0][::-1])
        assert np.all(r[n:, i] == 0)
    np.testing.assert_array_equal(reverse_padded(r, LENGTHS), mask_padding(x, LENGTHS))


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="the CUDA backend cannot load here")
def test_cuda_padding_kernels_equal_their_reference_twins():
    from indrnn_np.ops import device
    from indrnn_np.ops.sequences import put_steps, take_steps

    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, 2))
    steps = LENGTHS - 1
    xd = device.to_device(x)
    np.testing.assert_array_equal(mask_padding(xd, LENGTHS).copy_to_host(), mask_padding(x, LENGTHS))
    np.testing.assert_array_equal(reverse_padded(xd, LENGTHS).copy_to_host(), reverse_padded(x, LENGTHS))
    np.testing.assert_array_equal(take_steps(xd, steps).copy_to_host(), take_steps(x, steps))
    dy = rng.standard_normal((B, 2))
    np.testing.assert_array_equal(
        put_steps(device.to_device(dy), steps, x.shape).copy_to_host(), put_steps(dy, steps, x.shape)
    )
    out = np.empty_like(x)
    ref.reverse_steps(x, LENGTHS, out)  # the twin itself, as the op calls it
    np.testing.assert_array_equal(out, reverse_padded(x, LENGTHS))


# --------------------------------------------------------------------------
# Models: the padding test through every layer, with a loss
# --------------------------------------------------------------------------

MODEL_FORMS = {
    "plain": {},
    "bidirectional": {"bidirectional": True},
    "residual": {"residual": True, "layers": 3},
    "residual-bidirectional": {"residual": True, "layers": 3, "bidirectional": True},
}


def _loss(head, classify):
    if classify:
        return softmax_cross_entropy_forward, softmax_cross_entropy_backward
    return mse_forward, mse_backward


def _targets(head, classify, rng):
    shape = (B,) if head == "last" else (T, B)
    if classify:
        return rng.integers(0, 3, shape)
    return rng.standard_normal((*shape, 3))


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("head", ["last", "all"])
@pytest.mark.parametrize("form", sorted(MODEL_FORMS))
def test_padded_model_equals_each_sequence_alone(form, head, backend):
    classify = head == "last"
    rng = np.random.default_rng(5)
    kw = {"layers": 2, **MODEL_FORMS[form]}
    model = build_indrnn(
        T, M, 3, hidden=4, head=head, backend=backend, w_std=None, dtype=np.float64, seed=2, **kw
    )
    x = rng.standard_normal((T, B, M))
    y = _targets(head, classify, rng)
    loss_f, loss_b = _loss(head, classify)
    if head == "all":  # the padding's targets are garbage too
        y = _garbage_padding(y, LENGTHS) if not classify else np.where(y >= 0, y, -1)
    pred, caches = model.forward(_garbage_padding(x, LENGTHS), train=True, lengths=LENGTHS)
    loss, lcache = loss_f(pred, y, lengths=LENGTHS)
    dx, grads = model.backward(loss_b(1.0, lcache), caches)
    total = dict.fromkeys(grads, 0.0)
    for i, n in enumerate(LENGTHS):
        yi = y[i : i + 1] if head == "last" else y[:n, i : i + 1]
        p_i, c_i = model.forward(x[:n, i : i + 1], train=True)
        _, lc_i = loss_f(p_i, yi)
        dx_i, g_i = model.backward(loss_b(1.0, lc_i), c_i)
        real = p_i if head == "last" else p_i
        got = pred[i : i + 1] if head == "last" else pred[:n, i : i + 1]
        np.testing.assert_allclose(got, real, rtol=1e-11, atol=1e-13)
        weight = 1 / B if head == "last" else n / LENGTHS.sum()  # each loss is a mean over its values
        np.testing.assert_allclose(dx[:n, i : i + 1], dx_i * weight, rtol=1e-10, atol=1e-13)
        assert np.all(dx[n:, i] == 0)
        for k in grads:
            total[k] = total[k] + g_i[k] * weight
    for k in grads:
        np.testing.assert_allclose(grads[k], total[k], rtol=1e-10, atol=1e-13, err_msg=k)
    assert np.isfinite(loss)


@pytest.mark.parametrize(
    "kw",
    [
        {"bidirectional": True},
        {"bn": "time", "bidirectional": True},
        {"bn": "time", "bn_position": "after"},
        {"bn": "time", "residual": True, "layers": 3, "bidirectional": True},
    ],
    ids=["bidirectional", "bn-time-bidirectional", "bn-after", "residual-bn-bidirectional"],
)
def test_models_with_lengths_match_finite_differences(kw):
    rng = np.random.default_rng(7)
    # tanh: smooth, so that finite differences never straddle a ReLU kink
    model = build_indrnn(
        T, M, 3, hidden=3, head="last", activation="tanh", w_std=None, dtype=np.float64, seed=1,
        **{"layers": 2, **kw},
    )  # fmt: skip
    x = _garbage_padding(rng.standard_normal((T, B, M)), LENGTHS)
    x = np.where(np.isfinite(x) & (np.abs(x) < 1e3), x, 0.0)  # finite differences need a finite x
    y = rng.integers(0, 3, B)
    results = check_model_gradients(
        model,
        x,
        y,
        softmax_cross_entropy_forward,
        softmax_cross_entropy_backward,
        lengths=LENGTHS,
    )
    # a bias that feeds batch norm has a gradient of 0 (to rounding, ~1e-17), which only the absolute
    # error can judge; every other array to a relative 1e-6
    bad = [(r.name, r.rel_error) for r in results if r.rel_error > 1e-6 and r.max_abs_error > 1e-9]
    assert not bad, bad


@pytest.mark.parametrize("mode", ["time", "frame"])
def test_batchnorm_with_lengths_uses_only_real_steps(mode):
    lengths = np.array([7, 2, 5, 3])  # frame-wise: every step but the last two has >= 2 sequences
    lengths_frame = np.array([7, 7, 5, 3])
    lens = lengths if mode == "time" else lengths_frame
    rng = np.random.default_rng(11)
    x = rng.standard_normal((T, B, N)) * 3 + 1
    bn = BatchNorm(N, mode=mode, T_max=T, backend="cpu", dtype=np.float64)
    y, _ = bn.forward(_garbage_padding(x, lens), train=True, lengths=lens)
    real = np.arange(T)[:, None] < lens[None, :]
    if mode == "time":
        rows = x[real]  # every real step of every sequence
        expected = (rows - rows.mean(0)) / np.sqrt(rows.var(0) + bn.eps)
        np.testing.assert_allclose(y[real], expected, rtol=1e-10)
        np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * rows.mean(0), rtol=1e-10)
    else:
        for t in range(T):
            rows = x[t][real[t]]
            expected = (rows - rows.mean(0)) / np.sqrt(rows.var(0) + bn.eps)
            np.testing.assert_allclose(y[t][real[t]], expected, rtol=1e-10)
    assert np.all(y[~real] == 0)


def test_batchnorm_refuses_one_value_per_statistic():
    bn = BatchNorm(N, mode="time", backend="cpu", dtype=np.float64)
    with pytest.raises(ValueError, match="more than one value per statistic"):
        bn.forward(np.ones((1, N)), train=True)  # a (B, N) step of one sequence
    with pytest.raises(ValueError, match="more than one value per statistic"):
        bn.forward(np.ones((1, 1, N)), train=True)  # T·B = 1
    bn.forward(np.ones((1, N)), train=False)  # inference uses the running statistics: fine
    frame = BatchNorm(N, mode="frame", T_max=T, backend="cpu", dtype=np.float64)
    with pytest.raises(ValueError, match="more than one value per statistic"):
        frame.forward(np.ones((T, 1, N)), train=True)
    with pytest.raises(ValueError, match=r"step 5 has only 1 real sequence"):
        frame.forward(np.ones((T, B, N)), train=True, lengths=LENGTHS)


def test_last_step_reads_each_sequences_last_step_and_the_backward_half_at_zero():
    x = np.random.default_rng(2).standard_normal((T, B, 4))
    y, cache = LastStep().forward(x, lengths=LENGTHS)
    np.testing.assert_array_equal(y, x[LENGTHS - 1, np.arange(B)])
    y2, cache2 = LastStep(split=2).forward(x, lengths=LENGTHS)
    np.testing.assert_array_equal(y2[:, :2], x[LENGTHS - 1, np.arange(B), :2])
    np.testing.assert_array_equal(y2[:, 2:], x[0, :, 2:])
    dy = np.ones((B, 4))
    dx, _ = LastStep(split=2).backward(dy, cache2)
    assert dx.sum() == dy.sum() and np.all(dx[0, :, 2:] == 1)


def test_bidirectional_backward_direction_reads_each_sequence_in_reverse():
    rng = np.random.default_rng(4)
    f = IndRNN(M, N, w_std=None, rng=rng, dtype=np.float64)
    bwd = IndRNN(M, N, w_std=None, rng=rng, dtype=np.float64)
    layer = Bidirectional(f, bwd)
    x = rng.standard_normal((T, B, M))
    y, _ = layer.forward(x, lengths=LENGTHS)
    for i, n in enumerate(LENGTHS):
        alone, _ = bwd.forward(x[:n, i : i + 1][::-1].copy())
        np.testing.assert_allclose(y[:n, i, N:], alone[::-1, 0], rtol=1e-12)
    summed = Bidirectional(f, bwd, merge="sum").forward(x, lengths=LENGTHS)[0]
    np.testing.assert_allclose(summed, y[..., :N] + y[..., N:], rtol=1e-12)
    assert set(layer.params) == {"fwd.W", "fwd.u", "fwd.b", "bwd.W", "bwd.u", "bwd.b"}
    with pytest.raises(ValueError, match="merge must be"):
        Bidirectional(f, bwd, merge="mean")


def test_bidirectional_layer_without_lengths_matches_finite_differences():
    rng = np.random.default_rng(9)
    model = build_indrnn(T, M, 2, hidden=3, head="all", bidirectional=True, w_std=None, dtype=np.float64)
    x = rng.standard_normal((T, B, M))
    y = rng.standard_normal((T, B, 2))
    results = check_model_gradients(model, x, y, mse_forward, mse_backward)
    assert all(r.rel_error < 1e-6 for r in results), [(r.name, r.rel_error) for r in results]


def test_stateful_layer_keeps_each_sequences_last_real_state_and_refuses_another_batch():
    model = build_indrnn(T, M, 1, hidden=N, layers=1, head="all", dtype=np.float64)
    set_stateful(model, B)
    x = np.random.default_rng(0).standard_normal((T, B, M))
    h_all, _ = model.layers[0][1].forward(x, lengths=LENGTHS)
    np.testing.assert_array_equal(model.layers[0][1].state, h_all[LENGTHS - 1, np.arange(B)])
    with pytest.raises(
        ValueError, match="carries a state for a batch of 4 sequences; got x with a batch of 3"
    ):
        model.forward(x[:, :3])
    set_recurrent_states(model, None)
    model.forward(x[:, :3])  # after a reset, any batch


def test_losses_with_lengths_skip_the_padding():
    rng = np.random.default_rng(1)
    pred = rng.standard_normal((T, B, 2))
    target = _garbage_padding(rng.standard_normal((T, B, 2)), LENGTHS)
    loss, cache = mse_forward(pred, target, lengths=LENGTHS)
    real = np.arange(T)[:, None] < LENGTHS[None, :]
    assert loss == pytest.approx(np.mean((pred[real] - target[real]) ** 2), rel=1e-12)
    d = mse_backward(1.0, cache)
    assert np.all(d[~real] == 0)
    labels = np.where(real, rng.integers(0, 2, (T, B)), -100)  # the padding's labels out of range
    loss, cache = softmax_cross_entropy_forward(pred, labels, lengths=LENGTHS)
    alone, _ = softmax_cross_entropy_forward(pred[real], labels[real])
    assert loss == pytest.approx(alone, rel=1e-12)
    assert np.all(softmax_cross_entropy_backward(1.0, cache)[~real] == 0)


def test_optimizer_on_model_params_projects_u_as_on_the_model():
    from indrnn_np.nn import Adam

    model = build_indrnn(T, M, 1, hidden=N, bidirectional=True, gamma=2.0)
    by_params, by_model = Adam(model.params, lr=1.0), Adam(model, lr=1.0)
    assert by_params.u_bounds == by_model.u_bounds
    assert {"indrnn1.fwd.u", "indrnn1.bwd.u", "indrnn2.fwd.u", "indrnn2.bwd.u"} <= set(by_params.u_bounds)


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="the CUDA backend cannot load here")
@pytest.mark.parametrize(
    "kw, head",
    [
        ({"bidirectional": True, "bn": "time"}, "last"),
        ({"bidirectional": True, "residual": True, "layers": 2}, "all"),
    ],
    ids=["bidirectional-bn-last", "residual-bidirectional-all"],
)
def test_model_with_lengths_on_the_device_equals_the_host(kw, head):
    """Every layer's padded path on device arrays (Numba's simulator): the same outputs and gradients."""
    from indrnn_np.ops.device import to_host

    rng = np.random.default_rng(6)
    Tn, Bn = 4, 3
    lengths = np.array([4, 1, 3])
    x = rng.standard_normal((Tn, Bn, 2))
    y = rng.integers(0, 2, (Bn,) if head == "last" else (Tn, Bn))
    out = {}
    for backend in ("cpu", "cuda"):
        model = build_indrnn(Tn, 2, 2, hidden=2, head=head, backend=backend, dtype=np.float64, seed=3, **kw)
        pred, caches = model.forward(x, train=True, lengths=lengths)
        loss, lc = softmax_cross_entropy_forward(pred, y, lengths=lengths)
        _, grads = model.backward(softmax_cross_entropy_backward(1.0, lc), caches)
        out[backend] = (
            to_host(pred),
            float(np.asarray(to_host(loss)).reshape(-1)[0]),
            {k: to_host(g) for k, g in grads.items()},
        )
    (p_c, l_c, g_c), (p_d, l_d, g_d) = out["cpu"], out["cuda"]
    np.testing.assert_allclose(p_d, p_c, rtol=1e-10, atol=1e-12)
    assert l_d == pytest.approx(l_c, rel=1e-10)
    for k in g_c:
        np.testing.assert_allclose(g_d[k], g_c[k], rtol=1e-9, atol=1e-12, err_msg=k)
