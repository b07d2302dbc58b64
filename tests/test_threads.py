"""The thread policy (indrnn_np.threads) applies at the first kernel call, whatever the import order."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent(
    """
    import json, os, sys
    if sys.argv[1] == "numpy-first":
        import numpy as np
        import indrnn_np
    else:
        import indrnn_np
        import numpy as np
    assert "OMP_WAIT_POLICY" not in os.environ  # nothing is written at import
    from indrnn_np import indrnn_forward
    from indrnn_np.threads import policy
    x = np.ones((4, 2, 3), np.float32); W = np.ones((3, 5), np.float32); u = np.ones(5, np.float32)
    indrnn_forward(x, W, u, np.zeros(5, np.float32), backend="cpu")
    print(json.dumps({**policy(), "env": os.environ.get("OMP_WAIT_POLICY")}))
    """
)


@pytest.mark.parametrize("order", ["numpy-first", "indrnn-first"])
def test_policy_applies_whatever_the_import_order(order):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "INDRNN_THREAD_POLICY")}
    proc = subprocess.run([sys.executable, "-c", _PROBE, order], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = json.loads(proc.stdout.strip().splitlines()[-1])
    assert p["enabled"] and p["openmp"] == "passive" and p["env"] == "PASSIVE"
    assert p["blas_release"] and "openblas" in p["blas_release"].lower()


def test_a_users_own_setting_is_left_alone():
    env = {**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.replace('assert "OMP', '# "OMP'), "numpy-first"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = json.loads(proc.stdout.strip().splitlines()[-1])
    assert p["openmp"] == "left as set: OMP_WAIT_POLICY=ACTIVE" and p["env"] == "ACTIVE"
