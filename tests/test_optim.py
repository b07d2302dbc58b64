"""Optimizers with the u projection, gradient clipping and learning-rate schedules (indrnn_np.nn.optim)."""

import numpy as np
import pytest

from indrnn_np.nn import (
    SGD,
    Adam,
    ReduceOnPlateau,
    StepDecay,
    build_indrnn,
    clip_grad_elementwise,
    clip_grad_norm,
    global_norm,
    indrnn_regressor,
    project_u,
)
from indrnn_np.nn.optim import default_no_decay
from indrnn_np.tasks.adding import adding_batch
from indrnn_np.train import mse_train_step


@pytest.mark.parametrize("nonnegative", [False, True])
@pytest.mark.parametrize("opt_cls", [Adam, SGD])
def test_u_projection_holds_after_every_step(opt_cls, nonnegative):
    T = 50
    u_max = 2 ** (1 / T)
    model = indrnn_regressor(T, hidden=16, seed=0)
    opt = opt_cls(model.params, lr=0.5, u_max=u_max, u_nonnegative=nonnegative)  # a huge lr pushes u far out
    rng = np.random.default_rng(0)
    moved = False
    for _ in range(15):
        x, y, _ = adding_batch(T, 8, rng)
        before = model.params["indrnn1.u"].copy()
        mse_train_step(model, opt, x, y, clip_value=10.0)
        moved |= not np.array_equal(before, model.params["indrnn1.u"])
        for name, u in model.params.items():
            if name.endswith(".u"):
                assert u.max() <= u_max and u.min() >= (0.0 if nonnegative else -u_max), name
    assert moved


def test_optimizers_minimise_a_quadratic():
    for opt_cls, kw in ((Adam, dict(lr=0.1)), (SGD, dict(lr=0.1, momentum=0.5))):
        p = {"w.W": np.array([3.0, -2.0])}
        opt = opt_cls(p, **kw)
        for _ in range(300):
            opt.step({"w.W": 2 * p["w.W"]})
        assert np.abs(p["w.W"]).max() < 1e-2, opt_cls.__name__


def test_weight_decay_skips_u_and_biases():
    p = {"l.W": np.ones(3), "l.u": np.ones(3), "l.b": np.ones(3)}
    opt = SGD(p, lr=0.1, weight_decay=1.0, u_max=None)  # a bare dict: no bound to project u into
    opt.step({k: np.zeros(3) for k in p})
    np.testing.assert_allclose(p["l.W"], 0.9)
    np.testing.assert_array_equal(p["l.u"], 1.0)
    np.testing.assert_array_equal(p["l.b"], 1.0)


def test_weight_decay_skips_every_bias_and_batch_norm_parameter():
    model = build_indrnn(10, 3, 2, hidden=4, bn="time", residual=True, layers=2, dtype=np.float64)
    before = {k: v.copy() for k, v in model.params.items()}
    skipped = {k for k in model.params if k.rsplit(".", 1)[-1] in ("u", "b", "beta", "gamma")}
    assert any(k.endswith(".gamma") for k in skipped) and any(k.endswith(".beta") for k in skipped)
    opt = SGD(model.params, lr=0.1, weight_decay=1.0, u_max=None)
    opt.step({k: np.zeros_like(v) for k, v in model.params.items()})
    for k, v in model.params.items():
        if k in skipped:
            np.testing.assert_array_equal(v, before[k], err_msg=k)
        else:
            np.testing.assert_allclose(v, 0.9 * before[k], err_msg=k)
    assert [default_no_decay(n) for n in ("a.W", "a.U", "bn.gamma", "bn.beta", "a.b", "a.u", "u")] == [
        False, False, True, True, True, True, False
    ]  # fmt: skip


def test_schedules():
    s = StepDecay(1e-3, every=100)
    assert [s.lr_at(k) for k in (0, 99, 100, 250)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])
    r = ReduceOnPlateau(1.0, factor=0.5, patience=2)
    lrs = [r.observe(m) for m in (1.0, 0.5, 0.6, 0.6, 0.6, 0.4)]
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]
    r2 = ReduceOnPlateau(1.0)
    r2.load_state_dict(r.state_dict())
    assert r2.state_dict() == r.state_dict()


def test_optimizer_errors():
    with pytest.raises(ValueError, match="lr must be > 0"):
        Adam({}, lr=0)
    with pytest.raises(KeyError, match="no gradient for parameter 'a.W'"):
        SGD({"a.W": np.ones(2)}, lr=0.1).step({})


