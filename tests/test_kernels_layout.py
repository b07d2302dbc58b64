"""The kernels' layout: one folder a concern, its twins with the same names and arguments, and every CUDA
kernel in the table the static checks walk."""

import importlib
import importlib.util
import inspect
import pkgutil

import pytest

import indrnn_np.kernels as kernels
from indrnn_np import config, cuda_available

pytestmark = [
    pytest.mark.cudasim,
    pytest.mark.skipif(not cuda_available(), reason="the CUDA backend cannot load here"),
]

BACKENDS = ("reference", "cpu", "cuda")


def _concerns():
    return sorted(m.name for m in pkgutil.iter_modules(kernels.__path__) if m.ispkg)


def _python(fn):
    """The Python function behind a plain function, a Numba dispatcher or a (simulated) CUDA kernel."""
    return getattr(fn, "py_func", None) or getattr(fn, "fn", None) or fn


def _cuda_kind(obj):
    """ "kernel", "device" (a device function) or None, for a Numba CUDA dispatcher, real or simulated."""
    if hasattr(obj, "targetoptions") and hasattr(obj, "py_func"):
        return "device" if obj.targetoptions.get("device") else "kernel"
    if hasattr(obj, "_device") and hasattr(obj, "fn"):
        return "device" if obj._device else "kernel"
    return None


def test_every_concern_has_its_reference_and_its_twins_take_the_same_arguments():
    concerns = _concerns()
    assert {"recurrence", "scan", "fused", "batchnorm", "optimizer", "padding", "gemm"} <= set(concerns)
    twins = 0
    for concern in concerns:
        present = {
            b: importlib.import_module(f"indrnn_np.kernels.{concern}.{b}")
            for b in BACKENDS
            if importlib.util.find_spec(f"indrnn_np.kernels.{concern}.{b}") is not None
        }
        assert "cuda" in present, concern
        ref = present.get("reference")
        if ref is None:  # the GEMM: BLAS on the host, a kernel of its own only on the device
            continue
        for name, fn in vars(ref).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != ref.__name__:
                continue
            for b in ("cpu", "cuda"):
                twin = getattr(present.get(b), name, None)
                if twin is None or not callable(twin):
                    continue
                twins += 1
                want = list(inspect.signature(fn).parameters)
                got = list(inspect.signature(_python(twin)).parameters)
                assert got == want, (
                    f"{concern}.{b}.{name}{tuple(got)} differs from the reference's {tuple(want)}"
                )
    assert twins >= 30, twins


def test_every_cuda_kernel_is_a_module_level_definition_in_the_kernel_table():
    from indrnn_np.kernels import cuda as ck

    defined = {}
    for concern in _concerns():
        mod = importlib.import_module(f"indrnn_np.kernels.{concern}.cuda")
        for name, obj in vars(mod).items():
            if _cuda_kind(obj) == "kernel" and _python(obj).__module__ == mod.__name__:
                defined[id(obj)] = f"{concern}.{name}"
    gemm = importlib.import_module("indrnn_np.kernels.gemm.cuda")
    for dtype in ("float32", "float64"):
        listed = {id(e.kernel) for e in ck.kernel_table(dtype)}
        missing = sorted(defined[k] for k in set(defined) - listed)
        assert not missing, f"kernels not in kernel_table({dtype!r}): {missing}"
        # and nothing else but the GEMM, built once per tile size (a shared array's shape is a constant)
        extra = [e.name for e in ck.kernel_table(dtype) if id(e.kernel) not in defined]
        assert extra == ["gemm"], extra
        assert ck.kernel_table(dtype)[[e.name for e in ck.kernel_table(dtype)].index("gemm")].kernel is (
            gemm.gemm_kernel(config.CUDA_GEMM_TILE)
        )
    assert len(defined) == 38
