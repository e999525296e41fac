#!/usr/bin/env bash
# Set up .venv and audit an emulated AWS account (moto, in-process) built from a documented
# architecture. No AWS account or credentials are needed. Extra arguments go to `auditor demo`
# (`scripts/demo.sh --serve`: the daemon on that account, see README "Watch the daemon").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/auditor demo "$@"
