"""What to expect: every documented command and experiment, its wall time on this machine and its result.

One script makes the table of ``docs/site/expect.md`` (and the short one in the README):

* the short commands (the README's quick start, ``gradcheck``, ``dynamics``, ``evaluate``, ``predict``,
  the ``bench`` subcommands, every tutorial in its short and its full form, the ``benchmarks/*.py``
  that the pages quote) are **rerun** here, one run each, and timed from start to exit (the whole
  process: imports, Numba's compile or cache load, the work, writing files), their result parsed
  from the command's own output or from the run folder's ``summary.json``;
* the long experiments (T = 1000 and 5000, MNIST, PTB, the study, the 21-layer networks) are **read**
  from their committed runs (``summary.json``, ``evaluation.json``, ``metrics.csv``): the wall time
  the run recorded, its steps and its final metric. Nothing is typed by hand;
* the full test suite's time is the last CI run's pytest summary line, kept in
  ``docs/expect/ci_pytest.txt`` with its source.

It writes ``docs/expect/what_to_expect.json``, the Markdown table ``docs/expect/what_to_expect.md``
(which the page includes), the README's short table (between its ``what-to-expect`` markers) and
each rerun's whole output, ``docs/expect/logs/NAME.log`` (the fast test subset's with its 20 slowest
tests).
A row not rerun yet says "not yet measured".

Usage::

    python benchmarks/what_to_expect.py                 # every rerun (see --list), then the tables
    python benchmarks/what_to_expect.py --list          # the rows, which are rerun, and the time planned
    python benchmarks/what_to_expect.py --only gradcheck,dynamics   # those reruns only; the rest kept
    python benchmarks/what_to_expect.py --only tests-fast           # the fast test subset (opt-in)
    python benchmarks/what_to_expect.py --also tests-fast           # every default rerun and that one
    python benchmarks/what_to_expect.py --skip-reruns   # the tables again from the JSON and the runs

Times mean something only on a quiet machine: it refuses to rerun anything when the 1-minute load
average is above 0.5 per core (``--allow-load`` runs anyway and marks the rows), and records the
machine (cores, CPU model, load average at start and end), the date and the git commit.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPECT = ROOT / "docs" / "expect"
JSON_PATH = EXPECT / "what_to_expect.json"
MD_PATH = EXPECT / "what_to_expect.md"
CI_RECORD = EXPECT / "ci_pytest.txt"
README = ROOT / "README.md"
README_START = "<!-- what-to-expect: start (written by benchmarks/what_to_expect.py) -->"
README_END = "<!-- what-to-expect: end -->"
NOT_MEASURED = "not yet measured"
LOAD_LIMIT = 0.5  # the 1-minute load average per core above which times are not quiet
PY = "python"  # as the commands are documented; they run with sys.executable


# ----------------------------------------------------------------------------- formatting


def fmt_metric(key: str, value: float) -> str:
    """One test metric as the pages write it."""
    if key == "test_mse":
        return "test MSE " + re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{value:.2g}").replace("e+", "e")
    if key == "test_error":
        return f"test accuracy {100 * (1 - value):.1f} %"
    if key == "test_bpc":
        return f"test {value:.3f} BPC"
    return f"{key} {value:.4g}"


def fmt_seconds(s: float | None) -> str:
    """A wall time for the table: seconds under 2 minutes, then minutes, then hours."""
    if s is None:
        return NOT_MEASURED
    if s < 120:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 20 * 60:
        return (
            f"{int(s // 60)} min {round(s % 60):02d} s"
            if round(s % 60) < 60
            else f"{int(s // 60) + 1} min 00 s"
        )
    if s < 2 * 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def last_line(text: str) -> str:
    """The last non-empty line of a command's output (progress bars' carriage returns dropped)."""
    lines = [ln.split("\r")[-1].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else ""


PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+ in ([\d.]+)s(?: \([\d:]+\))?)\s*=*$")


def pytest_summary(text: str) -> tuple[str, float, dict] | None:
    """pytest's last summary line ('977 passed, 1 failed, 16 skipped, 2 warnings in 920.03s (0:15:20)'):
    the line, its seconds and the counts by outcome; None if there is none."""
    found = None
    for ln in text.splitlines():
        m = PYTEST_SUMMARY.match(ln.strip())
        if m:
            found = m
    if found is None:
        return None
    counts = {w: int(n) for n, w in re.findall(r"(\d+) (\w+)", found.group(1).split(" in ")[0])}
    return found.group(1), float(found.group(2)), counts


def tests_result(counts: dict) -> str:
    run = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("errors", 0) + counts.get("error", 0)
    parts = [f"{run} tests run: {counts.get('passed', 0)} passed"]
    for k in ("failed", "error", "errors", "skipped", "deselected"):
        if counts.get(k):
            parts.append(f"{counts[k]} {k}")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- committed runs


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def metric_of(d: dict) -> tuple[str, float] | None:
    for k, v in d.items():
        if k.startswith("test_") and isinstance(v, (int, float)):
            return k, float(v)
    return None


def read_run(rel: str) -> dict:
    """A committed run folder: its recorded wall time, steps and final metric (the full test set's,
    from evaluation.json, where the run was evaluated). summary.json where the run ended; else the
    last row of metrics.csv (a run stopped before its last step). Raises FileNotFoundError if the run
    holds neither."""
    d = ROOT / rel
    sources = []
    if (d / "summary.json").is_file():
        s = read_json(d / "summary.json")
        sources.append(f"{rel}/summary.json")
        wall, steps, metric = s["wall_s"], s["steps"], metric_of(s)
        ended = True
    elif (d / "metrics.csv").is_file():
        with open(d / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise FileNotFoundError(f"{rel}/metrics.csv has no rows")
        last = rows[-1]
        sources.append(f"{rel}/metrics.csv")
        wall, steps = float(last["elapsed_s"]), int(last["step"])
        metric = next(((k, float(v)) for k, v in last.items() if k.startswith("test_") and v), None)
        ended = False
    else:
        raise FileNotFoundError(f"{rel}: neither summary.json nor metrics.csv")
    full = False
    if (d / "evaluation.json").is_file():
        e = read_json(d / "evaluation.json")
        if e.get("step", steps) == steps and metric_of(e):
            metric, full = metric_of(e), True
            sources.append(f"{rel}/evaluation.json")
    result = fmt_metric(*metric) if metric else "no test metric recorded"
    result += " on the full test set" if full else ""
    result += f" after {steps:,} steps" + ("" if ended else " (stopped there)")
    return {"wall_s": wall, "result": result, "sources": sources, "steps": steps}


def read_runs(rels: list[str], label: Callable[[str], str]) -> dict:
    """Several committed runs: the sum of their recorded wall times, each one's result."""
    parts, total, sources = [], 0.0, []
    for rel in rels:
        r = read_run(rel)
        total += r["wall_s"]
        sources += r["sources"]
        parts.append(f"{label(rel)}: {r['result'].split(' after ')[0].replace(' on the full test set', '')}")
    return {
        "wall_s": total,
        "result": "; ".join(parts),
        "sources": sources,
        "wall_note": f"{len(rels)} runs, summed",
    }


