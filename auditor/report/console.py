"""The one rich console factory: every terminal report and listing, and the progress bar, print through it."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from rich.console import Console


def make_console(file: IO[str], color: bool, width: int = 140) -> Console:
    """A console writing to ``file``, ``$COLUMNS`` wide when set, else ``width``."""
    return Console(file=file, force_terminal=color, no_color=not color,
                   width=int(os.environ.get("COLUMNS", "0") or 0) or width, highlight=False, soft_wrap=False)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Any]:
    """A progress callback drawing a bar on stderr while collecting, only on a terminal (else None)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn

    with Progress(TextColumn("collecting {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), console=make_console(sys.stderr, True),
                  transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(c: Any, done: int, total: int) -> None:
            bar.update(task, description=c.name, completed=done, total=total)
        yield update
