"""How BLAS and Numba share the cores: the policy, chosen by measurement and applied at first use.

A training step alternates GEMMs (OpenBLAS, its own worker threads) and the
Numba recurrence kernels (Numba's OpenMP pool). Both pools keep their idle
threads spinning for a while after each call, and on a 2-core machine a
spinning thread of one pool takes a core from the other's next call.
Measured on 2 cores (adding network, 2x128, batch 50, float32; median step;
NumPy imported before indrnn_np):

======================================  =========  ==========
policy                                  T = 100    T = 1000
======================================  =========  ==========
neither pool told anything              30.5 ms    95.2 ms
BLAS limited to 1 thread                 8.7 ms    87.1 ms
Numba limited to 1 thread                7.5 ms    75.5 ms
Numba's workqueue layer (no OpenMP)      7.7 ms    76.5 ms
passive OpenMP wait                      7.6 ms    75.7 ms
passive OpenMP wait + BLAS workers
released before each Numba kernel        7.3 ms    61.6 ms
======================================  =========  ==========

So the policy is the last row, and both pools keep all cores for their own
calls:

* **OpenMP** (libgomp) reads its wait policy once, when Numba first starts
  its pool (the first parallel kernel call, not ``import numpy``).
  :func:`before_numba_kernel` sets ``OMP_WAIT_POLICY=PASSIVE`` just before
  that, unless the variable is set already or an OpenMP runtime is loaded
  already (then :func:`policy` reports it as not applied).
* **OpenBLAS** keeps no setting for its spin time that can be changed after
  it is loaded, so its idle workers are released instead: before each
  parallel Numba kernel, when OpenBLAS runs more than one thread,
  ``blas_thread_shutdown_`` (exported by OpenBLAS, and what it calls itself
  at ``fork``) ends them; the next GEMM starts them again (about 0.1 ms).
  The library is found through threadpoolctl, whichever package loaded it.

Nothing happens at import. ``config.CPU_THREAD_POLICY = False`` (or
``INDRNN_THREAD_POLICY=0``) turns the policy off; do that when other threads
of the same process call BLAS while a Numba kernel starts.
"""

from __future__ import annotations

import os

from . import config

_STATE = {"openmp": None, "blas_release": None, "looked_up": False}


def _openmp_loaded() -> bool:
    from threadpoolctl import threadpool_info

    return any(lib.get("user_api") == "openmp" for lib in threadpool_info())


def _lookup() -> None:
    """Once: decide the OpenMP wait policy and find OpenBLAS's thread release."""
    _STATE["looked_up"] = True
    if "OMP_WAIT_POLICY" in os.environ:
        _STATE["openmp"] = f"left as set: OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    elif _openmp_loaded():
        _STATE["openmp"] = "not applied: an OpenMP runtime was loaded before the first Numba kernel"
    else:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _STATE["openmp"] = "passive"
    from threadpoolctl import ThreadpoolController

    for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        fn = getattr(lib.dynlib, "blas_thread_shutdown_", None)
        if fn is not None:
            _STATE["blas_release"] = (lib, fn)
            break


def before_numba_kernel() -> None:
    """Apply the policy before a parallel Numba CPU kernel (cheap after the first call)."""
    if not config.CPU_THREAD_POLICY:
        return
    if not _STATE["looked_up"]:
        _lookup()
    release = _STATE["blas_release"]
    if release is not None and release[0].num_threads > 1:
        release[1]()


def policy() -> dict:
    """What the policy did: ``{"enabled", "openmp", "blas_release"}`` (for benchmarks and tests)."""
    return {
        "enabled": config.CPU_THREAD_POLICY,
        "openmp": _STATE["openmp"],
        "blas_release": None if _STATE["blas_release"] is None else _STATE["blas_release"][0].filepath,
    }
