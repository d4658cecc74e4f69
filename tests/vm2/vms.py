"""Two QEMU VMs (TCG, 1 vCPU, 1 GiB) from the vmtest image, one flannel node each.

The underlay is a QEMU socket link on the host's loopback; each VM's agent is
reachable only through QEMU user networking with ``restrict=on`` (no outside
access for the guest) and one ``hostfwd`` on 127.0.0.1. Each VM's serial
console is read line by line, with the host's CLOCK_MONOTONIC at the read.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT_PORT = 7946
STAGGER_S = 0.2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Vm:
    """One running guest: its console lines as (host monotonic ns at read, text)."""

    role: str
    agent_port: int
    proc: subprocess.Popen[bytes]
    launched_ns: int
    lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def agent(self) -> str:
        return f"127.0.0.1:{self.agent_port}"

    def read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append((time.monotonic_ns(), raw.decode(errors="replace").rstrip("\r\n")))

    def text(self) -> str:
        return "\n".join(t for _, t in self.lines)

    def wait_for(self, needle: str, timeout: float) -> None:
        """Until a console line holds needle; a VM that dies or fails first is a failure."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(needle in t for _, t in self.lines):
                return
            if self.proc.poll() is not None or any("BRTRACE_NODE_FAILED" in t for _, t in self.lines):
                break
            time.sleep(0.5)
        raise AssertionError(f"VM {self.role}: no {needle!r} within {timeout:.0f} s; console:\n"
                             + "\n".join(self.text().splitlines()[-40:]))


def image() -> Path:
    """The cached vmtest image (built on first use by vm/build-image.sh)."""
    out = subprocess.run(["bash", "vm/build-image.sh"], cwd=ROOT, capture_output=True, text=True,
                         timeout=1800, check=False)
    assert out.returncode == 0, f"vm/build-image.sh failed:\n{out.stderr[-3000:]}"
    img = Path(out.stdout.strip().splitlines()[-1])
    assert (img / "done").is_file(), img
    return img


def tree_disk(tmp: Path, certs: Path) -> Path:
    """The working tree (and the test's certificates) on an ext4 disk both VMs read."""
    src = tmp / "src"
    src.mkdir()
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        p = ROOT / f.decode()
        if p.is_file():
            (src / f.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, src / f.decode())
    shutil.copytree(certs, src / ".brtrace-vm-certs")
    disk = tmp / "src.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "brtsrc", "-d", str(src), str(disk), "512M"],
                   check=True, capture_output=True)
    return disk


def _qemu(img: Path, disk: Path, role: str, link: str, agent_port: int, tmp: Path) -> Vm:
    n = {"node1": "11", "node2": "12"}[role]
    argv = ["qemu-system-x86_64", "-accel", os.environ.get("BRTRACE_VM_ACCEL", "tcg"), "-cpu", "max",
            "-smp", "1", "-m", "1024", "-no-reboot", "-nodefaults", "-display", "none",
            "-monitor", "none", "-serial", "stdio",
            "-kernel", str(img / "vmlinuz"), "-initrd", str(img / "initrd.img"),
            "-append", f"root=/dev/vda rw console=ttyS0 quiet panic=-1 init=/sbin/brtrace-vm-init "
                       f"brtrace_role={role}",
            "-drive", f"file={img / 'root.img'},if=virtio,format=raw,snapshot=on",
            "-drive", f"file={disk},if=virtio,format=raw,snapshot=on",
            "-netdev", f"socket,id=u,{link}",
            "-device", f"virtio-net-pci,netdev=u,mac=52:54:00:b7:50:{n}",
            "-netdev", f"user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:{agent_port}-:{AGENT_PORT}",
            "-device", f"virtio-net-pci,netdev=n,mac=52:54:00:b7:00:{n}"]
    env = {**os.environ, "TMPDIR": str(tmp)}  # snapshot overlays land (and die) in tmp
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    vm = Vm(role, agent_port, proc, time.monotonic_ns())
    threading.Thread(target=vm.read, daemon=True).start()
    return vm


def _listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:port, without connecting (QEMU would take it as the peer)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=False)
    return bool(out.stdout.strip())


def _stop(vm: Vm) -> None:
    if vm.proc.poll() is None:
        os.killpg(vm.proc.pid, signal.SIGKILL)
    vm.proc.wait(10)


@contextmanager
def two_vms(certs: Path) -> Iterator[tuple[Vm, Vm]]:
    """Both VMs booted to their agent's "serving"; killed on the way out, also on failure."""
    img = image()
    with tempfile.TemporaryDirectory(prefix="brt-vm2.") as t:
        tmp = Path(t)
        disk = tree_disk(tmp, certs)
        link = free_port()
        vms: list[Vm] = []
        try:
            vms.append(_qemu(img, disk, "node1", f"listen=127.0.0.1:{link}", free_port(), tmp))
            end = time.monotonic() + 30
            while not _listening(link) and vms[0].proc.poll() is None and time.monotonic() < end:
                time.sleep(0.1)
            assert _listening(link), f"VM node1 does not listen on the link port:\n{vms[0].text()}"
            # node1's clock runs once its console prints anything; node2 is launched STAGGER_S
            # later, so the two clocks differ by more than that, as the test asserts (launched
            # back to back, the two boots once came out 28 ms apart)
            end = time.monotonic() + 300
            while not vms[0].lines and vms[0].proc.poll() is None and time.monotonic() < end:
                time.sleep(0.05)
            assert vms[0].lines, f"VM node1 printed nothing (exit {vms[0].proc.poll()})"
            time.sleep(STAGGER_S)
            vms.append(_qemu(img, disk, "node2", f"connect=127.0.0.1:{link}", free_port(), tmp))
            for vm in vms:
                vm.wait_for("serving", 300)
            yield vms[0], vms[1]
        finally:
            for vm in vms:
                _stop(vm)
