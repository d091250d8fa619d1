#!/usr/bin/env bash
# Installs the project in .venv and runs the demo: local Dataverse + plugin + seeded data.
set -euo pipefail
cd "$(dirname "$0")/.."
W365_SKIP_CHROMIUM=1 W365_SKIP_REDIS=1 source scripts/setup.sh
exec .venv/bin/w365 demo "$@"
