"""Training that stays on the GPU: the training kernels against their twins, device models against
host models, finite-difference gradient checks of device models, and the one copy back per step.

In Numba's CUDA simulator by default (tiny shapes, small blocks so that several blocks run); on a
GPU, ``NUMBA_ENABLE_CUDASIM=0 python -m pytest -m cudasim tests/test_device.py`` runs them there.
"""

import pickle

import numpy as np
import pytest
from conftest import assert_close

from indrnn_np import cuda_available
from indrnn_np.config import cuda_launch_config

pytestmark = pytest.mark.cudasim

if not cuda_available():  # pragma: no cover - numba-cuda missing
    pytest.skip("the CUDA backend cannot be loaded here (numba-cuda missing?)", allow_module_level=True)

from numba import cuda  # noqa: E402

from indrnn_np.gradcheck import check_model_gradients  # noqa: E402
from indrnn_np.kernels import cuda as ck  # noqa: E402
from indrnn_np.kernels import reference  # noqa: E402
from indrnn_np.nn import (  # noqa: E402
    Adam,
    NoCudaKernelError,
    build_baseline,
    build_dense_indrnn,
    build_indrnn,
    to_device,
)
from indrnn_np.ops import (  # noqa: E402
    mse_backward,
    mse_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from indrnn_np.ops.device import is_device, to_host  # noqa: E402

SMALL = dict(threads_per_block=8, gemm_tile=4)


@pytest.fixture(autouse=True)
def small_blocks():
    with cuda_launch_config(**SMALL):
        yield


def _tol(dtype):
    return 1e-12 if dtype == np.float64 else 3e-6


def _run_twins(name, host_args, dtype, outputs):
    """Run the CUDA kernel ``name`` and its reference twin on copies of the same arguments; compare
    the arguments named in ``outputs`` (their indices) afterwards."""
    want = [a.copy() if isinstance(a, np.ndarray) else a for a in host_args]
    getattr(reference, name)(*want)
    dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in host_args]
    kernel = getattr(ck, name)  # module-level: compiled for the arrays' dtype
    n = max(a.size for a in host_args if isinstance(a, np.ndarray))
    ck.launch(kernel, n, *dev)
    return [(dev[i].copy_to_host(), want[i]) for i in outputs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("G", [1, 3])
def test_batchnorm_kernels_match_their_twins(dtype, G):
    """Both kinds of BN (G = 1: over time; G = T: frame-wise), forward, backward, inference and
    the running averages; a large mean (3 + N(0, 1)) to test the compensated sums in float32."""
    rng = np.random.default_rng(G)
    R, N = 7, 5
    f = np.dtype(dtype).type
    x = (3 + rng.standard_normal((G, R, N))).astype(dtype)
    gamma, beta = rng.uniform(0.5, 1.5, N).astype(dtype), rng.standard_normal(N).astype(dtype)
    mean, var = np.zeros((G, N), dtype), np.zeros((G, N), dtype)
    y = np.zeros_like(x)
    out = _run_twins("batchnorm_forward", [x, gamma, beta, f(1e-5), y, mean, var], dtype, [4, 5, 6])
    for got, want in out:
        assert_close(got, want, 10 * _tol(dtype))
    mean, var = out[1][1], out[2][1]
    dy = rng.standard_normal(x.shape).astype(dtype)
    parts = [np.zeros((G, N), dtype), np.zeros((G, N), dtype)]
    out = _run_twins(
        "batchnorm_backward", [dy, x, mean, var, gamma, f(1e-5), np.zeros_like(x), *parts], dtype, [6, 7, 8]
    )
    for got, want in out:
        assert_close(got, want, 10 * _tol(dtype))
    stats = rng.uniform(0.5, 1.5, (2, N)).astype(dtype)  # S = 2 < G: groups past S use the last row
    out = _run_twins(
        "batchnorm_inference", [x, gamma, beta, stats - 1, stats, f(1e-5), np.zeros_like(x)], dtype, [6]
    )
    assert_close(*out[0], 10 * _tol(dtype))
    rm, rv = rng.standard_normal(G * N).astype(dtype), rng.uniform(0.5, 1, G * N).astype(dtype)
    args = [rm, rv, mean.reshape(-1), var.reshape(-1), f(0.1), f(7 / 6)]
    for got, want in _run_twins("running_update", args, dtype, [0, 1]):
        assert_close(got, want, _tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_and_loss_kernels_match_their_twins(dtype):
    rng = np.random.default_rng(0)
    f = np.dtype(dtype).type
    a, b = rng.standard_normal((6, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    ((got, want),) = _run_twins("bias_add", [a, b], dtype, [0])
    assert_close(got, want, _tol(dtype))
    flat = [rng.standard_normal(11).astype(dtype) for _ in range(2)] + [np.zeros(11, dtype)]
    ((got, want),) = _run_twins("add", flat, dtype, [2])
    assert_close(got, want, _tol(dtype))
    ((got, want),) = _run_twins("scale_rows", [a, b, np.zeros_like(a)], dtype, [2])
    assert_close(got, want, _tol(dtype))
    x, y = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((4, 2)).astype(dtype)
    ((got, want),) = _run_twins("concat_last", [x, y, np.zeros((4, 5), dtype)], dtype, [2])
    assert_close(got, want, 0)
    d = rng.standard_normal((4, 5)).astype(dtype)
    for got, want in _run_twins(
        "split_last", [d, np.zeros((4, 3), dtype), np.zeros((4, 2), dtype)], dtype, [1, 2]
    ):
        assert_close(got, want, 0)
    # losses: the gradient in full, the partial sums in total
    pred, target = rng.standard_normal(13).astype(dtype), rng.standard_normal(13).astype(dtype)
    threads = 16
    ker = ck
    dp, part = cuda.device_array(13, dtype), cuda.device_array(threads, dtype)
    ker.squared_error[2, 8](cuda.to_device(pred), cuda.to_device(target), f(2 / 13), dp, part)
    want_dp, want_part = np.zeros(13, dtype), np.zeros(threads, dtype)
    reference.squared_error(pred, target, f(2 / 13), want_dp, want_part)
    assert_close(dp.copy_to_host(), want_dp, _tol(dtype))
    assert_close(part.copy_to_host().sum(), want_part.sum(), _tol(dtype))
    out = cuda.device_array(1, dtype)
    ker.sum_into[1, 1](part, f(0.5), out)
    assert_close(out.copy_to_host()[0], 0.5 * want_part.sum(), _tol(dtype))
    logits = (5 * rng.standard_normal((6, 4))).astype(dtype)
    labels = rng.integers(0, 4, 6)
    args = [logits, labels, f(1 / 6), np.zeros_like(logits), np.zeros(6, dtype)]
    for got, want in _run_twins("softmax_xent", args, dtype, [3, 4]):
        assert_close(got, want, 10 * _tol(dtype))


def _pair(build, dtype=np.float64):
    """The same network on the host and on the device (a copy moved there)."""
    host = build(dtype)
    device = to_device(pickle.loads(pickle.dumps(host)))
    return host, device


ARCHS = {
    "plain": lambda dt: build_indrnn(4, 2, 3, hidden=4, activation="tanh", dtype=dt),
    "bn over time": lambda dt: build_indrnn(4, 2, 3, hidden=4, bn="time", activation="tanh", dtype=dt),
    "bn frame-wise, head on every step": lambda dt: build_indrnn(
        4, 2, 3, hidden=4, bn="frame", head="all", activation="tanh", dtype=dt
    ),
    "residual": lambda dt: build_indrnn(4, 2, 3, hidden=4, layers=3, residual=True, bn="time", dtype=dt),
    "bn after, dropout": lambda dt: build_indrnn(
        4, 2, 3, hidden=4, bn="time", bn_position="after", dropout=0.3, activation="tanh", dtype=dt
    ),
    "dense": lambda dt: build_dense_indrnn(4, 2, 3, blocks=(1, 1), growth=2, activation="tanh", dtype=dt),
}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_a_model_on_the_device_computes_what_it_computes_on_the_host(arch):
    """Forward, loss, every gradient, the running statistics and inference, to float64 rounding;
    dropout draws the same masks on both."""
    host, device = _pair(ARCHS[arch])
    assert device.on_device and all(is_device(v) for v in device.params.values())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 2))
    labels = rng.integers(0, 3, (4, 3) if "every step" in arch else (3,))
    results = []
    for model in (host, device):
        pred, caches = model.forward(x, train=True)
        loss, lcache = softmax_cross_entropy_forward(pred, labels)
        _, grads = model.backward(softmax_cross_entropy_backward(1.0, lcache), caches)
        inference = model.forward(x, train=False)[0]
        results.append(
            (
                to_host(pred),
                float(np.asarray(to_host(loss)).reshape(-1)[0]),
                {k: to_host(v) for k, v in grads.items()},
                {k: to_host(v) for k, v in model.buffers.items()},
                to_host(inference),
            )
        )
    (p1, l1, g1, b1, i1), (p2, l2, g2, b2, i2) = results
    assert_close(p2, p1, 1e-12, "pred")
    assert abs(l1 - l2) < 1e-12
    assert g1.keys() == g2.keys()
    for k in g1:
        assert_close(g2[k], g1[k], 1e-11, k)
    for k in b1:
        assert_close(b2[k], b1[k], 1e-12, k)
    assert_close(i2, i1, 1e-12, "inference")


GRADCHECK = {
    "bn over time": lambda: build_indrnn(3, 2, 2, hidden=3, bn="time", activation="tanh", dtype=np.float64),
    "bn frame-wise, head on every step": lambda: build_indrnn(
        3, 2, 2, hidden=3, bn="frame", head="all", activation="tanh", dtype=np.float64
    ),
    "residual": lambda: build_indrnn(3, 2, 2, hidden=3, layers=2, residual=True, bn="time", dtype=np.float64),
}


def test_a_stateful_model_carries_its_state_on_the_device():
    """Language modelling: the last state of one batch starts the next, on the device as on the host."""
    from indrnn_np.nn import recurrent_states, set_stateful

    host = build_indrnn(3, 2, 3, hidden=4, bn="frame", head="all", activation="tanh", dtype=np.float64)
    set_stateful(host, 2)
    device = to_device(pickle.loads(pickle.dumps(host)))
    rng = np.random.default_rng(6)
    for _ in range(2):
        x = rng.standard_normal((3, 2, 2))
        outs = [to_host(m.forward(x, train=True)[0]) for m in (host, device)]
        assert_close(outs[1], outs[0], 1e-12)
    states = [[to_host(a) for a in recurrent_states(m)] for m in (host, device)]
    assert all(is_device(a) for a in recurrent_states(device))
    for a, b in zip(*states, strict=True):
        assert np.any(a != 0)
        assert_close(b, a, 1e-12)


@pytest.mark.parametrize("arch", list(GRADCHECK))
def test_device_models_pass_a_finite_difference_gradient_check(arch):
    """Perturbing the device parameters themselves (float64; MSE loss, as the adding problem): one
    parameter of each kind (W, γ, β, u, b; the simulator runs a forward pass in about 0.1 s)."""
    model = to_device(GRADCHECK[arch]())
    rng = np.random.default_rng(2)
    for v in model.params.values():  # off ReLU's kink and the zero biases
        v.copy_to_device(v.copy_to_host() + 0.1 * rng.standard_normal(v.shape))
    names = [next(k for k in model.params if k.endswith(s)) for s in (".W", ".gamma", ".beta", ".u", ".b")]
    x = rng.standard_normal((3, 4, 2))  # B = 4: BN over 2 samples leaves x̂ = ±1, a poor test
    y = rng.standard_normal((3, 4, 2) if "every step" in arch else (4, 2))
    results = check_model_gradients(model, x, y, mse_forward, mse_backward, names=names, check_input=False)
    assert [r.name for r in results] == names
    for r in results:
        if np.max(np.abs(r.analytic)) < 1e-12:
            assert r.max_abs_error < 1e-8, (r.name, r.max_abs_error)
        else:
            assert r.rel_error < 1e-6, (r.name, r.rel_error)


def test_a_training_step_copies_one_small_array_back(monkeypatch):
    """Parameters, activations, gradients and optimizer state stay on the device; the loss and the
    gradient sums come back together, once, and the step matches the same step on the host."""
    from indrnn_np.train.loop import train_step

    host, device = _pair(ARCHS["bn over time"], np.float32)
    opts = [Adam(m.params, lr=0.01, u_max=1.0, backend=b) for m, b in ((host, "cpu"), (device, "cuda"))]
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3, 2)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)
    train_step(host, opts[0], x, y, clip_value=0.5, clip_norm=1.0)
    copies = []
    cls = type(device.params["head.W"])
    original = cls.copy_to_host
    monkeypatch.setattr(
        cls, "copy_to_host", lambda self, *a, **k: copies.append(self.shape) or original(self, *a, **k)
    )
    res = train_step(device, opts[1], x, y, clip_value=0.5, clip_norm=1.0)
    monkeypatch.undo()
    assert len(copies) == 1 and copies[0][0] == 1 + 2 * len(device.params)
    assert res.finite and np.isfinite(res.loss)
    assert all(is_device(a) for a in opts[1].m.values())
    for k in host.params:
        assert_close(to_host(device.params[k]), host.params[k], 1e-5, k)


