"""A device renamed inside its netns, as runtimes do, shows its clean name.

Docker, containerd and CNI plugins create a veth under a temporary name and
rename it to ``eth0`` inside the container. The kernel's 16-byte name buffer
then holds ``eth0``, a NUL and the old name's tail; brtrace once printed that
tail (``eth0\\x00\\x00\\x00\\x00887``). The labs create devices under their final
names, so only a real rename shows it: this test does one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
HOST_NS, CTR_NS = "brt-ren-host", "brt-ren-ctr"
LONG_HOST, LONG_CTR = "brtvethh1c2d887", "brtvethc1c2d887"  # 15 bytes: the whole buffer used


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@pytest.fixture
def renamed_pair() -> Iterator[None]:
    """Two netns joined by a veth whose inner end was created long and renamed to eth0."""
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root (network namespaces)")
    try:
        ip("netns", "add", HOST_NS)
        ip("netns", "add", CTR_NS)
        ip("-n", HOST_NS, "link", "add", LONG_HOST, "type", "veth", "peer", "name", LONG_CTR,
           "netns", CTR_NS)
        ip("-n", CTR_NS, "link", "set", LONG_CTR, "name", "eth0")
        ip("-n", HOST_NS, "addr", "add", "10.199.0.1/24", "dev", LONG_HOST)
        ip("-n", CTR_NS, "addr", "add", "10.199.0.2/24", "dev", "eth0")
        for ns, dev in ((HOST_NS, LONG_HOST), (CTR_NS, "eth0"), (HOST_NS, "lo"), (CTR_NS, "lo")):
            ip("-n", ns, "link", "set", dev, "up")
        yield
    finally:
        for ns in (CTR_NS, HOST_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_renamed_device_is_clean_in_json_and_text(renamed_pair: None) -> None:
    proc = subprocess.run([BRTRACE, "ping", "10.199.0.1", "--from", "ren-ctr", "-c", "1", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "\\u0000" not in proc.stdout and "\x00" not in proc.stdout
    probe = json.loads(proc.stdout.splitlines()[0])
    hops = probe["request"] + probe["reply"]
    ctr_devs = {h["dev"] for h in hops if h["netns"] == "ren-ctr"}
    assert ctr_devs == {"eth0"}, hops
    assert any(h["dev"] == LONG_HOST for h in hops if h["netns"] == "ren-host"), hops

    text = subprocess.run([BRTRACE, "ping", "10.199.0.1", "--from", "ren-ctr", "-c", "1", "--plain"],
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr + text.stdout
    assert "\\x00" not in text.stdout and "\x00" not in text.stdout
    assert " eth0 " in text.stdout
