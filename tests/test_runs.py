"""The run folder (indrnn_np.train.rundir): metrics, checkpoints with checked metadata, states of a folder."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from indrnn_np.files import write_checked_npz
from indrnn_np.train import CheckpointError, RunDir, RunDirError, TrainConfig, resume, train

FAST = dict(T=20, hidden=8, batch=8, lr=5e-3, eval_every=10, checkpoint_every=10, test_size=32)
QUIET = dict(progress=False, log=lambda *a: None)


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    """A finished 20-step run, copied by the tests that damage it."""
    path = tmp_path_factory.mktemp("runs") / "done"
    train(TrainConfig(steps=20, **FAST), path, **QUIET)
    return path


def _rewrite_meta(run, change):
    """Rewrite the checkpoint's metadata with ``change(meta) -> new meta`` (a damaged checkpoint)."""
    path = run / RunDir.CHECKPOINT
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps(change(meta)))
    write_checked_npz(path, arrays)  # a whole file with its checksum: only the metadata is wrong
    return path.read_bytes()


def _without(key):
    return lambda m: {k: v for k, v in m.items() if k != key}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: [m], "the metadata must be a JSON object; got a JSON list"),
        (_without("step"), "the metadata lacks the key 'step'"),
        (_without("data_rng"), "the metadata lacks the key 'data_rng'"),
        (lambda m: {**m, "surprise": 1}, "unknown key 'surprise'"),
        (lambda m: {**m, "step": "20"}, "metadata key 'step' must be int; got str"),
        (lambda m: {**m, "step": True}, "metadata key 'step' must be int; got bool"),
        (lambda m: {**m, "acc": {}}, "metadata key 'acc.loss_sum' missing"),
        (lambda m: {**m, "format": 7}, "checkpoint format 7, expected one of 1, 2"),
        (lambda m: {**m, "config": {**m["config"], "colour": "red"}}, "the config has unknown key 'colour'"),
        (lambda m: {**m, "config": {k: v for k, v in m["config"].items() if k != "lr"}}, "lacks key 'lr'"),
        (lambda m: {**m, "config": {**m["config"], "lr": "fast"}}, "lr must be a finite number"),
        (lambda m: {**m, "config": {**m["config"], "bn": "sometimes"}}, "bn must be one of"),
        (lambda m: {**m, "data_rng": {"bit_generator": "nope"}}, "data or schedule state does not fit"),
        (lambda m: {**m, "rng_layers": {"drop1.rng": "{"}}, "random-generator state for layers"),
    ],
)
def test_every_metadata_key_and_type_is_checked(done_run, tmp_path, change, message, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    damaged = _rewrite_meta(run, change)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(RunDirError, match=message) as info:  # CheckpointError is a RunDirError
        resume(run, steps=40, **QUIET)
    assert str(run / "checkpoint.npz") in str(info.value)
    assert "allow_pickle" not in str(info.value)
    assert (run / "checkpoint.npz").read_bytes() == damaged
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing the user saved changed


def test_a_pickle_is_never_loaded_and_never_suggested(tmp_path):
    import pickle

    run = tmp_path / "r"
    run.mkdir()
    (run / "checkpoint.npz").write_bytes(pickle.dumps({"meta": "x"}))
    with pytest.raises(CheckpointError, match="not a readable indrnn-np checkpoint") as info:
        RunDir(run).load_checkpoint()
    assert "allow_pickle" not in str(info.value).replace(str(tmp_path), "")


def test_metrics_rows_are_checked_with_file_and_line(done_run, tmp_path, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    text = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\n".join([text[0], "ten,1,2,3,4,5,6", *text[2:]]) + "\n")
    with pytest.raises(RunDirError, match=r"metrics.csv, line 2: not a metrics row \(invalid literal"):
        RunDir(run).read_metrics()
    (run / "metrics.csv").write_text("\n".join([text[0], text[2], text[1]]) + "\n")
    with pytest.raises(RunDirError, match="line 3: .*step 10 does not follow step 20"):
        RunDir(run).read_metrics()
    (run / "metrics.csv").write_text("a,b\n")
    with pytest.raises(RunDirError, match="line 1: expected the header step,train_loss,test_mse"):
        RunDir(run).read_metrics(
            ["step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm", "elapsed_s"]
        )


def test_truncate_keeps_rows_up_to_a_step_exactly(done_run, tmp_path, copy_run):
    run = RunDir(copy_run(done_run, tmp_path / "r"))
    cols = (run.path / "metrics.csv").read_text().splitlines()[0].split(",")
    before = run.read_metrics()
    run.truncate_metrics(10, cols)
    after = run.read_metrics()
    assert after["step"].tolist() == [10]
    for k in after:
        assert after[k][0] == before[k][0]  # repr round trip: bit-identical floats


def test_folder_states(done_run, tmp_path, copy_run):
    assert RunDir(done_run).holds_run() and RunDir(done_run).has_checkpoint()
    empty = RunDir(tmp_path / "new")
    assert not empty.holds_run()
    empty.check_new()  # a folder that does not exist may start a run
    with pytest.raises(
        RunDirError, match="already holds a run; continue it with python -m indrnn_np train adding --resume"
    ):
        RunDir(done_run).check_new()
    # metrics rows but no checkpoint: cannot be continued, and is not overwritten
    orphan = copy_run(done_run, tmp_path / "orphan")
    os.remove(orphan / "checkpoint.npz")
    with pytest.raises(RunDirError, match="holds metrics of a run but no checkpoint"):
        RunDir(orphan).check_new()


def test_a_folder_with_no_completed_step_can_start_again(tmp_path):
    run = RunDir(tmp_path / "r")
    run.check_writable()
    assert not run.path.exists()  # a check creates nothing
    run.make()
    run.start_metrics(["step", "train_loss", "test_mse", "lr", "max_abs_u", "grad_norm", "elapsed_s"])
    assert not run.holds_run()
    train(TrainConfig(steps=10, **FAST), run.path, **QUIET)
    assert run.read_metrics()["step"].tolist() == [10]


def test_defaults_chosen_at_once_get_different_folders(tmp_path):
    """Runs choosing the default at the same moment (each still rehearsing, no lock yet) never share it."""
    import threading

    base, n = tmp_path / "runs" / "adding_T20", 6
    base.parent.mkdir()
    barrier, claimed, errors = threading.Barrier(n), [], []

    def choose():
        try:
            barrier.wait()
            with RunDir.claim_first_free(base) as run:
                claimed.append(run.path)
                barrier.wait()  # every claim held at once
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=choose) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(claimed) == sorted(
        [base] + [tmp_path / "runs" / f"adding_T20-{k}" for k in range(2, n + 1)]
    )
    assert list(base.parent.iterdir()) == []  # each claim left empty is removed


@pytest.mark.parametrize(("refusal", "status"), [(RunDirError("refused"), 2), (KeyboardInterrupt(), 130)])
def test_a_refused_default_run_leaves_no_folder(tmp_path, monkeypatch, refusal, status):
    """The default folder is claimed before the run starts, and removed when the run is refused."""
    import indrnn_np.train
    from indrnn_np.cli import main

    seen = []

    def refused(cfg, out, **kwargs):
        seen.append((out, out.is_dir() and not any(out.iterdir())))
        raise refusal

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(indrnn_np.train, "train", refused)
    assert main(["train", "adding", "--T", "20", "--quiet"]) == status
    assert seen == [(Path("runs/adding_T20"), True)]  # claimed (created, empty) when the run began
    assert not (tmp_path / "runs").exists()


def test_first_free_never_reuses_a_run(tmp_path, done_run, copy_run):
    base = tmp_path / "runs" / "adding_T20"
    with RunDir.claim_first_free(base) as run:
        assert run.path == base and base.is_dir()
    assert not base.parent.exists()  # claimed and left empty: removed, with the parent it made
    base.parent.mkdir()
    copy_run(done_run, base)
    with RunDir.claim_first_free(base) as run:
        assert run.path == tmp_path / "runs" / "adding_T20-2"
    assert base.is_dir() and not run.path.exists()


def test_resume_of_a_complete_run_returns_its_summary_and_changes_nothing(done_run, tmp_path, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    lines = []
    summary = resume(run, progress=False, log=lines.append)
    assert summary["steps"] == 20 and "the run is complete (20 steps)" in lines[0]
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    with pytest.raises(RunDirError, match="--steps 5 is below the step the run has reached"):
        resume(run, steps=5, **QUIET)


def test_resume_continues_to_the_runs_own_steps(done_run, tmp_path, copy_run):
    """The run's configured steps are kept when no --steps is given (no 'steps 189..188')."""
    run = copy_run(done_run, tmp_path / "r")
    _rewrite_meta(run, lambda m: {**m, "step": 10, "config": {**m["config"], "steps": 30}})
    (run / "summary.json").unlink()
    summary = resume(run, **QUIET)
    assert summary["steps"] == 30
    assert RunDir(run).read_metrics()["step"].tolist() == [10, 20, 30]


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_run_files_follow_the_umask_like_the_curve(tmp_path, umask):
    """Atomic writes create their temporary file as open() does: 0o666 less the umask, not mkstemp's 0o600."""
    old = os.umask(umask)
    try:
        train(TrainConfig(steps=10, **FAST), tmp_path / "r", **QUIET)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "r").iterdir()}
    assert set(modes) == {"checkpoint.npz", "metrics.csv", "summary.json", "curve.png", "run.json"}
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_a_rewritten_run_file_keeps_its_mode(done_run, tmp_path, copy_run):
    run = RunDir(copy_run(done_run, tmp_path / "r"))
    os.chmod(run.file(run.SUMMARY), 0o600)
    run.write_summary({"steps": 20})
    assert run.file(run.SUMMARY).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("name", [*RunDir.FILES, "permutation.npy"])
