"""Where the shipped non-Python files are: inside the installed package, or the source tree."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def _package_dir(pkg: str, fallback: str) -> Path:
    try:
        spec = importlib.util.find_spec(pkg)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return _ROOT / fallback


def templates_dir() -> Path:
    return _package_dir("edgecompile.templates", "templates")


def runtime_dir() -> Path:
    return _package_dir("edgecompile.runtime_c", "runtime_c")


def boards_dir() -> Path:
    return _package_dir("edgecompile.board_data", "boards")
