"""Dependencies point inward: the pure core imports none of bcc, pyroute2, textual.

Checked on the import statements themselves (AST), so a lazy import inside a
function counts too.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"bcc", "pyroute2", "textual", "grpc", "google", "textual_serve", "aiohttp"}
# module (file or package dir) -> heavy libraries it may import
ALLOWED: dict[str, set[str]] = {
    "probes/loader.py": {"bcc"},
    "tracer/cli/doctor_cmd.py": {"bcc"},  # only to report whether bcc imports
    "tracer/topology/discover.py": {"pyroute2"},
    "tracer/lab": {"pyroute2"},
    "tui": {"textual"},
    # the agent wire: the server and the client, nothing else
    "tracer/agent": {"grpc", "google"},
    "tracer/remote": {"grpc", "google"},
    "tracer/cli/serve_cmd.py": {"textual_serve"},  # a web server: only where brtrace serve runs
    "tracer/cli/serve_server.py": {"textual_serve", "aiohttp"},
}
PURE = ["tracer/model.py", "tracer/source.py", "tracer/filter.py", "tracer/topology/model.py",
        "tracer/topology/render.py", "tracer/topology/groups.py", "tracer/correlate", "tracer/render",
        "tracer/record", "tracer/schema", "tracer/pcapf", "probes/btf.py", "probes/cgen.py",
        "probes/offsets.py", "probes/ringbuf.py", "probes/cpuring.py", "probes/cpus.py"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _allowed(rel: str) -> set[str]:
    for prefix, libs in ALLOWED.items():
        if rel == prefix or rel.startswith(prefix.rstrip("/") + "/"):
            return libs
    return set()


def _files(prefixes: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in prefixes:
        path = ROOT / p
        out += sorted(path.rglob("*.py")) if path.is_dir() else ([path] if path.exists() else [])
    return out


def test_heavy_libraries_only_where_allowed() -> None:
    bad = []
    for path in _files(["tracer", "probes", "tui"]):
        rel = str(path.relative_to(ROOT))
        extra = (_imports(path) & HEAVY) - _allowed(rel)
        if extra:
            bad.append(f"{rel} imports {sorted(extra)}")
    assert not bad, "\n".join(bad)


def test_pure_core_imports_no_heavy_library() -> None:
    files = _files(PURE)
    assert len(files) >= 10
    for path in files:
        assert not (_imports(path) & HEAVY), path


def _is_foreign(d: Path) -> bool:
    """A directory of someone else's files: a virtualenv (whatever its name),
    installed packages, VCS or tool caches, build output."""
    return (d.name.startswith(".") or d.name in {"site-packages", "dist-packages", "build", "__pycache__"}
            or (d / "pyvenv.cfg").exists())


def _own_c_files() -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not _is_foreign(here / d)]
        out += [here / f for f in filenames if f.endswith((".c", ".h"))]
    return out


def test_c_lives_only_in_probes() -> None:
    c_files = _own_c_files()
    assert c_files and all(p.parent == ROOT / "probes" for p in c_files), c_files


def test_no_c_source_built_by_string_replacement() -> None:
    src = (ROOT / "probes/loader.py").read_text()
    assert "src_file=" in src and "cflags" in src  # the C file is compiled as it is
    assert "text=" not in src.split("BPF(")[1].split(")")[0]
    assert "brtrace.c\").read" not in src and ".read_text()" not in src


# The parts of tracer/ that wire the live world in (CLI, labs, discovery, the
# agent serving a node's probes) may import the probes; the rest is the core,
# which the probes import.
CORE_EXCEPT = ("tracer/cli", "tracer/lab", "tracer/topology/discover.py", "tracer/agent")


def test_core_imports_no_probes() -> None:
    """The event schema lives in the core (tracer/schema): the probes import it, never the reverse."""
    bad = []
    core = [p for p in _files(["tracer"])
            if not str(p.relative_to(ROOT)).startswith(CORE_EXCEPT)]
    assert len(core) >= 20
    for path in core:
        if "probes" in _imports(path):
            bad.append(str(path.relative_to(ROOT)))
    assert not bad, f"the core imports probes: {bad}"


def _first_party_imports(path: Path) -> set[str]:
    """brtrace's own top-level packages a file imports (``tracer``, ``probes``, ``tui``)."""
    return _imports(path) & {"tracer", "probes", "tui"}


def test_first_party_layering() -> None:
    """The views sit on the core, never the other way: only the CLI wires sources to the TUI.

    ``tui`` gets its sources (or a runner that opens one) from the CLI, so it
    imports no ``probes``; nothing in the core or the probes imports ``tui``.
    """
    bad = []
    for path in _files(["tui"]):
        if "probes" in _first_party_imports(path):
            bad.append(f"{path.relative_to(ROOT)} imports probes (the CLI builds live sources)")
    for path in _files(["tracer", "probes"]):
        rel = str(path.relative_to(ROOT))
        if "tui" in _first_party_imports(path) and not rel.startswith("tracer/cli/"):
            bad.append(f"{rel} imports tui (only tracer/cli may)")
    assert len(_files(["tui"])) >= 10 and len(_files(["tracer/cli"])) >= 10
    assert not bad, "\n".join(bad)
