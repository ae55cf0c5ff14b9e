"""Temporary project directories for the red-team, fault and soak suites: a minimal root or a full repo copy."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def write_config(root: Path, changes: Mapping[str, Any] | None = None, name: str = "config.yaml") -> Path:
    """The repository's config.yaml with `changes` merged in (nested keys), written to root/name."""
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    path = root / name
    path.write_text(yaml.safe_dump(_merge(data, changes or {}), sort_keys=False), encoding="utf-8")
    return path


def make_project(
    base: Path,
    *,
    config: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    env_text: str | None = None,
) -> Path:
    """A minimal project root: config.yaml, USER_CONFIG.json, optional .env, logs/ and data/."""
    root = base / "proj"
    root.mkdir(parents=True)
    write_config(root, config)
    user_data = json.loads((REPO / "USER_CONFIG.json").read_text(encoding="utf-8"))
    user_data.update(user or {})
    (root / "USER_CONFIG.json").write_text(json.dumps(user_data, indent=2), encoding="utf-8")
    if env_text is not None:
        env = root / ".env"
        env.write_text(env_text, encoding="utf-8")
        env.chmod(0o600)
    for sub in ("logs/trades", "logs/errors", "data"):
        (root / sub).mkdir(parents=True)
    return root


def copy_code(root: Path) -> Path:
    """main.py, src/ and setup/ beside a project made by make_project, so `python main.py` runs there
    (main.py's project root is the directory it sits in)."""
    shutil.copy2(REPO / "main.py", root / "main.py")
    for package in ("src", "setup"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def repo_files() -> list[str]:
    """What git would commit: tracked files plus untracked ones not ignored (so new files are covered)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({p for p in out.split("\0") if p and (REPO / p).is_file()})


def copy_repo(dest: Path) -> Path:
    """A copy of the repository's committable files (no .venv, no runtime data, no .env) at dest."""
    dest.mkdir(parents=True)
    for rel in repo_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    for sub in ("logs/trades", "logs/errors", "data"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    return dest


__all__ = ["REPO", "copy_code", "copy_repo", "make_project", "repo_files", "write_config"]
