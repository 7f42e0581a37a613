"""Canonical JSON, and the hashes made of it: ids, keys and schema hashes that must never change.

`canonical_json(value)` is the one spelling: keys sorted, no spaces, text as UTF-8
(non-ASCII characters as themselves). Content ids (`store.content_id`) and cache
keys (`cachekeys`) hash it as it is. Two hashes were first written with Python's
other defaults and keep them, through two explicit parameters:

- `ascii=True` writes non-ASCII characters as \\uXXXX escapes: the schema hash
  (`Schema.hash`) and the run key (`LLMClient.run_key`);
- `spaced=True` writes json's default ", " and ": " separators: the run key.

Every stored id and key is one of these hashes, so none of them may change: a
changed schema hash refuses a project, a changed run key or cache key pays for
drafts again. tests/test_hashing.py pins each hash of fixed inputs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

_ENCODERS = {(ascii, spaced): json.JSONEncoder(sort_keys=True, ensure_ascii=ascii,
                                               separators=(", ", ": ") if spaced else (",", ":")).encode
             for ascii in (False, True) for spaced in (False, True)}


def canonical_json(value: Any, *, ascii: bool = False, spaced: bool = False) -> str:
    """`value` as JSON with sorted keys, no spaces and UTF-8 text; `ascii`, `spaced`: see the module."""
    return _ENCODERS[ascii, spaced](value)


def content_hash(value: Any, *, length: int | None = None, ascii: bool = False, spaced: bool = False) -> str:
    """The sha256 of `canonical_json(value)` (as UTF-8) in hex, its first `length` digits when given."""
    digest = hashlib.sha256(canonical_json(value, ascii=ascii, spaced=spaced).encode("utf-8")).hexdigest()
    return digest[:length] if length else digest
