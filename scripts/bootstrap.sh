#!/usr/bin/env bash
# Create .venv in the repository root and install the auditor in editable mode with its test
# extra (which includes the demo extra's moto), every dependency at the version pinned in
# requirements/lock.txt (used as pip constraints; regenerate it with scripts/lock.sh). The image
# installs the built wheel instead, without extras: scripts/install-wheel.sh.
# Idempotent: reinstalls only when pyproject.toml or the lock changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LOCK=requirements/lock.txt
if [ ! -f "$LOCK" ]; then
  echo "bootstrap: $LOCK is missing; generate it with scripts/lock.sh" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.auditor-installed
want="$(cat pyproject.toml "$LOCK" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing auditor and its dependencies ($LOCK) into .venv (log: .venv/install.log)" >&2
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
         .venv/bin/python -m pip install --disable-pip-version-check -c "$LOCK" -e ".[test]"; } > .venv/install.log 2>&1; then
    tail -n 40 .venv/install.log >&2
    echo "bootstrap: pip install failed (full log: .venv/install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
