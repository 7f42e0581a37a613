"""A token bucket for the stub LLM: R requests a minute, a burst of B, OpenAI's rate-limit headers."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """`per_minute` requests a minute refilled continuously, at most `burst` at once; thread-safe."""

    def __init__(self, per_minute: float, burst: float | None = None, clock=time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("rate_limit must be positive (requests a minute)")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, burst if burst is not None else self.rate)  # default: one second's worth
        self.clock = clock
        self._tokens = self.capacity
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> float | None:
        """Spend one request: None if allowed, else the seconds until one is available."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / self.rate

    def headers(self, retry_after: float | None = None) -> dict[str, str]:
        """OpenAI's x-ratelimit-*-requests headers as of now (and Retry-After on a refusal)."""
        with self._lock:
            self._refill()
            tokens = self._tokens
        headers = {"x-ratelimit-limit-requests": f"{self.capacity:g}",
                   "x-ratelimit-remaining-requests": str(int(tokens)),
                   "x-ratelimit-reset-requests": f"{(self.capacity - tokens) / self.rate * 1000:.0f}ms"}
        if retry_after is not None:
            headers["retry-after-ms"] = f"{retry_after * 1000:.0f}"
            headers["Retry-After"] = f"{max(1, round(retry_after))}"
        return headers
