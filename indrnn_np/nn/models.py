"""Layer 3: the paper's networks built from :mod:`indrnn_np.nn.layers`.

:func:`build_indrnn` (plain, batch-normalised and residual IndRNN stacks with
a dense head), :func:`build_baseline` (RNN, IRNN, LSTM), and helpers that walk
a model's layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._checks import check_int
from ..dynamics import relu_u_max, relu_u_min
from ..ops import POOLS, require_cuda
from ..ops import device as dev
from ..ops.backend import CUDA, Backend, resolve
from ..ops.indrnn import check_algorithm
from .layers import (
    BN_MODES,
    BN_POSITIONS,
    HEADS,
    LSTM,
    RNN,
    BatchNorm,
    Bidirectional,
    Dense,
    DenseConnection,
    Dropout,
    IndRNN,
    LastStep,
    Layer,
    Pool,
    Recurrence,
    Residual,
    Sequential,
)


def build_indrnn(
    T: int,
    M: int,
    outputs: int,
    *,
    hidden: int | Sequence[int] = 128,
    layers: int = 2,
    residual: bool = False,
    bn: str = "none",
    bn_position: str = "before",
    dropout: float = 0.0,
    head: str = "last",
    pool: str = "last",
    activation: str = "relu",
    backend: str = "cpu",
    gamma: float = 2.0,
    w_std: float | None = 0.001,
    bidirectional: bool = False,
    algorithm: str = "sequential",
    seed: int = 0,
    dtype=np.float32,
) -> Sequential:
    """The paper's IndRNN networks (Fig. 1), from the adding problem to deep residual stacks.

    ``hidden`` is the width of every layer, or a list of each layer's width
    (its length is then the number of layers, e.g. ``[128, 1]``: the paper's
    one-neuron second layer; a residual network needs one width).

    Basic form (``residual=False``), ``layers`` times:

    * ``bn="none"``: IndRNN (W, u, b fused, as the adding-problem code);
    * ``bn_position="before"``: Weight → BN → IndRec+ReLU (Fig. 1a);
    * ``bn_position="after"``: IndRNN → BN (the paper's alternative placement);

    each followed by dropout (one mask per sequence) when ``dropout > 0``.

    Residual form (``residual=True``): an IndRNN layer to width ``hidden``,
    then ``layers - 1`` pre-activation blocks ``x + F(x)`` with
    F = (BN → IndRec+ReLU → Weight) × 2 (Fig. 1b), then a final BN → IndRec.
    ``bn="none"`` drops the BNs from the blocks.

    Head: ``"last"`` a dense layer on one vector per sequence (adding, classification),
    ``"all"`` a dense layer on every step (language modelling). ``pool`` says how the
    one vector reads the sequence (``head="last"`` only): ``"last"`` its last step
    (:class:`~indrnn_np.nn.layers.LastStep`: the final state must carry the whole
    sequence), ``"mean"`` or ``"max"`` over its real steps
    (:class:`~indrnn_np.nn.layers.Pool`: every step reaches the head directly). With batch
    norm, a final BN (``bn_head``) sits just before the head (on the last
    step's (B, N) output, statistics over the batch, for ``"last"``; of
    ``bn``'s kind for ``"all"``). In the ``"after"`` placement the last
    layer's own BN already does this. Without it the last
    layer's output, a sum over up to T steps when u is near 1, reaches the
    head unnormalised (pixel MNIST, lr 2e-4, 200 steps: mean training loss
    over the 200 steps 55 nats and 82 % test error without it; 2.17 nats and
    75 % with it).

    Every recurrent layer's ``u_bounds`` is ``(-u_max, u_max)``: an optimizer built
    on the model (``Adam(model, ...)``) projects u into it after every step.

    Initialisation (Deep IndRNN paper and official code): u ~ U(0, u_max) in
    hidden layers and U(u_min, u_max) in the last recurrent layer when the head
    reads only the last step (``pool="last"``), with u_max = γ^{1/T} and u_min = (1/γ)^{1/T};
    IndRNN input weights ~ N(0, w_std²) (0.001 in the adding code; None gives
    U(±1/√M)).

    ``bidirectional=True``: every recurrent unit (the IndRNN layer, or the
    Weight → BN → IndRec of ``bn_position="before"``, or the IndRec of a
    residual block) becomes a :class:`~indrnn_np.nn.layers.Bidirectional` pair
    of the same unit, one reading each sequence forward and one in reverse,
    their outputs concatenated (twice the width). In the residual form the
    stream is ``2 * hidden`` wide and each block's Weight maps the pair's
    output back to it. A last-step head reads the forward direction at each
    sequence's last step and the backward direction at step 0 (where it has
    read the whole sequence).

    ``backend`` is the model's (:attr:`Sequential.backend`), decided here once: every layer computes
    with it, and with ``"cuda"`` the model is built on the GPU (:func:`to_device`), so its
    parameters are device arrays. ``CudaUnavailableError`` when no CUDA target can run.

    ``algorithm``: how every recurrent layer runs its time loop, ``"sequential"`` or ``"scan"``
    (relu and identity; see :func:`indrnn_np.indrnn_forward`): the same numbers to rounding.

    Returns
    -------
    Sequential
        x (T, B, M) -> (B, outputs) with ``head="last"``, (T, B, outputs) with ``"all"``.

    Raises
    ------
    TypeError
        T, M, outputs, layers or a width of ``hidden`` not an integer (None, 2.5, True).
    ValueError
        One of them below 1, widths that differ in a residual network, or an unknown
        ``bn``, ``bn_position``, ``head``, ``pool`` (or a pool with ``head="all"``), ``algorithm``
        (or ``"scan"`` with tanh), or
        ``dropout`` outside [0, 1).
    """
    T, M, outputs = check_int("T", T), check_int("M", M), check_int("outputs", outputs)
    _check_backend(backend)
    check_algorithm(algorithm, activation)
    widths = _widths(hidden, layers)
    layers = len(widths)
    if residual and len(set(widths)) != 1:
        raise ValueError(f"a residual network's layers all have one width; got hidden={list(widths)}")
    hidden = widths[-1]
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}; got {bn!r}")
    if bn_position not in BN_POSITIONS:
        raise ValueError(f"bn_position must be one of {BN_POSITIONS}; got {bn_position!r}")
    _check_head(head, pool)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout}")
    rng = np.random.default_rng(seed)
    u_max = relu_u_max(T, gamma)
    u_hidden = (0.0, u_max)
    u_last = (relu_u_min(T, gamma), u_max) if head == "last" and pool == "last" else u_hidden
    k = 2 if bidirectional else 1  # a pair's output is twice its width
    kw = dict(
        activation=activation,
        backend=backend,
        algorithm=algorithm,
        u_bounds=(-u_max, u_max),
        rng=rng,
        dtype=dtype,
    )

    def norm(width):
        return BatchNorm(width, mode=bn, T_max=T, backend=backend, dtype=dtype)

    def pair(make):
        """One recurrent unit, or a bidirectional pair of two built alike."""
        return Bidirectional(make(), make()) if bidirectional else make()

    stack: list[tuple[str, Layer]] = []
    drop_seed = seed + 1000

    def add_dropout(i):
        if dropout > 0:
            stack.append((f"drop{i}", Dropout(dropout, seed=drop_seed + i)))

    if not residual:
        for i in range(1, layers + 1):
            u_init = u_last if i == layers else u_hidden
            m_in, width = (M if i == 1 else k * widths[i - 2]), widths[i - 1]
            if bn != "none" and bn_position == "before":

                def unit(m_in=m_in, width=width, u_init=u_init):
                    return [
                        ("dense", Dense(m_in, width, bias=False, rng=rng, dtype=dtype)),
                        ("bn", norm(width)),
                        ("indrec", Recurrence(width, u_init=u_init, **kw)),
                    ]

                if bidirectional:
                    stack.append((f"bi{i}", pair(lambda unit=unit: Sequential(unit()))))
                else:  # the names of the unidirectional stack, as saved runs have them
                    stack += [(f"{name}{i}", layer) for name, layer in unit()]
            else:
                make = lambda m_in=m_in, width=width, u_init=u_init: IndRNN(  # noqa: E731
                    m_in, width, u_init=u_init, w_std=w_std, **kw
                )
                stack.append((f"indrnn{i}", pair(make)))
                if bn != "none":
                    stack.append((f"bn{i}", norm(k * width)))
            add_dropout(i)
        out_width = k * widths[-1]
    else:
        C = k * hidden  # the residual stream's width
        stack.append(("indrnn1", pair(lambda: IndRNN(M, hidden, u_init=u_hidden, w_std=w_std, **kw))))
        add_dropout(1)
        for i in range(2, layers + 1):
            body: list[tuple[str, Layer]] = []
            for j in (1, 2):
                if bn != "none":
                    body.append((f"bn{j}", norm(C)))
                # dense1 feeds bn2, which removes any constant: it gets no bias
                body += [
                    (f"indrec{j}", pair(lambda: Recurrence(C, u_init=u_hidden, **kw))),
                    (
                        f"dense{j}",
                        Dense(k * C, C, bias=not (j == 1 and bn != "none"), rng=rng, dtype=dtype),
                    ),
                ]
            stack.append((f"res{i}", Residual(Sequential(body))))
            add_dropout(i)
        if bn != "none":
            stack.append(("bn_out", norm(C)))
        stack.append(("indrec_out", pair(lambda: Recurrence(C, u_init=u_last, **kw))))
        out_width = k * C
    # The last recurrent layer would otherwise reach the head unnormalised: with u near 1 it
    # sums its input over T steps (784 for pixel MNIST), and the head starts with huge logits.
    bn_head = bn != "none" and (residual or bn_position == "before")
    if head == "last":
        stack.append(_sequence_head(pool, out_width // 2 if bidirectional else None))
        if bn_head:  # statistics over the batch of the one step the head reads
            stack.append(("bn_head", BatchNorm(out_width, mode="time", backend=backend, dtype=dtype)))
    elif bn_head:
        stack.append(("bn_head", norm(out_width)))
    stack.append(("head", Dense(out_width, outputs, rng=rng, dtype=dtype)))
    return _placed(Sequential(stack), backend)


def indrnn_regressor(
    T: int, M: int = 2, hidden: int = 128, layers: int = 2, outputs: int = 1, **kw
) -> Sequential:
    """The paper's adding-problem network: ``layers`` IndRNN layers and a dense head on the last step."""
    return build_indrnn(T, M, outputs, hidden=hidden, layers=layers, **kw)


#: Models the training command knows.
MODELS = ("indrnn", "rnn-tanh", "irnn", "lstm")


def build_dense_indrnn(
    T: int,
    M: int,
    outputs: int,
    *,
    blocks=(3, 3, 3),
    growth: int = 16,
    hidden: int | None = None,
    bn: str = "time",
    dropout: float = 0.0,
    head: str = "last",
    pool: str = "last",
    activation: str = "relu",
    backend: str = "cpu",
    gamma: float = 2.0,
    seed: int = 0,
    dtype=np.float32,
) -> Sequential:
    """Dense IndRNN (Deep IndRNN paper): dense blocks of growth rate k with a 4k bottleneck, and transitions.

    Every recurrent unit is the Weight → BN → IndRec of the batch-normalised
    IndRNN (no BN with ``bn="none"``). The network:

    * an input unit to ``hidden`` features (default ``2 * growth``);
    * ``len(blocks)`` dense blocks; block i has ``blocks[i]`` dense layers,
      each ``concat(x, F(x))`` with F = unit(C → 4k) → unit(4k → k) (the
      bottleneck), so a block adds ``blocks[i] * k`` features;
    * between blocks, a transition unit that halves the features;
    * BN (of ``bn``'s kind) and a dense head, as the other deep networks.

    Recurrent layers: ``1 + 2 * sum(blocks) + len(blocks) - 1``: 21 for
    the default (3, 3, 3). u ~ U(0, γ^{1/T}) in every layer, and every layer's
    ``u_bounds`` is ``(-γ^{1/T}, γ^{1/T})`` (the optimizer's projection).

    Parameters
    ----------
    blocks : sequence of int
        Dense layers in each block.
    growth : int
        k, the features each dense layer adds.
    hidden : int, optional
        Width of the input unit.

    backend : {"cpu", "numpy", "cuda"}
        The model's, as :func:`build_indrnn`.

    Returns
    -------
    Sequential
        x (T, B, M) -> (B, outputs) with ``head="last"``, (T, B, outputs) with ``"all"``.

    Raises
    ------
    TypeError
        T, M, outputs, growth, hidden or a block's size not an integer (None, 2.5, True).
    ValueError
        One of them below 1, no blocks, or a bad ``bn``, ``head`` or ``dropout``.
    """
    _check_backend(backend)
    T, M, outputs = check_int("T", T), check_int("M", M), check_int("outputs", outputs)
    growth = check_int("growth", growth)
    hidden = None if hidden is None else check_int("hidden", hidden)
    blocks = [check_int(f"blocks[{i}]", b) for i, b in enumerate(blocks)]
    if not blocks:
        raise ValueError("blocks must hold at least one block; got an empty sequence")
    _check_head(head, pool)
    if bn not in BN_MODES or not 0.0 <= dropout < 1.0:
        raise ValueError(f"bad bn {bn!r} or dropout {dropout}")
    rng = np.random.default_rng(seed)
    u_max = relu_u_max(T, gamma)
    u_init = (0.0, u_max)
    kw = dict(activation=activation, backend=backend, u_bounds=(-u_max, u_max), rng=rng, dtype=dtype)

    def unit(m_in, width):
        layers = [("dense", Dense(m_in, width, bias=bn == "none", rng=rng, dtype=dtype))]
        if bn != "none":
            layers.append(("bn", BatchNorm(width, mode=bn, T_max=T, backend=backend, dtype=dtype)))
        return layers + [("indrec", Recurrence(width, u_init=u_init, **kw))]

    C = hidden or 2 * growth
    stack: list[tuple[str, Layer]] = [("in", Sequential(unit(M, C)))]
    for i, n_layers in enumerate(blocks, start=1):
        for j in range(1, n_layers + 1):
            body = [(f"a_{n}", layer) for n, layer in unit(C, 4 * growth)]
            body += [(f"b_{n}", layer) for n, layer in unit(4 * growth, growth)]
            if dropout > 0:
                body.append(("drop", Dropout(dropout, seed=seed + 1000 + 100 * i + j)))
            stack.append((f"block{i}_{j}", DenseConnection(Sequential(body))))
            C += growth
        if i < len(blocks):
            stack.append((f"transition{i}", Sequential(unit(C, C // 2))))
            C //= 2
    if head == "last":
        stack.append(_sequence_head(pool))
        if bn != "none":
            stack.append(("bn_head", BatchNorm(C, mode="time", backend=backend, dtype=dtype)))
    elif bn != "none":
        stack.append(("bn_head", BatchNorm(C, mode=bn, T_max=T, backend=backend, dtype=dtype)))
    stack.append(("head", Dense(C, outputs, rng=rng, dtype=dtype)))
    return _placed(Sequential(stack), backend)


def _check_head(head: str, pool: str) -> None:
    """ValueError unless ``head`` is one of :data:`HEADS` and ``pool`` one of :data:`POOLS`, a pool
    over time going with the sequence-level head only."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}; got {head!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}; got {pool!r}")
    if head == "all" and pool != "last":
        raise ValueError(
            f"pool={pool!r} pools a sequence into one vector for a head with one output per sequence "
            "(head='last'); head='all' has an output at every step: leave pool='last'"
        )


def _sequence_head(pool: str, split: int | None = None) -> tuple[str, Layer]:
    """The named layer that reads one vector per sequence: the last step (``split``: where a
    bidirectional output's backward half starts, read at step 0, where it has read the whole
    sequence), or a pool over the real steps. Named ``last`` either way (the parameter names of a
    saved run do not depend on it: the layer has none)."""
    if pool == "last":
        return "last", LastStep(split=split)
    return "last", Pool(pool)


def _check_backend(backend) -> Backend:
    return resolve(backend).require()  # CudaUnavailableError before anything is built


def _placed(model: Sequential, backend) -> Sequential:
    """Give a new model its backend: on the GPU for ``"cuda"`` (:func:`to_device`), else on the host."""
    backend = resolve(backend)
    if backend.on_device:
        return to_device(model)
    model.backend = backend
    return model


def _widths(hidden, layers: int) -> list[int]:
    """Each layer's width from ``hidden`` (one int, or a sequence of them) and ``layers``."""
    layers = check_int("layers", layers)
    if (isinstance(hidden, Sequence) and not isinstance(hidden, str)) or isinstance(hidden, np.ndarray):
        if len(hidden) == 0:
            raise ValueError("hidden must be an integer >= 1 or a non-empty sequence of them; got []")
        return [check_int(f"hidden[{i}]", w) for i, w in enumerate(hidden)]
    return [check_int("hidden", hidden)] * layers


def build_baseline(
    model: str,
    M: int,
    outputs: int,
    *,
    hidden: int | Sequence[int] = 128,
    layers: int = 1,
    head: str = "last",
    pool: str = "last",
    seed: int = 0,
    dtype=np.float32,
    backend: str = "cpu",
) -> Sequential:
    """The paper's baselines with a dense head: ``"rnn-tanh"``, ``"irnn"`` or ``"lstm"``, stacked ``layers`` deep.

    ``hidden``: every layer's width, or a list of each layer's. The paper's
    adding baselines have one layer. Parameter counts for the adding problem
    (M = 2, 128 units, 1 output): RNN 16,897 and LSTM 67,201, the paper's
    ≈16K and ≈67K. Layers are named ``lstm``, ``lstm2``, ``lstm3``, ... (the
    first keeps the single-layer name, so saved one-layer runs load).
    ``backend``: the model's (:attr:`Sequential.backend`): the optimizer's update kernels and the
    training loop's thread tuning follow it; ``"cuda"`` raises :class:`NoCudaKernelError`.
    """
    if model not in MODELS[1:]:
        raise ValueError(f"model must be one of {MODELS[1:]}; got {model!r}")
    _check_head(head, pool)
    M, outputs = check_int("M", M), check_int("outputs", outputs)
    widths = _widths(hidden, layers)
    rng = np.random.default_rng(seed)
    stack: list[tuple[str, Layer]] = []
    for i, width in enumerate(widths):
        m_in = M if i == 0 else widths[i - 1]
        if model == "rnn-tanh":
            rec = RNN(m_in, width, activation="tanh", rng=rng, dtype=dtype)
        elif model == "irnn":
            rec = RNN(m_in, width, activation="relu", identity_init=True, rng=rng, dtype=dtype)
        else:
            rec = LSTM(m_in, width, rng=rng, dtype=dtype)
        stack.append((model.replace("-", "_") + ("" if i == 0 else str(i + 1)), rec))
    hidden = widths[-1]
    if head == "last":
        stack.append(_sequence_head(pool))
    stack.append(("head", Dense(hidden, outputs, rng=rng, dtype=dtype)))
    return _placed(Sequential(stack), backend)


def leaf_layers(model):
    """Every layer of a model that holds no other layers, in order, Residual and dense bodies included."""
    wrappers = Residual | DenseConnection | Bidirectional
    layers = model.body.layers if isinstance(model, wrappers) else getattr(model, "layers", [])
    for _, layer in layers:
        if isinstance(layer, wrappers | Sequential):
            yield from leaf_layers(layer)
        else:
            yield layer


def _contains(model, kind) -> bool:
    """True when ``model`` or any layer nested in it (Sequential, Residual, dense and bidirectional
    bodies) is a ``kind``."""
    if isinstance(model, kind):
        return True
    wrappers = Residual | DenseConnection | Bidirectional
    layers = model.body.layers if isinstance(model, wrappers) else getattr(model, "layers", [])
    return any(_contains(layer, kind) for _, layer in layers)


def recurrent_layers(model):
    """Every IndRNN and Recurrence layer of a model, Residual bodies included."""
    return (layer for layer in leaf_layers(model) if isinstance(layer, IndRNN | Recurrence))


def u_bounds_of(model) -> dict[str, tuple[float, float] | None]:
    """Each recurrent weight's projection range, by parameter name, as its layer states it.

    Parameters
    ----------
    model : Layer
        A :class:`Sequential` (any nesting of Residual and DenseConnection bodies).

    Returns
    -------
    dict of str to (float, float) or None
        One entry per parameter of ``model.params`` whose name ends in ``.u``: the
        ``u_bounds`` of the layer that holds it (None where the layer states none).
    """
    by_array = {
        id(layer.params["u"]): getattr(layer, "u_bounds", None)
        for layer in leaf_layers(model)
        if "u" in layer.params
    }
    return {name: by_array.get(id(p)) for name, p in model.params.items() if name.endswith(".u")}


def set_stateful(model, batch: int) -> None:
    """Make every recurrent layer carry its state across batches, starting from zeros of (batch, N)
    (on the GPU for a model there).

    Raises
    ------
    ValueError
        The model has a bidirectional layer: its backward direction reads each sequence from its
        end, so there is no next chunk to carry its state into. Nothing is changed.
    """
    if _contains(model, Bidirectional):
        raise ValueError(
            "a bidirectional model cannot be stateful: its backward direction reads each sequence from "
            "its end, so no state can be carried into the next chunk; build it without bidirectional"
        )
    zeros = dev.zeros if model.on_device else np.zeros
    for layer in recurrent_layers(model):
        layer.stateful = True
        layer.state = zeros((batch, layer.params["u"].size), layer.params["u"].dtype)


def recurrent_states(model) -> list:
    """The current states (copies, where they live), in layer order."""
    return [None if layer.state is None else dev.copy(layer.state) for layer in recurrent_layers(model)]


def set_recurrent_states(model, states) -> None:
    """Set the states (``None``: every layer starts from zeros at its next forward pass)."""
    layers = list(recurrent_layers(model))
    for i, layer in enumerate(layers):
        layer.state = None if states is None else states[i]


class NoCudaKernelError(ValueError):
    """A layer of a model that is to train on the GPU has no CUDA kernels."""


def to_device(model: Sequential) -> Sequential:
    """Move a model's parameters, buffers (batch-norm statistics) and carried states to the GPU.

    Afterwards the model's backend (:attr:`Sequential.backend`) and every layer's is ``"cuda"``,
    the model's ``params`` are device arrays (an :class:`indrnn_np.nn.Optimizer` updates them
    there), and ``model.forward`` copies a host input to the device and returns a device array.
    :func:`build_indrnn` with ``backend="cuda"`` calls this itself. In place; returns the model.

    Raises
    ------
    NoCudaKernelError
        A layer has no CUDA kernels (the LSTM and RNN baselines); it is named, and nothing is moved.
    CudaUnavailableError
        No CUDA target here.
    """
    require_cuda()
    leaves = list(leaf_layers(model))
    missing = sorted({type(layer).__name__ for layer in leaves if not layer.cuda_kernels})
    if missing:
        raise NoCudaKernelError(
            f"{', '.join(missing)} has no CUDA kernels, so this model cannot train on the GPU; "
            "train it with backend 'cpu'"
        )
    for layer in leaves:
        if hasattr(layer, "backend"):
            layer.backend = CUDA
        layer.params = {k: dev.to_device(v) for k, v in layer.params.items()}
        if isinstance(layer, BatchNorm):
            layer._buffers = {k: dev.to_device(v) for k, v in layer._buffers.items()}
        if getattr(layer, "state", None) is not None:
            layer.state = dev.to_device(layer.state)
    model.backend = CUDA
    return model
