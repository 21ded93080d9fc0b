"""Connections to the mail server, kept open and shared by the outbox's senders in one process.

Opening an SMTP session costs round trips (connect, EHLO, STARTTLS, AUTH) that a burst of
notices would otherwise pay once per batch. At most NOTICE_SMTP_CONNECTIONS are open per
process: a sender waits for one to come back rather than open another, so a burst never
floods the mail server with sessions.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

# Servers drop an idle session after a while (RFC 5321 asks them to wait 5 minutes at least);
# one idle for longer than this is closed and a new one opened rather than found dead mid-send.
IDLE_SECONDS = 60.0


def _configuration() -> tuple:
    """What a pooled connection was opened with; when it changes, the pool starts anew."""
    return (
        settings.EMAIL_BACKEND,
        settings.EMAIL_HOST,
        settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER,
        settings.EMAIL_USE_TLS,
        settings.EMAIL_USE_SSL,
        settings.EMAIL_TIMEOUT,
        settings.NOTICE_SMTP_CONNECTIONS,
    )


@dataclass
class Pooled:
    backend: BaseEmailBackend
    last_used: float = field(default_factory=time.monotonic)
    sends: int = 0  # messages sent on it: a reused session may have been closed by the server
    mime_seconds: float = 0.0  # spent turning messages into bytes, for the outbox's timings

    @property
    def is_smtp(self) -> bool:
        return isinstance(self.backend, SMTPBackend)

    @property
    def smtp(self) -> smtplib.SMTP:
        return self.backend.connection

    def reopen(self) -> None:
        _close(self.backend)
        self.backend.open()
        self.sends = 0


def _close(backend: BaseEmailBackend) -> None:
    with contextlib.suppress(Exception):  # closing a dead connection
        backend.close()


class MailPool:
    """A bounded set of open connections, checked out by one sender at a time."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._idle: list[Pooled] = []
        self._busy = 0
        self._key: tuple | None = None
        self._pid = os.getpid()
        self.opened = 0  # sessions opened by this process, for tests and benchmarks

    def _reset_if_stale(self) -> None:
        """A forked worker must not talk on its parent's sockets; new settings, new sessions."""
        key = _configuration()
        if self._pid != os.getpid():
            self._idle, self._busy, self._pid, self.opened = [], 0, os.getpid(), 0
        if key != self._key:
            for pooled in self._idle:
                _close(pooled.backend)
            self._idle, self._key = [], key

    def acquire(self, *, blocking: bool = True) -> Lease | None:
        """A place among the NOTICE_SMTP_CONNECTIONS, waited for when `blocking` (None when
        every one is taken and not `blocking`). Its connection is opened, or an idle one taken,
        by `Lease.open`; `Lease.release` gives the place back."""
        with self._lock:
            self._reset_if_stale()
            while self._busy >= max(1, settings.NOTICE_SMTP_CONNECTIONS):
                if not blocking:
                    return None
                self._lock.wait()
                self._reset_if_stale()
            self._busy += 1
        return Lease(self)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Pooled]:
        """An open connection, for this sender alone until the block ends."""
        lease = self.acquire()
        healthy = False
        try:
            yield lease.open()
            healthy = True
        finally:
            lease.release(healthy=healthy)

    def _take_idle(self) -> Pooled | None:
        with self._lock:
            pooled = self._idle.pop() if self._idle else None
        if pooled is not None and time.monotonic() - pooled.last_used > IDLE_SECONDS:
            _close(pooled.backend)
            return None
        return pooled

    def _open(self) -> Pooled:
        backend = get_connection(fail_silently=False)
        backend.open()
        with self._lock:
            self.opened += 1
        return Pooled(backend)

    def _release(self, pooled: Pooled | None, *, healthy: bool) -> None:
        alive = pooled is not None and healthy and (not pooled.is_smtp or pooled.smtp is not None)
        with self._lock:
            self._busy = max(0, self._busy - 1)
            if alive and self._key == _configuration() and self._pid == os.getpid():
                pooled.last_used = time.monotonic()
                self._idle.append(pooled)
                pooled = None
            self._lock.notify()
        if pooled is not None:
            _close(pooled.backend)

    def close(self) -> None:
        """Say goodbye to the server on every idle connection (a worker shutting down)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for pooled in idle:
            _close(pooled.backend)


class Lease:
    """One sender's place in the pool, and the connection it opened or took while it holds it."""

    def __init__(self, pool: MailPool) -> None:
        self._pool = pool
        self.pooled: Pooled | None = None
        self._released = False

    def open(self) -> Pooled:
        if self.pooled is None:
            self.pooled = self._pool._take_idle() or self._pool._open()
        return self.pooled

    def release(self, *, healthy: bool = True) -> None:
        """Back to the pool: the connection kept open for the next sender unless it failed."""
        if not self._released:
            self._released = True
            self._pool._release(self.pooled, healthy=healthy)


pool = MailPool()