def read_study(rel: str) -> dict:
    """A study's folder: the sum of its runs' wall times; IndRNN's test MSE at each T (each seed's,
    seed 0 first) and the best the other networks reached at that T."""
    d = ROOT / rel
    runs = sorted(p.name for p in d.iterdir() if (p / "summary.json").is_file())
    if not runs:
        raise FileNotFoundError(f"{rel}: no run with a summary.json")
    total, sources = 0.0, []
    indrnn: dict[int, list[float]] = {}
    others: dict[int, float] = {}
    for name in runs:
        s = read_json(d / name / "summary.json")
        total += s["wall_s"]
        sources.append(f"{rel}/{name}/summary.json")
        T, m = s["config"]["T"], metric_of(s)
        if m is None:
            continue
        if name.startswith("indrnn_"):
            indrnn.setdefault(T, []).append(m[1])
        else:
            others[T] = min(others.get(T, float("inf")), m[1])

    def mse(v: float) -> str:
        return fmt_metric("test_mse", v).removeprefix("test MSE ")

    res = "test MSE of IndRNN: " + ", ".join(
        f"T = {T}: {' / '.join(mse(v) for v in vs)}" for T, vs in sorted(indrnn.items())
    )
    if others:
        res += "; the best of the others: " + ", ".join(
            f"T = {T}: {mse(v)}" for T, v in sorted(others.items())
        )
    return {"wall_s": total, "result": res, "sources": sources, "wall_note": f"{len(runs)} runs, summed"}


def read_ci() -> dict:
    text = CI_RECORD.read_text()
    parsed = pytest_summary(text)
    if parsed is None:
        raise FileNotFoundError(f"{CI_RECORD.relative_to(ROOT)} holds no pytest summary line")
    _, seconds, counts = parsed
    return {
        "wall_s": seconds,
        "result": tests_result(counts),
        "sources": [str(CI_RECORD.relative_to(ROOT))],
        "wall_note": "CI's pytest summary",
    }


def read_own_sequences() -> dict:
    rel = "docs/own_sequences/own_sequences.json"
    d = read_json(ROOT / rel)
    rows = d["rows"]
    total = sum(r["estimator_s"] + r["cli_s"] for r in rows)
    res = ", ".join(
        f"{'bidirectional' if r['bidirectional'] else 'one direction'}: accuracy {r['estimator_accuracy']:.3f}"
        for r in rows
    )
    return {"wall_s": total, "result": res, "sources": [rel], "wall_note": "its fits, summed"}


