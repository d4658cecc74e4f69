"""SIGTERM handled as Ctrl-C is, with its own exit code (143, as a shell reports it).

Why: ``kill`` is how services and scripts stop a trace. It must detach the
probes and print the same partial summary Ctrl-C gives, and the exit status
must say which signal it was — before this, SIGTERM exited 143 until the hooks
were live and 130 after (only ``ping`` turned it into an interrupt).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever Ctrl-C's KeyboardInterrupt would be: every
    ``except KeyboardInterrupt`` that cleans up and summarises does so for both."""


_installed_by = 0  # the pid that installed the handler
_final = False  # ignore_from_now() was called


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    """Raise in the installing process only. A child forked without exec
    (pyroute2 makes one per namespace socket and ends it with SIGTERM) must
    die as SIGTERM's default says, not run on as a copy of its parent."""
    if os.getpid() != _installed_by:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and os.name == "posix"


def install() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread from now on (the CLI calls this first)."""
    global _installed_by
    if _main_thread():
        _installed_by = os.getpid()
        signal.signal(signal.SIGTERM, _raise_terminated)


def exit_code(exc: BaseException | None) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


@contextmanager
def ignored() -> Iterator[None]:
    """Interrupts are ignored inside (main thread only): for steps that must not
    be cut in half, such as rolling back a half-built lab."""
    if not _main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        if not _final:  # ignore_from_now() inside: it stays ignored
            for s, h in old.items():
                signal.signal(s, h)


def ignore_from_now() -> None:
    """Interrupts are ignored until the process exits: its outcome is final
    (a lab built and reported), and an exit code of 130 would be a lie.

    Blocked as well as ignored: the interpreter puts the default handlers
    back while it shuts down, and a signal then killed it (status -2).
    """
    global _final
    if _main_thread():
        _final = True
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)


_pending: list[int] = []  # signals deferred() recorded, oldest first
_deferring_pid = 0


def _record(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _deferring_pid:  # a forked copy (pyroute2): die as the signal says
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _pending.append(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Interrupts are recorded, and raised only where :func:`check` is called.

    Why: a KeyboardInterrupt raised at an arbitrary point can land inside a
    callback that swallows it (logging's at-fork lock release, run on every
    fork pyroute2 makes), printing "Exception ignored … KeyboardInterrupt"
    and losing the interrupt. Steps call check() between their parts instead.
    A signal still pending on leaving is dropped: the work was finished.
    """
    global _deferring_pid
    if not _main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    _deferring_pid = os.getpid()
    _pending.clear()
    for s in old:
        signal.signal(s, _record)
    try:
        yield
    finally:
        _pending.clear()
        if not _final:
            for s, h in old.items():
                signal.signal(s, h)


def check() -> None:
    """Raise the interrupt :func:`deferred` recorded, if any (Ctrl-C or SIGTERM)."""
    if _pending:
        sig = _pending[0]
        _pending.clear()
        raise Terminated if sig == signal.SIGTERM else KeyboardInterrupt
