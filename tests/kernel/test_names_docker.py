"""Container names on a real Docker daemon, run by the test in its own netns.

The daemon (Debian's docker.io) gets a private data root, exec root and
socket and lives in ``brt-dockerd`` (``tests/support/dockerd.py``), so docker0,
the containers' veths and its iptables chains never touch the host. Two
busybox containers (an image imported from busybox-static: no registry here):
their names must show in ``topo``, ``ping`` and JSON, and ``--from`` must find
one by name, id, PID, inode and path. Nothing may be left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dockerd import NETNS, PRIVATE_DIRS, Dockerd, running_dockerd

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
Docker = tuple[Dockerd, dict[str, Any], dict[str, Any]]  # the daemon and its two containers


@pytest.fixture(scope="module")
def docker() -> Iterator[Docker]:
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root (network namespaces, a Docker daemon)")
    with running_dockerd() as d:
        d.docker("network", "create", "brt-net")  # a user network: its bridge is br-<id[:12]>
        web1, web2 = d.run("brt-web1"), d.run("brt-web2")
        yield d, web1, web2
    assert_nothing_left()
    cgroups = subprocess.run(["sh", "-c", "cat /proc/[0-9]*/cgroup"], capture_output=True, text=True).stdout
    assert str(web1["Id"]) not in cgroups and str(web2["Id"]) not in cgroups  # no container lives on


def brtrace(d: Dockerd, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BRTRACE_DOCKER_SOCK=d.sock)
    proc = subprocess.run([BRTRACE, *args], capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def assert_nothing_left() -> None:
    """No brt-dockerd netns, no daemon, no mounts, no temp dirs, no mount-point dirs made."""
    assert NETNS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not list(Path("/tmp").glob("brt-dockerd-*"))
    assert "brt-dockerd" not in Path("/proc/self/mountinfo").read_text()
    pids = subprocess.run(["pgrep", "-f", "brt-dockerd-"], capture_output=True, text=True).stdout.split()
    assert pids == [], f"processes of the test daemon still running: {pids}"
    for p in PRIVATE_DIRS[1:]:  # /run/docker, /run/containerd: made by the helper, removed again
        assert not os.path.exists(p) or os.listdir(p) == [], p
    assert not os.path.exists("/etc/docker/key.json")  # written under the daemon's tmpfs only


def test_topo_names_containers_and_the_network(docker: Docker) -> None:
    d, web1, _ = docker
    proc = brtrace(d, "topo", "--json")
    assert proc.returncode == 0, proc.stderr
    topo = json.loads(proc.stdout)
    owners = {o["name"]: (ns, o) for ns in topo["namespaces"] for o in ns["owners"]}
    assert {"brt-web1", "brt-web2"} <= set(owners)
    ns, o = owners["brt-web1"]
    assert (o["runtime"], o["kind"], o["id"]) == ("docker", "container", web1["Id"])
    assert ns["inode"] == os.stat(f"/proc/{web1['State']['Pid']}/ns/net").st_ino
    assert [ln["name"] for ln in ns["links"] if ln["kind"] == "veth"] == ["eth0"]
    bridges = {ln["name"]: ln["network"] for n in topo["namespaces"] for ln in n["links"]
               if ln["kind"] == "bridge"}
    assert bridges.get("docker0") == "bridge"
    net_id = json.loads(d.docker("network", "inspect", "brt-net"))[0]["Id"]
    assert bridges.get(f"br-{net_id[:12]}") == "brt-net", bridges

    text = brtrace(d, "topo").stdout
    assert f"docker container brt-web1 {web1['Id'][:12]}" in text
    assert "eth0  container-eth0 (veth)" in text and "pod-eth0" not in text
    assert "docker0  bridge  network bridge" in text


def test_ping_between_containers_shows_names(docker: Docker) -> None:
    d, _, web2 = docker
    dest = web2["NetworkSettings"]["IPAddress"]
    proc = brtrace(d, "ping", dest, "--from", "brt-web1", "-c", "1", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "--from brt-web1: docker container brt-web1" in proc.stderr
    probe = json.loads(proc.stdout.splitlines()[0])
    assert probe["status"] == "delivered"
    req = [(h["netns"], h["dev"], h["kind"]) for h in probe["request"]]
    assert req[0][:2] == ("brt-web1", "eth0") and req[-1][:2] == ("brt-web2", "eth0"), req
    assert any(k == "bridge" and dev == "docker0" for _, dev, k in req), req
    assert {k for ns, _, k in req if ns.startswith("brt-web")} - {"route"} == {"container-eth0"}, req
    assert "\\u0000" not in proc.stdout

    text = brtrace(d, "ping", dest, "--from", "brt-web1", "-c", "1", "--plain").stdout
    assert f"brt-web1 (172.17.0.2) → brt-web2 ({dest})" in text and "crossed into brt-web2" in text


def test_recording_keeps_the_names(docker: Docker,
                                   tmp_path: Path) -> None:
    """Names are stored with the topology: a replay elsewhere (no daemon, no root) shows them."""
    d, _, web2 = docker
    out = tmp_path / "brt-names.brt"
    proc = brtrace(d, "ping", web2["NetworkSettings"]["IPAddress"], "--from", "brt-web1", "-c", "1",
                   "--json", "--record", str(out))
    assert proc.returncode == 0, proc.stderr
    env = dict(os.environ, BRTRACE_NO_RUNTIMES="1")
    replay = subprocess.run([BRTRACE, "replay", str(out), "--json"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert replay.returncode == 0, replay.stderr
    objs = [json.loads(line) for line in replay.stdout.splitlines() if line.strip()]
    netns = {h["netns"] for o in objs for key in ("request", "reply", "hops") for h in o.get(key, [])}
    assert {"brt-web1", "brt-web2"} <= netns, replay.stdout[:500]


def test_from_accepts_id_pid_inode_and_paths(docker: Docker) -> None:
    d, web1, _ = docker
    pid = web1["State"]["Pid"]
    inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    forms = {
        web1["Id"][:12]: "docker container id", web1["Id"]: "docker container id",
        str(pid): f"PID {pid}", str(inode): f"netns inode {inode}",
        f"/proc/{pid}/ns/net": "netns path", web1["NetworkSettings"]["SandboxKey"]: "netns path",
        f"netns:{inode}": f"netns inode {inode}",
    }
    for query, how in forms.items():
        proc = brtrace(d, "topo", "--netns", query, "--json")
        assert proc.returncode == 0, (query, proc.stderr)
        assert how in proc.stderr and f"(inode {inode})" in proc.stderr, (query, proc.stderr)
        assert [ns["inode"] for ns in json.loads(proc.stdout)["namespaces"]] == [inode], query
    ping = brtrace(d, "ping", "172.17.0.1", "--from", str(pid), "-c", "1", "--json")
    assert ping.returncode == 0 and f"PID {pid} -> netns brt-web1" in ping.stderr, ping.stderr


def test_ambiguous_name_lists_the_candidates(docker: Docker) -> None:
    """A netns named like a container: brtrace refuses to guess and names both."""
    d, web1, _ = docker
    subprocess.run(["ip", "netns", "add", "brt-web1"], check=True, timeout=10)
    try:
        proc = brtrace(d, "ping", "172.17.0.1", "--from", "brt-web1", "-c", "1")
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1, err
        assert "ambiguous" in err and "named netns brt-web1" in err and "docker container brt-web1" in err
        by_id = brtrace(d, "topo", "--netns", web1["Id"][:12])
        assert by_id.returncode == 0, by_id.stderr
    finally:
        subprocess.run(["ip", "netns", "del", "brt-web1"], capture_output=True, timeout=10)


def test_absent_daemon_costs_nothing_and_doctor_says_so(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    env = dict(os.environ, BRTRACE_DOCKER_SOCK=str(tmp_path / "none.sock"))
    proc = subprocess.run([BRTRACE, "doctor"], capture_output=True, text=True, timeout=120, env=env)
    assert "docker" in proc.stdout and "no socket at" in proc.stdout, proc.stdout


def test_trace_and_drops_name_the_containers(docker: Docker) -> None:
    d, _, web2 = docker
    dest = web2["NetworkSettings"]["IPAddress"]
    exec_in_web1 = ["/usr/bin/docker", "-H", d.host, "exec", "brt-web1"]
    trace = brtrace(d, "trace", "--host", dest, "--proto", "icmp", "--json", "--duration", "20", "--",
                    *exec_in_web1, "ping", "-c", "1", dest)
    assert trace.returncode == 0, trace.stderr
    pkts = [json.loads(line) for line in trace.stdout.splitlines() if line.strip()]
    hops = [(h["netns"], h["dev"]) for p in pkts if p["type"] == "packet"  # (and a summary line)
            for h in p["request"] + p["reply"]]
    assert ("brt-web1", "eth0") in hops and ("brt-web2", "eth0") in hops, hops

    env = dict(os.environ, BRTRACE_DOCKER_SOCK=d.sock)
    drops = subprocess.Popen([BRTRACE, "drops", "--host", dest, "--proto", "tcp", "--json",
                              "--duration", "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        time.sleep(3.0)  # its probes attach in well under that (bench: 0.6 s)
        for _ in range(2):  # a SYN to a closed port: web2's kernel frees it (NO_SOCKET)
            subprocess.run([*exec_in_web1, "nc", "-w", "1", dest, "9"], capture_output=True, timeout=20)
        out, err = drops.communicate(timeout=60)
    finally:
        if drops.poll() is None:
            drops.kill()
            drops.wait()
    assert drops.returncode == 0, err
    final = json.loads(out.splitlines()[-1])
    assert any(g.get("netns") == "brt-web2" for g in final["groups"]), final
