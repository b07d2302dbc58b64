"""Fault injection: kills, full disks, lost permissions, two writers, foreign and damaged checkpoints.

Every fault ends in the right result or one clear line, never a quiet wrong result, and a refused
call changes nothing (indrnn_np.files, indrnn_np.train.rundir, indrnn_np.train.loop).
"""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from indrnn_np import config, files
from indrnn_np.cli import main
from indrnn_np.files import CorruptFile, FileWriteError, FolderLock, append_line, read_checked_npz
from indrnn_np.train import CheckpointError, RunDir, RunDirError, TrainConfig, complete_run, resume, train
from indrnn_np.train.rundir import RunBusyError, RunChangedError

QUIET = dict(progress=False, log=lambda *a: None)
FAST = dict(T=10, hidden=8, batch=8, lr=5e-3, eval_every=5, checkpoint_every=5, test_size=32)
CLI_FAST = ["--T", "10", "--hidden", "8", "--batch", "8", "--test-size", "32", "--quiet"]
ENV = {**os.environ, "INDRNN_THREAD_TUNING": "0", "NUMBA_ENABLE_CUDASIM": "1"}


def _cli(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "indrnn_np", *args], capture_output=True, text=True, env=ENV, **kw
    )


def _one_line(proc, *needles, code=2):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _same_run(a, b):
    """Two run folders that trained the same numbers: metrics (wall time aside) and checkpoint arrays."""
    ma, mb = RunDir(a).read_metrics(), RunDir(b).read_metrics()
    for col in ma:
        if col != "elapsed_s":
            np.testing.assert_array_equal(ma[col], mb[col], err_msg=col)
    pa, meta_a = RunDir(a).load_checkpoint()
    pb, meta_b = RunDir(b).load_checkpoint()
    assert pa.keys() == pb.keys() and meta_a["step"] == meta_b["step"]
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "done"
    train(TrainConfig(steps=20, **FAST), path, **QUIET)
    return path


# --------------------------------------------------------------------------
# One writer per folder
# --------------------------------------------------------------------------


