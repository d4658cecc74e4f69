"""The expression's way in: CLI words, the filter's fields and cflags, the topology's VXLAN port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracer.cli.record_cmd import split_command
from tracer.errors import BrtraceError
from tracer.filter import TraceFilter, with_topology
from tracer.topology.model import Link, Netns, Topology, VxlanInfo

BRTRACE = str(Path(sys.executable).with_name("brtrace"))


def test_words_before_the_double_dash_are_the_expression() -> None:
    assert split_command(["tcp", "port", "80", "--", "ping", "-c", "1", "x"]) == ("tcp port 80",
                                                                                  ["ping", "-c", "1", "x"])
    assert split_command(["--", "ping"]) == (None, ["ping"])
    assert split_command(["icmp and host 10.0.0.1"]) == ("icmp and host 10.0.0.1", [])
    assert split_command([]) == (None, [])


def test_an_option_after_the_expression_is_one_clear_line() -> None:
    with pytest.raises(BrtraceError, match="options go before the filter expression: --json"):
        split_command(["icmp", "--json", "--", "ping"])


def test_inner_needs_an_expression_and_describe_names_it() -> None:
    with pytest.raises(BrtraceError, match="--inner needs"):
        TraceFilter(inner=True)
    f = TraceFilter(host="10.0.0.1", expr="tcp port 80", inner=True)
    assert f.describe() == "host 10.0.0.1 and (tcp port 80) inside VXLAN too"


def _topo(port: int) -> Topology:
    vx = Link(5, "vxlan0", "vxlan", vxlan=VxlanInfo(vni=7, port=port))
    return Topology(namespaces=(Netns("brt-node1", 1, links=(vx,)),))


def test_a_vxlan_device_on_another_port_is_looked_inside() -> None:
    f = with_topology(TraceFilter(), _topo(4790))
    assert f.topo_vxlan_port == 4790 and "-DVXLAN_PORT3=4790" in f.cflags()
    for known in (8472, 4789):  # flannel's and IANA's are always looked inside
        assert with_topology(TraceFilter(), _topo(known)).topo_vxlan_port == 0


@pytest.mark.parametrize(("args", "want"), [
    (["trace", "ip protochain 6", "--", "true"], "jumps backwards"),
    (["record", "-o", "/dev/null", "tcp port nope", "--", "true"], "unknown port"),
    (["drops", "inbound"], "ancillary field"),
    (["trace", "--inner", "--", "true"], "--inner needs"),
])
def test_cli_refusals_are_one_line_before_anything_loads(args: list[str], want: str) -> None:
    proc = subprocess.run([BRTRACE, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert want in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
