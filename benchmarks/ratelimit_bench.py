"""Rate limits: annotate against a stub allowing R requests a minute, adaptive next to fixed concurrency.

The stub (its own process) holds a token bucket: R/60 requests a second, a burst of one
second's worth; a refused request gets 429 with Retry-After, and with OpenAI's headers every
reply says what remains. The limit of a run is what the bucket could give in its time:
(burst + R/60 x seconds) / seconds. The figure is the share of that the run got as answers,
next to the share of its requests answered 429.

    python -m benchmarks.run --only ratelimit
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from annotator.annotate import annotate
from annotator.llm import LLMClient
from benchmarks.common import MODEL, PROMPT, SCHEMA, Result, StubProcess, check, fresh_db

RATE = 1200.0  # requests a minute: 20 a second
LATENCY = 0.25  # seconds an answer takes: 5 requests in flight use the rate fully
CEILING = 32  # --concurrency: far more than the rate allows


@dataclass
class Variant:
    name: str
    title: str
    adaptive: bool
    concurrency: int
    headers: bool = True


VARIANTS = [
    Variant("ratelimit_adaptive", "adaptive, OpenAI's x-ratelimit headers", True, CEILING),
    Variant("ratelimit_adaptive_429", "adaptive, 429 + Retry-After only (no x-ratelimit headers)", True, CEILING,
            headers=False),
    Variant("ratelimit_fixed_32", "fixed concurrency 32 (the ceiling, no adapting)", False, CEILING),
    Variant("ratelimit_fixed_4", "fixed concurrency 4 (below what the rate allows)", False, 4),
]


def run_variant(ctx: Any, variant: Variant, n: int) -> dict[str, Any]:
    """One annotate run of `n` sentences against a fresh rate-limited stub process."""
    db = fresh_db(ctx.tmp, variant.name, n)
    args = ("--rate-limit", f"{RATE:g}") + (() if variant.headers else ("--no-ratelimit-headers",))
    with StubProcess(latency=LATENCY, args=args) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="bench", model=MODEL, max_retries=20)
        started = time.perf_counter()
        report = annotate(db, client, SCHEMA, PROMPT, concurrency=variant.concurrency, adaptive=variant.adaptive)
        seconds = time.perf_counter() - started
    ok, refused = stub.outcomes.get("ok", 0), stub.outcomes.get("429", 0)
    burst = max(1.0, RATE / 60)
    allowed = (burst + RATE / 60 * seconds) / seconds * 60  # requests a minute the bucket could give
    return {"sentences": n, "seconds": seconds, "ok": ok, "refused": refused, "requests": ok + refused,
            "used_per_min": ok / seconds * 60, "allowed_per_min": allowed, "share_used": ok / seconds * 60 / allowed,
            "share_429": refused / max(ok + refused, 1), "by_status": report.by_status,
            "lowest_in_flight": report.lowest_in_flight, "concurrency": variant.concurrency,
            "adaptive": variant.adaptive, "headers": variant.headers, "rate_per_min": RATE, "latency_s": LATENCY}


def bench_ratelimit(ctx: Any) -> None:
    """Each variant once; the adaptive ones must use >= 0.9 of the rate with <= 5% of requests answered 429."""
    n = 300 if ctx.sizes.quick_run else 1200
    for variant in VARIANTS:
        d = run_variant(ctx, variant, n)
        target = variant.adaptive
        passed = check(d["share_used"], ">= 0.9") and d["share_429"] <= 0.05 if target else None
        ctx.add(Result(variant.name, f"{variant.title}: {n:,} sentences, {RATE:,.0f} requests/min allowed, "
                       f"{LATENCY * 1000:.0f} ms a reply", d["used_per_min"], "ok requests/min",
                       d["allowed_per_min"], "allowed/min", d["share_used"], ">= 0.9 with <= 5% 429s" if target else "",
                       passed, f"{d['share_429'] * 100:.1f}% of {d['requests']:,} requests answered 429; "
                       f"drafts {d['by_status']}; {d['seconds']:.1f} s", d))
