"""Every command with bad values: out of range, of the wrong type, the wrong kind of file, unwritable places,
sizes that cannot fit. Each is one line on stderr naming what is wrong, exit status 2, no traceback, and
nothing new on disk (no file, no folder, the run folders untouched).

The tests run as root, so permissions cannot deny a write: unwritable places are paths under a regular
file and /proc. Commands run in-process (``main``), from a scratch working folder.
"""

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
    return root


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
    (["dynamics", "--out", "{tmp}/d", "--epsilon", "3", "--gamma", "2"], "epsilon"),
    (["dynamics", "--out", "{tmp}/d", "--train-steps", "0"], "--train-steps"),
    (["dynamics", "--out", "{places}/notes.txt"], "notes.txt: it is a file"),
    (["dynamics", "--out", "{places}/notes.txt/d"], "notes.txt is a file"),
    (["dynamics", "--out", "/proc/d"], "/proc/d"),
    # train
    (["train", "adding", "--T", "1"], "T must be >= 2"),
    (["train", "adding", "--T", "x"], "--T"),
    (["train", "adding", "--lr", "-1"], "lr must be > 0"),
    (["train", "adding", "--dropout", "1"], "dropout must be < 1"),
    (["train", "adding", "--widths", "0,1"], "widths"),
    (["train", "adding", "--bn", "maybe"], "--bn"),
    (["train", "adding", "--model", "gru"], "--model"),
    (["train", "adding", "--residual", "--widths", "8,4"], "residual"),
    (["train", "mnist", "--T", "100"], "T is 784"),
    (["train", "mnist", "--data", "{tmp}/nodata"], "nodata"),
    (["train", "adding", "--T", "100000000"], "lower --T"),
    (["train", "adding", "--batch", "100000000"], "lower --batch"),
    (["train", "adding", "--hidden", "1000000"], "lower --hidden"),
    (["train", "adding", "--test-size", "1000000000"], "lower --test-size"),
    (["train", "adding", "--out", "{places}/notes.txt"], "notes.txt: it is a file"),
    (["train", "adding", "--out", "{places}/notes.txt/r"], "notes.txt is a file"),
    (["train", "adding", "--out", "/proc/r"], "/proc/r"),
    (["train", "adding", "--out", "{places}/mine"], "holds curve.png"),
    (["train", "adding", "--out", "{places}/run"], "already holds a run"),
    (["train", "adding", "--resume", "{places}/notes.txt"], "notes.txt is a file, not a run folder"),
    (["train", "adding", "--resume", "{tmp}/none"], "no checkpoint"),
    (["train", "adding", "--resume", "{places}/run", "--lr", "1"], "drop --lr"),
    (["train", "adding", "--resume", "{places}/run", "--steps", "5"], "--steps 5 is below"),
    (["train", "rowmnist", "--resume", "{places}/run"], "not rowmnist"),
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
