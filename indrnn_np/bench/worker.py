"""One measurement in a fresh process, for :mod:`indrnn_np.bench.compare`.

``python -m indrnn_np.bench.worker '<json request>'`` prints one JSON line.
:func:`indrnn_np.bench.compare.ask` runs this file by its path instead, so that
``bench compare --against`` can run today's worker (and today's requests) with
another checkout's ``indrnn_np`` on the path.
Each framework is timed in a process of its own, so that no framework's idle
thread pool, allocator or import side effect slows another (on 2 cores an
idle pool still spinning takes a core from the next framework's call).

Nothing is imported at the top of this module but the standard library: the
request says which of NumPy and ``indrnn_np`` is imported first
(``"order": "numpy-first"`` or ``"indrnn-first"``), and that order is what
the process does.

Requests (``"what"``):

* ``"layer"``: one IndRNN layer, forward + backward, float32, shapes
  ``T, B, M, N``; ``impl`` one of ``cpu``, ``numpy`` (this project's
  backends), ``jax`` (``lax.scan`` under ``jit``, gradients by ``vjp``),
  ``torch-rnn`` (``torch.nn.RNN(nonlinearity="relu")``).
* ``"step"``: one training step of the adding network (2 IndRNN layers of
  ``N``, a dense head on the last step, MSE, Adam, element-wise clamp ±10,
  u projected into ±2^(1/T)), data generation included; ``impl`` one of
  ``indrnn`` (this project), ``jax`` (the whole step under one ``jit``),
  ``torch-loop`` (a per-step PyTorch loop with autograd, as the official
  code runs on a CPU).
* ``"steps"``: ``n`` consecutive training steps of the adding network, each
  timed, as a training loop runs them (``impl`` ``indrnn``: inside the
  loop's :class:`indrnn_np.threads.ThreadTuner`, its probing steps included;
  ``jax``); answers ``times_s``, one per step after the first.
* ``"bound"``: the machine's limits at the request's shapes: copy bandwidth,
  and each GEMM of the layer (``"layer"``) or of the step (``"step"``) timed
  alone through NumPy's BLAS.

Every answer has ``median_s`` (or the bound's parts) and ``compile_s`` (the
first call, where there is one).
"""

from __future__ import annotations

import json
import sys
import time


def _median(fn, repeats, warmup=2):
    import numpy as np

    from indrnn_np.bench.layer import time_call

    return float(np.median(time_call(fn, repeats, warmup=warmup)))


