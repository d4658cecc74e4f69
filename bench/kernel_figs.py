"""Figures of the probes on the running kernel: start and exit, lost events, probe time per packet."""

from __future__ import annotations

import shutil
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench import progstats
from bench.context import Bench
from bench.figure import (
    FLOOR,
    NET_NOT_MATCHING,
    NET_TRACED,
    REFERENCE,
    WHY,
    Figure,
    Target,
    rotated,
    single,
    spread,
)
from bench.procs import Tracer, flood
from bench.throughput import UNTRACED, Variant, tracers

STARTUP = Target.at_most(1.0, "s", digits=1)
EXIT = Target.at_most(0.3, "s", digits=1)
LOST = Target.exactly(0)
EXACT = Target.none("received + lost = produced")  # decided by the figure: a condition, no number
LOSS_RATE = 100_000  # pkt/s of the paced flood every hop traces


def startup(b: Bench) -> None:
    f_start = b.add(Figure("startup", "start to probes attached, compile included", STARTUP, "s"))
    f_exit = b.add(Figure("exit", "exit until nothing attached", EXIT, "s"))
    if b.skip_kernel(f_start, f_exit):
        return
    starts, exits = b.per_tree(), b.per_tree()
    shutil.rmtree("/run/brtrace", ignore_errors=True)  # first sample: cold plan cache
    cold = Tracer(b.after, "--filter", "nomatch").stop()["ready_s"]
    for r in range(max(b.rounds, 3)):
        for t in rotated(b.trees, r):
            res = Tracer(t, "--filter", "nomatch").stop()
            starts[t.name].append(res["ready_s"])
            exits[t.name].append(res["exit_s"])
            b.log(f"startup {t.name}: ready {res['ready_s']:.3f} s, exit {res['exit_s']:.3f} s")
    f_start.results = {k: spread(v) for k, v in starts.items()}
    f_start.judge(f_start.after_median())
    f_start.note = (f"fresh process: spawn -> LiveSource attached (interpreter and imports "
                    f"included), plan and compiled-program caches warm (trees without the "
                    f"program cache compile every time); first start of this boot (no plan or "
                    f"program cache: BTF read, hooks tested, compiled): {cold:.2f} s")
    f_exit.results = {k: spread(v) for k, v in exits.items()}
    f_exit.judge(f_exit.after_median())
    f_exit.note = "'stop' sent -> process gone (close() detaches; fds closed at exit)"


def loss(b: Bench) -> None:
    f_loss = b.add(Figure("lost_100k", "lost events at 100k pkt/s x all hops", LOST, "events"))
    f_exact = b.add(Figure("lost_exact", "loss counted exactly when forced (1-page ring)", EXACT,
                           "events"))
    if b.skip_kernel(f_loss, f_exact):
        return
    _lost_at_rate(b, f_loss)
    _loss_counted(b, f_exact)


def _lost_at_rate(b: Bench, fig: Figure) -> None:
    dur = 0.3 if b.smoke else b.flood_seconds
    for t in b.trees:
        vals, details = [], []
        for _ in range(1 if b.smoke else b.rounds):  # loss came in bursts: a run each round
            tr = Tracer(t, "--filter", "match")
            res = flood(dur, rate=LOSS_RATE)
            skipped = sum(p.misses for p in progstats.programs())  # before the programs go
            info = tr.stop()
            vals.append(info["lost"])
            details.append({"sent_pps": res["pps"], "events": info["events"], "lost": info["lost"],
                            "events_per_s": info["events"] / res["seconds"], "skipped_runs": skipped})
            b.log(f"100k pkt/s {t.name}: sent {res['pps']:,.0f} pkt/s, "
                  f"events {info['events']:,}, lost {info['lost']:,}")
        fig.results[t.name] = {**spread(vals), "detail": details}
    fig.judge(fig.results["after"]["max"])  # no round may lose any
    det = fig.results["after"]["detail"]
    sent = statistics.median(d["sent_pps"] for d in det)
    evs = statistics.median(d["events_per_s"] for d in det)
    skipped = sum(d["skipped_runs"] for d in det)
    fig.note = (f"paced sender (1 ms bursts) asked for {LOSS_RATE // 1000}k pkt/s and reached "
                f"{sent / 1000:.0f}k ({evs / 1000:.0f}k events/s): on 2 CPUs the traced path and the "
                "consumer share the machine; every event of every hop is traced and correlated; "
                f"program runs the kernel skipped (recursion_misses), all rounds: {skipped}")


