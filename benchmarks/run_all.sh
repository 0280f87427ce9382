#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md on this machine's default device; JSON into benchmarks/out/.
#   bash benchmarks/run_all.sh          (GPU when present, else CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=benchmarks/out
mkdir -p "$OUT"
if $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    $PY benchmarks/throughput.py --json "$OUT/throughput-gpu.json"
    $PY benchmarks/sweep.py --json "$OUT/sweep-gpu.json"
    $PY benchmarks/feature_cache.py --dataset elpv --image-size 128 --sizes 10,25,50,100,250,500 --json "$OUT/feature-cache-gpu.json"
else
    $PY benchmarks/throughput.py --device cpu --models efficientnet_lite0,resnet18 --image-sizes 32 \
        --batch 64 --n-per-class 100 --epochs 3 --baseline-workers 2 --baseline-steps 20 --json "$OUT/throughput-cpu.json"
    $PY benchmarks/sweep.py --cpu-quick --device cpu --json "$OUT/sweep-cpu-quick.json"
    $PY benchmarks/feature_cache.py --device cpu --json "$OUT/feature-cache-cpu.json"
    $PY benchmarks/plain_train_accuracy.py --device cpu | tee "$OUT/plain-train-accuracy-cpu.txt"
fi
