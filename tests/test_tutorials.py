"""Every tutorial runs end to end as a script, with the fast switch, and its asserts pass; it writes
only into the folder the reader chose, and needs nothing beside it but the package."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TUTORIALS = sorted((Path(__file__).parent.parent / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_are_ten_tutorials_in_percent_format():
    assert [p.name[:2] for p in TUTORIALS] == [f"{i:02d}" for i in range(1, 11)]
    for p in TUTORIALS:
        text = p.read_text()
        assert text.startswith("# %% [markdown]"), p.name
        assert text.count("# %%") >= 6, p.name
    assert not list(TUTORIALS[0].parent.glob("*.ipynb"))


@pytest.mark.skipif(
    shutil.which("git") is None or not (TUTORIALS[0].parent.parent / ".git").exists(),
    reason="not a git checkout",
)
def test_the_notebooks_the_tutorials_commands_write_are_ignored():
    # tutorials/README.md: jupytext --to notebook NN.py, then jupyter nbconvert --execute NN.ipynb
    stem = TUTORIALS[4].stem
    written = [
        f"tutorials/{stem}.ipynb",
        f"tutorials/{stem}.nbconvert.ipynb",
        "tutorials/.ipynb_checkpoints/x",
    ]
    proc = subprocess.run(
        ["git", "check-ignore", *written], cwd=TUTORIALS[0].parent.parent, capture_output=True, text=True
    )
    assert proc.stdout.split() == written, proc.stdout + proc.stderr


def test_tutorials_need_no_file_beside_them():
    # a converted notebook runs anywhere the package is installed: no helper module in tutorials/
    assert not [p.name for p in TUTORIALS[0].parent.glob("*.py") if p not in TUTORIALS]
    for p in TUTORIALS:
        text = p.read_text()
        assert "_common" not in text and "tempfile" not in text, p.name
        assert "from indrnn_np.experiments.tutorial import" in text, p.name


def _env(out, tmp):
    return {
        **os.environ,
        "INDRNN_TUTORIAL_FAST": "1",
        "INDRNN_TUTORIAL_OUT": str(out),
        "MPLBACKEND": "Agg",
        # anything written to the system's temporary folder would land here, and be seen
        "TMPDIR": str(tmp),
        # this checkout's package, even when an installed copy points elsewhere
        "PYTHONPATH": os.pathsep.join([str(TUTORIALS[0].parent.parent), os.environ.get("PYTHONPATH", "")]),
    }


def test_tutorial_helpers_save_into_the_chosen_folder(tmp_path):
    code = (
        "import matplotlib.pyplot as plt\n"
        "from indrnn_np.experiments.tutorial import FAST, OUT, output_dir, save\n"
        "fig, ax = plt.subplots(); ax.plot([0, 1])\n"
        "print(save(fig, 'a.png', caption='a line'))\n"
        "run = output_dir('run', fresh=True); (run / 'x').write_text('1')\n"
        "print(sorted(p.name for p in output_dir('run', fresh=True).iterdir()), FAST, OUT)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(tmp_path / "out", tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "a.png").is_file()
    assert f"[] True {tmp_path / 'out'}" in proc.stdout
    # without INDRNN_TUTORIAL_OUT: tutorial_output/ in the working directory
    env = _env(tmp_path, tmp_path)
    del env["INDRNN_TUTORIAL_OUT"]
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "tutorial_output" / "a.png").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    (tmp_path / "tmp").mkdir()
    checks_log = tmp_path / "checks.jsonl"
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=path.parent,
        env={**_env(tmp_path / "figures", tmp_path / "tmp"), "INDRNN_TUTORIAL_CHECKS": str(checks_log)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # every comparison went through tutorial.check, and none of them compared values all within their
    # tolerance of zero (check refuses those, so a trivial one would have failed the run above)
    checks = [json.loads(line) for line in checks_log.read_text().splitlines()] if checks_log.exists() else []
    assert checks, "the tutorial made no check through indrnn_np.experiments.tutorial.check"
    trivial = [c["name"] for c in checks if not c["scale"] > c["atol"]]
    assert not trivial, f"checks of values within their tolerance of zero: {trivial}"
    text = path.read_text()
    assert "np.testing.assert_" not in text and "np.isclose(" not in text, (
        "a comparison outside tutorial.check (np.testing.assert_*, np.isclose)"
    )
    figures = list((tmp_path / "figures").rglob("*.png"))
    assert figures, "the tutorial saved no figure"
    # nothing left in the system's temporary folder (run folders go into the chosen folder)
    assert not list((tmp_path / "tmp").iterdir()), sorted(p.name for p in (tmp_path / "tmp").iterdir())


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("jupytext", "nbclient", "ipykernel")),
    reason="executing a tutorial as a notebook needs jupytext, nbclient and ipykernel (the tutorials extra)",
)
@pytest.mark.parametrize("path", [TUTORIALS[4]], ids=[TUTORIALS[4].stem])
def test_tutorial_as_a_notebook_shows_its_figures_inline(path, tmp_path):
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    env = _env(tmp_path / "unused", tmp_path)
    del env["INDRNN_TUTORIAL_OUT"]  # a notebook's default: tutorial_output/ in its folder
    del env["MPLBACKEND"]
    old = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 4  # both layers' figures of the planted and of the trained network
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tutorial_output"]


def test_check_refuses_a_comparison_of_zeros_naming_it(tmp_path, monkeypatch, capsys):
    from indrnn_np.experiments import tutorial
    from indrnn_np.experiments.tutorial import TrivialCheck, check, check_gradient
    from indrnn_np.gradcheck import GradCheckResult

    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("INDRNN_TUTORIAL_CHECKS", str(log))
    monkeypatch.setattr(tutorial, "CHECKS", [])
    # zeros against zeros: the dead-ReLU gradients of tutorial 2 (du, db, dW, dh0 all 0)
    with pytest.raises(TrivialCheck, match="'dead neuron: du, db, dw, dh0'.*code that returned zeros"):
        check("dead neuron: du, db, dw, dh0", [0.0, 0.0, 0.0, 0.0], np.zeros(4))
    # all below the absolute tolerance: as trivial as zeros
    with pytest.raises(TrivialCheck, match="'tiny'"):
        check("tiny", [1e-9, -2e-9], [0.0, 0.0], atol=1e-8)
    with pytest.raises(TrivialCheck, match="all NaN"):
        check("all NaN", [np.nan], [np.nan])
    zero = np.zeros((2, 3))
    with pytest.raises(TrivialCheck, match="'W: backward vs finite differences'"):
        check_gradient(GradCheckResult("W", 0.0, 0.0, zero, zero))
    assert isinstance(TrivialCheck("x"), AssertionError)  # a tutorial run as a script fails on it
    assert tutorial.CHECKS == [] and not log.exists()  # nothing refused is recorded

    # a real comparison passes, prints its line and is recorded; zeros among non-zeros are fine
    assert (
        check("h by hand = the library", [0.5, 0.0, 0.1 + 0.2], [0.5, 0.0, 0.3]) is None
    )  # a cell shows no repr
    record = tutorial.CHECKS[-1]
    assert record.scale == 0.5 and record.max_diff <= 1e-15
    assert "check: h by hand = the library (max |diff|" in capsys.readouterr().out
    g = GradCheckResult("u", 1e-10, 1e-11, np.array([1.0, -2.0]), np.array([1.0, -2.0]))
    check_gradient(g, quiet=True)
    assert capsys.readouterr().out == ""
    assert [json.loads(line)["name"] for line in log.read_text().splitlines()] == [
        "h by hand = the library",
        "u: backward vs finite differences",
    ]
    assert [c.name for c in tutorial.CHECKS] == [
        "h by hand = the library",
        "u: backward vs finite differences",
    ]
    # and a wrong result still fails, naming the check
    with pytest.raises(AssertionError, match="check 'off by one' failed"):
        check("off by one", [1.0, 2.0], [2.0, 3.0])
    with pytest.raises(AssertionError, match="relative error 0.1"):
        check_gradient(GradCheckResult("b", 0.1, 0.1, np.ones(2), 1.1 * np.ones(2)))


def test_one_name_for_the_initial_state():
    # the paper (and the tutorials, and indrnn_np.dynamics) number the steps 1..T from the initial state
    # h_0; the API once called it h_{-1}, counting like the arrays
    root = TUTORIALS[0].parent.parent
    files = [root / "README.md", *root.glob("indrnn_np/**/*.py"), *root.glob("docs/site/**/*.md"), *TUTORIALS]
    said = [
        str(p.relative_to(root)) for p in files if any(s in p.read_text() for s in ("h_{-1}", "h_-1", "h₋₁"))
    ]
    assert not said, f"the initial state is h_0, not h_{{-1}}: {said}"


def test_tutorial_code_fits_the_110_column_limit():
    # the site's content column shows 110 columns of code at 1280 px without scrolling sideways
    # (tests/test_site.py measures it); prose lines (# comments, rendered as paragraphs) may be longer
    long = [
        f"{p.name}:{i}"
        for p in TUTORIALS
        for i, line in enumerate(p.read_text().split("\n"), 1)
        if len(line) > 110 and not line.lstrip().startswith("#")
    ]
    assert not long, f"code lines over 110 columns: {long}"
