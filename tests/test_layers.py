"""Batch norm, dropout, cross-entropy, the recurrence op, and whole networks: gradient-checked in float64."""

import re

import numpy as np
import pytest

from indrnn_np import check_gradients, rel_error
from indrnn_np.gradcheck import check_model_gradients
from indrnn_np.nn import BatchNorm, Dropout, Sequential, build_baseline, build_indrnn
from indrnn_np.ops import (
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    indrnn_forward,
    indrnn_recurrence_backward,
    indrnn_recurrence_forward,
    mse_backward,
    mse_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize(
    "shape, axes",
    [((6, 5, 4), (0, 1)), ((6, 5, 4), (1,)), ((9, 4), (0,))],
    ids=["over-time", "frame-wise", "2-D"],
)
def test_batchnorm_gradients(shape, axes, backend, rng):
    inputs = dict(
        x=rng.standard_normal(shape) * 3 + 1, gamma=rng.uniform(0.5, 2, 4), beta=rng.standard_normal(4)
    )

    def fwd(x, gamma, beta):
        y, cache, _, _ = batchnorm_forward(x, gamma, beta, axes, backend=backend)
        return y, cache

    for r in check_gradients(fwd, batchnorm_backward, inputs):
        assert r.rel_error < 1e-7, (r.name, r.rel_error)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_batchnorm_numba_kernels_match_the_numpy_reference(dtype, tol, rng):
    # 300 * 7 rows: several fixed blocks of config.CPU_BN_ROWS plus a ragged last one
    x = (rng.standard_normal((300, 7, 5)) * 3 + 1).astype(dtype)
    gamma, beta = rng.uniform(0.5, 2, 5).astype(dtype), rng.standard_normal(5).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    outs = {}
    for backend in ("cpu", "numpy"):
        y, cache, mean, var = batchnorm_forward(x, gamma, beta, (0, 1), backend=backend)
        g = batchnorm_backward(dy, cache)
        assert cache.backend == backend
        assert {a.dtype for a in (y, mean, var, g.dx, g.dgamma, g.dbeta)} == {np.dtype(dtype)}
        outs[backend] = (y, mean, var, g.dx, g.dgamma / x.shape[0], g.dbeta / x.shape[0])
    for a, b in zip(outs["cpu"], outs["numpy"], strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_batchnorm_numba_kernel_keeps_precision_with_a_large_mean(rng):
    # a last layer with u near 1 sums its input: mean 1e4, spread 1; float32 must still resolve the spread
    x = (1e4 + rng.standard_normal((200, 16, 3))).astype(np.float32)
    y, _, _, _ = batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), (0, 1))
    ref = (x.astype(np.float64) - x.mean(axis=(0, 1), dtype=np.float64)) / x.astype(np.float64).std(
        axis=(0, 1)
    )
    np.testing.assert_allclose(y, ref, atol=2e-3)


def test_batchnorm_numba_result_does_not_depend_on_the_thread_count(rng):
    import numba

    x = rng.standard_normal((257, 9, 4)).astype(np.float32)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        y1, c1, m1, _ = batchnorm_forward(x, ones, zeros, (0, 1))
        g1 = batchnorm_backward(y1, c1).dx
        numba.set_num_threads(before)
        y2, c2, m2, _ = batchnorm_forward(x, ones, zeros, (0, 1))
        g2 = batchnorm_backward(y2, c2).dx
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(g1, g2)


def test_batchnorm_bad_arguments(rng):
    x = rng.standard_normal((4, 3, 2))
    with pytest.raises(ValueError, match="backend must be one of 'numpy', 'cpu', 'cuda'"):
        batchnorm_forward(x, np.ones(2), np.zeros(2), (0, 1), backend="gpu")
    _, cache, _, _ = batchnorm_forward(x, np.ones(2), np.zeros(2), (0, 1))
    with pytest.raises(ValueError, match="dy"):
        batchnorm_backward(np.ones((4, 3, 3)), cache)
    with pytest.raises(TypeError, match="dy must have the same dtype as x"):
        batchnorm_backward(np.ones((4, 3, 2), np.float32), cache)


