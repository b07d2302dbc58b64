"""Test configuration.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is first imported, so it is
set here, at collection start: CUDA kernels run in Numba's simulator unless
the caller asked for a real GPU with ``NUMBA_ENABLE_CUDASIM=0``.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


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
