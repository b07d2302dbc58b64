"""``bench compare --against PATH``: another checkout's rows in the same rounds, and before/after ratios."""

import json
import os
import shutil
import subprocess

import pytest

import indrnn_np
from indrnn_np.bench import compare
from indrnn_np.bench.report import render_compare
from indrnn_np.cli import main

HERE = os.path.dirname(os.path.dirname(os.path.abspath(indrnn_np.__file__)))

#: This project's rows that also run from the other checkout, as (table, implementation).
PAIRED = {
    ("layer", "cpu"),
    ("layer", "cpu (indrnn_np first)"),
    ("layer", "cpu (unfused)"),
    ("layer", "numpy"),
    ("step", "indrnn"),
    ("step", "indrnn (indrnn_np first)"),
}


def _copy_package(root):
    """This checkout's package copied into ``root`` (a checkout that is not a git one)."""
    shutil.copytree(
        os.path.join(HERE, "indrnn_np"), root / "indrnn_np", ignore=shutil.ignore_patterns("__pycache__")
    )


def _fake_checkout(root):
    """A folder that looks like a checkout (it has the worker) but holds no importable package."""
    (root / "indrnn_np" / "bench").mkdir(parents=True)
    (root / "indrnn_np" / "bench" / "worker.py").write_text("")
    return root


