"""The memory estimate against the whole-process peak RSS, for issue 32's seven configurations.

    python benchmarks/memory_rss.py [NAME ...] [--json]

Each configuration runs in a fresh child process (``python benchmarks/memory_rss.py --child NAME``):
the real command (``train ... --steps 2 --eval-every 1``), or an estimator's fit, whose memory check
(:func:`indrnn_np.train.memory.check_fits`) records the estimate it checks and the process's RSS at
that moment; the child then prints its peak RSS (``VmHWM``, the rehearsal included). Printed per
configuration: the estimate, the peak RSS and their ratio (the issue's band is 0.97-1.05), with the
estimate's arrays (the estimate less its part ``runtime``) and the RSS when the estimate was made.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20

COMMON = ["--steps", "2", "--eval-every", "1", "--quiet"]

#: The issue's six configurations (the command line's options) and an estimator's fit with lengths.
CONFIGS = {
    "adding T=1000": ["adding", "--T", "1000"],
    "adding T=5000": ["adding", "--T", "5000"],
    "residual, bn": ["adding", "--T", "1000", "--residual", "--layers", "4", "--bn", "time"],
    "lstm": ["adding", "--T", "1000", "--model", "lstm", "--layers", "1"],
    "bidirectional, bn": ["adding", "--T", "1000", "--bidirectional", "--bn", "time"],
    "mnist, bn frame, dropout": ["mnist", "--bn", "frame", "--dropout", "0.1", "--test-size", "200"],
    "estimator fit, lengths": None,  # IndRNNClassifier.fit of NaN-padded ragged sequences
}


def _ragged(n, T, M, seed=0):
    """n NaN-padded sequences of 500..T steps (one of T), M features, and two classes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, M)).astype(np.float32)
    lengths = rng.integers(500, T + 1, n)
    lengths[0] = T
    X[np.arange(T)[None, :] >= lengths[:, None]] = np.nan
    return X, rng.integers(0, 2, n)


def child(name: str) -> dict:
    """Run one configuration in this process; what its memory check saw, and the peak RSS."""
    from indrnn_np.train import loop, memory

    seen = []
    real = memory.check_fits

    def recording(estimate, available=None):
        seen.append((estimate, memory._status("VmRSS")))
        return real(estimate, available)

    memory.check_fits = loop.check_fits = recording
    with tempfile.TemporaryDirectory() as tmp:
        args = CONFIGS[name]
        if args is None:
            from indrnn_np import estimators

            estimators.check_fits = recording
            X, y = _ragged(400, 4000, 3)
            clf = estimators.IndRNNClassifier(hidden=128, batch=32, steps=2, eval_every=1, random_state=0)
            steps = clf.fit(X, y).summary_["steps"]
        else:
            from indrnn_np.cli import main

            if args[0] == "mnist":
                sys.path.insert(0, str(ROOT / "tests"))
                from conftest import write_fake_mnist

                data = Path(tmp) / "mnist"
                data.mkdir()
                write_fake_mnist(data)
                args = [*args, "--data", str(data)]
            rc = main(["train", *args, *COMMON, "--out", str(Path(tmp) / "run")])
            if rc not in (0, None):
                raise SystemExit(f"{name}: the command exited {rc}")
            steps = json.loads((Path(tmp) / "run" / "summary.json").read_text())["steps"]
    (estimate, rss_then), *_ = seen
    return {
        "estimate": estimate.total,
        "runtime": estimate.parts.get("runtime", 0),
        "rss_at_estimate": rss_then,
        "peak_rss": _peak_rss(),
        "steps": steps,
    }


def _peak_rss() -> int:
    """This process's peak RSS in bytes: ``VmHWM`` of /proc/self/status, the high-water mark of its
    own memory since its exec. Not ``ru_maxrss``: Linux keeps that across fork and exec, so a child of
    a large process (a long pytest run) reports its parent's peak, whatever it used itself."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # no /proc: the best there is


def measure(name: str) -> dict:
    """:func:`child` of configuration ``name`` in a fresh process: ``estimate``, ``runtime`` (its part
    for the process as it was), ``rss_at_estimate``, ``peak_rss`` in bytes, and the ``steps`` run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2])))
        return
    names = [a for a in sys.argv[1:] if not a.startswith("--")] or list(CONFIGS)
    results = {}
    for name in names:
        results[name] = r = measure(name)
        if "--json" not in sys.argv:
            print(
                f"{name:<26} estimate {r['estimate'] / MiB:6.0f} MiB (arrays {(r['estimate'] - r['runtime']) / MiB:5.0f}"
                f" + runtime {r['runtime'] / MiB:4.0f})  peak RSS {r['peak_rss'] / MiB:6.0f} MiB"
                f"  ratio {r['estimate'] / r['peak_rss']:.3f}  (RSS when estimated {r['rss_at_estimate'] / MiB:.0f} MiB)",
                flush=True,
            )
    if "--json" in sys.argv:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
