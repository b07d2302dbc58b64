"""indrnn_np.tasks.ucr: the UCR/UEA data sets that ship inside sktime, read without any download."""

import socket
import sys

import numpy as np
import pytest

from indrnn_np.tasks.ucr import SETS, UCRDataError, load_ucr

pytest.importorskip("sktime", reason="the ucr extra (pip install -e '.[ucr]')")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: nothing may be downloaded."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_each_set_loads_with_its_published_split_and_the_estimators_layout(no_network):
    sizes = {"GunPoint": (50, 150), "JapaneseVowels": (270, 370), "Tecator": (172, 43)}
    for name in SETS:
        X, y = load_ucr(name, "train")
        Xt, yt = load_ucr(name, "test")
        assert len(X) == len(y) and len(Xt) == len(yt), name
        assert all(isinstance(s, np.ndarray) and s.ndim == 2 and s.dtype == np.float64 for s in X + Xt)
        assert len({s.shape[1] for s in X + Xt}) == 1, name  # one number of features
        if name in sizes:
            assert (len(X), len(Xt)) == sizes[name]
        if SETS[name][0] == "regress":
            assert y.dtype == np.float64 and np.isfinite(y).all()
        else:
            assert y.dtype.kind == "U" and 2 <= len(set(y)) <= 20 and set(yt) <= set(y)
    lengths = [len(s) for s in load_ucr("JapaneseVowels", "test")[0]]
    assert (min(lengths), max(lengths)) == (7, 29)


def test_a_name_sktime_does_not_ship_is_refused_without_downloading(no_network):
    with pytest.raises(
        UCRDataError, match=r"name must be one of .*GunPoint.*got 'ECG200' \(nothing is downloaded\)"
    ):
        load_ucr("ECG200")
    with pytest.raises(UCRDataError, match="got 'gunpoint' .*did you mean 'GunPoint'"):
        load_ucr("gunpoint")  # spelt as the archive spells it
    with pytest.raises(UCRDataError, match="split must be 'train' or 'test'; got 'valid'"):
        load_ucr("GunPoint", "valid")


def test_without_sktime_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime.datasets", None)  # an import of it raises ImportError
    with pytest.raises(UCRDataError, match=r"needs sktime: pip install 'indrnn-np\[ucr\]'"):
        load_ucr("GunPoint")


def test_a_fit_on_gunpoint_beats_the_majority_class():
    from indrnn_np import IndRNNClassifier

    X, y = load_ucr("GunPoint", "train")
    Xt, yt = load_ucr("GunPoint", "test")
    clf = IndRNNClassifier(steps=300, random_state=0).fit(X, y)
    majority = max(np.mean(yt == c) for c in set(y))
    assert clf.score(Xt, yt) > majority + 0.05


def test_the_results_pages_table_is_the_committed_rows():
    """docs/ucr/ucr.md, which the results page includes, is what benchmarks/ucr.py renders from the
    committed rows (nothing typed by hand), and the page's targets read the same rows."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("ucr_bench", root / "benchmarks" / "ucr.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = json.loads((root / "docs" / "ucr" / "ucr.json").read_text())
    assert (root / "docs" / "ucr" / "ucr.md").read_text() == bench.table(rows)
    assert {r["data"] for r in rows} == set(bench.CLASSIFICATION + bench.REGRESSION)
    page = (root / "docs" / "site" / "results" / "ucr.md").read_text()
    by = {(r["data"], r["model"]): r for r in rows}
    for name in ("JapaneseVowels", "BasicMotions", "GunPoint"):  # "both targets met"
        mine, dtw, rocket = (by[(name, m)]["accuracy"] for m in ("indrnn", "1nn-dtw", "minirocket"))
        assert mine >= dtw and mine >= rocket - 0.03, name
    assert f"{by[('Tecator', 'indrnn derivatives=True')]['rmse']:.3f}" in page
    assert f"{by[('GunPoint', 'indrnn pool=' + repr('last'))]['accuracy']:.3f}" in page


def test_the_early_stopping_numbers_on_the_page_are_the_committed_ones():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    r = json.loads((root / "docs" / "ucr" / "early_stopping.json").read_text())
    page = (root / "docs" / "site" / "results" / "ucr.md").read_text()
    es, fixed = r["early_stopping"], r["fixed_steps"]
    assert f"stopped at step {es['stopped']['step']}" in page
    assert f"the weights of step {es['stopped']['reason'].split('step ')[-1].split(' ')[0]}" in page
    assert f"| {es['test_accuracy']:.3f} |" in page and f"| {fixed['test_accuracy']:.3f} |" in page