@pytest.mark.parametrize(
    "kind", ["missing", "not a checkout", "imports elsewhere", "a file", "itself", "empty"]
)
def test_a_bad_against_is_one_line_exit_2_before_any_work(tmp_path, capsys, monkeypatch, kind):
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.chdir(HERE)  # "" must not stand for the folder the command runs in
    path = {
        "missing": tmp_path / "nowhere",
        "not a checkout": tmp_path,
        "imports elsewhere": _fake_checkout(tmp_path / "fake"),
        "a file": tmp_path / "notes.txt",
        "itself": HERE,
        "empty": "",
    }[kind]
    out = tmp_path / "out"
    assert main(["bench", "compare", "--quick", "--out", str(out), "--against", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    start = "error: --against '':" if kind == "empty" else f"error: --against {path}:"
    assert len(err.splitlines()) == 1 and err.startswith(start), err
    assert not out.exists()
    reason = {"a file": "it is a file, not a folder", "itself": "this checkout itself", "empty": "empty"}
    assert reason.get(kind, "") in err
    if kind == "imports elsewhere":  # no __init__.py there: the package came from another folder
        assert "imports indrnn_np from" in err and str(path) not in err.split("from", 1)[1]


def test_a_worker_that_imported_another_package_is_refused(tmp_path):
    req = {"what": "layer", "impl": "numpy", "T": 3, "B": 1, "M": 2, "N": 2, "repeats": 1}
    with pytest.raises(compare.BenchError, match="imported indrnn_np from"):
        compare.ask(req, root=str(_fake_checkout(tmp_path / "fake")))


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_the_label_is_the_short_commit_marked_when_changed(tmp_path):
    assert compare._checkout_label(str(tmp_path)) == tmp_path.name  # not a git checkout: the folder's name
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert compare._checkout_label(str(tmp_path)) == head
    (tmp_path / "a.txt").write_text("2")
    assert compare._checkout_label(str(tmp_path)) == head + "+"


def test_each_of_our_requests_is_followed_by_the_same_one_at_the_other_checkout():
    sizes = dict(layer_sizes=((20, 2, 3, 4),), step_Ts=(10,), peers=True)
    plain = compare.requests(**sizes)
    both = compare.requests(**sizes, against="abc1234")
    ours = [r for r in plain if r[2].get("impl") in compare.OURS]
    assert len(both) == len(plain) + len(ours)
    for i, (table, key, req) in enumerate(both):
        if "at" in req:
            assert both[i - 1] == (table, key, {k: v for k, v in req.items() if k != "at"})
            assert req["at"] == "abc1234" and req["impl"] in compare.OURS
    labels = {compare._label(r) for _, _, r in both if "at" in r}
    assert labels == {
        "cpu@abc1234",
        "cpu@abc1234 (indrnn_np first)",
        "cpu@abc1234 (unfused)",
        "numpy@abc1234",
        "indrnn@abc1234",
        "indrnn@abc1234 (indrnn_np first)",
    }


def test_before_over_after_pairs_each_row_with_its_counterpart():
    layer = {"T": 20, "B": 2, "M": 3, "N": 4, "cpu_s": 2.0, "cpu@old_s": 3.0, "cpu_compile_s": 1.0}
    layer.update({"cpu (unfused)_s": 4.0, "cpu@old (unfused)_s": 2.0, "jax_s": 8.0, "numpy_s": 1.0})
    layer.update({"bound_bound_s": 1.0, "cpu@old_compile_s": 5.0})
    step = {"T": 10, "B": 50, "N": 128, "indrnn_s": 1.0, "indrnn@old_s": 1.5}
    res = {"layer": [compare._ratios(layer, "cpu")], "step": [compare._ratios(step, "indrnn")]}
    got = {(r["table"], r["impl"]): r for r in compare.before_after(res, "old")}
    assert set(got) == {("layer", "cpu"), ("layer", "cpu (unfused)"), ("step", "indrnn")}
    assert got["layer", "cpu"]["before_over_after"] == 1.5
    assert got["layer", "cpu (unfused)"]["before_over_after"] == 0.5
    assert got["step", "indrnn"]["before_over_after"] == 1.5 and got["step", "indrnn"]["size"] == "T=10"
    assert got["layer", "cpu"]["size"] == "(20, 2, 3, 4)"
    # the other checkout's times are not among the peers' ratios to ours
    assert "jax_over_ours" in layer and not any("@" in k for k in layer if k.endswith("_over_ours"))
    res.update(rounds=1, missing=[], against={"label": "old", "path": "/x"}, before_after=list(got.values()))
    text = render_compare(res, {}, "test machine")
    assert "| before (old) | after (this checkout) | before / after |" in text
    assert "| layer | (20, 2, 3, 4) | cpu | 3000.0 | 2000.0 | 1.50 |" in text


def test_bench_compare_labels_the_other_checkouts_rows_and_pairs_them(monkeypatch):
    """Through the rounds, with each process's answer faked: where each request ran, and the table."""
    asked = []

    def fake_ask(request, env=None, root=None):
        asked.append((request, root))
        if request["what"] == "bound":
            return {"bound_s": 1.0, "bandwidth_GBps": 1.0}
        return {"median_s": 2.0 if root else 1.0, "compile_s": 0.5}

    monkeypatch.setattr(compare, "ask", fake_ask)
    res = compare.bench_compare(
        rounds=2,
        peers=False,
        layer_sizes=((20, 2, 3, 4),),
        step_Ts=(10,),
        against={"root": "/x", "label": "abc"},
    )
    assert all("at" not in req for req, _ in asked)  # the mark stays here; the worker gets the usual request
    assert sum(root == "/x" for _, root in asked) == 2 * 6 and {root for _, root in asked} == {None, "/x"}
    assert res["against"] == {"label": "abc", "path": "/x"}
    assert {(r["table"], r["impl"]) for r in res["before_after"]} == PAIRED
    assert all(r["before_over_after"] == 2.0 for r in res["before_after"])
    assert res["layer"][0]["cpu@abc (unfused)_s"] == 2.0
    assert "before (abc)" in render_compare(res, {}, "test machine")


@pytest.mark.slow
def test_bench_compare_against_a_checkout_runs(tmp_path, capsys):
    """A copy of this checkout's package: every one of our rows has its counterpart and a ratio."""
    copy = tmp_path / "copy"
    _copy_package(copy)
    out = tmp_path / "out"
    argv = ["bench", "compare", "--quick", "--no-peers", "--repeats", "2", "--out", str(out)]
    assert main([*argv, "--against", str(copy)]) == 0
    data = json.loads((out / "compare.json").read_text())
    assert data["against"]["path"] == str(copy)
    label = data["against"]["label"]
    impls = {(r["table"], r["impl"]) for r in data["before_after"]}
    assert impls == PAIRED
    assert all(r["before_over_after"] > 0 for r in data["before_after"])
    assert f"before ({label})" in (out / "compare.md").read_text()


@pytest.mark.slow
def test_a_checkout_too_old_for_the_worker_is_one_line_exit_2_before_the_rounds(tmp_path, capsys):
    """A package without a name today's worker imports (here bench.train's adding_step): refused by the
    probes, naming it, before any round and any output folder."""
    copy = tmp_path / "old"
    _copy_package(copy)
    (copy / "indrnn_np" / "bench" / "train.py").write_text("")
    out = tmp_path / "out"
    argv = ["bench", "compare", "--quick", "--no-peers", "--out", str(out), "--against", str(copy)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "too old" in err and "adding_step" in err, err
    assert not out.exists()
