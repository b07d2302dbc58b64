"""The gradient checker itself: it must pass right gradients and fail wrong ones."""

import numpy as np
import pytest

from indrnn_np import check_gradients, numerical_gradient, rel_error
from indrnn_np.gradcheck import check_indrnn, indrnn_check_inputs


def _square_forward(x, scale):
    out = scale * x**2
    return out, (x, scale)


def test_numerical_gradient_of_a_known_function(rng):
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    num = numerical_gradient(lambda: np.sin(x), x, dout)
    np.testing.assert_allclose(num, np.cos(x) * dout, rtol=1e-8, atol=1e-10)


def test_numerical_gradient_restores_the_input(rng):
    x = rng.standard_normal(5)
    before = x.copy()
    numerical_gradient(lambda: x**3, x, np.ones(5))
    np.testing.assert_array_equal(x, before)


def test_check_gradients_passes_a_right_backward(rng):
    res = check_gradients(
        _square_forward,
        lambda dout, cache: {"dx": 2 * cache[1] * cache[0] * dout},
        {"x": rng.standard_normal((2, 3)), "scale": 1.5},
    )
    assert [r.name for r in res] == ["x"]
    assert res[0].rel_error < 1e-9 and res[0].passed


def test_check_gradients_fails_a_wrong_backward(rng):
    # Off by a factor of 2: the classic forgotten-chain-rule bug.
    res = check_gradients(
        _square_forward,
        lambda dout, cache: {"dx": cache[1] * cache[0] * dout},
        {"x": rng.standard_normal((2, 3)), "scale": 1.5},
    )
    assert res[0].rel_error > 0.1 and not res[0].passed


def test_check_gradients_scalar_output(rng):
    res = check_gradients(
        lambda x: (float(np.sum(x**2)), x),
        lambda dout, x: {"dx": 2 * x * dout},
        {"x": rng.standard_normal(4)},
    )
    assert res[0].passed


def test_float32_checks_warn_and_point_to_float64(rng):
    import warnings

    from indrnn_np.gradcheck import LowPrecisionGradCheckWarning, check_model_gradients
    from indrnn_np.nn import build_indrnn
    from indrnn_np.ops import mse_backward, mse_forward

    x = rng.standard_normal((2, 3))
    right = {"x": x.astype(np.float32), "scale": 1.5}
    backward = lambda dout, cache: {"dx": 2 * cache[1] * cache[0] * dout}  # noqa: E731
    with pytest.warns(LowPrecisionGradCheckWarning, match=r"on x \(float32\).*\.astype\(np\.float64\)"):
        res = check_gradients(_square_forward, backward, right)
    assert not res[0].passed  # a right gradient that float32 cannot confirm: hence the warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_gradients(_square_forward, backward, {"x": x, "scale": 1.5})[0].passed

    model = build_indrnn(3, 2, 1, hidden=2, dtype=np.float32)
    x32, y32 = rng.standard_normal((3, 2, 2)).astype(np.float32), np.zeros((2, 1), np.float32)
    with pytest.warns(LowPrecisionGradCheckWarning, match=r"x \(float32\).*dtype=np\.float64"):
        check_model_gradients(model, x32, y32, mse_forward, mse_backward, names=["head.b"])


def test_check_gradients_rejects_unknown_wrt(rng):
    with pytest.raises(ValueError, match="wrt names 'y'"):
        check_gradients(
            _square_forward, lambda d, c: {}, {"x": rng.standard_normal(2), "scale": 1.0}, wrt=["y"]
        )


def test_rel_error_is_normwise_and_symmetric():
    a = np.array([1.0, 1e-12])
    n = np.array([1.0, 2e-12])
    # elementwise this pair would be 0.33; normwise it is ~5e-13
    assert rel_error(a, n) < 1e-12
    assert rel_error(a, n) == rel_error(n, a)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))


def test_relu_inputs_keep_off_the_kink():
    from indrnn_np import indrnn_forward

    inp = indrnn_check_inputs(20, 3, 4, 6, activation="relu", seed=3, margin=1e-3)
    h, _ = indrnn_forward(**inp, backend="numpy")
    h_prev = np.concatenate([inp["h0"][None], h[:-1]])
    a = inp["x"] @ inp["W"] + inp["u"] * h_prev + inp["b"]
    assert np.min(np.abs(a)) >= 1e-3
    assert np.any(a < 0) and np.any(a > 0)  # both sides of the kink are exercised


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
def test_indrnn_layer_gradients_float64(backend, activation):
    results = check_indrnn(backend, activation, T=15, B=3, M=4, N=6, seed=7)
    assert [r.name for r in results] == ["x", "W", "u", "b", "h0"]
    for r in results:
        assert r.rel_error < 1e-6, (r.name, r.rel_error)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_closed_form_bptt_and_finite_differences_agree(backend):
    from indrnn_np.gradcheck import closed_form_check

    rows, errors = closed_form_check(backend, T=20, N=6, seed=2)
    assert len(rows) == 6
    for r in rows:
        assert r["closed_form"] == pytest.approx(r["u"] ** 20, rel=1e-12, abs=1e-300)
    assert errors["bptt_vs_closed_form"] < 1e-12
    assert errors["fd_vs_closed_form"] < 1e-6 and errors["fd_vs_bptt"] < 1e-6


def test_report_writes_its_progress_as_it_goes():
    """A line per backend and activation, each array's name as its finite differences start, and seconds."""
    import io

    from indrnn_np.gradcheck import gradcheck_report

    progress = io.StringIO()
    text, failed = gradcheck_report(["numpy"], progress=progress)
    assert failed == 0 and "16 passed, 0 failed" in text
    lines = progress.getvalue().splitlines()
    assert lines[0] == "gradient check of numpy, 3 activations each, then Eq. 4 three ways"
    for line, act in zip(lines[1:4], ("relu", "tanh", "identity"), strict=True):
        assert line.startswith(f"numpy {act}: x W u b h0 (") and line.endswith(" s)"), line
    assert lines[4].startswith("numpy Eq. 4: (") and len(lines) == 5
    assert "simulator" not in text  # the simulator's note only when cuda runs there
