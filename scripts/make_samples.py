#!/usr/bin/env python3
"""Regenerate ``samples/``: real recordings made on brtrace's labs (root).

Samples are never edited by hand: this script is their source. Each lab it
brings up is taken down again; labs that were already up are left up, and a
fault it injects is removed in a ``finally``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "samples"
BRTRACE = str(Path(sys.executable).with_name("brtrace"))

SAMPLES = {
    "flannel-ping.brt": ("flannel",
                         "pod-a pings pod-b across nodes: veth, cni0, route, VXLAN encap/decap and back",
                         ["ping", "10.244.1.3", "--from", "pod-a", "-c", "3", "-i", "0.2"]),
    "docker-nat.brt": ("docker", "ns0 pings the outside network through br0 and MASQUERADE (NAT both ways)",
                       ["ping", "198.51.100.1", "--from", "ns0", "-c", "2", "-i", "0.2"]),
    "bridge-drop.brt": ("bridge", "nns1 pings nns2 while bridge port veth20 is disabled: the bridge drops it",
                        ["ping", "172.16.0.21", "--from", "nns1", "-c", "1"]),
    "arp-fdb.brt": ("bridge", "first contact nns1 → nns2: ARP broadcast flooded, FDB learning, then the ping",
                    ["record", "--host", "172.16.0.21", "--duration", "5", "--",
                     "ip", "netns", "exec", "brt-nns1", "ping", "-c", "1", "-W", "1", "172.16.0.21"]),
    "bridged-dnat.brt": ("bridge", "nns1 pings 172.16.0.22, which a DNAT rule in bridge-host's PREROUTING "
                         "turns into nns2's 172.16.0.21 while br0 switches the frame (bridge netfilter): "
                         "its own route lookup, the frame handed back to the bridge, the expression "
                         "followed through the DNAT and back",
                         ["record", "--duration", "5", "icmp and host 172.16.0.22", "--",
                          "ip", "netns", "exec", "brt-nns1", "ping", "-c", "1", "-W", "1", "172.16.0.22"]),
    "ipv6-ping.brt": ("flannel", "pod-a pings pod-b over IPv6 (ICMPv6 echo): the same hops as IPv4, the IPv6 "
                      "frame inside the IPv4 VXLAN underlay, IPv6 route lookups (fib6)",
                      ["ping", "fd00:10:244:1::3", "--from", "pod-a", "-c", "2", "-i", "0.2"]),
}


def sh(*cmd: str, check: bool = True) -> None:
    subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL)


@contextmanager
def lab(name: str) -> Iterator[None]:
    from tracer import lab as labs

    was_up = labs.status(name).state == labs.STATE_UP
    labs.up(name)
    try:
        yield
    finally:
        if not was_up:
            labs.down(name)


@contextmanager
def fault(sample: str) -> Iterator[None]:
    if sample == "bridge-drop.brt":
        sh("ip", "netns", "exec", "brt-bridge-host", "bridge", "link", "set", "dev", "veth20", "state", "0")
        try:
            yield
        finally:
            sh("ip", "netns", "exec", "brt-bridge-host", "bridge", "link", "set", "dev", "veth20",
               "state", "3")
    elif sample == "arp-fdb.brt":
        sh("ip", "netns", "exec", "brt-nns1", "ip", "neigh", "flush", "all")
        sh("ip", "netns", "exec", "brt-nns2", "ip", "neigh", "flush", "all")
        sh("ip", "netns", "exec", "brt-bridge-host", "bridge", "fdb", "flush", "dev", "br0", check=False)
        yield
    elif sample == "bridged-dnat.brt":
        from tests.support.bridged_dnat import bridged_dnat

        with bridged_dnat():
            yield
    else:
        yield


def record(sample: str) -> None:
    lab_name, _, args = SAMPLES[sample]
    path = OUT / sample
    path.unlink(missing_ok=True)
    with lab(lab_name), fault(sample):
        if args[0] == "ping":
            cmd = [BRTRACE, *args, "--plain", "--record", str(path)]
        else:
            cmd = [BRTRACE, "record", "-o", str(path), *args[1:]]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=120)
    if not path.exists():
        raise SystemExit(f"make_samples: {sample} was not written")
    print(f"samples/{sample}: {path.stat().st_size} bytes")


def main() -> int:
    if os.geteuid() != 0:
        print("make_samples: needs root (it traces the labs)", file=sys.stderr)
        return 77
    OUT.mkdir(exist_ok=True)
    wanted = sys.argv[1:] or list(SAMPLES)
    for s in wanted:
        record(s)
    lines = ["# Sample recordings", "",
             "Real traces made on brtrace's labs by `scripts/make_samples.py` (`make samples`);",
             "regenerate, never edit. Replay one without root: `brtrace replay samples/FILE`.", ""]
    lines += [f"- `{name}` — {desc} (lab `{lab_name}`)" for name, (lab_name, desc, _) in SAMPLES.items()]
    (OUT / "README.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