def read_ucr() -> dict:
    rel = "docs/ucr/ucr.json"
    rows = read_json(ROOT / rel)
    mine = {r["data"]: r for r in rows if r["model"] == "indrnn"}
    res = "IndRNN defaults: " + ", ".join(
        f"{d} {'RMSE' if 'rmse' in r else 'accuracy'} {r.get('rmse', r.get('accuracy')):.3f}"
        for d, r in mine.items()
    )
    return {
        "wall_s": sum(r["fit_predict_s"] for r in rows),
        "result": res,
        "sources": [rel],
        "wall_note": f"{len(rows)} fits, summed",
    }


# ----------------------------------------------------------------------------- reruns


def result_train(run: str) -> Callable[[str, Path], str]:
    def parse(out: str, tmp: Path) -> str:
        s = read_json(tmp / run / "summary.json")
        return f"{fmt_metric(*metric_of(s))} after {s['steps']:,} steps ({s['wall_s']:.1f} s of training)"

    return parse


def result_evaluation(run: str) -> Callable[[str, Path], str]:
    def parse(out: str, tmp: Path) -> str:
        e = read_json(tmp / run / "evaluation.json")
        return f"{fmt_metric(*metric_of(e))} on the full test set, step {e['step']:,}"

    return parse


def result_neurons(out: str, tmp: Path) -> str:
    d = read_json(tmp / "neurons" / "neurons.json")
    return (
        f"layer 2's accumulator: neuron {d['neuron']} (R² {d['r2']:.2f}); alone, with its output refitted: "
        f"{fmt_metric('test_mse', d['one_neuron_test_mse'])} (the whole network: "
        f"{fmt_metric('test_mse', d['full_test_mse'])})"
    )


def result_last(out: str, tmp: Path) -> str:
    """The last line of the output that is not a list of the files written (or the last line)."""
    kept = "\n".join(
        ln for ln in out.splitlines() if not ln.strip().lower().startswith(("wrote ", "written "))
    )
    return last_line(kept) or last_line(out)


def result_lines(pattern: str) -> Callable[[str, Path], str]:
    """The output's lines that match ``pattern`` (regex), joined; the last line if none does."""

    def parse(out: str, tmp: Path) -> str:
        hits = [ln.strip() for ln in out.splitlines() if re.search(pattern, ln)]
        return "; ".join(hits) if hits else last_line(out)

    return parse


def result_tutorial(out: str, tmp: Path) -> str:
    return "ran to the end, every check held"


def result_pytest(out: str, tmp: Path) -> str:
    parsed = pytest_summary(out)
    return tests_result(parsed[2]) if parsed else last_line(out)


def setup_arrays(tmp: Path) -> None:
    """The files the own-sequences commands read: mine.npz (padded x, y, lengths) and new.npz."""
    import numpy as np

    from indrnn_np.tasks.arrays import marker_sequences, pad_sequences

    X, y = marker_sequences(1000, min_length=10, max_length=80)
    Xn, _ = marker_sequences(300, min_length=10, max_length=80, seed=1)
    x, L = pad_sequences(X)
    xn, Ln = pad_sequences(Xn)
    np.savez(tmp / "mine.npz", x=x, y=y, lengths=L)
    np.savez(tmp / "new.npz", x=xn, lengths=Ln)


def setup_copy(rel: str, name: str) -> Callable[[Path], None]:
    """A copy of a committed run (``evaluate`` writes evaluation.json into the run it reads)."""

    def setup(tmp: Path) -> None:
        shutil.copytree(ROOT / rel, tmp / name)

    return setup


@dataclass
class Entry:
    name: str
    group: str
    what: str
    command: str  # as the docs write it
    page: str  # where the docs show it (relative to docs/site)
    kind: str  # "rerun", "opt-in" (a rerun only with --only), "recorded" (read from committed files)
    plan_s: float = 0.0  # time planned for a rerun (from the docs' own figures), to size the whole run
    argv: list[str] = field(default_factory=list)  # what runs; {tmp} is the scratch folder
    cwd: str = "."
    env: dict = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    needs: str | None = None  # a rerun whose files this one reads (run first, in the same folder)
    parse: Callable[[str, Path], str] = result_last
    read: Callable[[], dict] | None = None  # for "recorded"
    short: str = ""  # the command as the README's short table writes it (the whole command if empty)


def _m(*args: str) -> list[str]:
    return ["-m", "indrnn_np", *args]


#: The time planned for a tutorial's full form where the tutorials' README gives more than the default:
#: 04 and 05 train the T = 100 network (about 40 s each), 08 its classifiers (about a minute),
#: 10 fits on UCR data and a grid search (a guess: the slowest).
FULL_TUTORIAL_PLAN_S = {"04": 90, "05": 90, "08": 120, "10": 600}