def test_a_folder_that_is_not_a_run_is_never_written_over(tmp_path, name, fake_mnist):
    """A user's file where a run would write its own (a curve.png, say) refuses the run; nothing changes."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_bytes(b"the user's")
    (folder / "notes.txt").write_bytes(b"notes")
    if name == "permutation.npy":  # a task's file: pmnist saves its permutation
        cfg = TrainConfig(task="pmnist", data=str(fake_mnist), steps=10, **{**FAST, "T": 784})
    else:
        cfg = TrainConfig(steps=10, **FAST)
    # a checkpoint, a summary or a divergence record already say "a run" (another message)
    said = {"checkpoint.npz": "already holds a run", "summary.json": "holds metrics of a run"}
    said["diverged.json"] = "diverged.json: cannot be read"
    with pytest.raises(RunDirError, match=said.get(name, f"is not a run's folder and holds {name}")):
        train(cfg, folder, **QUIET)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {name: b"the user's", "notes.txt": b"notes"}
    if name != "permutation.npy":
        with RunDir.claim_first_free(folder) as run:  # a default goes on to the next name
            assert run.path == tmp_path / "mine-2"
    notes_only = tmp_path / "notes"
    notes_only.mkdir()
    (notes_only / "notes.txt").write_bytes(b"notes")
    RunDir(notes_only).check_new()  # other files are no obstacle