def test_batchnorm_statistics(rng):
    x = rng.standard_normal((7, 6, 3)) * 4 + 2
    y, _, mean, var = batchnorm_forward(x, np.ones(3), np.zeros(3), (0, 1))
    np.testing.assert_allclose(y.mean(axis=(0, 1)), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=(0, 1)), 1, atol=1e-5)
    assert mean.shape == (3,) and var.shape == (3,)
    y, _, mean, var = batchnorm_forward(x, np.ones(3), np.zeros(3), (1,))
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)  # every step normalised on its own
    assert mean.shape == (7, 3)
    with pytest.raises(ValueError, match="must not include the feature axis"):
        batchnorm_forward(x, np.ones(3), np.zeros(3), (2,))


@pytest.mark.parametrize("mode", ["time", "frame"])
def test_batchnorm_layer_running_stats_and_inference(mode, rng):
    bn = BatchNorm(3, mode=mode, T_max=5, momentum=0.5, dtype=np.float64)
    x = rng.standard_normal((5, 8, 3)) * 2 + 3
    for _ in range(30):
        bn.forward(x, train=True)
    y_train, _ = bn.forward(x, train=True)
    y_eval, cache = bn.forward(x, train=False)
    assert cache is None
    # after many identical batches the running statistics are the batch's (variance unbiased)
    m = 40 if mode == "time" else 8
    np.testing.assert_allclose(y_eval, y_train * np.sqrt((m - 1) / m), rtol=1e-3, atol=1e-3)
    if mode == "frame":
        assert bn.buffers["running_mean"].shape == (5, 3)
        longer, _ = bn.forward(rng.standard_normal((9, 2, 3)), train=False)  # past T_max: last step's stats
        assert longer.shape == (9, 2, 3)
    with pytest.raises(RuntimeError, match="inference-mode batch norm"):
        bn.backward(np.ones_like(x), None)


def test_dropout_one_mask_per_sequence(rng):
    x = np.ones((9, 4, 50))
    y, mask = dropout_forward(x, 0.3, np.random.default_rng(0))
    assert mask.shape == (4, 50)
    np.testing.assert_array_equal(y, np.broadcast_to(mask, y.shape))  # the same at every step
    assert set(np.unique(mask)) <= {0.0, 1 / 0.7}
    assert 0.15 < np.mean(mask == 0) < 0.45
    res = check_gradients(
        lambda x: dropout_forward(x, 0.3, np.random.default_rng(5)),
        lambda d, m: {"dx": dropout_backward(d, m)},
        {"x": rng.standard_normal((3, 2, 4))},
    )
    assert res[0].rel_error < 1e-9
    layer = Dropout(0.5, seed=1)
    assert layer.forward(x, train=False)[0] is x
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        dropout_forward(x, 1.0, rng)


def test_softmax_cross_entropy(rng):
    labels = rng.integers(0, 5, size=(3, 4))
    res = check_gradients(
        lambda logits: softmax_cross_entropy_forward(logits, labels),
        lambda d, c: {"dlogits": softmax_cross_entropy_backward(d, c)},
        {"logits": rng.standard_normal((3, 4, 5)) * 3},
    )
    assert res[0].rel_error < 1e-8
    # uniform logits: the loss is log C
    assert softmax_cross_entropy_forward(np.zeros((2, 7)), np.array([1, 3]))[0] == pytest.approx(np.log(7))
    # huge logits do not overflow
    assert np.isfinite(softmax_cross_entropy_forward(np.array([[1e4, 0.0]]), np.array([1]))[0])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 5\)"):
        softmax_cross_entropy_forward(np.zeros((2, 5)), np.array([0, 5]))
    with pytest.raises(TypeError, match="labels must be integers"):
        softmax_cross_entropy_forward(np.zeros((2, 5)), np.array([0.0, 1.0]))


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_recurrence_op_gradients_and_agreement(backend, rng):
    from indrnn_np.gradcheck import indrnn_check_inputs

    inp = indrnn_check_inputs(10, 3, 4, 5, activation="tanh", seed=1)
    xw = inp["x"] @ inp["W"]
    inputs = dict(xw=xw, u=inp["u"], b=inp["b"], h0=inp["h0"], activation="tanh", backend=backend)
    for r in check_gradients(
        indrnn_recurrence_forward, indrnn_recurrence_backward, inputs, wrt=["xw", "u", "b", "h0"]
    ):
        assert r.rel_error < 1e-7, r.name
    h_rec, _ = indrnn_recurrence_forward(xw, inp["u"], inp["b"], inp["h0"], "tanh", backend)
    h_full, _ = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"], inp["h0"], "tanh", backend)
    assert rel_error(h_rec, h_full) < 1e-13


