"""Layer 5: benchmarks. ``layer`` (one layer, batch norm), ``train`` (a training step and its parts),
``gpu`` (the CUDA backend), ``peers`` (PyTorch, JAX and the machine's limits) and ``report`` (what the
``bench`` commands print). Timings belong here, never in tests: the machines are shared and noisy."""
