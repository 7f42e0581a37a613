"""Read documents from files or stdin, split them into sentences with offsets, store both."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nupunkt
import sqlite_utils

from .store import content_id, now

SUPPORTED = (".txt", ".jsonl", ".csv")
_TERMINAL = ('.', '!', '?', '"', "'", "”", "’", ":")
# Paragraph breaks: a blank line, or a line break right after sentence-final punctuation
# (wire copy often has one paragraph per line; hard-wrapped lines mid-sentence stay joined).
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*|(?<=[.!?\"'”’:])[ \t]*\n\s*")


@dataclass
class DocInput:
    """One document as read, before it is stored."""

    text: str
    origin: str
    external_id: str | None = None
    title: str | None = None
    source: str | None = None
    headline: bool = False


@dataclass
class Problem:
    """Input that could not be read: where, and why (one line)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class IngestReport:
    """What an ingest run did."""

    documents_new: int = 0
    documents_seen: int = 0
    sentences_new: int = 0
    problems: list[Problem] = field(default_factory=list)


def normalize(text: str) -> str:
    """Unify line endings and drop a byte-order mark, so equal content hashes equal."""
    return text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, where: str) -> str:
    """Bytes -> text, or ValueError with a one-line reason."""
    if b"\x00" in data[:8192]:
        raise ValueError("looks binary (contains NUL bytes); pass a UTF-8 text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"line {line}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8") from exc


def _looks_like_headline(line: str, rest: str) -> bool:
    """A short first line without sentence-final punctuation, followed by body text."""
    line = line.strip()
    return bool(line) and bool(rest.strip()) and len(line) <= 200 and not line.endswith(_TERMINAL[:3])


def _from_text(text: str, origin: str, external_id: str | None) -> DocInput:
    """A plain-text document; a headline first line becomes its own sentence."""
    text = normalize(text).strip()
    first, _, rest = text.partition("\n")
    if _looks_like_headline(first, rest):
        return DocInput(f"{first.strip()}\n\n{rest.strip()}", origin, external_id, first.strip(), headline=True)
    return DocInput(text, origin, external_id)


def _from_record(rec: dict, where: str, origin: str) -> DocInput:
    """A JSONL or CSV record with `text` and optional `id`, `title`, `source`."""
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no text: each record needs a non-empty \"text\" field")
    title = rec.get("title")
    title = normalize(str(title)).strip() if title not in (None, "") else None
    body = normalize(text).strip()
    ext = rec.get("id")
    full = f"{title}\n\n{body}" if title else body
    return DocInput(full, origin, None if ext in (None, "") else str(ext), title,
                    None if rec.get("source") in (None, "") else str(rec["source"]), headline=bool(title))


def _scan(path: Path) -> bool:
    """Check a file the way `_decode` does, streaming it; True if it holds more than whitespace.

    Raises ValueError with the same one-line reasons as `_decode`.
    """
    with path.open("rb") as f:
        if b"\x00" in f.read(8192):
            raise ValueError("looks binary (contains NUL bytes); pass a UTF-8 text file")
        f.seek(0)
        content, offset = False, 0
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                offset = -len(codecs.BOM_UTF8)  # byte positions count after the BOM, as in `_decode`
            try:
                text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                at = exc.start if n == 1 else offset + exc.start
                raise ValueError(f"line {n}: not valid UTF-8 (byte {at}); re-save the file as UTF-8") from exc
            content = content or bool(text.strip())
            offset += len(raw)
    return content


def _file_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file (checked by `_scan`), read lazily: `normalize(text).splitlines()`."""
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            # Each piece ends at a b"\n", so no line break or UTF-8 sequence is cut in two.
            yield from normalize(raw.decode("utf-8-sig" if n == 1 else "utf-8")).splitlines()


def _jsonl(lines: Iterable[str], origin: str) -> Iterator[DocInput | Problem]:
    """Documents from JSON Lines."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{origin}:{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(where, f"not JSON ({exc.msg}); each line must be one JSON object")
            continue
        if not isinstance(rec, dict):
            yield Problem(where, "not a JSON object; each line must be {\"text\": ...}")
            continue
        try:
            yield _from_record(rec, where, origin)
        except ValueError as exc:
            yield Problem(where, str(exc))


