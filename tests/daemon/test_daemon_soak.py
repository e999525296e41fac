"""Soak: a hundred and fifty audits in one process through the daemon's job, with a state file and a
scrape after each, against an emulated account served by moto in a process of its own. The
audits run in a fresh process too (``benchmarks/daemon_soak.py``), so no other test's leftovers
count as the auditor's memory. Threads and open files must not grow; memory must stay flat after
the warm-up. The figures are printed (``-s``)."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "daemon_soak.py"
AUDITS, WARM_UP, EVERY = 150, 20, 10
# The issue saw +89 MB over 35 audits. Alone, 300 audits measured 314.8 MB after the warm-up and
# 337.1 MB at the end, between them 317.8 to 329.9 MB: one audit's peak stays with the allocator a
# while, so single samples jump by 15 MB now and then. Compare thirds' medians, and take the slope
# that single jumps do not move (the median of the pairwise slopes); the benchmark runs longer soaks.
FLAT_MB = 16


def slope_mb_per_100_audits(samples: list[dict]) -> float:
    """Theil-Sen slope of RSS over the audit count: the median of the slopes between every two samples."""
    return 100 * statistics.median((b["rss_mb"] - a["rss_mb"]) / (b["audits"] - a["audits"])
                                   for i, a in enumerate(samples) for b in samples[i + 1:])


@pytest.mark.timeout(900)   # about 130 s alone, several times that beside other work
def test_hundreds_of_audits_leave_memory_threads_and_files_flat():
    done = subprocess.run([sys.executable, str(SOAK), "--audits", str(AUDITS), "--warm-up", str(WARM_UP),
                           "--every", str(EVERY), "--json"], capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    samples = figures["samples"]
    start, end = samples[0], samples[-1]
    slope = slope_mb_per_100_audits(samples)
    print(f"\nsoak: {AUDITS} audits in {end['seconds']:.0f} s; after {WARM_UP}: RSS {start['rss_mb']} MB, "
          f"{start['threads']} threads, {start['fds']} fds; at the end: RSS {end['rss_mb']} MB, {end['threads']} "
          f"threads, {end['fds']} fds; peak RSS {figures['peak_rss_mb']} MB; RSS slope {slope:+.1f} MB per 100 audits")
    assert figures["outcomes"] == {"success": AUDITS}
    assert [s["audits"] for s in samples] == list(range(WARM_UP, AUDITS + 1, EVERY))
    assert all(s["threads"] <= start["threads"] and s["fds"] <= start["fds"] for s in samples)
    third = max(1, len(samples) // 3)
    first, last = (statistics.median(s["rss_mb"] for s in part) for part in (samples[:third], samples[-third:]))
    assert last - first < FLAT_MB, f"RSS grew from {first} to {last} MB: {samples}"
    assert slope < 4, f"RSS grows {slope:.1f} MB per 100 audits: {samples}"