NETWORKS = {
    "basic-2-layers": dict(layers=2),
    "bn-over-time-before": dict(layers=2, bn="time", bn_position="before"),
    "bn-frame-wise-before": dict(layers=2, bn="frame", bn_position="before"),
    "bn-over-time-after": dict(layers=2, bn="time", bn_position="after"),
    "residual-bn-time": dict(layers=3, residual=True, bn="time"),
    "residual-no-bn": dict(layers=2, residual=True),
    "every-step-head": dict(layers=2, bn="frame", head="all"),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_whole_network_gradients_float64(name, rng):
    kw = NETWORKS[name]
    T, B, M, N = 6, 4, 3, 5
    model = build_indrnn(T, M, 2, hidden=N, backend="cpu", seed=3, w_std=None, dtype=np.float64, **kw)
    # Nudge every parameter off its initial value: with zero biases, a ReLU fed
    # exact zeros by the ReLU below it sits exactly on its kink at 0, where a
    # finite difference measures neither side.
    for v in model.params.values():
        v += 0.1 * rng.standard_normal(v.shape)
    x = rng.standard_normal((T, B, M))
    y = rng.standard_normal((T, B, 2) if kw.get("head") == "all" else (B, 2))
    results = check_model_gradients(model, x, y, mse_forward, mse_backward)
    names = [r.name for r in results]
    assert "x" in names and any(n.endswith(".u") for n in names)
    if kw.get("bn", "none") != "none":
        assert any(n.endswith(".gamma") for n in names)
    for r in results:
        if np.max(np.abs(r.analytic)) < 1e-12:
            # A bias whose every path leads into a batch norm (which removes
            # per-feature constants) has an exactly zero gradient; the finite
            # difference is then rounding noise of order 1e-16 / eps.
            assert r.max_abs_error < 1e-8, (name, r.name, r.max_abs_error)
        else:
            assert r.rel_error < 1e-6, (name, r.name, r.rel_error)


def test_parameters_visible_by_name():
    model = build_indrnn(100, 2, 1, hidden=8, layers=3, residual=True, bn="time", seed=0)
    p = model.params
    assert {
        "indrnn1.W",
        "indrnn1.u",
        "res2.bn1.gamma",
        "res2.indrec1.u",
        "res3.dense2.W",
        "indrec_out.u",
        "head.W",
    } <= set(p)
    assert "res2.bn1.running_mean" in model.buffers
    # the last recurrent layer (read at the last step only) starts near 1; hidden ones in [0, u_max]
    u_max, u_min = 2 ** (1 / 100), 0.5 ** (1 / 100)
    assert p["indrec_out.u"].min() >= u_min - 1e-6 and p["indrec_out.u"].max() <= u_max + 1e-6
    assert p["res2.indrec1.u"].min() >= 0 and p["res2.indrec1.u"].max() <= u_max + 1e-6


def test_paper_parameter_count_for_the_adding_problem():
    from indrnn_np.nn import indrnn_regressor

    assert indrnn_regressor(100).num_params() == 17281  # the paper's ≈ 17K


def test_bad_model_options():
    with pytest.raises(ValueError, match="bn must be one of"):
        build_indrnn(10, 2, 1, bn="batch")
    with pytest.raises(ValueError, match="frame-wise batch norm needs T_max"):
        BatchNorm(4, mode="frame")
    with pytest.raises(ValueError, match="dropout must be in"):
        build_indrnn(10, 2, 1, dropout=1.5)


@pytest.mark.parametrize("residual", [False, True])
def test_batch_norm_feeds_the_head(residual):
    # Pixel-MNIST-like input: the last recurrent layer, u near 1, sums a positive input over T
    # steps; the final BN must hand the head features of mean 0 and std 1 whatever T is.
    T, B = 300, 16
    model = build_indrnn(T, 1, 10, hidden=8, layers=2, residual=residual, bn="time", seed=0, dtype=np.float64)
    names = [n for n, _ in model.layers]
    assert names[-3:] == ["last", "bn_head", "head"]
    x = np.abs(np.random.default_rng(1).standard_normal((T, B, 1)))
    body = Sequential(model.layers[:-1])  # everything but the head
    z, _ = body.forward(x, train=True)
    assert z.shape == (B, 8)
    active = z.std(axis=0) > 0  # a ReLU unit dead on every sequence stays 0 after BN's shift
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=0)[active], 1.0, rtol=1e-3)
    # the same stack without the final BN hands the head a sum over many steps
    raw, _ = Sequential([(n, layer) for n, layer in model.layers[:-1] if n != "bn_head"]).forward(
        x, train=True
    )
    assert np.abs(raw).max() > 10 * np.abs(z).max()