def test_project_u():
    u = np.array([-2.0, -0.5, 0.3, 1.5])
    np.testing.assert_array_equal(project_u(u, 1.0), [-1.0, -0.5, 0.3, 1.0])
    np.testing.assert_array_equal(project_u(u, 1.0, nonnegative=True), [0.0, 0.0, 0.3, 1.0])
    out = u.copy()
    project_u(out, 0.4, out=out)
    np.testing.assert_array_equal(out, [-0.4, -0.4, 0.3, 0.4])
    with pytest.raises(ValueError, match="u_max must be >= 0"):
        project_u(u, -1.0)
    with pytest.raises(ValueError, match="u_min must be <= u_max"):
        project_u(u, 1.0, u_min=2.0)


def test_clipping():
    g = {"a": np.array([-30.0, 5.0, 20.0]), "b": np.array([[0.1]])}
    c = clip_grad_elementwise(g, 10.0)
    np.testing.assert_array_equal(c["a"], [-10.0, 5.0, 10.0])
    np.testing.assert_array_equal(c["b"], [[0.1]])
    assert global_norm(g) == pytest.approx(np.sqrt(900 + 25 + 400 + 0.01))
    clipped, norm = clip_grad_norm(g, 1.0)
    assert norm == pytest.approx(global_norm(g))
    assert global_norm(clipped) == pytest.approx(1.0)
    np.testing.assert_allclose(clipped["a"] / g["a"], clipped["b"].ravel()[0] / 0.1)  # same direction
    same, _ = clip_grad_norm(g, 1e3)
    np.testing.assert_array_equal(same["a"], g["a"])
    assert global_norm({"a": np.array([np.inf])}) == np.inf
    with pytest.raises(ValueError):
        clip_grad_elementwise(g, 0)


# --------------------------------------------------------------------------
# The fused update kernels (indrnn_np.ops.optim): twins, and the textbook formulas
# --------------------------------------------------------------------------


def _textbook_adam(p, g, m, v, t, lr, b1, b2, eps, clip, scale, wd, bounds):
    g = np.clip(g, -clip, clip) if clip else g
    g = g * scale + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return (np.clip(p, *bounds) if bounds else p), m, v


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize(
    "clip,scale,wd,bounds",
    [(None, 1.0, 0.0, None), (0.3, 0.5, 0.1, (-0.2, 0.25)), (2.0, 1.0, 0.0, (0.0, 0.1))],
)
def test_adam_update_matches_the_textbook_in_one_pass(backend, clip, scale, wd, bounds):
    from indrnn_np.ops import adam_update

    rng = np.random.default_rng(1)
    p, g = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    m, v = rng.standard_normal((5, 7)) * 0.1, rng.uniform(0, 0.1, (5, 7))
    want = _textbook_adam(p, g, m, v, 3, 0.01, 0.9, 0.999, 1e-8, clip, scale, wd, bounds)
    adam_update(
        p, g, m, v, t=3, lr=0.01, clip=clip, scale=scale, weight_decay=wd, bounds=bounds, backend=backend
    )
    for got, exp in zip((p, m, v), want, strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_sgd_update_matches_the_textbook(backend):
    from indrnn_np.ops import sgd_update

    rng = np.random.default_rng(2)
    p, g, vel = rng.standard_normal(9), 3 * rng.standard_normal(9), rng.standard_normal(9)
    ge = np.clip(g, -1.0, 1.0) * 0.5 + 0.01 * p
    want_vel = 0.9 * vel + ge
    want_p = np.clip(p - 0.1 * want_vel, -0.5, 0.5)
    sgd_update(
        p,
        g,
        vel,
        lr=0.1,
        momentum=0.9,
        clip=1.0,
        scale=0.5,
        weight_decay=0.01,
        bounds=(-0.5, 0.5),
        backend=backend,
    )
    np.testing.assert_allclose(vel, want_vel, rtol=1e-13)
    np.testing.assert_allclose(p, want_p, rtol=1e-13)


def test_float32_update_stays_float32_and_twins_agree():
    from indrnn_np.ops import adam_update

    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(1000).astype(np.float32) for _ in range(2)] + [
        np.zeros(1000, np.float32),
        np.zeros(1000, np.float32),
    ]
    runs = {}
    for backend in ("numpy", "cpu"):
        p, g, m, v = (a.copy() for a in arrays)
        for t in (1, 2, 3):
            adam_update(p, g, m, v, t=t, lr=2e-4, clip=10.0, bounds=(-1.0001, 1.0001), backend=backend)
        assert p.dtype == m.dtype == v.dtype == np.float32
        runs[backend] = p
    # same float32 operations, possibly fused (fastmath contract): equal to a few float32 ulps
    np.testing.assert_allclose(runs["cpu"], runs["numpy"], rtol=4 * np.finfo(np.float32).eps, atol=1e-7)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_grad_sumsq_before_and_after_the_clamp(backend):
    from indrnn_np.ops import grad_sumsq

    g = np.array([[30.0, -5.0], [0.1, -20.0]], np.float32)
    raw, clipped = grad_sumsq(g, 10.0, backend)
    assert raw == pytest.approx(900 + 25 + 0.01 + 400)
    assert clipped == pytest.approx(100 + 25 + 0.01 + 100)
    assert grad_sumsq(g, None, backend) == pytest.approx((raw, raw))
    assert np.isnan(grad_sumsq(np.array([np.nan, 1.0]), None, backend)[0])


