"""Peak-memory estimates (indrnn_np.train.memory): the mirror of the models, the simulated arrays against
what NumPy allocates, the growth with the sizes, the refusal of sizes that cannot fit, and --dry-run."""

import dataclasses
import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from indrnn_np.cli import main
from indrnn_np.nn import leaf_layers
from indrnn_np.ops import buffers
from indrnn_np.train import RunDir, memory, model_of, recipe, task_of, train
from indrnn_np.train.loop import _build, _one_step

GiB = 2**30
MiB = 2**20
QUIET = dict(progress=False, log=lambda *a: None)

CONFIGS = {
    "adding": dict(T=200),
    "widths 16,1": dict(T=50, widths="16,1"),
    "bn time before": dict(T=300, bn="time"),
    "bn frame before": dict(T=300, bn="frame"),
    "bn after, dropout": dict(T=300, bn="time", bn_position="after", dropout=0.2),
    "residual, bn": dict(T=300, residual=True, layers=3, bn="time"),
    "residual": dict(T=300, residual=True, layers=3),
    "dense": dict(T=100, dense_blocks="2,2", growth=16, hidden=32, bn="time"),
    "dense, no bn, dropout": dict(T=100, dense_blocks="1,2", growth=8, hidden=16, dropout=0.1),
    "lstm": dict(T=60, model="lstm", layers=1),
    "rnn-tanh x 2": dict(T=60, model="rnn-tanh", layers=2),
    "irnn": dict(T=100, model="irnn", layers=1),
    "float64": dict(T=300, dtype="float64"),
    "bidirectional": dict(T=200, bidirectional=True),
    "bidirectional, bn before": dict(T=200, bidirectional=True, bn="time"),
    "bidirectional, bn after, dropout": dict(
        T=200, bidirectional=True, bn="frame", bn_position="after", dropout=0.2
    ),
    "bidirectional residual, bn": dict(T=100, bidirectional=True, residual=True, layers=3, bn="time"),
}

#: Task arrays (batches with lengths) on the files of ``array_files``: its name -> (file, options).
ARRAY_CONFIGS = {
    "arrays": ("labels", {}),
    "arrays, bn time": ("labels", dict(bn="time", residual=True, layers=3)),
    "arrays, bn frame": ("one length", dict(bn="frame")),  # frame-wise BN: sequences of one length
    "arrays, bidirectional, bn before": ("labels", dict(bidirectional=True, bn="time")),
    "arrays per step, bidirectional": ("per step", dict(bidirectional=True)),
}


@pytest.fixture(scope="module")
def array_files(tmp_path_factory):
    """Two .npz files of 300 sequences of 3 features, lengths 5 to 40 (half of them 40 long, so that a
    batch is as long as the estimate takes it): 5 classes, and 2 targets per step; and a third of the same
    sequences all 40 long (frame-wise batch norm takes no variable lengths)."""
    root = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(0)
    n, T = 300, 40
    lengths = np.where(rng.random(n) < 0.5, T, rng.integers(5, T + 1, n))
    x = rng.standard_normal((n, T, 3)).astype(np.float32)
    np.savez(root / "labels.npz", x=x, y=rng.integers(0, 5, n), lengths=lengths)
    np.savez(root / "per step.npz", x=x, y=rng.standard_normal((n, T, 2)).astype(np.float32), lengths=lengths)
    np.savez(root / "one length.npz", x=x, y=rng.integers(0, 5, n))
    return root


def _named(name, fake_mnist, array_files, **kw):
    """The configuration a test's name stands for."""
    if name in CONFIGS:
        return _cfg(**CONFIGS[name])
    if name in ARRAY_CONFIGS:
        file, options = ARRAY_CONFIGS[name]
        return recipe("arrays", data=str(array_files / f"{file}.npz"), **options)
    return recipe(name, data=str(fake_mnist), **kw)


def _cfg(task="adding", **kw):
    return recipe(task, **{"test_size": 250, **kw})


