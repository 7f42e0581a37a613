"""The estimate's edge: the pending sentences' real prompts, drafts so far, and a tokenizer where one is at hand.

Token counters, best first:
- the llama.cpp server's own tokenizer (`POST /extras/tokenize/count` of llama-cpp-python's
  server, e.g. the embedded SmolLM2): exact, one short request per text, no completion;
- tiktoken for OpenAI model names, only when its BPE files are already cached
  (TIKTOKEN_CACHE_DIR set): it downloads them otherwise, and an estimate sends nothing;
- characters / 4, said to be an estimate.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import httpx
import sqlite_utils

from ..llm.client import LLMClient
from ..prompts import Prompt
from ..schema import Schema
from ..store import DraftStatus
from .drafter import ModeResolver
from .estimate import DraftStats, Estimate, Prices, TokenCounter, estimate_run, heuristic_counter
from .jobs import pending_jobs
from .prepare import RunOptions, remembered_mode

CHATML_MESSAGE, CHATML_REPLY = 5, 3
"""Template tokens around a message (`<|im_start|>role\\n ... <|im_end|>\\n`) and before the reply."""
OPENAI_MESSAGE, OPENAI_REPLY = 3, 3
"""OpenAI's documented overhead of a chat message and of the reply's priming."""

# A draft's sampled answers (`annotate --samples`) are in its tokens too: taken out, so a call is one answer.
_DRAFTS = (f"SELECT count(*), coalesce(sum(attempts), 0), coalesce(sum(completion_tokens - "
           f"coalesce(json_extract(signals, '$.sample_completion_tokens'), 0)), 0) FROM drafts "
           f"WHERE model = ? AND cached = 0 AND attempts > 0 AND status IN ('{DraftStatus.OK.value}', "
           f"'{DraftStatus.INVALID.value}')")


def draft_stats(db: sqlite_utils.Database, schema_hash: str, prompt_version: str, model: str) -> DraftStats:
    """Paid drafts so far: of this schema, prompt and model if there are any, else of this model."""
    for extra, params, scope in ((" AND schema_hash = ? AND prompt_version = ?", [schema_hash, prompt_version],
                                  "this schema, prompt and model"), ("", [], "this model, other prompts")):
        drafts, attempts, completion = db.execute(_DRAFTS + extra, [model, *params]).fetchone()
        if drafts:
            return DraftStats(drafts, attempts, completion, scope)
    return DraftStats()


def llama_counter(base_url: str, model: str, timeout: float = 5.0) -> TokenCounter | None:
    """The server's own tokenizer through llama-cpp-python's /extras/tokenize/count, if it answers."""
    root = base_url.rstrip("/").removesuffix("/v1")
    client = httpx.Client(timeout=timeout)

    def count(text: str) -> int:
        reply = client.post(f"{root}/extras/tokenize/count", json={"input": text, "model": model})
        reply.raise_for_status()
        return int(reply.json()["count"])

    try:
        bos = count("")  # the tokenizer may add a start token to every text: counted once per prompt, not per text
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        client.close()
        return None
    return TokenCounter(f"counted with {model}'s own tokenizer (the llama.cpp server's /extras/tokenize)",
                        lambda text: count(text) - bos, exact=True, per_message=CHATML_MESSAGE, per_reply=CHATML_REPLY)


def tiktoken_counter(model: str) -> TokenCounter | None:
    """tiktoken's encoding for an OpenAI model name, only from files already cached (never a download)."""
    if not os.environ.get("TIKTOKEN_CACHE_DIR") or importlib.util.find_spec("tiktoken") is None:
        return None
    import tiktoken

    try:
        encoding = tiktoken.encoding_for_model(model)
    except Exception:  # noqa: BLE001 - unknown name or files not cached: fall back to the estimate
        return None
    return TokenCounter(f"counted with tiktoken ({encoding.name})", lambda text: len(encoding.encode(text)),
                        exact=True, per_message=OPENAI_MESSAGE, per_reply=OPENAI_REPLY)


def pick_counter(client: LLMClient, finders: tuple[Callable[[], TokenCounter | None], ...] | None = None) -> TokenCounter:
    """The best counter for the client's server and model (see the module's docstring)."""
    finders = finders or ((lambda: llama_counter(client.base_url, client.model)) if client.base_url else (lambda: None),
                          lambda: tiktoken_counter(client.model))
    for find in finders:
        counter = find()
        if counter is not None:
            return counter
    return heuristic_counter()


def estimate_pending(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt, prices: Prices,
                     options: RunOptions | None = None, *, counter: TokenCounter | None = None) -> Estimate:
    """The estimate for what `annotate` would draft now with these options; nothing is sent but tokenizing."""
    options = options or RunOptions()
    resolved = ModeResolver(options.mode, remembered_mode(db, client.model)).mode
    jobs = pending_jobs(db, schema, prompt, client.model, client.run_key, options.limit, options.retry_invalid,
                        options.selection)
    conversations = (prompt.messages(schema, j.text, j.headline, j.before, include_schema=resolved == "prompt",
                                     after=j.after, examples=j.examples) for j in jobs)
    stats = draft_stats(db, schema.hash, prompt.version, client.model)
    return estimate_run(conversations, counter or pick_counter(client), stats, prices, samples=client.samples)
