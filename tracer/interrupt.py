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
        for s, h in old.items():
            signal.signal(s, h)


def ignore_from_now() -> None:
    """Interrupts are ignored until the process exits: its outcome is final
    (a lab built and reported), and an exit code of 130 would be a lie."""
    if _main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
