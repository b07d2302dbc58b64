#!/usr/bin/env bash
# The GPU checks of the CUDA backend, in one run (a few minutes on an H200), written as one JSON file.
#
#   bash benchmarks/gpu_check.sh [OUTDIR]        -> OUTDIR/gpu_check.json (and the logs beside it)
#
# 1. the CUDA tests on the real device (no simulator), the gpu-marked ones and the PTX check included;
# 2. the layer at T = 256, 1024, 4096, B = 128, M = N = 512, float32: the recurrence's GB/s against a
#    device copy measured in the same run, and PyTorch (per-step IndRNN loop, cuDNN LSTM) on the GPU;
# 3. training steps on the device: the adding network at T = 1000 (2 x 128, Adam) against a per-step
#    PyTorch loop on the same GPU, and the pixel-MNIST network (6 x 128 with batch norm, T = 784);
# 4. cuBLAS (CuPy) against the tiled teaching GEMM: agreement and speed;
# 5. the recurrence's time loop against its scan over time (algorithm="scan") over T = 100..100,000 and
#    B·N = 1..6,400, each size in a fresh process: OUTDIR/scan-cuda.md and .json, the crossover.
# Needs numba, numba-cuda and (for the peers) a CUDA build of torch in the running Python.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu_results}
mkdir -p "$out"
export NUMBA_ENABLE_CUDASIM=0 PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -m "cudasim or gpu or not slow" tests/test_cuda.py tests/test_device.py \
    tests/test_scan.py tests/test_fused.py tests/test_lengths.py \
    --junitxml "$out/tests.xml" 2>&1 | tee "$out/tests.txt"
tests=${PIPESTATUS[0]}
python3 - "$out" <<'PY'
import json, sys, xml.etree.ElementTree as ET
from indrnn_np.bench.gpu import bench_cuda_layer, bench_cuda_train, bench_gemms, device_name
out = sys.argv[1]
root = ET.parse(f"{out}/tests.xml").getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
result = {
    "device": device_name(),
    "tests": {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")},
    "layer": bench_cuda_layer(),
    "train_step": bench_cuda_train(T=1000, B=50, hidden=128),
    "gemm": bench_gemms(),
}
with open(f"{out}/gpu_check.json", "w") as fh:
    json.dump(result, fh, indent=2)
print(json.dumps(result, indent=2))
PY
bench=$?
python3 -m indrnn_np bench scan --backend cuda --budget 1 --out "$out" 2>&1 | tee "$out/scan.txt"
scan=${PIPESTATUS[0]}
echo "tests exit $tests, bench exit $bench, scan exit $scan; wrote $out/gpu_check.json and $out/scan-cuda.md"
exit $(( tests || bench || scan ))
