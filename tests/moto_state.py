"""moto's accounts in this process, saved and put back: a test module builds a deployment once and
starts each test from a copy of it (about 0.1 s) instead of building it again (1 to 2.5 s).

Every backend moto holds (``BackendDict._instances``: each service's accounts and regions) is copied
in one ``deepcopy``, so objects that refer to each other across services still do in the copy."""
from __future__ import annotations

import copy
import copyreg
import threading
from typing import Any
from unittest import mock

from moto.core.base_backend import BackendDict, backend_lock

State = dict[BackendDict, dict[str, Any]]
_LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


def _copy(state: State) -> State:
    """A deep copy in which the dicts themselves stay, and a lock (some backends hold one, e.g. ECR's) is
    copied as a new, released lock."""
    with mock.patch.dict(copyreg.dispatch_table, {kind: lambda _lock, make=make: (make, ()) for kind, make in _LOCKS.items()}):
        return copy.deepcopy(state, {id(services): services for services in state})


def save() -> State:
    """A copy of everything moto holds now."""
    with backend_lock:
        return _copy({services: dict(services) for services in BackendDict._instances})


def restore(state: State) -> None:
    """Make moto hold a copy of ``state`` and nothing else (``state`` stays as it was, to restore again)."""
    with backend_lock:
        copied = _copy(state)
        for services in BackendDict._instances:
            dict.clear(services)
        BackendDict._instances[:] = list(copied)
        for services, accounts in copied.items():
            dict.clear(services)
            dict.update(services, accounts)