def _loss_counted(b: Bench, fig: Figure) -> None:
    count = 200 if b.smoke else 2000
    for t in b.trees:
        tr = Tracer(t, "--filter", "match", "--no-correlate")
        flood(5, rate=20_000, count=count)
        full = tr.stop()
        tr = Tracer(t, "--filter", "match", "--ring-pages", "1", "--no-poll")
        flood(5, rate=20_000, count=count)
        tiny = tr.stop()
        if tiny.get("produced", -1) >= 0:  # the kernel counts what it tried to emit
            produced = tiny["produced"]
            exact = tiny["events"] + tiny["lost"] == produced and tiny["lost"] > 0
        else:  # older trees: compare with a run whose ring kept up
            produced = full["events"]
            exact = tiny["events"] + tiny["lost"] == produced and full["lost"] == 0
        fig.results[t.name] = single(tiny["lost"], produced=produced, received=tiny["events"],
                                     lost=tiny["lost"], exact=exact)
        b.log(f"forced loss {t.name}: produced {produced}, tiny ring received "
              f"{tiny['events']} + lost {tiny['lost']} -> exact={exact}")
    fig.ok = bool(fig.results["after"]["exact"])
    fig.note = (f"{count} packets into a 1-page ring not drained during the flood: received + "
                "counted lost == produced (counted in the kernel)")


@dataclass
class CostSamples:
    """Program time per packet and per run, per variant; the sender's time per untraced packet."""

    per_pkt: dict[str, list[float]] = field(default_factory=dict)
    per_run: dict[str, list[float]] = field(default_factory=dict)
    runs_pp: dict[str, list[float]] = field(default_factory=dict)
    # variant -> program name -> [(ns per run, runs per packet)], one per round: where the time goes
    per_prog: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    base_ns: list[float] = field(default_factory=list)
    skipped: dict[str, list[float]] = field(default_factory=dict)  # runs skipped (recursion) per round

    def add(self, name: str, res: dict[str, Any], progs: list[progstats.ProgStats]) -> str:
        """File one sample; returns the log line."""
        if name == UNTRACED:
            self.base_ns.append(1e9 / res["pkts_per_cpu_s"] if res["pkts_per_cpu_s"] else 0.0)
            return ""
        ns = sum(p.run_time_ns for p in progs)
        runs = sum(p.run_cnt for p in progs)
        self.per_pkt.setdefault(name, []).append(ns / res["sent"] if res["sent"] else 0.0)
        self.per_run.setdefault(name, []).append(ns / runs if runs else 0.0)
        sent = max(res["sent"], 1)
        self.runs_pp.setdefault(name, []).append(runs / sent)
        self.skipped.setdefault(name, []).append(float(sum(p.misses for p in progs)))
        progs_of = self.per_prog.setdefault(name, {})
        for p in progs:
            if p.run_cnt:
                progs_of.setdefault(p.name, []).append((p.run_time_ns / p.run_cnt, p.run_cnt / sent))
        return (f"probe cost {name}: {self.per_pkt[name][-1]:,.0f} ns per packet, "
                f"{self.per_run[name][-1]:,.0f} ns per run, {runs / max(res['sent'], 1):.1f} runs "
                "per packet")


def probecost(b: Bench) -> None:
    """Where the throughput goes: program time per packet, timed by the kernel (bpf_stats)."""
    f_nm = b.add(Figure("cost_nomatch", "probe time per packet, filter not matching (bpf_stats)", WHY, "ns"))
    f_m = b.add(Figure("cost_match", "probe time per packet, every packet traced (bpf_stats)", WHY, "ns"))
    f_fl = b.add(Figure("cost_floor", "empty program per run (bpf_stats: dispatch + timing)", FLOOR, "ns"))
    nets = {"nomatch": b.add(Figure("cost_net_nomatch", "probe time per packet net of the empty program, "
                                    "filter not matching (bpf_stats)", NET_NOT_MATCHING, "ns")),
            "match": b.add(Figure("cost_net_match", "probe time per packet net of the empty program, "
                                  "every packet traced (bpf_stats)", NET_TRACED, "ns"))}
    f_runs = b.add(Figure("cost_runs", "program runs per packet, filter not matching", REFERENCE, "runs"))
    f_skip = b.add(Figure("cost_skipped", "program runs the kernel skipped (nested on a CPU), every "
                          "packet traced", LOST, "runs"))
    if b.skip_kernel(f_nm, f_m, f_fl, *nets.values(), f_runs, f_skip):
        return
    dur = 0.3 if b.smoke else 1.0
    after = b.after
    variants: list[Variant] = [(UNTRACED, None), *tracers(b), ("floor", lambda: Tracer(after, cmd="floor"))]
    samples = CostSamples()
    with progstats.stats_enabled():
        flood(0.2)
        for r in range(b.rounds):
            for name, start in rotated(variants, r):
                tr = start() if start else None
                res = flood(dur)
                progs = progstats.programs() if tr else []
                if tr:
                    tr.stop()
                line = samples.add(name, res, progs)
                if line:
                    b.log(line)
    for fig, kind in ((f_nm, "nomatch"), (f_m, "match")):
        for t in b.trees:
            key = f"{kind}:{t.name}"
            fig.results[t.name] = {**spread(samples.per_pkt.get(key, [])),
                                   "per_run_ns": spread(samples.per_run.get(key, [])),
                                   "runs_per_packet": spread(samples.runs_pp.get(key, [])),
                                   "per_program": per_program(samples.per_prog.get(key, {}))}
    f_fl.results["after"] = spread(samples.per_run.get("floor", []))
    _net_figures(b, samples, nets, f_runs)
    _skipped_figure(b, samples, f_skip)
    _cost_notes(f_nm, f_m, f_fl, statistics.median(samples.base_ns) if samples.base_ns else 0.0)