@pytest.mark.parametrize("name", [*CONFIGS, "rowmnist", "pmnist", *ARRAY_CONFIGS])
def test_the_mirror_has_the_models_parameters_and_layers(name, fake_mnist, array_files):
    cfg = _named(name, fake_mnist, array_files, hidden=16)
    model = model_of(cfg, task_of(cfg))
    assert memory.param_count(cfg) == model.num_params()
    real = [type(layer).__name__ for layer in leaf_layers(model)]
    assert memory.layer_kinds(cfg) == real


def _traced_phases(cfg, monkeypatch):
    """tracemalloc's peak of a training step, an evaluation and a second step, above the built run."""
    tiny = dataclasses.replace(cfg, T=cfg.T if cfg.task != "adding" else 10, batch=4, test_size=8)
    warm = _build(tiny, RunDir("unused"))  # kernels loaded and their Python objects made before tracing
    _one_step(warm, 1)
    warm.task.evaluate(warm.model)
    monkeypatch.setattr(buffers, "POOL", buffers.BufferPool(buffers.POOL.max_bytes))
    tracemalloc.start()
    try:
        s = _build(cfg, RunDir("unused"))
        base = tracemalloc.get_traced_memory()[0]
        peaks = []
        for phase in (lambda: _one_step(s, 1), lambda: s.task.evaluate(s.model), lambda: _one_step(s, 2)):
            tracemalloc.reset_peak()
            phase()
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    return peaks


def _simulated_phases(cfg):
    run = memory._Run(cfg)
    run.data()
    run.model()
    base = sum(run.h.live.values())
    peaks = []
    for phase in (run.step, run.evaluate, run.step):
        run.h.peak = 0
        phase()
        peaks.append(run.h.peak - base)
    return peaks


@pytest.mark.parametrize(
    "name", [n for n in CONFIGS if n not in ("widths 16,1", "irnn")] + ["rowmnist", *ARRAY_CONFIGS]
)
def test_the_simulated_arrays_are_what_numpy_allocates(name, monkeypatch, fake_mnist, array_files):
    """Each phase's peak (a training step, an evaluation with the step's arrays in the pool, a step with
    the evaluation's) as tracemalloc sees NumPy allocate it: at most 10 % above, never 3 % below."""
    cfg = _named(name, fake_mnist, array_files, test_size=200)
    real = _traced_phases(cfg, monkeypatch)
    simulated = _simulated_phases(cfg)
    for phase, r, s in zip(("step", "evaluation", "second step"), real, simulated, strict=True):
        assert 0.97 * r <= s <= 1.10 * r, f"{phase}: simulated {s / MiB:.1f} MiB, traced {r / MiB:.1f} MiB"


def _arrays(cfg):
    """The estimate less its fixed part."""
    return memory.estimate_training(cfg).total - memory.RUNTIME_BYTES


def test_the_estimate_grows_with_the_sizes(monkeypatch):
    base = _cfg(T=4000, batch=64, test_size=100)
    bigger = {
        "T": dataclasses.replace(base, T=8000),
        "batch": dataclasses.replace(base, batch=128),
        "hidden": dataclasses.replace(base, hidden=256),
    }
    for name, cfg in bigger.items():  # with the pool: more, but less than twice (it keeps at most 1 GiB)
        assert _arrays(base) < _arrays(cfg) <= 2.05 * _arrays(base), name
    monkeypatch.setattr(memory.config, "BUFFER_POOL_BYTES", 0)
    # without it every array is (T, B, ·) or small: twice T or twice B, twice the memory
    one = _arrays(base)
    assert 1.97 < _arrays(bigger["T"]) / one < 2.01
    assert 1.9 < _arrays(bigger["batch"]) / one < 2.01
    assert 1.9 < _arrays(bigger["hidden"]) / one < 2.1
    # parameters, gradients and Adam's moments grow with N^2: wide layers at a short T
    wide = _cfg(T=2, hidden=4096, test_size=1)
    assert 3.9 < _arrays(dataclasses.replace(wide, hidden=8192)) / _arrays(wide) < 4.1
    # the test set: (T, test_size, 2) float32 kept, (T, test_size) float64 while it is drawn
    big_test = dataclasses.replace(base, test_size=100_000)
    assert memory.estimate_training(big_test).parts["test"] >= 4000 * 100_000 * 8


