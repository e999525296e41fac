#!/usr/bin/env bash
# Install promtool and amtool (Debian's `prometheus` and `prometheus-alertmanager` packages),
# used by tests/monitoring to check the alerting rules, their unit tests and the Alertmanager
# example. Idempotent: does nothing when both tools are already on PATH.
#
# The packages ship services (prometheus, prometheus-alertmanager); this script never leaves
# them running: during the install a policy-rc.d forbids invoke-rc.d from starting anything,
# and afterwards, where systemd runs, both units are stopped and disabled. The binaries stay
# usable by hand: /usr/bin/prometheus, /usr/bin/prometheus-alertmanager, promtool, amtool.
#
# Exit status: 0 when promtool and amtool are both available afterwards, 1 otherwise (not
# root and tools missing, apt-get failed, or the packages did not provide them).
set -euo pipefail

PACKAGES=(prometheus prometheus-alertmanager)
UNITS=(prometheus prometheus-alertmanager)

have_tools() {
  command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1
}

log() { echo "install-prometheus: $*" >&2; }

# Stop and disable the packaged services when an init system could have started them.
quiesce_services() {
  local unit
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for unit in "${UNITS[@]}"; do
      if systemctl list-unit-files "${unit}.service" >/dev/null 2>&1; then
        systemctl disable --now "${unit}.service" >/dev/null 2>&1 || true
      fi
    done
  else
    # No systemd (containers): policy-rc.d kept the sysvinit scripts from starting them;
    # make sure of it anyway, without touching a process this script did not cause.
    for unit in "${UNITS[@]}"; do
      if [ -x "/etc/init.d/${unit}" ] && "/etc/init.d/${unit}" status >/dev/null 2>&1; then
        "/etc/init.d/${unit}" stop >/dev/null 2>&1 || true
      fi
    done
    if command -v update-rc.d >/dev/null 2>&1; then
      for unit in "${UNITS[@]}"; do
        [ -e "/etc/init.d/${unit}" ] && update-rc.d "${unit}" disable >/dev/null 2>&1 || true
      done
    fi
  fi
}

if have_tools; then
  log "promtool and amtool already installed ($(command -v promtool), $(command -v amtool))"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "promtool/amtool missing and not running as root: install the Debian packages" \
      "'${PACKAGES[*]}' (sudo $0), or put promtool and amtool on PATH"
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "promtool/amtool missing and apt-get not available: install Prometheus' promtool and amtool by hand"
  exit 1
fi

# Forbid service starts during the install (the standard Debian mechanism, see
# /usr/share/doc/init-system-helpers/README.policy-rc.d); keep an existing policy as it is.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from scripts/install-prometheus.sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
cleanup() { if [ -n "$created_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
log "installing ${PACKAGES[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null

quiesce_services

if ! have_tools; then
  log "promtool or amtool still missing after installing ${PACKAGES[*]}"
  exit 1
fi
log "installed: $(promtool --version 2>&1 | head -n1); $(amtool --version 2>&1 | head -n1)"
