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
from annotator.annotate.jobs import pending_jobs
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
    markdown_table,
    save,
    write_corpus,
)
from benchmarks.drafting_bench import bench_cache, bench_concurrency, bench_overhead, messages_of
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
