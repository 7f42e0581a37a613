"""What a run will cost before it runs: the real prompts measured in tokens, completions from drafts so far, prices.

The core is pure: `measure_prompts` turns rendered conversations into sizes with a token
counter (any callable), and `estimate` turns sizes, draft statistics and prices into the
figures. `estimate_pending` (in `estimate_edge`) feeds them from the database and picks
the counter; nothing here sends a chat request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

CHARS_PER_TOKEN = 4
"""The rule of thumb for English text when no tokenizer is at hand (it is what the test stub counts)."""
DEFAULT_COMPLETION_TOKENS = 100
"""Completion tokens a call when there are neither drafts so far nor worked-example answers in the prompt."""
REASK_TOKENS = 40
"""Tokens a re-ask adds to the conversation besides the rejected reply: the reason it was rejected."""
CACHE_MIN_TOKENS = 1024
CACHE_STEP = 128
"""OpenAI caches a prompt's prefix from 1,024 tokens on, in steps of 128 tokens."""
SAMPLE = 200
"""Per-sentence parts counted with a (remote) tokenizer; the rest are scaled from them by length."""
BATCH_DISCOUNT = 0.5
"""The Batch API costs half the online price."""


@dataclass(frozen=True)
class TokenCounter:
    """Counts the tokens of a text; `per_message` and `per_reply` are the chat template's own tokens."""

    name: str  # how the tokens are counted, said in the output
    count: Callable[[str], float]
    exact: bool  # a real tokenizer, not an estimate
    per_message: int = 0
    per_reply: int = 0


def heuristic_counter() -> TokenCounter:
    """characters / 4: an estimate, said as such."""
    return TokenCounter(f"estimated as characters / {CHARS_PER_TOKEN} (no tokenizer for this model)",
                        lambda text: len(text) / CHARS_PER_TOKEN, exact=False)


@dataclass(frozen=True)
class PromptSizes:
    """The pending sentences' prompts in tokens: a fixed part sent with every one, and a part per sentence."""

    sentences: int
    prefix_tokens: float  # the leading messages every prompt shares (system, worked examples)
    tail_tokens: float  # the sentences' own parts, all together (reply priming included)
    counted: int  # sentence turns counted one by one (the rest scaled by length)
    example_answer_tokens: float | None  # mean of the prompt's worked-example answers
    counter: str
    exact: bool

    @property
    def per_sentence(self) -> float:
        """The mean per-sentence part."""
        return self.tail_tokens / self.sentences if self.sentences else 0.0

    @property
    def prompt_per_sentence(self) -> float:
        """The mean whole prompt."""
        return self.prefix_tokens + self.per_sentence


def _text(messages: list[dict]) -> str:
    return "".join(str(m.get("content") or "") for m in messages)


def _shared(a: list[dict], b: list[dict]) -> int:
    """How many leading messages two conversations share."""
    k = 0
    while k < len(a) and k < len(b) and a[k] == b[k]:
        k += 1
    return k


def measure_prompts(conversations: Iterable[list[dict]], counter: TokenCounter, sample: int = SAMPLE) -> PromptSizes:
    """Sizes of the conversations annotate would send (each ends with the sentence's user turn).

    The fixed part is the leading messages every conversation shares (system, worked
    examples); the rest is the sentence's own part. Those of the first `sample` sentences
    are counted one by one; the others are scaled from them by their length in characters.
    """
    first: list[dict] | None = None
    cum = [0.0]  # tokens of the first conversation's leading messages, cumulative
    shared = None
    cum_sum = counted_tokens = counted_chars = rest_chars = 0.0
    n = counted = own_messages = 0
    for messages in conversations:
        head = messages[:-1]
        if first is None:
            first = head
            for m in head:
                cum.append(cum[-1] + counter.count(str(m.get("content") or "")) + counter.per_message)
        k = len(first) if head == first else _shared(head, first)
        shared = k if shared is None else min(shared, k)
        cum_sum += cum[k]
        own = messages[k:]
        own_messages += len(own)
        text = _text(own)
        if counted < sample:
            counted_tokens += counter.count(text)
            counted_chars += len(text)
            counted += 1
        else:
            rest_chars += len(text)
        n += 1
    ratio = counted_tokens / counted_chars if counted_chars else 1 / CHARS_PER_TOKEN
    fixed = cum[shared or 0]
    own_tokens = counted_tokens + ratio * rest_chars + own_messages * counter.per_message + n * counter.per_reply
    answers = [m for m in (first or [])[:shared or 0] if m.get("role") == "assistant"]
    example = sum(counter.count(str(m.get("content") or "")) for m in answers) / len(answers) if answers else None
    return PromptSizes(n, fixed, cum_sum - n * fixed + own_tokens, counted, example, counter.name, counter.exact)


@dataclass(frozen=True)
class DraftStats:
    """Drafts made so far that went to the LLM (not from the cache), for the expected completion and re-asks."""

    drafts: int = 0
    attempts: int = 0
    completion_tokens: int = 0
    scope: str = ""  # which drafts: "this prompt and model", "this model"


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; cached input is priced as input unless given."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    batch: bool = False  # the Batch API: half price, no prompt cache assumed

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None