def test_no_extra_batch_norm_without_bn_or_after_placement():
    assert "bn_head" not in dict(build_indrnn(10, 2, 1, layers=2).layers)
    after = [n for n, _ in build_indrnn(10, 2, 1, layers=2, bn="time", bn_position="after").layers]
    assert after[-3:] == ["bn2", "last", "head"]
    with pytest.raises(ValueError, match=r"frame-wise batch norm needs x of shape \(T, B, N\)"):
        BatchNorm(4, mode="frame", T_max=3).forward(np.zeros((2, 4)))


def test_layers_from_trained_arrays(rng):
    from indrnn_np.nn import Dense, IndRNN

    W, u, b = rng.standard_normal((3, 2)), rng.uniform(0, 1, 2), rng.standard_normal(2)
    layer = IndRNN.from_arrays(W, u, b, activation="relu", backend="numpy")
    x = rng.standard_normal((5, 4, 3))
    np.testing.assert_array_equal(layer.forward(x)[0], indrnn_forward(x, W, u, b, backend="numpy")[0])
    W[0, 0] = 99.0  # the layer holds copies
    assert layer.params["W"][0, 0] != 99.0
    head = Dense.from_arrays(W)
    assert set(head.params) == {"W"} and head.forward(np.ones((2, 3)))[0].shape == (2, 2)
    with pytest.raises(ValueError, match=r"need W \(M, N\), u \(N,\), b \(N,\)"):
        IndRNN.from_arrays(W, u[:1], b)
    with pytest.raises(ValueError, match=r"need W \(M, N\) and b \(N,\) or None"):
        Dense.from_arrays(W, np.ones(3))


