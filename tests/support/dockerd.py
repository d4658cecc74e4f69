"""A real Docker daemon in its own network namespace, for tests (and nothing else on the host).

Why this shape (measured on this machine kind, ``shared/notes/real-parts.md``):

* ``ip netns exec brt-dockerd`` gives the daemon its own netns, so docker0,
  the containers' veths and every DOCKER iptables chain live only there. It
  also unshares the mount namespace and remounts /sys, which hides the cgroup
  hierarchies: the host's are mounted again inside first (read from
  ``/proc/self/mountinfo``), else dockerd dies with "Devices cgroup isn't
  mounted". Everything mounted in there vanishes with the daemon.
* A tmpfs over ``/etc/docker`` (dockerd writes ``key.json`` and reads
  ``daemon.json`` there), ``/run/docker`` (plugins) and ``/run/containerd``
  keeps the daemon off the host's files and off a host daemon's containerd.
* Private ``--data-root``, ``--exec-root``, ``--pidfile`` and socket under one
  ``brt-dockerd-*`` temp dir.
* Started in a new session (``setsid``), so a Ctrl-C to the test run does not
  reach it before the cleanup does; stopped by its PID.

Use :func:`running_dockerd` (a context manager) or :class:`Dockerd` directly.
Everything it made is removed on the way out, on failure and Ctrl-C too: the
containers, the daemon and its children (by PID), the netns, the temp dir and
any mount-point directory it had to create. The image ``brt-busybox`` is
imported from a busybox-static rootfs (no registry is reachable here).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

NETNS = "brt-dockerd"
IMAGE = "brt-busybox"
DOCKER = "/usr/bin/docker"  # another docker client may come first on PATH
DOCKERD = "/usr/sbin/dockerd"
BUSYBOX = "/bin/busybox"
PRIVATE_DIRS = ("/etc/docker", "/run/docker", "/run/containerd")
START_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0
# Mount options of a v1 hierarchy that name no controller: such a mount needs "none".
_NOT_CONTROLLERS = ("rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode")


def _cgroup_mounts() -> list[str]:
    """Shell commands that mount the host's cgroup hierarchies again, in mountinfo order."""
    cmds = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            mnt = pre.split()[4]
            fstype, _src, opts = post.split()[:3]
            if not mnt.startswith("/sys/fs/cgroup"):
                continue
            q = shlex.quote(mnt)
            if fstype == "tmpfs":
                cmds.append(f"mount -t tmpfs -o mode=755 tmpfs {q}")
            elif fstype == "cgroup2":
                cmds.append(f"mkdir -p {q} && mount -t cgroup2 cgroup2 {q}")
            elif fstype == "cgroup":
                parts = opts.split(",")
                if all(p in _NOT_CONTROLLERS or p.startswith(("name=", "release_agent=")) for p in parts):
                    parts.append("none")
                cmds.append(f"mkdir -p {q} && mount -t cgroup -o {shlex.quote(','.join(parts))} cgroup {q}")
    return cmds


