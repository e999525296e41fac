"""The rich console every terminal report prints to."""
from __future__ import annotations

import io
import os

from rich.console import Console


def make_console(file: io.StringIO, color: bool) -> Console:
    width = int(os.environ.get("COLUMNS", "0") or 0) or 140
    return Console(file=file, force_terminal=color, no_color=not color, width=width,
                   highlight=False, soft_wrap=False)
