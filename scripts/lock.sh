#!/usr/bin/env bash
# Regenerate requirements/lock.txt: the exact version (==) of every runtime dependency and every
# dependency of the `test` and `demo` extras in pyproject.toml, transitive ones included, resolved
# for Python 3.11 on Linux (the Dockerfile's python:3.11-slim, CI's interpreter). scripts/bootstrap.sh
# and scripts/install-wheel.sh (so the Dockerfile) install with it as constraints
# (`pip install -c requirements/lock.txt`); scripts/audit-dependencies.sh audits it with pip-audit.
#
# Usage: scripts/lock.sh [pip-compile options]
#   scripts/lock.sh                              after editing pyproject.toml's dependencies: keeps
#                                                every pin that still fits, adds what is new
#   scripts/lock.sh --upgrade-package requests   move one package (and what it needs) forward
#   scripts/lock.sh --upgrade                    move everything to the newest fitting release
#
# pip-compile (pip-tools) runs from a throwaway virtualenv under $TMPDIR, never from .venv. The
# lock carries plain == pins, no hashes: it is used as a constraints file next to the editable
# install (`-e .`), and pip turns any hash in it into hash-checking mode, which refuses editable
# requirements.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# The resolver's own versions; bump them together, deliberately.
PIP_VERSION=26.3
PIP_TOOLS_VERSION=7.7.0
LOCK=requirements/lock.txt

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) or sys.platform != "linux")'; then
  echo "lock: $PYTHON is $("$PYTHON" -c 'import sys, platform; print(platform.python_version(), sys.platform)');" \
       "the lock is resolved for Python 3.11 on Linux (set PYTHON=python3.11)" >&2
  exit 2
fi

tools="$(mktemp -d "${TMPDIR:-/tmp}/auditor-lock.XXXXXX")"
trap 'rm -rf "$tools"' EXIT
"$PYTHON" -m venv "$tools/venv"
if ! "$tools/venv/bin/python" -m pip install --disable-pip-version-check \
       "pip==$PIP_VERSION" "pip-tools==$PIP_TOOLS_VERSION" > "$tools/install.log" 2>&1; then
  grep -v 'is ignored: it is neither a file nor a directory' "$tools/install.log" | tail -n 20 >&2
  echo "lock: could not install pip-tools $PIP_TOOLS_VERSION" >&2
  exit 1
fi

mkdir -p "$(dirname "$LOCK")"
# The header names this script as the command that wrote the file.
CUSTOM_COMPILE_COMMAND="scripts/lock.sh" \
  "$tools/venv/bin/pip-compile" --quiet --extra test --extra demo --strip-extras \
    --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
    --output-file "$LOCK" "$@" pyproject.toml \
  2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
echo "lock: wrote $LOCK ($(grep -cE '^[A-Za-z0-9]' "$LOCK") pinned packages)" >&2
