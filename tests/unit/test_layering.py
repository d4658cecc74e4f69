"""Dependencies point inward: the pure core imports none of bcc, pyroute2, textual.

Checked on the import statements themselves (AST), so a lazy import inside a
function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"bcc", "pyroute2", "textual"}
# module (file or package dir) -> heavy libraries it may import
ALLOWED: dict[str, set[str]] = {
    "probes/loader.py": {"bcc"},
    "tracer/cli/doctor_cmd.py": {"bcc"},  # only to report whether bcc imports
    "tracer/topology/discover.py": {"pyroute2"},
    "tracer/lab": {"pyroute2"},
    "tui": {"textual"},
}
PURE = ["tracer/model.py", "tracer/source.py", "tracer/filter.py", "tracer/topology/model.py",
        "tracer/topology/render.py", "tracer/topology/groups.py", "tracer/correlate", "tracer/render", "tracer/record",
        "probes/btf.py", "probes/layout.py", "probes/offsets.py", "probes/ringbuf.py"]


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


def test_c_lives_only_in_probes() -> None:
    c_files = [p for p in ROOT.rglob("*.[ch]") if ".venv" not in p.parts]
    assert c_files and all(p.parent.name == "probes" for p in c_files), c_files


def test_no_c_source_built_by_string_replacement() -> None:
    src = (ROOT / "probes/loader.py").read_text()
    assert "src_file=" in src and "cflags" in src  # the C file is compiled as it is
    assert "text=" not in src.split("BPF(")[1].split(")")[0]
    assert "brtrace.c\").read" not in src and ".read_text()" not in src
