"""One estimator fit, one direction against both, each in a fresh process, in alternating rounds.

The data: GunPoint's shape (50 sequences of 150 steps, one feature, 2 classes), drawn at random
(seed 0), as ``IndRNNClassifier`` fits it with its defaults but ``steps`` (``--steps``, 300) and
nothing held out (``validation_fraction=0.0``, so that versions before and after the early-stopping
change do the same work). Prints each fit's wall time, the medians and the ratio both / one.

Where the time of a bidirectional fit goes beyond twice one direction: the second layer reads
2N features (its input GEMMs do 4x one direction's work, not 2x: inherent), and the concatenation
of the two directions' outputs and the sum of their input gradients are copies. The reversals of
x, h, dy and dx that the backward direction once needed are gone: its recurrences run in reverse
time (``reverse_time`` of :func:`indrnn_np.ops.indrnn_forward`), and the first layer computes no
input gradient in either direction (``Bidirectional.param_grads``). ``--profile`` prints a cProfile
summary of one fit of each, grouped by what the time is spent on, as fractions of the fit.

``--against PATH`` times another checkout of the project in the same run (a git worktree of the
commit before a change, say: ``git worktree add /tmp/before HEAD~1``): every round runs the one-
and both-direction fits of this checkout and of PATH, each in a fresh process whose PYTHONPATH is
that checkout, the checkouts' order alternating from round to round, and prints the medians and
the ratio both / one of each checkout.

    python benchmarks/bidirectional_cost.py [--rounds 3] [--steps 300] [--profile] [--against PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

#: This checkout: the folder above ``benchmarks/``.
HERE = Path(__file__).resolve().parents[1]

FIT = """
import json, sys, time
import numpy as np
from indrnn_np import IndRNNClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((50, 150, 1)).astype(np.float32)
y = (X[:, 60:90, 0].mean(axis=1) > 0).astype(int)
bi, steps = sys.argv[1] == "both", int(sys.argv[2])
IndRNNClassifier(steps=3, bidirectional=bi, validation_fraction=0.0).fit(X, y)  # compile, warm the caches
t = time.perf_counter()
clf = IndRNNClassifier(steps=steps, bidirectional=bi, validation_fraction=0.0).fit(X, y)
print(json.dumps({"s": time.perf_counter() - t}))
"""

PROFILE = """
import cProfile, json, pstats, sys
import numpy as np
from indrnn_np import IndRNNClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((50, 150, 1)).astype(np.float32)
y = (X[:, 60:90, 0].mean(axis=1) > 0).astype(int)
bi, steps = sys.argv[1] == "both", int(sys.argv[2])
IndRNNClassifier(steps=3, bidirectional=bi, validation_fraction=0.0).fit(X, y)
p = cProfile.Profile(); p.enable()
IndRNNClassifier(steps=steps, bidirectional=bi, validation_fraction=0.0).fit(X, y)
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
# across the groups: the run's memory rehearsal before training (a few steps measured, train/memory.py)
def cumulative(name, path):
    return sum(ct for (file, _, fn), (_, _, _, ct, _) in pstats.Stats(p).stats.items()
               if fn == name and file.endswith(path))
out["(of all: memory rehearsal)"] = cumulative("rehearse", "memory.py")
# the reversed copies of checkouts before reverse_time (their np.array copies are not in the groups)
out["(of all: Bidirectional._reverse)"] = cumulative("_reverse", "layers.py")
print(json.dumps(out))
"""


def _run(code: str, which: str, steps: int, checkout: Path = HERE) -> dict:
    """Run ``code`` in a fresh Python whose PYTHONPATH is ``checkout``; its last line of JSON."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    r = subprocess.run(
        [sys.executable, "-c", code, which, str(steps)], capture_output=True, text=True, env=env, cwd=checkout
    )
    if r.returncode != 0:
        raise RuntimeError(f"the {which} fit of {checkout} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=300, help="training steps of each timed fit (300)")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--against", type=Path, default=None, help="another checkout of the project, timed alike")
    a = p.parse_args(argv)
    if a.rounds < 1 or a.steps < 1:
        p.error("--rounds and --steps must be at least 1")
    checkouts = {"this": HERE}
    if a.against is not None:
        if not (a.against / "indrnn_np" / "__init__.py").is_file():
            p.error(f"--against {a.against}: no indrnn_np package there (give a checkout of the project)")
        checkouts["against"] = a.against.resolve()
    times = {c: {"one": [], "both": []} for c in checkouts}
    for r in range(a.rounds):
        names = list(checkouts) if r % 2 == 0 else list(reversed(checkouts))
        for c in names:
            for which in ("one", "both") if r % 2 == 0 else ("both", "one"):
                s = _run(FIT, which, a.steps, checkouts[c])["s"]
                times[c][which].append(s)
                label = f"{c} ({checkouts[c]}), " if len(checkouts) > 1 else ""
                print(
                    f"round {r + 1}, {label}{which} direction{'s' if which == 'both' else ''}: {s:.2f} s",
                    flush=True,
                )
    result = {"steps": a.steps, "checkouts": {c: str(path) for c, path in checkouts.items()}}
    for c in checkouts:
        med = {k: statistics.median(v) for k, v in times[c].items()}
        ratio = med["both"] / med["one"]
        label = f"{c} ({checkouts[c]}) " if len(checkouts) > 1 else ""
        print(f"{label}median: one {med['one']:.2f} s, both {med['both']:.2f} s, both / one = {ratio:.2f}")
        result[c] = {"times": times[c], "median": med, "ratio": ratio}
    if len(checkouts) == 1:  # the keys of one checkout's run, as before
        result.update(result.pop("this"))
    if a.profile:
        for c, path in checkouts.items():
            for which in ("one", "both"):
                parts = _run(PROFILE, which, a.steps, path)
                total = sum(v for k, v in parts.items() if not k.startswith("("))
                result[f"profile_{which}" if c == "this" else f"profile_{which}_{c}"] = parts
                label = f"{c} " if len(checkouts) > 1 else ""
                print(
                    f"{label}{which}: {total:.2f} s profiled;",
                    ", ".join(f"{k} {v / total:.3f}" for k, v in parts.items()),
                )
    return result


if __name__ == "__main__":
    main()
