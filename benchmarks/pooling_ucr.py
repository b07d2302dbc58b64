"""The sequence head's pool (last step, mean, max) on public UCR/UEA data sets, with their published splits.

Data: the UCR/UEA archive's copies that ship inside sktime (``pip install sktime``; nothing is
downloaded): GunPoint (50 train / 150 test, 1 channel, T = 150), ArrowHead (36 / 175, 1, 251),
BasicMotions (40 / 40, 6, 100) and JapaneseVowels (270 / 370, 12, lengths 7..29). Each model is
``make_pipeline(SequenceScaler(), IndRNNClassifier(pool=...))`` with every other keyword at its
default (``random_state=0``): only the pool changes. Prints each test accuracy and fit time; with an
argument, also writes the rows to that JSON file. Usage::

    nice -n 10 python benchmarks/pooling_ucr.py [OUT.json] [--sets GunPoint,ArrowHead]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

POOLS = ("last", "mean", "max")
SETS = ("GunPoint", "ArrowHead", "BasicMotions", "JapaneseVowels")


def load(name: str, split: str):
    """X as a list of (T_i, M) arrays (ragged sets stay ragged), y as strings."""
    from sktime.datasets import load_UCR_UEA_dataset

    X, y = load_UCR_UEA_dataset(name, split=split, return_type="nested_univ")
    seqs = []
    for i in range(len(X)):
        cols = [np.asarray(X.iloc[i, j], dtype=np.float64) for j in range(X.shape[1])]
        seqs.append(np.stack(cols, axis=1))
    return seqs, np.asarray(y).astype(str)


def main(out=None, sets=SETS) -> list[dict]:
    from sklearn.pipeline import make_pipeline

    from indrnn_np import IndRNNClassifier, SequenceScaler

    rows = []
    for name in sets:
        X, y = load(name, "train")
        Xt, yt = load(name, "test")
        lens = sorted({len(x) for x in X + Xt})
        print(
            f"{name}: {len(X)} train / {len(Xt)} test, M = {X[0].shape[1]}, T = {lens[0]}..{lens[-1]}, "
            f"{len(set(y))} classes",
            flush=True,
        )
        for pool in POOLS:
            model = make_pipeline(SequenceScaler(), IndRNNClassifier(pool=pool, random_state=0))
            t0 = time.perf_counter()
            model.fit(X, y)
            fit_s = time.perf_counter() - t0
            acc = float(model.score(Xt, yt))
            rows.append({"data": name, "pool": pool, "test_accuracy": acc, "fit_s": round(fit_s, 1)})
            print(f"  pool={pool}: test accuracy {acc:.3f} (fit {fit_s:.0f} s)", flush=True)
    if out is not None:
        with open(out, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = SETS
    if "--sets" in args:
        i = args.index("--sets")
        chosen = tuple(args[i + 1].split(","))
        del args[i : i + 2]
    main(args[0] if args else None, chosen)