def _net_figures(b: Bench, samples: CostSamples, nets: dict[str, Figure], f_runs: Figure) -> None:
    """Probe time per packet less what the empty program costs on the same hooks
    (median per run, times this round's runs per packet): brtrace's own work."""
    floor = statistics.median(samples.per_run["floor"]) if samples.per_run.get("floor") else 0.0
    for kind, fig in nets.items():
        for t in b.trees:
            key = f"{kind}:{t.name}"
            vals = [pp - floor * runs for pp, runs in
                    zip(samples.per_pkt.get(key, []), samples.runs_pp.get(key, []), strict=True)]
            fig.results[t.name] = spread(vals)
        if "median" in fig.results.get("after", {}):
            fig.judge(fig.after_median())
        fig.note = f"the empty program's {floor:,.0f} ns per run taken out, run by run"
    for t in b.trees:
        f_runs.results[t.name] = spread(samples.runs_pp.get(f"nomatch:{t.name}", []))
    f_runs.note = ("program runs (hooks crossed, tail calls not counted) per packet sent: every run "
                   "pays the dispatch at least")


def _skipped_figure(b: Bench, samples: CostSamples, fig: Figure) -> None:
    """The kernel's recursion_misses over the traced rounds: each skipped run is
    a hook crossing no event and no loss counter shows, so it must stay 0."""
    for t in b.trees:
        fig.results[t.name] = spread(samples.skipped.get(f"match:{t.name}", []))
    if "max" in fig.results.get("after", {}):
        fig.judge(fig.results["after"]["max"])
    fig.note = ("bpf_prog_info.recursion_misses summed over brtrace's programs, per round: a run "
                "the kernel refused because the same program was running on that CPU")


def per_program(rounds: dict[str, list[tuple[float, float]]]) -> dict[str, dict[str, float]]:
    """Per program (hook): median ns per run and runs per packet over the rounds.

    A tail-called program (brt_emit) is charged to the entry that called it
    (the kernel times the entry's whole run), so each row is a hook's full cost."""
    return {name: {"ns_per_run": statistics.median(v[0] for v in vals),
                   "runs_per_packet": statistics.median(v[1] for v in vals)}
            for name, vals in sorted(rounds.items())}


def _hooks_text(res: dict[str, Any]) -> str:
    progs: dict[str, dict[str, float]] = res.get("per_program", {})
    return "; ".join(f"{n.removeprefix('brt_tp_')} {p['ns_per_run']:,.0f} ns x {p['runs_per_packet']:.1f}"
                     for n, p in progs.items())


def _cost_notes(f_nm: Figure, f_m: Figure, f_fl: Figure, base: float) -> None:
    """What each figure means for the kept share: probe time against the sender's own."""
    floor_run = f_fl.results["after"].get("median", 0.0)
    for fig in (f_nm, f_m):
        res = fig.results["after"]
        run_ns = res["per_run_ns"].get("median", 0.0)
        runs_pp = res["median"] / run_ns if run_ns else 0.0
        own = res["median"] - floor_run * runs_pp  # the timing itself taken out
        ceiling = 100.0 * base / (base + own) if base + own > 0 else 0.0
        fig.note = (f"{run_ns:,.0f} ns per program run x {runs_pp:.1f} runs per packet; without "
                    f"bpf_stats' own timing (the floor) ~{own:,.0f} ns per packet against "
                    f"{base:,.0f} ns of sender CPU per untraced packet: probe time alone caps "
                    f"the kept share near {ceiling:.0f} %; per hook (ns per run x runs per "
                    f"packet): {_hooks_text(res)}")
    f_fl.note = ("probes/floor.c on the same tracepoints: what bpf_stats' clock reads and the "
                 "dispatch add to every run; the figures above include it")
