"""Test configuration.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is first imported, so it is
set here, at collection start: CUDA kernels run in Numba's simulator unless
the caller asked for a real GPU with ``NUMBA_ENABLE_CUDASIM=0``.

The command line's allocator policy (:mod:`indrnn_np.allocator`) is marked as decided in the test
process, so that the tests that call ``indrnn_np.cli.main`` in-process do not change the allocator
of every test after them (its effect on memory made one memory refusal's wording depend on the
tests' order); the commands the tests run as child processes apply it as a user's would, and
``tests/test_allocator.py`` tests it there.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from indrnn_np import allocator  # noqa: E402


def pytest_configure(config):
    # in pytest's own process only: a child that imports this module (benchmarks/memory_rss.py imports
    # write_fake_mnist) applies the policy as the command line does
    allocator._APPLIED.append("left alone: the test process (tests/conftest.py)")


def pytest_collection_modifyitems(config, items):
    sim = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    for item in items:
        if "gpu" in item.keywords and sim:
            item.add_marker(
                pytest.mark.skip(reason="needs a real GPU: run with NUMBA_ENABLE_CUDASIM=0 on a CUDA machine")
            )


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def tolerance(dtype, n_terms: int) -> float:
    """Relative tolerance for a fast path against the float64 reference.

    Scales with the dtype's machine epsilon and with the square root of the
    longest accumulation (a sum over T*B terms, say): 8 ε √n. For float64 and
    modest n this is ~1e-13; for float32 at T*B = 400, ~2e-5.
    """
    return 8 * float(np.finfo(dtype).eps) * float(np.sqrt(max(1, n_terms)))


def assert_close(a, ref, tol: float, name: str = "") -> None:
    """max|a - ref| ≤ tol · max(1, max|ref|).

    The floor of 1 (inputs in these tests are O(1)) keeps a sum that cancels
    to a small number, such as db over a short batch, from turning the float32
    rounding of its O(1) terms into a large relative error.
    """
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert a.shape == ref.shape, (name, a.shape, ref.shape)
    err = float(np.max(np.abs(a - ref))) if a.size else 0.0
    scale = max(1.0, float(np.max(np.abs(ref)))) if a.size else 1.0
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} > {tol:.3g} x {scale:.3g}"


@pytest.fixture
def copy_run():
    """Copy a run folder's files into a new folder (tests that damage a run work on a copy)."""

    def copy(src, dst):
        dst.mkdir()
        for p in src.iterdir():
            if p.is_file():
                (dst / p.name).write_bytes(p.read_bytes())
        return dst

    return copy


def write_fake_mnist(directory, n_train=600, n_test=200, gz=False, seed=0):
    """MNIST-format files of a learnable toy problem: class k lights up row band k."""
    from indrnn_np.tasks.data import write_idx

    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k : 4 + 2 * k, :] = 255
        ext = ".gz" if gz else ""
        write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return directory


@pytest.fixture
def fake_mnist(tmp_path):
    """A folder of small generated MNIST IDX files."""
    d = tmp_path / "mnist"
    d.mkdir()
    return write_fake_mnist(d)


#: The smallest kernel shaped like the project's (an inline device function called from a kernel),
#: compiled to PTX. Exit 3: NVVM cannot be loaded; exit 4: the compile asked for a CUDA driver.
PTX_PROBE = textwrap.dedent(
    """
    import sys
    from numba import cuda
    from numba.cuda.cudadrv import nvvm
    from numba.cuda.cudadrv.error import CudaSupportError

    try:
        nvvm.NVVM()
    except Exception as exc:
        print(type(exc).__name__, exc, file=sys.stderr)
        sys.exit(3)

    @cuda.jit(device=True, inline=True)
    def twice(v):
        return 2 * v

    def kernel(a):
        i = cuda.grid(1)
        if i < a.size:
            a[i] = twice(a[i])

    try:
        cuda.compile_ptx(kernel, "void(float32[::1])", cc=(9, 0))
    except CudaSupportError as exc:
        print(type(exc).__name__, exc, file=sys.stderr)
        sys.exit(4)
    """
)


def ptx_compile_missing(env) -> str | None:
    """Why the kernels cannot be compiled to PTX here (naming what the machine lacks), or None.

    Two known gaps, each a skip: no NVVM (no CUDA toolkit and no toolkit wheels), and plain numba's
    CUDA target without a driver (it asks the driver for the compute capability when it compiles a
    device function; numba-cuda does not). Any other failure of the probe is left to the test to report.
    """
    proc = subprocess.run([sys.executable, "-c", PTX_PROBE], capture_output=True, text=True, env=env)
    if proc.returncode == 3:
        return (
            "NVVM (the CUDA toolkit's compiler library) not found: "
            "pip install 'indrnn-np[cuda-kernels]' brings numba-cuda with the toolkit wheels"
        )
    if proc.returncode == 4 and importlib.util.find_spec("numba_cuda") is None:
        return (
            "plain numba's CUDA target needs a CUDA driver to compile device functions to PTX and none was "
            "found: pip install 'indrnn-np[cuda-kernels]' (numba-cuda compiles without a driver)"
        )
    return None
