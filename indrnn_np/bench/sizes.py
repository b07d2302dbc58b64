"""``bench layer``'s sizes when none are given (no imports: the command line reads them to build its help)."""

#: On the CPU backends and on a GPU.
LAYER_SIZES = dict(T=[1000], B=50, M=128, N=128, repeats=7)

#: In Numba's CUDA simulator, where every GPU thread is a Python thread (a whole layer's forward+backward
#: at these sizes took about 2 s on 2 cores).
SIMULATOR_LAYER_SIZES = dict(T=[3], B=2, M=2, N=3, repeats=1)
