"""One training loop for any task: ``train(model, optimizer, task, run_dir, ...)`` on objects, with the
run folder's machinery (metrics, checkpoints, resume, Ctrl-C, divergence), and the model's backend
decided once (indrnn_np.train.loop, indrnn_np.tasks.Task, Sequential.backend)."""

import json
import os
import signal

import numpy as np
import pytest

from indrnn_np import config
from indrnn_np.cli import main
from indrnn_np.nn import SGD, Adam, StepDecay, build_baseline, build_indrnn
from indrnn_np.ops import mse_backward, mse_forward
from indrnn_np.ops.device import to_host
from indrnn_np.tasks import Task
from indrnn_np.tasks.adding import AddingTask
from indrnn_np.train import (
    RunChangedError,
    RunDir,
    RunDirError,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    evaluate_run,
    model_of,
    optimizer_of,
    resume,
    train,
    train_step,
)

QUIET = dict(progress=False, log=lambda *a: None)
T = 8


class SumTask:
    """A task of one's own: the mean of T random numbers, read one per step."""

    name = "mean"
    description = "the mean of 8 uniform numbers"
    metric = "test_mse"
    baseline = 1 / 96  # Var of the mean of 8 U(0, 1)

    def __init__(self, nan_at=None, interrupt_at=None):
        rng = np.random.default_rng(99)
        self.test_x = rng.uniform(size=(T, 64, 1)).astype(np.float32)
        self.test_y = self.test_x.mean(axis=0)
        self.calls, self.nan_at, self.interrupt_at = 0, nan_at, interrupt_at

    def train_batch(self, rng, batch):
        self.calls += 1
        if self.calls == self.interrupt_at:  # Ctrl-C in the middle of a step
            os.kill(os.getpid(), signal.SIGINT)
        x = rng.uniform(size=(T, batch, 1)).astype(np.float32)
        if self.calls == self.nan_at:
            x[0, 0, 0] = np.nan
        return x, x.mean(axis=0)

    loss_forward = staticmethod(mse_forward)
    loss_backward = staticmethod(mse_backward)

    def evaluate(self, model, full=False):
        pred, _ = model.forward(self.test_x, train=False)
        return {"test_mse": mse_forward(to_host(pred), self.test_y)[0]}


def _objects(dropout=0.2):
    model = build_indrnn(T, 1, 1, hidden=8, dropout=dropout, seed=3)
    opt = Adam(model.params, lr=1e-2, u_max=2 ** (1 / T))
    return model, opt


RUN = dict(steps=60, batch=16, eval_every=10, checkpoint_every=20, clip_value=10.0, seed=5)


def test_the_paper_tasks_and_a_task_of_ones_own_follow_the_protocol():
    assert isinstance(SumTask(), Task)
    assert isinstance(AddingTask(10, test_size=4), Task)
    assert not isinstance(object(), Task)


def test_a_run_of_objects_writes_the_run_folder(tmp_path):
    model, opt = _objects()
    lines = []
    summary = train(model, opt, SumTask(), tmp_path / "r", **RUN, progress=False, log=lines.append)
    for name in ("metrics.csv", "summary.json", "curve.png", "checkpoint.npz"):
        assert (tmp_path / "r" / name).exists(), name
    m = RunDir(tmp_path / "r").read_metrics()
    assert m["step"].tolist() == [10, 20, 30, 40, 50, 60] and summary["test_mse"] == m["test_mse"][-1]
    assert np.all(m["max_abs_u"] <= np.float32(2 ** (1 / T)))  # the optimizer's projection
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["config"] is None and s["steps"] == 60 and s["params"] == model.num_params()
    assert s["run"]["batch"] == 16 and s["run"]["seed"] == 5 and s["run"]["clip_value"] == 10.0
    assert s["run"]["task"] == {"name": "mean", "metric": "test_mse", "description": SumTask.description}
    _, meta = RunDir(tmp_path / "r").load_checkpoint()
    assert meta["config"] is None and meta["step"] == 60 and meta["run"] == s["run"]
    assert "on mean:" in lines[0] and "Adam lr 0.01" in lines[0] and "data: the mean" in lines[1]
    with pytest.raises(RunDirError, match="already holds a run"):
        train(*_objects(), SumTask(), tmp_path / "r", **RUN, **QUIET)


