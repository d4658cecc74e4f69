"""The headers that change at each hop (step playback), on the recorded samples."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from tests.unit.test_svg_export import book_of
from tracer.cli.stepping import play_steps
from tracer.correlate.vocab import Verb
from tracer.model import IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, L4Key
from tracer.render.hopdiff import hop_diffs, port_changes
from tracer.render.steps import step_chunks

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_flannel_request_diffs_routing_encap_decap() -> None:
    p = book_of(SAMPLES / "flannel-ping.brt").packets[1]
    by_verb = {h.verb: h.index for h in p.request}
    diffs = hop_diffs(p.request)
    assert set(diffs) == {6, 7, 10, 12}  # route+encap device, eth0 out, decap, routed into cni0
    assert diffs[by_verb[Verb.SEND_ENCAP]].why == "encapsulated"
    assert diffs[7].fields == ("+ outer IP 192.168.50.11 → 192.168.50.12 UDP :8472 VNI 1",
                               "+ outer eth 9e:8f:ff:51:f8:6a → c6:6d:d2:81:32:fe")
    assert diffs[by_verb[Verb.DECAP]].why == "decapsulated"
    assert diffs[10].fields[0] == "− outer IP 192.168.50.11 → 192.168.50.12 UDP :8472 VNI 1"
    routed = diffs[12]
    assert routed.why == "routed"
    assert routed.fields[0] == "ttl 63 → 62"
    assert routed.fields[1] == "eth src 02:b7:0a:f4:00:00 → fe:cf:08:11:3c:ac"
    assert routed.fields[2].startswith("eth dst 02:b7:0a:f4:01:00 → ")
    assert diffs[6].fields[0] == "ttl 64 → 63"  # node1 routes into flannel.1: TTL −1, new MACs


def test_nat_diff_names_the_rewritten_address() -> None:
    p = book_of(SAMPLES / "docker-nat.brt").packets[1]
    req = [line for d in hop_diffs(p.request).values() for line in d.fields]
    rep = [line for d in hop_diffs(p.reply).values() for line in d.fields]
    assert "ip src 192.168.88.2 → 198.51.100.2" in req  # MASQUERADE on the way out
    assert "ip dst 198.51.100.2 → 192.168.88.2" in rep  # conntrack undoes it on the reply


def test_step_chunks_one_hop_each_and_keys_advance() -> None:
    p = book_of(SAMPLES / "flannel-ping.brt").packets[1]
    chunks = list(step_chunks(p, p.src, p.dst))
    assert len(chunks) == 2 + len(p.request) + len(p.reply)  # a heading per direction, then hops
    out = io.StringIO()
    play_steps([p], None, out=out, keys=io.StringIO("\n\n\nq\n"))
    text = out.getvalue()
    assert "route lookup in pod-a" in text and "sent from pod-a" in text
    assert "veth-pod-a" in text.splitlines()[-2]  # stopped after the third hop, on q
    assert "encapsulated" not in text


def test_replay_plain_step_ms_prints_hops_with_diffs() -> None:
    run = subprocess.run([sys.executable, "-m", "tracer.cli.main", "replay",
                          str(SAMPLES / "flannel-ping.brt"), "--plain", "--step-ms", "1"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    enc = next(i for i, ln in enumerate(lines) if "sent encapsulated on eth0" in ln)
    want = "↳ encapsulated: + outer IP 192.168.50.11 → 192.168.50.12 UDP :8472 VNI 1"
    assert lines[enc + 1].strip() == want
    assert any(ln.strip() == "↳ routed: ttl 64 → 63" for ln in lines)
    assert lines[-1].startswith("3 probes: 3 delivered")
    bad = subprocess.run([sys.executable, "-m", "tracer.cli.main", "replay",
                          str(SAMPLES / "flannel-ping.brt"), "--json", "--step"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "--step" in bad.stderr


def test_port_rewrites_are_named() -> None:
    a = L4Key(proto=IPPROTO_UDP, sport=40000, dport=53)
    assert port_changes(a, L4Key(proto=IPPROTO_UDP, sport=1024, dport=53)) == ["udp sport 40000 → 1024"]
    assert port_changes(L4Key(proto=IPPROTO_TCP, sport=5, dport=80),
                        L4Key(proto=IPPROTO_TCP, sport=5, dport=8080)) == ["tcp dport 80 → 8080"]
    assert port_changes(L4Key(proto=IPPROTO_ICMP, sport=1), L4Key(proto=IPPROTO_ICMP, sport=2)) == [
        "icmp id 0x0001 → 0x0002"]
    assert port_changes(a, a) == []


def _replay(*args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "tracer.cli.main", "replay", *args],
                         capture_output=True, text=True, timeout=60, check=False)
    return run.stdout


def test_stepped_replay_is_the_plain_replay_plus_the_header_notes() -> None:
    """Hop rows, NAT names, the drop and its diagnosis: stepping loses nothing --plain prints."""
    for sample in ("flannel-ping.brt", "bridge-drop.brt", "docker-nat.brt"):
        path = str(SAMPLES / sample)
        stepped = _replay(path, "--plain", "--step-ms", "1").splitlines()
        notes = [ln for ln in stepped if ln.startswith(" " * 10) and not ln.strip()[:1].isdigit()]
        assert (sample == "bridge-drop.brt") == (not notes), sample  # the drop dies before routing
        plain = _replay(path, "--plain").splitlines()
        assert [ln for ln in stepped if ln not in notes] == plain, sample
