"""The training loop's callbacks (indrnn_np.train.callbacks): the hooks and their order, a user's own,
early stopping and its resume, an error in a callback, the checks, and the numbers unchanged."""

import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest

from indrnn_np import config
from indrnn_np.cli import main
from indrnn_np.nn import Adam, StepDecay, build_indrnn
from indrnn_np.tasks.adding import AddingTask
from indrnn_np.train import Callback, RunDir, TrainConfig, TrainingInterrupted, resume, train, train_step
from indrnn_np.train.loop import _build

QUIET = dict(progress=False, log=lambda *a: None)
T = 10
RUN = dict(batch=8, eval_every=10, checkpoint_every=15, clip_norm=1.0, seed=4)
COLUMNS = ("step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm")  # elapsed_s aside
PAGE = Path(__file__).resolve().parents[1] / "docs" / "site" / "howto" / "callbacks.md"


@pytest.fixture(autouse=True)
def _fixed_threads(monkeypatch):
    monkeypatch.setattr(config, "CPU_THREAD_TUNING", False)  # fixed thread counts: the same bits


def _objects():
    model = build_indrnn(T, 2, 1, hidden=8, seed=3)
    return model, Adam(model.params, lr=5e-3), AddingTask(T, test_size=32)


def _run(path, steps, callbacks=None, **kw):
    return train(*_objects(), path, steps=steps, **{**RUN, **kw}, callbacks=callbacks, **QUIET)


def _same_run(a, b):
    """Two run folders hold the same numbers: metrics.csv (elapsed_s aside) and the checkpoint's arrays."""
    ma, mb = RunDir(a).read_metrics(), RunDir(b).read_metrics()
    for col in COLUMNS:
        np.testing.assert_array_equal(ma[col], mb[col], err_msg=col)
    pa, meta_a = RunDir(a).load_checkpoint()
    pb, meta_b = RunDir(b).load_checkpoint()
    assert pa.keys() == pb.keys() and meta_a["step"] == meta_b["step"] and meta_a["acc"] == meta_b["acc"]
    for k in pa:
        if k != "meta":
            np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