def test_resume_of_objects_reproduces_an_uninterrupted_run_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CPU_THREAD_TUNING", False)  # fixed thread counts: the same bits
    sched = lambda: StepDecay(1e-2, every=25, factor=0.5)  # noqa: E731
    train(*_objects(), SumTask(), tmp_path / "full", schedule=sched(), **RUN, **QUIET)
    train(*_objects(), SumTask(), tmp_path / "part", schedule=sched(), **{**RUN, "steps": 40}, **QUIET)
    # a fresh process would build the same objects again; their state comes from the checkpoint
    train(*_objects(), SumTask(), tmp_path / "part", schedule=sched(), resume=True, **RUN, **QUIET)
    a, b = RunDir(tmp_path / "full").read_metrics(), RunDir(tmp_path / "part").read_metrics()
    for col in ("step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm"):
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)
    pa, ma = RunDir(tmp_path / "full").load_checkpoint()
    pb, mb = RunDir(tmp_path / "part").load_checkpoint()
    assert pa.keys() == pb.keys() and ma["data_rng"] == mb["data_rng"]
    for k in pa:
        if k != "meta":
            np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
    # complete: resuming again trains nothing and returns the summary
    again = train(*_objects(), SumTask(), tmp_path / "part", schedule=sched(), resume=True, **RUN, **QUIET)
    assert again["steps"] == 60


def test_resume_of_objects_refuses_other_settings_and_starts_a_new_folder(tmp_path):
    train(*_objects(), SumTask(), tmp_path / "r", **{**RUN, "steps": 20}, **QUIET)
    for change, said in (
        (dict(batch=8), "batch: 16 in the run, 8 now"),
        (dict(seed=6), "seed: 5 in the run, 6 now"),
        (dict(clip_value=None), "clip_value: 10.0 in the run, off now"),
        (dict(schedule=StepDecay(1e-2, every=25)), "the schedule: none in the run, StepDecay now"),
    ):
        with pytest.raises(RunChangedError) as info:
            train(*_objects(), SumTask(), tmp_path / "r", resume=True, **{**RUN, **change}, **QUIET)
        assert info.value.differences == [said]
    # the objects themselves: each layer's settings, the optimizer's
    model, opt = _objects(dropout=0.3)
    opt.lr = 2e-2
    with pytest.raises(RunChangedError) as info:
        train(model, opt, SumTask(), tmp_path / "r", resume=True, **RUN, **QUIET)
    assert info.value.differences == [
        "model layer 2 (Dropout) p: 0.2 in the run, 0.3 now",
        "model layer 4 (Dropout) p: 0.2 in the run, 0.3 now",
        "optimizer Adam lr: 0.01 in the run, 0.02 now",
    ]
    model = build_indrnn(T, 1, 1, hidden=8, dropout=0.2, seed=3, activation="tanh")
    with pytest.raises(
        RunChangedError, match=r"model layer 1 \(IndRNN\) activation: 'relu' in the run, 'tanh' now"
    ):
        train(model, Adam(model.params, lr=1e-2, u_max=2 ** (1 / T)), SumTask(), tmp_path / "r", resume=True,
              **RUN, **QUIET)  # fmt: skip
    with pytest.raises(RunDirError, match="steps=10 is below the step the run has reached"):
        train(*_objects(), SumTask(), tmp_path / "r", resume=True, **{**RUN, "steps": 10}, **QUIET)
    # no checkpoint there yet: resume=True starts the run
    s = train(*_objects(), SumTask(), tmp_path / "new", resume=True, **{**RUN, "steps": 10}, **QUIET)
    assert s["steps"] == 10


