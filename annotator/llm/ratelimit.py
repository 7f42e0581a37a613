"""What a server says about its rate limits: Retry-After and the x-ratelimit-* headers, read into plain data.

OpenAI (and vLLM or LiteLLM proxies that copy it) sends, with every reply:
`x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`
and the same three for `-tokens`; the reset is a duration such as `1s`, `6m0s` or `20ms`.
A 429 carries `Retry-After` (seconds) or `retry-after-ms`. Nothing here sends a request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class RateInfo:
    """One reply's status and what it said about the limits (None where it said nothing)."""

    status: int
    retry_after: float | None = None
    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None  # seconds until the request budget is full again
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None
    tokens_used: int | None = None  # prompt + completion tokens of this request, when it succeeded

    @property
    def throttled(self) -> bool:
        """The server refused the request for its rate limit."""
        return self.status == 429


def parse_duration(text: str | None) -> float | None:
    """Seconds in `1s`, `6m0s`, `59.5ms`, `1h2m3.5s` or a plain number; None when it is none of these."""
    if text is None:
        return None
    text = text.strip().lower()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _SCALE[u] for n, u in parts)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked to wait (`retry-after-ms` first, then `retry-after` in seconds; lower-case names).

    An HTTP date is ignored (None): the caller backs off on its own then.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds is not None:
        try:
            return max(0.0, float(seconds))
        except ValueError:
            return None
    return None


def rate_info(status: int, headers: Mapping[str, str] | None, tokens_used: int | None = None) -> RateInfo:
    """The limits a reply's headers state (header names in any case)."""
    h = {k.lower(): v for k, v in (headers or {}).items()}
    return RateInfo(
        status=status, retry_after=retry_after(h),
        limit_requests=_int(h.get("x-ratelimit-limit-requests")),
        remaining_requests=_int(h.get("x-ratelimit-remaining-requests")),
        reset_requests=parse_duration(h.get("x-ratelimit-reset-requests")),
        limit_tokens=_int(h.get("x-ratelimit-limit-tokens")),
        remaining_tokens=_int(h.get("x-ratelimit-remaining-tokens")),
        reset_tokens=parse_duration(h.get("x-ratelimit-reset-tokens")),
        tokens_used=tokens_used,
    )


class RequestGate(Protocol):
    """Decides when the client may send its next request (annotate's adaptive limiter is one)."""

    def acquire(self, stopping: threading.Event) -> float | None:
        """Block until a request may go; the send time, or None when `stopping` was set meanwhile."""

    async def wait_turn(self, stopping: threading.Event) -> float | None:
        """`acquire` for a coroutine on the event loop that also calls `release`."""

    def release(self, sent_at: float, info: RateInfo | None) -> None:
        """The request sent at `sent_at` is over; `info` is what its reply said (None: no reply)."""
