"""Rate limits: the headers read into data, the adaptive limiter by hand, then annotate against a token bucket."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from pathlib import Path

import pytest

from annotator.annotate import annotate
from annotator.ingest import ingest, read_inputs
from annotator.llm import LLMClient
from annotator.llm.limiter import PROBE, PROBE_WAIT, AdaptiveLimiter, Budget
from annotator.llm.ratelimit import RateInfo, parse_duration, rate_info
from annotator.store import open_db
from tests.support.drafting import PROMPT, SCHEMA
from tests.support.stub_limits import TokenBucket
from tests.support.stub_llm import StubLLM


@pytest.mark.parametrize("text, seconds", [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5),
                                           ("0.5", 0.5), ("59.5ms", 0.0595), ("abc", None), ("1x", None),
                                           ("", None), (None, None)])
def test_parse_duration(text, seconds) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_rate_info_reads_openais_headers_in_any_case() -> None:
    info = rate_info(200, {"X-RateLimit-Limit-Requests": "500", "x-ratelimit-remaining-requests": "499",
                           "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "200000",
                           "x-ratelimit-remaining-tokens": "198000", "x-ratelimit-reset-tokens": "1m0.6s"}, 900)
    assert info == RateInfo(200, None, 500, 499, 0.12, 200000, 198000, 60.6, 900)
    assert rate_info(429, {"Retry-After": "2", "retry-after-ms": "1500"}).retry_after == 1.5
    assert rate_info(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after is None
    assert rate_info(429, None).throttled and not rate_info(200, None).throttled


def test_budget_spends_what_remains_then_waits_for_the_refill() -> None:
    budget = Budget()
    assert budget.available(0.0) == math.inf  # never told: no pacing
    budget.observe(remaining=2, limit=10, reset=8.0, now=100.0, spent_since=1)
    # deficit 8, rounded down by the server: the refill is at least (8 - 1) / 8 = 0.875 a second
    assert budget.refill == pytest.approx(0.875)
    assert budget.available(100.0) == 1  # 2 remaining, 1 already sent since
    budget.spend(1.0, 100.0)
    assert budget.wait(1.0, 100.0) == pytest.approx(1 / 0.875)
    assert budget.available(108.0) == pytest.approx(7.0)  # 0 + 8 s * 0.875
    assert budget.available(200.0) == 10  # never more than the limit


def clocked(ceiling: int) -> tuple[AdaptiveLimiter, list[float]]:
    now = [0.0]
    return AdaptiveLimiter(ceiling, clock=lambda: now[0]), now


def test_limiter_probes_then_opens_halves_once_per_burst_and_grows_back() -> None:
    limiter, now = clocked(16)
    stop = threading.Event()
    sent = [limiter.acquire(stop) for _ in range(PROBE)]
    assert limiter.delay(0.0) == PROBE_WAIT  # nothing more before the first reply (or PROBE_WAIT without one)
    limiter.release(sent.pop(), RateInfo(200))
    assert limiter.delay(0.0) == 0 and limiter.limit == 16  # opened to the ceiling
    now[0] = 1.0
    limiter.release(sent.pop(), RateInfo(429, retry_after=0.5))  # sent at 0, before any halving
    assert limiter.limit == 8 and limiter.delay(1.0) == pytest.approx(0.5)  # Retry-After holds every sender
    limiter.release(sent.pop(), RateInfo(429))  # the same burst: sent before the halving, no second halving
    assert limiter.limit == 8 and limiter.stats.throttled == 2 and limiter.stats.halvings == 1
    now[0] = 2.0
    late = limiter.acquire(stop)
    limiter.release(late, RateInfo(429))  # sent after the halving: a new burst
    assert limiter.limit == 4 and limiter.stats.lowest == 4
    limiter.release(sent.pop(), RateInfo(200))
    assert limiter.limit == pytest.approx(4 + 1 / 4)  # below 80% of where the last 429 came: +1 a window
    limiter.limit = 6.5
    limiter.release(limiter.acquire(stop), RateInfo(200))
    assert limiter.limit == pytest.approx(6.5 + 0.25 / 6.5)  # near it: a quarter a window


def test_a_slow_first_reply_holds_the_probe_for_probe_wait_only() -> None:
    limiter, now = clocked(16)
    stop = threading.Event()
    now[0] = 10.0
    for _ in range(PROBE):
        limiter.acquire(stop)
    now[0] = 10.0 + PROBE_WAIT / 4
    assert limiter.delay(now[0]) == pytest.approx(PROBE_WAIT * 3 / 4)  # still waiting for a first reply
    now[0] = 10.0 + PROBE_WAIT
    assert limiter.delay(now[0]) == 0  # none came: open to the ceiling all the same
    for _ in range(16 - PROBE):
        limiter.acquire(stop)
    assert limiter.delay(now[0]) == math.inf and limiter.in_flight == 16  # the ceiling holds


def test_limiter_paces_on_the_remaining_budget_the_headers_state() -> None:
    limiter, now = clocked(8)
    stop = threading.Event()
    first = limiter.acquire(stop)
    limiter.release(first, RateInfo(200, limit_requests=10, remaining_requests=1, reset_requests=4.5))
    # refill >= (9 - 1) / 4.5 a second; 1 remaining
    assert limiter.delay(0.0) == 0
    second = limiter.acquire(stop)
    assert limiter.delay(0.0) == pytest.approx(1 / (8 / 4.5))  # the budget is spent: wait for one to refill
    limiter.release(second, RateInfo(200))  # a reply without the headers changes nothing
    assert limiter.delay(0.0) == pytest.approx(1 / (8 / 4.5))
    now[0] = 1.0
    assert limiter.delay(1.0) == 0  # refilled meanwhile
    limiter.release(limiter.acquire(stop), None)  # no reply at all (a dropped connection): nothing learned
    assert limiter.in_flight == 0


def test_a_reply_leaves_room_for_requests_sent_before_it_that_are_still_on_their_way() -> None:
    limiter, now = clocked(8)
    stop = threading.Event()
    limiter.release(limiter.acquire(stop), RateInfo(200, limit_requests=10, remaining_requests=9,
                                                    reset_requests=0.1))
    for n in range(6):  # five requests, then a sixth, each 10 ms apart
        now[0] = 1.0 + n / 100
        sent_at = limiter.acquire(stop)
    # The sixth is answered first: the server wrote its header before the five reached it (9 remain).
    now[0] = 1.06
    limiter.release(sent_at, RateInfo(200, limit_requests=10, remaining_requests=9, reset_requests=0.1))
    assert limiter.in_flight == 5
    assert limiter.requests.available(1.06) == 4  # 9 less the five still on their way (it used to say 9)


def test_with_nothing_in_flight_a_request_goes_once_the_reset_has_passed() -> None:
    limiter, now = clocked(8)
    stop = threading.Event()
    sent = []
    for n in range(PROBE):
        now[0] = n / 100
        sent.append(limiter.acquire(stop))
    full = RateInfo(429, limit_requests=1, remaining_requests=0, reset_requests=0.1)  # a bucket of one
    for sent_at in sent[1:]:
        limiter.release(sent_at, full)
    # The first request sent is answered last: its header is older than the three sent after it, which
    # count as spent; no refill rate can be read from a bucket of one, and no reply is left to come.
    limiter.release(sent[0], RateInfo(200, limit_requests=1, remaining_requests=0, reset_requests=0.1))
    assert limiter.in_flight == 0
    now[0] = 1.0
    assert limiter.delay(1.0) == 0  # it used to wait for a reply that could never come


def test_acquire_gives_up_when_the_run_stops() -> None:
    limiter = AdaptiveLimiter(1)
    stop = threading.Event()
    assert limiter.acquire(stop) is not None
    result = []
    waiter = threading.Thread(target=lambda: result.append(limiter.acquire(stop)))
    waiter.start()
    stop.set()
    waiter.join(timeout=2)
    assert result == [None]


def test_a_waiting_coroutine_goes_when_a_request_is_released_and_gives_up_when_the_run_stops() -> None:
    async def scenario() -> tuple[list[str], float | None]:
        limiter, stop, order = AdaptiveLimiter(1), threading.Event(), []
        first = await limiter.wait_turn(stop)
        assert first is not None and limiter.in_flight == 1

        async def second() -> None:
            sent_at = await limiter.wait_turn(stop)
            order.append("second sent" if sent_at is not None else "second gave up")

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.02)
        order.append("first released")  # the only slot is taken until now
        limiter.release(first, RateInfo(200))
        await asyncio.wait_for(waiting, 1)  # woken by the release
        third = asyncio.create_task(limiter.wait_turn(stop))
        await asyncio.sleep(0.02)
        stop.set()
        return order, await asyncio.wait_for(third, 1)

    order, third = asyncio.run(scenario())
    assert order == ["first released", "second sent"] and third is None


def test_token_bucket_of_the_stub() -> None:
    now = [0.0]
    bucket = TokenBucket(120, burst=2, clock=lambda: now[0])  # 2 a second
    assert bucket.take() is None and bucket.take() is None
    assert bucket.take() == pytest.approx(0.5)
    assert bucket.headers()["x-ratelimit-remaining-requests"] == "0"
    now[0] = 0.25
    assert bucket.headers()["x-ratelimit-reset-requests"] == "750ms"  # 1.5 tokens short at 2 a second


def corpus_db(tmp_path: Path, n_docs: int):
    db = open_db(tmp_path / "r.db")
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{d}", "text": " ".join(
        f"Sentence {d}-{i} reports fighting near Mora." for i in range(10))}) + "\n" for d in range(n_docs)))
    ingest(db, read_inputs([str(path)]))
    return db


REPLY = {"entities": [{"text": "Mora", "label": "LOCATION"}], "event_type": "battle", "attribution": "asserted",
         "sources": []}


@pytest.mark.slow
def test_annotate_under_a_token_bucket_uses_it_without_running_into_it(tmp_path) -> None:
    db = corpus_db(tmp_path, 12)  # 120 sentences
    with StubLLM(lambda body: REPLY, latency=0.1, rate_limit=1200) as stub:  # 20 a second, a burst of 20
        client = LLMClient(base_url=stub.base_url, api_key="k", model="stub", backoff=0.02)
        report = annotate(db, client, SCHEMA, PROMPT, concurrency=32)
        assert report.by_status == {"ok": 120}
        assert stub.counts["429"] <= 0.05 * stub.calls and report.throttled == stub.counts["429"]
    (tmp_path / "f").mkdir()
    fixed = corpus_db(tmp_path / "f", 12)
    with StubLLM(lambda body: REPLY, latency=0.1, rate_limit=1200) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="k", model="stub", backoff=0.02, max_retries=50)
        report = annotate(fixed, client, SCHEMA, PROMPT, concurrency=32, adaptive=False)
        # What adapting avoids: a fifth or more of the requests answered 429 (and, on a busy machine, a
        # few sentences losing the race for the bucket on every retry).
        assert stub.counts["429"] > 0.2 * stub.calls and sum(report.by_status.values()) == 120


@pytest.mark.slow
def test_a_short_run_at_a_high_rate_is_answered_429_at_most_5_percent_of_the_time(tmp_path) -> None:
    db = corpus_db(tmp_path, 30)  # 300 sentences
    # 100 a second with a burst of 100 and 320 in flight (the ratio of 10 a second with 32). Each request
    # reaches the bucket up to 100 ms late, as through a network or a proxy: the bucket counts requests in
    # another order than they were sent, and a reply's header leaves out requests sent before it.
    with StubLLM(lambda body: REPLY, rate_limit=6000, arrival_jitter=0.1) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="k", model="stub", backoff=0.02)
        report = annotate(db, client, SCHEMA, PROMPT, concurrency=320)
        assert report.by_status == {"ok": 300}
        assert stub.counts["429"] <= 0.05 * stub.calls, (stub.counts, stub.calls)