@pytest.mark.parametrize(
    "args, lever",
    [
        (["--T", "100000000"], "--T"),
        (["--batch", "100000000"], "--batch"),
        (["--hidden", "1000000"], "--hidden"),
        (["--test-size", "1000000000"], "--test-size"),
        (["--T", "200000", "--batch", "5000"], "--batch"),
    ],
)
def test_sizes_that_cannot_fit_are_refused_in_one_line_before_any_work(tmp_path, args, lever):
    """The sizes that ended in a NumPy _ArrayMemoryError traceback (exit 1) and a run folder with a header."""
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "train", "adding", *args, "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: training adding") and "needs about" in lines[0]
    assert "is available (" in lines[0] and lever in lines[0].split("lower ")[1]
    assert list(tmp_path.iterdir()) == []  # no run folder, no runs/


def test_a_run_too_big_for_a_capped_machine_is_refused_with_its_numbers():
    """The issue's example: T = 5000, batch 500, 512 neurons with 8 GB available."""
    cfg = recipe("adding", T=5000, batch=500, hidden=512)
    estimate = memory.estimate_training(cfg)
    with pytest.raises(memory.MemoryTooLarge) as err:
        memory.check_fits(estimate, memory.Available(8 * GiB, "a test's cap"))
    message = str(err.value)
    assert f"needs about {estimate.total / GiB:.1f} GiB" in message
    assert "8.0 GiB is available (a test's cap)" in message and "lower --batch, --T or --hidden" in message
    memory.check_fits(estimate, memory.Available(estimate.total, "just enough"))
    memory.check_fits(estimate, memory.Available(None, "unknown"))  # nothing known: no check


def test_the_check_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(memory.config, "MEMORY_CHECK", False)
    memory.check_fits(memory.estimate_training(recipe("adding", T=10**8)), memory.Available(GiB, "x"))


def test_dry_run_prints_the_estimate_and_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "adding", "--T", "5000", "--dry-run"]) == 0
    out = capsys.readouterr().out
    estimate = memory.estimate_training(recipe("adding", T=5000))
    assert out.startswith(f"training adding, T = 5000, batch 50: about {estimate.total / GiB:.1f} GiB")
    for part in ("evaluation of a chunk of test sequences", "test set", "optimizer state", "available: "):
        assert part in out
    assert list(tmp_path.iterdir()) == []
    assert main(["train", "adding", "--T", "100000000", "--dry-run"]) == 1  # a status scripts can test
    assert "does NOT fit" in capsys.readouterr().out


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("mem") / "run"
    train(recipe("adding", T=20, hidden=8, batch=8, steps=10, eval_every=10, test_size=16), path, **QUIET)
    return path


