"""Optimizers with the u projection, gradient clipping and learning-rate schedules (indrnn_np.nn.optim)."""

import numpy as np
import pytest

from indrnn_np.nn import (
    SGD,
    Adam,
    ReduceOnPlateau,
    StepDecay,
    clip_grad_elementwise,
    clip_grad_norm,
    global_norm,
    indrnn_regressor,
    project_u,
)
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
    opt = SGD(p, lr=0.1, weight_decay=1.0)
    opt.step({k: np.zeros(3) for k in p})
    np.testing.assert_allclose(p["l.W"], 0.9)
    np.testing.assert_array_equal(p["l.u"], 1.0)
    np.testing.assert_array_equal(p["l.b"], 1.0)


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
