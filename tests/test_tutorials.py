"""Every tutorial runs end to end as a script, with the fast switch, and its asserts pass."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).parent.parent / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_are_eight_tutorials_in_percent_format():
    assert [p.name[:2] for p in TUTORIALS] == ["01", "02", "03", "04", "05", "06", "07", "08"]
    for p in TUTORIALS:
        text = p.read_text()
        assert text.startswith("# %% [markdown]"), p.name
        assert text.count("# %%") >= 6, p.name
    assert not list(TUTORIALS[0].parent.glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    env = {
        **os.environ,
        "INDRNN_TUTORIAL_FAST": "1",
        "INDRNN_TUTORIAL_OUT": str(tmp_path / "figures"),
        "MPLBACKEND": "Agg",
        # this checkout's package, even when an installed copy points elsewhere
        "PYTHONPATH": os.pathsep.join([str(path.parent.parent), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(path)], cwd=path.parent, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    figures = list((tmp_path / "figures").rglob("*.png"))
    assert figures, "the tutorial saved no figure"
