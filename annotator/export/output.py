"""Where an export goes: the --out path checked up front, written through symlinks, optional libraries.

A regular file (or a missing one) is replaced whole: the export goes to a temporary
file beside the file a symlink resolves to, which takes its place when the export
succeeds. A device, a FIFO or `-` (standard output) is written as a stream. A
dataset folder carries a marker listing what export wrote into it; only such a
folder (or an empty one) is replaced, and only what the marker lists is deleted.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

from ..errors import AnnotatorError, InputError

EXTRAS = {"spacy": "spacy", "datasets": "hf"}
"""Optional library -> its own extra; `export` installs all of them."""

MARKER = ".annotator-export.json"
"""In a dataset folder export wrote: the files and folders it wrote there."""
STDOUT = "-"


class WriteError(AnnotatorError):
    """The export could not be written (disk full, a closed pipe, no permission)."""


def require(module: str, fmt: str) -> ModuleType:
    """Import an optional library a format needs; InputError naming the extra to install when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(f"--format {fmt} needs {module}, which is not installed; pip install 'annotator[export]' "
                         f"(or just 'annotator[{EXTRAS.get(module, 'export')}]')") from exc


def resolved(path: Path) -> Path:
    """The file `path` names once its symlinks are followed (it need not exist)."""
    target = Path(os.path.realpath(path))
    if target.is_symlink():
        raise InputError(f"--out {path} is a symlink loop; pass a file name")
    return target


def is_stream(path: Path) -> bool:
    """Standard output, or something that exists but is neither a regular file nor a folder (device, FIFO)."""
    return str(path) == STDOUT or (path.exists() and not path.is_file() and not path.is_dir())


def check_out(path: Path, directory: bool) -> Path:
    """The output path, refused when it cannot be written: a missing folder, a file where a folder goes..."""
    if str(path) == STDOUT:
        if directory:
            raise InputError("--out - is standard output, and this format writes a folder: pass a folder name")
        return path
    target = resolved(path)
    if not target.parent.is_dir():
        raise InputError(f"folder {target.parent} for --out does not exist; create it or change --out")
    if directory:
        if target.exists() and not target.is_dir():
            raise InputError(f"--out {path} is not a folder; this format writes a folder: pass a new folder name")
        if target.is_dir():
            replaceable(target, path)
    elif target.is_dir():
        raise InputError(f"--out {path} is a folder; this format writes one file: pass a file name")
    return path


def _entries(folder: Path) -> list[str]:
    """Every file and folder under `folder`, relative, without following symlinks."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found += [(rel / name).as_posix() for name in (*dirs, *files)]
    return found


def written_by_export(folder: Path) -> set[str] | None:
    """What the marker of `folder` says export wrote there; None when it has no (readable) marker."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("written")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        return None
    return set(listed)


def replaceable(folder: Path, shown: Path | None = None) -> None:
    """Refuse a folder that is neither empty nor a dataset export wrote, or that holds anything else."""
    present = _entries(folder)
    if not present:
        return
    shown = shown or folder
    written = written_by_export(folder)
    if written is None:
        names = ", ".join(sorted(present)[:3]) + (", ..." if len(present) > 3 else "")
        raise InputError(f"--out {shown} is a folder that annotator export did not write (it holds {names}); "
                         "pass a new or empty folder")
    other = sorted(set(present) - written - {MARKER})
    if other:
        raise InputError(f"--out {shown} holds files annotator export did not write ({', '.join(other[:3])}"
                         f"{', ...' if len(other) > 3 else ''}); move them out or pass a new folder")


def _write_error(name: str, exc: OSError) -> WriteError:
    fix = {errno.ENOSPC: "free some space or write elsewhere", errno.EPIPE: "the reader closed the pipe early",
           errno.EACCES: "check the permissions or write elsewhere"}.get(exc.errno, "check --out and write again")
    return WriteError(f"cannot write the export to {name}: {exc.strerror or exc}; {fix}")


