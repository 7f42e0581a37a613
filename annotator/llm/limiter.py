"""Requests in flight under a server's rate limits: additive increase, halve on 429, pace on x-ratelimit headers.

Two mechanisms, one gate that every HTTP request of a run passes (`LLMClient.gate`):

- AIMD on the number of requests in flight: after a first few requests (`PROBE`), whose
  replies may carry the headers below, it opens to the run's `--concurrency` (the
  ceiling) at the first reply, or `PROBE_WAIT` after the first request when no reply
  has come by then (a slow server would otherwise cost the run a whole round), is halved by a 429 (once per burst: 429s for requests sent before the last
  halving do not count again), and grows back by one per window of successful replies
  (+1/limit per reply), then by a quarter from 80% of where the last 429 came. A 429's
  Retry-After also holds every new request until then.
- Pacing on the headers: when a reply says how many requests (or tokens) remain and
  when the budget is full again, the gate spends that budget as requests go out and
  waits for it to refill (at the rate the headers imply) instead of running into 429s.
  A reply's header may leave out requests still on their way (sent before it, counted
  after it was written): a reply raises the budget only as far as those allow. With
  nothing in flight, no reply is left to say more: once the reset has passed, a
  request goes.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .ratelimit import RateInfo

POLL = 0.1
"""Longest sleep between checks while waiting (a stop request is noticed this fast)."""
INCREASE = (1.0, 0.25)
"""Requests in flight added per window of successful replies (a window: as many replies as the limit): the
first below 80% of the limit where the last 429 came, the second above it (slow where the server said no)."""
SENDS_KEPT = 4096
"""Recent send times kept: more than a server's budget can hold in flight."""
PROBE = 4
"""Requests in flight before the first reply: it may say what the server allows (the x-ratelimit headers)."""
PROBE_WAIT = 0.25
"""Seconds after the first request the probe waits for a reply before opening anyway: a server answering
within it is heard before the run opens; a slower one costs the run this much, not a round of its latency
(a run of 30 rounds at 1 s then reaches 0.97 of the ideal). A rate-limited server answering later than this
may refuse a few requests of the opening burst: the 429s halve the limit and its headers pace the rest."""


@dataclass
class Budget:
    """One dimension (requests or tokens) of what the server allows, kept as a bucket on this side.

    The bucket is spent as requests go out and refills at the rate the headers imply. The server
    wrote a reply's header when it answered; requests sent before that one and still in flight may
    reach it (and be counted) only later. So a reply lowers the bucket to what it says remains, less
    what was sent after it, and raises it no further than that less those still in flight.
    """

    level: float | None = None  # what may be spent at `at` (None: the server never said)
    at: float = 0.0
    spent: float = 0.0  # sent since the last report
    refill: float | None = None  # per second, implied by limit, remaining and reset
    full_at: float = 0.0  # when the budget is full again (the reported reset)
    limit: float | None = None

    def observe(self, remaining: int | None, limit: int | None, reset: float | None, now: float,
                spent_since: float, unseen: float = 0.0) -> None:
        """Take the newest report (a reply without this header leaves the budget as it was).

        `spent_since` is what went out after the reported request was sent: the server may not
        have counted it when it wrote the header, so it counts as spent. `unseen` is what was sent
        before it and is still in flight: maybe counted, maybe not.
        """
        if remaining is None:
            return
        self._advance(now)
        self.limit = float(limit) if limit is not None else self.limit
        if reset is not None:
            self.full_at = now + reset
            # The remaining count is rounded down and the reset is not: the deficit is in (d - 1, d], so
            # (d - 1) / reset is a floor of the refill rate; the highest floor seen so far is the estimate.
            deficit = (self.limit or 0) - remaining
            if reset > 0 and deficit >= 2:
                self.refill = max(self.refill or 0.0, (deficit - 1) / reset)
        reported = remaining - spent_since
        self.level = reported - unseen if self.level is None else \
            max(min(self.level, reported), reported - unseen)
        self.at, self.spent = max(self.at, now), spent_since

    def spend(self, cost: float, now: float) -> None:
        """A request that costs `cost` went out at `now`."""
        if self.level is not None:
            self._advance(now)
            self.level -= cost
            self.spent += cost

    def _advance(self, now: float) -> None:
        if self.level is not None:
            self.level, self.at = self.available(now), max(self.at, now)

    def available(self, now: float) -> float:
        """What may still be spent now (infinite when the server never said)."""
        if self.level is None:
            return math.inf
        level = self.level
        if self.refill:
            level += self.refill * max(0.0, now - self.at)
        elif now >= self.full_at and self.limit is not None:
            level = max(level, self.limit - self.spent)  # full again, less what went out since the report
        return min(level, self.limit) if self.limit is not None else level

    def wait(self, cost: float, now: float, idle: bool = False) -> float:
        """Seconds until `cost` can be spent (0: now). `idle`: nothing is in flight, so no reply will come to
        say more; once the reset has passed a request goes (to learn where the budget stands)."""
        short = cost - self.available(now)
        if short <= 0:
            return 0.0
        if self.refill:
            return short / self.refill
        if self.full_at > now:
            return self.full_at - now
        return 0.0 if idle else POLL


@dataclass
class LimiterStats:
    """What the gate saw in a run."""

    sent: int = 0
    throttled: int = 0  # replies that were 429
    halvings: int = 0
    lowest: float = math.inf
    waited: float = 0.0  # seconds requests spent held back by pacing or Retry-After