def tutorials() -> list[Path]:
    return sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def entries() -> list[Entry]:
    E = []
    add = E.append
    # -- getting started
    add(
        Entry(
            "quickstart",
            "Getting started",
            "the quick start: adding problem, T = 100, 2 × 128",
            f"{PY} -m indrnn_np train adding",
            "howto/train-cli.md",
            "rerun",
            60,
            _m("train", "adding", "--out", "{tmp}/adding_T100"),
            parse=result_train("adding_T100"),
        )
    )
    add(
        Entry(
            "tests",
            "Getting started",
            "the test suite (as CI runs it)",
            f"{PY} -m pytest -q",
            "index.md",
            "recorded",
            read=read_ci,
        )
    )
    add(
        Entry(
            "tests-fast",
            "Getting started",
            "the fast test subset (no tests marked slow)",
            f'{PY} -m pytest -q -m "not slow"',
            "index.md",
            "opt-in",
            600,
            ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "--durations=20"],
            parse=result_pytest,
        )
    )
    add(
        Entry(
            "gradcheck",
            "Getting started",
            "every gradient of the layer against finite differences",
            f"{PY} -m indrnn_np gradcheck",
            "results/gradients.md",
            "rerun",
            30,
            _m("gradcheck"),
            parse=lambda out, tmp: f"gradient checks: {result_last(out, tmp)}",
        )
    )
    add(
        Entry(
            "dynamics",
            "Getting started",
            "Eq. 4 in numbers and the u constraint in training",
            f"{PY} -m indrnn_np dynamics --out docs/img/dynamics --overwrite",
            "concepts/constraint.md",
            "rerun",
            60,
            _m("dynamics", "--out", "{tmp}/dynamics"),
            parse=result_lines(r"final loss|DIVERGED|diverged"),  # each network's line
        )
    )
    # -- training, long: the committed runs
    for name, what, cmd, rel, page in [
        (
            "adding-T1000",
            "adding problem, T = 1000, 30,000 steps",
            "train adding --T 1000 --batch 32 --steps 30000 --eval-every 200 --out docs/longer/adding_T1000",
            "docs/longer/adding_T1000",
            "results/longer.md",
        ),
        (
            "adding-T5000-seed0",
            "adding problem, T = 5000, seed 0 (resumed with --steps 60000)",
            "train adding --T 5000 --batch 32 --steps 30000 --eval-every 200 --checkpoint-every 200 "
            "--out docs/longer/adding_T5000",
            "docs/longer/adding_T5000",
            "results/longer.md",
        ),
        (
            "adding-T5000-seed1",
            "adding problem, T = 5000, seed 1",
            "train adding --T 5000 --batch 32 --steps 30000 --seed 1 --eval-every 200 --checkpoint-every 200 "
            "--out docs/longer/adding_T5000_seed1",
            "docs/longer/adding_T5000_seed1",
            "results/longer.md",
        ),
        (
            "adding-T5000-seed2",
            "adding problem, T = 5000, seed 2",
            "train adding --T 5000 --batch 32 --steps 30000 --seed 2 --eval-every 200 --checkpoint-every 200 "
            "--out docs/longer/adding_T5000_seed2",
            "docs/longer/adding_T5000_seed2",
            "results/longer.md",
        ),
        (
            "rowmnist",
            "row-MNIST (4,000-image subset), 6 × 128",
            "train rowmnist --out runs/rowmnist",
            "docs/runs/rowmnist",
            "results/real-data.md",
        ),
        (
            "mnist",
            "pixel MNIST, T = 784",
            "train mnist --out runs/mnist",
            "docs/runs/mnist",
            "results/real-data.md",
        ),
        (
            "pmnist",
            "permuted pixel MNIST, T = 784",
            "train pmnist --out runs/pmnist",
            "docs/runs/pmnist",
            "results/real-data.md",
        ),
        (
            "ptb-char",
            "char-level Penn Treebank, 3 × 256",
            "train ptb-char --out runs/ptb-char",
            "docs/runs/ptb-char",
            "results/real-data.md",
        ),
    ]:
        short = {
            "adding-T1000": "train adding --T 1000 --batch 32 --steps 30000",
            "adding-T5000-seed0": "train adding --T 5000 --batch 32 --steps 60000",
            "adding-T5000-seed1": "train adding --T 5000 --batch 32 --steps 30000 --seed 1",
            "adding-T5000-seed2": "train adding --T 5000 --batch 32 --steps 30000 --seed 2",
        }.get(name, cmd)
        add(
            Entry(
                name,
                "Training: the long runs (read from their committed runs)",
                what,
                f"{PY} -m indrnn_np {cmd}",
                page,
                "recorded",
                read=lambda rel=rel: read_run(rel),
                short=f"{PY} -m indrnn_np {short}",
            )
        )
    deeper = ["dense-indrnn", "indrnn-bn", "lstm", "res-indrnn", "rnn-tanh"]
    add(
        Entry(
            "depth",
            "Training: the long runs (read from their committed runs)",
            "21 layers on row-MNIST: five networks, 15,000 steps each",
            f"{PY} -m indrnn_np depth --out docs/deeper",
            "results/deeper.md",
            "recorded",
            read=lambda: read_runs([f"docs/deeper/runs/{n}" for n in deeper], lambda r: r.rsplit("/", 1)[1]),
        )
    )
    add(
        Entry(
            "study",
            "Training: the long runs (read from their committed runs)",
            "the adding-problem study: RNN, IRNN, LSTM, IndRNN at T = 100 .. 5000",
            f"{PY} -m indrnn_np study adding --out docs/study/adding",
            "results/adding.md",
            "recorded",
            read=lambda: read_study("docs/study/adding"),
        )
    )
    add(
        Entry(
            "study-seeds",
            "Training: the long runs (read from their committed runs)",
            "the study at T = 100, 500, 1000, three seeds each",
            f"{PY} -m indrnn_np study adding --T 100 500 1000 --seeds 3 --workers 1 --out docs/study/adding_seeds",
            "results/adding.md",
            "recorded",
            read=lambda: read_study("docs/study/adding_seeds"),
        )
    )
    # -- the other commands, rerun
    g = "Other commands (rerun)"
    add(
        Entry(
            "study-quick",
            g,
            "the study's toy version",
            f"{PY} -m indrnn_np study adding --quick --out /tmp/study",
            "results/adding.md",
            "rerun",
            60,
            _m("study", "adding", "--quick", "--out", "{tmp}/study"),
            parse=result_lines(r"^\s*indrnn_T"),  # IndRNN's runs (a toy: not meant to learn)
        )
    )
    add(
        Entry(
            "train-arrays",
            g,
            "your own sequences from an .npz (1,000 marker sequences)",
            f"{PY} -m indrnn_np train arrays --data mine.npz --hidden 64 --out runs/mine",
            "howto/own-sequences.md",
            "rerun",
            60,
            _m("train", "arrays", "--data", "{tmp}/mine.npz", "--hidden", "64", "--out", "{tmp}/mine"),
            setup=setup_arrays,
            parse=result_train("mine"),
        )
    )
    add(
        Entry(
            "predict",
            g,
            "predictions of that run for 300 new sequences",
            f"{PY} -m indrnn_np predict --run runs/mine --data new.npz --out predictions.csv",
            "howto/own-sequences.md",
            "rerun",
            15,
            _m("predict", "--run", "{tmp}/mine", "--data", "{tmp}/new.npz", "--out", "{tmp}/predictions.csv"),
            needs="train-arrays",
        )
    )
    add(
        Entry(
            "evaluate",
            g,
            "the T = 1000 run on its full test set",
            f"{PY} -m indrnn_np evaluate --run docs/longer/adding_T1000",
            "results/longer.md",
            "rerun",
            60,
            _m("evaluate", "--run", "{tmp}/adding_T1000"),
            setup=setup_copy("docs/longer/adding_T1000", "adding_T1000"),
            parse=result_evaluation("adding_T1000"),
        )
    )
    add(
        Entry(
            "neurons",
            g,
            "a trained network's neurons (T = 1000)",
            f"{PY} -m indrnn_np neurons --run docs/study/adding/indrnn_T1000 --out docs/img/neurons_T1000",
            "howto/neurons.md",
            "rerun",
            30,
            _m("neurons", "--run", "docs/study/adding/indrnn_T1000", "--out", "{tmp}/neurons"),
            parse=result_neurons,
        )
    )
    add(
        Entry(
            "depth-report",
            g,
            "the 21-layer figures and table from the committed runs",
            f"{PY} -m indrnn_np depth --out docs/deeper --report-only",
            "results/deeper.md",
            "rerun",
            30,
            [
                "-c",
                "import shutil, sys, runpy; shutil.copytree('docs/deeper', sys.argv[1]); "
                "sys.argv = ['indrnn_np', 'depth', '--out', sys.argv[1], '--report-only']; "
                "runpy.run_module('indrnn_np', run_name='__main__')",
                "{tmp}/deeper",
            ],
        )
    )
    add(
        Entry(
            "curves",
            g,
            "the T = 1000 and 5000 runs' curves on one figure",
            f"{PY} -m indrnn_np curves docs/longer/adding_T1000 ... --out docs/longer/curves.png",
            "results/longer.md",
            "rerun",
            20,
            _m(
                "curves",
                "docs/longer/adding_T1000",
                "docs/longer/adding_T5000",
                "docs/longer/adding_T5000_seed2",
                "--out",
                "{tmp}/curves.png",
            ),
        )
    )
    # -- benchmarks
    g = "Benchmarks (rerun)"
    for sub, what, plan, kind in [
        ("layer", "one layer, per backend: forward, backward, recurrence alone", 120, "rerun"),
        ("train", "a training step, part by part", 120, "rerun"),
        ("batchnorm", "batch norm: NumPy reference vs Numba", 120, "rerun"),
        ("cuda-static", "the CUDA kernels' PTX, statically (needs ptxas)", 60, "rerun"),
        ("scan", "the time loop against the scan over time", 600, "opt-in"),
        ("compare", "against JAX, PyTorch and the machine's bound (needs them)", 900, "opt-in"),
        ("contention", "the training step quiet and beside a busy process", 900, "opt-in"),
    ]:
        argv = _m("bench", sub) + (
            ["--out", "{tmp}/bench"] if sub in ("scan", "compare", "contention") else []
        )
        add(
            Entry(
                f"bench-{sub}",
                g,
                what,
                f"{PY} -m indrnn_np bench {sub}",
                "results/performance.md",
                kind,
                plan,
                argv,
            )
        )
    add(
        Entry(
            "scan-precision",
            g,
            "the scan against the loop in float64, T = 10^3 .. 10^6",
            f"{PY} benchmarks/scan_precision.py",
            "results/performance.md",
            "rerun",
            90,
            ["benchmarks/scan_precision.py"],
        )
    )
    add(
        Entry(
            "sensor-scaling",
            g,
            "raw sensor units against SequenceScaler",
            f"{PY} benchmarks/sensor_scaling.py",
            "howto/own-sequences.md",
            "opt-in",
            300,
            ["benchmarks/sensor_scaling.py"],
            parse=result_lines(r"accuracy"),
        )
    )
    add(
        Entry(
            "own-sequences",
            "Benchmarks (read from their committed results)",
            "variable lengths: the estimator and train arrays + predict, both directions",
            f"{PY} benchmarks/own_sequences.py docs/own_sequences",
            "results/own-sequences.md",
            "recorded",
            read=read_own_sequences,
        )
    )
    add(
        Entry(
            "ucr",
            "Benchmarks (read from their committed results)",
            "IndRNN against 1-NN, MiniRocket and an LSTM on five UCR/UEA data sets (needs sktime)",
            f"{PY} benchmarks/ucr.py --indrnn \"pool='last'\" --indrnn \"pool='mean'\" --out docs/ucr/ucr.json",
            "results/ucr.md",
            "recorded",
            read=read_ucr,
        )
    )
    # -- tutorials, short and full
    for fast in (True, False):  # all short forms, then all full ones: one table each
        for path in tutorials():
            form = "short" if fast else "full"
            env = {"INDRNN_TUTORIAL_FAST": "1"} if fast else {}
            prefix = "INDRNN_TUTORIAL_FAST=1 " if fast else ""
            add(
                Entry(
                    f"tutorial-{path.name[:2]}-{form}",
                    f"Tutorials ({form})",
                    f"{path.stem}",
                    f"cd tutorials && {prefix}{PY} {path.name}",
                    "tutorials/index.md",
                    "rerun",
                    30 if fast else FULL_TUTORIAL_PLAN_S.get(path.name[:2], 45),
                    [path.name],
                    cwd="tutorials",
                    env=env,
                    parse=result_tutorial,
                )
            )
    return E


