"""Every command with bad values: out of range, of the wrong type, the wrong kind of file, unwritable places,
sizes that cannot fit. Each is one line on stderr naming what is wrong, exit status 2, no traceback, and
nothing new on disk (no file, no folder, the run folders untouched).

The tests run as root, so permissions cannot deny a write: unwritable places are paths under a regular
file and /proc. Commands run in-process (``main``), from a scratch working folder.
"""

import numpy as np
import pytest

from indrnn_np.cli import main

SMALL = ["--T", "20", "--hidden", "8", "--batch", "8", "--test-size", "16", "--quiet"]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A 2-layer adding run, a 1-layer one, a text file, a folder holding a user's curve.png."""
    root = tmp_path_factory.mktemp("places")
    for name, layers in (("run", "2"), ("run1", "1")):
        argv = ["train", "adding", *SMALL, "--layers", layers, "--steps", "10", "--eval-every", "10"]
        assert main([*argv, "--out", str(root / name)]) == 0
    (root / "notes.txt").write_text("not a run\n")
    (root / "mine").mkdir()
    (root / "mine" / "curve.png").write_bytes(b"the user's figure")
    (root / "old.npy").write_bytes(b"the user's predictions")
    _bad_files(root)
    return root


def _bad_files(root) -> None:
    """``.npz`` files for ``train arrays`` and ``predict``: a good one (M = 2, as the adding runs) and
    one wrong in each way a file can be."""
    x = np.random.default_rng(0).standard_normal((8, 6, 2)).astype(np.float32)
    y, lengths = np.arange(8) % 2, np.array([6, 5, 4, 3, 6, 5, 4, 3])
    nan = x.copy()
    nan[2, 1, 0] = np.nan
    files = {
        "good": dict(x=x, y=y, lengths=lengths),
        "no_y": dict(x=x),
        "no_x": dict(y=y),
        "x_4d": dict(x=x[..., None], y=y),
        "y_short": dict(x=x, y=y[:5]),
        "nan": dict(x=nan, y=y),
        "long": dict(x=x, y=y, lengths=lengths + 1),
        "zero": dict(x=x, y=y, lengths=lengths * 0),
        "float_lengths": dict(x=x, y=y, lengths=lengths.astype(float)),
        "unknown": dict(x=x, y=y, weights=y),
        "test_alone": dict(x=x, y=y, x_test=x),
        "test_M": dict(x=x, y=y, x_test=x[..., :1], y_test=y),
        "M3": dict(x=np.zeros((4, 6, 3), np.float32)),
    }
    for name, arrays in files.items():
        np.savez(root / f"{name}.npz", **arrays)


