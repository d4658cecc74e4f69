"""The capabilities recorded in deploy/capabilities.json (and granted by the
DaemonSet) are still what a real agent needs on this kernel: with exactly those
the trace through it works, and without any one of them it fails.

Each trial is a real ``brtrace agent`` under ``setpriv --bounding-set`` and a
real ``brtrace ping --agents`` in the flannel lab (tests/support/caps.py). The
full measurement that wrote the record: ``python -m tests.support.caps --write``.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.agentproc import free_port, serving, spawn_agent, stop_agent
from tests.support.caps import AGENT_START_S, BRTRACE, PING, PING_S, recorded, setpriv_argv, trial
from tracer.remote.client import AgentClient

pytestmark = pytest.mark.kernel


def test_the_recorded_capabilities_suffice_and_each_is_needed(flannel_lab: object) -> None:
    caps = tuple(c.removeprefix("CAP_").lower() for c in recorded())
    assert caps, "deploy/capabilities.json lists no capability"
    enough = trial(caps)
    assert enough.ok, f"the agent fails with {caps}: {enough.why}"
    for cap in caps:
        without = trial(tuple(c for c in caps if c != cap))
        assert not without.ok, f"CAP_{cap.upper()} is not needed any more: measure again"
        assert without.why


def _agent_log_and_warnings(caps: tuple[str, ...]) -> tuple[str, list[str], subprocess.CompletedProcess[str]]:
    """A real agent with only ``caps``: its log, its NodeInfo warnings, and a ping through it."""
    addr = f"127.0.0.1:{free_port()}"
    proc, lines, ready = spawn_agent([*setpriv_argv(caps), BRTRACE, "agent", "--listen", addr,
                                      "--node", "node1"])
    try:
        assert ready.wait(AGENT_START_S) and serving(lines), "".join(lines)
        client = AgentClient(addr)
        try:
            warnings = list(client.hello().warnings)
        finally:
            client.close()
        ping = subprocess.run([BRTRACE, "ping", *PING, "--agents", addr], capture_output=True, text=True,
                              timeout=PING_S)
    finally:
        stop_agent(proc, 15)
    return "".join(lines), warnings, ping


def test_an_agent_without_sys_admin_says_so(flannel_lab: object) -> None:
    """setns(2) needs CAP_SYS_ADMIN: without it the agent serves only its own namespace,
    and says so at start, in its node info and through the client, in one line each."""
    log, warnings, ping = _agent_log_and_warnings(("net_raw",))
    assert "Traceback" not in log + ping.stderr, log + ping.stderr
    (line,) = [x for x in log.splitlines() if "CAP_SYS_ADMIN" in x]
    assert line.startswith("brtrace agent node1: warning: no CAP_SYS_ADMIN: cannot enter other network")
    skipped = int(line.split("served (")[1].split(" ")[0])
    assert skipped >= 4  # the flannel lab's node1, node2, pod-a and pod-b at least
    assert warnings == [line.removeprefix("brtrace agent node1: warning: ")]
    assert ping.returncode == 2, ping.stderr
    told = [x for x in ping.stderr.splitlines() if "CAP_SYS_ADMIN" in x]
    assert told[0].startswith("brtrace: agent node1 (127.0.0.1:") and warnings[0] in told[0]
    assert "unknown --from 'node1:pod-a'" in told[-1] and warnings[0] in told[-1]
    # with it: no such line anywhere, and the ping goes through
    log, warnings, ping = _agent_log_and_warnings(("sys_admin", "net_raw"))
    assert warnings == [] and "CAP_SYS_ADMIN" not in log + ping.stderr
    assert ping.returncode == 0, ping.stderr


def test_an_agent_limited_to_namespaces_it_cannot_enter_stops_with_why(flannel_lab: object) -> None:
    proc = subprocess.run([*setpriv_argv(("net_raw",)), BRTRACE, "agent", "--listen",
                           f"127.0.0.1:{free_port()}", "--node", "node1", "--netns", "brt-node1,brt-pod-a"],
                          capture_output=True, text=True, timeout=AGENT_START_S)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.splitlines()[0]]  # one line, no traceback
    assert proc.stderr.startswith("brtrace: no CAP_SYS_ADMIN: cannot enter other network namespaces")
    assert "(2 skipped)" in proc.stderr