@dataclass(frozen=True)
class Estimate:
    """The figures `annotate --estimate` prints."""

    sizes: PromptSizes
    calls: float
    prompt_tokens: float
    cached_tokens: float
    completion_tokens: float
    completion_per_call: float
    completion_source: str
    attempts_per_sentence: float
    cacheable_prefix: int
    prices: Prices
    cost_input: float | None = None
    cost_cached: float | None = None
    cost_output: float | None = None

    @property
    def cost(self) -> float | None:
        """The total in USD, or None without prices."""
        if self.cost_input is None or self.cost_cached is None or self.cost_output is None:
            return None
        return self.cost_input + self.cost_cached + self.cost_output


def cacheable(prefix_tokens: float, minimum: int = CACHE_MIN_TOKENS, step: int = CACHE_STEP) -> int:
    """Tokens of a fixed prefix a provider caches: none under `minimum`, else whole steps from the start."""
    if prefix_tokens < minimum:
        return 0
    return minimum + int((prefix_tokens - minimum) // step) * step


def completion_expected(sizes: PromptSizes, stats: DraftStats) -> tuple[float, float, str]:
    """(completion tokens a call, calls a sentence, where that comes from)."""
    if stats.attempts > 0:
        return (stats.completion_tokens / stats.attempts, stats.attempts / max(stats.drafts, 1),
                f"mean of {stats.drafts:,} drafts so far ({stats.scope})")
    if sizes.example_answer_tokens is not None:
        return sizes.example_answer_tokens, 1.0, "default: the length of the prompt's worked-example answers"
    return float(DEFAULT_COMPLETION_TOKENS), 1.0, f"default: {DEFAULT_COMPLETION_TOKENS} tokens"


def estimate(sizes: PromptSizes, stats: DraftStats, prices: Prices, samples: int = 0) -> Estimate:
    """Tokens and cost of drafting the measured sentences.

    A sentence takes `attempts` calls (from drafts so far); a re-ask sends the prompt again
    with the rejected reply and the reason; `samples` more calls send the first prompt again
    each (`annotate --samples K`). Every call but the first reads the fixed prefix from the
    provider's cache when it is long enough (not in a batch).
    """
    per_call, attempts, source = completion_expected(sizes, stats)
    n = sizes.sentences
    reasks = n * attempts - n
    calls = n * attempts + n * samples
    prompt = (n * (1 + samples) * sizes.prompt_per_sentence
              + reasks * (sizes.prompt_per_sentence + per_call + REASK_TOKENS))
    completion = calls * per_call
    prefix = cacheable(sizes.prefix_tokens)
    cached = 0.0 if prices.batch else max(0.0, calls - 1) * prefix
    figures = Estimate(sizes, calls, prompt, cached, completion, per_call, source, attempts + samples, prefix, prices)
    if not prices.known:
        return figures
    scale = (BATCH_DISCOUNT if prices.batch else 1.0) / 1_000_000
    cached_price = prices.cached_input if prices.cached_input is not None else prices.input
    assert prices.input is not None and prices.output is not None and cached_price is not None
    return Estimate(sizes, calls, prompt, cached, completion, per_call, source, attempts + samples, prefix, prices,
                    cost_input=(prompt - cached) * prices.input * scale, cost_cached=cached * cached_price * scale,
                    cost_output=completion * prices.output * scale)


def estimate_run(conversations: Iterable[list[dict]], counter: TokenCounter, stats: DraftStats,
                 prices: Prices, samples: int = 0) -> Estimate:
    """The estimate straight from the rendered conversations."""
    return estimate(measure_prompts(conversations, counter), stats, prices, samples)


def describe(e: Estimate, model: str, prompt_version: str) -> list[str]:
    """The lines `annotate --estimate` prints."""
    s = e.sizes
    lines = [f"Estimate for {s.sentences:,} sentences to draft with {model}, prompt {prompt_version} "
             "(no LLM call was made).",
             f"  prompt:      {e.prompt_tokens:,.0f} tokens, {s.prompt_per_sentence:,.0f} a sentence = fixed part "
             f"{s.prefix_tokens:,.0f} (system and worked examples, first in every prompt) + "
             f"{s.per_sentence:,.0f} for the sentence and its context; {s.counter}"
             + ("" if s.counted >= s.sentences else f", {s.counted:,} sentences counted and the rest scaled by length"),
             f"  completion:  {e.completion_tokens:,.0f} tokens, {e.completion_per_call:,.0f} a call ({e.completion_source}); "
             f"{e.calls:,.0f} calls, {e.attempts_per_sentence:.2f} a sentence"]
    if e.prices.batch:
        lines.append("  cached:      none assumed in a batch")
    elif e.cacheable_prefix:
        lines.append(f"  cached:      {e.cached_tokens:,.0f} prompt tokens ({e.cacheable_prefix:,} of the fixed part, "
                     "in every call but the first)")
    else:
        lines.append(f"  cached:      none: the fixed part ({s.prefix_tokens:,.0f} tokens) is under the "
                     f"{CACHE_MIN_TOKENS:,} tokens from which OpenAI caches a prompt")
    if e.cost is None:
        lines.append("  cost:        pass --price-in and --price-out (USD per million tokens) for a cost")
        return lines
    p = e.prices
    cached_price = p.cached_input if p.cached_input is not None else p.input
    lines.append(f"  cost:        ${e.cost:,.4f} = input ${e.cost_input:,.4f} + cached ${e.cost_cached:,.4f} + "
                 f"output ${e.cost_output:,.4f} at ${p.input:g} / ${cached_price:g} / ${p.output:g} per million"
                 + (", halved for the Batch API" if p.batch else "")
                 + ("" if p.cached_input is not None or p.batch else " (cached input at the input price: "
                    "pass --price-cached-in for the discount)"))
    return lines
