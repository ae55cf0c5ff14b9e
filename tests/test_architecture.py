"""The design's import directions and the repository's standing alone, checked on every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.source_imports import REPO, async_constructs, imports_any, imports_of, src_modules

# (files the rule covers, module prefixes they must never import, why)
FORBIDDEN: list[tuple[str, tuple[str, ...], str]] = [
    ("src/auth/*.py", ("src.platforms",), "auth signs; it knows nothing of the API that uses it"),
    ("src/strategies/*.py", ("src.execution", "src.platforms", "src.db", "src.app"),
     "a strategy only turns data into a signal"),
    ("src/risk/*.py", ("src.platforms", "src.execution", "src.app", "asyncio"),
     "risk is synchronous and decides without the network"),
    ("src/execution/paper.py", ("src.execution.live", "src.platforms"), "paper never reaches an order endpoint"),
    ("src/execution/live.py", ("src.execution.paper",), "paper and live executors never import each other"),
    ("src/execution/pre_send.py", ("src.execution.paper", "src.execution.live", "src.platforms"),
     "the shared pre-send step belongs to neither executor"),
    ("src/platforms/*.py", ("src.risk", "src.execution", "src.strategies", "src.app"),
     "a venue client is transport and parsing only"),
    ("src/sim/exchange.py", ("src.execution",), "the simulated venue does not borrow the executors"),
    ("src/net/*.py", ("src.platforms", "src.execution", "src.risk", "src.strategies", "src.app", "src.data"),
     "network plumbing is venue-agnostic"),
    ("src/notify/*.py", ("src.platforms", "src.execution", "src.strategies", "src.app", "src.data", "src.sim"),
     "notifications only tell and listen; the app wires them to the trading components"),
    ("src/risk/*.py", ("src.notify",), "the kill switch decides alone; notifications observe it"),
    ("src/recording/*.py", ("src.platforms", "src.execution", "src.risk", "src.strategies", "src.app", "src.research",
                            "src.db", "aiohttp", "websockets"),
     "the recorder stores what it is handed; it fetches, decides and trades nothing"),
    ("src/data/*_history.py", ("src.auth", "src.execution", "src.risk", "src.strategies", "src.app"),
     "history clients read public data: no credentials, nothing that trades"),
    ("src/reporting/*.py", ("src.app", "src.platforms", "src.execution"),
     "reporting reads the records; it starts, reaches and trades nothing"),
    ("src/cli/*.py", ("src.app", "src.platforms", "src.execution", "src.risk", "src.strategies", "src.data", "src.db"),
     "the terminal's lines and flag values are shared by every command; they know no trading component"),
]

# The dashboard and its queries read the database file and nothing else in src/.
DASHBOARD_FILES = ("src/dashboard.py", "src/reporting/dashboard_queries.py", "src/reporting/dashboard_polymarket.py")
DASHBOARD_MAY_IMPORT = ("src.reporting.dashboard_queries", "src.reporting.dashboard_polymarket", "src.model",
                        "src.db.db_path_for", "src.db")
NETWORK_LIBS = ("aiohttp", "websockets", "requests", "urllib", "http", "socket", "httpx")


def _files(pattern: str) -> list[Path]:
    found = sorted(REPO.glob(pattern))
    if not found:
        raise FileNotFoundError(f"rule names no file: {pattern}")  # a rule that covers nothing checks nothing
    return found


def violations(path: Path, forbidden: tuple[str, ...]) -> set[str]:
    return imports_any(imports_of(path), forbidden)


@pytest.mark.parametrize(("pattern", "forbidden", "why"), FORBIDDEN, ids=[r[0] for r in FORBIDDEN])
def test_import_directions(pattern: str, forbidden: tuple[str, ...], why: str) -> None:
    bad = {str(p.relative_to(REPO)): sorted(violations(p, forbidden)) for p in _files(pattern)}
    assert not {k: v for k, v in bad.items() if v}, why


def test_test_only_oracles_are_never_imported_by_the_bot() -> None:
    """The official Polymarket SDKs (and PyNaCl, the US SDK's signer) check our signatures in tests only."""
    oracles = ("polymarket_us", "nacl", "py_clob_client_v2")
    paths = [*REPO.glob("src/**/*.py"), *REPO.glob("setup/*.py"), REPO / "main.py"]
    bad = {str(p.relative_to(REPO)): sorted(imports_any(imports_of(p), oracles)) for p in paths}
    assert not {k: v for k, v in bad.items() if v}


def test_model_imports_nothing_else_from_src() -> None:
    for path in _files("src/model/*.py"):
        outside = {m for m in imports_of(path) if m.startswith("src.") and not m.startswith("src.model")}
        assert not outside, f"{path.name} imports {sorted(outside)}: model/ depends on nothing else in src/"


@pytest.mark.parametrize("path", _files("src/risk/*.py"), ids=lambda p: p.name)
def test_risk_is_synchronous(path: Path) -> None:
    assert async_constructs(path) == []


@pytest.mark.parametrize("rel", DASHBOARD_FILES)
def test_dashboard_only_reads_the_database(rel: str) -> None:
    path = REPO / rel
    imported = imports_of(path)
    src_imports = {m for m in imported if m.startswith("src.")}
    assert imports_any(src_imports, DASHBOARD_MAY_IMPORT) == src_imports, sorted(src_imports)
    assert not imports_any(imported, NETWORK_LIBS)
    # Only the path helper from db: src.db.Database opens read-write and migrates.
    assert {m for m in src_imports if m.startswith("src.db.")} <= {"src.db.db_path_for"}
    assert not re.search(r"\bDatabase\b", path.read_text())


@pytest.mark.parametrize("path", src_modules(), ids=lambda p: str(p.relative_to(REPO / "src")))
def test_every_module_opens_with_a_one_line_docstring(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and doc.splitlines()[0].strip(), f"{path.relative_to(REPO)} has no docstring naming its job"


def test_nothing_reads_the_design_folder() -> None:
    """A fresh clone has nothing beside it: code, tests and benchmarks never read the design folder."""
    pattern = re.compile(r"""\.\./shared|parent\s*/\s*["']shared["']|parents\[\d\]\.parent""")
    roots = [REPO / "src", REPO / "tests", REPO / "bench", REPO / "setup"]
    hits = [
        f"{p.relative_to(REPO)}:{n}"
        for root in roots for p in sorted(root.rglob("*.py")) if p != Path(__file__)
        for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)
    ]
    assert hits == []


# -- the scanner itself can fail --------------------------------------------------------------------


def test_scanner_finds_each_spelling_of_a_forbidden_import(tmp_path: Path) -> None:
    spellings = [
        "import src.platforms.kalshi",
        "from src.platforms import kalshi",
        "from src.platforms.kalshi import KalshiClient",
        "def f():\n    from src.platforms.kalshi import KalshiClient",
    ]
    for i, source in enumerate(spellings):
        path = tmp_path / f"m{i}.py"
        path.write_text(f'"""A module."""\n{source}\n')
        assert violations(path, ("src.platforms",)), source
    clean = tmp_path / "clean.py"
    clean.write_text('"""A module."""\nimport src.platformsx\nfrom src.model.models import Side\n')
    assert violations(clean, ("src.platforms",)) == set()


def test_async_scanner_finds_each_async_construct(tmp_path: Path) -> None:
    cases = {
        "await": "async def f():\n    await g()\n",
        "for": "def f():\n    pass\nasync def g():\n    async for x in y:\n        pass\n",
        "import": "import asyncio\n",
        "from": "from asyncio import sleep\n",
    }
    for name, source in cases.items():
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        assert async_constructs(path), name
    sync = tmp_path / "sync.py"
    sync.write_text("def f():\n    return 1\n")
    assert async_constructs(sync) == []
