"""Versioned prompt templates (`NAME.vN.j2`) rendered into chat messages.

A released template never changes: its text is hashed, the built-in ones against
`RELEASED` below, and every template against the `prompts` table of the database
it is used with. A change means a new version file.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import sqlite_utils

from .errors import InputError
from .resources import resource_dir
from .schema import Schema
from .store import now

_ROLE_LINE = re.compile(r"^=== (system|user|assistant) ===$", re.MULTILINE)
_LAST_USER = re.compile(r"^=== user ===$", re.MULTILINE)

RELEASED = {
    "generic.v1": "da17454a0fed4c1e3240e012a1d3ddf2e32039796f99ba4c8bef7c37475df21e",
    "news_events.v1": "2bc666010488b001b48887e2237e34c4dd12049fba7617530444e846f740aca7",
    "news_events.v2": "f67f04461a03ddbe3ff3d65002e4e3477c580cbefc54efad93dbb9664dfaef7a",
    "news_events_compact.v1": "d7090acd94ed0e9fbddbb9db69f437da182ee5bb2a6cf677a943e87f0e9ee695",
    "news_events_v2.v1": "23aa1a0e71c6e8ec40b5512ccd615d8e2fdd59f65e430fa31f045730930be3a2",
}
"""sha256 of every released built-in template; the test suite checks each file against it."""


@dataclass(frozen=True)
class WorkedExample:
    """A solved sentence shown before the one to annotate: its user turn, rendered like the sentence's, then its answer."""

    sentence: str
    answer: str
    """The reply the model should have given: the gold annotation as JSON."""
    headline: str | None = None
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


def sha256(text: str) -> str:
    """The hash a template's text is known by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Prompt:
    """A loaded template; `version` (its file stem) is stored with every draft, `sha256` in `prompts`."""

    version: str
    text: str
    sha256: str
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @functools.cached_property
    def _parts(self) -> tuple[jinja2.Template, jinja2.Template | None, jinja2.Template | None]:
        """(whole template, the part before the last user turn, the last user turn); None where it cannot split."""
        env = _env()
        whole = env.from_string(self.text)
        starts = [m.start() for m in _LAST_USER.finditer(self.text)]
        if not starts:
            return whole, None, None
        try:  # a split inside a block does not compile: render the whole template then
            return whole, env.from_string(self.text[:starts[-1]]), env.from_string(self.text[starts[-1]:])
        except jinja2.TemplateSyntaxError:
            return whole, None, None

    def messages(self, schema: Schema, sentence: str, headline: str | None = None,
                 context: list[str] | None = None, include_schema: bool = False,
                 after: list[str] | None = None, examples: Sequence[WorkedExample] = ()) -> list[dict]:
        """Render the chat messages for one sentence.

        The turns before the last user message do not depend on the sentence: they are
        rendered once per (schema, include_schema) and reused. `examples`, when given,
        take the place of the template's own worked examples (every turn between the
        system message and the sentence's): each is a user turn rendered as the
        sentence's is, then its answer as the assistant's turn.
        """
        messages = self._render(schema, sentence, headline, context, include_schema, after)
        if not examples:
            return messages
        turns: list[dict] = []
        for example in examples:
            shown = self._render(schema, example.sentence, example.headline, list(example.before), include_schema,
                                 list(example.after))
            turns += [shown[-1], {"role": "assistant", "content": example.answer}]
        lead = list(itertools.takewhile(lambda m: m["role"] == "system", messages[:-1]))
        return [*lead, *turns, messages[-1]]

    def _render(self, schema: Schema, sentence: str, headline: str | None, context: list[str] | None,
                include_schema: bool, after: list[str] | None) -> list[dict]:
        variables = {"fields": schema.fields, "sentence": sentence, "headline": headline,
                     "context": context or [], "after": after or [],
                     "schema_json": json.dumps(schema.llm_json_schema()) if include_schema else ""}
        whole, head, tail = self._parts
        if head is not None and tail is not None:
            key = (schema.hash, include_schema)
            try:
                prefix = self._cache.get(key)
                if prefix is None:
                    prefix = self._cache[key] = split_messages(head.render(**variables), last_is_user=False)
                return [*prefix, *split_messages(tail.render(**variables))]
            except jinja2.UndefinedError:
                pass  # the last turn uses something set earlier in the template
        return split_messages(whole.render(**variables))


def split_messages(text: str, last_is_user: bool = True) -> list[dict]:
    """Turn `=== role ===` sections into chat messages, in order."""
    parts = _ROLE_LINE.split(text)
    if parts[0].strip():
        raise InputError("prompt template has text before its first '=== system ===' line")
    messages = [{"role": role, "content": body.strip()} for role, body in zip(parts[1::2], parts[2::2], strict=True)]
    if last_is_user and (not messages or messages[-1]["role"] != "user"):
        raise InputError("prompt template must end with a '=== user ===' section")
    return messages


@functools.cache
def _env() -> jinja2.Environment:
    """A strict environment: an undefined variable is an error, not an empty string."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _version_key(path: Path) -> tuple[int, str]:
    """Sort key so that v10 comes after v9."""
    m = re.search(r"\.v(\d+)$", path.stem)
    return (int(m.group(1)) if m else -1, path.stem)