# ----------------------------------------------------------------------------- the machine


def load_average() -> float:
    return os.getloadavg()[0]


def load_warning(load1: float, cores: int) -> str | None:
    """A loud warning when the 1-minute load average is above LOAD_LIMIT per core, else None."""
    if load1 > LOAD_LIMIT * cores:
        return (
            f"the 1-minute load average is {load1:.2f} on {cores} cores ({load1 / cores:.2f} per core, above "
            f"{LOAD_LIMIT}): other work is running, and the times measured now would not be a quiet machine's"
        )
    return None


def cpu_model() -> str:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head.stdout.strip()[:12] + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "python": sys.version.split()[0]}


# ----------------------------------------------------------------------------- running


def rerun(entry: Entry, tmp: Path, timeout: float, log=print, logs: Path | None = None) -> dict:
    """Run one entry's command once, timed from start to exit; its row. With ``logs``, its whole output
    goes to ``logs/NAME.log``."""
    if entry.setup is not None:
        entry.setup(tmp)
    argv = [sys.executable] + [a.replace("{tmp}", str(tmp)) for a in entry.argv]
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "INDRNN_TUTORIAL_OUT": str(tmp / "tutorial_output"),
        **entry.env,
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    if not entry.env.get("INDRNN_TUTORIAL_FAST"):
        env.pop("INDRNN_TUTORIAL_FAST", None)
    log(f"what-to-expect: {entry.name}: {' '.join(argv)}")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            argv, cwd=ROOT / entry.cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "wall_s": None, "result": f"did not end within {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    out = p.stdout + ("\n" + p.stderr if p.stderr else "")
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        head = f"$ {' '.join(argv)}\n# cwd {entry.cwd}, exit {p.returncode}, {wall:.1f} s\n"
        (logs / f"{entry.name}.log").write_text((head + out).replace(str(tmp), "$TMP"))
    if p.returncode != 0:
        msg = f"exit {p.returncode}: {last_line(out)}".replace(f"{tmp}{os.sep}", "")
        return {"status": "failed", "wall_s": wall, "result": msg}
    try:
        result = entry.parse(p.stdout, tmp)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        result = f"ran (exit 0), result not parsed: {exc}"
    result = result.replace(f"{tmp}{os.sep}", "").replace(str(tmp), ".")  # the scratch folder's name
    result = re.sub(r"[ \t]+", " ", result)
    return {"status": "measured", "wall_s": wall, "result": result}


