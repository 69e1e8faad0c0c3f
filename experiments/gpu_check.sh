#!/usr/bin/env bash
# GPU check of probmoll, at most 10 minutes on one GPU (H200 class, 16 CPU cores):
#   1. preact-ResNet-50 bf16 training-step throughput (batch 128, 32x32, channels-last),
#      mollification off vs on, reported as the overhead in percent;
#   2. Table 1's FCR row, mollification off vs on, preact-ResNet-18 on the JPEG copy of
#      CIFAR-10 for as many epochs as fit, evaluated on the generated corruptions with the
#      cifar10-c severity preset (two `probmoll train` run folders).
# What each part measures and writes: experiments/gpu_check.py.
#
# Usage:
#   experiments/gpu_check.sh [OUT] [--data PATH/cifar10-jpeg.zip] [--epochs N] [--overwrite]
#   experiments/gpu_check.sh /tmp/check --dry-run      # the same code on the CPU, tiny, seconds
#   PROBMOLL_GPU_CHECK_CPU=1 experiments/gpu_check.sh /tmp/check   # same as --dry-run
# OUT defaults to results/gpu-check/; it gets throughput.json, table1.yaml, runs/fcr-moll-{off,on}/
# (config.yaml, run.json, metrics.json, log.csv, checkpoint.pt; their stdout in runs/*.log) and
# summary.{json,md}.
#
# What the machine must provide (nothing is installed, nothing downloaded):
#   - this checkout (probmoll is imported from it through PYTHONPATH; no `pip install` needed);
#   - a Python with probmoll's dependencies, CUDA-enabled torch included, plus imagecorruptions,
#     opencv, numba, scipy, PyYAML and Pillow: $PYTHON if set, else the repository's .venv, else
#     python3 on the PATH; missing modules are listed and the check stops at once;
#   - a CUDA device (without one the check stops at once, exit status 3);
#   - the CIFAR-10 JPEG copy: --data PATH/cifar10-jpeg.zip, or $PROBMOLL_DATA/cifar10-jpeg.zip.
# Decoded images and the generated corruption set are cached in cache/gpu-check/ (--cache-dir),
# never in OUT. Exit status: 0 when both runs finished, 1 when one did not, 2 for a usage or
# data error, 3 without a CUDA device.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then
        python="$repo/.venv/bin/python"
    else
        python="$(command -v python3 || true)"
    fi
fi
if [[ -z "$python" ]]; then
    echo "gpu_check: error: no Python found; set PYTHON=/path/to/python" >&2
    exit 2
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$python" "$repo/experiments/gpu_check.py" "$@"