def _read(path: Path, version: str, builtin: bool) -> Prompt:
    text = path.read_text(encoding="utf-8")
    digest = sha256(text)
    if builtin and version in RELEASED and RELEASED[version] != digest:
        raise InputError(f"the built-in prompt {version} was edited (sha256 {digest[:12]}, released "
                         f"{RELEASED[version][:12]}); released prompts never change: restore it and copy "
                         f"the change to a new version")
    try:
        _env().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"prompt {path}: line {exc.lineno}: {exc.message}; fix the template") from exc
    return Prompt(version, text, digest)


def load_prompt(ref: str | None, schema_name: str) -> Prompt:
    """Load by version name (`news_events.v1`), by path, or the newest for the schema."""
    if ref and (ref.endswith(".j2") or Path(ref).is_file()):
        path = Path(ref)
        if not path.is_file():
            raise InputError(f"prompt file {ref} not found; check the path")
        return _read(path, path.name.removesuffix(".j2"), builtin=False)
    folder = resource_dir("prompts")
    if ref:
        path = folder / f"{ref}.j2"
        if not path.is_file():
            names = ", ".join(sorted(p.stem for p in folder.glob("*.j2")))
            raise InputError(f"unknown prompt {ref!r}; available: {names}, or pass a .j2 file")
    else:
        candidates = sorted(folder.glob(f"{schema_name}.v*.j2"), key=_version_key)
        path = candidates[-1] if candidates else folder / "generic.v1.j2"
    return _read(path, path.stem, builtin=True)


def register_prompt(db: sqlite_utils.Database, prompt: Prompt) -> None:
    """Record the prompt's text on first use; a version whose text changed since is an error."""
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO prompts (version, sha256, text, created_at) VALUES (?, ?, ?, ?)",
                   [prompt.version, prompt.sha256, prompt.text, now()])
    stored = db.execute("SELECT sha256 FROM prompts WHERE version = ?", [prompt.version]).fetchone()[0]
    if stored != prompt.sha256:
        raise InputError(
            f"prompt {prompt.version} changed since this database first used it (sha256 {prompt.sha256[:12]}, "
            f"recorded {stored[:12]}); a used prompt never changes: copy it to a new version (e.g. "
            f"{_next_version(prompt.version)}.j2) and use that"
        )


def _next_version(version: str) -> str:
    m = re.search(r"^(.*)\.v(\d+)$", version)
    return f"{m.group(1)}.v{int(m.group(2)) + 1}" if m else f"{version}.v2"
