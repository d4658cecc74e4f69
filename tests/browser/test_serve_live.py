"""``brtrace serve ping …`` on the flannel lab: live tracing as root, shown in a real browser.

A kernel test (root, netns, eBPF): run it under the kernel lock. The served
tab starts ``brtrace ping --tui`` as the server's child; stopping the
server (SIGTERM, as Ctrl+C) must leave no process and no eBPF program behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, group_alive, serving, stop_server, wait_for_text, watch_terminal
from tests.kernel.test_ping import no_brtrace_programs

pytestmark = pytest.mark.kernel


def _lab(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "tracer.cli.main", "lab", *args, "flannel"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def flannel_up() -> Iterator[None]:
    """The flannel lab, through the CLI: Playwright's sync API holds this thread's event loop,
    which the lab's netlink (asyncio) cannot share. A lab that was up already is left up."""
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root (network namespaces)")
    was_up = _lab("status").startswith("flannel: up")
    try:
        if not was_up:
            _lab("up")
        yield
    finally:
        if not was_up:
            _lab("down")


def test_served_live_ping_shows_the_path(page: Any, tmp_path: Path, flannel_up: None) -> None:
    watch_terminal(page)
    ping = ("ping", "10.244.1.3", "--from", "pod-a", "-c", "2", "-i", "0.2")
    with serving(*ping, tmp=tmp_path) as (url, pgid):
        page.goto(url)
        text = wait_for_text(page, "topology", "journey", "icmp seq 1", "icmp seq 2", "delivered",
                             "veth-pod-a", timeout_s=60)
        assert "raw_tracepoint" in text  # the status line names the live hooks
        stop_server(pgid)  # SIGTERM to the server alone ends the live ping it started
    assert not group_alive(pgid), "brtrace serve left processes behind"
    assert no_brtrace_programs(), "an eBPF program outlived the served ping"