def recorded_row(entry: Entry) -> dict:
    r = entry.read()
    return {"status": "recorded", **r}


def base_row(entry: Entry) -> dict:
    return {
        "name": entry.name,
        "group": entry.group,
        "what": entry.what,
        "command": entry.command,
        "short": entry.short or entry.command,
        "page": entry.page,
        "kind": entry.kind,
    }


def build(
    selected: set[str],
    previous: dict,
    *,
    timeout: float,
    allow_load: bool,
    log=print,
    logs: Path | None = None,
) -> dict:
    """The JSON: recorded rows read again, the selected reruns run, the other reruns kept from
    ``previous`` (or "not yet measured")."""
    es = entries()
    by_name = {e.name: e for e in es}
    old = {r["name"]: r for r in previous.get("rows", [])}
    session = None
    results: dict[str, dict] = {}
    if selected:
        cores = os.cpu_count() or 1
        start = load_average()
        warning = load_warning(start, cores)
        if warning:
            log("!" * 100 + f"\nwhat-to-expect: WARNING: {warning}\n" + "!" * 100, file=sys.stderr)
            if not allow_load:
                raise SystemExit(3)
        session = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(),
            **machine(),
            "load_start": round(start, 2),
            "runs": 1,
        }
        if warning:
            session["load_warning"] = warning
        with tempfile.TemporaryDirectory(prefix="what_to_expect_") as t:
            tmp = Path(t)
            for e in es:
                if e.name not in selected:
                    continue
                if e.needs and e.needs not in results and e.needs not in selected:
                    need = by_name[e.needs]
                    if need.setup is not None:
                        need.setup(tmp)
                    rerun(Entry(**{**need.__dict__, "setup": None}), tmp, timeout, log=log)
                results[e.name] = rerun(e, tmp, timeout, log=log, logs=logs)
                log(
                    f"what-to-expect: {e.name}: {fmt_seconds(results[e.name]['wall_s'])}, {results[e.name]['result']}"
                )
        session["load_end"] = round(load_average(), 2)
        end_warning = load_warning(session["load_end"], cores)
        if end_warning and not warning:  # something started while the reruns ran
            session["load_warning"] = f"at the end: {end_warning}"
            log(
                "!" * 100 + f"\nwhat-to-expect: WARNING at the end: {end_warning}\n" + "!" * 100,
                file=sys.stderr,
            )
        for r in results.values():
            r["measured"] = session
    rows = []
    for e in es:
        row = base_row(e)
        if e.kind == "recorded":
            row.update(recorded_row(e))
        elif e.name in results:
            row.update(results[e.name])
        elif e.name in old and old[e.name].get("status") in ("measured", "failed"):
            row.update(
                {k: v for k, v in old[e.name].items() if k in ("status", "wall_s", "result", "measured")}
            )
        else:
            row.update({"status": NOT_MEASURED, "wall_s": None, "result": NOT_MEASURED})
        rows.append(row)
    return {
        "about": "written by benchmarks/what_to_expect.py: reruns timed once each (whole process, start to exit); "
        "recorded rows read from the committed runs named in 'sources'",
        "rows": rows,
    }


