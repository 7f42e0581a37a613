"""The LLM edge: everything that talks to an OpenAI-compatible server, or remembers what it said.

    client.py       `LLMClient`: chat requests sent with transport retries, through the rate gate
    errors.py       what can go wrong (ModeRejected, TransportFailed, ...) and which error a failure is
    modes.py        pure: structured-output modes and the request each one sends
    completions.py  pure: chat-completion replies as plain data
    cachekeys.py    response-cache keys: the hash of a request's canonical JSON
    cache.py        the response cache in SQLite: answers read by key, written with their draft
    ratelimit.py    pure: what a server says about its rate limits
    limiter.py      requests in flight under a server's rate limits: additive increase, halve on 429

The names below are importable from `annotator.llm` itself (`from annotator.llm import
LLMClient`). They are loaded on first use: the command line imports `modes` at start,
which must not load the HTTP client with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..errors import LLMError
    from .cache import CacheReader, cached_response, store_answers
    from .cachekeys import RequestKeys, cache_key
    from .client import LLMClient
    from .completions import Completion
    from .errors import (
        FatalLLMError,
        LogprobsRefused,
        ModeRejected,
        NotACompletion,
        Stopped,
        TransportFailed,
    )
    from .limiter import AdaptiveLimiter
    from .modes import MODES, request_params
    from .ratelimit import RateInfo, RequestGate

__all__ = [
    "MODES", "AdaptiveLimiter", "CacheReader", "Completion", "FatalLLMError", "LLMClient", "LLMError",
    "LogprobsRefused", "ModeRejected", "NotACompletion", "RateInfo", "RequestGate", "RequestKeys", "Stopped",
    "TransportFailed", "cache_key", "cached_response", "request_params", "store_answers",
]

_HOME = {
    "LLMClient": "client",
    "LLMError": "errors", "FatalLLMError": "errors", "LogprobsRefused": "errors", "ModeRejected": "errors",
    "NotACompletion": "errors", "Stopped": "errors", "TransportFailed": "errors",
    "MODES": "modes", "request_params": "modes",
    "Completion": "completions",
    "RequestKeys": "cachekeys", "cache_key": "cachekeys",
    "CacheReader": "cache", "cached_response": "cache", "store_answers": "cache",
    "RateInfo": "ratelimit", "RequestGate": "ratelimit",
    "AdaptiveLimiter": "limiter",
}
"""The module each name of `__all__` lives in."""


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