@pytest.mark.parametrize("bn", ["none", "time"])
def test_backward_without_input_grad_skips_only_dx(bn, monkeypatch):
    """Training asks for no gradient of the data: the parameter gradients are the same, dx is None."""
    from indrnn_np import config
    from indrnn_np.timing import Timers

    # the GEMM path, whose dx GEMM is counted (test_fused checks the fused path without dx)
    monkeypatch.setattr(config, "FUSE_MAX_M", 0)

    model = build_indrnn(12, 3, 2, hidden=6, layers=2, bn=bn, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((12, 4, 3))
    out, caches = model.forward(x)
    dout = np.ones_like(out)
    dx, full = model.backward(dout, caches)
    timers = Timers()
    with timers:
        none, grads = model.backward(dout, caches, input_grad=False)
    assert dx.shape == x.shape and none is None
    assert grads.keys() == full.keys()
    for k in full:
        np.testing.assert_array_equal(grads[k], full[k], err_msg=k)
    with Timers() as all_timers:
        model.backward(dout, caches)
    assert timers.calls["gemm"] == all_timers.calls["gemm"] - 1


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_indrnn(8, 3, 2, hidden=[5, 1], activation="tanh", w_std=None, seed=0, dtype=np.float64),
        lambda: build_indrnn(
            8, 3, 2, hidden=[5, 4, 1], bn="time", activation="tanh", seed=0, dtype=np.float64
        ),
        lambda: build_baseline("lstm", 3, 2, hidden=4, layers=3, seed=0, dtype=np.float64),
        lambda: build_baseline("rnn-tanh", 3, 2, hidden=[5, 3], layers=2, seed=0, dtype=np.float64),
    ],
    ids=["indrnn-5-1", "indrnn-bn-5-4-1", "lstm-x3", "tanh-5-3"],
)
def test_per_layer_widths_and_stacked_baselines_gradient_check(build):
    """tanh throughout: a central difference across a ReLU kink is not a gradient (the ReLU
    networks are checked elsewhere with inputs kept off the kinks)."""
    from indrnn_np.ops import mse_backward, mse_forward

    model = build()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3, 3)), rng.standard_normal((3, 2))
    for r in check_model_gradients(model, x, y, mse_forward, mse_backward):
        if np.max(np.abs(r.analytic)) < 1e-12:
            assert r.max_abs_error < 1e-8, r.name
        else:
            assert r.rel_error < 1e-6, (r.name, r.rel_error)


def test_width_errors():
    with pytest.raises(ValueError, match=r"hidden\[1\] must be an integer >= 1; got 0"):
        build_indrnn(8, 3, 2, hidden=[5, 0])
    with pytest.raises(ValueError, match="one width"):
        build_indrnn(8, 3, 2, hidden=[5, 4], residual=True)
    with pytest.raises(ValueError, match="model must be one of"):
        build_baseline("gru", 3, 2)


@pytest.mark.parametrize(
    "args, kw, error, message",
    [
        ((None, 2, 1), {}, TypeError, "T must be an integer >= 1; got None (NoneType)"),
        ((0, 2, 1), {}, ValueError, "T must be an integer >= 1; got 0"),
        ((2.5, 2, 1), {}, TypeError, "T must be an integer >= 1; got 2.5 (float)"),
        ((10.0, 2, 1), {}, TypeError, "T must be an integer >= 1; got 10.0 (float)"),
        ((True, 2, 1), {}, TypeError, "T must be an integer >= 1; got True (bool)"),
        ((10, 0, 1), {}, ValueError, "M must be an integer >= 1; got 0"),
        ((10, None, 1), {}, TypeError, "M must be an integer >= 1; got None"),
        ((10, 2, 0), {}, ValueError, "outputs must be an integer >= 1; got 0"),
        ((10, 2, 1.0), {}, TypeError, "outputs must be an integer >= 1; got 1.0"),
        ((10, 2, 1), {"hidden": 0}, ValueError, "hidden must be an integer >= 1; got 0"),
        ((10, 2, 1), {"hidden": 8.0}, TypeError, "hidden must be an integer >= 1; got 8.0"),
        ((10, 2, 1), {"hidden": [8, False]}, TypeError, "hidden[1] must be an integer >= 1; got False"),
        ((10, 2, 1), {"hidden": []}, ValueError, "hidden must be an integer >= 1 or a non-empty sequence"),
        ((10, 2, 1), {"layers": 0}, ValueError, "layers must be an integer >= 1; got 0"),
        ((10, 2, 1), {"layers": 2.0}, TypeError, "layers must be an integer >= 1; got 2.0"),
    ],
)
def test_build_time_errors_name_the_argument(args, kw, error, message):
    from indrnn_np.nn import build_dense_indrnn, indrnn_regressor

    with pytest.raises(error, match=re.escape(message)):
        build_indrnn(*args, **kw)
    if "hidden" not in kw and "layers" not in kw:
        with pytest.raises(error, match=re.escape(message)):
            build_dense_indrnn(*args, blocks=(1,), growth=2)
    if "M" not in message:
        T, _, outputs = args
        with pytest.raises(error, match=re.escape(message)):
            indrnn_regressor(T, outputs=outputs, **kw)


