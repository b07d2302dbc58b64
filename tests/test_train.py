"""Optimizers with the u constraint, schedules, the training loop, checkpoints and resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from indrnn_np.cli import main
from indrnn_np.models import indrnn_regressor
from indrnn_np.optim import SGD, Adam, ReduceOnPlateau, StepDecay
from indrnn_np.tasks.adding import BASELINE_MSE, adding_batch, adding_test_set
from indrnn_np.train import (
    CheckpointError,
    TrainConfig,
    TrainingDiverged,
    load_checkpoint,
    mse_train_step,
    read_metrics,
    save_checkpoint,
    train,
)

FAST = dict(T=20, hidden=16, batch=16, lr=5e-3, eval_every=10, checkpoint_every=20, test_size=64)


# ---------------------------------------------------------------- optimizers


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


# ---------------------------------------------------------------- the loop


def _cfg(**kw):
    return TrainConfig(**{**FAST, **kw})


def test_short_training_run_beats_the_baseline(tmp_path):
    summary = train(
        _cfg(steps=800, eval_every=200, checkpoint_every=400, test_size=500),
        tmp_path / "run",
        progress=False,
        log=lambda *a: None,
    )
    assert summary["test_mse"] < 0.05 < BASELINE_MSE
    for name in ("metrics.csv", "summary.json", "curve.png", "checkpoint.npz"):
        assert (tmp_path / "run" / name).exists(), name
    m = read_metrics(tmp_path / "run" / "metrics.csv")
    assert list(m) == ["step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm", "elapsed_s"]
    assert m["step"].tolist() == [200, 400, 600, 800]
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["steps"] == 800 and s["params"] > 0 and s["config"]["T"] == 20 and s["wall_s"] > 0


def test_plateau_schedule_follows_the_training_loss_not_the_test_set(tmp_path, monkeypatch):
    from indrnn_np.tasks.adding import AddingTask

    # a test metric that never improves would cut the lr at the 4th evaluation
    monkeypatch.setattr(AddingTask, "evaluate", lambda self, model, **kw: {"test_mse": 1.0})
    cfg = _cfg(steps=200, eval_every=40, schedule="plateau", plateau_patience=2)
    train(cfg, tmp_path / "run", progress=False, log=lambda *a: None)
    m = read_metrics(tmp_path / "run" / "metrics.csv")

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
def test_resume_reproduces_an_uninterrupted_run_bit_for_bit(tmp_path, kw):
    full = tmp_path / "full"
    part = tmp_path / "part"
    quiet = dict(progress=False, log=lambda *a: None)
    train(_cfg(steps=60, **kw), full, **quiet)
    train(_cfg(steps=40, **kw), part, **quiet)  # stops at 40, checkpoint at 40
    train(_cfg(steps=60), part, resume=True, **quiet)  # only steps is read from cfg when resuming
    a, b = read_metrics(full / "metrics.csv"), read_metrics(part / "metrics.csv")
    for col in ("step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm"):
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)
    pa, _ = load_checkpoint(full / "checkpoint.npz")
    pb, _ = load_checkpoint(part / "checkpoint.npz")
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


def test_resume_from_a_mid_run_checkpoint_drops_later_rows(tmp_path):
    run = tmp_path / "run"
    quiet = dict(progress=False, log=lambda *a: None)
    train(_cfg(steps=40, checkpoint_every=20), run, **quiet)
    arrays, meta = load_checkpoint(run / "checkpoint.npz")
    # pretend the process died right after the checkpoint at step 40 but wrote later metric rows
    with open(run / "metrics.csv", "a", newline="") as fh:
        csv.writer(fh).writerow([50, 9, 9, 9, 9, 9, 9])
    train(_cfg(steps=60), run, resume=True, **quiet)
    assert read_metrics(run / "metrics.csv")["step"].tolist() == [10, 20, 30, 40, 50, 60]
    assert read_metrics(run / "metrics.csv")["train_loss"][4] != 9


def test_a_run_folder_is_never_reused(tmp_path):
    quiet = dict(progress=False, log=lambda *a: None)
    train(_cfg(steps=10), tmp_path / "r", **quiet)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(_cfg(steps=10), tmp_path / "r", **quiet)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_clear_error_and_is_not_overwritten(tmp_path, damage):
    run = tmp_path / "r"
    train(_cfg(steps=20), run, progress=False, log=lambda *a: None)
    path = run / "checkpoint.npz"
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "garbage": b"not a zip file" * 10, "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(CheckpointError, match=r"checkpoint.npz: not a readable indrnn-np checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        train(_cfg(steps=40), run, resume=True, progress=False, log=lambda *a: None)
    assert path.read_bytes() == damaged  # untouched: nothing was written over it
    assert main(["train", "adding", "--resume", str(run), "--quiet"]) == 2


def test_a_failed_save_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "r"
    train(_cfg(steps=20), run, progress=False, log=lambda *a: None)
    path = run / "checkpoint.npz"
    good = path.read_bytes()
    model = indrnn_regressor(20, hidden=16)
    opt = Adam(model.params, lr=1e-3)

    def exploding_savez(fh, **arrays):
        fh.write(b"partial write")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=model, opt=opt, meta={"step": 99})
    assert path.read_bytes() == good
    assert [p.name for p in run.iterdir() if p.name.startswith(".checkpoint-")] == []


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import indrnn_np.train as train_mod

    real = train_mod.train_step
    calls = {"n": 0}

    def poisoned(*a, **kw):
        calls["n"] += 1
        res = real(*a, **kw)
        return res._replace(loss=float("nan"), finite=False) if calls["n"] == 27 else res

    monkeypatch.setattr(train_mod, "train_step", poisoned)
    run = tmp_path / "r"
    with pytest.raises(
        TrainingDiverged, match=r"step 27: the loss became nan .* last good checkpoint \(step 20\)"
    ) as info:
        train(_cfg(steps=60), run, progress=False, log=lambda *a: None)
    assert info.value.step == 27 and info.value.params == indrnn_regressor(20, hidden=16).num_params()
    _, meta = load_checkpoint(run / "checkpoint.npz")
    assert meta["step"] == 20


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
    _, meta = load_checkpoint(run / "checkpoint.npz")
    assert meta["step"] >= 1
    assert main(["train", "adding", "--resume", str(run), "--steps", str(meta["step"] + 5), "--quiet"]) == 0


# ---------------------------------------------------------------- the command


def test_train_command_bad_options_are_one_line_errors(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "indrnn_np", "train", *args], capture_output=True, text=True
        )

    for args, msg in (
        (["adding", "--T", "-5"], "expected a positive integer, got -5"),
        (["sorting"], "invalid choice: 'sorting'"),
        (["adding", "--T", "1", "--out", str(tmp_path / "a")], "T must be >= 2 for the adding problem"),
        (["adding", "--dropout", "2", "--out", str(tmp_path / "b")], "dropout must be in [0, 1)"),
        (["adding", "--out", "/proc/nope/run"], "cannot create output directory"),
        (
            ["adding", "--resume", str(tmp_path / "c"), "--lr", "1"],
            "--resume continues a run with its own settings",
        ),
    ):
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr


def test_default_output_folder_never_reuses_a_run(tmp_path, monkeypatch):
    from indrnn_np.cli import _default_out

    monkeypatch.chdir(tmp_path)
    assert _default_out("adding", 100) == os.path.join("runs", "adding_T100")
    (tmp_path / "runs" / "adding_T100").mkdir(parents=True)
    (tmp_path / "runs" / "adding_T100" / "metrics.csv").write_text("x")
    assert _default_out("adding", 100) == os.path.join("runs", "adding_T100") + "-2"
