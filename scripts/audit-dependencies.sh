#!/usr/bin/env bash
# Audit the locked dependencies (requirements/lock.txt) for known vulnerabilities with pip-audit:
#   pip-audit -s pypi --strict --no-deps --disable-pip -r requirements/lock.txt --ignore-vuln ID ...
# then `-s osv` when PyPI's vulnerability data cannot be used, with one --ignore-vuln per entry
# of requirements/pip-audit-allowlist.txt ("ID  package  reason, YYYY-MM-DD" lines; a malformed
# line fails as FILE:LINE). pip-audit lives in a virtualenv of its own under $TMPDIR, not .venv.
#
# Exit status: 0 clean; 1 a vulnerability not in the allow-list (or a locked package the service
# could not audit); 2 a malformed allow-list or lock, or pip-audit failing otherwise; 3 no
# vulnerability service reachable. With DEPENDENCY_AUDIT=optional that last case prints a loud
# "SKIPPED: dependency audit could not run: ..." paragraph and exits 0 instead.
# The logic is scripts/audit_dependencies.py (standard library only); arguments go to it
# (--check-allowlist validates the allow-list and the lock without auditing).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" scripts/audit_dependencies.py "$@"
