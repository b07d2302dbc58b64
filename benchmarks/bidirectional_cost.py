"""One estimator fit, one direction against both, each in a fresh process, in alternating rounds.

The data: GunPoint's shape (50 sequences of 150 steps, one feature, 2 classes), drawn at random
(seed 0), as ``IndRNNClassifier`` fits it with its defaults but ``steps`` (300 here) and nothing held
out (``validation_fraction=0.0``, so that versions before and after the early-stopping change do
the same work). Prints each fit's wall time, the medians and the ratio both / one.

Where the time of a bidirectional fit goes beyond twice one direction: the second layer reads
2N features (its input GEMMs do 4x one direction's work, not 2x), and the reversals, the
concatenation and the sums of the two halves are extra copies; ``--profile`` prints a cProfile
summary of one fit of each, grouped by what the time is spent on.

    python benchmarks/bidirectional_cost.py [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

FIT = """
import json, sys, time
import numpy as np
from indrnn_np import IndRNNClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((50, 150, 1)).astype(np.float32)
y = (X[:, 60:90, 0].mean(axis=1) > 0).astype(int)
bi = sys.argv[1] == "both"
IndRNNClassifier(steps=3, bidirectional=bi, validation_fraction=0.0).fit(X, y)  # compile, warm the caches
t = time.perf_counter()
clf = IndRNNClassifier(steps=300, bidirectional=bi, validation_fraction=0.0).fit(X, y)
print(json.dumps({"s": time.perf_counter() - t}))
"""

PROFILE = """
import cProfile, json, pstats, sys
import numpy as np
from indrnn_np import IndRNNClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((50, 150, 1)).astype(np.float32)
y = (X[:, 60:90, 0].mean(axis=1) > 0).astype(int)
bi = sys.argv[1] == "both"
IndRNNClassifier(steps=3, bidirectional=bi, validation_fraction=0.0).fit(X, y)
p = cProfile.Profile(); p.enable()
IndRNNClassifier(steps=300, bidirectional=bi, validation_fraction=0.0).fit(X, y)
p.disable()
groups = {"GEMMs": ("matmul",), "recurrence kernels": ("recurrence_", "fused_"),
          "reversal, concat, sums": ("reverse", "concat_last", "split_last", "add"),
          "masks and gathers": ("mask", "take_steps", "put_steps", "gather", "scatter")}
out = {g: 0.0 for g in groups}
total = 0.0
for (file, line, fn), (cc, nc, tt, ct, callers) in pstats.Stats(p).stats.items():
    total += tt
    for g, keys in groups.items():
        if any(k in fn for k in keys) and ("indrnn_np" in file or fn == "matmul"):
            out[g] += tt
            break
out["everything else"] = total - sum(out.values())
print(json.dumps(out))
"""


def _run(code: str, which: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, which], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile", action="store_true")
    a = p.parse_args(argv)
    times = {"one": [], "both": []}
    for r in range(a.rounds):
        for which in ("one", "both") if r % 2 == 0 else ("both", "one"):
            s = _run(FIT, which)["s"]
            times[which].append(s)
            print(f"round {r + 1}, {which} direction{'s' if which == 'both' else ''}: {s:.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"median: one {med['one']:.2f} s, both {med['both']:.2f} s, both / one = {med['both'] / med['one']:.2f}"
    )
    result = {"times": times, "median": med, "ratio": med["both"] / med["one"]}
    if a.profile:
        for which in ("one", "both"):
            parts = _run(PROFILE, which)
            result[f"profile_{which}"] = parts
            print(which, ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    return result


if __name__ == "__main__":
    main()
