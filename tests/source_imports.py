"""The one static import scanner the architecture tests share: which modules a source file imports."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, absolute: `import a.b` gives a.b; `from a import b` gives a and a.b.

    Both spellings of a from-import are kept because `from src.execution import paper` imports the
    module src.execution.paper as surely as `import src.execution.paper` does.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def imports_any(imported: set[str], prefixes: tuple[str, ...]) -> set[str]:
    """The imported modules that are one of `prefixes` or inside one of them."""
    return {m for m in imported if any(m == p or m.startswith(p + ".") for p in prefixes)}


def async_constructs(path: Path) -> list[str]:
    """`file:line` of every await, async def/for/with and asyncio import in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Await | ast.AsyncFunctionDef | ast.AsyncFor | ast.AsyncWith):
            hits.append(f"{path.name}:{node.lineno}")
    if imports_any(imports_of(path), ("asyncio",)):
        hits.append(f"{path.name}: imports asyncio")
    return hits


def src_modules() -> list[Path]:
    return sorted((REPO / "src").rglob("*.py"))
