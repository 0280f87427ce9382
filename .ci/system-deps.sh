#!/usr/bin/env bash
# System packages the tests need: Chromium (real-browser dashboard tests), pdftotext (report tests),
# and the offline copies of Fashion-MNIST and MNIST. Installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v pdftotext >/dev/null || need+=(poppler-utils)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -f .ci/install-extras.sh ]; then
    PIP=.venv/bin/pip bash .ci/install-extras.sh
fi
