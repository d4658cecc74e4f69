"""The one resolver: every form it accepts, what it says it picked, and ambiguity."""

from __future__ import annotations

import pytest

from tracer.errors import BrtraceError
from tracer.names.resolve import resolve
from tracer.topology.model import OWNER_CONTAINER, OWNER_POD, Netns, Owner, Topology

WEB_ID = "3972b7b76e2d8d0c9e063f2f01be4410a93a04f3b28f9031f7eb09a410141dea"
DB_ID = "39aa0000000000000000000000000000000000000000000000000000000000ff"
POD_ID = "8e1c5b0f3a2d4c6e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a"
SANDBOX = "/var/run/docker/netns/da2a97650eaf"

TOPO = Topology((
    Netns("", 4026531833, is_init=True),
    Netns("brt-pod-a", 4026532001),
    Netns("", 4026532100, pids=(1832, 1840),
          owners=(Owner(OWNER_CONTAINER, "docker", "web", WEB_ID, netns_path=SANDBOX),)),
    Netns("", 4026532200, pids=(2000,), owners=(Owner(OWNER_CONTAINER, "docker", "db", DB_ID),)),
    Netns("cni-6a1c", 4026532300, owners=(Owner(OWNER_POD, "cri", "web-1", POD_ID, "shop"),)),
    Netns("", 4026532400, owners=(Owner(OWNER_POD, "cri", "web-1", "77" * 32, "staging"),)),
    Netns("", 4026532500, pids=(3000,)),
))
PATHS = {"/proc/9999/ns/net": 4026532200, "/run/netns/brt-pod-a": 4026532001}


def inode_of(path: str) -> int:
    return PATHS.get(path, 0)


def pick(q: str) -> tuple[int, str]:
    p = resolve(q, TOPO, inode_of=inode_of)
    return p.netns.inode, p.how


@pytest.mark.parametrize(("query", "inode", "how"), [
    ("host", 4026531833, "the host's netns"),
    ("brt-pod-a", 4026532001, "named netns brt-pod-a"),
    ("pod-a", 4026532001, "label pod-a"),
    ("web", 4026532100, "docker container web (3972b7b76e2d)"),
    ("/web", 4026532100, "docker container web"),
    ("shop/web-1", 4026532300, "cri pod shop/web-1"),
    ("3972b7b7", 4026532100, "docker container id 3972b7b76e2d (web)"),
    (WEB_ID, 4026532100, "docker container id"),
    ("8E1C5B0F", 4026532300, "cri pod id 8e1c5b0f3a2d (shop/web-1)"),
    ("1840", 4026532100, "PID 1840"),
    ("9999", 4026532200, "PID 9999"),  # not among the first PIDs kept: asked of /proc
    ("4026532500", 4026532500, "netns inode 4026532500"),
    ("netns:4026532500", 4026532500, "netns inode"),
    ("netns:4026532500(pid 3000)", 4026532500, "netns inode"),  # the label brtrace prints
    ("net:[4026532200]", 4026532200, "netns inode"),
    ("/proc/9999/ns/net", 4026532200, "netns path /proc/9999/ns/net"),
    ("/run/netns/brt-pod-a", 4026532001, "netns path"),
    (SANDBOX, 4026532100, f"netns path {SANDBOX}"),  # in the daemon's mount ns only: by string
])
def test_each_form(query: str, inode: int, how: str) -> None:
    got_inode, got_how = pick(query)
    assert got_inode == inode
    assert got_how.startswith(how)


def test_the_line_says_what_was_picked() -> None:
    p = resolve("web", TOPO)
    assert p.line("web") == ("--from web: docker container web (3972b7b76e2d) -> netns web "
                             "(inode 4026532100)")
    assert not p.plain
    assert resolve("pod-a", TOPO).plain and resolve("brt-pod-a", TOPO).plain  # nothing to explain
    assert not resolve("1840", TOPO).plain


@pytest.mark.parametrize(("query", "count"), [("web-1", 2), ("39", 0), ("39aa", 1), ("397", 0)])
def test_ambiguous_names_list_every_candidate(query: str, count: int) -> None:
    if count == 1:
        assert pick(query)[0] == 4026532200
        return
    if count == 0:  # too short to be an id prefix: unknown, not a guess
        with pytest.raises(BrtraceError, match=f"--from {query}: neither a netns inode nor the PID"):
            pick(query)
        return
    with pytest.raises(BrtraceError) as err:
        pick(query)
    msg = str(err.value)
    assert "\n" not in msg and "ambiguous" in msg and f"names {count} namespaces" in msg
    assert "shop/web-1" in msg and "staging/web-1" in msg


def test_id_prefix_shared_by_two_containers_is_ambiguous() -> None:
    tie = Topology(TOPO.namespaces + (Netns("", 1, owners=(
        Owner(OWNER_CONTAINER, "docker", "other", WEB_ID[:10] + "ff"),)),))
    with pytest.raises(BrtraceError, match=r"'3972b7b7' is ambiguous.*web.*other"):
        resolve(WEB_ID[:8], tie)


def test_a_name_that_is_also_a_netns_name_is_ambiguous() -> None:
    tie = Topology(TOPO.namespaces + (Netns("web", 77),))
    with pytest.raises(BrtraceError,
                       match=r"docker container web .*; named netns web \[netns web, inode 77\]"):
        resolve("web", tie)


def test_exact_name_wins_over_an_id_prefix() -> None:
    owner = Owner(OWNER_CONTAINER, "docker", "3972", "ee" * 32)
    named = Topology(TOPO.namespaces + (Netns("", 88, owners=(owner,)),))
    assert resolve("3972", named).netns.inode == 88


@pytest.mark.parametrize(("query", "msg"), [
    ("nosuch", "unknown --from 'nosuch'"),
    ("12345", "neither a netns inode nor the PID"),
    ("/tmp/x", "--from /tmp/x: not the file of a network namespace"),
    ("netns:42", "no network namespace with inode 42"),
    ("", "needs a namespace"),
])
def test_errors_are_one_line(query: str, msg: str) -> None:
    with pytest.raises(BrtraceError, match=msg) as err:
        pick(query)
    assert "\n" not in str(err.value)


def test_option_name_in_messages() -> None:
    with pytest.raises(BrtraceError, match="unknown --netns"):
        resolve("nosuch", TOPO, option="--netns")


def test_matching_modules_are_pure() -> None:
    """The resolver and the attaching are core: no sockets, processes, netlink or bcc."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "tracer" / "names"
    allowed = {"__future__", "collections", "dataclasses", "re", "typing", "tracer"}
    for name in ("resolve.py", "attach.py", "runtime.py", "devname.py"):
        tree = ast.parse((root / name).read_text())
        mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
        assert mods <= allowed, (name, mods - allowed)
        inner = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                 and n.module.startswith("tracer.")}
        assert inner <= {"tracer.errors", "tracer.topology.model", "tracer.names.runtime"}, (name, inner)


def test_node_prefix_picks_this_machine_only() -> None:
    here = Topology(TOPO.namespaces, hostname="node1")
    assert resolve("node1:web", here).netns.inode == 4026532100
    assert resolve("node1:netns:4026532500", here).netns.inode == 4026532500
    assert resolve("netns:4026532500", here).netns.inode == 4026532500  # not a node called "netns"
    with pytest.raises(BrtraceError, match="node 'node2' is not this machine"):
        resolve("node2:web", here)
