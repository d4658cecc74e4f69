"""brtrace benchmarks: what tracing costs the traced system, how fast the pipeline is.

    .venv/bin/python bench/run.py [--smoke] [--rounds N] [--baseline REF] [--only FIG,...]

Writes ``bench/results.json`` and ``bench/RESULTS.md`` (the README's table);
a partial run (``--only``, ``--smoke``) writes to the temp dir instead, unless
``--out``/``--md`` say where.
Every sample runs in a fresh process (``bench/worker.py``); the variants of a
figure run interleaved, round after round (A/B/A/B, order rotated each round),
and the table gives the median with the spread [min–max]. ``--baseline REF``
unpacks that commit (``git archive``) and measures it side by side with the
working tree, so "before" and "after" come from the same run on the same load.

Traffic stays inside the flannel lab (UDP pod-a -> pod-b, bounded in time);
figures that need root or the lab are skipped, with the reason, when either is
missing. ``--smoke`` runs everything tiny and fast, to keep the harness alive
in CI (tests/unit/test_bench_smoke.py); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
WORKER = os.path.join(HERE, "worker.py")
PY = sys.executable
FLOOD_PORT = 5201
POD_B = "10.244.1.3"


@dataclass
class Tree:
    name: str  # "after" (the working tree) or "before" (--baseline)
    path: str


@dataclass
class Figure:
    key: str
    title: str
    target: str
    unit: str
    better: str = "higher"  # or "lower"
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    ok: bool | None = None
    note: str = ""
    skipped: str = ""


def spread(values: list[float]) -> dict[str, Any]:
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def worker(tree: Tree, *args: str, timeout: float = 300) -> dict[str, Any]:
    proc = subprocess.run([PY, WORKER, "--tree", tree.path, *args], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args[0]} ({tree.name}) failed: {proc.stderr.strip()[-800:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def rotated(items: list[Any], r: int) -> list[Any]:
    k = r % len(items)
    return items[k:] + items[:k]


# -- environment -----------------------------------------------------------------------

def is_root() -> bool:
    return os.geteuid() == 0


def flannel_state() -> str:
    try:
        from tracer import lab

        return str(lab.status("flannel").state)
    except Exception as exc:  # pyroute2 missing, no netns support: say so, do not crash
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


class Tcpdump:
    """``tcpdump -i any`` in node1's netns: the reference users know."""

    def __init__(self, expr: str = f"udp port {FLOOD_PORT}") -> None:
        self.proc = subprocess.Popen(["ip", "netns", "exec", "brt-node1", "tcpdump", "-i", "any",
                                      "-s", "128", "-n", "-w", "/dev/null", expr],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self.proc.stderr.readline()  # "listening on any ..." once the capture is live

    def stop(self) -> dict[str, Any]:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=20)
        return {"tcpdump": err.strip().splitlines()[-3:] if err else []}


def flood(duration: float, rate: int = 0, count: int = 0) -> dict[str, Any]:
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


# -- figures -----------------------------------------------------------------------------

