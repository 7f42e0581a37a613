"""Where an export goes: the --out path checked up front, files replaced whole, optional libraries."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TextIO

from ..errors import InputError

EXTRAS = {"spacy": "spacy", "datasets": "hf"}
"""Optional library -> its own extra; `export` installs all of them."""

DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def require(module: str, fmt: str) -> ModuleType:
    """Import an optional library a format needs; InputError naming the extra to install when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(f"--format {fmt} needs {module}, which is not installed; pip install 'annotator[export]' "
                         f"(or just 'annotator[{EXTRAS.get(module, 'export')}]')") from exc


def check_out(path: Path, directory: bool) -> Path:
    """The output path, refused when it cannot be written: a missing folder, a file where a folder goes..."""
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} for --out does not exist; create it or change --out")
    if directory:
        if path.is_file():
            raise InputError(f"--out {path} is a file; this format writes a folder: pass a new folder name")
        if path.is_dir() and any(path.iterdir()) and not any((path / m).exists() for m in DATASET_MARKERS):
            raise InputError(f"--out {path} is a folder with other files in it; pass a new or empty folder")
    elif path.is_dir():
        raise InputError(f"--out {path} is a folder; this format writes one file: pass a file name")
    return path


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


@contextlib.contextmanager
def replacing_file(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it when the block succeeds (else it is removed)."""
    tmp = _temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def text_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file (LF line ends) that replaces `path` whole when the block succeeds."""
    with replacing_file(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        yield fh


@contextlib.contextmanager
def replacing_dir(path: Path) -> Iterator[Path]:
    """A temporary folder beside `path` that replaces it when the block succeeds (else it is removed)."""
    tmp = _temporary(path)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
