"""``bench compare``: this project against JAX and PyTorch, every measurement in a fresh process.

Each implementation at each size runs in a process of its own
(:mod:`indrnn_np.bench.worker`), the implementations take turns within a
round, and the rounds repeat: the number quoted is the median over rounds of
each process's median. The machine's limits (copy bandwidth and each GEMM
alone) are measured in their own processes in the same rounds, so every
ratio compares numbers taken side by side.

Two tables:

* one layer, forward + backward, at the sizes of :data:`LAYER_SIZES`;
* one training step of the adding network at :data:`STEP_TS`.

This project is also timed with NumPy imported before ``indrnn_np`` and
after it (the import order must not matter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np

#: (T, B, M, N): the adding problem's first-layer width at the paper's T, its input layer, a pixel-MNIST
#: hidden layer, a wide layer.
LAYER_SIZES = ((1000, 50, 128, 128), (1000, 50, 2, 128), (784, 32, 128, 128), (256, 64, 1024, 1024))
#: T of the training-step table (batch 50, 2 x 128, the quick start's network).
STEP_TS = (100, 1000)
STEP_B, STEP_N = 50, 128

LAYER_IMPLS = ("cpu", "numpy", "jax", "torch-rnn")
#: Layers with at most this many inputs are also timed with the fused kernels off (``INDRNN_FUSE_MAX_M=0``):
#: the default config.FUSE_MAX_M, fixed here so that the table does not depend on the environment.
FUSED_M = 8
STEP_IMPLS = ("indrnn", "jax", "torch-loop")
PEERS = ("jax", "torch-rnn", "torch-loop")


class BenchError(RuntimeError):
    """A worker process failed."""


def ask(request: dict, timeout: float = 1800, env: dict | None = None) -> dict:
    """Run one request of :mod:`indrnn_np.bench.worker` in a fresh Python process; its JSON answer.

    ``env``: variables to set in that process (on top of this one's).
    """
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np.bench.worker", json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BenchError(f"worker failed on {request}: {proc.stderr.strip()[-1500:]}")
    return json.loads(lines[-1])


def requests(
    *, layer_sizes=LAYER_SIZES, step_Ts=STEP_TS, peers=True, repeats=5, step_B=STEP_B, step_N=STEP_N
):
    """Every request of one round, as (table, key, request)."""
    out = []
    for T, B, M, N in layer_sizes:
        key = (T, B, M, N)
        shape = dict(T=T, B=B, M=M, N=N, repeats=repeats)
        out.append(("layer", key, dict(what="bound", of="layer", **shape)))
        out.append(("layer", key, dict(what="layer", impl="cpu", order="numpy-first", **shape)))
        out.append(("layer", key, dict(what="layer", impl="cpu", order="indrnn-first", **shape)))
        out.append(("layer", key, dict(what="layer", impl="numpy", **shape)))
        if M <= FUSED_M:  # the same layer with W x_t by a GEMM, as before the fused kernels
            out.append(
                ("layer", key, dict(what="layer", impl="cpu", env={"INDRNN_FUSE_MAX_M": "0"}, **shape))
            )
        if peers:
            out += [("layer", key, dict(what="layer", impl=i, **shape)) for i in ("jax", "torch-rnn")]
    for T in step_Ts:
        shape = dict(T=T, B=step_B, N=step_N)
        many = max(repeats, int(2.0 / (T * 1e-4)))  # about 2 s of steps at 0.1 ms per time step
        out.append(("step", T, dict(what="bound", of="step", **shape)))
        out.append(("step", T, dict(what="step", impl="indrnn", order="numpy-first", repeats=many, **shape)))
        out.append(("step", T, dict(what="step", impl="indrnn", order="indrnn-first", repeats=many, **shape)))
        if peers:
            out.append(("step", T, dict(what="step", impl="jax", repeats=many, **shape)))
            out.append(
                ("step", T, dict(what="step", impl="torch-loop", repeats=3 if T >= 1000 else 10, **shape))
            )
    return out


def _label(req: dict) -> str:
    if req["what"] == "bound":
        return "bound"
    impl = req["impl"]
    if req.get("order") == "indrnn-first":
        impl += " (indrnn_np first)"
    if req.get("env", {}).get("INDRNN_FUSE_MAX_M") == "0":
        impl += " (unfused)"
    return impl


def bench_compare(
    *, rounds=3, repeats=5, peers=True, layer_sizes=LAYER_SIZES, step_Ts=STEP_TS, progress=None
):
    """Interleaved rounds of fresh-process measurements; medians over the rounds.

    Returns
    -------
    dict
        ``layer`` and ``step``: lists of rows, one per size, with each
        implementation's median seconds (``<label>_s``), compile seconds, the
        bound and its parts; ``missing``: peers not installed; ``rounds``.
    """
    reqs = requests(layer_sizes=layer_sizes, step_Ts=step_Ts, peers=peers, repeats=repeats)
    samples = defaultdict(list)
    missing = set()
    for r in range(rounds):
        for i, (table, key, req) in enumerate(reqs):
            if progress:
                progress(f"round {r + 1}/{rounds}, {i + 1}/{len(reqs)}: {table} {key} {_label(req)}")
            ans = ask({k: v for k, v in req.items() if k != "env"}, env=req.get("env"))
            if "missing" in ans:
                missing.add(f"{req['impl']}: {ans['missing']} not installed (pip install 'indrnn-np[bench]')")
                continue
            samples[(table, key, _label(req))].append(ans)
    tables = {"layer": {}, "step": {}}
    for (table, key, label), answers in samples.items():
        row = tables[table].setdefault(key, _key_fields(table, key))
        if label == "bound":
            for k in answers[0]:
                row[f"bound_{k}"] = float(np.median([a[k] for a in answers]))
        else:
            row[f"{label}_s"] = float(np.median([a["median_s"] for a in answers]))
            row[f"{label}_compile_s"] = float(np.median([a["compile_s"] for a in answers]))
    return {
        "rounds": rounds,
        "repeats": repeats,
        "layer": [_ratios(r, "cpu") for r in tables["layer"].values()],
        "step": [_ratios(r, "indrnn") for r in tables["step"].values()],
        "missing": sorted(missing),
    }


def _key_fields(table, key):
    if table == "layer":
        return dict(zip(("T", "B", "M", "N"), key, strict=True))
    return dict(T=key, B=STEP_B, N=STEP_N)


def _ratios(row: dict, ours: str) -> dict:
    """Each time over ours (> 1: ours faster), ours over the bound, and the import orders' ratio."""
    base = row.get(f"{ours}_s")
    if base:
        for k in list(row):
            if (
                k.endswith("_s")
                and not k.endswith("compile_s")
                and not k.startswith("bound")
                and k != f"{ours}_s"
            ):
                row[k[: -len("_s")] + "_over_ours"] = row[k] / base
        if "bound_bound_s" in row:
            row["ours_over_bound"] = base / row["bound_bound_s"]
    return row
