"""float32 kernels compute in float32: no double-precision arithmetic in their compiled code."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from indrnn_np.ops import indrnn_recurrence_backward, indrnn_recurrence_forward

# Numba disables inspection of code loaded from its cache, so the kernels are compiled afresh in a
# subprocess with an empty cache folder, and their LLVM IR is searched for double-precision work.
_PROBE = textwrap.dedent(
    """
    import json, re, sys
    import numpy as np
    from indrnn_np.kernels import cpu
    out = {}
    for dt in (np.float32, np.float64):
        T, B, N = 5, 3, 4
        xw = np.random.rand(T, B, N).astype(dt); u = np.random.rand(N).astype(dt)
        b = np.zeros(N, dt); h0 = np.zeros((B, N), dt); h = np.empty_like(xw)
        cpu.recurrence_forward(xw, u, b, h0, 1, h, np.full(B, T), False)
        da = np.empty_like(xw); parts = [np.empty_like(h0) for _ in range(3)]
        cpu.recurrence_backward(xw, h, u, h0, 1, da, *parts, np.full(B, T), False)
        p, g, m, v = (np.random.rand(7).astype(dt) for _ in range(4))
        f = dt(0.5)
        cpu.adam_update(p, g, m, v, f, f, f, f, f, f, f, f, f, f, f)
        cpu.sgd_update(p, g, m, f, f, f, f, f, f, f)
    pattern = r"fpext float[^\\n]* to double|(fadd|fsub|fmul|fdiv|fcmp)[a-z ]* (<\\d+ x )?double|<\\d+ x double>"
    for k in (cpu.recurrence_forward, cpu.recurrence_backward, cpu.adam_update, cpu.sgd_update):
        for sig, ir in k.inspect_llvm().items():
            out[k.__name__ + ":" + str(sig[0].dtype)] = len(re.findall(pattern, ir))
    print(json.dumps(out))
    """
)


def test_float32_cpu_kernels_have_no_double_precision_arithmetic(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    # the detector works: the float64 specialisations are full of double arithmetic
    assert counts["recurrence_forward:float64"] > 0 and counts["recurrence_backward:float64"] > 0
    assert counts["adam_update:float64"] > 0
    for kernel in ("recurrence_forward", "recurrence_backward", "adam_update", "sgd_update"):
        assert counts[f"{kernel}:float32"] == 0, kernel


@pytest.mark.parametrize("backend", ["numpy", "cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_inf_and_nan_as_the_reference_handles_them(backend):
    """relu(-inf) = 0, relu(nan) = nan, and σ' from h = inf is 1 (not inf * 0 = nan)."""
    xw = np.array([[[-np.inf, np.inf, np.nan]]], np.float32)  # T = B = 1, N = 3
    z = np.zeros(3, np.float32)
    h, cache = indrnn_recurrence_forward(xw, z, z, backend=backend)
    np.testing.assert_array_equal(h[0, 0, :2], [0.0, np.inf])
    assert np.isnan(h[0, 0, 2])
    g = indrnn_recurrence_backward(np.ones_like(h), cache)
    np.testing.assert_array_equal(g.db, [0.0, 1.0, 0.0])
