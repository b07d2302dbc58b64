"""Pooling over time (mean, max) for sequence-level heads: the op, the layer, the models, every backend."""

import numpy as np
import pytest

from indrnn_np import cuda_available
from indrnn_np.gradcheck import check_gradients, check_model_gradients
from indrnn_np.nn import LastStep, Pool, build_baseline, build_dense_indrnn, build_indrnn
from indrnn_np.ops import (
    pool_backward,
    pool_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

T, B, N = 6, 4, 3
LENGTHS = np.array([6, 2, 4, 1])


def _garbage_padding(a, lengths):
    """A copy of a (T, B, ...) with NaN, inf and huge values in its padding: none may reach a result."""
    a = a.copy()
    for i, n in enumerate(lengths):
        a[n:, i] = (np.nan, np.inf, 1e30, -np.inf)[i % 4]
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["mean", "max"])
def test_pooling_equals_each_sequence_alone_whatever_the_padding_holds(mode, dtype):
    rng = np.random.default_rng(0)
    h = _garbage_padding(rng.standard_normal((T, B, N)).astype(dtype), LENGTHS)
    dy = rng.standard_normal((B, N)).astype(dtype)
    y, cache = pool_forward(h, mode, LENGTHS)
    dh = pool_backward(dy, cache)
    assert y.dtype == dtype and dh.dtype == dtype and y.shape == (B, N) and dh.shape == (T, B, N)
    for b, n in enumerate(LENGTHS):
        real = h[:n, b]
        expect = real.mean(axis=0) if mode == "mean" else real.max(axis=0)
        np.testing.assert_allclose(y[b], expect, rtol=1e-6)
        assert np.all(dh[n:, b] == 0)  # the padding gets no gradient
        if mode == "mean":
            np.testing.assert_allclose(dh[:n, b], np.broadcast_to(dy[b] / n, (n, N)), rtol=1e-6)
        else:  # all of dy at the step of each maximum, nothing elsewhere
            at = real.argmax(axis=0)
            for k in range(N):
                assert dh[at[k], b, k] == dy[b, k]
                assert np.count_nonzero(dh[:n, b, k]) == 1
    assert np.isfinite(y).all() and np.isfinite(dh).all()


