"""The privileged half of the tests, and the labs they share.

Tests split by privilege, as pyroute2's do: everything under tests/kernel
needs root (network namespaces, eBPF), so when not root each test is skipped
at collection with one reason, before any fixture runs; CI runs as root, so
there they run. A test marked ``unprivileged`` runs either way (it checks
what a user without root is told).

Session fixtures bring the labs up once and take them down at the end.
Teardown removes a lab the session built even when a test failed, so no
``brt-`` namespace it made outlives it; a lab that was already up (another
user of the machine) is reused and left up.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracer import lab
from tracer.lab import LabInfo

HERE = Path(__file__).resolve().parent
NOT_ROOT = "needs root: tests/kernel drive network namespaces and eBPF on the running kernel"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the brtrace processes these tests start, however the suite was launched.

    A non-interactive shell starts a background command with SIGINT ignored
    (POSIX: no job control), exec keeps an ignored signal ignored, and Python
    then installs no KeyboardInterrupt handler. Under `(make test &)` every
    brtrace the tests started ignored the SIGINT of the Ctrl-C tests, ran its
    whole --duration and exited 0 (test_exits, test_trace_live: 2 failed).
    With pytest's own SIGINT handled, its children start with the default, as
    from a terminal.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this directory's privileged tests, with one reason, when not root."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason=NOT_ROOT)
    for item in items:
        if HERE in item.path.parents and item.get_closest_marker("unprivileged") is None:
            item.add_marker(skip)


def init_links() -> list[str]:
    """The machine's own link list, to prove labs never touch it."""
    proc = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


@pytest.fixture(scope="session")
def init_links_before() -> list[str]:
    """The init netns's links before any lab of this session was built."""
    return init_links()


def _lab(name: str, init_links_before: list[str]) -> Iterator[LabInfo]:
    """Up for the session; a lab someone already had up is reused and left up."""
    state = lab.status(name).state
    if state == lab.STATE_PARTIAL:
        lab.down(name)  # a crashed earlier session: start clean
    try:
        yield lab.up(name)
    finally:
        if state != lab.STATE_UP:
            lab.down(name)


@pytest.fixture(scope="session")
def flannel_lab(init_links_before: list[str]) -> Iterator[LabInfo]:
    yield from _lab("flannel", init_links_before)


@pytest.fixture(scope="session")
def docker_lab(init_links_before: list[str]) -> Iterator[LabInfo]:
    yield from _lab("docker", init_links_before)


@pytest.fixture(scope="session")
def bridge_lab(init_links_before: list[str]) -> Iterator[LabInfo]:
    yield from _lab("bridge", init_links_before)