@contextlib.contextmanager
def writing(name: str) -> Iterator[None]:
    """OSError inside the block becomes one WriteError naming the output."""
    try:
        yield
    except OSError as exc:
        raise _write_error(name, exc) from exc


class Sink:
    """An open binary file whose write errors become one WriteError naming the output; text is encoded."""

    def __init__(self, fh: BinaryIO, name: str, encoding: str | None = None) -> None:
        self._fh, self.name, self._encoding = fh, name, encoding

    def write(self, data: bytes | str) -> None:
        if self._encoding is not None and isinstance(data, str):
            data = data.encode(self._encoding)
        with writing(self.name):
            self._fh.write(data)


@contextlib.contextmanager
def _stream(path: Path, shown: str, encoding: str | None) -> Iterator[Sink]:
    """Standard output, a device or a FIFO: written in place, never replaced."""
    if str(path) == STDOUT:
        sys.stdout.flush()
        yield Sink(sys.stdout.buffer, "standard output", encoding)
        with writing("standard output"):
            sys.stdout.buffer.flush()
        return
    with writing(shown):
        fh = path.open("wb")
    try:
        yield Sink(fh, shown, encoding)
        with writing(shown):
            fh.flush()
    finally:
        with contextlib.suppress(OSError):
            fh.close()


@contextlib.contextmanager
def _replacing(target: Path, shown: str, encoding: str | None) -> Iterator[Sink]:
    """A new file beside `target` that takes its place whole when the block succeeds (else it is removed)."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        with writing(shown):
            fh = tmp.open("xb")
        with fh:
            yield Sink(fh, shown, encoding)
            with writing(shown):
                fh.flush()
                os.fsync(fh.fileno())
        with writing(shown):
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def binary_file(path: Path, encoding: str | None = None) -> Iterator[Sink]:
    """Where the export's bytes go: `path` replaced whole, or written as a stream (see the module)."""
    if str(path) == STDOUT:
        with _stream(path, str(path), encoding) as sink:
            yield sink
        return
    target = resolved(path)
    opener = _stream if is_stream(target) else _replacing
    with opener(target, str(path), encoding) as sink:
        yield sink


@contextlib.contextmanager
def text_file(path: Path) -> Iterator[Sink]:
    """UTF-8 text (write LF line ends) to `path`, as `binary_file` writes bytes."""
    with binary_file(path, encoding="utf-8") as sink:
        yield sink


def _remove_written(folder: Path) -> None:
    """Delete what the marker of `folder` lists, the marker, then the folder if nothing else is left in it."""
    written = written_by_export(folder) or set()
    for name in sorted(written, key=lambda n: n.count("/"), reverse=True):
        entry = folder / name
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir() and not entry.is_symlink():
                with contextlib.suppress(OSError):
                    entry.rmdir()
            else:
                entry.unlink()
    (folder / MARKER).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _swap(tmp: Path, target: Path, shown: Path) -> None:
    """Put the new folder `tmp` in the place of `target`; delete only what export wrote in the old one."""
    written = sorted(_entries(tmp))
    (tmp / MARKER).write_text(json.dumps({"written_by": "annotator export", "written": written}) + "\n",
                              encoding="utf-8")
    if not target.is_dir():
        os.rename(tmp, target)
        return
    replaceable(target, shown)
    aside = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(aside, target)
        raise
    _remove_written(aside)


@contextlib.contextmanager
def replacing_dir(path: Path) -> Iterator[Path]:
    """A new folder beside the folder `path` names; it takes that folder's place when the block succeeds.

    The block writes into the new folder; a marker listing what it wrote is added.
    The old folder (empty, or a dataset export wrote) is moved aside, the new one
    put in its place, then only what the old marker lists is deleted.
    """
    target = resolved(path)
    with writing(str(path)):
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        with writing(str(path)):
            yield tmp
            _swap(tmp, target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
