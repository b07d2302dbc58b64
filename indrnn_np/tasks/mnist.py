"""Sequential MNIST as the paper runs it: pixel by pixel (T = 784), permuted, and row by row (T = 28).

Each image becomes a sequence: ``"mnist"`` feeds the 784 pixels one at a
time (x: (784, B, 1)), ``"pmnist"`` feeds them in a fixed random order (the
permutation comes from a fixed seed and is saved with the run), ``"rowmnist"``
feeds the 28 rows of 28 pixels (x: (28, B, 28)), a much cheaper variant for a
CPU. Pixels are scaled to [0, 1]. The metric is the test error (a fraction);
always guessing gives 0.9.

``shift=k`` augments the training images: each one is moved by a random whole
number of pixels in [-k, k] along each axis (zeros fill in), a fresh draw for
every batch, before it becomes a sequence (and before pmnist's permutation).
Test images are never moved. With only the 4,000 training images of the
bundled subset this is the cheapest guard against overfitting.
"""

from __future__ import annotations

import copy

import numpy as np

from ..ops import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..ops.device import to_host
from .data import load_mnist

#: Variant -> (T, M).
VARIANTS = {"mnist": (784, 1), "pmnist": (784, 1), "rowmnist": (28, 28)}
PERMUTATION_SEED = 1234


def translate(images: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each 28 x 28 image by whole pixels, filling with zeros.

    Parameters
    ----------
    images : ndarray, (n, 784)
    offsets : ndarray of int, (n, 2)
        (down, right) pixels per image; negative moves up / left.

    Returns
    -------
    ndarray, (n, 784), images' dtype
    """
    n = len(images)
    if offsets.shape != (n, 2):
        raise ValueError(f"offsets must have shape ({n}, 2); got {offsets.shape}")
    k = int(np.max(np.abs(offsets), initial=0))
    padded = np.pad(images.reshape(n, 28, 28), ((0, 0), (k, k), (k, k)))
    out = np.empty((n, 28, 28), images.dtype)
    for i, (dr, dc) in enumerate(offsets):
        # the output's row r is the input's row r - dr
        out[i] = padded[i, k - dr : k - dr + 28, k - dc : k - dc + 28]
    return out.reshape(n, 784)


class MNISTTask:
    """Sequential MNIST for the training loop (data, cross-entropy loss, test error)."""

    outputs = 10
    head = "last"
    metric = "test_error"
    baseline = 0.9
    #: Test images per forward pass of :meth:`evaluate`.
    eval_chunk = 500

    def __init__(
        self, variant: str, *, data=None, test_size: int = 1000, shift: int = 0, dtype=np.float32, arrays=None
    ):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}; got {variant!r}")
        if not (isinstance(shift, (int, np.integer)) and 0 <= shift <= 8):
            raise ValueError(f"shift must be an integer number of pixels in [0, 8]; got {shift!r}")
        self.shift = int(shift)
        self.name = variant
        self.T, self.inputs = VARIANTS[variant]
        d = arrays if arrays is not None else load_mnist(data)
        self.description = d["description"]
        self.dtype = dtype
        self.train_x = d["train_x"].reshape(len(d["train_x"]), -1)  # (n, 784) uint8
        self.train_y = d["train_y"]
        self.test_x = d["test_x"].reshape(len(d["test_x"]), -1)
        self.test_y = d["test_y"]
        if self.train_x.shape[1] != 784:
            raise ValueError(f"MNIST images must have 784 pixels; got {self.train_x.shape[1]}")
        self.test_size = min(int(test_size), len(self.test_y))
        self.permutation = (
            np.random.default_rng(PERMUTATION_SEED).permutation(784) if variant == "pmnist" else None
        )

    def sequences(self, images: np.ndarray) -> np.ndarray:
        """(n, 784) uint8 images -> time-major sequences (T, n, M) in [0, 1]."""
        x = images.astype(self.dtype) / self.dtype(255.0)
        if self.permutation is not None:
            x = x[:, self.permutation]
        return np.ascontiguousarray(x.reshape(len(images), self.T, self.inputs).transpose(1, 0, 2))

    def train_batch(self, rng: np.random.Generator, B: int):
        idx = rng.integers(0, len(self.train_y), B)
        images = self.train_x[idx]
        if self.shift:
            images = translate(images, rng.integers(-self.shift, self.shift + 1, (B, 2)))
        return self.sequences(images), self.train_y[idx]

    loss_forward = staticmethod(softmax_cross_entropy_forward)
    loss_backward = staticmethod(softmax_cross_entropy_backward)

    def rehearsal(self, T: int) -> MNISTTask:
        """This task with sequences of ``T`` steps (the first ``T`` steps' pixels of the same images,
        shared, not copied; no translation), for the memory rehearsal (:mod:`indrnn_np.train.memory`)."""
        if not 1 <= T <= self.T:
            raise ValueError(f"T must be in [1, {self.T}]; got {T!r}")
        small = copy.copy(self)
        small.T, small.shift = int(T), 0
        small.train_x = self.train_x[:, : T * self.inputs]
        small.test_x = self.test_x[:, : T * self.inputs]
        if self.permutation is not None:
            small.permutation = np.random.default_rng(PERMUTATION_SEED).permutation(T * self.inputs)
        return small

    def evaluate(self, model, *, full: bool = False, batch: int | None = None) -> dict:
        """``{"test_error": ...}`` on the first ``test_size`` test images (all of them with ``full``),
        ``batch`` at a time (default :attr:`eval_chunk`)."""
        batch = self.eval_chunk if batch is None else batch
        n = len(self.test_y) if full else self.test_size
        wrong = 0
        for i in range(0, n, batch):
            # [0]: this chunk's caches are dropped before the next chunk's forward
            logits = model.forward(self.sequences(self.test_x[i : min(i + batch, n)]), train=False)[0]
            logits = to_host(logits)  # one copy per evaluation batch when the model is on the GPU
            wrong += int(np.sum(np.argmax(logits, axis=-1) != self.test_y[i : min(i + batch, n)]))
        return {"test_error": wrong / n}

    def artifacts(self) -> dict:
        """Files saved with the run: the permutation of pmnist."""
        return {"permutation.npy": self.permutation} if self.permutation is not None else {}
