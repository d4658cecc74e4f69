"""The processes a benchmark drives: workers, a live tracer, tcpdump, the UDP flood.

Every sample runs in a fresh process (``bench/worker.py``) against one tree;
a tracer runs beside the load it is measured against and is stopped by a line
on its stdin. Traffic stays inside the flannel lab (pod-a -> pod-b).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.figure import Tree

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "worker.py")
PY = sys.executable
FLOOD_PORT = 5201
POD_B = "10.244.1.3"


def traced_ping(tree_path: str, seconds: float, slack: float) -> tuple[list[str], dict[str, str]]:
    """The live figures' workload: ``brtrace trace`` of ``tree_path``'s own code running
    ``ping -i 0.002`` pod-a -> pod-b for ``seconds`` (1,000 packets/s traced), ended at most
    ``slack`` s after ping. The command line and its environment.

    Not the tree's ``.venv/bin/brtrace``: a --baseline tree (git archive) has no
    venv, and the working tree's entry script imports the working tree (its
    editable install), so a "before" run there measured the "after" code.
    """
    cmd = [PY, "-m", "tracer.cli.main", "trace", "--host", POD_B, "--proto", "icmp", "--plain",
           "--duration", f"{seconds + slack:g}", "--", "ip", "netns", "exec", "brt-pod-a", "ping", "-q",
           "-i", "0.002", "-w", f"{seconds:g}", POD_B]
    return cmd, {**os.environ, "PYTHONPATH": tree_path}


def worker(tree: Tree, *args: str, timeout: float = 300) -> dict[str, Any]:
    """One measurement in a fresh process; its last line of output is the JSON result."""
    proc = subprocess.run([PY, WORKER, "--tree", tree.path, *args], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args[0]} ({tree.name}) failed: {proc.stderr.strip()[-800:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def is_root() -> bool:
    return os.geteuid() == 0


def flannel_state() -> str:
    try:
        from tracer import lab

        return str(lab.status("flannel").state)
    except Exception as exc:  # noqa: BLE001 - pyroute2 missing, no netns support: say so, do not crash
        return f"unknown ({exc})"


def rx_packets(ns: str = "brt-pod-b", dev: str = "eth0") -> int:
    out = subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", dev], capture_output=True,
                         text=True, check=True).stdout
    return int(json.loads(out)[0]["stats64"]["rx"]["packets"])


class Tracer:
    """A live consumer (worker ``trace``) started and stopped around a flood."""

    def __init__(self, tree: Tree, *args: str, cmd: str = "trace") -> None:
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([PY, WORKER, "--tree", tree.path, cmd, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.ready_s = time.perf_counter() - self.t0
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"tracer did not start: {err.strip()[-800:]}")
        self.ready: dict[str, Any] = json.loads(line)

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        t = time.perf_counter()
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        self.proc.wait(timeout=60)
        exit_s = time.perf_counter() - t
        res: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        res["exit_s"] = exit_s
        res["ready_s"] = self.ready_s
        return res


LAB_NETNS = ("brt-node1", "brt-node2", "brt-pod-a", "brt-pod-b")


class Tcpdump:
    """``tcpdump -i any`` in node1's netns: the reference users know; with
    ``netns`` = LAB_NETNS one in each of the lab's four namespaces at once,
    the same coverage as brtrace's hooks."""

    def __init__(self, expr: str = f"udp port {FLOOD_PORT}", netns: tuple[str, ...] = ("brt-node1",)) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        try:
            for ns in netns:
                proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", "any", "-s", "128",
                                         "-n", "-w", "/dev/null", expr],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                self.procs.append(proc)
                assert proc.stderr is not None
                proc.stderr.readline()  # "listening on any ..." once the capture is live
        except BaseException:
            self.stop()
            raise

    def stop(self) -> dict[str, Any]:
        out: list[str] = []
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            _, err = proc.communicate(timeout=20)
            out += err.strip().splitlines()[-3:] if err else []
        return {"tcpdump": out}


def flood(duration: float, rate: int = 0, count: int = 0) -> dict[str, Any]:
    """UDP pod-a -> pod-b for ``duration`` s (paced at ``rate``, or ``count`` packets)."""
    before = rx_packets()
    args = ["flood", "--duration", str(duration), "--port", str(FLOOD_PORT), "--dest", POD_B]
    if rate:
        args += ["--rate", str(rate)]
    if count:
        args += ["--count", str(count)]
    res = worker(Tree("after", ROOT), *args, timeout=duration + 60)
    res["delivered"] = rx_packets() - before
    res["delivered_pps"] = res["delivered"] / res["seconds"] if res["seconds"] else 0.0
    return res