def test_commands_that_rebuild_a_run_say_a_run_of_objects_has_no_config(tmp_path, capsys):
    train(*_objects(), SumTask(), tmp_path / "r", **{**RUN, "steps": 10}, **QUIET)
    for call in (lambda: resume(tmp_path / "r", **QUIET), lambda: evaluate_run(tmp_path / "r")):
        with pytest.raises(RunDirError, match="trained from Python objects"):
            call()
    for argv in (
        ["evaluate", "--run", str(tmp_path / "r")],
        ["train", "adding", "--resume", str(tmp_path / "r")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "trained from Python objects" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_ctrl_c_in_a_run_of_objects_keeps_a_checkpoint_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CPU_THREAD_TUNING", False)
    with pytest.raises(TrainingInterrupted, match=r"after step 7: .*resume=True"):
        train(*_objects(), SumTask(interrupt_at=7), tmp_path / "r", **RUN, **QUIET)
    _, meta = RunDir(tmp_path / "r").load_checkpoint()
    assert meta["step"] == 7
    train(*_objects(), SumTask(), tmp_path / "r", resume=True, **RUN, **QUIET)
    train(*_objects(), SumTask(), tmp_path / "full", **RUN, **QUIET)
    a, b = RunDir(tmp_path / "full").read_metrics(), RunDir(tmp_path / "r").read_metrics()
    np.testing.assert_array_equal(a["train_loss"], b["train_loss"])


def test_divergence_of_a_run_of_objects_is_recorded(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"step 25: the loss became nan .*checkpoint \(step 20\)"):
        train(*_objects(), SumTask(nan_at=25), tmp_path / "r", **RUN, **QUIET)
    record = RunDir(tmp_path / "r").read_diverged()
    assert record["step"] == 25 and record["config"] is None and record["run"]["batch"] == 16


def test_a_task_that_lacks_a_member_or_returns_a_bad_batch_is_refused(tmp_path):
    class NoEvaluate:
        metric = "test_mse"
        train_batch = SumTask.train_batch
        loss_forward, loss_backward = SumTask.loss_forward, SumTask.loss_backward

    with pytest.raises(TypeError, match="NoEvaluate lacks evaluate"):
        train(*_objects(), NoEvaluate(), tmp_path / "a", **RUN, **QUIET)
    assert not (tmp_path / "a").exists()

    class OneArray(SumTask):
        def train_batch(self, rng, batch):
            return rng.uniform(size=(T, batch, 1))

    with pytest.raises(TypeError, match=r"must return \(x, y\) or \(x, y, lengths\)"):
        train(*_objects(), OneArray(), tmp_path / "b", **RUN, **QUIET)
    with pytest.raises(ValueError, match="batch must be an int >= 1"):
        train(*_objects(), SumTask(), tmp_path / "c", **{**RUN, "batch": 0}, **QUIET)


def test_lengths_reach_the_model_and_the_loss_only_when_given():
    model, opt = _objects(dropout=0.0)
    seen = []
    forward = model.forward

    def spy_forward(x, train=True, **kw):
        seen.append(("forward", kw.get("lengths")))
        return forward(x, train)

    def spy_loss(pred, y, **kw):
        seen.append(("loss", kw.get("lengths")))
        return mse_forward(pred, y)

    model.forward = spy_forward
    x = np.random.default_rng(0).uniform(size=(T, 4, 1)).astype(np.float32)
    y = x.mean(axis=0)
    lengths = np.array([8, 5, 3, 8])
    train_step(model, opt, x, y, loss_forward=spy_loss)
    train_step(model, opt, x, y, lengths=lengths, loss_forward=spy_loss)
    assert [k for k, v in seen[:2] if v is None] == ["forward", "loss"]
    assert all(v is lengths for _, v in seen[2:]) and len(seen) == 4


# ---------------------------------------------------------------- the backend, decided once


def test_the_model_knows_its_backend_and_the_optimizer_and_loop_ask_it():
    assert build_indrnn(T, 1, 1, hidden=4).backend == "cpu"
    numpy_model = build_indrnn(T, 1, 1, hidden=4, backend="numpy")
    assert numpy_model.backend == "numpy" and not numpy_model.on_device
    assert Adam(numpy_model.params, lr=1e-3).backend == "cpu"  # host parameters, told nothing
    assert SGD(numpy_model.params, lr=1e-3, backend="numpy").backend == "numpy"
    assert build_baseline("lstm", 1, 1, hidden=4, backend="numpy").backend == "numpy"
    with pytest.raises(ValueError, match="backend must be one of"):
        build_indrnn(T, 1, 1, hidden=4, backend="gpu")
    for backend in ("numpy", "cpu"):
        cfg = TrainConfig(T=T, hidden=4, batch=2, test_size=4, backend=backend)
        task = AddingTask(T, test_size=4)
        model = model_of(cfg, task)
        assert model.backend == backend and optimizer_of(cfg, model).backend == backend


@pytest.mark.cudasim
def test_a_cuda_model_is_built_on_the_device_and_trains_there(tmp_path):
    from indrnn_np import cuda_available

    if not cuda_available():  # pragma: no cover - numba-cuda missing
        pytest.skip("the CUDA backend cannot be loaded here")
    from indrnn_np.nn import set_stateful
    from indrnn_np.ops.device import is_device

    model = build_indrnn(3, 1, 1, hidden=3, backend="cuda", dtype=np.float64)
    assert model.backend == "cuda" and model.on_device
    assert all(is_device(v) for v in model.params.values())
    opt = Adam(model.params, lr=1e-2)
    assert opt.backend == "cuda"  # from where the parameters live
    stateful = build_indrnn(3, 1, 1, hidden=3, backend="cuda", dtype=np.float64)
    set_stateful(stateful, 2)
    assert stateful.buffers and all(is_device(v) for v in stateful.buffers.values())
    s = train(model, opt, _DeviceSum(), tmp_path / "r", steps=2, batch=2, eval_every=1, **QUIET)
    assert np.isfinite(s["test_mse"]) and all(is_device(v) for v in model.params.values())


class _DeviceSum(SumTask):
    """SumTask at T = 3 in float64 (the simulator's tiny shapes)."""

    def __init__(self):
        super().__init__()
        self.test_x = self.test_x[:3, :4].astype(np.float64)
        self.test_y = self.test_x.mean(axis=0)

    def train_batch(self, rng, batch):
        x = rng.uniform(size=(3, batch, 1))
        return x, x.mean(axis=0)


def test_an_object_run_on_a_used_folder_names_the_python_arguments(tmp_path):
    model, opt = _objects()
    train(model, opt, SumTask(), tmp_path / "run", steps=2, batch=4, **QUIET)
    with pytest.raises(RunDirError, match=r"continue it with resume=True, or choose another run_dir"):
        train(model, opt, SumTask(), tmp_path / "run", steps=2, batch=4, **QUIET)


def test_a_bidirectional_model_cannot_be_made_stateful():
    from indrnn_np.nn import set_stateful
    from indrnn_np.nn.models import recurrent_layers

    model = build_indrnn(T, 1, 1, hidden=4, layers=2, bidirectional=True, bn="time")
    with pytest.raises(ValueError, match="a bidirectional model cannot be stateful"):
        set_stateful(model, 3)
    assert not any(layer.stateful for layer in recurrent_layers(model))  # refused: nothing changed
    one_way = build_indrnn(T, 1, 1, hidden=4, layers=2)
    set_stateful(one_way, 3)
    assert all(layer.stateful for layer in recurrent_layers(one_way))
