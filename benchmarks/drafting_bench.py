"""The drafting loop's benchmarks: annotate against the `openai` client alone, at 0 ms, 200 ms and 1 s latency,
and the cache (items 1 to 3 of `benchmarks.run`; each takes the run's `Context`)."""

from __future__ import annotations

import json
import time
from typing import Any

from annotator.annotate import annotate
from annotator.annotate.jobs import Job, pending_jobs
from annotator.llm import LLMClient
from benchmarks.common import (
    MODEL,
    PROMPT,
    SCHEMA,
    Result,
    StubProcess,
    check,
    fresh_db,
    raw_loop,
    sdk_loop,
)


def client_for(base_url: str, **kw: Any) -> LLMClient:
    return LLMClient(base_url=base_url, api_key="bench", model=MODEL, **kw)


def messages_of(job: Job) -> list[dict]:
    """The chat messages annotate sends for a sentence (json_schema mode)."""
    return PROMPT.messages(SCHEMA, job.text, job.headline, job.before, after=job.after)


def timed_annotate(db, base_url: str, concurrency: int) -> tuple[float, Any]:
    client = client_for(base_url)
    started = time.perf_counter()
    report = annotate(db, client, SCHEMA, PROMPT, concurrency=concurrency)
    return time.perf_counter() - started, report


OVERHEAD_TURNS = 3

# 1 -----------------------------------------------------------------------------------------------

