#!/usr/bin/env bash
# Create .venv and install tlcompare with what it needs to run (idempotent); with --dev, also what the
# tests and lint need. Every package at the version the test suite passed with (constraints.txt).
set -euo pipefail
cd "$(dirname "$0")"
requirements=requirements.txt
[ "${1:-}" = "--dev" ] && requirements=requirements-dev.txt
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "setup.sh: tlcompare needs Python 3.11 or newer (.venv has $(.venv/bin/python -V)); remove .venv and run with a newer python3" >&2; exit 1; }
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt -r "$requirements"