# ----------------------------------------------------------------------------- the tables


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def wall_cell(row: dict) -> str:
    if row["status"] == NOT_MEASURED:
        return f"*{NOT_MEASURED}*"
    w = fmt_seconds(row["wall_s"]) if row.get("wall_s") is not None else "—"
    if row["status"] == "failed":
        return f"{w} (failed)"
    note = row.get("wall_note")
    return f"{w} ({note})" if note else w


def result_cell(row: dict) -> str:
    if row["status"] == NOT_MEASURED:
        return f"*{NOT_MEASURED}*"
    return cell(row["result"])


def markdown(data: dict) -> str:
    """The page's table, group by group, and where each number comes from."""
    out = [
        "<!-- written by benchmarks/what_to_expect.py from docs/expect/what_to_expect.json: do not edit -->",
        "",
    ]
    group = None
    sessions = {}
    for row in data["rows"]:
        if row["group"] != group:
            group = row["group"]
            out += ["", f"**{group}**", "", "| command | what | wall time | result |", "|---|---|---|---|"]
        if row.get("measured"):
            m = row["measured"]
            sessions[(m["date"], m["commit"])] = m
        how = " (opt-in)" if row["kind"] == "opt-in" else ""
        out.append(
            f"| `{cell(row['command'])}`{how} | {cell(row['what'])} | {wall_cell(row)} | {result_cell(row)} |"
        )
    out += ["", "**Where the numbers come from**", ""]
    if sessions:
        for m in sessions.values():
            warn = " — **not quiet**: " + m["load_warning"] if m.get("load_warning") else ""
            out.append(
                f"- Reruns of {m['date']} at commit `{m['commit']}`: {m['cores']} cores, {m['cpu']}, Python "
                f"{m['python']}, 1-minute load average {m['load_start']} at the start and {m['load_end']} at "
                f"the end; one run each{warn}."
            )
    else:
        out.append(
            f"- The reruns are *{NOT_MEASURED}*: `python benchmarks/what_to_expect.py` on a quiet machine."
        )
    srcs = sorted({s for row in data["rows"] for s in row.get("sources", [])})
    dirs = sorted({"/".join(s.split("/")[:2]) for s in srcs})
    out.append(
        f"- Recorded rows: the wall time and metric their runs wrote, from {len(srcs)} files under "
        + ", ".join(f"`{d}/`" for d in dirs)
        + " (each row's files are its `sources` in `docs/expect/what_to_expect.json`)."
    )
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


