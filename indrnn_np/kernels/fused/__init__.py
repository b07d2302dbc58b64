"""The fused small-input layer (``W x_t`` inside the time loop, for the CPU and CUDA backends): ``reference.py``, ``cpu.py``, ``cuda.py``."""
