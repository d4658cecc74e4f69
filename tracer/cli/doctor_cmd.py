"""``brtrace doctor``: can this machine trace, and with which hooks?

Every "no" comes with its consequence and the command that fixes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("doctor", help="check kernel, BTF, bcc and which hooks will be live")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=run)


def _bcc_headers() -> tuple[bool, str]:
    env = os.environ.get("BCC_KERNEL_SOURCE")
    if env:
        return os.path.isdir(env), f"BCC_KERNEL_SOURCE={env}"
    build = f"/lib/modules/{platform.release()}/build"
    if os.path.isdir(build):
        return True, f"{build} -> {os.path.realpath(build)}"
    return False, (f"no headers tree at {build}: apt-get install linux-headers-amd64 and link it "
                   f"there (make setup does this); brtrace reads struct layouts from BTF, "
                   "bcc only needs some tree to compile")


def checks() -> list[dict[str, object]]:
    from probes import kernel

    out: list[dict[str, object]] = []

    def add(name: str, ok: bool, detail: str, fix: str = "") -> None:
        out.append({"check": name, "ok": ok, "detail": detail, **({"fix": fix} if fix and not ok else {})})

    add("kernel", True, platform.release())
    add("root", os.geteuid() == 0, "running as root" if os.geteuid() == 0 else "not root",
        "run brtrace as root (sudo): loading eBPF needs CAP_BPF and CAP_PERFMON")
    add("btf", os.path.exists(kernel.BTF_PATH), kernel.BTF_PATH,
        "a kernel built with CONFIG_DEBUG_INFO_BTF=y is required: struct offsets come from it")
    tf = kernel.tracefs_path()
    add("tracefs", tf is not None, tf or "not mounted", "mount -t tracefs tracefs /sys/kernel/tracing")
    kp = kernel.has_kprobes()
    add("kprobes", kp, "available" if kp else "CONFIG_KPROBES is off",
        "function hooks fall back to fentry, else to the tracepoint backbone (still a full path)")
    try:
        import bcc  # noqa: F401

        add("bcc", True, "python3-bpfcc importable")
    except ImportError:
        add("bcc", False, "python3-bpfcc not importable", "apt-get install python3-bpfcc bpfcc-tools")
    ok, detail = _bcc_headers()
    add("bcc headers", ok, detail, detail)
    out.extend(_hook_checks())
    out.extend(_runtime_checks())
    return out


def _runtime_checks() -> list[dict[str, object]]:
    """Which runtimes name containers and pods here; an absent one is fine (it costs nothing)."""
    from tracer.names.gather import gather
    from tracer.names.runtime import STATUS_ABSENT, STATUS_UNREACHABLE

    rows: list[dict[str, object]] = []
    for r in gather():
        what = {STATUS_ABSENT: "not here", STATUS_UNREACHABLE: "unreachable"}.get(r.status, "names from")
        row: dict[str, object] = {"check": f"runtime {r.runtime}", "ok": r.status != STATUS_UNREACHABLE,
                                  "detail": f"{what}: {r.detail}"}
        if r.status == STATUS_UNREACHABLE:
            row["fix"] = "containers show as netns:INODE until it answers (check its socket)"
        rows.append(row)
    return rows


def _hook_checks() -> list[dict[str, object]]:
    from probes.btf import BTF, BTFError
    from probes.plan import SAME_CROSSING, plan_hooks
    from tracer.model import HookMode

    try:
        plan = plan_hooks(BTF.load()) if os.geteuid() == 0 else []
    except BTFError as exc:
        return [{"check": "hooks", "ok": False, "detail": str(exc)}]
    if not plan:
        return [{"check": "hooks", "ok": False, "detail": "run as root to test which hooks attach"}]
    fentry_tried = [h for h in plan if not h.hook.is_tracepoint]
    fentry_ok = any(h.mode == HookMode.FENTRY for h in fentry_tried)
    refused = [h for h in fentry_tried if "fentry" in h.detail]
    why = refused[0].detail.split("fentry: ")[-1] if refused else "not needed"
    rows = [{"check": "fentry", "ok": fentry_ok or not refused,
             "detail": "attaches" if fentry_ok else why,
             "fix": "function hooks stay off; the tracepoint backbone still shows every hop"}]
    for h in plan:
        detail = h.detail
        if h.live and h.hook in SAME_CROSSING:  # attachable, but only with --all-hooks
            detail += f" (with --all-hooks only: {SAME_CROSSING[h.hook]})"
        rows.append({"check": f"hook {h.hook.label}", "ok": h.live, "mode": h.mode, "detail": detail})
    return rows


def run(args: argparse.Namespace) -> int:
    rows = checks()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            mark = "ok " if r["ok"] else "NO "
            mode = f" [{r['mode']}]" if "mode" in r else ""
            print(f"{mark} {r['check']:<26}{mode} {r['detail']}")
            if not r["ok"] and r.get("fix"):
                print(f"      → {r['fix']}")
    core = {"root", "btf", "tracefs", "bcc", "bcc headers"}
    return 0 if all(r["ok"] for r in rows if r["check"] in core) else 1