class Recorder(Callback):
    """Every hook call, with what the run said at that moment."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, run):
        self.calls.append(("begin", run.step))

    def on_step_begin(self, run, step):
        self.calls.append(("step", step))

    def on_evaluation(self, run, step, metrics):
        assert list(metrics) == run.columns and metrics["step"] == step == run.step
        assert metrics["test_mse"] == run.metric and run.evaluated == step
        self.calls.append(("evaluation", step))

    def on_step_end(self, run, step, result):
        assert run.step == step and np.isfinite(result.loss)
        if step % run.checkpoint_every == 0:
            assert run.saved == step  # the Checkpoints callback came first
        self.calls.append(("end", step))

    def on_train_end(self, run, summary):
        assert RunDir(run.folder.path).read_summary() == summary
        self.calls.append(("train_end", summary["steps"]))

    def on_exception(self, run, error):
        self.calls.append(("exception", error))


class StopAt(Callback):
    def __init__(self, step, hook="on_evaluation"):
        self.step = step
        setattr(self, hook, self._maybe_stop)

    def _maybe_stop(self, run, step, *rest):
        if step == self.step:
            run.stop(f"asked to stop at {step}")


def test_the_loop_with_callbacks_is_a_plain_loop_of_train_step_bit_for_bit(tmp_path):
    """The loop's numbers, with the progress lines and a callback of one's own, are those of the
    training step called in a plain loop on the same batches."""
    lines = []
    model, opt, task = _objects()
    train(model, opt, task, tmp_path / "r", steps=30, schedule=StepDecay(5e-3, 12, 0.5), **RUN,
          callbacks=[Recorder()], progress=True, log=lines.append)  # fmt: skip
    assert any(ln.startswith("step 10/30: train loss") for ln in lines)  # the progress callback was on
    m = RunDir(tmp_path / "r").read_metrics()

    model, opt, task = _objects()
    rng, sched, losses, rows = np.random.default_rng(RUN["seed"]), StepDecay(5e-3, 12, 0.5), [], []
    for step in range(1, 31):
        opt.lr = sched.lr_at(step - 1)
        x, y = task.train_batch(rng, RUN["batch"])
        res = train_step(model, opt, x, y, loss_forward=task.loss_forward, loss_backward=task.loss_backward,
                         clip_norm=RUN["clip_norm"])  # fmt: skip
        losses.append(res.loss)
        if step % 10 == 0:
            rows.append(
                (step, sum(losses) / len(losses), task.evaluate(model)["test_mse"], opt.lr, res.grad_norm)
            )
            losses = []
    for i, col in enumerate(("step", "train_loss", "test_mse", "lr", "grad_norm")):
        np.testing.assert_array_equal(m[col], [r[i] for r in rows], err_msg=col)
    arrays, _ = RunDir(tmp_path / "r").load_checkpoint()
    for k, v in model.params.items():
        np.testing.assert_array_equal(arrays[f"param/{k}"], v, err_msg=k)


def test_a_command_line_run_is_a_plain_loop_of_train_step_bit_for_bit(tmp_path, monkeypatch, capsys):
    """The command's run, progress lines on, against the step in a plain loop on the objects its
    configuration builds (the batches from seed + 1, as always)."""
    monkeypatch.setenv("INDRNN_THREAD_TUNING", "0")
    args = "--T 10 --hidden 8 --batch 8 --test-size 32 --steps 30 --eval-every 10 --checkpoint-every 15"
    assert main(["train", "adding", *args.split(), "--out", str(tmp_path / "r")]) == 0
    assert "step 20/30: train loss" in capsys.readouterr().out
    m = RunDir(tmp_path / "r").read_metrics()
    cfg = RunDir(tmp_path / "r").read_config()
    s = _build(cfg, RunDir(tmp_path / "unused"))
    rng, losses, rows = np.random.default_rng(cfg.seed + 1), [], []
    for step in range(1, 31):
        x, y = s.task.train_batch(rng, cfg.batch)
        res = train_step(s.model, s.optimizer, x, y, loss_forward=s.task.loss_forward,
                         loss_backward=s.task.loss_backward, clip_value=cfg.clip_value, clip_norm=cfg.clip_norm)  # fmt: skip
        losses.append(res.loss)
        if step % 10 == 0:
            rows.append(
                (step, sum(losses) / len(losses), s.task.evaluate(s.model)["test_mse"], res.grad_norm)
            )
            losses = []
    for i, col in enumerate(("step", "train_loss", "test_mse", "grad_norm")):
        np.testing.assert_array_equal(m[col], [r[i] for r in rows], err_msg=col)
    arrays, _ = RunDir(tmp_path / "r").load_checkpoint()
    for k, v in s.model.params.items():
        np.testing.assert_array_equal(arrays[f"param/{k}"], v, err_msg=k)


def test_ctrl_c_is_seen_by_the_callbacks_and_the_run_resumes_bit_for_bit(tmp_path):
    class CtrlC(Callback):
        def on_step_begin(self, run, step):
            if step == 25:
                os.kill(os.getpid(), signal.SIGINT)  # handled by the Interruption callback: after the step

    rec = Recorder()
    with pytest.raises(TrainingInterrupted, match="interrupted after step 25: checkpoint saved") as info:
        _run(tmp_path / "r", 40, [CtrlC(), rec], eval_every=5, checkpoint_every=10)
    assert rec.calls[-3:] == [("step", 25), ("evaluation", 25), ("exception", info.value)]  # no ("end", 25)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert (
        RunDir(tmp_path / "r").load_checkpoint()[1]["step"] == 25 and (tmp_path / "r" / "curve.png").exists()
    )
    _run(tmp_path / "r", 40, eval_every=5, checkpoint_every=10, resume=True)
    _run(tmp_path / "full", 40, eval_every=5, checkpoint_every=10)
    _same_run(tmp_path / "r", tmp_path / "full")


def test_hooks_are_called_in_order_on_a_new_run_and_on_a_resumed_one(tmp_path):
    rec = Recorder()
    summary = _run(tmp_path / "r", 20, [rec], eval_every=5, checkpoint_every=4)
    calls = rec.calls
    assert calls[0] == ("begin", 0) and calls[-1] == ("train_end", 20) == ("train_end", summary["steps"])
    expected = []
    for step in range(1, 21):
        expected += [("step", step)] + ([("evaluation", step)] if step % 5 == 0 else []) + [("end", step)]
    assert calls[1:-1] == expected
    # extended: from the checkpoint's step + 1, the callbacks of this call
    rec = Recorder()
    _run(tmp_path / "r", 23, [rec], eval_every=5, checkpoint_every=4, resume=True)
    assert rec.calls == [("begin", 20), ("step", 21), ("end", 21), ("step", 22), ("end", 22),
                         ("step", 23), ("evaluation", 23), ("end", 23), ("train_end", 23)]  # fmt: skip
    # complete: no hook is called, the summary is returned
    rec = Recorder()
    assert _run(tmp_path / "r", 23, [rec], eval_every=5, checkpoint_every=4, resume=True)["steps"] == 23
    assert rec.calls == []


def test_a_run_stopped_early_records_where_and_why_and_resumes_as_complete(tmp_path):
    lines = []
    model, opt, task = _objects()
    summary = train(model, opt, task, tmp_path / "r", steps=40, **RUN, callbacks=[StopAt(20)],
                    progress=False, log=lines.append)  # fmt: skip
    stopped = {"step": 20, "reason": "asked to stop at 20", "steps_asked": 40}
    assert summary["steps"] == 20 and summary["stopped"] == stopped
    assert RunDir(tmp_path / "r").read_summary() == summary
    assert "after 20 steps (stopped early: asked to stop at 20)" in lines[-1]
    _, meta = RunDir(tmp_path / "r").load_checkpoint()
    assert meta["step"] == 20 and meta["stopped"] == stopped  # checkpointed where it stopped
    assert RunDir(tmp_path / "r").read_metrics()["step"].tolist() == [10, 20]
    # resumed with the steps it was asked for: complete, nothing trained
    lines = []
    again = train(*_objects(), tmp_path / "r", steps=40, **RUN, resume=True, progress=False, log=lines.append)
    assert (
        again == summary
        and "complete (stopped early: asked to stop at 20); pass steps= above 40" in lines[-1]
    )
    # asked for more: it trains on from step 20, as a run never stopped
    extended = _run(tmp_path / "r", 60, resume=True)
    assert extended["steps"] == 60 and "stopped" not in extended
    _run(tmp_path / "full", 60)
    _same_run(tmp_path / "r", tmp_path / "full")


def test_a_stopped_run_whose_summary_and_last_row_are_lost_is_finished_again_not_trained(tmp_path):
    first = _run(tmp_path / "r", 40, [StopAt(20)])
    (tmp_path / "r" / "summary.json").unlink()
    metrics = tmp_path / "r" / "metrics.csv"
    metrics.write_text("".join(metrics.read_text().splitlines(keepends=True)[:-1]))  # the row of step 20
    lines = []
    again = train(*_objects(), tmp_path / "r", steps=40, **RUN, resume=True, progress=False, log=lines.append)
    assert any("the row of the run's last step (20) is lost" in ln for ln in lines)
    assert again["steps"] == 20 and again["stopped"] == first["stopped"]
    assert again["test_mse"] == first["test_mse"]  # computed again from the checkpoint's model
    assert RunDir(tmp_path / "r").read_metrics()["step"].tolist() == [10]  # nothing trained


def test_a_command_line_run_stopped_early_is_complete_for_resume(tmp_path, capsys):
    cfg = TrainConfig(task="adding", T=T, hidden=8, batch=8, test_size=32, steps=30, eval_every=5,
                      checkpoint_every=10)  # fmt: skip
    summary = train(cfg, tmp_path / "r", callbacks=[StopAt(7, "on_step_end")], **QUIET)
    # stopped between evaluations: that step is evaluated and checkpointed
    assert summary["steps"] == 7 and summary["stopped"]["step"] == 7
    assert RunDir(tmp_path / "r").read_metrics()["step"].tolist() == [5, 7]
    assert RunDir(tmp_path / "r").load_checkpoint()[1]["step"] == 7
    capsys.readouterr()
    assert main(["train", "adding", "--resume", str(tmp_path / "r"), "--quiet"]) == 0
    assert (
        "the run is complete (stopped early: asked to stop at 7); pass --steps above 30"
        in capsys.readouterr().out
    )
    assert main(["train", "adding", "--resume", str(tmp_path / "r"), "--steps", "31", "--quiet"]) == 0
    assert (
        RunDir(tmp_path / "r").read_summary()["steps"] == 31
        and "stopped" not in RunDir(tmp_path / "r").read_summary()
    )


def test_an_error_in_a_callback_reaches_the_caller_and_the_run_resumes_bit_for_bit(tmp_path):
    raised = ZeroDivisionError("the callback's own error")

    class Boom(Callback):
        def on_step_end(self, run, step, result):
            if step == 25:
                raise raised

    rec = Recorder()
    with pytest.raises(ZeroDivisionError) as info:
        _run(tmp_path / "r", 40, [rec, Boom()], eval_every=5, checkpoint_every=10)
    assert info.value is raised  # the caller's own exception, as raised
    if hasattr(raised, "__notes__"):  # Python 3.11: a note of what the folder keeps
        assert re.search(
            r"stopped after step 25 by this error; the last good checkpoint \(step 20\) .* resume=True",
            raised.__notes__[0],
        )
    assert rec.calls[-1] == ("exception", raised)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the Ctrl-C handler put back
    assert (
        RunDir(tmp_path / "r").load_checkpoint()[1]["step"] == 20
        and not (tmp_path / "r" / "summary.json").exists()
    )
    _run(tmp_path / "r", 40, eval_every=5, checkpoint_every=10, resume=True)  # without the faulty callback
    _run(tmp_path / "full", 40, eval_every=5, checkpoint_every=10)
    _same_run(tmp_path / "r", tmp_path / "full")


class Misspelt(Callback):
    def on_epoch_end(self, run):  # no such hook: refused, not silently never called
        pass


class NotCallable(Callback):
    on_step_end = None


class OnlyEvaluation:  # no base class: the hooks it has are enough
    def __init__(self):
        self.steps = []

    def on_evaluation(self, run, step, metrics):
        self.steps.append(step)


@pytest.mark.parametrize(
    "given, said",
    [
        ("abc", "callbacks must be a list or tuple of callbacks .*; got str"),
        (Callback(), "callbacks must be a list or tuple .*; got Callback"),
        ([object()], r"callbacks\[0\] \(object\) must define hooks of on_train_begin.*; it has none"),
        ([Callback(), Misspelt()], r"callbacks\[1\] \(Misspelt\) .*; it has on_epoch_end, which is no hook"),
        ([NotCallable()], r"callbacks\[0\] \(NotCallable\) .*; its on_step_end is None, not a method"),
    ],
)
def test_callbacks_are_checked_before_anything_runs(tmp_path, given, said):
    with pytest.raises(TypeError, match=said):
        _run(tmp_path / "r", 10, given)
    assert not (tmp_path / "r").exists()
    cfg = TrainConfig(task="adding", T=T, hidden=8, batch=8, test_size=32, steps=10)
    with pytest.raises(TypeError, match=said):
        train(cfg, tmp_path / "c", callbacks=given, **QUIET)
    assert not (tmp_path / "c").exists()


def test_a_refused_resume_changes_nothing_and_a_duck_typed_callback_is_called(tmp_path):
    cfg = TrainConfig(task="adding", T=T, hidden=8, batch=8, test_size=32, steps=10, eval_every=5)
    train(cfg, tmp_path / "r", **QUIET)
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()}
    with pytest.raises(TypeError, match="callbacks"):
        resume(tmp_path / "r", steps=20, callbacks=[Misspelt()], **QUIET)
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()} == before
    duck = OnlyEvaluation()
    resume(tmp_path / "r", steps=20, callbacks=(duck,), **QUIET)
    assert duck.steps == [15, 20]


def test_stop_needs_a_reason(tmp_path):
    s = _build(
        TrainConfig(task="adding", T=T, hidden=8, batch=8, test_size=32, steps=10), RunDir(tmp_path / "r")
    )
    with pytest.raises(ValueError, match="reason must be a non-empty str .*; got ''"):
        s.stop("")
    assert s.stopped is None
    s.stop("first")
    s.stop("second")
    assert s.stopped["reason"] == "first"


def test_an_estimator_passes_its_callbacks_and_a_second_fit_keeps_the_stop(tmp_path):
    from indrnn_np.estimators import IndRNNRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8, 2)).astype(np.float32)
    y = X[:, :, 0].sum(axis=1)
    kw = dict(hidden=8, steps=40, eval_every=5, checkpoint_every=10, batch=16, run_dir=str(tmp_path / "r"))
    reg = IndRNNRegressor(**kw, callbacks=[StopAt(10)]).fit(X, y)
    assert reg.summary_["steps"] == 10 and reg.summary_["stopped"]["step"] == 10
    again = IndRNNRegressor(**kw).fit(X, y)  # other callbacks (none): the same run, complete
    assert again.summary_ == reg.summary_
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))


def test_the_how_to_page_example_runs(tmp_path, monkeypatch, capsys):
    """docs/site/howto/callbacks.md: early stopping with patience and a log of one's own."""
    (code,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    scope = {}
    exec(compile(code, str(PAGE), "exec"), scope)
    summary = scope["summary"]
    assert summary["steps"] < 2000 and summary["stopped"]["step"] == summary["steps"]
    assert "has not improved" in summary["stopped"]["reason"]
    log = (tmp_path / "runs" / "early-log.txt").read_text().splitlines()
    assert log[0] == "from step 1 to 2000" and log[-1].startswith(f"step {summary['steps']}: loss")