def test_update_errors_name_the_argument():
    from indrnn_np.ops import adam_update, sgd_update

    p = np.zeros(4)
    with pytest.raises(ValueError, match="g must have the parameter's shape"):
        adam_update(p, np.zeros(3), np.zeros(4), np.zeros(4), t=1, lr=0.1)
    with pytest.raises(TypeError, match="m must have the parameter's dtype"):
        adam_update(p, np.zeros(4), np.zeros(4, np.float32), np.zeros(4), t=1, lr=0.1)
    with pytest.raises(ValueError, match="p must be C-contiguous"):
        sgd_update(np.zeros((4, 2))[:, 0], np.zeros(4), np.zeros(4), lr=0.1)
    with pytest.raises(ValueError, match="t must be >= 1"):
        adam_update(p, p.copy(), p.copy(), p.copy(), t=0, lr=0.1)
    with pytest.raises(ValueError, match="bounds"):
        sgd_update(p, p.copy(), p.copy(), lr=0.1, bounds=(1.0, -1.0))
    with pytest.raises(ValueError, match="backend must be one of"):
        Adam({"w": p}, lr=0.1, backend="gpu")


def test_train_step_clips_as_elementwise_then_global_norm():
    """The fused step equals the unfused recipe: clamp, rescale to the norm, Adam, project."""
    from indrnn_np.train import mse_train_step

    T = 20
    runs = []
    for fused in (True, False):
        model = indrnn_regressor(T, hidden=8, seed=0, dtype=np.float64)
        opt = Adam(model.params, lr=1e-2, u_max=2 ** (1 / T), backend="numpy")
        x, y, _ = adding_batch(T, 4, np.random.default_rng(0))
        x, y = x.astype(np.float64), y.astype(np.float64)
        if fused:
            mse_train_step(model, opt, x, y, clip_value=1e-3, clip_norm=1e-3)
        else:
            from indrnn_np.ops import mse_backward, mse_forward

            pred, caches = model.forward(x, train=True)
            _, lc = mse_forward(pred, y)
            _, grads = model.backward(mse_backward(1.0, lc), caches)
            grads, _ = clip_grad_norm(clip_grad_elementwise(grads, 1e-3), 1e-3)
            opt.step(grads)
        runs.append({k: v.copy() for k, v in model.params.items()})
    for k in runs[0]:
        np.testing.assert_allclose(runs[0][k], runs[1][k], rtol=1e-12, atol=1e-15, err_msg=k)


# --------------------------------------------------------------------------
# The u bound lives with the layer: an optimizer built on a model projects by default
# --------------------------------------------------------------------------


def _max_abs_u(model):
    return max(float(np.abs(u).max()) for name, u in model.params.items() if name.endswith(".u"))


@pytest.mark.parametrize("opt_cls", [Adam, SGD])
def test_an_optimizer_built_on_a_model_projects_u_by_default(opt_cls):
    T = 80
    u_max = 2 ** (1 / T)  # 1.0087, the bound of the user's run that reached max|u| = 1.146
    runs = {}
    for kw in ({}, {"u_max": None}):  # the default, and training unconstrained on purpose
        model = indrnn_regressor(T, hidden=16, seed=0)
        opt = opt_cls(model, lr=0.5, **kw)  # a huge lr pushes u far out
        rng = np.random.default_rng(0)
        peak = 0.0
        for _ in range(10):
            x, y, _ = adding_batch(T, 8, rng)
            mse_train_step(model, opt, x, y, clip_value=10.0)
            peak = max(peak, _max_abs_u(model))
        runs["default" if not kw else "none"] = peak
    assert runs["default"] == pytest.approx(u_max, rel=1e-6)  # reached and held, float32
    assert runs["none"] > 1.05 * u_max  # the same steps without the projection leave the bound


