"""The probes are compiled in a child that hands the fds back (issue 18, item 2):
the tracing process never maps LLVM, events still flow, close detaches all."""

from __future__ import annotations

import subprocess

import pytest

from probes import progcache
from probes.loader import LiveSource
from tests.kernel.test_ping import no_brtrace_programs
from tracer.filter import TraceFilter
from tracer.topology.discover import discover

pytestmark = pytest.mark.kernel


def _mapped() -> str:
    with open("/proc/self/maps") as f:
        return f.read()


def test_tracing_process_holds_fds_not_llvm(flannel_lab, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(progcache.DIR_ENV, "off")  # the child compiles, not a cache hit (test_progcache.py)
    before = "libLLVM" in _mapped() or "libbcc" in _mapped()
    src = LiveSource(TraceFilter(host="10.244.1.3", proto="icmp"), discover())
    try:
        if not before:  # a test before this one may have loaded bcc in-process
            assert "libLLVM" not in _mapped() and "libbcc" not in _mapped()
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", "ping", "-c", "3", "-i", "0.2", "-W", "1",
                        "10.244.1.3"], check=True, capture_output=True, timeout=20)
        n = sum(len(src.poll(100)) for _ in range(20))
        produced, lost = src.kernel_counts()
        assert n >= 6 * 10 and lost == 0 and produced >= n
        assert any(h.mode == "raw_tracepoint" for h in src.info.hooks) and src.load_path == "compiled"
    finally:
        src.close()
    assert no_brtrace_programs()
