"""`make image` (scripts/build-image.sh) under a real Docker daemon (in its own
netns: tests/support/dockerd.py), run as deploy/agent.yaml runs it: root with
every capability dropped but the measured ones (deploy/capabilities.json),
Docker's default seccomp profile, read-only root, the host's PID namespace and
the BTF, /run/netns mounts. ``brtrace --version`` and ``doctor`` answer, and a
real agent in the container traces the flannel lab for this host's
``brtrace ping --agents`` (reached inside the daemon's netns).

The base layer is built once and cached by recipe hash (a cold build takes
minutes: see the README); brtrace's own layer is rebuilt from the tree each run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.caps import recorded
from tests.support.dockerd import DOCKER, NETNS, Dockerd, running_dockerd

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(1500)]
ROOT = Path(__file__).resolve().parents[2]
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
TAG = "brtrace:local"
BUILD_TIMEOUT_S = 1200  # a cold base build (Debian packages and wheels); cached ones take seconds


def build_image(d: Dockerd) -> None:
    env = {**os.environ, "DOCKER_HOST": d.host, "BRTRACE_IMAGE_TAG": TAG}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "build-image.sh")], capture_output=True, text=True,
                          env=env, timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"imported as {TAG}" in proc.stderr, proc.stderr[-2000:]


def as_deployed() -> list[str]:
    """``docker run`` options that give what deploy/agent.yaml's container gets."""
    caps = [a for c in recorded() for a in ("--cap-add", c.removeprefix("CAP_"))]
    return ["--cap-drop", "ALL", *caps, "--pid", "host", "--network", "host", "--user", "0",
            "--read-only", "--tmpfs", "/tmp", "--security-opt", "apparmor=unconfined",
            "-v", "/sys/kernel/btf:/sys/kernel/btf:ro", "-v", "/run/netns:/run/netns:ro,rslave"]


def test_image_runs_version_doctor_and_an_agent_with_the_manifests_capabilities(
        flannel_lab: object, tmp_path: Path) -> None:
    with running_dockerd() as d:
        t0 = time.monotonic()
        build_image(d)
        print(f"image built and imported in {time.monotonic() - t0:.0f} s")
        assert d.docker("run", "--rm", *as_deployed(), TAG, "brtrace", "--version").startswith("brtrace ")
        proc = subprocess.run([DOCKER, "-H", d.host, "run", "--rm", *as_deployed(), TAG, "brtrace", "doctor",
                               "--json"], capture_output=True, text=True, timeout=120)
        checks = {c["check"]: c for c in json.loads(proc.stdout)}
        for name in ("root", "btf", "bcc", "bcc headers"):  # tracefs: not mounted in the daemon's netns
            assert checks[name]["ok"], checks[name]
        port = 17946
        d.containers.append("brt-agent")
        d.docker("run", "-d", "--name", "brt-agent", *as_deployed(), TAG, "brtrace", "agent",
                 "--listen", f"127.0.0.1:{port}", "--node", "node1")
        deadline = time.monotonic() + 60
        while "serving" not in (logs := _logs(d, "brt-agent")):
            assert time.monotonic() < deadline, logs
            assert d.docker("inspect", "-f", "{{.State.Running}}", "brt-agent").strip() == "true", logs
            time.sleep(0.5)
        ping = subprocess.run(["ip", "netns", "exec", NETNS, BRTRACE, "ping", "10.244.1.3", "--from",
                               "node1:pod-a", "-c", "1", "--json", "--agents", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=120)
    assert ping.returncode == 0, ping.stderr
    (probe,) = [json.loads(x) for x in ping.stdout.splitlines() if '"summary"' not in x]
    assert probe["status"] == "delivered"
    assert {h["netns"] for h in probe["request"]} >= {"pod-a", "node1", "node2", "pod-b"}


def _logs(d: Dockerd, name: str) -> str:
    """The container's stdout and stderr (the agent says "serving" on stderr)."""
    proc = subprocess.run([DOCKER, "-H", d.host, "logs", name], capture_output=True, text=True, timeout=30)
    return proc.stdout + proc.stderr
