"""The recurrence of Eq. 2 and its BPTT: ``reference.py`` (NumPy, the loop to step through), ``cpu.py`` (Numba), ``cuda.py`` (Numba CUDA)."""
