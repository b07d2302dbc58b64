"""The tiled CUDA GEMM (``cuda.py``; on the host, NumPy hands the GEMMs to BLAS)."""