@pytest.mark.parametrize("command", ["evaluate", "neurons", "resume", "depth"])
def test_evaluate_neurons_resume_and_depth_check_the_same_way(
    command, small_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(memory, "available_memory", lambda: memory.Available(MiB, "a test's cap"))
    before = sorted(p.name for p in small_run.iterdir())
    argv = {
        "evaluate": ["evaluate", "--run", str(small_run)],
        "neurons": ["neurons", "--run", str(small_run), "--out", str(tmp_path / "n")],
        "resume": ["train", "adding", "--resume", str(small_run), "--steps", "20"],
        "depth": ["depth", "--out", str(tmp_path / "d"), "--quick", "--networks", "lstm"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs about" in err[0] and "1.0 MiB is available (a test's cap)" in err[0]
    assert sorted(p.name for p in small_run.iterdir()) == before
    assert list(tmp_path.iterdir()) == []


def test_the_neuron_and_evaluation_estimates_cover_their_chunks():
    cfg = recipe("adding", T=5000, batch=32)
    chunk = 5000 * 250 * 128 * 4  # one (T, 250, N) float32 array of the neuron analysis
    assert memory.estimate_neurons(cfg).total > 6 * chunk  # both layers' states and ∂J/∂a, backward's work
    assert memory.estimate_evaluation(cfg).parts["evaluation"] >= 2 * 5000 * 100 * 128 * 4


def test_available_memory_takes_the_tightest_cgroup_limit(tmp_path, monkeypatch):
    tight = tmp_path / "tight"
    loose = tmp_path / "loose"
    for folder, limit, usage in ((tight, 3 * GiB, GiB), (loose, 100 * GiB, GiB)):
        folder.mkdir()
        (folder / "memory.max").write_text(f"{limit}\n")
        (folder / "memory.current").write_text(f"{usage}\n")
    none = tmp_path / "none"
    none.mkdir()
    (none / "memory.max").write_text("max\n")
    (none / "memory.current").write_text("5\n")
    monkeypatch.setattr(memory, "_cgroup_paths", lambda: iter([("v2", str(p)) for p in (loose, none, tight)]))
    room, source = memory._cgroup_room()
    assert room == 2 * GiB and str(tight / "memory.max") in source
    monkeypatch.setattr(memory, "_meminfo", lambda key: 50 * GiB)
    available = memory.available_memory()
    assert available.bytes == 2 * GiB and "cgroup" in available.source


def test_available_memory_reads_this_machine():
    available = memory.available_memory()
    if sys.platform.startswith("linux"):
        assert available.bytes is not None and 0 < available.bytes
        assert available.held > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--T", "1000", "--steps", "20", "--eval-every", "10"],
        ["--T", "1000", "--residual", "--layers", "4", "--bn", "time", "--steps", "6", "--eval-every", "3"],
    ],
    ids=["T1000", "residual-bn"],
)
def test_the_estimate_is_a_little_above_the_measured_peak_rss(tmp_path, args):
    """Peak RSS of the command in a child process against the estimate: 1.0 to 1.25 times (measured
    1.05-1.10, see indrnn_np.train.memory)."""
    code = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [
        sys.executable,
        "-m",
        "indrnn_np",
        "train",
        "adding",
        *args,
        "--quiet",
        "--out",
        str(tmp_path / "r"),
    ]
    proc = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, check=True)
    measured = int(proc.stdout) * 1024
    from indrnn_np.cli import build_parser
    from indrnn_np.train.config import given_options

    estimate = memory.estimate_training(
        recipe("adding", **given_options(build_parser().parse_args(command[3:])))
    )
    assert 1.0 <= estimate.total / measured <= 1.25, (estimate.total / MiB, measured / MiB)
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["steps"] == int(
        args[args.index("--steps") + 1]
    )


def test_dry_run_of_train_arrays_takes_the_sizes_from_the_file(array_files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "arrays", "--data", str(array_files / "labels.npz"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("training arrays, T = 40, batch 32: about ")
    assert "data set: MNIST images, PTB text or your arrays" in out and "test set" in out
    estimate = memory.estimate_training(recipe("arrays", data=str(array_files / "labels.npz")))
    assert "--T" not in estimate.levers and "--test-size" not in estimate.levers  # the data decide them
    assert list(tmp_path.iterdir()) == []


def test_predict_checks_its_memory_the_same_way(small_run, array_files, tmp_path, monkeypatch, capsys):
    np.savez(tmp_path / "x.npz", x=np.zeros((5, 20, 2), np.float32))
    cfg = RunDir(small_run).read_config()
    small, large = (memory.estimate_prediction(cfg, n, 20, 2) for n in (100, 10_000))
    assert large.parts["evaluation"] > small.parts["evaluation"] and large.total > small.total
    monkeypatch.setattr(memory, "available_memory", lambda: memory.Available(MiB, "a test's cap"))
    argv = [
        "predict",
        "--run",
        str(small_run),
        "--data",
        str(tmp_path / "x.npz"),
        "--out",
        str(tmp_path / "p.npy"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: predicting 5 sequences") and "needs about" in err[0]
    assert not (tmp_path / "p.npy").exists()
