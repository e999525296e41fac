#!/usr/bin/env bash
# Set up .venv (and, as root, Debian's prometheus + alertmanager packages for promtool, amtool
# and a real Prometheus server) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-prometheus.sh
fi
exec .venv/bin/python -m pytest "$@"