def bench_overhead(ctx: Any) -> None:
    """The tool's own CPU per sentence (annotate's CPU minus the client's for as many calls) against the client's.

    Against a stub answering at once (in its own process, so its CPU is not counted),
    with the CLI's default concurrency. The target: the tool's own work on a sentence
    costs at most half of what the `openai` client alone (set up as annotate sets it up,
    sending the same request) costs a request. A raw HTTP loop is reported too.
    """
    n, conc = ctx.sizes.overhead_n, ctx.sizes.overhead_concurrency
    rounds: list[dict[str, float]] = []
    with StubProcess(latency=0.0) as stub:
        client = client_for(stub.base_url)
        db = fresh_db(ctx.tmp, "overhead", n)
        job = next(pending_jobs(db, SCHEMA, PROMPT, MODEL, client.run_key))
        params = client.params("json_schema", messages_of(job), SCHEMA.llm_json_schema())
        body = json.dumps(params).encode()
        sdk_loop(client, params, min(300, n), conc)  # warm-up
        # The VM's speed drifts by a third within minutes: the client alone and annotate take turns,
        # each pair measured back to back, and the median pair is reported.
        for turn in range(OVERHEAD_TURNS):
            edge, client_ms = sdk_loop(client, params, n, conc)
            db = db if turn == 0 else fresh_db(ctx.tmp, f"overhead{turn}", n)
            cpu = time.process_time()
            seconds, report = timed_annotate(db, stub.base_url, conc)
            annotate_ms = (time.process_time() - cpu) / n * 1000
            if report.by_status != {"ok": n}:
                raise RuntimeError(f"annotate did not draft every sentence: {report.by_status}")
            rounds.append({"own": annotate_ms - client_ms, "annotate_ms": annotate_ms, "client_ms": client_ms,
                           "edge": edge, "rate": n / seconds, "seconds": seconds})
        raw = raw_loop(stub.port, body, n, conc)
    median = sorted(rounds, key=lambda r: r["own"] / r["client_ms"])[len(rounds) // 2]
    own_ms, client_ms, annotate_ms = median["own"], median["client_ms"], median["annotate_ms"]
    rate, edge = median["rate"], median["edge"]
    ratio = own_ms / client_ms
    details = {"sentences": n, "concurrency": conc, "annotate_s": median["seconds"], "annotate_per_s": rate,
               "annotate_cpu_ms_per_sentence": annotate_ms, "client_cpu_ms_per_call": client_ms,
               "own_cpu_ms_per_sentence": own_ms, "own_ms_each_turn": [r["own"] for r in rounds],
               "client_ms_each_turn": [r["client_ms"] for r in rounds],
               "llm_client_alone_per_s": edge, "raw_per_s": raw, "request_bytes": len(body)}
    ctx.add(Result("overhead_cpu", f"the tool's own CPU a sentence against the client's a request (stub, 0 ms, "
                   f"concurrency {conc})", own_ms, "ms", client_ms, "client ms a request", ratio, "<= 0.5",
                   check(ratio, "<= 0.5"),
                   f"annotate {annotate_ms:.2f} ms CPU a sentence, the client alone "
                   f"{client_ms:.2f} ms a call (median of {OVERHEAD_TURNS} turns); {rate:,.0f} sentences/s against {edge:,.0f} req/s "
                   f"for the client alone and {raw:,.0f} for a raw HTTP loop", details))


# 2 -----------------------------------------------------------------------------------------------

def run_first_pass(ctx: Any) -> dict[str, Any]:
    """5,000 sentences, stub latency 200 ms, --concurrency 64 (shared by items 2 and 3)."""
    s = ctx.sizes
    db = fresh_db(ctx.tmp, "concurrency", s.concurrency_n)
    drafted = timed_pass(db, s.latency, s.concurrency_n, s.concurrency)
    ctx.first_pass = {"db": db, **drafted, "data": dict(db.execute("SELECT id, data FROM drafts").fetchall())}
    return ctx.first_pass


def timed_pass(db, latency: float, n: int, concurrency: int) -> dict[str, Any]:
    """annotate over the `n` sentences of `db` against a fresh stub answering in `latency` s: its time and CPU."""
    with StubProcess(latency=latency) as stub:
        cpu = time.process_time()
        seconds, report = timed_annotate(db, stub.base_url, concurrency)
        cpu_ms = (time.process_time() - cpu) / n * 1000
    if report.by_status != {"ok": n}:
        raise RuntimeError(f"annotate did not draft every sentence: {report.by_status}")
    return {"seconds": seconds, "cpu_ms": cpu_ms, "calls": report.llm_calls, "stub_requests": stub.requests,
            "port": stub.port}


def client_alone(db, latency: float, n: int, concurrency: int) -> tuple[float, float]:
    """The openai client alone, set up as annotate sets it up, sending a sentence's request `n` times with
    `concurrency` in flight to a fresh stub answering in `latency` s: (requests/s, CPU ms a request)."""
    with StubProcess(latency=latency) as stub:
        sentence_id, text = db.execute("SELECT id, text FROM sentences LIMIT 1").fetchone()
        client = client_for(stub.base_url)
        params = client.params("json_schema", messages_of(Job(sentence_id, text, None)), SCHEMA.llm_json_schema())
        return sdk_loop(client, params, n, concurrency)


def bench_concurrency(ctx: Any) -> None:
    """With many requests in flight and a slow server: annotate against the client alone, and against the ideal.

    At 200 ms, annotate and the `openai` client alone send the same number of requests,
    64 in flight: annotate reaches at least 0.9 of the client's throughput, and its own
    CPU a sentence is at most half the client's a request. At 1 s, annotate reaches at
    least 0.97 of the ideal (in flight / latency).
    """
    s = ctx.sizes
    first = run_first_pass(ctx)
    ideal = s.concurrency / s.latency
    achieved = s.concurrency_n / first["seconds"]
    alone, alone_ms = client_alone(first["db"], s.latency, s.concurrency_n, s.concurrency)
    ratio = achieved / alone
    details = {k: v for k, v in first.items() if k not in ("db", "data")}
    details.update(client_alone_per_s=alone, client_alone_ratio=alone / ideal, client_alone_cpu_ms=alone_ms,
                   annotate_cpu_ms=first["cpu_ms"], ideal_per_s=ideal, annotate_ideal_ratio=achieved / ideal)
    ctx.add(Result("concurrency", f"{s.concurrency_n:,} sentences, {s.latency * 1000:.0f} ms, "
                   f"--concurrency {s.concurrency}, against the openai client alone", achieved, "sentences/s", alone,
                   "client alone req/s", ratio, ">= 0.9", check(ratio, ">= 0.9"),
                   f"{first['seconds']:.1f} s for {s.concurrency_n:,} ({achieved / ideal:.3f} of the ideal {ideal:,.0f}/s) "
                   f"at {first['cpu_ms']:.2f} ms CPU a sentence; the openai client alone {alone:,.0f} requests/s "
                   f"({alone / ideal:.3f} of ideal) at {alone_ms:.2f} ms CPU a request", details))
    own = first["cpu_ms"] - alone_ms
    ctx.add(Result("overhead_cpu_64", f"the tool's own CPU a sentence against the client's a request "
                   f"({s.latency * 1000:.0f} ms, --concurrency {s.concurrency})", own, "ms", alone_ms,
                   "client ms a request", own / alone_ms, "<= 0.5", check(own / alone_ms, "<= 0.5"),
                   f"annotate {first['cpu_ms']:.2f} ms CPU a sentence, the client alone {alone_ms:.2f} ms a request",
                   {"annotate_cpu_ms": first["cpu_ms"], "client_alone_cpu_ms": alone_ms}))
    bench_slow_server(ctx)


def bench_slow_server(ctx: Any) -> None:
    """At 1 s latency and 64 in flight: annotate's throughput against the ideal (and the client alone's)."""
    s = ctx.sizes
    db = fresh_db(ctx.tmp, "slow", s.slow_n)
    drafted = timed_pass(db, s.slow_latency, s.slow_n, s.concurrency)
    ideal = s.concurrency / s.slow_latency
    achieved = s.slow_n / drafted["seconds"]
    alone, alone_ms = client_alone(db, s.slow_latency, s.slow_n, s.concurrency)
    ratio = achieved / ideal
    ctx.add(Result("concurrency_1s", f"{s.slow_n:,} sentences, {s.slow_latency * 1000:.0f} ms, "
                   f"--concurrency {s.concurrency}, against the ideal", achieved, "sentences/s", ideal,
                   "ideal = concurrency/latency", ratio, ">= 0.97", check(ratio, ">= 0.97"),
                   f"{drafted['seconds']:.1f} s for {s.slow_n:,} (ideal {s.slow_n / ideal:.1f} s) at "
                   f"{drafted['cpu_ms']:.2f} ms CPU a sentence; the openai client alone {alone:,.1f} requests/s "
                   f"({alone / ideal:.3f} of ideal) at {alone_ms:.2f} ms CPU a request",
                   {**drafted, "client_alone_per_s": alone, "client_alone_ratio": alone / ideal,
                    "client_alone_cpu_ms": alone_ms}))


# 3 -----------------------------------------------------------------------------------------------

def bench_cache(ctx: Any) -> None:
    """A second pass over the same sentences: no LLM calls, a small fraction of the first pass's time."""
    s = ctx.sizes
    first = ctx.first_pass or run_first_pass(ctx)
    db = first["db"]
    # Re-run: every sentence already has its draft (the same server: a server is part of a draft's identity).
    with StubProcess(latency=s.latency, port=first["port"]) as stub:
        seconds, report = timed_annotate(db, stub.base_url, s.concurrency)
    calls = report.llm_calls + stub.requests
    ratio = seconds / first["seconds"]
    ctx.add(Result("cache_rerun", "re-run annotate over the same sentences (drafts kept)", seconds, "s",
                   first["seconds"], "first pass s", ratio, "<= 0.05",
                   calls == 0 and check(ratio, "<= 0.05"), f"LLM calls {calls} [target 0]",
                   {"llm_calls": report.llm_calls, "stub_requests": stub.requests, "done": report.done}))
    # Replay: drafts deleted, every request answered from the response cache.
    with db.conn:
        db.execute("DELETE FROM drafts")
    with StubProcess(latency=s.latency, port=first["port"]) as stub:
        seconds, report = timed_annotate(db, stub.base_url, s.concurrency)
    calls = report.llm_calls + stub.requests
    same = dict(db.execute("SELECT id, data FROM drafts").fetchall()) == first["data"]
    ratio = seconds / first["seconds"]
    ctx.add(Result("cache_replay", "drafts deleted, all answered from the response cache (report: target retired)",
                   seconds, "s", first["seconds"], "first pass s", ratio, "", None if calls == 0 and same else False,
                   f"LLM calls {calls} [target 0]; drafts identical to the first pass: {same}",
                   {"llm_calls": report.llm_calls, "stub_requests": stub.requests, "done": report.done,
                    "identical": same}))
