"""Layer 3: the paper's networks built from :mod:`indrnn_np.nn.layers`.

:func:`build_indrnn` (plain, batch-normalised and residual IndRNN stacks with
a dense head), :func:`build_baseline` (RNN, IRNN, LSTM), and helpers that walk
a model's layers.
"""

from __future__ import annotations

import numpy as np

from ..dynamics import relu_u_max, relu_u_min
from .layers import (
    BN_MODES,
    BN_POSITIONS,
    HEADS,
    LSTM,
    RNN,
    BatchNorm,
    Dense,
    Dropout,
    IndRNN,
    LastStep,
    Layer,
    Recurrence,
    Residual,
    Sequential,
)


def build_indrnn(
    T: int,
    M: int,
    outputs: int,
    *,
    hidden: int = 128,
    layers: int = 2,
    residual: bool = False,
    bn: str = "none",
    bn_position: str = "before",
    dropout: float = 0.0,
    head: str = "last",
    activation: str = "relu",
    backend: str = "cpu",
    gamma: float = 2.0,
    w_std: float | None = 0.001,
    seed: int = 0,
    dtype=np.float32,
) -> Sequential:
    """The paper's IndRNN networks (Fig. 1), from the adding problem to deep residual stacks.

    Basic form (``residual=False``), ``layers`` times:

    * ``bn="none"``: IndRNN (W, u, b fused, as the adding-problem code);
    * ``bn_position="before"``: Weight → BN → IndRec+ReLU (Fig. 1a);
    * ``bn_position="after"``: IndRNN → BN (the paper's alternative placement);

    each followed by dropout (one mask per sequence) when ``dropout > 0``.

    Residual form (``residual=True``): an IndRNN layer to width ``hidden``,
    then ``layers - 1`` pre-activation blocks ``x + F(x)`` with
    F = (BN → IndRec+ReLU → Weight) × 2 (Fig. 1b), then a final BN → IndRec.
    ``bn="none"`` drops the BNs from the blocks.

    Head: ``"last"`` a dense layer on the last step (adding, classification),
    ``"all"`` a dense layer on every step (language modelling). With batch
    norm, a final BN (``bn_head``) sits just before the head (on the last
    step's (B, N) output, statistics over the batch, for ``"last"``; of
    ``bn``'s kind for ``"all"``). In the ``"after"`` placement the last
    layer's own BN already does this. Without it the last
    layer's output, a sum over up to T steps when u is near 1, reaches the
    head unnormalised (pixel MNIST, lr 2e-4, 200 steps: mean training loss
    over the 200 steps 55 nats and 82 % test error without it; 2.17 nats and
    75 % with it).

    Initialisation (Deep IndRNN paper and official code): u ~ U(0, u_max) in
    hidden layers and U(u_min, u_max) in the last recurrent layer when the head
    reads only the last step, with u_max = γ^{1/T} and u_min = (1/γ)^{1/T};
    IndRNN input weights ~ N(0, w_std²) (0.001 in the adding code; None gives
    U(±1/√M)).
    """
    if layers < 1 or hidden < 1 or outputs < 1:
        raise ValueError(f"layers, hidden and outputs must be >= 1; got {layers}, {hidden}, {outputs}")
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}; got {bn!r}")
    if bn_position not in BN_POSITIONS:
        raise ValueError(f"bn_position must be one of {BN_POSITIONS}; got {bn_position!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}; got {head!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout}")
    rng = np.random.default_rng(seed)
    u_max = relu_u_max(T, gamma)
    u_hidden = (0.0, u_max)
    u_last = (relu_u_min(T, gamma), u_max) if head == "last" else u_hidden
    kw = dict(activation=activation, backend=backend, rng=rng, dtype=dtype)

    def norm():
        return BatchNorm(hidden, mode=bn, T_max=T, backend=backend, dtype=dtype)

    stack: list[tuple[str, Layer]] = []
    drop_seed = seed + 1000

    def add_dropout(i):
        if dropout > 0:
            stack.append((f"drop{i}", Dropout(dropout, seed=drop_seed + i)))

    if not residual:
        for i in range(1, layers + 1):
            u_init = u_last if i == layers else u_hidden
            m_in = M if i == 1 else hidden
            if bn != "none" and bn_position == "before":
                stack += [
                    (f"dense{i}", Dense(m_in, hidden, bias=False, rng=rng, dtype=dtype)),
                    (f"bn{i}", norm()),
                    (f"indrec{i}", Recurrence(hidden, u_init=u_init, **kw)),
                ]
            else:
                stack.append((f"indrnn{i}", IndRNN(m_in, hidden, u_init=u_init, w_std=w_std, **kw)))
                if bn != "none":
                    stack.append((f"bn{i}", norm()))
            add_dropout(i)
    else:
        stack.append(("indrnn1", IndRNN(M, hidden, u_init=u_hidden, w_std=w_std, **kw)))
        add_dropout(1)
        for i in range(2, layers + 1):
            body: list[tuple[str, Layer]] = []
            for j in (1, 2):
                if bn != "none":
                    body.append((f"bn{j}", norm()))
                # dense1 feeds bn2, which removes any constant: it gets no bias
                body += [
                    (f"indrec{j}", Recurrence(hidden, u_init=u_hidden, **kw)),
                    (
                        f"dense{j}",
                        Dense(hidden, hidden, bias=not (j == 1 and bn != "none"), rng=rng, dtype=dtype),
                    ),
                ]
            stack.append((f"res{i}", Residual(Sequential(body))))
            add_dropout(i)
        if bn != "none":
            stack.append(("bn_out", norm()))
        stack.append(("indrec_out", Recurrence(hidden, u_init=u_last, **kw)))
    # The last recurrent layer would otherwise reach the head unnormalised: with u near 1 it
    # sums its input over T steps (784 for pixel MNIST), and the head starts with huge logits.
    bn_head = bn != "none" and (residual or bn_position == "before")
    if head == "last":
        stack.append(("last", LastStep()))
        if bn_head:  # statistics over the batch of the one step the head reads
            stack.append(("bn_head", BatchNorm(hidden, mode="time", backend=backend, dtype=dtype)))
    elif bn_head:
        stack.append(("bn_head", norm()))
    stack.append(("head", Dense(hidden, outputs, rng=rng, dtype=dtype)))
    return Sequential(stack)