CASES = [
    # gradcheck
    (["gradcheck", "--seed", "-1"], "--seed"),
    (["gradcheck", "--seed", "x"], "--seed"),
    (["gradcheck", "--backend", "tpu"], "--backend"),
    # dynamics
    (["dynamics"], "--out"),
    (["dynamics", "--out", "{tmp}/d", "--epsilon", "0"], "epsilon"),
    (["dynamics", "--out", "{tmp}/d", "--gamma", "inf"], "gamma"),
    (["dynamics", "--out", "{tmp}/d", "--gamma", "nan"], "gamma"),
    (["dynamics", "--out", "{tmp}/d", "--gamma", "0.5"], "1 <= gamma"),
    (["dynamics", "--out", "{tmp}/d", "--epsilon", "3", "--gamma", "2"], "epsilon"),
    (["dynamics", "--out", "{tmp}/d", "--train-steps", "0"], "--train-steps"),
    (["dynamics", "--out", "{places}/notes.txt"], "notes.txt: it is a file"),
    (["dynamics", "--out", "{places}/notes.txt/d"], "notes.txt is a file"),
    (["dynamics", "--out", "/proc/d"], "/proc/d"),
    # train
    (["train", "adding", "--T", "1"], "error: --T must be >= 2"),
    # the adding problem's minimum the first time, not "--T must be >= 1" first and ">= 2" after
    (["train", "adding", "--T", "0"], "error: --T must be >= 2 for the adding problem; got 0"),
    (["train", "adding", "--T", "-3"], "error: --T must be >= 2 for the adding problem; got -3"),
    (["train", "ptb-char", "--T", "0"], "error: --T must be >= 1; got 0"),
    (["train", "adding", "--T", "x"], "--T"),
    (["train", "adding", "--lr", "-1"], "error: --lr must be > 0"),
    (["train", "adding", "--dropout", "1"], "error: --dropout must be < 1"),
    (["train", "adding", "--eval-every", "0"], "error: --eval-every must be >= 1; got 0"),
    (["train", "adding", "--seed", "-1"], "error: --seed must be >= 0; got -1"),
    (["train", "adding", "--widths", "0,x"], "error: --widths must be positive integers"),
    # options of other tasks: hidden from train adding --help, refused in one line naming the tasks
    (["train", "adding", "--data", "{tmp}/nonexistent"], "--data is an option of tasks mnist, pmnist"),
    (["train", "adding", "--shift", "2"], "--shift (random translation of training images) is for the MNIST"),
    (["train", "ptb-char", "--shift", "1"], "--shift"),
    (["train", "adding", "--widths", "0,1"], "widths"),
    (["train", "adding", "--bn", "maybe"], "--bn"),
    (["train", "adding", "--model", "gru"], "--model"),
    (["train", "adding", "--residual", "--widths", "8,4"], "residual"),
    (["train", "mnist", "--T", "100"], "error: --T is 784"),
    (["train", "mnist", "--data", "{tmp}/nodata"], "nodata"),
    (["train", "adding", "--T", "100000000"], "lower --T"),
    (["train", "adding", "--batch", "100000000"], "lower --batch"),
    (["train", "adding", "--hidden", "1000000"], "lower --hidden"),
    (["train", "adding", "--test-size", "1000000000"], "lower --test-size"),
    (["train", "adding", "--out", "{places}/notes.txt"], "notes.txt: it is a file"),
    (["train", "adding", "--out", "{places}/notes.txt/r"], "notes.txt is a file"),
    (["train", "adding", "--out", "/proc/r"], "/proc/r"),
    (["train", "adding", "--out", "{places}/mine"], "holds curve.png"),
    (
        ["train", "adding", "--out", "{places}/run"],
        "already holds a run; continue it with python -m indrnn_np train adding --resume {places}/run, or",
    ),
    (
        ["train", "arrays", "--data", "{places}/good.npz", "--out", "{places}/run"],
        "continue it with python -m indrnn_np train adding --resume {places}/run",
    ),
    # TASK left out: --resume DIR reads it from the run; neither given is one line
    (["train", "--resume", "{places}/run", "--steps", "5"], "--steps 5 is below"),
    (["train", "--resume", "{places}/run", "--lr", "1"], "drop --lr"),
    (["train", "--resume", "{tmp}/none"], "no checkpoint"),
    (["train", "--steps", "5"], "give a TASK"),
    (["train", "adding", "--resume", "{places}/notes.txt"], "notes.txt is a file, not a run folder"),
    (["train", "adding", "--resume", "{tmp}/none"], "no checkpoint"),
    (["train", "adding", "--resume", "{places}/run", "--lr", "1"], "drop --lr"),
    (["train", "adding", "--resume", "{places}/run", "--steps", "5"], "--steps 5 is below"),
    (["train", "rowmnist", "--resume", "{places}/run"], "not rowmnist"),
    # train arrays: its .npz file, one line naming the key
    (["train", "arrays"], "--data FILE.npz"),
    (["train", "arrays", "--data", "{tmp}/none.npz"], "none.npz: no such file"),
    (["train", "arrays", "--data", "{places}/notes.txt"], "notes.txt: not a readable .npz file"),
    (["train", "arrays", "--data", "{places}/no_y.npz"], "no_y.npz: missing key 'y'"),
    (["train", "arrays", "--data", "{places}/no_x.npz"], "no_x.npz: missing key 'x'"),
    (["train", "arrays", "--data", "{places}/x_4d.npz"], "x_4d.npz: x must be (n, T, M)"),
    (
        ["train", "arrays", "--data", "{places}/y_short.npz"],
        "y_short.npz: y must have one entry per sequence",
    ),
    (
        ["train", "arrays", "--data", "{places}/nan.npz"],
        "nan.npz: x has a NaN or infinite value in a real step",
    ),
    (["train", "arrays", "--data", "{places}/long.npz"], "long.npz: lengths must be in [1, T] = [1, 6]"),
    (["train", "arrays", "--data", "{places}/zero.npz"], "zero.npz: lengths must be in [1, T]"),
    (
        ["train", "arrays", "--data", "{places}/float_lengths.npz"],
        "float_lengths.npz: lengths must be integers",
    ),
    (["train", "arrays", "--data", "{places}/unknown.npz"], "unknown.npz: unknown key 'weights'"),
    (["train", "arrays", "--data", "{places}/test_alone.npz"], "key 'x_test' without 'y_test'"),
    (["train", "arrays", "--data", "{places}/test_M.npz"], "test_M.npz: x_test must have M = 2 features"),
    (["train", "arrays", "--data", "{places}/good.npz", "--T", "9"], "T comes from the data for task arrays"),
    (
        ["train", "arrays", "--data", "{places}/good.npz", "--bidirectional", "--model", "lstm"],
        "bidirectional",
    ),
    # predict
    (["predict", "--run", "{places}/run", "--data", "{places}/good.npz"], "--out"),
    (
        ["predict", "--run", "{places}/run", "--data", "{places}/good.npz", "--out", "{places}/old.npy"],
        "old.npy exists",
    ),
    (
        ["predict", "--run", "{places}/run", "--data", "{places}/good.npz", "--out", "{tmp}/p.txt"],
        "p.txt: its name must end in .npy or .csv",
    ),
    (
        [
            "predict",
            "--run",
            "{places}/run",
            "--data",
            "{places}/good.npz",
            "--out",
            "{places}/notes.txt/p.npy",
        ],
        "notes.txt is a file",
    ),
    (
        ["predict", "--run", "{places}/run", "--data", "{places}/M3.npz", "--out", "{tmp}/p.npy"],
        "M3.npz: x must have M = 2 features",
    ),
    (
        ["predict", "--run", "{places}/run", "--data", "{places}/no_x.npz", "--out", "{tmp}/p.npy"],
        "no_x.npz: missing key 'x'",
    ),
    (
        ["predict", "--run", "{places}/run", "--data", "{places}/nan.npz", "--out", "{tmp}/p.npy"],
        "nan.npz: x has a NaN",
    ),
    (
        ["predict", "--run", "{places}/run", "--data", "{places}/long.npz", "--out", "{tmp}/p.npy"],
        "long.npz: lengths must be in [1, T]",
    ),
    (
        ["predict", "--run", "{places}/run", "--data", "{places}/unknown.npz", "--out", "{tmp}/p.npy"],
        "unknown key 'weights'",
    ),
    (
        ["predict", "--run", "{places}/notes.txt", "--data", "{places}/good.npz", "--out", "{tmp}/p.npy"],
        "not a run folder",
    ),
    (
        ["predict", "--run", "{tmp}/none", "--data", "{places}/good.npz", "--out", "{tmp}/p.npy"],
        "no checkpoint",
    ),
    # study
    (["study", "adding", "--out", "{tmp}/s", "--quick", "--steps-scale", "0"], "steps_scale"),
    (["study", "adding", "--out", "{tmp}/s", "--quick", "--steps-scale", "inf"], "steps_scale"),
    (["study", "adding", "--out", "{tmp}/s", "--quick", "--T", "7"], "T must be among"),
    (["study", "adding", "--out", "{tmp}/s", "--seeds", "0"], "--seeds"),
    (["study", "adding", "--out", "{tmp}/s", "--models", "gru"], "--models"),
    (["study", "mnist", "--out", "{tmp}/s"], "task"),
    (["study", "adding", "--out", "{places}/notes.txt/s", "--quick"], "notes.txt is a file"),
    (["study", "adding", "--out", "/proc/s", "--quick"], "/proc/s"),
    (["study", "adding", "--out", "{tmp}/s", "--quick", "--scheduler", "nowhere"], "nowhere"),
    # bench scan
    (["bench", "scan", "--out", "{tmp}/b", "--budget", "0"], "--budget"),
    (["bench", "scan", "--out", "{tmp}/b", "--columns", "200"], "multiples of 128"),
    (["bench", "scan", "--out", "{places}/notes.txt/b", "--quick"], "notes.txt is a file"),
    (["bench", "scan", "--out", "", "--quick"], "path is empty"),
    # depth
    (["depth"], "--out"),
    (["depth", "--out", "{tmp}/d", "--steps", "0"], "--steps"),
    (["depth", "--out", "{tmp}/d", "--networks", "gru"], "--networks"),
    (["depth", "--out", "{places}/notes.txt/d", "--quick"], "notes.txt is a file"),
    (["depth", "--out", "/proc/d", "--quick"], "/proc/d"),
    (["depth", "--out", "{tmp}/d", "--quick", "--networks", "lstm", "--data", "{tmp}/nodata"], "nodata"),
    # evaluate
    (["evaluate"], "--run"),
    (["evaluate", "--run", "{places}/notes.txt"], "notes.txt is a file, not a run folder"),
    (["evaluate", "--run", "{tmp}/none"], "no checkpoint"),
    (["evaluate", "--run", "{places}/mine"], "no checkpoint"),
    # neurons
    (["neurons", "--run", "{places}/run", "--seq", "99999", "--out", "{tmp}/n"], "seq must be"),
    (["neurons", "--run", "{places}/run", "--seq", "-1", "--out", "{tmp}/n"], "seq must be"),
    (["neurons", "--run", "{places}/run", "--seq", "x"], "--seq"),
    (["neurons", "--run", "{places}/run1", "--out", "{tmp}/n"], "2-layer"),
    (["neurons", "--run", "{places}/notes.txt"], "notes.txt is a file, not a run folder"),
    (["neurons", "--run", "{tmp}/none"], "no checkpoint"),
    (["neurons", "--run", "{places}/run", "--out", "{places}/notes.txt"], "notes.txt: it is a file"),
    (["neurons", "--run", "{places}/run", "--out", "{places}/notes.txt/n"], "notes.txt is a file"),
    (["neurons", "--run", "{places}/run", "--out", "/proc/n"], "/proc/n"),
    # curves
    (["curves", "{places}/run", "--out", "{tmp}/x.txt"], "x.txt: its name must end in a figure format"),
    (["curves", "{places}/run", "--out", "{tmp}/x"], "got no suffix"),
    (["curves", "{places}/run", "--out", "{places}/notes.txt/x.png"], "notes.txt is a file"),
    (["curves", "{places}/run", "--out", "/proc/x.png"], "/proc/x.png"),
    (["curves", "{places}/run", "--out", "{tmp}/c.png", "--labels", "a", "b"], "one label per run"),
    (["curves", "{places}/notes.txt", "--out", "{tmp}/c.png"], "notes.txt is a file, not a run folder"),
    (["curves", "{tmp}/none", "--out", "{tmp}/c.png"], "no checkpoint"),
    (["curves", "--out", "{tmp}/c.png"], "RUN"),
    # exercises and check
    (["exercises"], "DIR"),
    (["exercises", "{places}/notes.txt"], "notes.txt is a file"),
    (["exercises", "{places}/notes.txt/ex"], "notes.txt/ex"),
    (["exercises", "/proc/ex"], "/proc/ex"),
    (["check"], "FILE"),
    (["check", "{tmp}/none.py"], "none.py: no such file"),
    (["check", "{places}"], "is not a file"),
    (["check", "{places}/notes.txt"], "notes.txt, line 1: SyntaxError"),
    (["check", "{places}/notes.txt", "--seed", "-1"], "--seed"),
    (["check", "{places}/notes.txt", "--time-limit", "0"], "--time-limit"),
    (["check", "{places}/notes.txt", "--time-limit", "-5"], "--time-limit"),
    (["check", "{places}/notes.txt", "--time-limit", "x"], "--time-limit"),
    (["check", "{places}/notes.txt", "--time-limit", "1e10"], "--time-limit"),  # overflowed SIGALRM's timer
    (["check", "{places}/notes.txt", "--time-limit", "nan"], "--time-limit"),
    # bench
    (["bench"], "BENCHMARK"),
    (["bench", "layer", "--T", "0"], "--T"),
    (["bench", "layer", "--B", "x"], "--B"),
    (["bench", "layer", "--dtype", "float16"], "--dtype"),
    (["bench", "layer", "--T", "5", "--backend", "cuda", "--backend", "cpu"], "--backend cuda"),
    (["bench", "layer", "--T", "5", "--json", "{places}/notes.txt/b.json"], "notes.txt is a file"),
    (["bench", "layer", "--T", "5", "--json", "{tmp}"], "a folder is in the way"),
    (["bench", "layer", "--T", "5", "--json", "/proc/b.json"], "/proc/b.json"),
    (["bench", "layer", "--T", "100000000"], "lower --T"),
    (["bench", "batchnorm", "--T", "5", "--json", "{places}/notes.txt/b.json"], "notes.txt is a file"),
    (["bench", "batchnorm", "--B", "100000000"], "lower --T, --B"),
    (["bench", "train", "--T", "5", "--steps", "1", "--json", "/proc/b.json"], "/proc/b.json"),
    (["bench", "train", "--T", "100000000", "--steps", "1"], "lower --T"),
    (["bench", "train", "--backend", "cuda"], "--backend"),
    (["bench", "compare"], "--out"),
    (["bench", "compare", "--out", "{places}/notes.txt/c", "--quick", "--no-peers"], "notes.txt is a file"),
    (["bench", "compare", "--out", "/proc/c", "--quick", "--no-peers"], "/proc/c"),
    (["bench", "compare", "--out", "{tmp}/c", "--rounds", "0"], "--rounds"),
    (["bench", "compare", "--out", "{tmp}/c", "--quick", "--against", "{tmp}/none"], "none: no such folder"),
    (
        ["bench", "compare", "--out", "{tmp}/c", "--quick", "--against", "{places}"],
        "not a checkout of indrnn-np",
    ),
    (["bench", "contention"], "--out"),
    (["bench", "contention", "--out", "{tmp}/c", "--rounds", "0"], "--rounds"),
    (["bench", "contention", "--out", "{tmp}/c", "--quick-start-runs", "9"], "--quick-start-runs"),
    (["bench", "contention", "--out", "{tmp}/c", "--quick-start-runs", "x"], "--quick-start-runs"),
    (["bench", "contention", "--out", "{places}/notes.txt/c", "--quick"], "notes.txt is a file"),
    (["bench", "contention", "--out", "/proc/c", "--quick"], "/proc/c"),
]


