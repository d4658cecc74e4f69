"""Export to what a user points it at, and packets tools trust (issue 20, items 3-5).

Real recordings (``samples/*.brt``, ``tests/data/faults/*.brt``) through the
real CLI, read back by the real tshark: no errors in its expert info, one
packet per crossing, and special targets (devices, FIFOs, symlinks, stdout)
written in place rather than replaced by a regular file.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tracer.cli.main import main
from tracer.record.pcap import VXLAN_HINT, export_pcapng

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = sorted((ROOT / "samples").glob("*.brt")) + sorted((ROOT / "tests/data/faults").glob("*.brt"))
TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (scripts/setup.sh)")
FLANNEL = ROOT / "samples" / "flannel-ping.brt"


def tshark(*args: str, stdin: bytes | None = None) -> str:
    assert TSHARK is not None
    run = subprocess.run([TSHARK, *args], input=stdin, capture_output=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    return run.stdout.decode()


def expert_errors(pcap: Path, *extra: str) -> str:
    """The 'Errors' section of ``tshark -z expert`` (empty when there is none)."""
    out = tshark("-r", str(pcap), *extra, "-q", "-z", "expert")
    m = re.search(r"^Errors \(\d+\)\n=+\n(.*?)(?:\n\n|\Z)", out, re.S | re.M)
    warn = re.search(r"^Warnings \(\d+\)\n=+\n(.*?)(?:\n\n|\Z)", out, re.S | re.M)
    bad = [m.group(1) if m else "", warn.group(1) if warn and "Malformed" in warn.group(1) else ""]
    return "\n".join(b for b in bad if b)


def test_there_are_recordings_to_check() -> None:
    assert len(RECORDINGS) >= 10, RECORDINGS


@needs_tshark
@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda p: p.name)
def test_tshark_expert_reports_no_error_on_any_export(rec: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.pcapng"
    res = export_pcapng(rec, out)
    assert res.packets > 0 and res.damage is None
    assert expert_errors(out) == ""
    # Decoded as VXLAN too: the only errors allowed are in outer first fragments
    # (vxlan-mtu: the inner packet truly continues in the next fragment).
    bad = tshark("-r", str(out), "-d", "udp.port==8472,vxlan", "-Y",
                 "_ws.expert.severity == error && !(ip.flags.mf == 1)",
                 "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message")
    assert bad == ""


@needs_tshark
def test_received_vxlan_frames_keep_their_length(tmp_path: Path) -> None:
    """Received frames were stored 14 bytes short (skb->len after the Ethernet pull)."""
    out = tmp_path / "f.pcapng"
    export_pcapng(FLANNEL, out)
    rows = [r.split("|") for r in tshark("-r", str(out), "-d", "udp.port==8472,vxlan", "-T", "fields",
                                         "-E", "separator=|", "-e", "frame.interface_name",
                                         "-e", "frame.len", "-e", "ip.len", "-e", "frame.comment",
                                         "-Y", "vxlan").splitlines()]
    received = [r for r in rows if "netif_receive_skb" in r[3]]
    sent = [r for r in rows if "net_dev_queue" in r[3]]
    assert received and sent
    for r in received + sent:
        outer_ip_len = int(r[2].split(",")[0])
        assert int(r[1]) == outer_ip_len + 14, r  # the Ethernet header plus the IP packet
    assert {r[1] for r in received} == {r[1] for r in sent} == {"148"}


@needs_tshark
def test_each_crossing_is_one_packet_per_interface(tmp_path: Path) -> None:
    """flannel-ping: 3 probes, each request and reply crosses every device once."""
    out = tmp_path / "f.pcapng"
    res = export_pcapng(FLANNEL, out)
    names = tshark("-r", str(out), "-T", "fields", "-e", "frame.interface_name").split()
    counts = {n: names.count(n) for n in set(names)}
    assert counts == res.per_interface
    # request + reply of 3 probes: 6 crossings of each pod's eth0 and veth, the bridge and VXLAN
    # device are crossed twice by each (in and out through the stack's hooks on them).
    assert counts["node1/veth-pod-a"] == counts["node2/veth-pod-b"] == 6
    assert counts["node1/eth0"] == counts["node2/eth0"] == 6  # 3 out + 3 in, encapsulated
    # pod-a/eth0: 3 sent + 3 received replies + the 3 replies' frees (a drop comment each)
    assert counts["pod-a/eth0"] == 9
    assert res.merged > 0 and res.packets == len(names)
    comments = tshark("-r", str(out), "-T", "fields", "-e", "frame.comment").splitlines()
    assert any("net_dev_queue+net_dev_start_xmit" in c for c in comments)
    assert any("netif_rx+netif_receive_skb" in c for c in comments)


def test_vxlan_8472_hint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["export", str(FLANNEL), "--pcap", str(tmp_path / "f.pcapng")]) == 0
    err = capsys.readouterr().err
    assert "VXLAN on UDP port 8472" in err and VXLAN_HINT in err
    assert main(["export", str(ROOT / "samples/bridge-drop.brt"), "--pcap", str(tmp_path / "b.pcapng")]) == 0
    assert "VXLAN on UDP port" not in capsys.readouterr().err, "no hint when no packet carries it"


# -- special targets ---------------------------------------------------------

def test_dev_null_stays_a_device(capsys: pytest.CaptureFixture[str]) -> None:
    before = os.stat("/dev/null")
    assert main(["export", str(FLANNEL), "--pcap", "/dev/null"]) == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert not Path("/dev/null.part").exists()
    assert "wrote 63 packets" in capsys.readouterr().err


def test_dev_full_is_an_error_and_stays_a_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(FLANNEL), "--pcap", "/dev/full"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["brtrace: cannot write /dev/full: No space left on device"]
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and not Path("/dev/full.part").exists()


def test_symlink_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real.pcapng"
    target.write_bytes(b"old")
    link = tmp_path / "link.pcapng"
    link.symlink_to(target)
    assert main(["export", str(FLANNEL), "--pcap", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng section header
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.pcapng", "real.pcapng"]


@needs_tshark
def test_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pcapng"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["export", str(FLANNEL), "--pcap", str(fifo)]) == 0
    reader.join(30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "still a FIFO"
    assert not (tmp_path / "pipe.pcapng.part").exists()
    assert len(tshark("-r", "-", stdin=got[0]).splitlines()) == 63


@needs_tshark
def test_stdout_dash(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "tracer.cli.main", "export", str(FLANNEL), "--pcap", "-"],
                         capture_output=True, timeout=60, check=False, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert not (ROOT / "-").exists() and not (ROOT / "-.part").exists()
    assert b"wrote 63 packets on 10 interfaces to stdout" in run.stderr
    assert len(tshark("-r", "-", stdin=run.stdout).splitlines()) == 63


def test_regular_file_still_appears_atomically(tmp_path: Path) -> None:
    out = tmp_path / "x.pcapng"
    out.write_bytes(b"previous good export")
    assert main(["export", str(FLANNEL), "--pcap", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a" and not out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pcapng"]


def test_stdout_on_a_terminal_is_refused() -> None:
    """Binary pcapng is not written over a terminal: a one-line error, exit 2, nothing else."""
    import pty

    master, slave = pty.openpty()
    try:
        run = subprocess.run([sys.executable, "-m", "tracer.cli.main", "export", str(FLANNEL), "--pcap", "-"],
                             stdout=slave, stderr=subprocess.PIPE, timeout=60, check=False, cwd=ROOT)
        os.set_blocking(master, False)
        try:
            written = os.read(master, 65536)
        except BlockingIOError:
            written = b""
    finally:
        os.close(master)
        os.close(slave)
    assert run.returncode == 2
    assert run.stderr.decode().strip() == ("brtrace: --pcap -: stdout is a terminal; pipe it "
                                           "(| tshark -r -) or name a file")
    assert b"\x0a\x0d\x0d\x0a" not in written
