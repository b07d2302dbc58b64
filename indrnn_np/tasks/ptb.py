"""Character-level language modelling on Penn Treebank, in bits per character.

The training text is one long stream of character ids, cut into B parallel
streams; step k trains on characters [kT, (k+1)T) of every stream and
predicts each next character. The hidden state is carried from one batch to
the next (stateful training: the model reads the streams as if it never
stopped, while backpropagation stops at the batch boundary). The inputs are
one-hot vectors over the vocabulary built from the training text.

Bits per character = the mean cross-entropy in nats / ln 2. A model that
predicts the uniform distribution scores log2(V); the paper's 6-layer IndRNN
reaches 1.26 on the standard char-level test set.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ..ops import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..ops.device import to_host
from .data import CharVocab, load_ptb


class PTBCharTask:
    """Char-level PTB for the training loop: stateful batches, cross-entropy, test BPC."""

    name = "ptb-char"
    head = "all"
    metric = "test_bpc"
    stateful = True

    def __init__(
        self,
        T: int,
        batch: int,
        *,
        data=None,
        test_chars: int = 20000,
        eval_streams: int = 8,
        dtype=np.float32,
        texts=None,
    ):
        t = texts if texts is not None else load_ptb(data)
        self.description = t["description"]
        self.vocab = CharVocab(t["train"])
        self.inputs = self.outputs = len(self.vocab)
        self.baseline = math.log2(len(self.vocab))
        self.T, self.batch, self.dtype = int(T), int(batch), dtype
        ids = self.vocab.encode(t["train"])
        L = len(ids) // batch
        if L < T + 1:
            raise ValueError(
                f"the training text ({len(ids)} characters) is too short for {batch} streams of T = {T}"
            )
        self.streams = ids[: L * batch].reshape(batch, L).T.copy()  # (L, B): stream b is column b
        self.pos = 0
        self.full_test_ids = self.vocab.encode(t["test"])
        n = min(len(self.full_test_ids), int(test_chars)) if test_chars else len(self.full_test_ids)
        self.test_ids = self.full_test_ids[:n]  # the prefix evaluated during training
        self.eval_streams = eval_streams

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        """(T, B) ids -> (T, B, V) one-hot inputs."""
        x = np.zeros((*ids.shape, self.inputs), self.dtype)
        np.put_along_axis(x, ids[..., None], 1.0, axis=-1)
        return x

    def train_batch(self, rng, B: int):
        """The next T characters of every stream (``rng`` is unused: the order is the text's)."""
        if B != self.batch:
            raise ValueError(f"the PTB streams were cut for batch {self.batch}; got {B}")
        if self.pos + self.T + 1 > len(self.streams):
            self.pos = 0  # next epoch
        chunk = self.streams[self.pos : self.pos + self.T + 1]
        self.pos += self.T
        return self.one_hot(chunk[:-1]), chunk[1:]

    loss_forward = staticmethod(softmax_cross_entropy_forward)
    loss_backward = staticmethod(softmax_cross_entropy_backward)

    def evaluate(self, model, *, full: bool = False) -> dict:
        """``{"test_bpc": ...}`` on the first ``test_chars`` characters of the test text (all of it with
        ``full``), cut into ``eval_streams`` streams and read in chunks of T with the state carried; the
        training state is saved before and restored after."""
        from ..nn.models import recurrent_states, set_recurrent_states

        ids = self.full_test_ids if full else self.test_ids
        E = self.eval_streams
        L = (len(ids) - 1) // E
        inputs = ids[: L * E].reshape(E, L).T
        targets = ids[1 : L * E + 1].reshape(E, L).T
        saved = recurrent_states(model)
        set_recurrent_states(model, None)
        nats, count = 0.0, 0
        try:
            for s in range(0, L, self.T):
                x = self.one_hot(inputs[s : s + self.T])
                logits = model.forward(x, train=False)[0]  # the caches go before the next chunk
                logits = to_host(logits)  # one copy per evaluation chunk when the model is on the GPU
                loss, _ = softmax_cross_entropy_forward(logits, targets[s : s + self.T])
                nats += loss * targets[s : s + self.T].size
                count += targets[s : s + self.T].size
        finally:
            set_recurrent_states(model, saved)
        return {"test_bpc": nats / count / math.log(2)}

    @property
    def eval_chunk(self) -> int:
        """Streams per forward pass of :meth:`evaluate` (``eval_streams``)."""
        return self.eval_streams

    def rehearsal(self, T: int) -> PTBCharTask:
        """This task read ``T`` characters at a time (the same text, shared), from the start, for the
        memory rehearsal (:mod:`indrnn_np.train.memory`)."""
        small = copy.copy(self)
        small.T, small.pos = int(T), 0
        return small

    def state_dict(self) -> dict:
        return {"pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.pos = int(state["pos"])
