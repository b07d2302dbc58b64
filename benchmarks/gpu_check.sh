#!/usr/bin/env bash
# The GPU checks of the CUDA backend, in one run (a few minutes on an H200).
#
#   bash benchmarks/gpu_check.sh [OUTDIR]
#
# 1. the CUDA tests on the real device (no simulator), including the gpu-marked ones;
# 2. `bench layer --backend cuda` at T = 256, 1024, 4096, B = 128, M = N = 512,
#    float32, with PyTorch (per-step IndRNN loop, cuDNN LSTM) on the same GPU.
# Needs numba, numba-cuda and (for the peers) torch in the running Python.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu_results}
mkdir -p "$out"
export NUMBA_ENABLE_CUDASIM=0 PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import numba, numpy; print('numba', numba.__version__, 'numpy', numpy.__version__)" | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -m "cudasim or gpu" tests/test_cuda.py 2>&1 | tee "$out/tests.txt"
tests=${PIPESTATUS[0]}
python3 -m indrnn_np bench layer --backend cuda --T 256 1024 4096 --B 128 --M 512 --N 512 --repeats 20 \
    --json "$out/bench_cuda.json" 2>&1 | tee "$out/bench_cuda.txt"
bench=${PIPESTATUS[0]}
echo "tests exit $tests, bench exit $bench"
exit $(( tests || bench ))