def test_layers_without_cuda_kernels_are_refused_by_name():
    for model in (build_baseline("lstm", 2, 1), build_baseline("rnn-tanh", 2, 1)):
        with pytest.raises(NoCudaKernelError, match="(LSTM|RNN) has no CUDA kernels"):
            to_device(model)
        assert not model.on_device and isinstance(model.params["head.W"], np.ndarray)


@pytest.mark.slow
def test_train_and_resume_on_the_device_match_the_cpu(tmp_path):
    """`train --backend cuda`, interrupted by a checkpoint and resumed, gives the CPU run's
    numbers (float32: to rounding); the checkpoint holds host arrays."""
    from indrnn_np.train import TrainConfig, resume, train

    kw = dict(task="adding", T=3, batch=2, hidden=3, steps=4, eval_every=2, checkpoint_every=2, test_size=8)
    cpu = train(TrainConfig(backend="cpu", **kw), tmp_path / "cpu", progress=False, log=lambda *a: None)
    train(
        TrainConfig(backend="cuda", **{**kw, "steps": 2}),
        tmp_path / "gpu",
        progress=False,
        log=lambda *a: None,
    )
    with np.load(tmp_path / "gpu" / "checkpoint.npz") as npz:
        assert all(isinstance(npz[k], np.ndarray) for k in npz.files)
    gpu = resume(tmp_path / "gpu", steps=4, progress=False, log=lambda *a: None)
    assert gpu["test_mse"] == pytest.approx(cpu["test_mse"], rel=1e-4)
    # a run trained on the device is evaluated there, and read on the host for the neuron analysis
    from indrnn_np.experiments.neurons import neuron_report
    from indrnn_np.train import evaluate_run

    assert evaluate_run(tmp_path / "gpu")["test_mse"] == pytest.approx(gpu["test_mse"], rel=1e-5)
    report = neuron_report(tmp_path / "gpu", tmp_path / "neurons", fit_size=20, log=lambda *a: None)
    assert report["T"] == 3 and 0 <= report["neuron"] < 3
