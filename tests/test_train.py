"""The training step and loop: metrics, checkpoints, resume, divergence, Ctrl-C (indrnn_np.train.loop)."""

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from indrnn_np import config
from indrnn_np.cli import main
from indrnn_np.nn import ReduceOnPlateau, indrnn_regressor
from indrnn_np.tasks.adding import BASELINE_MSE, adding_batch, adding_test_set
from indrnn_np.train import (
    CheckpointError,
    RunDir,
    RunDirError,
    TrainConfig,
    TrainingDiverged,
    resume,
    train,
)

FAST = dict(T=20, hidden=16, batch=16, lr=5e-3, eval_every=10, checkpoint_every=20, test_size=64)
QUIET = dict(progress=False, log=lambda *a: None)


# ---------------------------------------------------------------- data


def test_adding_data_as_the_paper_describes():
    x, y, markers = adding_batch(100, 500, np.random.default_rng(0))
    assert x.shape == (100, 500, 2) and y.shape == (500, 1)
    assert np.all(x[:, :, 1].sum(axis=0) == 2)  # exactly two markers
    assert np.all(markers[:, 0] < 50) and np.all(markers[:, 1] >= 50)  # one in each half
    cols = np.arange(500)
    np.testing.assert_allclose(y[:, 0], x[markers[:, 0], cols, 0] + x[markers[:, 1], cols, 0], rtol=1e-6)
    assert abs(np.mean((y - 1.0) ** 2) - BASELINE_MSE) < 0.03  # predicting 1 gives ~1/6
    a = adding_test_set(30)
    b = adding_test_set(30)
    assert a[0].shape == (30, 1000, 2)
    np.testing.assert_array_equal(a[0], b[0])  # the test set is fixed
    with pytest.raises(ValueError, match="T must be an int >= 2"):
        adding_batch(1, 4, np.random.default_rng(0))


def test_adding_evaluation_does_not_depend_on_its_chunk_size():
    from indrnn_np.tasks.adding import AddingTask

    task = AddingTask(30, test_size=250, dtype=np.float64)
    model = indrnn_regressor(30, hidden=8, seed=3, dtype=np.float64)
    model.params["indrnn1.W"][...] = np.random.default_rng(1).normal(0, 0.5, model.params["indrnn1.W"].shape)
    full = task.evaluate(model, batch=250)["test_mse"]
    pred, _ = model.forward(task.test_x, train=False)
    assert full == pytest.approx(np.mean((pred - task.test_y) ** 2), rel=1e-12)
    for batch in (1, 7, 100, 1000):  # uneven last chunk, default, larger than the set
        assert task.evaluate(model, batch=batch)["test_mse"] == pytest.approx(full, rel=1e-12)
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="batch must be an int >= 1"):
            task.evaluate(model, batch=bad)


# ---------------------------------------------------------------- the loop


def _cfg(**kw):
    return TrainConfig(**{**FAST, **kw})


def test_short_training_run_beats_the_baseline(tmp_path):
    summary = train(
        _cfg(steps=800, eval_every=200, checkpoint_every=400, test_size=500), tmp_path / "run", **QUIET
    )
    assert summary["test_mse"] < 0.05  # the baseline (always predict 1) is 0.167
    assert BASELINE_MSE == pytest.approx(1 / 6, abs=1e-3)
    for name in ("metrics.csv", "summary.json", "curve.png", "checkpoint.npz"):
        assert (tmp_path / "run" / name).exists(), name
    m = RunDir(tmp_path / "run").read_metrics()
    assert list(m) == ["step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm", "elapsed_s"]
    assert m["step"].tolist() == [200, 400, 600, 800]
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["steps"] == 800 and s["params"] > 0 and s["config"]["T"] == 20 and s["wall_s"] > 0


def test_plateau_schedule_follows_the_training_loss_not_the_test_set(tmp_path, monkeypatch):
    from indrnn_np.tasks.adding import AddingTask

    # a test metric that never improves would cut the lr at the 4th evaluation
    monkeypatch.setattr(AddingTask, "evaluate", lambda self, model, **kw: {"test_mse": 1.0})
    cfg = _cfg(steps=200, eval_every=40, schedule="plateau", plateau_patience=2)
    train(cfg, tmp_path / "run", **QUIET)
    m = RunDir(tmp_path / "run").read_metrics()

    def lrs(metrics):
        r = ReduceOnPlateau(cfg.lr, patience=2)
        return [r.observe(float(v)) for v in metrics]

    assert m["lr"].tolist() == pytest.approx(lrs(m["train_loss"]))
    assert m["lr"].tolist() != pytest.approx(lrs([1.0] * 5))  # what following the test metric would do


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(bn="time", dropout=0.2, layers=3, residual=True)],
    ids=["basic", "residual-bn-dropout"],
)
def test_resume_reproduces_an_uninterrupted_run_bit_for_bit(tmp_path, kw, monkeypatch):
    monkeypatch.setattr(config, "CPU_THREAD_TUNING", False)  # fixed thread counts: the same bits
    full = tmp_path / "full"
    part = tmp_path / "part"
    train(_cfg(steps=60, **kw), full, **QUIET)
    train(_cfg(steps=40, **kw), part, **QUIET)  # stops at 40, checkpoint at 40
    resume(part, steps=60, **QUIET)
    a, b = RunDir(full).read_metrics(), RunDir(part).read_metrics()
    for col in ("step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm"):
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)
    pa, _ = RunDir(full).load_checkpoint()
    pb, _ = RunDir(part).load_checkpoint()
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def test_with_thread_tuning_a_resumed_run_agrees_to_rounding(tmp_path, monkeypatch):
    """The tuner changes BLAS's thread count between steps, and with it the GEMMs' last bits: at the
    quick start's sizes a resumed run then agrees with an uninterrupted one to float32 rounding."""
    monkeypatch.setattr(config, "CPU_THREAD_TUNING", True)
    kw = dict(T=100, hidden=128, batch=50, steps=60, eval_every=20, test_size=200)
    train(_cfg(**kw), tmp_path / "full", **QUIET)
    train(_cfg(**{**kw, "steps": 40}), tmp_path / "part", **QUIET)
    resume(tmp_path / "part", steps=60, **QUIET)
    a, b = RunDir(tmp_path / "full").read_metrics(), RunDir(tmp_path / "part").read_metrics()
    for col in ("step", "train_loss", "test_mse", "lr", "max_abs_u"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-5, err_msg=col)


