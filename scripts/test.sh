#!/usr/bin/env bash
# Set up .venv (and, as root, Debian's prometheus + alertmanager packages for promtool, amtool
# and a real Prometheus server), audit the locked dependencies, and run the whole test suite.
# Extra arguments go to pytest.
#
# The dependency audit (scripts/audit-dependencies.sh) fails the run on a known vulnerability
# outside requirements/pip-audit-allowlist.txt. Where no vulnerability service is reachable it
# prints a loud "SKIPPED: dependency audit could not run" paragraph and the run goes on, because
# DEPENDENCY_AUDIT defaults to optional here; set DEPENDENCY_AUDIT=required to make that fail.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-prometheus.sh
fi
DEPENDENCY_AUDIT="${DEPENDENCY_AUDIT:-optional}" bash scripts/audit-dependencies.sh
# Two workers (pytest-xdist), a test module on one worker with its module fixtures (tests/conftest.py).
exec .venv/bin/python -m pytest -n 2 --dist loadscope "$@"