def test_a_second_writer_is_refused_in_one_line_naming_the_first(tmp_path, done_run, copy_run, capsys):
    new = tmp_path / "new"
    with RunDir(new).writing(log=lambda *a: None):  # this test holds the folder, as a live run would
        assert (new / ".lock").exists()
        with pytest.raises(RunBusyError, match=rf"is being written by process {os.getpid()} .*another --out"):
            train(TrainConfig(steps=5, **FAST), new, **QUIET)
        assert main(["train", "adding", *CLI_FAST, "--steps", "5", "--out", str(new)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"process {os.getpid()}" in err
    assert not new.exists()  # refused runs made nothing, and the holder's lock went with it

    run = copy_run(done_run, tmp_path / "r")
    before = _snapshot(run)
    with RunDir(run).writing(log=lambda *a: None):
        with pytest.raises(RunBusyError, match="before resuming"):
            resume(run, steps=30, **QUIET)
    assert _snapshot(run) == before


def test_two_commands_started_together_train_one_run(tmp_path):
    out = tmp_path / "d"
    cmd = [
        sys.executable,
        "-m",
        "indrnn_np",
        "train",
        "adding",
        *CLI_FAST,
        "--steps",
        "400",
        "--out",
        str(out),
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        for _ in "ab"
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    err = next(e for code, e in results if code == 2)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and (
        "is being written by process" in lines[0] or "already holds a run" in lines[0]
    ), err
    m = RunDir(out).read_metrics()
    assert m["step"].tolist() == list(range(100, 401, 100))  # one run's rows, in order
    assert RunDir(out).load_checkpoint()[1]["step"] == 400
    assert not (out / ".lock").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over_saying_so(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    (out / ".lock").write_text(
        json.dumps({"pid": pid, "command": "indrnn_np train adding", "started": "then"})
    )
    lines = []
    train(TrainConfig(steps=5, **FAST), out, progress=False, log=lines.append)
    assert any(f"took over the lock of process {pid}" in ln for ln in lines), lines
    assert not (out / ".lock").exists()


def test_the_lock_refuses_a_second_holder_and_survives_its_file_being_swapped(tmp_path):
    a, b = FolderLock(tmp_path), FolderLock(tmp_path)
    a.acquire()
    with pytest.raises(files.FolderBusy):
        b.acquire()
    a.release()
    assert b.acquire() is None  # released cleanly: nothing to take over
    b.release()


# --------------------------------------------------------------------------
# A resume is the same run
# --------------------------------------------------------------------------


def test_a_checkpoint_of_another_run_is_refused_and_never_loaded(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out, hidden in ((a, "8"), (b, "6")):
        args = ["--T", "10", "--hidden", hidden, "--batch", "8", "--test-size", "32", "--quiet"]
        assert main(["train", "adding", *args, "--steps", "10", "--eval-every", "5", "--out", str(out)]) == 0
    (a / "checkpoint.npz").write_bytes((b / "checkpoint.npz").read_bytes())  # copied in by mistake
    before = _snapshot(a)
    _one_line(_cli("train", "adding", "--resume", str(a), "--steps", "20"), "belongs to another run")
    assert _snapshot(a) == before  # no metrics row deleted, no summary replaced
    with pytest.raises(CheckpointError, match="belongs to another run"):
        resume(a, steps=20, **QUIET)


def test_complete_run_refuses_a_run_with_other_settings(tmp_path, done_run, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    before = _snapshot(run)
    cfg = TrainConfig(steps=40, **{**FAST, "lr": 1e-3, "hidden": 6})
    with pytest.raises(RunChangedError) as info:
        complete_run(cfg, run, **QUIET)
    assert info.value.differences == [
        "--hidden: 8 in the run, 6 now",
        "--lr: 0.005 in the run, 0.001 now",
    ]
    assert _snapshot(run) == before
    complete_run(TrainConfig(steps=30, **{**FAST, "eval_every": 10}), run, **QUIET)  # cadence may change
    assert RunDir(run).read_summary()["steps"] == 30


def test_resume_takes_a_new_cadence_but_not_with_the_plateau_schedule(tmp_path):
    run = tmp_path / "r"
    assert main(["train", "adding", *CLI_FAST, "--steps", "10", "--eval-every", "5", "--out", str(run)]) == 0
    assert (
        main(["train", "adding", "--resume", str(run), "--steps", "20", "--eval-every", "2", "--quiet"]) == 0
    )
    assert RunDir(run).read_metrics()["step"].tolist() == [5, 10, 12, 14, 16, 18, 20]
    p = tmp_path / "p"
    args = [*CLI_FAST, "--steps", "10", "--eval-every", "5", "--schedule", "plateau", "--out", str(p)]
    assert main(["train", "adding", *args]) == 0
    before = _snapshot(p)
    _one_line(
        _cli("train", "adding", "--resume", str(p), "--steps", "20", "--eval-every", "2"),
        "--eval-every: 5 in the run, 2 now",
    )
    assert _snapshot(p) == before


# --------------------------------------------------------------------------
# Crash leftovers and torn files
# --------------------------------------------------------------------------


def test_resume_removes_stale_temporary_files_and_drops_rows_past_the_checkpoint(
    tmp_path, done_run, copy_run
):
    run = copy_run(done_run, tmp_path / "r")
    ckpt = (run / "checkpoint.npz").read_bytes()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    leftovers = [f".checkpoint.npz-{int(dead.stdout)}-0badc0de.tmp", ".checkpoint.npz-deadbeef.tmp"]
    for name in leftovers:
        (run / name).write_bytes(ckpt[: len(ckpt) // 2])
    mine = run / f".curve.png-{os.getpid()}-12345678.tmp"  # a live writer's (this process'): left alone
    mine.write_bytes(b"partial")
    with open(run / "metrics.csv", "a") as fh:  # rows past the checkpoint's step 20, the last one torn
        fh.write("25,0.1,0.2,0.005,1.0,0.5,1.0\n30,0.1,0.2")
    lines = []
    resume(run, steps=30, progress=False, log=lines.append)
    assert not any((run / n).exists() for n in leftovers) and mine.exists()
    assert any("removed 2 temporary file(s)" in ln for ln in lines), lines
    assert any(
        "dropped 1 row(s) after the checkpoint's step 20" in ln and "a torn last row" in ln for ln in lines
    )
    assert RunDir(run).read_metrics()["step"].tolist() == [5, 10, 15, 20, 25, 30]


def test_a_damaged_curve_or_summary_of_a_complete_run_is_drawn_again(tmp_path, done_run, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    png = (run / "curve.png").read_bytes()
    summary = json.loads((run / "summary.json").read_text())
    (run / "curve.png").write_bytes(png[: len(png) // 3])  # a kill mid-draw by an earlier version
    (run / "summary.json").write_text('{"test_mse": 0.1, "ste')
    assert not RunDir(run).curve_complete()
    lines = []
    again = resume(run, progress=False, log=lines.append)
    assert RunDir(run).curve_complete() and files.png_complete(run / "curve.png")
    assert again["test_mse"] == summary["test_mse"] and again["steps"] == 20
    assert json.loads((run / "summary.json").read_text())["test_mse"] == summary["test_mse"]
    assert any("summary.json: damaged" in ln for ln in lines), lines
    (run / "curve.png").write_bytes(png[:100])  # the curve alone
    lines = []
    resume(run, progress=False, log=lines.append)
    assert RunDir(run).curve_complete() and any("curve.png: missing or damaged" in ln for ln in lines), lines


def test_a_failed_append_leaves_no_torn_row(tmp_path, monkeypatch):
    path = tmp_path / "m.csv"
    path.write_text("step,x\n1,0.5\n")
    real = os.write

    def half_then_full(fd, data):
        real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", half_then_full)
    with pytest.raises(FileWriteError, match="the disk is full") as info:
        append_line(path, "2,0.25")
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_text() == "step,x\n1,0.5\n"


# --------------------------------------------------------------------------
# Full disks, file-size limits, lost permission
# --------------------------------------------------------------------------


def _limit_file_size(limit):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_file_size_limit_mid_run_is_one_line_and_the_run_resumes(tmp_path):
    """A limit under the checkpoint's size: the first checkpoint write fails (as a full disk would)."""
    out = tmp_path / "d"
    args = ["train", "adding", *CLI_FAST, "--hidden", "32", "--steps", "20", "--eval-every", "5"]
    assert _cli(*args, "--out", str(tmp_path / "warm")).returncode == 0  # Numba's cache written first
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", *args, "--checkpoint-every", "10", "--out", str(out)],
        capture_output=True, text=True, env=ENV, preexec_fn=_limit_file_size(20_000),
    )  # fmt: skip
    line = _one_line(
        proc, "cannot write", "checkpoint.npz", "file-size limit", "no checkpoint had been written yet"
    )
    assert "Traceback" not in proc.stderr, line
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    RunDir(out).read_metrics()  # every row whole
    assert main([*args, "--checkpoint-every", "10", "--out", str(tmp_path / "again")]) == 0  # room again


def test_a_full_disk_after_a_checkpoint_keeps_it_and_names_the_resume(tmp_path, monkeypatch):
    from indrnn_np.train import rundir

    monkeypatch.setattr(config, "CPU_THREAD_TUNING", False)
    out = tmp_path / "d"
    real = rundir.write_checked_npz
    calls = []

    def full_on_second(path, arrays, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise files.write_error(path, OSError(errno.ENOSPC, "No space left on device"))
        real(path, arrays, **kw)

    monkeypatch.setattr(rundir, "write_checked_npz", full_on_second)
    with pytest.raises(FileWriteError) as info:
        train(TrainConfig(steps=20, **FAST), out, **QUIET)
    msg = str(info.value)
    assert (
        "the disk is full" in msg and "last good checkpoint (step 5) is kept" in msg and "--resume" in msg
    ), msg
    assert "\n" not in msg
    monkeypatch.setattr(rundir, "write_checked_npz", real)  # room again
    resume(out, **QUIET)
    reference = tmp_path / "ref"
    train(TrainConfig(steps=20, **FAST), reference, **QUIET)
    _same_run(out, reference)


def test_permission_lost_mid_run_is_one_line(tmp_path, monkeypatch, capsys):
    from indrnn_np.train import rundir

    out = tmp_path / "d"
    real = rundir.append_line
    calls = []

    def refused_on_third(path, line):
        calls.append(path)
        if len(calls) == 3:
            raise files.write_error(path, PermissionError(errno.EACCES, "Permission denied"))
        real(path, line)

    monkeypatch.setattr(rundir, "append_line", refused_on_third)
    argv = [*CLI_FAST, "--steps", "20", "--eval-every", "5", "--checkpoint-every", "5", "--out", str(out)]
    assert main(["train", "adding", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "permission denied" in err and "metrics.csv" in err, err
    assert "last good checkpoint (step 10) is kept" in err and f"--resume {out}" in err, err
    monkeypatch.undo()
    assert main(["train", "adding", "--resume", str(out), "--quiet"]) == 0
    assert RunDir(out).read_metrics()["step"].tolist() == [5, 10, 15, 20]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes read-only files")
def test_resume_with_read_only_files_is_refused_before_anything_is_rewritten(tmp_path, done_run, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    with open(run / "metrics.csv", "a") as fh:
        fh.write("25,0.1,0.2,0.005,1.0,0.5,1.0\n")
    os.chmod(run / "metrics.csv", 0o444)
    before = _snapshot(run)
    _one_line(_cli("train", "adding", "--resume", str(run), "--steps", "30"), "metrics.csv")
    assert _snapshot(run) == before


# --------------------------------------------------------------------------
# Damaged checkpoints
# --------------------------------------------------------------------------


def test_two_thousand_damaged_checkpoints_are_each_refused_in_one_line(tmp_path, done_run, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    path = run / "checkpoint.npz"
    good = path.read_bytes()
    rng = random.Random(31)
    outcomes = {"refused": 0, "loaded": 0}
    for trial in range(2000):
        data = bytearray(good)
        if trial % 4 == 3:  # a truncation
            data = data[: rng.randrange(len(data))]
        else:  # a flipped bit anywhere: zip headers, metadata, arrays, the checksum itself
            bit = rng.randrange(8 * len(data))
            data[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(data))
        try:
            RunDir(run).load_checkpoint()
            outcomes["loaded"] += 1
        except CheckpointError as exc:
            text = str(exc)
            assert "\n" not in text and str(path) in text, text
            outcomes["refused"] += 1
    assert outcomes == {"refused": 2000, "loaded": 0}
    path.write_bytes(good[:-10])
    for argv in (["train", "adding", "--resume", str(run)], ["evaluate", "--run", str(run)]):
        _one_line(_cli(*argv), "checkpoint.npz", "damaged")


def test_checked_npz_refuses_every_zip_level_error(tmp_path):
    path = tmp_path / "a.npz"
    files.write_checked_npz(path, {"x": np.arange(5.0)})
    assert read_checked_npz(path, what="x")["__checksum__"] == "ok"
    np.savez(tmp_path / "plain.npz", x=np.arange(3))  # an earlier version's file: no checksum
    assert read_checked_npz(tmp_path / "plain.npz", what="x")["__checksum__"] == "none"
    with pytest.raises(CorruptFile, match="no checksum"):
        read_checked_npz(tmp_path / "plain.npz", what="x", require_checksum=True)
    np.save(tmp_path / "one.npy", np.arange(3))
    with pytest.raises(CorruptFile, match="single array"):
        read_checked_npz(tmp_path / "one.npy", what="x")


# --------------------------------------------------------------------------
# Kills at random moments, and during checkpoint writes
# --------------------------------------------------------------------------

KILL_RUN = ["train", "adding", *CLI_FAST, "--steps", "600", "--eval-every", "20", "--checkpoint-every", "3"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("kills") / "ref"
    assert _cli(*KILL_RUN, "--out", str(out)).returncode == 0
    return out


def _holder(out):
    try:
        return json.loads((out / ".lock").read_text()).get("pid")
    except (OSError, ValueError):
        return None


def _start_or_resume(out):
    if RunDir(out).has_checkpoint():
        return ["train", "adding", "--resume", str(out), "--quiet"]
    return [*KILL_RUN, "--out", str(out)]


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path, reference_run):
    out = tmp_path / "killed"
    rng = random.Random(7)
    kills = 0
    while kills < 20:
        proc = subprocess.Popen(
            [sys.executable, "-m", "indrnn_np", *_start_or_resume(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while _holder(out) != proc.pid and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the imports done: the process holds the folder
        time.sleep(rng.uniform(0.0, 0.8))  # a random moment of its training
        if proc.poll() is not None:  # finished before the kill: start over in a new folder
            assert proc.returncode == 0, proc.stderr.read()
            _same_run(out, reference_run)
            out = tmp_path / f"killed{kills}"
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    proc = _cli(*_start_or_resume(out))
    assert proc.returncode == 0, proc.stderr
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name == ".lock"]
    _same_run(out, reference_run)


KILL_IN_WRITE = """
import os, signal, sys
import indrnn_np.files as f
calls = [0]
real = f.os.fsync
def fsync(fd):
    real(fd)
    calls[0] += 1
    if calls[0] == int(sys.argv[1]):  # the temporary file is written, the rename has not happened
        os.kill(os.getpid(), signal.SIGKILL)
f.os.fsync = fsync
from indrnn_np.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_sigkill_during_checkpoint_writes_then_resume_equals_an_uninterrupted_run(tmp_path, reference_run):
    out = tmp_path / "killed"
    for at in (3, 5, 2, 4, 6):  # the n-th fsync of this process: checkpoints, and the summary at the end
        proc = subprocess.run(
            [sys.executable, "-c", KILL_IN_WRITE, str(at), *_start_or_resume(out)],
            capture_output=True,
            env=ENV,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert [p for p in out.iterdir() if p.name.endswith(".tmp")]  # the kill left a temporary file
    proc = _cli(*_start_or_resume(out))
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 temporary file(s)" in proc.stdout
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    _same_run(out, reference_run)


def test_a_full_disk_outside_the_run_files_is_one_line(monkeypatch, capsys):
    """Numba's cache of compiled kernels, say: a write the project does not make itself."""
    import indrnn_np.cli as cli

    def full(a):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "cmd_gradcheck", full)
    assert main(["gradcheck"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(
        "error: a write failed, outside the run's files (Numba's cache of compiled kernels, say): the disk is full"
    ), err

    def other(a):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(cli, "cmd_gradcheck", other)
    with pytest.raises(OSError):  # not a disk without room: not turned into advice
        main(["gradcheck"])


# --------------------------------------------------------------------------
# What a new user ran into (a fresh clone, 2026-12-07)
# --------------------------------------------------------------------------


def test_a_folder_held_by_a_live_process_is_busy_before_it_is_a_run(tmp_path, done_run, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from indrnn_np.files import FolderLock; import time; FolderLock({str(run)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        _one_line(
            _cli("train", "adding", *CLI_FAST, "--steps", "5", "--out", str(run)), f"process {holder.pid}"
        )
        _one_line(_cli("train", "adding", "--resume", str(run), "--steps", "30"), "before resuming")
    finally:
        holder.kill()
        holder.wait()


def test_a_start_that_failed_before_its_first_row_can_be_started_again(tmp_path, monkeypatch):
    from indrnn_np.train import rundir

    out = tmp_path / "d"

    def full(self, columns):
        raise files.write_error(self.file(self.METRICS), OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(rundir.RunDir, "start_metrics", full)
    with pytest.raises(FileWriteError, match="no checkpoint had been written yet"):
        train(TrainConfig(steps=5, **FAST), out, **QUIET)
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]
    train(TrainConfig(steps=5, **FAST), out, **QUIET)  # room again: the same command starts it there


def test_an_empty_run_folder_name_is_one_line(tmp_path, capsys):
    from indrnn_np import IndRNNClassifier
    from indrnn_np.tasks.arrays import marker_sequences

    for argv in (["train", "adding", "--resume", ""], ["train", "adding", *CLI_FAST, "--out", ""]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "path is empty" in err, err
    X, y = marker_sequences(20, min_length=5, max_length=8)
    with pytest.raises(RunDirError, match="path is empty"):
        IndRNNClassifier(hidden=4, steps=2, run_dir="").fit(X, y)


def test_a_closed_output_pipe_does_not_stop_the_run(tmp_path):
    out = tmp_path / "d"
    proc = subprocess.Popen(
        [sys.executable, "-m", "indrnn_np", "train", "adding", *CLI_FAST, "--steps", "300", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    proc.stdout.readline()  # `| head -1`: one line read, then the pipe is closed
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    assert RunDir(out).read_summary()["steps"] == 300


def test_an_interrupted_extension_leaves_no_stale_summary(tmp_path, done_run, copy_run, monkeypatch):
    from indrnn_np.train import TrainingInterrupted, loop

    run = copy_run(done_run, tmp_path / "r")
    real = loop._one_step

    def ctrl_c_at_25(s, step):
        if step == 25:
            os.kill(os.getpid(), signal.SIGINT)
        return real(s, step)

    monkeypatch.setattr(loop, "_one_step", ctrl_c_at_25)
    with pytest.raises(TrainingInterrupted):
        resume(run, steps=40, **QUIET)
    assert RunDir(run).read_summary() is None  # no longer complete: no summary saying 20 steps
    assert issubclass(TrainingInterrupted, KeyboardInterrupt)  # `except Exception` never swallows a Ctrl-C


def test_a_flipped_bit_inside_the_curve_is_drawn_again(tmp_path, done_run, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    data = bytearray((run / "curve.png").read_bytes())
    data[len(data) // 2] ^= 0x20
    (run / "curve.png").write_bytes(bytes(data))
    assert not files.png_complete(run / "curve.png")
    lines = []
    resume(run, progress=False, log=lines.append)
    assert files.png_complete(run / "curve.png") and any("drawn again" in ln for ln in lines)


def test_evaluate_and_predict_refuse_changed_data_and_a_foreign_checkpoint(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 7, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "f.npz", x=x, y=y)
    monkeypatch.chdir(tmp_path / "data")  # a relative --data, then commands from another folder
    args = ["--hidden", "4", "--steps", "10", "--eval-every", "5", "--quiet"]
    assert main(["train", "arrays", "--data", "f.npz", *args, "--out", str(tmp_path / "r")]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--run", "r"]) == 0
    np.savez(tmp_path / "data" / "f.npz", x=x, y=1 - y)  # relabelled in place
    _one_line(_cli("evaluate", "--run", str(tmp_path / "r")), "the run's data changed since it was trained")
    np.savez(tmp_path / "data" / "f.npz", x=x, y=y)
    assert main(["train", "arrays", "--data", str(tmp_path / "data" / "f.npz"), *args, "--seed", "3",
                 "--out", str(tmp_path / "other")]) == 0  # fmt: skip
    (tmp_path / "r" / "checkpoint.npz").write_bytes((tmp_path / "other" / "checkpoint.npz").read_bytes())
    _one_line(_cli("evaluate", "--run", str(tmp_path / "r")), "belongs to another run")


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs: a disk that really fills (mounting needs root; elsewhere the file-size limit
    test above stands in)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): test_a_file_size_limit... stands in")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_disk_that_fills_mid_run_is_one_line_and_the_run_resumes_once_there_is_room(
    tmp_path, small_disk, monkeypatch
):
    monkeypatch.setattr(config, "CPU_THREAD_TUNING", False)  # fixed thread counts: the same bits
    out = small_disk / "d"
    ckpt = TrainConfig(steps=40, **{**FAST, "checkpoint_every": 10})
    train(TrainConfig(steps=10, **{**FAST, "checkpoint_every": 10}), tmp_path / "probe", **QUIET)
    size = (tmp_path / "probe" / "checkpoint.npz").stat().st_size
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(b"\0" * (free - size - 24 * 1024))  # room for the run's small files and one checkpoint
    with pytest.raises(FileWriteError) as info:
        train(ckpt, out, **QUIET)
    msg = str(info.value)
    assert "the disk is full" in msg and "is kept" in msg and f"--resume {out}" in msg, msg
    assert "\n" not in msg and info.value.errno == errno.ENOSPC
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    RunDir(out).load_checkpoint()  # the last good one, whole
    filler.unlink()  # room again
    resume(out, **QUIET)
    reference = tmp_path / "ref"
    train(ckpt, reference, **QUIET)
    _same_run(out, reference)


def test_a_hand_edited_run_json_is_written_again_from_the_checkpoints_copy(tmp_path, done_run, copy_run):
    run = copy_run(done_run, tmp_path / "r")
    record = json.loads((run / "run.json").read_text())
    edited = {**record, "settings": {**record["settings"], "hidden": 9}}
    (run / "run.json").write_text(json.dumps(edited))
    lines = []
    resume(run, steps=25, progress=False, log=lines.append)
    assert any("run.json: differs from the checkpoint's copy; written again from it" in ln for ln in lines)
    assert json.loads((run / "run.json").read_text())["settings"]["hidden"] == 8


def test_checking_and_creating_one_output_folder_from_many_threads_at_once(tmp_path):
    """Two fits into one run folder at once once failed with a bare "File exists": the check made
    the folder for a moment and removed it under the other writer. The check now creates nothing."""
    import threading

    from indrnn_np.report import OutputError, check_writable_dir, make_dir

    errors = []
    for trial in range(60):
        run = tmp_path / f"t{trial}" / "run" / "sub"

        def check(run=run):
            try:
                check_writable_dir(run)
            except OutputError as exc:
                errors.append(exc)

        def make(run=run):
            make_dir(run)
            if not run.is_dir():
                errors.append(f"{run} vanished after make_dir")

        threads = [threading.Thread(target=f) for f in (check, make, check, make, check)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert run.is_dir()
    assert errors == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_writable_dir(tmp_path / "file" / "run")
    with pytest.raises(OutputError, match="too long"):
        check_writable_dir(tmp_path / ("x" * 300) / "run")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("t")) == ["file"]