def _csv(text: str, origin: str) -> Iterator[DocInput | Problem]:
    """Documents from CSV text with a header row."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        yield Problem(origin, f"no 'text' column (columns: {', '.join(reader.fieldnames or [])}); add a header row with text")
        return
    try:
        for rec in reader:
            where = f"{origin}:{reader.line_num}"
            try:
                yield _from_record(rec, where, origin)
            except ValueError as exc:
                yield Problem(where, str(exc))
    except csv.Error as exc:
        yield Problem(f"{origin}:{reader.line_num}", f"bad CSV ({exc})")


def _expand(paths: Iterable[str]) -> Iterator[str]:
    """Paths with folders replaced by the supported files inside them."""
    for p in paths:
        path = Path(p)
        if p != "-" and path.is_dir():
            yield from sorted(str(f) for f in path.rglob("*") if f.suffix.lower() in SUPPORTED and f.is_file())
        else:
            yield p


def read_inputs(paths: Iterable[str], stdin: io.TextIOBase | None = None) -> Iterator[DocInput | Problem]:
    """Every document in `paths` (files, folders, `-` for stdin), or a Problem per bad input."""
    for p in _expand(paths):
        if p == "-":
            text = normalize((stdin or sys.stdin).read())
            if not text.strip():
                yield Problem("<stdin>", "empty input; pipe some text or JSON Lines in")
            elif text.lstrip().startswith("{"):
                yield from _jsonl(text.splitlines(), "<stdin>")
            else:
                yield _from_text(text, "<stdin>", None)
            continue
        path = Path(p)
        suffix = path.suffix.lower()
        if not path.exists():
            yield Problem(p, "file not found; check the path")
            continue
        if suffix not in SUPPORTED:
            yield Problem(p, f"unsupported file type {suffix or '(none)'}; use .txt, .jsonl or .csv")
            continue
        if suffix == ".jsonl":
            # Streamed (checked in a first pass, then read line by line): memory stays flat in file size.
            try:
                content = _scan(path)
            except (OSError, ValueError) as exc:
                yield Problem(p, str(exc))
                continue
            if not content:
                yield Problem(p, "empty file; nothing to ingest")
                continue
            yield from _jsonl(_file_lines(path), p)
            continue
        try:
            text = _decode(path.read_bytes(), p)
        except (OSError, ValueError) as exc:
            yield Problem(p, str(exc))
            continue
        if not text.strip():
            yield Problem(p, "empty file; nothing to ingest")
            continue
        if suffix == ".txt":
            yield _from_text(text, p, path.name)
        else:
            yield from _csv(normalize(text), p)


def split_sentences(text: str, headline: bool = False) -> list[tuple[int, int]]:
    """(start, end) of every sentence in `text`, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    if headline:
        end = text.find("\n")
        end = len(text) if end < 0 else end
        spans.append((0, len(text[:end].rstrip())))
        pos = end
    paragraphs = []
    for m in _PARAGRAPH_BREAK.finditer(text, pos):
        paragraphs.append((pos, m.start()))
        pos = m.end()
    paragraphs.append((pos, len(text)))
    for p_start, p_end in paragraphs:
        chunk = text[p_start:p_end]
        if not chunk.strip():
            continue
        for _, (s, e) in nupunkt.sent_spans_with_text(chunk):
            piece = chunk[s:e]
            stripped = piece.strip()
            if not stripped:
                continue
            lead = len(piece) - len(piece.lstrip())
            start = p_start + s + lead
            spans.append((start, start + len(stripped)))
    return spans


def ingest(db: sqlite_utils.Database, docs: Iterable[DocInput | Problem], progress=None) -> IngestReport:
    """Store documents and their sentences; content-hash ids make a re-run add nothing."""
    report = IngestReport()
    for item in docs:
        if isinstance(item, Problem):
            report.problems.append(item)
            continue
        report.documents_seen += 1
        doc_id = content_id("document", item.text)
        if db["documents"].count_where("id = ?", [doc_id]):
            if progress:
                progress()
            continue
        sentences = [
            {"id": content_id("sentence", doc_id, s, e), "document_id": doc_id, "idx": i, "start": s,
             "end": e, "text": item.text[s:e], "is_headline": int(item.headline and i == 0)}
            for i, (s, e) in enumerate(split_sentences(item.text, item.headline))
        ]
        with db.conn:
            db["documents"].insert(
                {"id": doc_id, "external_id": item.external_id, "title": item.title, "source": item.source,
                 "origin": item.origin, "text": item.text, "created_at": now()},
                ignore=True,
            )
            db["sentences"].insert_all(sentences, ignore=True)
        report.documents_new += 1
        report.sentences_new += len(sentences)
        if progress:
            progress()
    return report
