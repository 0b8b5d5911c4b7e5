"""Cancelling what a bounded run left running on its servers.

A wall-clock bound (:func:`include.checks.base.run_bounded`, the weekly backstop) cannot stop a
thread blocked in a driver call, and the statement it sent goes on on the server. So every
connection the clients open inside a bounded run registers how to cut its statement (PostgreSQL:
the protocol's cancel request, what ``pg_cancel_backend`` does; MySQL/MariaDB: ``KILL QUERY <id>``
from a connection of its own; Redis: closing the client), and the bound, when it expires, calls
:meth:`CancelScope.cancel` and reports what was cut.

The scope travels in a :mod:`contextvars` variable: threads a check starts itself (a pool of its own)
do not inherit it, and their connections are not cancelled.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class _Canceller:
    what: str  # e.g. "KILL QUERY 4165 on 127.0.0.1:3306"
    is_open: Callable[[], bool]
    cancel: Callable[[], None]


@dataclass
class CancelScope:
    """The open connections of one bounded run and how to cut each one's statement."""

    cancellers: list[_Canceller] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, is_open: Callable[[], bool], cancel: Callable[[], None]) -> None:
        with self.lock:
            self.cancellers.append(_Canceller(what, is_open, cancel))

    def cancel(self) -> list[str]:
        """Cut the statement of every connection still open; what was cut (or could not be)."""
        with self.lock:
            pending = [c for c in self.cancellers if c.is_open()]
        done = []
        for c in pending:
            try:
                c.cancel()
                done.append(c.what)
            except Exception as exc:  # noqa: BLE001 - one failed cancel must not stop the others
                done.append(f"{c.what} failed: {type(exc).__name__}: {exc}")
        if done:
            log.warning("time bound expired: cancelled on the server: %s", "; ".join(done))
        return done


_SCOPE: contextvars.ContextVar[CancelScope | None] = contextvars.ContextVar("aegis_cancel_scope", default=None)


def run_in_scope(scope: CancelScope, work: Callable[[], T]) -> T:
    """``work()`` with ``scope`` as the current scope (its connections register there)."""
    token = _SCOPE.set(scope)
    try:
        return work()
    finally:
        _SCOPE.reset(token)


def register(what: str, is_open: Callable[[], bool], cancel: Callable[[], None]) -> None:
    """Register a connection's canceller in the current scope (nothing outside a bounded run)."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.add(what, is_open, cancel)
