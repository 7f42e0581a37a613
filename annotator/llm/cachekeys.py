"""Response-cache keys: the hash of a request's canonical JSON.

`cache_key(params)` is the definition. `RequestKeys` gives the same key for the many
requests of a run that differ only in their messages, without serialising the constant
part (model, settings, the JSON schema) again for every sentence; the messages that
every request shares (the system turn, worked examples) are serialised once too, and
hashed once: a request's key hashes only its own last turn and what follows it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ..hashing import canonical_json, content_hash


def cache_key(params: Mapping[str, Any]) -> str:
    """Hash of everything that changes the output: model, messages, schema/mode, parameters."""
    return content_hash(params)


@lru_cache(maxsize=512)
def _chat_turn(role: str, content: str) -> str:
    """Canonical JSON of a {"role", "content"} message (the shared turns are met again and again)."""
    return canonical_json({"role": role, "content": content})


def _message(message: Mapping[str, Any]) -> str:
    if len(message) == 2 and isinstance(message.get("role"), str) and isinstance(message.get("content"), str):
        return _chat_turn(message["role"], message["content"])
    return canonical_json(message)


class RequestKeys:
    """`cache_key({**base, "messages": messages, **extra})`, with `base`'s JSON made once.

    Without `extra`, the JSON up to the messages and the turns before the last are hashed
    once (the hash's state is copied for each key): requests that share those turns hash
    only their last turn and the JSON after the messages.
    """

    def __init__(self, base: Mapping[str, Any]) -> None:
        self._pieces = {key: canonical_json(value) for key, value in base.items() if key != "messages"}
        names = sorted([*self._pieces, "messages"])
        at = names.index("messages")
        self._head = "".join(f"{canonical_json(name)}:{self._pieces[name]}," for name in names[:at])
        self._tail = "".join(f",{canonical_json(name)}:{self._pieces[name]}" for name in names[at + 1:]) + "}"
        self._lead: tuple[tuple[str, ...], Any] | None = None  # (the turns before the last, the hash up to them)

    def key(self, messages: Sequence[Mapping[str, Any]], extra: Mapping[str, Any] | None = None) -> str:
        if extra or not messages:
            return self._key(messages, extra)
        turns = [_message(m) for m in messages]
        lead = self._lead  # one read: another thread may replace it meanwhile
        if lead is None or lead[0] != tuple(turns[:-1]):
            state = hashlib.sha256(("{" + self._head + '"messages":[' + "".join(t + "," for t in turns[:-1])
                                    ).encode("utf-8"))
            lead = self._lead = (tuple(turns[:-1]), state)
        state = lead[1].copy()
        state.update((turns[-1] + "]" + self._tail).encode("utf-8"))
        return state.hexdigest()

    def _key(self, messages: Sequence[Mapping[str, Any]], extra: Mapping[str, Any] | None) -> str:
        pieces = {**self._pieces, "messages": "[" + ",".join(_message(m) for m in messages) + "]"}
        for name, value in (extra or {}).items():
            pieces[name] = canonical_json(value)
        blob = "{" + ",".join(f"{canonical_json(name)}:{pieces[name]}" for name in sorted(pieces)) + "}"
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()
