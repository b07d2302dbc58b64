"""Device memory counted at the CUDA backend's one allocation point (issue 32, items 1 and 2).

Every device array of ``backend="cuda"`` is allocated through ``kernels._cuda.device_array`` (the
backend object's ``empty``, ``zeros`` and ``to_device``, and the kernels' own work arrays), which
adds its bytes to ``Backend.memory`` while it lives. Checked here in Numba's simulator against
arrays counted by hand, and through the memory rehearsal, which extrapolates the device's peak
linearly in T and says that the simulator has no device memory to check against.
"""

import gc

import numpy as np
import pytest

from indrnn_np import config, cuda_available
from indrnn_np.ops import indrnn_recurrence_backward, indrnn_recurrence_forward
from indrnn_np.ops.backend import CPU, CUDA, NUMPY, resolve

pytestmark = pytest.mark.cudasim

if not cuda_available():  # pragma: no cover - numba-cuda missing
    pytest.skip("the CUDA backend cannot be loaded here (numba-cuda missing?)", allow_module_level=True)

from indrnn_np.train import memory  # noqa: E402

B, N = 2, 3
F64 = 8


def _recurrence_step(T, rng):
    """Forward and backward of the recurrence op at T on the device, from host arrays."""
    xw = rng.standard_normal((T, B, N))
    u, b = rng.uniform(0, 1, N), np.zeros(N)
    h, cache = indrnn_recurrence_forward(xw, u, b, None, "relu", "cuda")
    indrnn_recurrence_backward(np.ones((T, B, N)), cache)


def _counted_peak(T, rng) -> int:
    mem = CUDA.memory
    gc.collect()
    base = mem.current
    mem.reset_peak()
    _recurrence_step(T, rng)
    gc.collect()
    assert mem.current == base  # every device array of the step released
    return mem.peak - base


def _by_hand(T) -> int:
    """The device arrays alive at the backward's peak: the cache (h (T, B, N), u (N,), h0 (B, N)), dh
    copied in, ∂J/∂a (T, B, N), dh0 and the per-column sums du_part, db_part (B, N), du and db (N,),
    and the steps of each sequence (B,) int64 the kernels read (T for all without lengths).
    (The forward holds fewer: xw, h (T, B, N), u, b (N,), h0 (B, N).)"""
    return F64 * (3 * T * B * N + 4 * B * N + 3 * N) + 8 * B


@pytest.mark.parametrize("T", [4, 7])
def test_counted_peak_is_the_arrays_the_step_must_hold(T, rng, monkeypatch):
    monkeypatch.setattr(config, "CUDA_REDUCTION", "two_stage")
    assert _counted_peak(T, rng) == _by_hand(T)


def test_counted_peak_grows_linearly_in_T(rng, monkeypatch):
    monkeypatch.setattr(config, "CUDA_REDUCTION", "two_stage")
    peaks = [_counted_peak(T, rng) for T in (4, 8, 12)]
    assert peaks[1] - peaks[0] == peaks[2] - peaks[1] == F64 * 3 * 4 * B * N


def test_the_backend_object_owns_placement_and_allocation():
    assert resolve("cuda") is CUDA and resolve(CUDA) is CUDA and CUDA == "cuda" and str(CUDA) == "cuda"
    assert CUDA.on_device and not CPU.on_device and not NUMPY.compiles and CPU.threads_tunable
    with pytest.raises(ValueError, match="backend must be one of 'numpy', 'cpu', 'cuda'; got 'gpu'"):
        resolve("gpu")
    mem = CUDA.memory
    before = mem.current
    a = CUDA.to_device(np.ones((5, 4)))
    z = CUDA.zeros((3,), np.float32)
    assert mem.current - before == 5 * 4 * 8 + 3 * 4
    view = a.reshape(20)  # a view keeps the memory alive
    del a
    gc.collect()
    assert mem.current - before == 5 * 4 * 8 + 3 * 4
    del view, z
    gc.collect()
    assert mem.current == before
    assert CPU.memory is None and CUDA.free_memory() is None  # the simulator: no device memory of its own


def test_rehearsal_extrapolates_the_device_peak_and_says_the_simulator_has_no_limit(monkeypatch):
    monkeypatch.setattr(config, "CUDA_REDUCTION", "two_stage")
    rng = np.random.default_rng(0)

    def phases(Tp):
        return [memory.Phase("step", "training step", lambda: _recurrence_step(Tp, rng))]

    with memory.wanted():
        estimate = memory.rehearse("one recurrence", phases, 64, backend="cuda")
    assert estimate.on_device and estimate.device_peak == _by_hand(64)
    assert estimate.device == _by_hand(64) and estimate.device_phase == "training step"
    text = memory.describe(estimate)
    assert "on the GPU: about" in text
    assert "unknown in Numba's CUDA simulator (no device memory of its own: no check)" in text
    memory.check_fits(estimate)  # nothing to check the device's bytes against: no refusal


def test_a_device_peak_beyond_the_free_memory_is_refused_in_one_line(monkeypatch):
    estimate = memory.MemoryEstimate(
        what="training adding, T = 100000, batch 50",
        parts={"runtime": 1},
        phase="training step",
        levers=("--batch", "--T"),
        on_device=True,
        device_peak=10 * 2**30,
        device_phase="training step",
    )
    monkeypatch.setattr(type(CUDA), "free_memory", lambda self: (2**30, 80 * 2**30))
    monkeypatch.setattr(config, "MEMORY_CHECK", True)
    with pytest.raises(memory.MemoryTooLarge) as err:
        memory.check_fits(estimate)
    message = str(err.value)
    assert "\n" not in message
    assert (
        "10.0 GiB of GPU memory at its peak (training step); 1.0 GiB of the GPU's 80.0 GiB is free" in message
    )
    assert not memory.fits(estimate)
    assert "does NOT fit" in memory.describe(estimate)
