"""The training progress lines: the compile line appears only when Numba compiles."""

import os
import subprocess
import sys

import pytest

from indrnn_np.compiling import CompileWatch
from indrnn_np.train.progress import Progress

COMPILE_LINE = "compiling the kernels"
TINY = "--T 20 --hidden 8 --batch 8 --steps 2 --eval-every 1 --test-size 16".split()


def test_compile_watch_sees_a_compilation_and_not_a_function_already_compiled():
    import numba

    @numba.njit(cache=False)
    def add_one(v):
        return v + 1

    calls = []
    with CompileWatch(lambda: calls.append("compiled")) as watch:
        assert add_one(1) == 2  # first call: compiles
        assert add_one(2) == 3  # same signature: no second compilation
    assert watch.compiled and calls == ["compiled"]
    with CompileWatch(lambda: calls.append("again")) as watch:
        assert add_one(5) == 6  # in memory: nothing compiles
    assert not watch.compiled and calls == ["compiled"]
    add_one(1.5)  # compiles a float signature with no watch installed: nobody is told
    assert calls == ["compiled"]


def test_numpy_backend_never_watches_and_still_reports_the_first_step():
    lines = []
    bar = Progress(True, 1, 1, "test_mse", log=lines.append, backend="numpy")
    bar.before_step(1)
    assert bar.watch is None
    bar.after_step(1, 0.5, 0.4, True)
    bar.close()
    assert len(lines) == 1 and lines[0].startswith("step 1 took"), lines


@pytest.mark.cudasim
def test_cuda_backend_in_the_simulator_says_that_steps_are_slow():
    from indrnn_np import cuda_available

    if not cuda_available():  # pragma: no cover - the tests run with NUMBA_ENABLE_CUDASIM=1 (conftest)
        pytest.skip("the CUDA backend cannot be loaded here")
    lines = []
    bar = Progress(True, 1, 1, "test_mse", log=lines.append, backend="cuda")
    bar.before_step(1)
    bar.after_step(1, 0.5, 0.4, True)
    bar.close()
    assert lines[0].startswith("step 1: backend cuda runs in Numba's CUDA simulator"), lines
    assert lines[1].startswith("step 1 took") and len(lines) == 2, lines  # nothing compiled here


def _train(tmp_path, name, cache, *extra):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "INDRNN_NUMBA_CACHE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "train", "adding", *TINY, *extra, "--out", str(tmp_path / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step 1 took" in proc.stdout, proc.stdout  # the progress lines are on
    return proc.stdout


@pytest.mark.slow
def test_compile_line_on_a_cache_miss_only(tmp_path):
    """An empty Numba cache: the line; the same cache again: no line; the NumPy backend: never."""
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    assert COMPILE_LINE not in _train(tmp_path, "numpy", cache, "--backend", "numpy")
    assert not any(cache.iterdir())  # the NumPy run compiled nothing, so the cache is still empty
    first = _train(tmp_path, "first", cache)
    # the memory check's rehearsal runs the kernels first: it says so, before the seconds of compiling
    assert "compiling the kernels for the memory check" in first, first
    assert first.index(COMPILE_LINE) < first.index("step 1 took")  # said before the wait, not after
    assert any(cache.rglob("*.nbi"))  # Numba wrote its cache
    assert COMPILE_LINE not in _train(tmp_path, "second", cache)


def test_the_progress_lines_train_loss_is_the_metrics_rows(tmp_path):
    """The loss a progress line shows at an evaluation is metrics.csv's train_loss of that step (the mean
    since the last row), not the last step's loss: one number, one name."""
    from indrnn_np.train import RunDir, recipe, train

    cfg = recipe("adding", T=20, hidden=8, batch=8, steps=15, eval_every=5, test_size=16)
    lines = []
    train(cfg, tmp_path / "r", progress=True, log=lines.append)
    shown = {
        int(line.split()[1].split("/")[0]): line.split("train loss ")[1].split()[0]
        for line in lines
        if "train loss" in line
    }
    rows = RunDir(tmp_path / "r").read_metrics()
    want = {int(s): f"{v:.5f}" for s, v in zip(rows["step"], rows["train_loss"], strict=True) if s > 1}
    assert shown == want, (shown, want)
