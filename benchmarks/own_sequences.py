"""Your own sequences, measured: the estimator and ``train arrays`` + ``predict`` on variable lengths.

The data: :func:`indrnn_np.tasks.arrays.marker_sequences`, lengths 10..80 (8x
from shortest to longest), four classes set by two marked values, one in the
first three steps and one in the second half. 2000 training and 1000 test
sequences (other seeds). Each model is trained once with the same keywords,
unidirectional and bidirectional:

* through :class:`indrnn_np.IndRNNClassifier` (``fit`` on the list, ``score``
  on the test list);
* through the command line: the data written to an ``.npz`` (padded, with
  ``lengths``; the test set as ``x_test``/``y_test``), ``train arrays``, then
  ``predict`` on a second file holding the test sequences, accuracy computed
  from the written ``.npy``;
* and ``GridSearchCV`` over two hidden sizes (3-fold, on 600 sequences).

Usage: ``python benchmarks/own_sequences.py OUT_DIR`` writes ``OUT_DIR/own_sequences.json``
and ``.md`` (wall times in the JSON only: they were not taken on a quiet machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from indrnn_np import IndRNNClassifier
from indrnn_np.tasks.arrays import marker_sequences, pad_sequences

# pool="last": the estimators' default when these results were committed (now "auto", max pooling)
KW = dict(hidden=32, layers=2, steps=1000, batch=32, lr=1e-3, eval_every=250, pool="last")
LENGTHS = dict(min_length=10, max_length=80)


def _cli(*args) -> None:
    subprocess.run([sys.executable, "-m", "indrnn_np", *args], check=True)


def main(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    X, y = marker_sequences(2000, seed=0, **LENGTHS)
    Xt, yt = marker_sequences(1000, seed=1, **LENGTHS)
    lens = [len(s) for s in X]
    result = {
        "data": {
            "train": len(X),
            "test": len(Xt),
            "min_length": int(min(lens)),
            "max_length": int(max(lens)),
            "classes": 4,
        },
        "keywords": KW,
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        x, L = pad_sequences(X)
        xt, Lt = pad_sequences(Xt)
        np.savez(tmp / "train.npz", x=x, y=y, lengths=L, x_test=xt, y_test=yt, lengths_test=Lt)
        np.savez(tmp / "new.npz", x=xt, lengths=Lt)
        for bi in (False, True):
            t0 = time.perf_counter()
            clf = IndRNNClassifier(**KW, bidirectional=bi, validation_fraction=0.1).fit(X, y)
            est_acc, est_s = clf.score(Xt, yt), time.perf_counter() - t0
            run = tmp / f"run_{int(bi)}"
            flags = [f"--{k.replace('_', '-')}={v}" for k, v in KW.items()]
            t0 = time.perf_counter()
            _cli("train", "arrays", "--data", str(tmp / "train.npz"), "--out", str(run), "--quiet", *flags,
                 *(["--bidirectional"] if bi else []))  # fmt: skip
            _cli(
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp / "new.npz"),
                "--out",
                str(tmp / f"p{int(bi)}.npy"),
            )
            cli_s = time.perf_counter() - t0
            cli_acc = float(np.mean(np.load(tmp / f"p{int(bi)}.npy") == yt))
            result["rows"].append(
                {
                    "bidirectional": bi,
                    "params": int(clf.model_.num_params()),
                    "estimator_accuracy": float(est_acc),
                    "estimator_s": round(est_s, 1),
                    "cli_accuracy": cli_acc,
                    "cli_s": round(cli_s, 1),
                }
            )
            print(result["rows"][-1], flush=True)
    # per-step labels that look ahead: step t is labelled by the sign of feature 0 two steps later
    # (the last steps by the last step's), which a causal network cannot see and a bidirectional one can
    ahead = [(s[np.minimum(np.arange(len(s)) + 2, len(s) - 1), 0] > 0).astype(np.int64) for s in X]
    ahead_t = [(s[np.minimum(np.arange(len(s)) + 2, len(s) - 1), 0] > 0).astype(np.int64) for s in Xt]
    result["look_ahead"] = []
    for bi in (False, True):
        clf = IndRNNClassifier(**KW, bidirectional=bi, validation_fraction=0.1).fit(X, ahead)
        result["look_ahead"].append({"bidirectional": bi, "accuracy": float(clf.score(Xt, ahead_t))})
        print(result["look_ahead"][-1], flush=True)
    from sklearn.model_selection import GridSearchCV

    t0 = time.perf_counter()
    grid = GridSearchCV(
        IndRNNClassifier(**{**KW, "steps": 400}, validation_fraction=0.1), {"hidden": [16, 32]}, cv=3
    ).fit(X[:600], y[:600])
    result["grid_search"] = {
        "hidden": [16, 32],
        "cv": 3,
        "sequences": 600,
        "steps": 400,
        "mean_test_score": [float(v) for v in grid.cv_results_["mean_test_score"]],
        "best_params": grid.best_params_,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(result["grid_search"], flush=True)
    (out / "own_sequences.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "own_sequences.md").write_text(_markdown(result))
    return result


def _markdown(r: dict) -> str:
    d = r["data"]
    lines = [
        "# Your own sequences: variable lengths, with and without `bidirectional`",
        "",
        f"`python benchmarks/own_sequences.py docs/own_sequences`: {d['train']} training and {d['test']} "
        f"test sequences of `marker_sequences`, lengths {d['min_length']}..{d['max_length']}, "
        f"{d['classes']} classes (chance 0.25). Keywords: "
        + ", ".join(f"`{k}={v}`" for k, v in r["keywords"].items())
        + ". One run each. The estimator holds out 10 % of the training sequences for the error it "
        "monitors (`validation_fraction=0.1`); `train arrays` trains on all of them, monitoring the "
        "test set given as `x_test`. Accuracies on the test sequences; `predict` read them from a "
        "second file.",
        "",
        "| bidirectional | parameters | estimator test accuracy | `train arrays` + `predict` accuracy |",
        "|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['bidirectional']} | {row['params']:,} | {row['estimator_accuracy']:.3f} | "
            f"{row['cli_accuracy']:.3f} |"
        )
    la = {row["bidirectional"]: row["accuracy"] for row in r["look_ahead"]}
    lines += [
        "",
        "A label at every step that looks ahead (step t labelled by the sign of feature 0 at step t + 2; "
        "the same sequences, the estimator, the same keywords): accuracy over the test sequences' real "
        f"steps {la[False]:.3f} unidirectional (a causal network cannot see step t + 2) and "
        f"{la[True]:.3f} bidirectional.",
    ]
    g = r["grid_search"]
    lines += [
        "",
        f"`GridSearchCV` over hidden {g['hidden']} ({g['cv']}-fold, {g['sequences']} sequences, "
        f"{g['steps']} steps each): mean accuracies {', '.join(f'{v:.3f}' for v in g['mean_test_score'])}; "
        f"best {g['best_params']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/own_sequences"))
