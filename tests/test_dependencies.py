"""The requirements files say what the code imports: nothing imported undeclared, nothing declared unused."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

from tests.source_imports import REPO, imports_of

FIRST_PARTY = {"src", "setup", "main", "tests", "bench"}
# Declared without being imported, each for a stated reason.
DECLARED_UNIMPORTED = {
    "pytest": "the design lists the test runner as a runtime requirement",
    "pytest-asyncio": "a pytest plugin: loaded by pytest, never imported",
}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(path: Path) -> set[str]:
    """Distribution names required by one requirements file (its -r includes are not followed)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_normal(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def third_party_imports(paths: list[Path]) -> set[str]:
    tops = {m.split(".")[0] for p in paths for m in imports_of(p)}
    return {t for t in tops if t not in sys.stdlib_module_names and t not in FIRST_PARTY}


def runtime_sources() -> list[Path]:
    return sorted([REPO / "main.py", *(REPO / "src").rglob("*.py"), *(REPO / "setup").glob("*.py")])


def distributions_of(module: str) -> set[str]:
    return {_normal(d) for d in importlib.metadata.packages_distributions().get(module, [])}


def test_every_package_the_bot_imports_is_declared() -> None:
    runtime = declared(REPO / "requirements.txt")
    undeclared = {m: sorted(distributions_of(m)) for m in third_party_imports(runtime_sources())
                  if not distributions_of(m) & runtime}
    assert undeclared == {}, "imported by src/, main.py or setup/ but not in requirements.txt"


def test_every_declared_runtime_package_is_imported() -> None:
    imported = set().union(*(distributions_of(m) for m in third_party_imports(runtime_sources())))
    unused = declared(REPO / "requirements.txt") - imported - set(DECLARED_UNIMPORTED)
    assert unused == set(), "in requirements.txt but imported nowhere in src/, main.py or setup/"


def test_the_checks_see_a_missing_and_an_unused_package(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text('"""A module."""\nimport yaml\nfrom pydantic import BaseModel\nimport json\nimport src.db\n')
    assert third_party_imports([source]) == {"yaml", "pydantic"}
    assert distributions_of("yaml") == {"pyyaml"}
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("-r other.txt\npydantic-settings>=2.0  # listed\nPyYAML[extra]>=6 ; python_version>'3'\n")
    assert declared(reqs) == {"pydantic-settings", "pyyaml"}
