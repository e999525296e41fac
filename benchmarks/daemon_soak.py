"""Soak: many audits in one process through the daemon's job (AuditRunner, with a state file and a
scrape after each audit), against the emulated mattilda account served by moto in a process of
its own, so this process's memory is the auditor's alone. Prints RSS, the objects the garbage
collector tracks, threads and open files after the warm-up (caches of rules, prices and boto3
models fill once) and every ``--every`` audits after it; ``--json`` prints one JSON document
instead (the soak test reads it).

    .venv/bin/python benchmarks/daemon_soak.py [--audits 300] [--warm-up 20] [--every 50] [--json]
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from prometheus_client import generate_latest

from auditor.audit import load_ruleset
from auditor.daemon.config import DaemonConfig
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.runner import AuditRunner
from auditor.emulated.demo import REGION, deploy, moto_process

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}


def usage() -> dict[str, float]:
    """RSS (MB), objects the garbage collector tracks, threads and open file descriptors of this
    process, after a full collection. RSS moves with the allocator; the object count does not."""
    gc.collect()
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return {"rss_mb": round(kb / 1024, 1), "objects": len(gc.get_objects()), "threads": threading.active_count(),
            "fds": len(os.listdir("/proc/self/fd"))}


def soak(endpoint: str, audits: int, warm_up: int, every: int, state: Path) -> dict:
    os.environ.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    os.environ.pop("AWS_PROFILE", None)
    deploy("mattilda", "production", endpoint, ["db-single-az"])
    config = DaemonConfig(architecture="mattilda", max_attempts=2, http={"address": "127.0.0.1", "port": 0},
                          schedule={"interval_seconds": 3600}, state={"path": str(state)})
    ruleset = load_ruleset(config.architecture, config.rules, config.params)
    store = MetricsStore()
    registry = make_registry(store)
    runner = AuditRunner(store, lambda: (config, ruleset))
    samples = []
    t0 = time.perf_counter()
    for n in range(1, audits + 1):
        runner()
        generate_latest(registry)   # a scrape per audit, as Prometheus does
        if n == warm_up or (n > warm_up and (n - warm_up) % every == 0) or n == audits:
            samples.append({"audits": n, "seconds": round(time.perf_counter() - t0, 1), **usage()})
    runner.close()
    runs = store.state.counter("audit_runs")
    return {"audits": audits, "warm_up": warm_up, "samples": samples,
            "outcomes": {k[-1]: v for k, v in runs.items() if v},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audits", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.getLogger().addHandler(logging.NullHandler())   # the audits' log lines go nowhere
    logging.getLogger().setLevel(logging.CRITICAL)
    with moto_process() as endpoint, tempfile.TemporaryDirectory() as tmp:
        figures = soak(endpoint, args.audits, args.warm_up, args.every, Path(tmp) / "state.sqlite3")
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['audits']} audits ({figures['outcomes']}); peak RSS {figures['peak_rss_mb']} MB")
    for s in figures["samples"]:
        print(f"after {s['audits']:4d} audits ({s['seconds']:7.1f} s): RSS {s['rss_mb']:6.1f} MB, "
              f"{s['objects']} objects, {s['threads']} threads, {s['fds']} open files")


if __name__ == "__main__":
    main()
