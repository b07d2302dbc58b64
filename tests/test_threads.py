"""The thread policy (indrnn_np.threads) applies at the first kernel call, whatever the import order."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent(
    """
    import json, os, sys
    if sys.argv[1] == "numpy-first":
        import numpy as np
        import indrnn_np
    else:
        import indrnn_np
        import numpy as np
    assert "OMP_WAIT_POLICY" not in os.environ  # nothing is written at import
    from indrnn_np import indrnn_forward
    from indrnn_np.threads import policy
    x = np.ones((4, 2, 3), np.float32); W = np.ones((3, 5), np.float32); u = np.ones(5, np.float32)
    indrnn_forward(x, W, u, np.zeros(5, np.float32), backend="cpu")
    print(json.dumps({**policy(), "env": os.environ.get("OMP_WAIT_POLICY")}))
    """
)


@pytest.mark.parametrize("order", ["numpy-first", "indrnn-first"])
def test_policy_applies_whatever_the_import_order(order):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "INDRNN_THREAD_POLICY")}
    proc = subprocess.run([sys.executable, "-c", _PROBE, order], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = json.loads(proc.stdout.strip().splitlines()[-1])
    assert p["enabled"] and p["openmp"] == "passive" and p["env"] == "PASSIVE"
    assert p["blas_release"] and "openblas" in p["blas_release"].lower()


def test_a_users_own_setting_is_left_alone():
    env = {**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.replace('assert "OMP', '# "OMP'), "numpy-first"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = json.loads(proc.stdout.strip().splitlines()[-1])
    assert p["openmp"] == "left as set: OMP_WAIT_POLICY=ACTIVE" and p["env"] == "ACTIVE"


# --------------------------------------------------------------------------
# Several Python threads at once
# --------------------------------------------------------------------------

_CONCURRENT = textwrap.dedent(
    """
    import sys, threading
    import numpy as np
    from indrnn_np import indrnn_backward, indrnn_forward
    from indrnn_np.threads import ThreadTuner
    from indrnn_np.train import TrainConfig, model_of, optimizer_of, task_of, train_step

    n_threads, tuned = int(sys.argv[1]), sys.argv[2] == "tuned"
    rng = np.random.default_rng(0)
    # sizes at which OpenBLAS runs its GEMMs on its worker threads
    x = rng.standard_normal((200, 32, 64)).astype(np.float32)
    W = (0.1 * rng.standard_normal((64, 128))).astype(np.float32)
    u = rng.uniform(0, 1, 128).astype(np.float32)
    b = np.zeros(128, np.float32)
    dh = rng.standard_normal((200, 32, 128)).astype(np.float32)
    cfg = TrainConfig(T=200, batch=32, hidden=128, test_size=1)
    cfg.validate()

    def op():
        h, cache = indrnn_forward(x, W, u, b)
        g = indrnn_backward(dh, cache)
        return [h.copy(), g.dx.copy(), g.dW.copy(), g.du.copy()]

    def training(steps=6):
        task = task_of(cfg)
        model = model_of(cfg, task)
        opt = optimizer_of(cfg, model)
        data = np.random.default_rng(1)
        # tuned: the thread counts change between steps (and with BLAS's, the GEMMs' last bits)
        tuner = ThreadTuner(probe_steps=1, rounds=1, enabled=tuned)
        try:
            for _ in range(steps):
                xb, yb = task.train_batch(data, cfg.batch)
                with tuner.step():
                    train_step(model, opt, xb, yb, loss_forward=task.loss_forward,
                               loss_backward=task.loss_backward, clip_value=cfg.clip_value)
        finally:
            tuner.close()
        pred, _ = model.forward(xb, train=False)
        return [p.copy() for p in model.params.values()] + [pred]

    def work():
        return [op(), training(), op()]

    serial = work()
    results = [None] * n_threads

    def run(i):
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    for r in results:
        assert r is not None, "a thread failed"
        for got_part, want_part in zip(r, serial, strict=True):
            for got, want in zip(got_part, want_part, strict=True):
                if tuned:
                    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
                else:
                    assert np.array_equal(got, want), "a thread's result differs from the serial one"
    print("ok", n_threads)
    """
)


@pytest.mark.parametrize("tuned", ["fixed", "tuned"])
@pytest.mark.parametrize("n_threads", [2, 4])
def test_threads_calling_the_ops_and_training_at_once_get_the_serial_result(n_threads, tuned):
    """Ops, a model and training steps from several threads at once: nothing hangs, and each thread gets
    the serial result: the same bits with the default policy, the same to rounding while thread tuners
    (one per training thread) change the counts between steps."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "OPENBLAS_", "INDRNN_THREAD"))}
    proc = subprocess.run(
        [sys.executable, "-c", _CONCURRENT, str(n_threads), tuned],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,  # a hang fails the test instead of stopping the suite
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", str(n_threads)]


def test_threads_are_safe_with_numbas_workqueue_layer_too():
    """Numba's workqueue layer ends the process when two threads launch parallel kernels at once
    ('Concurrent access has been detected'); the ops then call the kernels one at a time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "OPENBLAS_", "INDRNN_THREAD"))}
    env["NUMBA_THREADING_LAYER"] = "workqueue"
    proc = subprocess.run(
        [sys.executable, "-c", _CONCURRENT, "4", "fixed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", "4"]


_RELEASE_PROBE = textwrap.dedent(
    """
    import os, threading
    from tqdm import tqdm
    from indrnn_np.threads import release_is_safe

    seen = [release_is_safe()]
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    seen.append(release_is_safe())  # another thread might be inside BLAS
    stop.set()
    t.join()
    seen.append(release_is_safe())
    with tqdm(total=2, mininterval=60, file=open(os.devnull, "w")) as bar:
        bar.update(1)
        assert tqdm.monitor is not None and tqdm.monitor.is_alive()
        seen.append(release_is_safe())  # tqdm's monitor never calls BLAS
    print(seen)
    """
)


def test_release_only_while_no_other_python_thread_exists():
    """In a fresh process (a test session keeps threads of its own): no other thread, then one, then
    none again, then tqdm's monitor alone."""
    proc = subprocess.run([sys.executable, "-c", _RELEASE_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[True, False, True, True]"


# --------------------------------------------------------------------------
# The tuner
# --------------------------------------------------------------------------


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _tuner(**kw):
    from indrnn_np.threads import ThreadTuner, current_counts

    if min(current_counts()) < 2:
        pytest.skip("needs 2 BLAS and 2 Numba threads (a machine with 2 cores or more)")
    clock = _Clock()
    return ThreadTuner(clock=clock, enabled=True, **kw), clock


def _run(tuner, clock, cost, steps):
    for _ in range(steps):
        with tuner.step() as setting:
            clock.t += cost[setting[0]]


def test_tuner_keeps_the_fastest_setting_and_puts_the_counts_back():
    from indrnn_np.threads import current_counts

    start = current_counts()
    tuner, clock = _tuner(probe_steps=3, rounds=2, warmup=1, abandon=10.0)
    try:
        _run(tuner, clock, {"all": 0.010, "blas1": 0.005, "serial": 0.008}, 1 + 2 * 3 * 3)
        assert [c[0] for c in tuner.candidates] == ["all", "blas1", "serial"]
        assert tuner.current[0] == "blas1" and tuner.history == [(19, "blas1")]
        assert tuner.medians == pytest.approx({"all": 0.010, "blas1": 0.005, "serial": 0.008})
        with tuner.step():
            assert current_counts() == (1, start[1])  # one BLAS thread, every Numba thread
            clock.t += 0.005
    finally:
        tuner.close()
    assert current_counts() == start


def test_tuner_tries_again_when_the_step_time_moves():
    tuner, clock = _tuner(probe_steps=2, rounds=1, warmup=0, window=4, drift=1.5, abandon=10.0)
    try:
        _run(tuner, clock, {"all": 0.004, "blas1": 0.006, "serial": 0.007}, 6)
        assert tuner.history == [(6, "all")]
        # another program starts: "all" slows down 4x, the others less
        slow = {"all": 0.016, "blas1": 0.007, "serial": 0.009}
        _run(tuner, clock, slow, 4)  # the window fills: its median is 4x the probed one
        _run(tuner, clock, slow, 6)  # the second probe
        assert tuner.history == [(6, "all"), (16, "blas1")]
        # steady: no new probe until revisit_s has passed
        _run(tuner, clock, slow, 20)
        assert len(tuner.history) == 2
    finally:
        tuner.close()


def test_a_setting_much_slower_than_the_best_gives_up_its_turn_after_one_step():
    tuner, clock = _tuner(probe_steps=3, rounds=2, warmup=0, abandon=2.0)
    try:
        # all 3 steps, blas1 1 (4x the best), serial 3; again: 3 + 1 + 3
        _run(tuner, clock, {"all": 0.010, "blas1": 0.040, "serial": 0.012}, 14)
        assert tuner.history == [(14, "all")]
        assert tuner.medians == pytest.approx({"all": 0.010, "blas1": 0.040, "serial": 0.012})
    finally:
        tuner.close()


def test_tuner_revisits_after_a_while_and_backs_off_when_nothing_changed():
    tuner, clock = _tuner(probe_steps=1, rounds=1, warmup=0, revisit_s=1.0, max_revisit_s=4.0)
    cost = {"all": 0.1, "blas1": 0.2, "serial": 0.3}
    try:
        _run(tuner, clock, cost, 3)
        assert tuner._revisit_s == 1.0
        _run(tuner, clock, cost, 11 + 3)  # 1.1 s later: probed again, same choice
        assert [h[1] for h in tuner.history] == ["all", "all"] and tuner._revisit_s == 2.0
        _run(tuner, clock, cost, 21 + 3 + 41 + 3)
        assert [h[1] for h in tuner.history] == ["all"] * 4 and tuner._revisit_s == 4.0
    finally:
        tuner.close()


def test_a_disabled_tuner_changes_nothing():
    from indrnn_np.threads import ThreadTuner, current_counts

    start = current_counts()
    tuner = ThreadTuner(enabled=False)
    for _ in range(30):
        with tuner.step() as setting:
            assert setting is None and current_counts() == start
    tuner.close()
    assert tuner.history == [] and current_counts() == start


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"probe_steps": 0}, "probe_steps must be a positive int"),
        ({"rounds": 1.5}, "rounds must be a positive int"),
        ({"warmup": -1}, "warmup must be an int >= 0"),
        ({"drift": 1.0}, "drift must be greater than 1"),
        ({"abandon": 0.5}, "abandon must be greater than 1"),
        ({"revisit_s": 10.0, "max_revisit_s": 5.0}, "need 0 < revisit_s <= max_revisit_s"),
        ({"settings": ()}, "settings must not be empty"),
    ],
)
def test_tuner_arguments_are_checked(kw, message):
    from indrnn_np.threads import ThreadTuner

    with pytest.raises(ValueError, match=message):
        ThreadTuner(**kw)