@dataclass
class Dockerd:
    """One daemon: ``start()``, use ``docker(...)``/``run(...)``, always ``stop()``."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="brt-dockerd-")))
    netns: str = NETNS
    pid: int = 0
    made_dirs: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    ctr_containers: list[tuple[str, str]] = field(default_factory=list)  # (containerd ns, id)
    _netns_made: bool = False

    @property
    def sock(self) -> str:
        return str(self.root / "docker.sock")

    @property
    def host(self) -> str:
        """``-H`` value / ``DOCKER_HOST`` for a client of this daemon."""
        return f"unix://{self.sock}"

    def _script(self) -> str:
        d = self.root
        args = [DOCKERD, "--data-root", str(d / "data"), "--exec-root", str(d / "exec"),
                "--pidfile", str(d / "dockerd.pid"), "-H", self.host]
        mounts = [f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(p)}" for p in PRIVATE_DIRS]
        return " && ".join(["set -e", *_cgroup_mounts(), *mounts, "exec " + shlex.join(args)])

    def start(self) -> None:
        for tool in (DOCKERD, DOCKER, BUSYBOX):
            if not os.access(tool, os.X_OK):
                raise RuntimeError(f"{tool} missing: scripts/setup.sh installs docker.io and busybox-static")
        self._clean_stale()
        for p in PRIVATE_DIRS:
            if not os.path.isdir(p):
                os.makedirs(p)
                self.made_dirs.append(p)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True, timeout=10)
        self._netns_made = True
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, timeout=10)
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 - the daemon keeps it
        with log:
            proc = subprocess.Popen(["ip", "netns", "exec", self.netns, "sh", "-c", self._script()],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        self.pid = proc.pid  # ip and sh exec: this is dockerd's PID
        self._wait_ready(proc)

    def _clean_stale(self) -> None:
        """What a killed earlier run left (its netns, processes, temp dirs): start clean."""
        if os.path.exists(f"/run/netns/{self.netns}"):
            self._kill_stragglers()
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=10)
            for p in PRIVATE_DIRS[1:]:  # mount points it made (/etc/docker is the package's)
                try:
                    os.rmdir(p)  # only if empty: a host daemon's would not be
                except OSError:
                    pass
        for old in Path(tempfile.gettempdir()).glob("brt-dockerd-*"):
            if old != self.root and not self._alive(_pid_in(old / "dockerd.pid")):
                shutil.rmtree(old, ignore_errors=True)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dockerd exited ({proc.returncode}): {self.log_tail()}")
            if self._ping():
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd not ready in {START_TIMEOUT:g} s: {self.log_tail()}")

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1.0)
                s.connect(self.sock)
                s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return b" 200 " in s.recv(64)
        except OSError:
            return False

    def log_tail(self, n: int = 8) -> str:
        try:
            lines = (self.root / "dockerd.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-n:])

    def docker(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> str:
        """Run ``/usr/bin/docker -H <this daemon> ARGS``; its stdout, or RuntimeError with stderr."""
        proc = subprocess.run([DOCKER, "-H", self.host, *args], input=stdin, capture_output=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode()

    def import_busybox(self, name: str = IMAGE) -> str:
        """An image of a busybox-static rootfs: /bin/busybox and one symlink per applet."""
        rootfs = self.root / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        for d in ("etc", "tmp", "proc", "sys", "dev", "root"):
            (rootfs / d).mkdir()
        shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
        for applet in applets.split():
            if applet != "busybox" and "/" not in applet:
                os.symlink("busybox", rootfs / "bin" / applet)
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        self.docker("import", "-", name, stdin=tar)
        return name

    def run(self, name: str, *cmd: str, network: str = "", image: str = IMAGE) -> dict[str, object]:
        """Start a container (AppArmor unconfined: absent here); its ``docker inspect`` object."""
        net = ["--network", network] if network else []
        self.containers.append(name)
        self.docker("run", "-d", "--name", name, "--security-opt", "apparmor=unconfined", *net,
                    image, *(cmd or ("sleep", "600")))
        return self.inspect(name)

    @property
    def containerd_sock(self) -> str:
        """The containerd dockerd started for itself (its namespace ``moby`` holds Docker's containers)."""
        return str(self.root / "exec" / "containerd" / "containerd.sock")

    def ctr(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> str:
        """``ctr --address <that containerd> ARGS``; stdout, or RuntimeError with stderr."""
        proc = subprocess.run(["ctr", "--address", self.containerd_sock, *args], input=stdin,
                              capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode()

    def ctr_run(self, ns: str, name: str, netns_path: str, labels: dict[str, str],
                *cmd: str) -> None:
        """A container straight on containerd (as a CRI plugin would make it) in ``netns_path``.

        The image is copied over from Docker; ctr's fifos go under the private
        dir (the default /run/containerd/fifo is hidden from the shim by the
        daemon's tmpfs). ``stop`` removes it with the daemon.
        """
        if not self.ctr("-n", ns, "images", "ls", "-q").strip():
            self.ctr("-n", ns, "images", "import", "-", stdin=self._saved_image())
        lab = [x for k, v in labels.items() for x in ("--label", f"{k}={v}")]
        self.ctr_containers.append((ns, name))
        self.ctr("-n", ns, "run", "-d", "--fifo-dir", str(self.root / "fifo"), *lab,
                 "--with-ns", f"network:{netns_path}", f"docker.io/library/{IMAGE}:latest", name,
                 *(cmd or ("sleep", "600")))

    def _saved_image(self) -> bytes:
        proc = subprocess.run([DOCKER, "-H", self.host, "save", f"{IMAGE}:latest"],
                              capture_output=True, check=True, timeout=60)
        return proc.stdout

    def inspect(self, name: str) -> dict[str, object]:
        out: list[dict[str, object]] = json.loads(self.docker("inspect", name))
        return out[0]

    def stop(self) -> None:
        """Remove everything ``start`` made; safe to call twice and after a failed start."""
        if self.pid and self._alive(self.pid):
            for name in reversed(self.containers):
                try:
                    self.docker("rm", "-f", name, timeout=20)
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
            self._remove_ctr_containers()
            self._stop_daemon()
        self.pid = 0
        if self._netns_made:
            self._kill_stragglers()
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=10)
            self._netns_made = False
        for p in reversed(self.made_dirs):
            try:
                os.rmdir(p)
            except OSError:
                pass
        self.made_dirs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def _remove_ctr_containers(self) -> None:
        """Tasks started straight on containerd: Docker does not know them, so ``rm -f`` misses them."""
        for ns, name in reversed(self.ctr_containers):
            for args in (("tasks", "kill", "-s", "KILL", name), ("tasks", "rm", "-f", name),
                         ("containers", "rm", name)):
                try:
                    self.ctr("-n", ns, *args, timeout=20)
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
                if args[1] == "kill":
                    time.sleep(0.2)  # the task exits before it can be removed
        self.ctr_containers.clear()

    def _stop_daemon(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    @staticmethod
    def _alive(pid: int) -> bool:
        if pid <= 0:
            return False
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def _kill_stragglers(self) -> None:
        """Processes the daemon started that outlived it (containerd, shims): by PID, in its netns."""
        try:
            ino = os.stat(f"/run/netns/{self.netns}").st_ino
        except OSError:
            return
        for _ in range(3):  # the daemon's helpers, and the containers under their shims
            pids = [p for p in _with_descendants(_pids_in_netns(ino)) if p != os.getpid()]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)


def _with_descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them (a container's processes sit in their own netns)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.append(pid)
            todo += children.get(pid, [])
    return out


def _pid_in(pidfile: Path) -> int:
    try:
        return int(pidfile.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _pids_in_netns(inode: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                    out.append(int(entry))
            except OSError:
                continue
    return out


@contextmanager
def running_dockerd() -> Iterator[Dockerd]:
    """A started daemon with ``brt-busybox`` imported; everything removed on the way out."""
    d = Dockerd()
    try:
        d.start()
        d.import_busybox()
        yield d
    finally:
        d.stop()


__all__ = ["DOCKER", "IMAGE", "NETNS", "PRIVATE_DIRS", "Dockerd", "running_dockerd"]
