"""The import rules of ARCHITECTURE.md, checked on the AST of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"pyetcd", "raft", "store", "http_api", "tls"}
IMPURE = {"asyncio", "socket", "ssl", "os", "time", "threading", "selectors", "subprocess"}


def _modules(package: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    paths = sorted((ROOT / package).rglob("*.py"))
    return [p for p in paths if not any(part in exclude for part in p.relative_to(ROOT).parts)]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _global_random_uses(path: Path) -> list[int]:
    """Calls on the shared `random` module (anything but constructing an injected Random)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "random"
            and node.attr != "Random"
        ):
            bad.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "random":
            bad += [node.lineno for alias in node.names if alias.name != "Random"]
    return bad


def _violations(paths: list[Path], forbidden: set[str]) -> list[str]:
    out = []
    for path in paths:
        for lineno, name in _imports(path):
            if name.split(".")[0] in forbidden:
                out.append(f"{path}:{lineno} imports {name}")
    return out


PURE_CORES = [
    ("store", set(PROJECT - {"store"})),
    ("raft", set(PROJECT - {"raft"})),
]


@pytest.mark.parametrize(("package", "others"), PURE_CORES)
def test_pure_cores_do_no_io_and_import_no_other_layer(package: str, others: set[str]) -> None:
    paths = _modules(package, exclude=("aio",))
    assert paths, f"{package}/ has no modules"
    assert _violations(paths, IMPURE | others) == []


@pytest.mark.parametrize("package", ["store", "raft"])
def test_pure_cores_take_randomness_only_injected(package: str) -> None:
    bad = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in _modules(package, exclude=("aio",))
        for line in _global_random_uses(p)
    ]
    assert bad == []


def test_http_api_never_imports_raft() -> None:
    assert _violations(_modules("http_api"), {"raft"}) == []


def test_tls_depends_only_on_ssl_and_cryptography() -> None:
    assert _violations(_modules("tls"), PROJECT - {"tls"}) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom raft.core import Raft\nimport random\nrandom.random()\n")
    assert len(_violations([bad], IMPURE | {"raft"})) == 2
    assert _global_random_uses(bad) == [4]