def test_the_policy_runs_at_each_kernel_call_not_when_the_ops_fetch_the_kernels(monkeypatch):
    """The forward op fetches the kernels before its input GEMM: a release at the fetch would leave
    OpenBLAS's workers, started by that GEMM, spinning through the recurrence (threads.PolicyKernels)."""
    import numpy as np

    from indrnn_np import threads
    from indrnn_np.ops import indrnn_forward
    from indrnn_np.ops.backend import resolve

    events = []
    monkeypatch.setattr(threads, "before_numba_kernel", lambda: events.append("policy"))
    kernels = resolve("cpu").kernels
    assert events == []  # fetching the module applies nothing
    T, B, N = 3, 2, 4
    xw, h = np.ones((T, B, N)), np.empty((T, B, N))
    kernels.recurrence_forward(xw, np.full(N, 0.5), np.zeros(N), np.zeros((B, N)), 1, h)
    kernels.recurrence_forward(xw, np.full(N, 0.5), np.zeros(N), np.zeros((B, N)), 1, h)
    assert events == ["policy", "policy"]  # at each call

    events.clear()
    gemm_then_kernel = []
    monkeypatch.setattr(
        threads, "before_numba_kernel", lambda: gemm_then_kernel.append(("policy", len(events)))
    )
    x = np.ones((T, B, 16))  # M = 16: the GEMM path, a GEMM then the recurrence
    real = resolve("cpu").matmul

    def matmul(*a, **kw):
        events.append("gemm")
        return real(*a, **kw)

    monkeypatch.setattr(type(resolve("cpu")), "matmul", lambda self, *a, **kw: matmul(*a, **kw))
    indrnn_forward(x, np.ones((16, N)), np.full(N, 0.5), np.zeros(N), backend="cpu")
    assert events == ["gemm"] and gemm_then_kernel == [("policy", 1)]  # the release after the GEMM
