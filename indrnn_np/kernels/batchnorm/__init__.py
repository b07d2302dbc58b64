"""Batch norm: ``reference.py`` (the CUDA kernels' twins), ``cpu.py`` (rows in blocks), ``cuda.py``."""
