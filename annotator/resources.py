"""Locate the shipped `schemas/` and `prompts/` folders (repo checkout or installed wheel)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The built-in folder `name` ('schemas' or 'prompts')."""
    for candidate in (_PKG / "_builtin" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"built-in folder {name!r} not found next to {_PKG}")


def data_file(name: str) -> Path:
    """A data file shipped inside the package (sample article)."""
    return _PKG / "data" / name
