"""Session fixtures that bring the labs up once and take them down at the end.

They skip (not fail) only when not root; CI runs as root, so there they run.
Teardown removes a lab the session built even when a test failed, so no
``brt-`` namespace it made outlives it; a lab that was already up (another
user of the machine) is reused and left up.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tracer import lab
from tracer.lab import LabInfo


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root (network namespaces)")


def init_links() -> list[str]:
    """The machine's own link list, to prove labs never touch it."""
    proc = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


@pytest.fixture(scope="session")
def init_links_before() -> list[str]:
    """The init netns's links before any lab of this session was built."""
    _need_root()
    return init_links()


def _lab(name: str, init_links_before: list[str]) -> Iterator[LabInfo]:
    """Up for the session; a lab someone already had up is reused and left up."""
    _need_root()
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
