"""The losses on the device (squared error, softmax cross-entropy): ``reference.py``, ``cuda.py``."""