@dataclass
class AdaptiveLimiter:
    """The gate of one run; safe from many threads."""

    ceiling: int
    floor: int = 1
    clock: Callable[[], float] = time.monotonic
    limit: float = field(init=False)
    in_flight: int = field(default=0, init=False)
    stats: LimiterStats = field(default_factory=LimiterStats, init=False)
    requests: Budget = field(default_factory=Budget, init=False)
    tokens: Budget = field(default_factory=Budget, init=False)
    _paused_until: float = field(default=0.0, init=False)
    _halved_at: float = field(default=-math.inf, init=False)
    _tokens_per_request: float = field(default=0.0, init=False)
    _replied: bool = field(default=False, init=False)
    _first_sent: float | None = field(default=None, init=False)  # when the probe's first request went
    _throttled_at: float = field(default=math.inf, init=False)  # the limit when the last 429 came
    _sends: list[float] = field(default_factory=list, init=False, repr=False)  # send times, for `spent_since`
    _out: list[float] = field(default_factory=list, init=False, repr=False)  # send times of those in flight
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _turns: list[asyncio.Future] = field(default_factory=list, init=False, repr=False)  # coroutines waiting

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("the ceiling of requests in flight must be at least 1")
        self.limit = float(self.ceiling)
        self.stats.lowest = self.limit

    def delay(self, now: float) -> float:
        """Seconds before the next request may go (0: now; inf: when one in flight finishes)."""
        probing = not self._replied and (self._first_sent is None or now - self._first_sent < PROBE_WAIT)
        limit = min(self.limit, PROBE) if probing else self.limit
        if self.in_flight >= max(self.floor, int(limit)):
            if probing and self._first_sent is not None and self.in_flight < max(self.floor, int(self.limit)):
                return self._first_sent + PROBE_WAIT - now  # the probe opens then, if no reply came first
            return math.inf
        idle = self.in_flight == 0
        return max(0.0, self._paused_until - now, self.requests.wait(1.0, now, idle),
                   self.tokens.wait(self._tokens_per_request, now, idle))

    def acquire(self, stopping: threading.Event) -> float | None:
        """Block until a request may go and count it in flight; None if `stopping` is set first."""
        started = self.clock()
        with self._cond:
            while not stopping.is_set():
                now = self.clock()
                delay = self.delay(now)
                if delay <= 0:
                    return self._take(now, started)
                self._cond.wait(min(delay, POLL))
        return None

    async def wait_turn(self, stopping: threading.Event) -> float | None:
        """`acquire` for a coroutine: awaits its turn on the event loop instead of blocking a thread.

        Woken by `release` (called on the same loop) or when the delay is over, whichever comes first.
        """
        started = self.clock()
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            with self._cond:
                now = self.clock()
                delay = self.delay(now)
                if delay <= 0:
                    return self._take(now, started)
                turn = loop.create_future()
                self._turns.append(turn)
            timer = loop.call_later(min(delay, POLL), _wake, turn)
            try:
                await turn
            finally:
                timer.cancel()
        return None

    def _take(self, now: float, started: float) -> float:
        """Count a request in flight (under the lock); its send time."""
        self.in_flight += 1
        if self._first_sent is None:
            self._first_sent = now
        self._sends.append(now)
        bisect.insort(self._out, now)
        if len(self._sends) > 4 * SENDS_KEPT:
            del self._sends[:-SENDS_KEPT]
        self.requests.spend(1.0, now)
        self.tokens.spend(self._tokens_per_request, now)
        self.stats.sent += 1
        self.stats.waited += now - started
        return now

    def release(self, sent_at: float, info: RateInfo | None) -> None:
        """A request is over: adapt to what its reply said and wake the waiting senders."""
        with self._cond:
            self.in_flight -= 1
            at = bisect.bisect_left(self._out, sent_at)
            if at < len(self._out) and self._out[at] == sent_at:
                del self._out[at]
            if info is not None:
                self._replied = True
                self._learn(sent_at, info, self.clock())
            self._cond.notify_all()
            turns, self._turns = self._turns, []
        for turn in turns:
            _wake(turn)

    def _learn(self, sent_at: float, info: RateInfo, now: float) -> None:
        if info.throttled:
            self.stats.throttled += 1
            if sent_at >= self._halved_at:  # the first 429 of a burst halves; the rest of that burst does not
                self._throttled_at = self.limit
                self.limit = max(float(self.floor), self.limit / 2)
                self._halved_at = now
                self.stats.halvings += 1
                self.stats.lowest = min(self.stats.lowest, self.limit)
            if info.retry_after:
                self._paused_until = max(self._paused_until, now + info.retry_after)
        elif 200 <= info.status < 300:
            step = INCREASE[self.limit >= 0.8 * self._throttled_at]
            self.limit = min(float(self.ceiling), self.limit + step / self.limit)
            if info.tokens_used:
                # A running mean of what one request costs in tokens, for pacing on the token budget.
                self._tokens_per_request += (info.tokens_used - self._tokens_per_request) * 0.1 \
                    if self._tokens_per_request else info.tokens_used
        after = len(self._sends) - bisect.bisect_right(self._sends, sent_at)  # sent after this request
        unseen = bisect.bisect_right(self._out, sent_at)  # sent before it (or with it) and still in flight
        self.requests.observe(info.remaining_requests, info.limit_requests, info.reset_requests, now, after,
                              unseen)
        self.tokens.observe(info.remaining_tokens, info.limit_tokens, info.reset_tokens, now,
                            after * self._tokens_per_request, unseen * self._tokens_per_request)


def _wake(turn: asyncio.Future) -> None:
    """Let a waiting coroutine look again (once)."""
    if not turn.done():
        turn.set_result(None)