class Bench:
    def __init__(self, a: argparse.Namespace, trees: list[Tree]) -> None:
        self.a = a
        self.trees = trees
        self.smoke = a.smoke
        self.rounds = a.rounds
        self.figs: list[Figure] = []
        self.kernel_ok = ""
        self.lab_was_up = True

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(self, fig: Figure) -> Figure:
        self.figs.append(fig)
        return fig

    def wanted(self, key: str) -> bool:
        return not self.a.only or key in self.a.only.split(",")

    # user space ---------------------------------------------------------------
    def pipeline(self) -> None:
        n = 20_000 if self.smoke else 1_000_000
        fig = self.add(Figure("pipeline_synth", "decode + correlate, synthetic ring (1 core)",
                              ">= 1,000,000", "events/s"))
        rates: dict[str, list[float]] = {t.name: [] for t in self.trees}
        for r in range(self.rounds):
            for t in rotated(self.trees, r):
                res = worker(t, "pipeline", "--events", str(n))
                rates[t.name].append(res["rate"])
                self.log(f"pipeline {t.name}: {res['rate']:,.0f} events/s")
        fig.results = {k: spread(v) for k, v in rates.items()}
        fig.ok = fig.results["after"]["median"] >= 1_000_000
        fig.note = f"{n:,} events of a flannel UDP path (18 hops/packet), CPU time of drain+decode+feed"

    def recording_figs(self) -> None:
        n = 5_000 if self.smoke else 1_000_000
        path = os.path.join(tempfile.gettempdir(), f"brtrace-bench-{os.getpid()}.brt")
        self.log(f"writing a {n:,}-event recording")
        make_recording(path, n)
        try:
            f_rate = self.add(Figure("pipeline_recording", "decode + correlate, from a recording (1 core)",
                                     ">= 1,000,000", "events/s"))
            f_load = self.add(Figure("replay_load", f"replay load of a {n:,}-event recording",
                                     "<= 3 s", "s", better="lower"))
            rates: dict[str, list[float]] = {t.name: [] for t in self.trees}
            loads: dict[str, list[float]] = {t.name: [] for t in self.trees}
            for r in range(self.rounds):
                for t in rotated(self.trees, r):
                    res = worker(t, "replay", path, "--correlate")
                    rates[t.name].append(res["rate"])
                    loads[t.name].append(res["load_s"])
                    self.log(f"replay {t.name}: load {res['load_s']:.2f} s, {res['rate']:,.0f} events/s")
            f_rate.results = {k: spread(v) for k, v in rates.items()}
            f_rate.ok = f_rate.results["after"]["median"] >= 1_000_000
            f_rate.note = "stored batches read (raw records, lazy Events) + correlate, CPU time"
            f_load.results = {k: spread(v) for k, v in loads.items()}
            f_load.ok = f_load.results["after"]["median"] <= 3.0
            f_load.note = ("open_recording + every batch read, as brtrace replay loads it (Events built on "
                           "access), in a fresh process, wall time; recording written from live-style batches")
        finally:
            os.unlink(path)

    def rss(self) -> None:
        n = 20_000 if self.smoke else 1_000_000
        fig = self.add(Figure("rss", f"RSS after {n:,} events (then 2x, 3x)", "<= 200 MB, flat",
                              "MB", better="lower"))
        for t in self.trees:
            # an unbounded "before" would take GBs over 3M events on a shared box: 1M only
            times = "3" if t.name == "after" else "1"
            res = worker(t, "rss", "--events", str(n), "--times", times, timeout=900)
            marks = res["rss_mb"]
            fig.results[t.name] = {"median": marks.get("1x", 0.0), "marks": marks,
                                   "n": 1, "min": marks.get("1x", 0.0), "max": marks.get("1x", 0.0)}
            self.log(f"rss {t.name}: {marks}")
        m = fig.results["after"]["marks"]
        flat = m.get("3x", 0) <= m.get("1x", 0) * 1.10
        fig.ok = m.get("1x", 1e9) <= 200 and flat
        fig.note = "synthetic ring -> decode -> correlator with default bounds; ring mapped as live"

    def tui(self) -> None:
        script = os.path.join(HERE, "tui_frame.py")
        fig = self.add(Figure("tui_frame", "TUI frame time, 100k packets listed", "<= 50 ms", "ms",
                              better="lower"))
        if not os.path.exists(script):
            fig.skipped = "bench/tui_frame.py not there yet"
            return
        args = [PY, script] + (["--packets", "1000"] if self.smoke else [])
        proc = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=ROOT)
        # it prints text and exits 1 when the target is missed: read the figure from the text
        m = re.search(r"frame time p95 \(worst key\): ([\d.]+) ms", proc.stdout)
        if not m:
            fig.skipped = (f"bench/tui_frame.py printed no frame time (rc {proc.returncode}): "
                           + (proc.stderr or proc.stdout).strip()[-300:].replace("\n", " "))
            return
        ms = float(m.group(1))
        fig.results["after"] = {"median": ms, "n": 1, "min": ms, "max": ms,
                                "output": proc.stdout.strip().splitlines()}
        fig.ok = ms <= 50
        fig.note = "p95 frame time of the worst key, measured by bench/tui_frame.py (its own rounds)"

    # kernel -------------------------------------------------------------------
    def startup(self) -> None:
        f_start = self.add(Figure("startup", "start to probes attached, compile included",
                                  "<= 1.0 s", "s", better="lower"))
        f_exit = self.add(Figure("exit", "exit until nothing attached", "<= 0.3 s", "s",
                                 better="lower"))
        if self.kernel_ok:
            f_start.skipped = f_exit.skipped = self.kernel_ok
            return
        starts: dict[str, list[float]] = {t.name: [] for t in self.trees}
        exits: dict[str, list[float]] = {t.name: [] for t in self.trees}
        shutil.rmtree("/run/brtrace", ignore_errors=True)  # first sample: cold plan cache
        cold = Tracer(self.trees[-1], "--filter", "nomatch").stop()["ready_s"]
        for r in range(max(self.rounds, 3)):
            for t in rotated(self.trees, r):
                res = Tracer(t, "--filter", "nomatch").stop()
                starts[t.name].append(res["ready_s"])
                exits[t.name].append(res["exit_s"])
                self.log(f"startup {t.name}: ready {res['ready_s']:.3f} s, exit {res['exit_s']:.3f} s")
        f_start.results = {k: spread(v) for k, v in starts.items()}
        f_start.ok = f_start.results["after"]["median"] <= 1.0
        f_start.note = (f"fresh process: spawn -> LiveSource attached (interpreter and imports "
                        f"included); first start of this boot (no plan cache): {cold:.2f} s")
        f_exit.results = {k: spread(v) for k, v in exits.items()}
        f_exit.ok = f_exit.results["after"]["median"] <= 0.3
        f_exit.note = "'stop' sent -> process gone (close() detaches; fds closed at exit)"

    def tracers(self, *flow: str) -> list[tuple[str, Callable[[], Tracer]]]:
        """brtrace with a filter that does not match the flow, and one that does, per tree.

        flow: worker options naming the flow (default: the UDP flood)."""
        out: list[tuple[str, Callable[[], Tracer]]] = []
        for t in self.trees:
            out.append((f"nomatch:{t.name}", (lambda t=t: Tracer(t, "--filter", "nomatch", *flow))))
            out.append((f"match:{t.name}", (lambda t=t: Tracer(t, "--filter", "match", *flow))))
        return out

    @staticmethod
    def beside(variants: list[tuple[str, Callable[[], Any] | None]], r: int,
               measure: Callable[[], dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """One round: each variant started, the load measured beside it, the variant
        stopped (also when the load fails); order rotated by round. name -> (load, variant)."""
        out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for name, start in rotated(variants, r):
            tr = start() if start else None
            try:
                res = measure()
            finally:
                info = tr.stop() if tr else {}
            out[name] = (res, info)
        return out

    def throughput(self) -> None:
        f_nm = self.add(Figure("tput_nomatch", "UDP flood pod-a -> pod-b kept, brtrace filter not matching",
                               ">= 97 %", "% of untraced"))
        f_m = self.add(Figure("tput_match", "UDP flood kept, every packet traced", ">= 80 %",
                              "% of untraced"))
        f_td = self.add(Figure("tput_tcpdump", "UDP flood kept, tcpdump -i any in node1 (reference)",
                               "(reference)", "% of untraced"))
        f_nma = self.add(Figure("tput_nomatch_all", "UDP flood kept, filter not matching, --all-hooks",
                                "(reference)", "% of untraced"))
        f_fl = self.add(Figure("tput_floor", "UDP flood kept, empty BPF program on the same tracepoints",
                               "(floor)", "% of untraced"))
        f_fla = self.add(Figure("tput_floor_all", "UDP flood kept, empty BPF program on all 7 tracepoints",
                                "(floor)", "% of untraced"))
        f_raw = self.add(Figure("tput_untraced", "UDP flood untraced, delivered", "(reference)",
                                "pkt/s"))
        refs = ((f_nma, "nomatch-all"), (f_fl, "floor"), (f_fla, "floor-all"))
        if self.kernel_ok:
            for f in (f_nm, f_m, f_td, f_raw, f_nma, f_fl, f_fla):
                f.skipped = self.kernel_ok
            return
        dur = 0.3 if self.smoke else self.a.flood_seconds
        variants: list[tuple[str, Callable[[], Any] | None]] = [("none", None), *self.tracers()]
        variants.append(("tcpdump", Tcpdump))
        after = self.trees[-1]  # the working tree: --all-hooks and floor.c are new
        variants.append(("nomatch-all", lambda: Tracer(after, "--filter", "nomatch", "--all-hooks")))
        variants.append(("floor", lambda: Tracer(after, cmd="floor")))
        variants.append(("floor-all", lambda: Tracer(after, "--all-hooks", cmd="floor")))
        pps: dict[str, list[float]] = {v: [] for v, _ in variants}
        ratio: dict[str, list[float]] = {v: [] for v, _ in variants if v != "none"}
        cpu_ratio: dict[str, list[float]] = {v: [] for v, _ in variants if v != "none"}
        extra: dict[str, list[dict[str, Any]]] = {v: [] for v, _ in variants}
        flood(0.2)  # warm up ARP/neighbour state
        dropped_rounds = 0
        for r in range(self.rounds):
            got: dict[str, float] = {}
            eff: dict[str, float] = {}
            broken = False
            for name, (res, info) in self.beside(variants, r, lambda: flood(dur)).items():
                got[name] = res["delivered_pps"]
                eff[name] = res["pkts_per_cpu_s"]
                # someone else's fault injection on the shared lab shows as packets not delivered
                broken |= res["delivered"] < 0.9 * res["sent"]
                extra[name].append({"sent_pps": res["pps"], "delivered_pps": res["delivered_pps"],
                                    "sender_pkts_per_cpu_s": res["pkts_per_cpu_s"],
                                    **{k: v for k, v in info.items() if k in ("events", "lost")}})
                self.log(f"flood {name}: delivered {res['delivered_pps']:,.0f} pkt/s "
                         f"(sent {res['pps']:,.0f}, {res['pkts_per_cpu_s']:,.0f} pkt per sender "
                         f"CPU-s) {info if info else ''}")
            if broken:
                dropped_rounds += 1
                self.log("round dropped: the lab lost packets (another user's fault injection?)")
                continue
            for name in ratio:
                pps[name].append(got[name])
                ratio[name].append(100.0 * got[name] / got["none"] if got["none"] else 0.0)
                cpu_ratio[name].append(100.0 * eff[name] / eff["none"] if eff["none"] else 0.0)
            pps["none"].append(got["none"])
        if not pps["none"]:
            for f in (f_nm, f_m, f_td, f_raw, f_nma, f_fl, f_fla):
                f.skipped = "every round lost packets in the lab (shared lab being changed?)"
            return
        f_raw.results["after"] = spread(pps["none"])
        f_raw.note = (f"{dur} s per sample, 64-byte UDP from one Python sender; "
                      f"{dropped_rounds} round(s) dropped because the lab lost packets")
        for fig, kind in ((f_nm, "nomatch"), (f_m, "match")):
            for t in self.trees:
                fig.results[t.name] = spread(ratio[f"{kind}:{t.name}"])
                fig.results[t.name]["cpu_normalised"] = spread(cpu_ratio[f"{kind}:{t.name}"])
                fig.results[t.name]["detail"] = extra[f"{kind}:{t.name}"]
        f_nm.ok = f_nm.results["after"]["median"] >= 97
        f_m.ok = f_m.results["after"]["median"] >= 80
        f_td.results["after"] = spread(ratio["tcpdump"])
        f_td.results["after"]["cpu_normalised"] = spread(cpu_ratio["tcpdump"])
        for fig, name in refs:
            fig.results["after"] = spread(ratio[name])
            fig.results["after"]["cpu_normalised"] = spread(cpu_ratio[name])
        for fig in (f_nm, f_m, f_td, f_nma, f_fl, f_fla):
            cn = {k: fmt_val(v.get("cpu_normalised"), "%") for k, v in fig.results.items()}
            fig.note = ("ratio per round to the untraced run of that round; per sender CPU-second "
                        "(less sensitive to other load): " + ", ".join(f"{k} {v}" for k, v in cn.items()))
        f_m.note += "; brtrace consumes and correlates every event"
        f_td.note += "; tcpdump -i any -s 128 -w /dev/null 'udp port 5201' inside brt-node1"
        f_nma.note += "; net_dev_start_xmit and netif_rx attached too (22 program runs per packet, not 14)"
        f_fl.note += ("; probes/floor.c returns at once: what the kernel charges for running any program "
                      "at brtrace's 5 default tracepoints, the ceiling of the 'not matching' figure")
        f_fla.note += "; the same on all 7 tracepoints (the ceiling with --all-hooks)"

    def iperf(self) -> None:
        """iperf3 TCP pod-a -> pod-b: the same two targets on bulk traffic (bench/iperf.py)."""
        from bench import iperf

        f_nm = self.add(Figure("iperf_nomatch", "iperf3 TCP pod-a -> pod-b kept, brtrace filter not "
                               "matching", ">= 97 %", "% of untraced"))
        f_m = self.add(Figure("iperf_match", "iperf3 TCP kept, every packet traced", ">= 80 %",
                              "% of untraced"))
        f_td = self.add(Figure("iperf_tcpdump", "iperf3 TCP kept, tcpdump -i any in node1 (reference)",
                               "(reference)", "% of untraced"))
        f_fl = self.add(Figure("iperf_floor", "iperf3 TCP kept, empty BPF program on the same "
                               "tracepoints", "(floor)", "% of untraced"))
        f_raw = self.add(Figure("iperf_untraced", "iperf3 TCP untraced", "(reference)", "Gbit/s"))
        figs = (f_nm, f_m, f_td, f_fl, f_raw)
        why = self.kernel_ok or iperf.available()
        if why:
            for f in figs:
                f.skipped = why
            return
        secs = 1 if self.smoke else 3
        after = self.trees[-1]
        flow = ("--proto", "tcp", "--port", str(iperf.IPERF_PORT))
        variants: list[tuple[str, Callable[[], Any] | None]] = [("none", None), *self.tracers(*flow)]
        variants.append(("tcpdump", lambda: Tcpdump(f"tcp port {iperf.IPERF_PORT}")))
        variants.append(("floor", lambda: Tracer(after, cmd="floor")))
        ratio: dict[str, list[float]] = {v: [] for v, _ in variants if v != "none"}
        base: list[float] = []
        for r in range(self.rounds):
            got: dict[str, float] = {}
            for name, (res, info) in self.beside(variants, r, lambda: iperf.run(secs)).items():
                got[name] = res["bps"]
                self.log(f"iperf3 {name}: {res['bps'] / 1e9:.2f} Gbit/s (sender CPU "
                         f"{res['sender_cpu_pct']:.0f} %) {info if info else ''}")
            base.append(got["none"] / 1e9)
            for name in ratio:
                ratio[name].append(100.0 * got[name] / got["none"] if got["none"] else 0.0)
        f_raw.results["after"] = spread(base)
        f_raw.note = f"{secs} s per sample, one TCP stream (GSO segments and their ACKs)"
        for fig, kind in ((f_nm, "nomatch"), (f_m, "match")):
            for t in self.trees:
                fig.results[t.name] = spread(ratio[f"{kind}:{t.name}"])
        f_nm.ok = f_nm.results["after"]["median"] >= 97
        f_m.ok = f_m.results["after"]["median"] >= 80
        f_td.results["after"] = spread(ratio["tcpdump"])
        f_fl.results["after"] = spread(ratio["floor"])
        f_nm.note = f_m.note = f_td.note = f_fl.note = "ratio per round to the untraced run of that round"
        f_m.note += "; brtrace consumes and correlates every event"
        f_td.note += f"; tcpdump -i any -s 128 -w /dev/null 'tcp port {iperf.IPERF_PORT}' inside brt-node1"
        f_fl.note += "; probes/floor.c: the ceiling of the 'not matching' figure"

    def loss(self) -> None:
        f_loss = self.add(Figure("lost_100k", "lost events at 100k pkt/s x all hops", "0", "events",
                                 better="lower"))
        f_exact = self.add(Figure("lost_exact", "loss counted exactly when forced (1-page ring)",
                                  "received + lost = produced", "events"))
        if self.kernel_ok:
            f_loss.skipped = f_exact.skipped = self.kernel_ok
            return
        dur = 0.3 if self.smoke else self.a.flood_seconds
        for t in self.trees:
            vals, details = [], []
            for _ in range(1 if self.smoke else self.rounds):  # loss came in bursts: a run each round
                tr = Tracer(t, "--filter", "match")
                res = flood(dur, rate=100_000)
                info = tr.stop()
                vals.append(info["lost"])
                details.append({"sent_pps": res["pps"], "events": info["events"], "lost": info["lost"],
                                "events_per_s": info["events"] / res["seconds"]})
                self.log(f"100k pkt/s {t.name}: sent {res['pps']:,.0f} pkt/s, "
                         f"events {info['events']:,}, lost {info['lost']:,}")
            fig_res = spread(vals)
            fig_res["detail"] = details
            f_loss.results[t.name] = fig_res
        f_loss.ok = f_loss.results["after"]["max"] == 0
        det = f_loss.results["after"]["detail"]
        sent = statistics.median(d["sent_pps"] for d in det)
        evs = statistics.median(d["events_per_s"] for d in det)
        f_loss.note = (f"paced sender (1 ms bursts) asked for 100k pkt/s and reached {sent / 1000:.0f}k "
                       f"({evs / 1000:.0f}k events/s): on 2 CPUs the traced path and the consumer "
                       "share the machine; every event of every hop is traced and correlated")
        count = 200 if self.smoke else 2000
        for t in self.trees:
            tr = Tracer(t, "--filter", "match", "--no-correlate")
            flood(5, rate=20_000, count=count)
            full = tr.stop()
            tr = Tracer(t, "--filter", "match", "--ring-pages", "1", "--no-poll")
            flood(5, rate=20_000, count=count)
            tiny = tr.stop()
            if tiny.get("produced", -1) >= 0:  # the kernel counts what it tried to emit
                exact = tiny["events"] + tiny["lost"] == tiny["produced"] and tiny["lost"] > 0
            else:  # older trees: compare with a run whose ring kept up
                exact = tiny["events"] + tiny["lost"] == full["events"] and full["lost"] == 0
            f_exact.results[t.name] = {"median": tiny["lost"], "n": 1, "min": tiny["lost"],
                                       "max": tiny["lost"],
                                       "produced": tiny.get("produced", -1) if tiny.get("produced", -1) >= 0
                                       else full["events"],
                                       "received": tiny["events"], "lost": tiny["lost"],
                                       "exact": exact}
            self.log(f"forced loss {t.name}: produced {tiny.get('produced', full['events'])}, tiny ring received "
                     f"{tiny['events']} + lost {tiny['lost']} -> exact={exact}")
        f_exact.ok = bool(f_exact.results["after"]["exact"])
        f_exact.note = (f"{count} packets into a 1-page ring not drained during the flood: received + "
                        "counted lost == produced (counted in the kernel)")

    def probecost(self) -> None:
        """Where the throughput goes: program time per packet, timed by the kernel (bpf_stats)."""
        f_nm = self.add(Figure("cost_nomatch", "probe time per packet, filter not matching (bpf_stats)",
                               "(why)", "ns", better="lower"))
        f_m = self.add(Figure("cost_match", "probe time per packet, every packet traced (bpf_stats)",
                              "(why)", "ns", better="lower"))
        f_fl = self.add(Figure("cost_floor", "empty program per run (bpf_stats: dispatch + timing)",
                               "(floor)", "ns", better="lower"))
        if self.kernel_ok:
            f_nm.skipped = f_m.skipped = f_fl.skipped = self.kernel_ok
            return
        from bench import progstats

        dur = 0.3 if self.smoke else 1.0
        after = self.trees[-1]
        variants: list[tuple[str, Callable[[], Tracer] | None]] = [("none", None), *self.tracers()]
        variants.append(("floor", lambda: Tracer(after, cmd="floor")))
        per_pkt: dict[str, list[float]] = {v: [] for v, _ in variants}
        per_run: dict[str, list[float]] = {v: [] for v, _ in variants}
        base_ns: list[float] = []
        with progstats.stats_enabled():
            flood(0.2)
            for r in range(self.rounds):
                for name, start in rotated(variants, r):
                    tr = start() if start else None
                    res = flood(dur)
                    progs = progstats.programs() if tr else []
                    if tr:
                        tr.stop()
                    if name == "none":
                        base_ns.append(1e9 / res["pkts_per_cpu_s"] if res["pkts_per_cpu_s"] else 0.0)
                        continue
                    ns = sum(p.run_time_ns for p in progs)
                    runs = sum(p.run_cnt for p in progs)
                    per_pkt[name].append(ns / res["sent"] if res["sent"] else 0.0)
                    per_run[name].append(ns / runs if runs else 0.0)
                    self.log(f"probe cost {name}: {per_pkt[name][-1]:,.0f} ns per packet, "
                             f"{per_run[name][-1]:,.0f} ns per run, {runs / max(res['sent'], 1):.1f} runs "
                             "per packet")
        for fig, kind in ((f_nm, "nomatch"), (f_m, "match")):
            for t in self.trees:
                key = f"{kind}:{t.name}"
                fig.results[t.name] = spread(per_pkt[key])
                fig.results[t.name]["per_run_ns"] = spread(per_run[key])
        f_fl.results["after"] = spread(per_run["floor"])
        floor_run = f_fl.results["after"].get("median", 0.0)
        base = statistics.median(base_ns) if base_ns else 0.0
        for fig, kind in ((f_nm, "nomatch"), (f_m, "match")):
            res = fig.results["after"]
            run_ns = res["per_run_ns"].get("median", 0.0)
            runs_pp = res["median"] / run_ns if run_ns else 0.0
            own = res["median"] - floor_run * runs_pp  # the timing itself taken out
            ceiling = 100.0 * base / (base + own) if base + own > 0 else 0.0
            fig.note = (f"{run_ns:,.0f} ns per program run x {runs_pp:.1f} runs per packet; without "
                        f"bpf_stats' own timing (the floor) ~{own:,.0f} ns per packet against "
                        f"{base:,.0f} ns of sender CPU per untraced packet: probe time alone caps "
                        f"the kept share near {ceiling:.0f} %")
        f_fl.note = ("probes/floor.c on the same tracepoints: what bpf_stats' clock reads and the "
                     "dispatch add to every run; the figures above include it")

    # ---------------------------------------------------------------------------
    def run(self) -> None:
        if not is_root():
            self.kernel_ok = "needs root"
        else:
            state = flannel_state()
            if state != "up":
                if self.smoke:
                    self.kernel_ok = f"flannel lab is {state} (smoke runs do not build labs)"
                else:
                    from tracer import lab

                    self.log("bringing the flannel lab up")
                    lab.up("flannel")
                    self.lab_was_up = False
        steps = [("pipeline", self.pipeline), ("recording", self.recording_figs), ("rss", self.rss),
                 ("startup", self.startup), ("throughput", self.throughput), ("iperf", self.iperf),
                 ("loss", self.loss), ("probecost", self.probecost), ("tui", self.tui)]
        try:
            for key, fn in steps:
                if self.wanted(key):
                    self.log(f"--- {key}")
                    fn()
        finally:
            if not self.lab_was_up:
                from tracer import lab

                lab.down("flannel")


def make_recording(path: str, n: int) -> None:
    """A recording of ``n`` synthetic flannel events, written by the working tree's writer."""
    from bench.synth import flannel_batch
    from tracer.schema.decode import Decoder
    from tracer.record import RecordWriter
    from tracer.source import SourceInfo
    from tracer.topology.model import empty_topology

    dec = Decoder()
    with RecordWriter(path, SourceInfo(live=True, topology=empty_topology())) as w:
        for k in range(0, n, 16380):
            m = min(16380, n - k)
            # lazy batches, as the live source hands them: stored as raw records where supported
            w.write_batch(dec.decode(flannel_batch(m, first_packet=k // 18)))


def unpack_baseline(ref: str) -> str:
    dest = tempfile.mkdtemp(prefix="brtrace-bench-base-")
    archive = subprocess.run(["git", "-C", ROOT, "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    return dest


# -- output --------------------------------------------------------------------------------

def fmt_val(res: dict[str, Any] | None, unit: str) -> str:
    if not res or res.get("median") is None:
        return "—"
    m, lo, hi = res["median"], res.get("min"), res.get("max")

    def f(x: float) -> str:
        if unit in ("events/s", "pkt/s"):
            return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"
        if unit in ("s", "Gbit/s"):
            return f"{x:.2f}"
        if unit == "ms":
            return f"{x:.1f}"
        if unit.startswith("%"):
            return f"{x:.1f} %"
        if unit == "MB":
            return f"{x:.0f}"
        return f"{x:,.0f}"

    s = f(m)
    if res.get("n", 1) > 1 and lo is not None and hi is not None:
        s += f" [{f(lo)}–{f(hi)}]"
    return s


def write_outputs(bench: Bench, a: argparse.Namespace, started: float) -> None:
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "kernel": platform.release(),
            "cpus": os.cpu_count(), "loadavg_start": a.load_start, "loadavg_end": os.getloadavg(),
            "rounds": a.rounds, "smoke": a.smoke, "baseline": a.baseline or None,
            "seconds": time.time() - started, "python": platform.python_version()}
    data = {"meta": meta, "figures": [vars(f) for f in bench.figs]}
    # a partial run (--only, --smoke) never replaces the committed full table
    partial = bool(a.only or a.smoke)
    where = tempfile.gettempdir() if partial else HERE
    stem = "brtrace-bench-partial" if partial else ""
    out_json = a.out or os.path.join(where, f"{stem}.json" if partial else "results.json")
    with open(out_json, "w") as f:
        json.dump(data, f, indent=1, default=str)
    names = [t.name for t in bench.trees]
    head = "| figure | target | " + " | ".join(names) + " | met |"
    lines = ["# brtrace benchmarks", "",
             f"`make bench` on {meta['date']}: kernel {meta['kernel']}, {meta['cpus']} CPUs, "
             f"load average at start {a.load_start[0]:.1f}; {a.rounds} rounds, median "
             "[min–max]" + (f"; before = `{a.baseline}`, after = working tree, measured side by "
                            "side in the same run" if a.baseline else "") + ".", "",
             head, "|" + "---|" * (3 + len(names))]
    for fig in bench.figs:
        if fig.skipped:
            lines.append(f"| {fig.title} | {fig.target} | " + " | ".join("—" for _ in names)
                         + f" | skipped: {fig.skipped} |")
            continue
        cells = [fmt_val(fig.results.get(n), fig.unit) for n in names]
        met = "—" if fig.ok is None else ("yes" if fig.ok else "**no**")
        lines.append(f"| {fig.title} ({fig.unit}) | {fig.target} | " + " | ".join(cells) + f" | {met} |")
    lines += ["", "Notes:", ""]
    seen: set[str] = set()
    for fig in bench.figs:
        line = f"- {fig.title}: {fig.note}"
        if fig.note and not fig.skipped and line not in seen:
            seen.add(line)
            lines.append(line)
    out_md = a.md or os.path.join(where, f"{stem}.md" if partial else "RESULTS.md")
    with open(out_md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out_json}, {out_md}")
    if not a.smoke and not a.md and not a.only:
        update_readme(lines[2:])


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(lines: list[str]) -> None:
    """Put the table between the README's bench markers (only there, only if present)."""
    path = os.path.join(ROOT, "README.md")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    a, b = text.find(README_START), text.find(README_END)
    if a < 0 or b < a:
        return
    block = README_START + "\n" + "\n".join(lines).strip() + "\n" + README_END
    with open(path, "w") as f:
        f.write(text[:a] + block + text[b + len(README_END):])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, seconds; figures mean nothing")
    p.add_argument("--rounds", type=int, default=None, help="rounds per figure (default 5, smoke 1)")
    p.add_argument("--baseline", default="", help="also measure this git ref, side by side")
    p.add_argument("--only", default="", help="comma list: pipeline,recording,rss,startup,throughput,iperf,loss,probecost,tui")
    p.add_argument("--flood-seconds", type=float, default=2.0)
    p.add_argument("--out", default="", help="results JSON (default bench/results.json)")
    p.add_argument("--md", default="", help="Markdown table (default bench/RESULTS.md)")
    a = p.parse_args()
    a.rounds = a.rounds or (1 if a.smoke else 5)
    a.load_start = os.getloadavg()
    started = time.time()
    trees = [Tree("after", ROOT)]
    base = ""
    if a.baseline:
        base = unpack_baseline(a.baseline)
        trees.insert(0, Tree("before", base))
    bench = Bench(a, trees)
    try:
        bench.run()
    finally:
        write_outputs(bench, a, started)
        if base:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