def test_resume_from_a_mid_run_checkpoint_drops_later_rows(tmp_path):
    run = tmp_path / "run"
    train(_cfg(steps=40, checkpoint_every=20), run, **QUIET)
    # pretend the process died right after the checkpoint at step 40 but wrote a later metric row
    with open(run / "metrics.csv", "a", newline="") as fh:
        csv.writer(fh).writerow([50, 9, 9, 9, 9, 9, 9])
    resume(run, steps=60, **QUIET)
    m = RunDir(run).read_metrics()
    assert m["step"].tolist() == [10, 20, 30, 40, 50, 60]
    assert m["train_loss"][4] != 9


def test_a_run_folder_is_never_reused(tmp_path):
    train(_cfg(steps=10), tmp_path / "r", **QUIET)
    with pytest.raises(RunDirError, match="already holds a run"):
        train(_cfg(steps=10), tmp_path / "r", **QUIET)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_clear_error_and_is_not_overwritten(tmp_path, damage):
    run = tmp_path / "r"
    train(_cfg(steps=20), run, **QUIET)
    path = run / "checkpoint.npz"
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "garbage": b"not a zip file" * 10, "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(
        CheckpointError, match=r"checkpoint.npz: damaged or not a readable indrnn-np checkpoint"
    ):
        RunDir(run).load_checkpoint()
    with pytest.raises(CheckpointError):
        resume(run, steps=40, **QUIET)
    assert path.read_bytes() == damaged  # untouched: nothing was written over it
    assert main(["train", "adding", "--resume", str(run), "--quiet"]) == 2


def test_a_failed_save_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "r"
    train(_cfg(steps=20), run, **QUIET)
    path = run / "checkpoint.npz"
    good = path.read_bytes()
    model = indrnn_regressor(20, hidden=16)
    from indrnn_np.nn import Adam

    def exploding_savez(fh, **arrays):
        fh.write(b"partial write")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(OSError, match="disk full"):
        RunDir(run).save_checkpoint(model=model, opt=Adam(model.params, lr=1e-3), meta={"step": 99})
    assert path.read_bytes() == good
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import indrnn_np.train.loop as loop

    real = loop.train_step
    calls = {"n": 0}

    def poisoned(*a, **kw):
        calls["n"] += 1
        res = real(*a, **kw)
        return res._replace(loss=float("nan"), finite=False) if calls["n"] == 27 else res

    monkeypatch.setattr(loop, "train_step", poisoned)
    run = tmp_path / "r"
    with pytest.raises(
        TrainingDiverged, match=r"step 27: the loss became nan .* last good checkpoint \(step 20\)"
    ) as info:
        train(_cfg(steps=60), run, **QUIET)
    assert info.value.step == 27 and info.value.params == indrnn_regressor(20, hidden=16).num_params()
    _, meta = RunDir(run).load_checkpoint()
    assert meta["step"] == 20
    # the folder records the divergence; resuming says so instead of training again
    assert RunDir(run).read_diverged()["step"] == 27
    with pytest.raises(RunDirError, match="diverged at step 27 and cannot be continued"):
        resume(run, **QUIET)
    with pytest.raises(RunDirError, match="diverged at step 27"):
        train(_cfg(steps=60), run, **QUIET)


def test_real_divergence_without_the_constraint_is_reported(tmp_path, capsys):
    """Unconstrained u, no clipping and a huge learning rate: the loss overflows and the run stops."""
    rc = main(
        [
            "train",
            "adding",
            "--T",
            "200",
            "--hidden",
            "32",
            "--steps",
            "50",
            "--lr",
            "0.5",
            "--u-constraint",
            "none",
            "--no-clip",
            "--eval-every",
            "10",
            "--test-size",
            "50",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "training stopped" in err and ("became inf" in err or "became nan" in err)


def test_ctrl_c_saves_a_checkpoint_and_resumes(tmp_path):
    run = tmp_path / "r"
    cmd = [
        sys.executable,
        "-m",
        "indrnn_np",
        "train",
        "adding",
        "--T",
        "50",
        "--steps",
        "100000",
        "--eval-every",
        "1000",
        "--checkpoint-every",
        "100000",
        "--out",
        str(run),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (run / "metrics.csv").exists():
        time.sleep(0.2)
    time.sleep(3)  # some steps
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted after step" in err and "--resume" in err
    assert "Traceback" not in err
    _, meta = RunDir(run).load_checkpoint()
    assert meta["step"] >= 1
    assert main(["train", "adding", "--resume", str(run), "--steps", str(meta["step"] + 5), "--quiet"]) == 0
