#!/bin/sh
# Install a built auditor wheel (not editable) into a new virtualenv, every dependency at its
# version in the lock (pip constraints). The Dockerfile runs this script, and so does the test
# that installs the wheel (tests/test_packaging.py), so both install the same way.
#
# Usage: scripts/install-wheel.sh VENV WHEEL LOCK [EXTRAS]
#   scripts/install-wheel.sh /opt/auditor dist/auditor-0.1.0-py3-none-any.whl requirements/lock.txt
#   EXTRAS, e.g. demo, installs auditor[demo] (moto, for `auditor demo`); the image takes none.
set -eu
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  echo "usage: $0 VENV WHEEL LOCK [EXTRAS]" >&2
  exit 2
fi
venv=$1 wheel=$2 lock=$3 extras=${4:-}
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check --no-input \
  -c "$lock" "$wheel${extras:+[$extras]}"
