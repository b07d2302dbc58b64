"""How close the scan over time stays to the sequential loop, in float64, as T grows.

For each T and seed: one layer (B = 4, M = 3, N = 8, relu) in the setting of tutorial 9 and
``tests/test_scan.py``: x ~ N(0, 1), W ~ N(0, 1/M), u ~ U(-1, 1) with u[0] = -0.7, u[1] = 0 and
u[2] = 2^(1/T) (the paper's bound for the adding problem, > 1: that neuron's states and sums grow
with T), b ~ N(0, 0.1²), h0 ~ N(0, 0.5²), dh ~ N(0, 1). ``indrnn_forward`` and ``indrnn_backward``
run it with ``algorithm="sequential"`` and ``"scan"``; for h and each gradient (dx, dW, du, db,
dh0) the difference is measured as ``tests/test_scan.py`` does, ``max |scan - loop| / max(1,
max |loop|)`` over the array, and value by value, ``max |scan - loop| / max(1, |loop|)`` (a small
value next to large ones in the same output is held to its own size). The table gives, per T, the
largest over the seeds: of each output, of all outputs together, and value by value; and the last
two divided by T ε (ε = 2.2e-16, float64's epsilon).

Usage::

    python benchmarks/scan_precision.py                  # CPU kernels, T = 1e3 .. 1e6, 20 seeds
    python benchmarks/scan_precision.py --backend numpy --T 1000 10000 --seeds 5

(about a minute on 2 cores with the CPU backend, most of it at T = 1,000,000; the NumPy reference's
Python loop over the chunks' steps takes minutes from T = 100,000.)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from indrnn_np import indrnn_backward, indrnn_forward

OUTPUTS = ("h", "dx", "dW", "du", "db", "dh0")


def case(T: int, seed: int, B: int = 4, M: int = 3, N: int = 8):
    """The inputs of one measurement (float64)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, M))
    W = rng.standard_normal((M, N)) / np.sqrt(M)
    u = rng.uniform(-1, 1, N)
    u[:3] = [-0.7, 0.0, 2 ** (1 / T)]
    b = 0.1 * rng.standard_normal(N)
    h0 = 0.5 * rng.standard_normal((B, N))
    dh = rng.standard_normal((T, B, N))
    return x, W, u, b, h0, dh


def differences(T: int, seed: int, backend: str) -> tuple[dict[str, float], dict[str, float]]:
    """Of h and of each gradient: ``max |scan - loop| / max(1, max |loop|)`` over the array (as the
    tests measure), and ``max |scan - loop| / max(1, |loop|)`` value by value."""
    x, W, u, b, h0, dh = case(T, seed)
    out = {}
    for algorithm in ("sequential", "scan"):
        h, cache = indrnn_forward(x, W, u, b, h0, "relu", backend, algorithm=algorithm)
        g = indrnn_backward(dh, cache)
        out[algorithm] = dict(h=h, dx=g.dx, dW=g.dW, du=g.du, db=g.db, dh0=g.dh0)
    loop, scan = out["sequential"], out["scan"]
    array = {
        k: float(np.max(np.abs(scan[k] - loop[k]))) / max(1.0, float(np.max(np.abs(loop[k]))))
        for k in OUTPUTS
    }
    value = {k: float(np.max(np.abs(scan[k] - loop[k]) / np.maximum(1.0, np.abs(loop[k])))) for k in OUTPUTS}
    return array, value


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cpu", choices=["numpy", "cpu"])
    parser.add_argument("--T", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args(argv)
    eps = float(np.finfo(np.float64).eps)
    rows = []
    for T in args.T:
        t0 = time.perf_counter()
        worst_array, worst_value = dict.fromkeys(OUTPUTS, 0.0), dict.fromkeys(OUTPUTS, 0.0)
        for seed in range(args.seeds):
            array, value = differences(T, seed, args.backend)
            for k in OUTPUTS:
                worst_array[k] = max(worst_array[k], array[k])
                worst_value[k] = max(worst_value[k], value[k])
        rows.append((T, worst_array, worst_value, time.perf_counter() - t0))
    print(
        f"backend {args.backend}, float64, relu, B = 4, M = 3, N = 8, seeds 0..{args.seeds - 1}; the largest"
    )
    print("over the seeds of max |scan - loop| / max(1, max |loop|) over each array (as tests/test_scan.py")
    print("measures), of all outputs together, and value by value, max |scan - loop| / max(1, |loop|);")
    print("ε = 2.2e-16:\n")
    print(
        "| T | "
        + " | ".join(OUTPUTS)
        + " | all | all / (T ε) | value by value | value by value / (T ε) | seconds |"
    )
    print("|---" * (len(OUTPUTS) + 6) + "|")
    for T, worst_array, worst_value, seconds in rows:
        every, by_value = max(worst_array.values()), max(worst_value.values())
        cells = " | ".join(f"{worst_array[k]:.1e}" for k in OUTPUTS)
        print(
            f"| {T:,} | {cells} | {every:.1e} | {every / (T * eps):.2f} | {by_value:.1e} "
            f"| {by_value / (T * eps):.2f} | {seconds:.0f} |"
        )


if __name__ == "__main__":
    main()
