"""Small kernels of training on the device (row sums, bias, residual add, dropout's scaling, concatenation): ``reference.py``, ``cuda.py``."""
