"""Variable lengths, padded batches: ``reference.py`` (also the host backends' kernels), ``cuda.py``."""
