"""The wheel as the Dockerfile makes and installs it, for the tests that install it (no Docker engine
here): the build stage's sources and command, then scripts/install-wheel.sh with the lock."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD_SOURCES = ("pyproject.toml", "README.md", "auditor")   # what the build stage copies
BUILD = "pip wheel --no-cache-dir --no-deps --wheel-dir"      # then the folder and "."
INSTALL_SCRIPT = "scripts/install-wheel.sh"                  # VENV WHEEL LOCK [EXTRAS]
LOCK = "requirements/lock.txt"


def build_wheel(folder: Path) -> Path:
    """Copy the build stage's sources into ``folder/src`` and build the wheel into ``folder/dist``."""
    src = folder / "src"
    src.mkdir(parents=True)
    for name in BUILD_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    proc = subprocess.run([sys.executable, "-m", *BUILD.split(), str(folder / "dist"), "."], cwd=src,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (folder / "dist").glob("auditor-*.whl")
    return wheel


def install_wheel(venv: Path, wheel: Path, extras: str = "") -> None:
    """``scripts/install-wheel.sh VENV WHEEL LOCK [EXTRAS]``, the Dockerfile's install step."""
    args = ["sh", str(ROOT / INSTALL_SCRIPT), str(venv), str(wheel), str(ROOT / LOCK), *([extras] if extras else [])]
    proc = subprocess.run(args, env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
