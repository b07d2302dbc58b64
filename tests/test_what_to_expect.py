"""benchmarks/what_to_expect.py: the What to expect page's table, the README's, and the JSON behind both."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("what_to_expect", ROOT / "benchmarks" / "what_to_expect.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["what_to_expect"] = mod
    spec.loader.exec_module(mod)
    return mod


wte = _load()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """--skip-reruns into a scratch folder, from the committed JSON: the tables as they should stand."""
    out = tmp_path_factory.mktemp("expect")
    (out / "what_to_expect.json").write_text(wte.JSON_PATH.read_text())
    assert wte.main(["--skip-reruns", "--out", str(out), "--no-readme"]) == 0
    return out


def test_skip_reruns_reads_every_committed_run(rebuilt):
    data = json.loads((rebuilt / "what_to_expect.json").read_text())
    recorded = [r for r in data["rows"] if r["kind"] == "recorded"]
    assert len(recorded) >= 10
    for row in recorded:
        assert row["status"] == "recorded", row
        assert row["wall_s"] > 0 and row["result"], row
        assert row["sources"], row
        for src in row["sources"]:
            assert (ROOT / src).is_file(), src


def test_a_missing_committed_run_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(wte, "ROOT", tmp_path)  # no committed run there
    with pytest.raises(FileNotFoundError):
        wte.read_run("docs/longer/adding_T1000")


def test_the_committed_json_is_current(rebuilt):
    """The committed JSON's recorded rows are what the committed runs say now, and its rows are the
    script's rows: nothing typed by hand, nothing stale."""
    committed = json.loads(wte.JSON_PATH.read_text())
    fresh = json.loads((rebuilt / "what_to_expect.json").read_text())
    assert committed == fresh, (
        "stale: run python benchmarks/what_to_expect.py --skip-reruns and commit docs/expect"
    )
    assert [r["name"] for r in committed["rows"]] == [e.name for e in wte.entries()]


def test_the_page_and_readme_tables_are_the_jsons(rebuilt):
    data = json.loads(wte.JSON_PATH.read_text())
    assert wte.MD_PATH.read_text() == wte.markdown(data) == (rebuilt / "what_to_expect.md").read_text()
    readme = wte.README.read_text()
    assert wte.readme_block(data) in readme
    page = (ROOT / "docs" / "site" / "expect.md").read_text()
    assert "```{include} ../expect/what_to_expect.md" in page
    assert "\nexpect\n" in (ROOT / "docs" / "site" / "index.md").read_text()  # in the toctree


def test_every_rerun_not_measured_says_so():
    data = json.loads(wte.JSON_PATH.read_text())
    for row in data["rows"]:
        if row["kind"] != "recorded":
            assert row["status"] in ("measured", "failed", wte.NOT_MEASURED), row
            if row["status"] == wte.NOT_MEASURED:
                assert row["wall_s"] is None and row["result"] == wte.NOT_MEASURED
            else:
                assert row["measured"]["cores"] and "load_start" in row["measured"]


def test_the_load_check_warns_and_refuses(monkeypatch, tmp_path, capsys):
    assert wte.load_warning(0.4, 2) is None
    msg = wte.load_warning(3.0, 2)
    assert msg and "1.50 per core" in msg and "not be a quiet machine" in msg
    monkeypatch.setattr(wte, "load_average", lambda: 8.0)
    with pytest.raises(SystemExit) as exc:
        wte.main(["--only", "gradcheck", "--out", str(tmp_path), "--no-readme"])
    assert exc.value.code == 3
    assert "WARNING" in capsys.readouterr().err
    assert not (tmp_path / "what_to_expect.json").exists()


def test_list_and_only_refuse_an_unknown_name(capsys, tmp_path):
    assert wte.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "quickstart" in out and "tests-fast" in out and "planned" in out
    for flag in ("--only", "--also"):
        with pytest.raises(SystemExit):
            wte.main([flag, "no-such-row", "--out", str(tmp_path), "--no-readme"])
    assert not (tmp_path / "what_to_expect.json").exists()


def test_the_suites_time_in_the_prose_is_cis():
    ci = wte.fmt_seconds(wte.read_ci()["wall_s"])
    assert f"The test suite took {ci} on CI's 2 cores" in wte.README.read_text()
    assert f"The whole suite took {ci} on CI's 2 cores" in (ROOT / "docs" / "site" / "expect.md").read_text()


def test_pytest_summary_parses_cis_line():
    # the committed record parses (whatever run it holds), and known lines parse to known numbers
    line, seconds, counts = wte.pytest_summary(wte.CI_RECORD.read_text())
    assert seconds > 0 and counts["passed"] > 0 and line in wte.CI_RECORD.read_text()
    ci = "1 failed, 977 passed, 16 skipped, 2 warnings in 920.03s (0:15:20)"
    _, seconds, counts = wte.pytest_summary(ci)
    assert seconds == pytest.approx(920.03)
    assert counts["passed"] == 977 and counts["failed"] == 1
    assert wte.tests_result(counts).startswith("978 tests run")
    text = "....\n======== 968 passed, 33 deselected in 301.50s (0:05:01) ========\n"
    assert wte.pytest_summary(text)[1] == pytest.approx(301.5)
    assert "33 deselected" in wte.tests_result(wte.pytest_summary(text)[2])


def test_formats():
    assert wte.fmt_metric("test_mse", 2.4070248e-05) == "test MSE 2.4e-5"
    assert wte.fmt_metric("test_error", 0.098) == "test accuracy 90.2 %"
    assert wte.fmt_metric("test_bpc", 1.69991) == "test 1.700 BPC"
    assert wte.fmt_seconds(None) == wte.NOT_MEASURED
    assert wte.fmt_seconds(920.03) == "15 min 20 s"
    assert wte.fmt_seconds(8158) == "2.3 h"


def test_the_result_parser_on_a_real_short_run(tmp_path):
    """A real `train adding --T 10 --steps 20`: the rerun's parser reads its summary.json, and the
    rerun machinery times it and fills the row."""
    entry = wte.Entry(
        "t", "g", "w", "c", "p", "rerun",
        argv=["-m", "indrnn_np", "train", "adding", "--T", "10", "--steps", "20", "--out", "{tmp}/r"],
        parse=wte.result_train("r"),
    )  # fmt: skip
    row = wte.rerun(entry, tmp_path, timeout=600, log=lambda *a, **k: None, logs=tmp_path / "logs")
    assert row["status"] == "measured" and row["wall_s"] > 0, row
    logged = (tmp_path / "logs" / "t.log").read_text()
    assert logged.startswith("$ ") and "exit 0" in logged and str(tmp_path) not in logged
    assert row["result"].startswith("test MSE ") and "after 20 steps" in row["result"]
    assert row["result"] == wte.result_train("r")("", tmp_path)  # read from the run's summary.json
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert row["result"].startswith(wte.fmt_metric("test_mse", summary["test_mse"]))
    assert wte.last_line("step 1\r50%\r100%\n\n") == "100%"
    failing = wte.Entry("f", "g", "w", "c", "p", "rerun", argv=["-c", "raise SystemExit('broken here')"])
    row = wte.rerun(failing, tmp_path, timeout=60, log=lambda *a, **k: None)
    assert row["status"] == "failed" and "broken here" in row["result"]