def test_each_layer_keeps_its_own_u_bound_and_nonnegative_raises_the_floor():
    from indrnn_np.nn import IndRNN, Recurrence, Sequential, u_bounds_of

    rng = np.random.default_rng(0)
    model = Sequential(
        [
            ("a", IndRNN(2, 3, u_bounds=(-0.5, 0.5), rng=rng, dtype=np.float64)),
            ("b", Recurrence(3, u_bounds=(-2.0, 0.25), rng=rng, dtype=np.float64)),
        ]
    )
    assert u_bounds_of(model) == {"a.u": (-0.5, 0.5), "b.u": (-2.0, 0.25)}
    big = {k: np.full_like(v, -1e3 if k == "a.u" else 1e3) for k, v in model.params.items()}
    opt = SGD(model, lr=1.0)
    opt.step(big)
    np.testing.assert_array_equal(model.params["a.u"], 0.5)
    np.testing.assert_array_equal(model.params["b.u"], -2.0)
    opt = SGD(model, lr=1.0, u_nonnegative=True)
    assert opt.u_bounds == {"a.u": (0.0, 0.5), "b.u": (0.0, 0.25)}
    opt.step({k: -g for k, g in big.items()})
    np.testing.assert_array_equal(model.params["a.u"], 0.0)
    np.testing.assert_array_equal(model.params["b.u"], 0.25)
    # an explicit u_max overrides the layers' bounds, as before
    assert SGD(model, lr=1.0, u_max=0.1).u_bounds == {"a.u": (-0.1, 0.1), "b.u": (-0.1, 0.1)}


def test_the_builders_set_every_layer_u_bound_from_T_and_gamma():
    from indrnn_np.dynamics import relu_u_max
    from indrnn_np.nn import build_dense_indrnn, u_bounds_of

    models = [
        build_indrnn(50, 2, 1, hidden=4, gamma=3.0),
        build_indrnn(50, 2, 1, hidden=4, layers=3, residual=True, bn="time", gamma=3.0),
        build_indrnn(50, 2, 1, hidden=4, bn="frame", bn_position="before", gamma=3.0),
        build_dense_indrnn(50, 2, 1, blocks=(1,), growth=2, gamma=3.0),
        indrnn_regressor(50, hidden=4, gamma=3.0),
    ]
    hi = relu_u_max(50, 3.0)
    for model in models:
        bounds = u_bounds_of(model)
        assert bounds and set(bounds.values()) == {(-hi, hi)}
        assert Adam(model).u_bounds == bounds


def test_a_bare_dict_of_params_warns_that_u_is_left_free():
    import warnings

    from indrnn_np.nn import UnprojectedUWarning

    model = indrnn_regressor(20, hidden=4)
    bare = dict(model.params)  # a plain dict: it no longer knows its model
    with pytest.warns(UnprojectedUWarning, match=r"'indrnn1.u', 'indrnn2.u'.*Adam\(model, ...\)"):
        opt = Adam(bare, lr=0.1)
    assert opt.u_bounds == {}
    assert Adam(model.params, lr=0.1).u_bounds == Adam(model, lr=0.1).u_bounds != {}  # model.params remembers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Adam(model.params, lr=0.1, u_max=None).u_bounds == {}
        assert Adam(model.params, lr=0.1, u_max=1.5).u_bounds["indrnn2.u"] == (-1.5, 1.5)
        Adam({"w.W": np.ones(2)}, lr=0.1)  # nothing recurrent: nothing to say
        Adam(model, lr=0.1)


def test_optimizer_argument_errors():
    from indrnn_np.nn import IndRNN

    with pytest.raises(TypeError, match="params must be a model .* got list"):
        Adam([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="u_max must be 'auto', a number >= 0 or None; got 'layer'"):
        Adam({}, lr=0.1, u_max="layer")
    with pytest.raises(ValueError, match="u_max must be 'auto', a number >= 0 or None; got -1"):
        Adam({}, lr=0.1, u_max=-1)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"u_bounds must be finite with lo <= hi; got \(1.0, 0.5\)"):
        IndRNN(2, 3, u_bounds=(1.0, 0.5), rng=rng)
    with pytest.raises(ValueError, match="u_bounds must be None or a pair"):
        IndRNN(2, 3, u_bounds=1.0, rng=rng)
