"""pcapng export read back by tshark: per-hop interface names, comments, link types."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from tracer.cli.main import main
from tracer.errors import BrtraceError
from tracer.model import Event, Hook, L4Key
from tracer.record import RecordWriter
from tracer.record.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    export_pcapng,
    hop_comment,
    interface_block,
)
from tracer.source import SourceInfo
from tracer.topology.model import Link, Netns, Topology

TSHARK = shutil.which("tshark")
POD_A, HOST, UNKNOWN = 4026532001, 4026531840, 4026532999

ICMP_FRAME = bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:01")
                   / IP(src="10.244.0.2", dst="10.244.1.3", id=7) / ICMP(id=0x4242, seq=1))
VXLAN_FRAME = bytes(Ether(src="02:00:00:00:01:01", dst="02:00:00:00:02:01")
                    / IP(src="192.168.0.1", dst="192.168.0.2") / UDP(sport=40000, dport=4789)
                    / VXLAN(vni=1) / Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
                    / IP(src="10.244.0.2", dst="10.244.1.3") / ICMP(id=0x4242, seq=1))
IP_PACKET = bytes(IP(src="10.244.0.2", dst="10.244.1.3", ttl=63) / ICMP(id=0x4242, seq=1))

TOPO = Topology(namespaces=(
    Netns("brt-pod-a", POD_A, links=(Link(2, "eth0", "veth"),)),
    Netns("", HOST, is_init=True, links=(Link(3, "cni0", "bridge"), Link(4, "eth0", "physical"))),
))
KEY = L4Key(0x0200F40A, 0x0301F40A, 1, 7, 64, 0x4242, 1, 8, 0)


def ev(i: int, hook: Hook, netns: int, ifindex: int, ifname: str, headers: bytes,
       l3: bool = False, **kw: object) -> Event:
    return Event(ts_ns=5_000_000_000 + i * 1000, cpu=0, hook=hook, skb=0xFFFF888000001000,
                 netns=netns, ifindex=ifindex, ifname=ifname, length=len(headers) + 10,
                 outer=KEY, headers=headers, headers_l3=l3, **kw)  # type: ignore[arg-type]


EVENTS = [
    ev(0, Hook.NET_DEV_QUEUE, POD_A, 2, "eth0", ICMP_FRAME),
    ev(1, Hook.NET_DEV_START_XMIT, POD_A, 2, "eth0", ICMP_FRAME),
    ev(2, Hook.NETIF_RECEIVE_SKB, HOST, 3, "", ICMP_FRAME),  # name from the topology
    ev(3, Hook.FIB_TABLE_LOOKUP, HOST, 0, "", b""),  # no headers: not a packet
    ev(4, Hook.IP_RCV, HOST, 3, "cni0", IP_PACKET, l3=True),
    ev(5, Hook.NET_DEV_QUEUE, HOST, 4, "eth0", VXLAN_FRAME, vni=1, inner=KEY),
    ev(6, Hook.KFREE_SKB, UNKNOWN, 9, "eth9", ICMP_FRAME, drop_reason=2,
       reason_name="NOT_SPECIFIED", location_sym="br_handle_frame+0x1c4"),
]
# net_dev_queue and net_dev_start_xmit of the same skb on pod-a/eth0 are one crossing
NAMES = ["pod-a/eth0", "host/cni0", "host/cni0", "host/eth0", f"netns:{UNKNOWN}/eth9"]


def recording(path: Path, events: list[Event] = EVENTS) -> Path:
    with RecordWriter(path, SourceInfo(live=True, topology=TOPO), created=1700000000.0) as w:
        w.write_batch(events[:3])
        w.write_batch(events[3:])
    return path


def tshark_fields(pcap: Path, *fields: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    assert TSHARK is not None
    cmd = [TSHARK, "-r", str(pcap), *extra, "-T", "fields", "-E", "separator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return [line.split("|") for line in out.splitlines()]


needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


@needs_tshark
def test_tshark_reads_export_with_per_hop_interfaces(tmp_path: Path) -> None:
    out = tmp_path / "out.pcapng"
    res = export_pcapng(recording(tmp_path / "r.brt"), out)
    assert (res.packets, res.interfaces, res.skipped, res.merged, res.damage) == (5, 5, 1, 1, None)
    plain = subprocess.run([TSHARK or "", "-r", str(out)], capture_output=True, text=True, check=False,
                           timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert len(plain.stdout.splitlines()) == 5
    rows = tshark_fields(out, "frame.interface_name", "frame.comment", "frame.protocols",
                         "frame.time_epoch", "frame.time_relative")
    assert [r[0] for r in rows] == NAMES
    assert rows[0][1] == ("brtrace hop: net_dev_queue+net_dev_start_xmit netns=pod-a dev=eth0 "
                          "ifindex=2 skb=0xffff888000001000 cpu=0")
    assert "ip_rcv netns=host dev=cni0" in rows[2][1]
    assert rows[4][1].endswith("DROP reason=NOT_SPECIFIED at br_handle_frame+0x1c4")
    assert rows[0][2] == "eth:ethertype:ip:icmp"
    assert rows[2][2].startswith("raw:ip:icmp")  # LINKTYPE_RAW: starts at the IP header
    assert "vxlan:eth:ethertype:ip:icmp" in rows[3][2]
    # Timestamps keep their spacing, anchored at the recording's creation time.
    assert rows[0][3] == "1700000000.000000000"
    assert [r[4] for r in rows] == [f"0.00000{i}000" for i in (0, 2, 4, 5, 6)]


@needs_tshark
def test_cli_export_and_damaged_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = recording(tmp_path / "r.brt")
    data = rec.read_bytes()
    cut = tmp_path / "cut.brt"
    cut.write_bytes(data[:-40])  # loses the trailer and the end of the second batch
    out = tmp_path / "cut.pcapng"
    assert main(["export", str(cut), "--pcap", str(out)]) == 1, "a damaged recording exits 1"
    err = capsys.readouterr().err
    assert "warning" in err and "truncated last record" in err and "kept 3 events" in err
    assert "wrote 2 packets on 2 interfaces" in err
    assert err.index("wrote") < err.index("warning"), "what was salvaged first, then the damage"
    assert [r[0] for r in tshark_fields(out, "frame.interface_name")] == NAMES[:2]


def test_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BrtraceError, match="cannot read recording"):
        export_pcapng(tmp_path / "missing.brt", tmp_path / "x.pcapng")
    bogus = tmp_path / "bogus.brt"
    bogus.write_bytes(b"not a recording at all")
    with pytest.raises(BrtraceError, match="not a brtrace recording"):
        export_pcapng(bogus, tmp_path / "x.pcapng")
    with pytest.raises(BrtraceError, match="cannot write"):
        export_pcapng(recording(tmp_path / "r.brt"), tmp_path / "no" / "x.pcapng")
    assert not (tmp_path / "x.pcapng").exists()
    assert main(["export", str(bogus), "--pcap", str(tmp_path / "y.pcapng")]) == 1
    assert main(["export", str(bogus)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("brtrace: ") and "bad magic" in err[0]
    assert err[1].startswith("brtrace: export needs an output: --pcap OUT.pcapng")


def test_blocks_are_aligned_and_self_describing() -> None:
    idb = interface_block(LINKTYPE_RAW, "pod-a/eth0", "x")
    assert len(idb) % 4 == 0
    kind, total = struct.unpack_from("<II", idb)
    assert kind == 1 and total == len(idb) == struct.unpack_from("<I", idb, len(idb) - 4)[0]
    assert struct.unpack_from("<H", idb, 8)[0] == LINKTYPE_RAW != LINKTYPE_ETHERNET
    assert "DROP" not in hop_comment(EVENTS[0], TOPO)


SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "flannel-ping.brt"


@needs_tshark
@pytest.mark.skipif(not SAMPLE.exists(), reason="samples/flannel-ping.brt not generated")
def test_real_flannel_sample(tmp_path: Path) -> None:
    """A lab recording: the VXLAN path's hops all show up as interfaces."""
    res = export_pcapng(SAMPLE, tmp_path / "f.pcapng")
    # flannel's VXLAN port is 8472, not IANA's 4789: tell tshark, as a user would.
    rows = tshark_fields(tmp_path / "f.pcapng", "frame.interface_name", "frame.protocols",
                         extra=("-d", "udp.port==8472,vxlan"))
    assert len(rows) == res.packets > 0
    names = {r[0] for r in rows}
    assert {"pod-a/eth0", "node1/cni0", "node1/flannel.1", "node1/eth0", "pod-b/eth0"} <= names
    assert all("vxlan:eth:ethertype:ip:icmp" in r[1] for r in rows if r[0] == "node1/eth0")
