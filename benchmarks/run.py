"""Benchmarks: each figure against its limit measured in the same run (no absolute timings).

    python -m benchmarks.run                      # everything (about 8 min on 2 cores), from the repository's root
    python -m benchmarks.run --quick              # smaller sizes, a smoke run (about 2-3 min)
    python -m benchmarks.run --only overhead,cache

Each benchmark prints `name: figure (limit figure) ratio X [target T] PASS/MISS` and the results are
merged into benchmarks/results/latest.json (quick.json with --quick; both also appended to
history.jsonl); a markdown table ends the run. The stub LLM (tests/support/stub_llm.py) runs in its own
process on a free loopback port.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.annotate import annotate
from annotator.annotate.jobs import Job, pending_jobs
from annotator.ingest import ingest, read_inputs
from annotator.llm import LLMClient
from annotator.resources import data_file
from annotator.store import open_db
from benchmarks.common import (
    MODEL,
    PROMPT,
    RESULTS,
    ROOT,
    SCHEMA,
    Result,
    StubProcess,
    check,
    fresh_db,
    markdown_table,
    raw_loop,
    save,
    sdk_loop,
    write_corpus,
)
from benchmarks.ls_bench import LabelStudioFixture, bench_pull, bench_push
from benchmarks.prompt_bench import bench_prompt_size
from benchmarks.ratelimit_bench import bench_ratelimit


@dataclass
class Sizes:
    overhead_n: int = 3000
    overhead_concurrency: int = 4       # the CLI's default --concurrency
    concurrency_n: int = 5000
    concurrency: int = 64
    latency: float = 0.2
    slow_n: int = 1920                  # 30 rounds of 64 at 1 s: the ideal is 30 s
    slow_latency: float = 1.0
    memory_ns: tuple[int, int] = (10_000, 100_000)
    memory_concurrency: int = 4
    real_llm: bool = True               # item 7: real token counts if the local llama.cpp server runs
    real_llm_sentences: int = 5         # ... on this many sentences of the sample article (2-10 s each)
    push_n: int = 10_000
    sdk_sample: int = 500
    pull_n: int = 10_000
    pull_changed: int = 100
    quick_run: bool = False

    @classmethod
    def quick(cls) -> Sizes:
        return cls(overhead_n=400, concurrency_n=640, slow_n=320, memory_ns=(2_000, 20_000), real_llm=False,
                   push_n=1_000, sdk_sample=50, pull_n=1_000, pull_changed=10, quick_run=True)


@dataclass
class Context:
    tmp: Path
    sizes: Sizes
    results: list[Result] = field(default_factory=list)
    first_pass: dict[str, Any] | None = None
    labelstudio: LabelStudioFixture = field(init=False)

    def __post_init__(self) -> None:
        self.labelstudio = LabelStudioFixture(self)

    @property
    def results_file(self) -> Path:
        # --quick figures never overwrite the full ones: small sizes make fixed costs weigh more.
        return RESULTS / ("quick.json" if self.sizes.quick_run else "latest.json")

    def add(self, result: Result) -> Result:
        result.details["quick"] = self.sizes.quick_run
        result.details["load_avg"] = [round(x, 2) for x in os.getloadavg()]  # others' work on the machine
        self.results.append(result)
        print(result.line(), flush=True)
        save([result], self.results_file)
        return result


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

def bench_overhead(ctx: Context) -> None:
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

def run_first_pass(ctx: Context) -> dict[str, Any]:
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


def bench_concurrency(ctx: Context) -> None:
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


def bench_slow_server(ctx: Context) -> None:
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

def bench_cache(ctx: Context) -> None:
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


# 6 -----------------------------------------------------------------------------------------------

def bench_memory(ctx: Context) -> None:
    """Peak RSS of a child process that ingests then annotates N sentences against the stub."""
    peaks = {}
    for n in ctx.sizes.memory_ns:
        corpus = write_corpus(ctx.tmp / f"memory{n}.jsonl", n)
        db = ctx.tmp / f"memory{n}.db"
        with StubProcess(latency=0.0) as stub:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.memchild", "--db", str(db),
                 "--input", str(corpus), "--base-url", stub.base_url,
                 "--concurrency", str(ctx.sizes.memory_concurrency)],
                capture_output=True, text=True, check=True, cwd=ROOT)
        info = json.loads(out.stdout.strip().splitlines()[-1])
        if info["sentences"] != n or info["by_status"] != {"ok": n}:
            raise RuntimeError(f"memory child did not ingest and draft {n} sentences: {info}")
        peaks[n] = info["peak_mb"]
        ratio = info["peak_mb"] / 300
        ctx.add(Result(f"memory_{n // 1000}k", f"peak RSS, ingest + annotate {n:,} sentences",
                       info["peak_mb"], "MB", 300, "limit MB", ratio, "<= 1.0", check(ratio, "<= 1.0"),
                       f"after imports {info['peak_mb_imports']:.0f} MB, after ingest "
                       f"{info['peak_mb_ingest']:.0f} MB; ingest {info['ingest_s']:.1f} s, "
                       f"annotate {info['annotate_s']:.1f} s", info))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    small, big = ctx.sizes.memory_ns
    ratio = peaks[big] / peaks[small]
    ctx.add(Result("memory_flat", f"peak RSS at {big:,} vs {small:,} sentences", peaks[big], "MB",
                   peaks[small], f"MB at {small:,}", ratio, "<= 1.1", check(ratio, "<= 1.1"),
                   f"{big // small}x the sentences", {"peaks_mb": peaks}))


# 7 -----------------------------------------------------------------------------------------------

def bench_tokens(ctx: Context) -> None:
    """Prompt and completion size per sentence, and the shared prefix a server can cache."""
    path = ctx.tmp / "tokens.db"
    db = open_db(path)
    ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
    # A new database: every sentence is pending, whatever the run settings.
    jobs = list(pending_jobs(db, SCHEMA, PROMPT, MODEL, run_key=""))
    convs = [messages_of(j) for j in jobs]
    # The common prefix: leading messages identical in every request (system + worked examples).
    k = 0
    while all(len(c) > k for c in convs) and all(c[k] == convs[0][k] for c in convs):
        k += 1
    prefix_chars = sum(len(m["content"]) for m in convs[0][:k])
    prompt_chars = [sum(len(m["content"]) for m in c) for c in convs]
    mean_prompt = sum(prompt_chars) / len(prompt_chars)
    # Completion: the prompt's own worked-example answers are the format asked for.
    answers = [m["content"] for m in convs[0][:k] if m["role"] == "assistant"]
    mean_answer = sum(map(len, answers)) / len(answers) if answers else 0.0
    schema_chars = len(json.dumps(SCHEMA.llm_json_schema()))
    details: dict[str, Any] = {
        "sentences": len(jobs), "prefix_messages": k, "prefix_chars": prefix_chars,
        "prompt_chars_mean": mean_prompt, "prompt_chars_min": min(prompt_chars),
        "prompt_chars_max": max(prompt_chars), "completion_chars_mean": mean_answer,
        "response_format_schema_chars": schema_chars, "approx": "tokens ~ characters / 4",
    }
    real = real_token_counts(ctx) if ctx.sizes.real_llm else None
    if real:
        details["real"] = real
    note = "approx tokens = characters / 4"
    real_note = f"; SmolLM2 via llama.cpp: {real['prompt_tokens_mean']:.0f} prompt tokens" if real else ""
    ctx.add(Result("tokens_prompt", "prompt tokens per sentence (default prompt, news_events)",
                   mean_prompt / 4, "tokens (approx)", None, "", None, "", None,
                   f"{mean_prompt:.0f} characters in {len(convs[0])} messages; the JSON schema "
                   f"({schema_chars} characters) goes in response_format{real_note}", details))
    real_note = f"; SmolLM2 via llama.cpp: {real['completion_tokens_mean']:.0f} tokens" if real else ""
    ctx.add(Result("tokens_completion", "completion tokens per sentence", mean_answer / 4, "tokens (approx)",
                   None, "", None, "", None,
                   f"mean of the prompt's worked-example answers, {mean_answer:.0f} characters{real_note}",
                   details))
    share = prefix_chars / mean_prompt
    ctx.add(Result("tokens_prefix", "share of the prompt that is a common, cacheable prefix", share * 100, "%",
                   None, "", share, "", None,
                   f"system + {k - 1} worked-example messages = {prefix_chars} characters (~{prefix_chars // 4} "
                   f"tokens) identical in every request; {note}", details))


def real_token_counts(ctx: Context) -> dict[str, Any] | None:
    """Real usage from the local llama.cpp server (SmolLM2), if it is already running."""
    try:
        from annotator.services.llamacpp import LocalLLMServer

        info = LocalLLMServer().status()
    except Exception:  # noqa: BLE001 - optional figure
        return None
    if info is None:
        return None
    path = ctx.tmp / "tokens-real.db"
    db = open_db(path)
    ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
    client = LLMClient(base_url=info.url, api_key=None, model=info.model, timeout=300, max_tokens=512)
    started = time.perf_counter()
    try:
        report = annotate(db, client, SCHEMA, PROMPT, concurrency=1, max_reasks=0,
                          limit=ctx.sizes.real_llm_sentences)
    except Exception as exc:  # noqa: BLE001 - optional figure: report the approximation only
        print(f"  (no real token counts: the local LLM server failed: {exc})", flush=True)
        return None
    rows = list(db.query("SELECT prompt_tokens, completion_tokens FROM drafts WHERE attempts = 1"))
    if not rows:
        return None
    return {"model": info.model, "mode": report.mode, "drafts": len(rows), "by_status": report.by_status,
            "seconds": time.perf_counter() - started,
            "prompt_tokens_mean": sum(r["prompt_tokens"] for r in rows) / len(rows),
            "completion_tokens_mean": sum(r["completion_tokens"] for r in rows) / len(rows)}


BENCHMARKS: dict[str, Callable[[Context], None]] = {
    "overhead": bench_overhead,
    "concurrency": bench_concurrency,
    "cache": bench_cache,
    "memory": bench_memory,
    "tokens": bench_tokens,
    "push": bench_push,
    "pull": bench_pull,
    "ratelimit": bench_ratelimit,
    "prompt": bench_prompt_size,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    sizes = Sizes.quick() if args.quick else Sizes()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="annotator-bench-") as tmp:
        ctx = Context(Path(tmp), sizes)
        try:
            for name in names:
                print(f"--- {name}", flush=True)
                BENCHMARKS[name](ctx)
        finally:
            ctx.labelstudio.stop()
    print()
    print(markdown_table(ctx.results))
    print(f"\n{len(ctx.results)} figures in {time.perf_counter() - started:.0f} s"
          f"{' (--quick)' if args.quick else ''}; results in {ctx.results_file.relative_to(ROOT)}")
    missed = [r.name for r in ctx.results if r.passed is False]
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
