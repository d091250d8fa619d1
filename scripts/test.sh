#!/usr/bin/env bash
# Installs everything the tests need (Python packages in .venv, Debian's Chromium) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
