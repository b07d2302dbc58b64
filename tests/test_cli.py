"""The command line: exit codes, tables and one-line errors."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from indrnn_np.cli import main


def test_gradcheck_command_passes_and_prints_a_table(capsys):
    assert main(["gradcheck", "--backend", "numpy", "--backend", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| backend | activation | array | max rel. error | result |" in out
    for activation in ("relu", "tanh", "identity"):
        for array in ("x", "W", "u", "b", "h0"):
            assert f"| cpu | {activation} | {array} |" in out
    assert "32 passed, 0 failed" in out
    assert "| neuron | u | closed form u^T | BPTT dh0 | finite difference |" in out


def test_gradcheck_command_fails_on_a_broken_backward(monkeypatch, capsys):
    """The command must exit non-zero when a gradient is wrong."""
    import indrnn_np.ops as ops

    real = ops.indrnn_backward

    def broken(dh, cache):
        g = real(dh, cache)
        return g._replace(du=2 * g.du)

    monkeypatch.setattr(ops, "indrnn_backward", broken)
    assert main(["gradcheck", "--backend", "numpy"]) == 1
    out = capsys.readouterr().out
    assert "| numpy | relu | u |" in out and "FAIL" in out


def test_bench_layer_command_small(tmp_path, capsys):
    path = tmp_path / "bench.json"
    rc = main(
        [
            "bench",
            "layer",
            "--T",
            "20",
            "--B",
            "2",
            "--M",
            "3",
            "--N",
            "4",
            "--repeats",
            "2",
            "--json",
            str(path),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "| numpy | 20 | 2 | 3 | 4 |" in out and "| cpu | 20 | 2 | 3 | 4 |" in out
    rows = json.loads(path.read_text())
    assert {r["backend"] for r in rows} == {"numpy", "cpu"}
    cpu = next(r for r in rows if r["backend"] == "cpu")
    assert cpu["speedup_vs_numpy"] == pytest.approx(rows[0]["total_s"] / cpu["total_s"])


def test_bad_option_is_a_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "bench", "layer", "--T", "-5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "expected a positive integer, got -5" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_module_entry_point_runs_gradcheck():
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "gradcheck", "--backend", "cpu"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "16 passed, 0 failed" in proc.stdout


# ---------------------------------------------------------------- user errors: one line, exit 2


def _run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "indrnn_np", *args], capture_output=True, text=True, **kw)


def _one_line_error(proc, message):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0], lines[0]


FAST = ["--T", "20", "--hidden", "8", "--batch", "8", "--eval-every", "10", "--test-size", "16", "--quiet"]


@pytest.fixture(scope="module")
def adding_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "run"
    assert (
        main(["train", "adding", *FAST, "--steps", "20", "--checkpoint-every", "10", "--out", str(path)]) == 0
    )
    return path


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_cuda_without_a_gpu_is_one_line_and_leaves_no_folder(tmp_path):
    env = {**__import__("os").environ, "NUMBA_ENABLE_CUDASIM": "0"}
    out = tmp_path / "c"
    _one_line_error(_run_cli("train", "adding", "--backend", "cuda", "--out", str(out), env=env), "CUDA")
    assert not out.exists()  # nothing was started, so a plain rerun works
    assert main(["train", "adding", *FAST, "--steps", "2", "--out", str(out)]) == 0
    _one_line_error(_run_cli("gradcheck", "--backend", "cuda", env=env), "CUDA")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], "--seed must be >= 0; got -1"),
        (["--momentum", "-5"], "--momentum must be >= 0"),
        (["--lr", "inf"], "--lr must be a finite number; got inf"),
        (["--dropout", "2"], "--dropout must be < 1"),
        (["--T", "1"], "--T must be >= 2 for the adding problem"),
        (["--out", "/proc/nope/run"], "cannot create the folder /proc/nope/run"),
    ],
)
def test_bad_training_options(tmp_path, args, message):
    proc = _run_cli("train", "adding", "--steps", "2", *args, cwd=tmp_path)
    _one_line_error(proc, message)
    assert "Warning" not in proc.stderr and not (tmp_path / "runs").exists()


def test_resume_refuses_options_and_other_tasks(adding_run):
    _one_line_error(_run_cli("train", "adding", "--resume", str(adding_run), "--lr", "1"), "drop --lr")
    _one_line_error(
        _run_cli("train", "rowmnist", "--resume", str(adding_run)), "holds a run of task adding, not rowmnist"
    )


def test_evaluate_and_neurons_refuse_an_unwritable_output_before_working(adding_run, tmp_path, copy_run):
    run = copy_run(adding_run, tmp_path / "r")
    (run / "evaluation.json").mkdir()  # something that cannot be written over (root ignores chmod)
    (run / "neurons.json").mkdir()
    before = _snapshot(run)
    _one_line_error(_run_cli("evaluate", "--run", str(run)), "evaluation.json: a folder is in the way")
    _one_line_error(_run_cli("neurons", "--run", str(run)), "neurons.json: a folder is in the way")
    assert _snapshot(run) == before


def test_bench_json_to_an_unwritable_path_fails_before_the_work(tmp_path):
    proc = _run_cli("bench", "layer", "--T", "5", "--json", str(tmp_path / "missing" / "b.json"))
    _one_line_error(proc, "the folder")
    assert "| backend |" not in proc.stdout  # refused before any timing ran


def test_resume_with_a_malformed_metrics_row(adding_run, tmp_path, copy_run):
    run = copy_run(adding_run, tmp_path / "r")
    with open(run / "metrics.csv", "a") as fh:
        fh.write("thirty,1,2,3,4,5,6\n")
    before = _snapshot(run)
    _one_line_error(_run_cli("train", "adding", "--resume", str(run), "--steps", "40"), "metrics.csv, line 4")
    assert _snapshot(run) == before


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: {k: v for k, v in m.items() if k != "acc"}, "lacks the key 'acc'"),
        (lambda m: [m], "must be a JSON object; got a JSON list"),
        (lambda m: {**m, "extra": 1}, "unknown key 'extra'"),
    ],
)
def test_resume_with_a_bad_checkpoint(adding_run, tmp_path, change, message, copy_run):
    import numpy as np

    run = copy_run(adding_run, tmp_path / "r")
    with np.load(run / "checkpoint.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["meta"] = np.array(json.dumps(change(json.loads(str(arrays["meta"])))))
    from indrnn_np.files import write_checked_npz

    write_checked_npz(run / "checkpoint.npz", arrays)  # whole, with its checksum: only the metadata is wrong
    before = _snapshot(run)
    _one_line_error(_run_cli("train", "adding", "--resume", str(run), "--steps", "40"), message)
    assert _snapshot(run) == before


def test_a_garbage_checkpoint_never_suggests_pickles(adding_run, tmp_path, copy_run):
    run = copy_run(adding_run, tmp_path / "r")
    (run / "checkpoint.npz").write_bytes(b"\x80\x04garbage")
    proc = _run_cli("train", "adding", "--resume", str(run))
    _one_line_error(proc, "not a readable indrnn-np checkpoint")
    assert "pickle" not in proc.stderr.replace(str(tmp_path), "")


def test_resuming_a_diverged_run_says_so(tmp_path):
    run = tmp_path / "d"
    args = ["train", "adding", "--T", "200", "--hidden", "32", "--steps", "50", "--lr", "0.5"]
    args += ["--u-constraint", "none", "--no-clip", "--eval-every", "10", "--test-size", "50", "--quiet"]
    proc = _run_cli(*args, "--out", str(run))
    assert proc.returncode == 1 and "training stopped" in proc.stderr
    _one_line_error(_run_cli("train", "adding", "--resume", str(run)), "diverged at step")


#: Starts ``python -m indrnn_np`` once the interpreter is up: prints ``up`` first.
_AFTER_STARTUP = (
    "import runpy, sys; print('up', flush=True); runpy.run_module('indrnn_np', run_name='__main__')"
)


def test_ctrl_c_while_starting_is_one_line(tmp_path):
    """SIGINT 0.1-0.5 s after the interpreter is up, while NumPy and the package load: no traceback.

    Counted from the interpreter's first line, not from the process's start: a SIGINT inside Python's
    own start-up (its ``site`` module, the ``.pth`` hooks of installed packages) ends in Python's fatal
    error whatever the program, which happened on a loaded machine (CI, 2026-12-08)."""
    for delay in (0.1, 0.3, 0.5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _AFTER_STARTUP, "train", "adding", "--out", str(tmp_path / f"r{delay}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline() == "up\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err, err
        assert err.strip().splitlines()[-1].startswith("interrupted"), err


def test_interrupted_run_resumes_to_its_own_steps_bit_for_bit(tmp_path, monkeypatch):
    """The scenario of a new user: Ctrl-C, then `--resume DIR` with no other option (thread counts fixed,
    as bit-for-bit needs: INDRNN_THREAD_TUNING=0)."""
    from indrnn_np import config

    monkeypatch.setattr(config, "CPU_THREAD_TUNING", False)
    monkeypatch.setenv("INDRNN_THREAD_TUNING", "0")
    args = ["train", "adding", "--T", "30", "--hidden", "16", "--steps", "300", "--eval-every", "20"]
    args += ["--checkpoint-every", "1000", "--test-size", "50"]
    assert main([*args, "--quiet", "--out", str(tmp_path / "full")]) == 0
    part = tmp_path / "part"
    proc = subprocess.Popen(
        [sys.executable, "-m", "indrnn_np", *args, "--out", str(part)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics, deadline = part / "metrics.csv", time.time() + 60
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.05)  # two evaluations done: interrupt in the middle of the run
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted after step" in err, err
    assert (part / "curve.png").stat().st_size > 5000  # the curve so far, drawn at the interrupt
    assert main(["train", "--resume", str(part), "--quiet"]) == 0  # TASK left out: the run's own
    from indrnn_np.train import RunDir

    a, b = RunDir(tmp_path / "full").read_metrics(), RunDir(part).read_metrics()
    assert b["step"][-1] == 300
    for col in a:
        if col != "elapsed_s":
            assert a[col].tolist() == b[col].tolist(), col
    assert json.loads((part / "summary.json").read_text())["steps"] == 300


def test_depth_networks_of_the_cli_are_the_experiments():
    from indrnn_np.cli import _DEPTH_NETWORKS
    from indrnn_np.experiments.depth import NETWORKS

    assert tuple(NETWORKS) == _DEPTH_NETWORKS


def test_curves_draws_several_runs_and_reports_them(adding_run, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(["train", "adding", *FAST, "--steps", "30", "--seed", "1", "--out", str(other)]) == 0
    out = tmp_path / "both.png"
    capsys.readouterr()
    assert main(["curves", str(adding_run), str(other), "--out", str(out), "--labels", "a", "b"]) == 0
    text = capsys.readouterr().out
    assert "a: adding T=20, test_mse" in text and "at step 20" in text and "at step 30" in text
    assert out.stat().st_size > 5000
    from indrnn_np.experiments.curves import compare_runs
    from indrnn_np.train import RunDir

    rows = compare_runs([adding_run, other], tmp_path / "again.png")
    m = RunDir(other).read_metrics()
    assert [r["label"] for r in rows] == ["run", "other"]
    assert rows[1]["last"] == m["test_mse"][-1] and rows[1]["best"] == m["test_mse"].min()


def test_curves_errors_are_one_line(adding_run, tmp_path, copy_run):
    out = str(tmp_path / "x.png")
    _one_line_error(
        _run_cli("curves", str(adding_run), "--out", out, "--labels", "a", "b"), "one label per run"
    )
    _one_line_error(_run_cli("curves", str(tmp_path / "missing"), "--out", out), "missing")
    other = copy_run(adding_run, tmp_path / "other")  # the same run, said to measure a test error
    metrics = other / "metrics.csv"
    metrics.write_text(metrics.read_text().replace("test_mse", "test_error", 1))
    _one_line_error(_run_cli("curves", str(adding_run), str(other), "--out", out), "different things")
    assert not (tmp_path / "x.png").exists()


def test_metric_of_columns_inverts_metric_columns():
    from indrnn_np.train import RunDirError
    from indrnn_np.train.rundir import metric_columns, metric_of_columns

    for metric in ("test_mse", "test_error", "test_bpc"):
        assert metric_of_columns(metric_columns(metric)) == metric
    with pytest.raises(RunDirError, match="columns"):
        metric_of_columns(["step", "train_loss", "test_mse"])  # a truncated header


def _marker_file(path, n=120):
    """Variable-length sequences (5 to 30 steps) of the marker task, padded, saved as x, y, lengths; a NaN
    in the padding (never read)."""
    from indrnn_np.tasks.arrays import marker_sequences, pad_sequences

    X, y = marker_sequences(n, min_length=5, max_length=30)
    x, lengths = pad_sequences(X)
    x[np.argmin(lengths), -1, 0] = np.nan
    np.savez(path, x=x, y=y, lengths=lengths)
    return x, y, lengths


def test_train_arrays_evaluate_predict_and_resume_from_the_command_line(tmp_path, capsys):
    x, y, lengths = _marker_file(tmp_path / "f.npz")
    run, data = tmp_path / "run", str(tmp_path / "f.npz")
    small = ["--hidden", "8", "--eval-every", "30", "--quiet"]
    assert main(["train", "arrays", "--data", data, "--steps", "60", *small, "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 60 and summary["config"]["T"] == x.shape[1] == int(lengths.max())
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "arrays at step 60, test_error = " in out and "test accuracy = " in out
    assert main(["predict", "--run", str(run), "--data", data, "--out", str(tmp_path / "p.npy")]) == 0
    assert (
        capsys.readouterr().out
        == f"predicted 120 sequences with {run} (arrays, step 60): class -> {tmp_path / 'p.npy'}\n"
    )
    classes = np.load(tmp_path / "p.npy")
    assert classes.shape == (120,) and classes.dtype == np.int64 and set(classes) <= set(range(4))
    assert main(["predict", "--run", str(run), "--data", data, "--out", str(tmp_path / "p.csv")]) == 0
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "sequence,class" and rows[1:] == [f"{i},{c}" for i, c in enumerate(classes)]
    assert main(["train", "arrays", "--resume", str(run), "--steps", "80", "--quiet"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 80
    bi = tmp_path / "bi"
    argv = ["train", "arrays", "--data", data, "--steps", "20", "--bidirectional", *small, "--out", str(bi)]
    assert main(argv) == 0
    assert json.loads((bi / "summary.json").read_text())["config"]["bidirectional"] is True
    assert main(["predict", "--run", str(bi), "--data", data, "--out", str(tmp_path / "bi.npy")]) == 0
    assert np.load(tmp_path / "bi.npy").shape == (120,)


def test_predict_per_step_values_and_a_paper_task(tmp_path, adding_run, capsys):
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 13, 40)
    x = rng.standard_normal((40, 12, 2)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=rng.standard_normal((40, 12, 2)).astype(np.float32), lengths=lengths)
    run = tmp_path / "s"
    argv = ["train", "arrays", "--data", str(tmp_path / "s.npz"), "--steps", "10", "--hidden", "8", "--quiet"]
    assert main([*argv, "--out", str(run)]) == 0
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "s.npy"),
            ]
        )
        == 0
    )
    values = np.load(tmp_path / "s.npy")
    real = np.arange(12)[None, :] < lengths[:, None]
    assert values.shape == (40, 12, 2) and np.isfinite(values[real]).all() and np.isnan(values[~real]).all()
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "sequence,step,y0,y1" and len(rows) == 1 + lengths.sum()
    assert rows[1].startswith("0,0,") and float(rows[1].split(",")[2]) == pytest.approx(
        values[0, 0, 0], rel=1e-6
    )
    # the adding problem: x is its (value, marker) pairs, samples first; one value per sequence
    from indrnn_np.tasks.adding import adding_batch

    xa = adding_batch(20, 7, np.random.default_rng(1))[0]
    np.savez(tmp_path / "a.npz", x=np.swapaxes(xa, 0, 1))
    assert (
        main(
            [
                "predict",
                "--run",
                str(adding_run),
                "--data",
                str(tmp_path / "a.npz"),
                "--out",
                str(tmp_path / "a.csv"),
            ]
        )
        == 0
    )
    assert "predicted 7 sequences" in capsys.readouterr().out
    rows = (tmp_path / "a.csv").read_text().splitlines()
    assert rows[0] == "sequence,value" and len(rows) == 8


def _subparsers(parser, path=()):
    """(command path, parser) of every command and subcommand."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*path, name))