def test_build_time_errors_of_the_dense_network_and_baselines():
    from indrnn_np.nn import build_dense_indrnn

    with pytest.raises(TypeError, match=re.escape("growth must be an integer >= 1; got 1.5")):
        build_dense_indrnn(10, 2, 1, growth=1.5)
    with pytest.raises(ValueError, match=re.escape("blocks[1] must be an integer >= 1; got 0")):
        build_dense_indrnn(10, 2, 1, blocks=(2, 0))
    with pytest.raises(ValueError, match="blocks must hold at least one block"):
        build_dense_indrnn(10, 2, 1, blocks=())
    with pytest.raises(TypeError, match=re.escape("M must be an integer >= 1; got 2.0")):
        build_baseline("lstm", 2.0, 1)
    # NumPy integers are integers
    assert build_indrnn(np.int64(10), np.int32(2), 1, hidden=np.array([3, 4])).num_params() > 0


@pytest.mark.parametrize("bn", ["time", "frame", "none"])
def test_dense_indrnn_gradient_check(bn):
    """Dense blocks (concatenation, the 4k bottleneck) and the transition, end to end in float64."""
    from indrnn_np.nn import DenseConnection, build_dense_indrnn, recurrent_layers
    from indrnn_np.ops import mse_backward, mse_forward

    model = build_dense_indrnn(
        6, 3, 2, blocks=(2, 1), growth=2, hidden=3, bn=bn, activation="tanh", seed=0, dtype=np.float64
    )
    assert sum(1 for _ in recurrent_layers(model)) == 1 + 2 * 3 + 1
    assert sum(isinstance(layer, DenseConnection) for _, layer in model.layers) == 3
    # the head sees (3 + 2 * 2) // 2 + 2 = 5 features
    assert model.params["head.W"].shape == (5, 2)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4, 3)), rng.standard_normal((4, 2))
    for r in check_model_gradients(model, x, y, mse_forward, mse_backward):
        if np.max(np.abs(r.analytic)) < 1e-12:
            assert r.max_abs_error < 1e-8, r.name
        else:
            assert r.rel_error < 1e-6, (bn, r.name, r.rel_error)


def test_dense_connection_concatenates_and_splits_the_gradient():
    from indrnn_np.nn import Dense, DenseConnection

    layer = DenseConnection(Sequential([("d", Dense(3, 2, rng=np.random.default_rng(0), dtype=np.float64))]))
    x = np.random.default_rng(1).standard_normal((5, 3))
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(y[:, :3], x)
    np.testing.assert_allclose(y[:, 3:], x @ layer.params["d.W"] + layer.params["d.b"])
    dy = np.random.default_rng(2).standard_normal((5, 5))
    dx, grads = layer.backward(dy, cache)
    np.testing.assert_allclose(dx, dy[:, :3] + dy[:, 3:] @ layer.params["d.W"].T)
    np.testing.assert_allclose(grads["d.W"], x.T @ dy[:, 3:])


def test_a_batch_of_another_dtype_than_the_model_is_named_at_the_entry(rng):
    from indrnn_np.nn import build_dense_indrnn

    for model in (
        build_indrnn(5, 2, 1, hidden=3, residual=True, layers=2, bn="time"),
        build_dense_indrnn(5, 2, 1, blocks=(1,), growth=2),
        build_baseline("lstm", 2, 1, hidden=3),
    ):
        x = rng.standard_normal((5, 4, 2))
        with pytest.raises(
            TypeError,
            match=re.escape(
                "x has dtype float64 but the model's parameters are float32: cast the batch with "
                "x.astype(np.float32), or build the model with dtype=np.float64"
            ),
        ):
            model.forward(x)
        with pytest.raises(TypeError, match=r"x has dtype int64 .* x\.astype\(np\.float32\)$"):
            model.forward(x.astype(np.int64))
        assert model.forward(x.astype(np.float32), train=False)[0].dtype == np.float32
