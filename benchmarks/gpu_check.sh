#!/usr/bin/env bash
# The GPU checks, as one script for a lent CUDA machine (no install: PYTHONPATH=src):
# 1. the CUDA tests (tests/test_devices.py, and segmentation's crops cut on the GPU);
# 2. a probe of the training step (benchmarks/gpu_probe.py: the model-only step with and without
#    deterministic kernels, and the batch augmentation);
# 3. the training-throughput benchmark;
# 4. one epoch at 224 px with --deterministic (the A/B against the benchmark's fastest kernels);
# 5. the engine's tests with the GPU as the default device (SUITE_SECONDS, default 30).
# At most 120 + 80 + 240 + 60 + 30 = 530 s: one call of the device tool (600 s at most).
# benchmarks/gpu_data.sh builds .devdata/ and .whl/ here first; carry both with the run.
# Logs go to $OUT (or ./gpu-check). Data: --data-root of the benchmark, by default
# .devdata/ (sign-language-digits/, camvid/ and bccd/ with the first 120 training and 40 validation photos
# of its lists, copied there because ../shared does not travel; with .whl, 60 MB of the 64 MiB a run carries).
# faster-coco-eval (and any other missing dependency) comes as a wheel in .whl/ where the machine lacks it:
#   pip download faster-coco-eval pycocotools --no-deps --python-version 3.X --only-binary :all: -d .whl
# for the machine's python3 (3.X), then carry .whl with the run. pyarrow (55 MB) and h5py are not needed
# there: lucid imports them only for Hugging Face and HDF5 data sets, which this check does not read.
set -o pipefail
OUT=${OUT:-gpu-check}
DATA=${DATA:-.devdata}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=src PYTHONDONTWRITEBYTECODE=1
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=src:/tmp/site
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc;
  python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"; } \
    2>&1 | tee "$OUT/machine.txt"
timeout 120 python3 -m pytest -q -rs -p no:cacheprovider tests/test_devices.py tests/test_segment_cache.py tests/test_detect_batched.py -k "cuda or not cpu" \
    2>&1 | tee "$OUT/cuda_tests.log"
timeout 80 python3 benchmarks/gpu_probe.py --device cuda 2>&1 | tee "$OUT/probe.log"
timeout 240 python3 benchmarks/train_throughput.py --device cuda --limit 4096 --epochs 3 --data-root "$DATA" \
    --cases cls224 cls32lowres seg det \
    2>&1 | tee "$OUT/throughput.log"
timeout 60 python3 -m lucid train --data "$DATA/sign-language-digits" --img-size 224 --epochs 1 --device cuda \
    --deterministic --limit-val 64 --out /tmp/deterministic-run 2>&1 | tr '\r' '\n' | tail -n 25 | tee "$OUT/deterministic.log"
timeout "${SUITE_SECONDS:-30}" python3 -m pytest -q -rs -p no:cacheprovider --timeout 120 --tb=short -x \
    ${SUITE:-tests/test_train.py tests/test_segment.py tests/test_detect_task.py tests/test_train_resume.py} \
    2>&1 | tee "$OUT/gpu_suite.log"
exit 0