def test_without_lengths_every_step_counts():
    h = np.random.default_rng(1).standard_normal((T, B, N))
    np.testing.assert_allclose(pool_forward(h, "mean")[0], h.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(pool_forward(h, "max")[0], h.max(axis=0))


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_pooling_gradient_matches_finite_differences(mode):
    rng = np.random.default_rng(2)
    h = rng.standard_normal((T, B, N))  # distinct values: no tie within eps for "max"
    dy = rng.standard_normal((B, N))

    def fwd(h):
        return pool_forward(h, mode, LENGTHS)

    def bwd(d, cache):
        return {"h": pool_backward(d, cache)}

    for r in check_gradients(fwd, bwd, {"h": h}, dout=dy):
        assert r.rel_error < 1e-8, r


@pytest.mark.parametrize(
    "kw",
    [
        {"pool": "mean"},
        {"pool": "max"},
        {"pool": "mean", "bidirectional": True},
        {"pool": "max", "bidirectional": True, "bn": "time"},
        {"pool": "mean", "residual": True, "layers": 3, "bn": "time", "bidirectional": True},
    ],
    ids=["mean", "max", "mean-bidirectional", "max-bidirectional-bn", "mean-residual-bn-bidirectional"],
)
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_pooled_models_with_lengths_match_finite_differences(kw, backend):
    rng = np.random.default_rng(7)
    Tn, Bn, M = 5, 4, 2
    lengths = np.array([5, 2, 4, 1])
    # tanh: smooth, so that finite differences never straddle a ReLU kink
    model = build_indrnn(
        Tn, M, 3, hidden=3, activation="tanh", w_std=None, dtype=np.float64, seed=1, backend=backend,
        **{"layers": 2, **kw},
    )  # fmt: skip
    x = rng.standard_normal((Tn, Bn, M))
    for i, n in enumerate(lengths):
        x[n:, i] = 1e3  # padding that would dominate a mean or a max if it leaked
    y = rng.integers(0, 3, Bn)
    results = check_model_gradients(
        model, x, y, softmax_cross_entropy_forward, softmax_cross_entropy_backward, lengths=lengths
    )
    bad = [(r.name, r.rel_error) for r in results if r.rel_error > 1e-6 and r.max_abs_error > 1e-9]
    assert not bad, bad


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_a_pooled_model_reads_each_sequence_as_if_alone(pool):
    """The whole network with lengths: each sequence's prediction equals that of the sequence alone."""
    rng = np.random.default_rng(3)
    Tn, M = 6, 2
    lengths = np.array([6, 3, 1, 5])
    model = build_indrnn(Tn, M, 2, hidden=4, pool=pool, bidirectional=True, dtype=np.float64, seed=2)
    x = _garbage_padding(rng.standard_normal((Tn, 4, M)), lengths)
    pred, _ = model.forward(x, train=False, lengths=lengths)
    for b, n in enumerate(lengths):
        alone, _ = model.forward(x[:n, b : b + 1], train=False)
        np.testing.assert_allclose(pred[b], alone[0], rtol=1e-10, atol=1e-12)


def test_the_pool_replaces_the_last_step_and_the_last_layer_u_init_follows():
    T_ = 100
    last = build_indrnn(T_, 2, 1, hidden=8, seed=0)
    mean = build_indrnn(T_, 2, 1, hidden=8, seed=0, pool="mean")
    assert isinstance(dict(last.layers)["last"], LastStep)
    assert isinstance(dict(mean.layers)["last"], Pool) and dict(mean.layers)["last"].mode == "mean"
    assert set(last.params) == set(mean.params)  # a pool has no parameters: saved names stay
    # the last layer's u starts near 1 only where the final state must carry the sequence
    assert last.params["indrnn2.u"].min() > 0.5 ** (1 / T_) - 1e-6
    assert mean.params["indrnn2.u"].min() < 0.5
    for builder in (
        lambda p: build_baseline("lstm", 2, 3, hidden=4, pool=p),
        lambda p: build_dense_indrnn(10, 2, 3, blocks=(1,), growth=2, pool=p),
    ):
        assert isinstance(dict(builder("max").layers)["last"], Pool)
        assert isinstance(dict(builder("last").layers)["last"], LastStep)


def test_bad_pools_are_refused_by_name():
    with pytest.raises(ValueError, match=r"pool must be one of \('last', 'mean', 'max'\); got 'avg'"):
        build_indrnn(10, 2, 1, pool="avg")
    with pytest.raises(ValueError, match="head='all' has an output at every step: leave pool='last'"):
        build_indrnn(10, 2, 1, head="all", pool="mean")
    with pytest.raises(ValueError, match="pool must be one of"):
        build_baseline("lstm", 2, 1, pool="sum")
    with pytest.raises(ValueError, match="mode must be one of"):
        Pool("last")
    h = np.zeros((T, B, N), np.float32)
    with pytest.raises(ValueError, match="mode must be one of"):
        pool_forward(h, "last")
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T\]"):
        pool_forward(h, "mean", np.array([7, 1, 1, 1]))
    y, cache = pool_forward(h, "max")
    with pytest.raises(ValueError, match=r"dy must have shape \(B, N\)"):
        pool_backward(np.zeros((B, N + 1), np.float32), cache)
    with pytest.raises(TypeError, match="dy must have the same dtype as the forward input h"):
        pool_backward(np.zeros((B, N), np.float64), cache)
    with pytest.raises(TypeError, match="PoolCache"):
        pool_backward(y, (1, 2))


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="the CUDA backend cannot load here")
@pytest.mark.parametrize("pool", ["mean", "max"])
def test_a_pooled_model_on_the_device_equals_the_host(pool):
    from indrnn_np.ops.device import to_host

    rng = np.random.default_rng(6)
    Tn, Bn = 4, 3
    lengths = np.array([4, 1, 3])
    x = rng.standard_normal((Tn, Bn, 2))
    y = rng.integers(0, 2, Bn)
    out = {}
    for backend in ("cpu", "cuda"):
        model = build_indrnn(
            Tn, 2, 2, hidden=2, pool=pool, bidirectional=True, backend=backend, dtype=np.float64, seed=3
        )
        pred, caches = model.forward(x, train=True, lengths=lengths)
        loss, lc = softmax_cross_entropy_forward(pred, y)
        _, grads = model.backward(softmax_cross_entropy_backward(1.0, lc), caches)
        out[backend] = (to_host(pred), {k: to_host(g) for k, g in grads.items()})
    (p_c, g_c), (p_d, g_d) = out["cpu"], out["cuda"]
    np.testing.assert_allclose(p_d, p_c, rtol=1e-10, atol=1e-12)
    for k in g_c:
        np.testing.assert_allclose(g_d[k], g_c[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_the_estimators_and_the_command_line_take_pool(tmp_path):
    from indrnn_np import IndRNNClassifier
    from indrnn_np.cli import main
    from indrnn_np.train.config import ConfigError

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((n, 2)) for n in rng.integers(3, 12, 40)]
    y = np.array([int(x[:, 0].mean() > 0) for x in X])
    clf = IndRNNClassifier(hidden=8, steps=30, pool="max", validation_fraction=0.0).fit(X, y)
    assert clf.config_.pool == "max" and isinstance(dict(clf.model_.layers)["last"], Pool)
    assert clf.predict(X).shape == (40,)
    with pytest.raises(ConfigError, match="pool must be one of"):
        IndRNNClassifier(pool="avg").fit(X, y)
    per_step = [np.zeros(len(x), int) + (i % 2) for i, x in enumerate(X)]
    with pytest.raises(
        ConfigError, match=r"has a target at every step .*: leave pool auto \(the default\) or last"
    ):
        IndRNNClassifier(hidden=4, steps=2, pool="mean").fit(X, per_step)

    out = tmp_path / "run"
    assert main(["train", "adding", "--T", "20", "--steps", "4", "--hidden", "4", "--pool", "mean",
                 "--quiet", "--out", str(out)]) == 0  # fmt: skip
    assert '"pool": "mean"' in (out / "run.json").read_text()
    data = tmp_path / "steps.npz"
    np.savez(data, x=rng.standard_normal((10, 5, 2)), y=rng.integers(0, 2, (10, 5)))
    assert main(["train", "arrays", "--data", str(data), "--pool", "max", "--out", str(tmp_path / "no")]) == 2
    assert not (tmp_path / "no").exists()
