"""The code base stays clean under the project's ruff configuration (pyproject.toml)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".json", ".j2", ".sh", ".toml", ".txt", ".cfg", ""}


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "auditor", "tests", "benchmarks"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_files_speak_of_the_project_only():
    """No path outside the repository (the machine's work folders) and no names of who wrote what."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout.split()
    outside = re.compile(r"/work/|/root/|\bhelper [A-Z]\b|\bhelper-\d+\b|\bsession \d+\b")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if name == "tests/test_lint.py" or not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if outside.search(line):
                offenders.append(f"{name}:{n}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)
