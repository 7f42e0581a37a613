"""Read documents from .txt, .jsonl and .csv files, folders and stdin.

Every bad input is a `Problem` (where, one-line cause and fix) and reading goes on
with the next record or file: one bad byte, quote or field never costs the rest.
Text is decoded by its byte-order mark (UTF-8, UTF-16, UTF-32), else as UTF-8.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SUPPORTED = (".txt", ".jsonl", ".csv")
_TERMINAL = (".", "!", "?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class DocInput:
    """One document as read, before it is stored; `where` is its file (and line)."""

    text: str
    origin: str
    external_id: str | None = None
    title: str | None = None
    source: str | None = None
    headline: bool = False
    where: str = ""


@dataclass
class Problem:
    """Input that could not be read: where, and why (one line)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def normalize(text: str) -> str:
    """Unify line endings and drop a byte-order mark, so equal content hashes equal."""
    return text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n")


def encoding_of(head: bytes) -> str:
    """The encoding a byte-order mark names, else utf-8."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), "utf-8")


def decode(data: bytes) -> str:
    """Bytes -> text by the byte-order mark, else UTF-8; ValueError with a one-line reason."""
    encoding = encoding_of(data[:4])
    if encoding == "utf-8" and b"\x00" in data[:8192]:
        raise ValueError("looks binary (contains NUL bytes); pass a text file (UTF-8, or UTF-16 with a BOM)")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise ValueError(f"line {line}: not valid {name} (byte {exc.start}); re-save the file as UTF-8") from exc


def surrogate_problem(value: Any) -> str | None:
    """Why a decoded string cannot be stored (a lone surrogate, e.g. from a JSON "\\ud800"), or None."""
    if isinstance(value, str) and (m := _SURROGATE.search(value)):
        return (f"holds a lone surrogate (\\u{ord(m.group()):04x}) at character {m.start()}, which is not text; "
                "remove the escape or the byte")
    return None


def _looks_like_headline(line: str, rest: str) -> bool:
    """A short first line without sentence-final punctuation, followed by body text."""
    line = line.strip()
    return bool(line) and bool(rest.strip()) and len(line) <= 200 and not line.endswith(_TERMINAL)


def from_text(text: str, origin: str, external_id: str | None) -> DocInput:
    """A plain-text document; a headline first line becomes its own sentence."""
    text = normalize(text).strip()
    first, _, rest = text.partition("\n")
    if _looks_like_headline(first, rest):
        return DocInput(f"{first.strip()}\n\n{rest.strip()}", origin, external_id, first.strip(), headline=True,
                        where=origin)
    return DocInput(text, origin, external_id, where=origin)


def from_record(rec: dict, where: str, origin: str) -> DocInput:
    """A JSONL or CSV record with `text` and optional `id`, `title`, `source`."""
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no text: each record needs a non-empty \"text\" field")
    for key in ("text", "title", "source", "id"):
        problem = surrogate_problem(rec.get(key))
        if problem:
            raise ValueError(f"{key} {problem}")
    title = rec.get("title")
    title = normalize(str(title)).strip() if title not in (None, "") else None
    body = normalize(text).strip()
    ext = rec.get("id")
    full = f"{title}\n\n{body}" if title else body
    return DocInput(full, origin, None if ext in (None, "") else str(ext), title,
                    None if rec.get("source") in (None, "") else str(rec["source"]), headline=bool(title),
                    where=where)


def _record(line: str, where: str, origin: str) -> DocInput | Problem:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        return Problem(where, f"not JSON ({exc.msg}); each line must be one JSON object")
    if not isinstance(rec, dict):
        return Problem(where, "not a JSON object; each line must be {\"text\": ...}")
    try:
        return from_record(rec, where, origin)
    except ValueError as exc:
        return Problem(where, str(exc))


def jsonl_lines(lines: Iterable[str], origin: str) -> Iterator[DocInput | Problem]:
    """Documents from JSON Lines already decoded."""
    seen = False
    for n, line in enumerate(lines, 1):
        if line.strip():
            seen = True
            yield _record(line, f"{origin}:{n}", origin)
    if not seen:
        yield Problem(origin, "empty file; nothing to ingest")


def _jsonl_file(fh: IO[bytes], origin: str) -> Iterator[DocInput | Problem]:
    """Documents from a JSON Lines byte stream, line by line: a bad byte costs its line only."""
    head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
    encoding = encoding_of(head)
    if encoding not in ("utf-8", "utf-8-sig"):
        try:
            text = decode(fh.read())
        except ValueError as exc:
            yield Problem(origin, str(exc))
            return
        yield from jsonl_lines(normalize(text).split("\n"), origin)
        return

    seen = False
    for n, raw in enumerate(fh, 1):
        where = f"{origin}:{n}"
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            seen = True
            yield Problem(where, f"not valid UTF-8 (byte {exc.start} of the line); re-save the line as UTF-8")
            continue
        if line.strip():
            seen = True
            yield _record(line, where, origin)
    if not seen:
        yield Problem(origin, "empty file; nothing to ingest")


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def csv_records(text: str, origin: str) -> Iterator[DocInput | Problem]:
    """Documents from CSV text with a header row.

    Parsed strictly, so an unterminated quote is an error rather than a silent merge
    of the rows after it; after a bad record, reading restarts on the line after the
    one it began on, so every following row is kept. Problems name the line the
    record starts on.
    """
    lines = text.splitlines(keepends=True)
    header = next(csv.reader(lines[:1]), []) if lines else []
    if "text" not in header:
        yield Problem(origin, f"no 'text' column (columns: {', '.join(header)}); add a header row with text")
        return
    with _csv_field_limit(sys.maxsize // 2 if sys.maxsize < 2**63 else 2**31 - 1):
        start = 1  # index in `lines` where the reader starts
        while start < len(lines):
            reader = csv.reader(lines[start:], strict=True)
            consumed = 0  # lines of `lines[start:]` read before the current record
            try:
                for row in reader:
                    where, consumed = f"{origin}:{start + consumed + 1}", reader.line_num
                    yield from _csv_row(header, row, where, origin)
                return
            except csv.Error as exc:
                yield Problem(f"{origin}:{start + consumed + 1}",
                              f"bad CSV ({exc}); close the quote or escape it as \"\"")
                start += consumed + 1


def _csv_row(header: list[str], row: list[str], where: str, origin: str) -> Iterator[DocInput | Problem]:
    if not any(cell.strip() for cell in row):
        return
    if len(row) != len(header):
        yield Problem(where, f"{len(row)} fields where the header has {len(header)}; quote fields that hold commas")
        return
    try:
        yield from_record(dict(zip(header, row, strict=True)), where, origin)
    except ValueError as exc:
        yield Problem(where, str(exc))


def _expand(paths: Iterable[str]) -> Iterator[str]:
    """Paths with folders replaced by the supported files inside them."""
    for p in paths:
        path = Path(p)
        if p != "-" and path.is_dir():
            yield from sorted(str(f) for f in path.rglob("*") if f.suffix.lower() in SUPPORTED and f.is_file())
        else:
            yield p


def _stdin(stdin: Any) -> Iterator[DocInput | Problem]:
    """Documents from standard input: JSON Lines if it starts with `{`, else one text document."""
    stream = stdin if stdin is not None else sys.stdin
    data = getattr(stream, "buffer", stream).read()
    try:
        text = normalize(decode(data) if isinstance(data, bytes) else data)
    except ValueError as exc:
        yield Problem("<stdin>", str(exc))
        return
    problem = surrogate_problem(text)
    if not text.strip():
        yield Problem("<stdin>", "empty input; pipe some text or JSON Lines in")
    elif text.lstrip().startswith("{"):
        yield from jsonl_lines(text.split("\n"), "<stdin>")
    elif problem:
        yield Problem("<stdin>", f"the text {problem}")
    else:
        yield from_text(text, "<stdin>", None)


def _file(p: str) -> Iterator[DocInput | Problem]:
    path = Path(p)
    suffix = path.suffix.lower()
    if not path.exists():
        yield Problem(p, "file not found; check the path")
        return
    if suffix not in SUPPORTED:
        yield Problem(p, f"unsupported file type {suffix or '(none)'}; use .txt, .jsonl or .csv")
        return
    try:
        if suffix == ".jsonl":  # streamed: memory stays flat in file size
            with path.open("rb") as fh:
                yield from _jsonl_file(fh, p)
            return
        text = normalize(decode(path.read_bytes()))
    except (OSError, ValueError) as exc:
        yield Problem(p, str(exc) if isinstance(exc, ValueError) else f"cannot read ({exc.strerror}); check it")
        return
    if not text.strip():
        yield Problem(p, "empty file; nothing to ingest")
    elif suffix == ".txt":
        yield from_text(text, p, path.name)
    else:
        yield from csv_records(text, p)


def read_inputs(paths: Iterable[str], stdin: Any = None) -> Iterator[DocInput | Problem]:
    """Every document in `paths` (files, folders, `-` for stdin), or a Problem per bad input."""
    for p in _expand(paths):
        yield from (_stdin(stdin) if p == "-" else _file(p))
