"""Versioned prompt templates (`NAME.vN.j2`) rendered into chat messages."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .errors import InputError
from .resources import resource_dir
from .schema import Schema

_ROLE_LINE = re.compile(r"^=== (system|user|assistant) ===$", re.MULTILINE)
CONTEXT_SENTENCES = 3


@dataclass(frozen=True)
class Prompt:
    """A loaded template; `version` is its file stem and is stored with every draft."""

    version: str
    template: jinja2.Template

    def messages(self, schema: Schema, sentence: str, headline: str | None = None,
                 context: list[str] | None = None, include_schema: bool = False) -> list[dict]:
        """Render the chat messages for one sentence."""
        text = self.template.render(
            fields=schema.fields,
            schema_json=json.dumps(schema.llm_json_schema()) if include_schema else "",
            sentence=sentence,
            headline=headline,
            context=context or [],
        )
        return split_messages(text)


def split_messages(text: str) -> list[dict]:
    """Turn `=== role ===` sections into chat messages, in order."""
    parts = _ROLE_LINE.split(text)
    if parts[0].strip():
        raise InputError("prompt template has text before its first '=== system ===' line")
    messages = [{"role": role, "content": body.strip()} for role, body in zip(parts[1::2], parts[2::2], strict=True)]
    if not messages or messages[-1]["role"] != "user":
        raise InputError("prompt template must end with a '=== user ===' section")
    return messages


def _env(folder: Path) -> jinja2.Environment:
    """A strict environment: an undefined variable is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False,
    )


def _version_key(path: Path) -> tuple[int, str]:
    """Sort key so that v10 comes after v9."""
    m = re.search(r"\.v(\d+)$", path.stem)
    return (int(m.group(1)) if m else -1, path.stem)


def load_prompt(ref: str | None, schema_name: str) -> Prompt:
    """Load by version name (`news_events.v1`), by path, or the newest for the schema."""
    if ref and (ref.endswith(".j2") or Path(ref).is_file()):
        path = Path(ref)
        if not path.is_file():
            raise InputError(f"prompt file {ref} not found; check the path")
        return Prompt(path.name.removesuffix(".j2"), _env(path.parent).get_template(path.name))
    folder = resource_dir("prompts")
    if ref:
        path = folder / f"{ref}.j2"
        if not path.is_file():
            names = ", ".join(sorted(p.stem for p in folder.glob("*.j2")))
            raise InputError(f"unknown prompt {ref!r}; available: {names}, or pass a .j2 file")
    else:
        candidates = sorted(folder.glob(f"{schema_name}.v*.j2"), key=_version_key)
        path = candidates[-1] if candidates else folder / "generic.v1.j2"
    return Prompt(path.stem, _env(folder).get_template(path.name))


def context_for(sentences: list[str], index: int, headline: str | None) -> list[str]:
    """The sentences just before `index` (not the headline, which is passed on its own)."""
    earlier = sentences[max(0, index - CONTEXT_SENTENCES):index]
    return [s for s in earlier if s != headline]