def _tree(*folders) -> dict:
    """Every file and folder under ``folders``, with each file's bytes."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            out[str(p)] = p.read_bytes() if p.is_file() else None
    return out


@pytest.mark.parametrize(
    "argv, says", CASES, ids=[" ".join(a).replace("{", "").replace("}", "")[:60] for a, _ in CASES]
)
def test_a_bad_value_is_one_line_exit_2_and_nothing_made(argv, says, places, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(tmp=tmp_path, places=places) for a in argv]
    says = says.format(tmp=tmp_path, places=places)
    before = _tree(tmp_path, places)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's mistakes
        code = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert says in lines[0], lines[0]
    assert _tree(tmp_path, places) == before


@pytest.mark.parametrize(
    "name, value, says",
    [
        (
            "INDRNN_BUFFER_POOL_MB",
            "abc",
            "INDRNN_BUFFER_POOL_MB must be a number of megabytes >= 0; got 'abc'",
        ),
        ("INDRNN_BUFFER_POOL_MB", "-5", "INDRNN_BUFFER_POOL_MB must be a number of megabytes >= 0; got '-5'"),
        ("INDRNN_THREAD_TUNING", "yes", "INDRNN_THREAD_TUNING must be 1 (on) or 0 (off); got 'yes'"),
        ("INDRNN_MEMORY_CHECK", "off", "INDRNN_MEMORY_CHECK must be 1 (on) or 0 (off); got 'off'"),
        ("INDRNN_FUSE_MAX_M", "-1", "INDRNN_FUSE_MAX_M must be a whole number >= 0; got '-1'"),
        ("INDRNN_FUSE_MAX_M", "2.5", "INDRNN_FUSE_MAX_M must be a whole number >= 0; got '2.5'"),
    ],
)
def test_a_bad_environment_setting_is_one_line_exit_2(name, value, says, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, name: value}
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "train", "adding", "--steps", "1", "--out", str(tmp_path / "r")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"error: {says}"]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "fail_at, kept", [(1, "no checkpoint had been written yet"), (3, "(step 2) is kept")]
)
def test_running_out_of_memory_is_one_line_naming_the_step_and_the_options(
    fail_at, kept, tmp_path, monkeypatch, capsys
):
    """INDRNN_MEMORY_CHECK=0 and a step whose array NumPy cannot allocate: one line, exit 2, saying where it
    ran out, the allocation, the check that was skipped and the options that lower the memory (for a new
    run: --resume would need the same memory), not "start it again"."""
    from indrnn_np import config
    from indrnn_np.train import loop

    monkeypatch.setattr(config, "MEMORY_CHECK", False)
    real, calls = loop.train_step, []

    def step(*args, **kw):
        calls.append(1)
        if len(calls) == fail_at:
            np.empty((10**7, 10**7), np.float32)  # NumPy's own MemoryError, with its message
        return real(*args, **kw)

    monkeypatch.setattr(loop, "train_step", step)
    out = tmp_path / "r"
    argv = ["train", "adding", *SMALL, "--steps", "10", "--checkpoint-every", "2", "--out", str(out)]
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith(f"error: ran out of memory at step {fail_at} (unable to allocate "), line
    assert "INDRNN_MEMORY_CHECK=0 skipped the check that would have refused it" in line, line
    assert "lower --batch, --T or --hidden" in line and kept in line, line
    assert "start it again" not in line, line
    if fail_at == 3:
        assert "--resume continues it only with the same settings" in line, line


def test_running_out_of_memory_while_building_a_run_is_one_line(tmp_path, monkeypatch, capsys):
    """Outside the steps (the model or the data too large, with the check off): one line, exit 2."""
    from indrnn_np import config
    from indrnn_np.train import loop

    def build(*args, **kw):
        raise MemoryError("Unable to allocate 74.5 GiB for an array with shape (100000, 100000)")

    monkeypatch.setattr(config, "MEMORY_CHECK", False)
    monkeypatch.setattr(loop, "_build", build)
    assert main(["train", "adding", "--T", "20", "--steps", "2", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: ran out of memory (Unable to allocate 74.5 GiB for an array with shape (100000, 100000)); "
        "INDRNN_MEMORY_CHECK=0 skipped the check that would have refused it; --dry-run shows the memory a "
        "run needs"
    ], err
