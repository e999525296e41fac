"""Files that travel inside the package: rule packs (``packs/``), JSON schemas (``schemas/``),
report and Slack templates (``templates/``), Prometheus rules and the Grafana dashboard
(``monitoring/``), found through :mod:`importlib.resources` in a wheel and a checkout alike."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(*parts: str) -> Path:
    """A bundled file or folder (the package is installed as files, never zipped, so it has a path)."""
    return Path(str(files("auditor").joinpath(*parts)))