def test_every_option_has_a_help_line_with_its_default():
    import argparse

    from indrnn_np.cli import build_parser

    checked, missing = 0, []
    for path, parser in _subparsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            where = f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            if action.help == argparse.SUPPRESS:  # another task's option, refused if given
                assert path[0] == "train", where
                continue
            flag_only = action.nargs == 0  # a switch: off unless given
            if not action.help or (
                action.option_strings
                and not action.required
                and not flag_only
                and not ("(default: " in action.help or action.help.endswith("(required)"))
            ):
                missing.append(where)
            checked += 1
    assert not missing
    assert checked > 250


def test_train_help_says_how_to_see_a_tasks_options(capsys):
    from indrnn_np.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "train TASK --help" in text and "adding the adding problem" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "adding", "--help"])
    text = capsys.readouterr().out
    assert "--shift" not in text and "--data" not in text  # MNIST's and the data tasks' options
    assert "--eval-every" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "mnist", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--shift" in text and "folder of the MNIST IDX files" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "ptb-char", "--help"])
    text = capsys.readouterr().out
    assert "--shift" not in text and "PTB text files" in text


def test_train_adding_help_states_the_minimum_of_T(capsys):
    # the same minimum that the refusal of --T 0 or --T 1 states (test_cli_errors)
    from indrnn_np.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "adding", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--T T sequence length, at least 2 for the adding problem (default: 100)" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "ptb-char", "--help"])
    assert "--T T sequence length (default: " in " ".join(capsys.readouterr().out.split())
