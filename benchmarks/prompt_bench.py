"""Prompt size: each built-in news_events prompt's fixed part and per-sentence part, in tokens.

The fixed part (system message and worked examples) comes first and whole in every request,
so a server can cache it: OpenAI from 1,024 tokens on, llama.cpp's server for the next request.
Counted with SmolLM2's own tokenizer when the local llama.cpp server runs (`annotator llm
start`), else estimated as characters / 4, on the sample article's 11 sentences.

    python -m benchmarks.run --only prompt
"""

from __future__ import annotations

from typing import Any

from annotator.annotate.estimate import (
    CACHE_MIN_TOKENS,
    TokenCounter,
    heuristic_counter,
    measure_prompts,
)
from annotator.annotate.estimate_edge import llama_counter
from annotator.annotate.jobs import pending_jobs
from annotator.ingest import ingest, read_inputs
from annotator.prompts import RELEASED, load_prompt
from annotator.resources import data_file
from annotator.store import open_db
from benchmarks.common import MODEL, ROOT, SCHEMA, Result


def counters() -> list[TokenCounter]:
    """characters / 4, and SmolLM2's tokenizer if its server runs."""
    found = [heuristic_counter()]
    try:
        from annotator.services.llamacpp import LocalLLMServer

        info = LocalLLMServer().status()
    except Exception:  # noqa: BLE001 - optional figure
        info = None
    real = llama_counter(info.url, info.model) if info else None
    return found + ([real] if real else [])


def bench_prompt_size(ctx: Any) -> None:
    db = open_db(ctx.tmp / "prompt-size.db")
    ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
    # This schema's prompts (news_events.v1, .v2, news_events_compact.v1), not those of another schema whose
    # name merely starts the same (news_events_v2.v1 is the v2 schema's).
    others = {p.stem for p in (ROOT / "schemas").glob("*.py")} - {SCHEMA.name}
    versions = sorted(v for v in RELEASED if v.startswith(SCHEMA.name) and v.rsplit(".", 1)[0] not in others)
    for counter in counters():
        tokenizer = "SmolLM2" if counter.exact else "chars/4"
        for version in versions:
            prompt = load_prompt(version, SCHEMA.name)
            jobs = pending_jobs(db, SCHEMA, prompt, MODEL, run_key="")
            sizes = measure_prompts((prompt.messages(SCHEMA, j.text, j.headline, j.before, after=j.after)
                                     for j in jobs), counter)
            cached = "cacheable by OpenAI" if sizes.prefix_tokens >= CACHE_MIN_TOKENS else \
                f"under OpenAI's {CACHE_MIN_TOKENS:,}-token cache threshold"
            ctx.add(Result(f"prompt_{version}_{tokenizer}", f"{version}: fixed part + per sentence ({tokenizer})",
                           sizes.prompt_per_sentence, "tokens a prompt", None, "", None, "", None,
                           f"fixed part {sizes.prefix_tokens:,.0f} ({cached}) + {sizes.per_sentence:,.0f} for the "
                           f"sentence and its context; {counter.name}",
                           {"prefix_tokens": sizes.prefix_tokens, "per_sentence": sizes.per_sentence,
                            "sentences": sizes.sentences, "example_answer_tokens": sizes.example_answer_tokens,
                            "exact": counter.exact}))