def indrnn_regressor(
    T: int, M: int = 2, hidden: int = 128, layers: int = 2, outputs: int = 1, **kw
) -> Sequential:
    """The paper's adding-problem network: ``layers`` IndRNN layers and a dense head on the last step."""
    return build_indrnn(T, M, outputs, hidden=hidden, layers=layers, **kw)


#: Models the training command knows.
MODELS = ("indrnn", "rnn-tanh", "irnn", "lstm")


def build_baseline(
    model: str,
    M: int,
    outputs: int,
    *,
    hidden: int = 128,
    head: str = "last",
    seed: int = 0,
    dtype=np.float32,
) -> Sequential:
    """The paper's single-layer baselines with a dense head: ``"rnn-tanh"``, ``"irnn"`` or ``"lstm"``.

    Parameter counts for the adding problem (M = 2, 128 units, 1 output):
    RNN 16,897 and LSTM 67,201, the paper's ≈16K and ≈67K.
    """
    rng = np.random.default_rng(seed)
    if model == "rnn-tanh":
        rec = RNN(M, hidden, activation="tanh", rng=rng, dtype=dtype)
    elif model == "irnn":
        rec = RNN(M, hidden, activation="relu", identity_init=True, rng=rng, dtype=dtype)
    elif model == "lstm":
        rec = LSTM(M, hidden, rng=rng, dtype=dtype)
    else:
        raise ValueError(f"model must be one of {MODELS[1:]}; got {model!r}")
    stack: list[tuple[str, Layer]] = [(model.replace("-", "_"), rec)]
    if head == "last":
        stack.append(("last", LastStep()))
    stack.append(("head", Dense(hidden, outputs, rng=rng, dtype=dtype)))
    return Sequential(stack)


def leaf_layers(model):
    """Every layer of a model that holds no other layers, in order, Residual bodies included."""
    layers = model.body.layers if isinstance(model, Residual) else getattr(model, "layers", [])
    for _, layer in layers:
        if isinstance(layer, Residual | Sequential):
            yield from leaf_layers(layer)
        else:
            yield layer


def recurrent_layers(model):
    """Every IndRNN and Recurrence layer of a model, Residual bodies included."""
    return (layer for layer in leaf_layers(model) if isinstance(layer, IndRNN | Recurrence))


def set_stateful(model, batch: int) -> None:
    """Make every recurrent layer carry its state across batches, starting from zeros of (batch, N)."""
    for layer in recurrent_layers(model):
        layer.stateful = True
        layer.state = np.zeros((batch, layer.params["u"].size), layer.params["u"].dtype)


def recurrent_states(model) -> list:
    """The current states (copies), in layer order."""
    return [None if layer.state is None else layer.state.copy() for layer in recurrent_layers(model)]


def set_recurrent_states(model, states) -> None:
    """Set the states (``None``: every layer starts from zeros at its next forward pass)."""
    layers = list(recurrent_layers(model))
    for i, layer in enumerate(layers):
        layer.state = None if states is None else states[i]