def _first_call(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _layer_inputs(T, B, M, N):
    from indrnn_np.bench.peers import layer_inputs

    return layer_inputs(T, B, M, N)


# --------------------------------------------------------------------------
# One layer, forward + backward
# --------------------------------------------------------------------------


def layer_ours(req, inp):
    from indrnn_np.ops import indrnn_backward, indrnn_forward

    backend = req["impl"]

    def run():
        _, cache = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"], backend=backend)
        indrnn_backward(inp["dh"], cache)

    return {"compile_s": _first_call(run), "median_s": _median(run, req["repeats"])}


def layer_jax(req, inp):
    import jax
    import jax.numpy as jnp

    def layer(x, W, u, b):
        T, B, M = x.shape
        xw = (x.reshape(T * B, M) @ W).reshape(T, B, -1)

        def step(h, xw_t):
            h = jnp.maximum(xw_t + u * h + b, 0.0)
            return h, h

        return jax.lax.scan(step, jnp.zeros((B, W.shape[1]), x.dtype), xw)[1]

    @jax.jit
    def fwd_bwd(x, W, u, b, dh):
        hs, vjp = jax.vjp(layer, x, W, u, b)
        return hs, vjp(dh)

    args = [jnp.asarray(inp[k]) for k in ("x", "W", "u", "b", "dh")]

    def run():
        jax.block_until_ready(fwd_bwd(*args))

    return {"compile_s": _first_call(run), "median_s": _median(run, req["repeats"])}


def layer_torch_rnn(req, inp):
    import torch

    x = torch.from_numpy(inp["x"]).requires_grad_()
    dh = torch.from_numpy(inp["dh"])
    rnn = torch.nn.RNN(inp["x"].shape[2], inp["W"].shape[1], nonlinearity="relu")

    def run():
        out, _ = rnn(x)
        out.backward(dh)

    return {"compile_s": _first_call(run), "median_s": _median(run, req["repeats"])}


# --------------------------------------------------------------------------
# One training step of the adding network
# --------------------------------------------------------------------------


def _adding_data(T, B):
    import numpy as np

    from indrnn_np.tasks.adding import adding_batch

    rng = np.random.default_rng(0)
    return lambda: adding_batch(T, B, rng)[:2]


def step_ours(req):
    from indrnn_np.bench.train import adding_step

    run = adding_step(req["T"], req["B"], hidden=req["N"])
    return {"compile_s": _first_call(run), "median_s": _median(run, req["repeats"])}


def _step_init(T, M, N):
    """The adding network's initial arrays (the project's initialisation), as NumPy float32."""
    from indrnn_np.nn.models import indrnn_regressor

    model = indrnn_regressor(T, M=M, hidden=N, seed=0)
    return {k: v.copy() for k, v in model.params.items()}


def step_jax(req):
    run = step_jax_fn(req)
    return {"compile_s": _first_call(run), "median_s": _median(run, req["repeats"])}


def step_jax_fn(req):
    """The adding network's training step under one ``jax.jit``, as a function of no arguments."""
    import jax
    import jax.numpy as jnp

    T, B, N = req["T"], req["B"], req["N"]
    u_max = 2.0 ** (1.0 / T)
    params = {k: jnp.asarray(v) for k, v in _step_init(T, 2, N).items()}

    def layer(x, W, u, b):
        xw = (x.reshape(T * B, -1) @ W).reshape(T, B, -1)

        def step(h, xw_t):
            h = jnp.maximum(xw_t + u * h + b, 0.0)
            return h, h

        return jax.lax.scan(step, jnp.zeros((B, W.shape[1]), x.dtype), xw)[1]

    def loss_fn(p, x, y):
        h = layer(x, p["indrnn1.W"], p["indrnn1.u"], p["indrnn1.b"])
        h = layer(h, p["indrnn2.W"], p["indrnn2.u"], p["indrnn2.b"])
        pred = h[-1] @ p["head.W"] + p["head.b"]
        return jnp.mean((pred - y) ** 2)

    lr, b1, b2, eps = 2e-4, 0.9, 0.999, 1e-8

    @jax.jit
    def train_step(p, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        g = jax.tree_util.tree_map(lambda a: jnp.clip(a, -10.0, 10.0), g)
        m = jax.tree_util.tree_map(lambda mi, gi: b1 * mi + (1 - b1) * gi, m, g)
        v = jax.tree_util.tree_map(lambda vi, gi: b2 * vi + (1 - b2) * gi * gi, v, g)
        c1, c2 = 1 - b1**t, 1 - b2**t
        p = jax.tree_util.tree_map(
            lambda pi, mi, vi: pi - lr * (mi / c1) / (jnp.sqrt(vi / c2) + eps), p, m, v
        )
        p = {k: (jnp.clip(a, -u_max, u_max) if k.endswith(".u") else a) for k, a in p.items()}
        return p, m, v, loss

    state = {
        "p": params,
        "m": jax.tree_util.tree_map(jnp.zeros_like, params),
        "v": jax.tree_util.tree_map(jnp.zeros_like, params),
        "t": 0,
    }
    data = _adding_data(T, B)

    def run():
        x, y = data()
        state["t"] += 1
        p, m, v, loss = train_step(
            state["p"], state["m"], state["v"], jnp.float32(state["t"]), jnp.asarray(x), jnp.asarray(y)
        )
        state.update(p=p, m=m, v=v)
        float(loss)  # the step is done when its loss is on the host, as in the training loop

    return run


def step_torch_loop(req):
    """The per-step PyTorch loop; ``req["device"]`` (default ``"cpu"``) may name a GPU (``"cuda"``)."""
    import torch

    T, B, N = req["T"], req["B"], req["N"]
    dev = torch.device(req.get("device", "cpu"))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    u_max = 2.0 ** (1.0 / T)
    p = {k: torch.from_numpy(v).to(dev).requires_grad_() for k, v in _step_init(T, 2, N).items()}
    opt = torch.optim.Adam(list(p.values()), lr=2e-4)
    data = _adding_data(T, B)

    def layer(x, W, u, b):
        xw = (x.reshape(T * B, -1) @ W).reshape(T, B, -1)
        h = torch.zeros(B, W.shape[1], device=dev)
        hs = []
        for t in range(T):
            h = torch.relu(xw[t] + u * h + b)
            hs.append(h)
        return torch.stack(hs)

    def run():
        x, y = (torch.from_numpy(a).to(dev) for a in data())
        h = layer(x, p["indrnn1.W"], p["indrnn1.u"], p["indrnn1.b"])
        h = layer(h, p["indrnn2.W"], p["indrnn2.u"], p["indrnn2.b"])
        loss = torch.mean((h[-1] @ p["head.W"] + p["head.b"] - y) ** 2)
        opt.zero_grad()
        loss.backward()
        for a in p.values():
            a.grad.clamp_(-10.0, 10.0)
        opt.step()
        with torch.no_grad():
            for k, a in p.items():
                if k.endswith(".u"):
                    a.clamp_(-u_max, u_max)
        loss.item()  # the loss on the host: the step is done
        sync()

    return {"compile_s": _first_call(run), "median_s": _median(run, req["repeats"], warmup=1)}


def steps_timed(req):
    """``req["n"]`` steps after the first (compile), each timed; ours inside the training loop's tuner."""
    if req["impl"] == "jax":
        run = step_jax_fn(req)
        tuner = None
    else:
        from indrnn_np.bench.train import adding_step
        from indrnn_np.threads import ThreadTuner

        run = adding_step(req["T"], req["B"], hidden=req["N"])
        tuner = ThreadTuner()
    times = []
    try:
        for i in range(req["n"] + 1):
            t0 = time.perf_counter()
            if tuner is None:
                run()
            else:
                with tuner.step():
                    run()
            if i:
                times.append(time.perf_counter() - t0)
    finally:
        if tuner is not None:
            tuner.close()
    return {"times_s": times, "tuner": None if tuner is None else tuner.report()}


# --------------------------------------------------------------------------
# The machine's limits
# --------------------------------------------------------------------------


def _gemm_shapes(req):
    """(rows, inner, cols, transposed-A) of each GEMM the layer or the step needs."""
    T, B, N = req["T"], req["B"], req["N"]
    R = T * B
    if req["of"] == "layer":
        M = req["M"]
        return [(R, M, N, False), (M, R, N, True), (R, N, M, False)]  # x W, xᵀ da, da Wᵀ
    # the adding step: layer 1 (M = 2): x W1, xᵀ da1 (no dx: the data needs no gradient);
    # layer 2: h1 W2, h1ᵀ da2, da2 W2ᵀ; the head's GEMMs are on one step, (B, N) only
    return [(R, 2, N, False), (2, R, N, True), (R, N, N, False), (N, R, N, True), (R, N, N, False)]


def bound(req):
    import numpy as np

    from indrnn_np.bench.layer import recurrence_bytes

    rng = np.random.default_rng(0)
    src = np.ones(1 << 26, np.float32)  # 256 MiB
    dst = np.empty_like(src)
    copy_s = _median(lambda: np.copyto(dst, src), 7)
    bandwidth = 2 * src.nbytes / copy_s
    gemm_s, flops = 0.0, 0
    for rows, inner, cols, trans in _gemm_shapes(req):
        A = rng.standard_normal((inner, rows) if trans else (rows, inner)).astype(np.float32)
        Bm = rng.standard_normal((inner, cols)).astype(np.float32)
        A_op = A.T if trans else A
        gemm_s += _median(lambda A_op=A_op, Bm=Bm: A_op @ Bm, 7)
        flops += 2 * rows * inner * cols
    layers = 1 if req["of"] == "layer" else 2
    rec_bytes = layers * recurrence_bytes(req["T"], req["B"], req["N"], 4)
    return {
        "bandwidth_GBps": bandwidth / 1e9,
        "gemm_s": gemm_s,
        "gemm_GFLOPs": flops / gemm_s / 1e9,
        "recurrence_bytes": rec_bytes,
        "bound_s": gemm_s + rec_bytes / bandwidth,
    }


# --------------------------------------------------------------------------


def run(req: dict) -> dict:
    """Answer one request (in this process); see the module docstring."""
    if req.get("order", "numpy-first") == "indrnn-first":
        import indrnn_np.ops  # noqa: F401  (the package and its ops before anything imports NumPy)
    else:
        import numpy  # noqa: F401
    what, impl = req["what"], req.get("impl")
    if what == "bound":
        return bound(req)
    if what == "layer":
        inp = _layer_inputs(req["T"], req["B"], req["M"], req["N"])
        fn = {"cpu": layer_ours, "numpy": layer_ours, "jax": layer_jax, "torch-rnn": layer_torch_rnn}[impl]
        return fn(req, inp)
    if what == "step":
        return {"indrnn": step_ours, "jax": step_jax, "torch-loop": step_torch_loop}[impl](req)
    if what == "steps":
        return steps_timed(req)
    raise ValueError(f"unknown request {what!r}")


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    try:
        answer = run(request)
    except ImportError as exc:
        answer = {"missing": str(exc)}  # "cannot import name 'x' from 'm'": the name, not only its module
    print(json.dumps(answer))