README_ROWS = [
    "quickstart",
    "tests",
    "tests-fast",
    "gradcheck",
    "dynamics",
    "adding-T1000",
    "adding-T5000-seed0",
    "adding-T5000-seed1",
    "adding-T5000-seed2",
    "rowmnist",
    "mnist",
    "ptb-char",
    "depth",
    "study",
]


def readme_block(data: dict) -> str:
    rows = {r["name"]: r for r in data["rows"]}
    out = [README_START, "", "| command | wall time (2 cores) | result |", "|---|---|---|"]
    for name in README_ROWS:
        r = rows[name]
        out.append(f"| `{cell(r.get('short') or r['command'])}` | {wall_cell(r)} | {result_cell(r)} |")
    out += ["", README_END]
    return "\n".join(out)


def write_readme(data: dict, path: Path = README) -> None:
    text = path.read_text()
    if README_START not in text or README_END not in text:
        print(
            f"what-to-expect: {path.name} has no what-to-expect markers; its table not written",
            file=sys.stderr,
        )
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(head + readme_block(data) + tail)


def write_all(data: dict, out_dir: Path = EXPECT, readme: Path | None = README) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / JSON_PATH.name).write_text(json.dumps(data, indent=1) + "\n")
    (out_dir / MD_PATH.name).write_text(markdown(data))
    if readme is not None:
        write_readme(data, readme)


# ----------------------------------------------------------------------------- main


def default_reruns() -> list[str]:
    return [e.name for e in entries() if e.kind == "rerun"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="rerun only these rows (comma-separated names; opt-in rows too)")
    p.add_argument("--also", help="every default rerun and these opt-in rows too (comma-separated names)")
    p.add_argument(
        "--list", action="store_true", help="list the rows and the time the reruns are planned to take"
    )
    p.add_argument(
        "--skip-reruns", action="store_true", help="rerun nothing: the tables from the JSON and the runs"
    )
    p.add_argument("--allow-load", action="store_true", help="rerun even on a busy machine (rows marked)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one command may take (1800)")
    p.add_argument("--out", type=Path, default=EXPECT, help="folder of the JSON and table (docs/expect)")
    p.add_argument("--no-readme", action="store_true", help="leave the README's table alone")
    a = p.parse_args(argv)
    es = entries()
    names = {e.name for e in es}
    if a.list:
        total = 0.0
        for e in es:
            planned = f"~{e.plan_s:.0f} s planned" if e.kind != "recorded" else "read"
            print(f"{e.name:28} {e.kind:9} {planned:18} {e.command}")
            total += e.plan_s if e.kind == "rerun" else 0
        print(
            f"every default rerun: ~{total / 60:.0f} min planned (opt-in rows run only when named: --only, --also)"
        )
        return 0
    if a.skip_reruns:
        selected: set[str] = set()
    elif a.only:
        selected = {n.strip() for n in a.only.split(",") if n.strip()}
    else:
        selected = set(default_reruns()) | {n.strip() for n in (a.also or "").split(",") if n.strip()}
    unknown = selected - names
    if unknown:
        p.error(f"no such row: {', '.join(sorted(unknown))} (--list lists them)")
    json_path = a.out / JSON_PATH.name
    previous = read_json(json_path) if json_path.is_file() else {}
    data = build(selected, previous, timeout=a.timeout, allow_load=a.allow_load, logs=a.out / "logs")
    write_all(data, a.out, None if a.no_readme else README)
    print(
        f"what-to-expect: wrote {json_path} and {a.out / MD_PATH.name}"
        + ("" if a.no_readme else " and the README's table")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
