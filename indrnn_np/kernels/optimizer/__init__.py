"""The optimizer update (Adam, SGD, the gradient's sums of squares): ``reference.py``, ``cpu.py``, ``cuda.py``."""
