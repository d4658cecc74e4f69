"""Run code inside another network namespace, one thread at a time (pure ctypes).

Why a thread and not a process: ``setns(2)`` with ``CLONE_NEWNET`` only moves
the *calling thread*, and sockets remember the namespace they were opened in.
So the ping sender can open a raw socket inside ``brt-pod-a`` and keep using
it after the thread is back home, and discovery can read ``/proc/sys/net``
of many namespaces without forking a helper per namespace (pyroute2's netns
sockets fork, which costs tens of milliseconds each).

No pyroute2 here on purpose: this module is used by code that must not
depend on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tracer.errors import BrtraceError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

T = TypeVar("T")

_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    """setns(fd, CLONE_NEWNET) for the calling thread; OSError on failure."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def current_path() -> str:
    """The namespace file of the calling thread (not the whole process)."""
    return f"/proc/self/task/{_gettid()}/ns/net"


def _gettid() -> int:
    gettid = getattr(os, "gettid", None)
    if gettid is not None:
        return int(gettid())
    return int(ctypes.CDLL(None).syscall(186))  # x86-64 SYS_gettid


@contextmanager
def enter(path: str) -> Iterator[None]:
    """Move the calling thread into the netns at ``path``; move it back on exit.

    ``path`` is any nsfs file: ``/run/netns/brt-pod-a``, ``/proc/PID/ns/net``.
    If the thread is already there nothing is switched. Failing to return is
    not recoverable for this thread, so it is raised as a BrtraceError rather
    than leaving the thread silently in the wrong namespace.
    """
    home = os.open(current_path(), os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        os.close(home)
        raise
    try:
        switched = os.fstat(home).st_ino != os.fstat(target).st_ino
        if switched:
            _setns(target)
        try:
            yield
        finally:
            if switched:
                try:
                    _setns(home)
                except OSError as exc:
                    raise BrtraceError(f"cannot return to own network namespace: {exc}") from exc
    finally:
        os.close(target)
        os.close(home)


def run_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Call ``fn()`` with the calling thread inside ``path`` and return its result.

    Sockets ``fn`` opens stay bound to that namespace after it returns.
    """
    with enter(path):
        return fn()


def named_path(name: str) -> str:
    """File of a named netns as ``ip netns`` creates it (the labs' and ping's one home for it)."""
    return os.path.join(NETNS_RUN_DIR, name)
