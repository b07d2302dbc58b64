"""``bench contention``: training steps on a quiet machine and beside one busy program.

A laptop with a browser open is a loaded machine. This measures the adding
network's training step (2 x 128 IndRNN, batch 50, as the quick start trains
it) in fresh processes, each implementation in turn within a round, the
rounds repeated, under two conditions measured side by side in the same
rounds: **quiet** and **loaded** (one process spinning a core, started before
the measurement and ended after it). Implementations:

* ``default``: this project as the training loop runs it (the thread policy
  and :class:`indrnn_np.threads.ThreadTuner`, its probing steps included);
* ``tuning off``: the thread policy alone, the counts the process starts
  with (``INDRNN_THREAD_TUNING=0``: how training ran before the tuner);
* ``one thread``: this project with ``OMP_NUM_THREADS``,
  ``OPENBLAS_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` at 1 and the tuner off;
* ``jax``: the same step under one ``jax.jit`` (as ``bench compare``).

Every step after each process's first is kept; the table gives the median
and the 90th percentile of all of them over the rounds. Then the quick start
itself (``python -m indrnn_np train adding``, 3000 steps) is timed whole,
quiet and loaded, default and one thread.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from .compare import ask

#: T of the table (batch 50, 2 x 128: the quick start's network).
TS = (100, 1000)
#: Steps timed in each process at each T (about 2-10 s of steps at T = 100 and 1000).
STEPS = {100: 300, 1000: 60}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
IMPLS = {
    "default": ("indrnn", {}),
    "tuning off": ("indrnn", {"INDRNN_THREAD_TUNING": "0"}),
    "one thread": ("indrnn", {**ONE_THREAD, "INDRNN_THREAD_TUNING": "0"}),
    "jax": ("jax", {}),
}
CONDITIONS = ("quiet", "loaded")


@contextlib.contextmanager
def busy_process(loaded: bool):
    """One process spinning a core for the duration of the block (nothing when not ``loaded``)."""
    if not loaded:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # it is running before the measurement starts
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _quantiles(times) -> dict:
    a = np.asarray(times) * 1e3
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)), "steps": int(a.size)}


def bench_contention(*, rounds=3, Ts=TS, steps=None, impls=IMPLS, B=50, N=128, progress=None) -> dict:
    """Interleaved rounds of fresh-process step timings, quiet and beside one busy process.

    Returns
    -------
    dict
        ``rows``: one per (T, condition, implementation) with ``median_ms``,
        ``p90_ms`` and ``steps``; ``tuner``: the tuner's last report per (T,
        condition); ``missing``: implementations that could not be imported.
    """
    steps = steps or STEPS
    samples, tuner, missing = {}, {}, set()
    for r in range(rounds):
        for T in Ts:
            for cond in CONDITIONS:
                for label, (impl, env) in impls.items():
                    if progress:
                        progress(f"round {r + 1}/{rounds}: T = {T}, {cond}, {label}")
                    req = dict(what="steps", impl=impl, T=T, B=B, N=N, n=steps[T])
                    with busy_process(cond == "loaded"):
                        ans = ask(req, env=env)
                    if "missing" in ans:
                        missing.add(
                            f"{label}: {ans['missing']} not installed (pip install 'indrnn-np[bench]')"
                        )
                        continue
                    samples.setdefault((T, cond, label), []).extend(ans["times_s"])
                    if ans.get("tuner") and label == "default":
                        tuner.setdefault(f"T={T} {cond}", []).append(ans["tuner"])
    rows = [{"T": T, "condition": c, "impl": lab, **_quantiles(ts)} for (T, c, lab), ts in samples.items()]
    return {"rounds": rounds, "B": B, "N": N, "rows": rows, "tuner": tuner, "missing": sorted(missing)}


def time_quick_start(*, loaded: bool, env: dict, steps: int | None = None) -> float:
    """Wall seconds of ``python -m indrnn_np train adding`` (the quick start) in a fresh process and folder."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "indrnn_np", "train", "adding", "--quiet"]
        cmd += ["--out", os.path.join(tmp, "r")]
        if steps is not None:
            cmd += ["--steps", str(steps)]
        with busy_process(loaded):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
            wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the quick start failed: {proc.stderr.strip()[-1500:]}")
    return wall


def quick_start_walls(*, runs=1, steps=None, progress=None) -> list[dict]:
    """The quick start's wall time, default and one thread, quiet and loaded, ``runs`` of each in turn."""
    out = []
    for r in range(runs):
        for cond in CONDITIONS:
            for label in ("default", "one thread"):
                if progress:
                    progress(f"quick start {r + 1}/{runs}: {cond}, {label}")
                wall = time_quick_start(loaded=cond == "loaded", env=IMPLS[label][1], steps=steps)
                out.append({"condition": cond, "impl": label, "wall_s": wall, "steps": steps or 3000})
    return out
