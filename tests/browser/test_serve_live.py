"""``brtrace serve ping …`` on the flannel lab: live tracing as root, shown in a real browser.

A kernel test (root, netns, eBPF): run it under the kernel lock. The served
tab starts ``brtrace ping --tui`` as the server's child; stopping the
server (SIGTERM, as Ctrl+C) must leave no process and no eBPF program behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import group_alive, serving, stop_server, wait_for_text, watch_terminal
from tests.kernel.conftest import flannel_lab, init_links_before  # noqa: F401 (fixtures)
from tests.kernel.test_ping import no_brtrace_programs

pytestmark = pytest.mark.kernel


def test_served_live_ping_shows_the_path(page: Any, tmp_path: Path, flannel_lab: Any) -> None:  # noqa: F811
    watch_terminal(page)
    with serving("ping", "10.244.1.3", "--from", "pod-a", "-c", "2", "-i", "0.2", tmp=tmp_path) as (url, pgid):
        page.goto(url)
        text = wait_for_text(page, "topology", "journey", "icmp seq 1", "icmp seq 2", "delivered",
                             "veth-pod-a", timeout_s=60)
        assert "raw_tracepoint" in text  # the status line names the live hooks
        stop_server(pgid)  # SIGTERM to the server alone ends the live ping it started
    assert not group_alive(pgid), "brtrace serve left processes behind"
    assert no_brtrace_programs(), "an eBPF program outlived the served ping"
