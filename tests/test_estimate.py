"""annotate --estimate: the pure figures worked out by hand, then against what a real run on the stub reports."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from annotator.annotate import RunOptions, annotate
from annotator.annotate.estimate import (
    DraftStats,
    Prices,
    PromptSizes,
    TokenCounter,
    cacheable,
    describe,
    estimate,
    heuristic_counter,
    measure_prompts,
)
from annotator.annotate.estimate_edge import draft_stats, estimate_pending, pick_counter
from annotator.ingest import ingest, read_inputs
from annotator.llm import LLMClient
from annotator.prompts import RELEASED, load_prompt
from annotator.resources import data_file
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.cli import child_env, run_child
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

SCHEMA = load_schema("news_events")
PROMPT = load_prompt(None, "news_events")
CHARS = TokenCounter("one token a character", len, exact=True, per_message=2, per_reply=1)


def conversation(sentence: str) -> list[dict]:
    return [{"role": "system", "content": "abcd"}, {"role": "user", "content": "ef"},
            {"role": "assistant", "content": "ghi"}, {"role": "user", "content": sentence}]


def test_measure_prompts_splits_the_fixed_part_from_each_sentences_own() -> None:
    sizes = measure_prompts([conversation("12345"), conversation("123")], CHARS)
    # fixed: (4 + 2) + (2 + 2) + (3 + 2) = 15; own: 5 + 2 + 1 = 8 and 3 + 2 + 1 = 6
    assert (sizes.sentences, sizes.prefix_tokens, sizes.tail_tokens) == (2, 15, 14)
    assert sizes.prompt_per_sentence == 22 and sizes.example_answer_tokens == 3 and sizes.counted == 2


def test_measure_prompts_scales_the_sentences_past_the_sample_by_length() -> None:
    counter = TokenCounter("two characters a token", lambda text: len(text) / 2, exact=True)
    sizes = measure_prompts([conversation("aaaa"), conversation("bbbbbbbb")], counter, sample=1)
    # the first is counted (4 chars -> 2 tokens: 0.5 a character); the second is scaled: 8 * 0.5 = 4
    assert sizes.counted == 1 and sizes.tail_tokens == 6


def test_measure_prompts_keeps_only_the_leading_messages_all_share_as_fixed() -> None:
    other = conversation("xy")
    other[2] = {"role": "assistant", "content": "zz"}  # another worked example (retrieved examples)
    sizes = measure_prompts([conversation("12345"), other], CHARS)
    # shared: system + first user = 6 + 4 = 10; own: "ghi"+"12345" (8 + 2*2 + 1 = 13) and "zz"+"xy" (4 + 4 + 1 = 9)
    assert sizes.prefix_tokens == 10 and sizes.tail_tokens == 22 and sizes.example_answer_tokens is None


@pytest.mark.parametrize("prefix, cached", [(1023, 0), (1024, 1024), (1151, 1024), (1152, 1152), (3000, 2944)])
def test_cacheable_prefix_starts_at_1024_tokens_in_steps_of_128(prefix, cached) -> None:
    assert cacheable(prefix) == cached


def sizes(n: int = 10, prefix: float = 1100, own: float = 100, example: float | None = 60) -> PromptSizes:
    return PromptSizes(n, prefix, n * own, n, example, "test", True)


def test_estimate_prices_reasks_cache_and_output_apart() -> None:
    figures = estimate(sizes(), DraftStats(4, 5, 250, "so far"), Prices(1.0, 2.0, 0.5))
    # 50 completion tokens a call, 1.25 calls a sentence: 12.5 calls, 2.5 re-asks
    assert figures.calls == 12.5 and figures.completion_per_call == 50
    assert figures.prompt_tokens == 10 * 1200 + 2.5 * (1200 + 50 + 40)  # 15,225
    assert figures.completion_tokens == 625 and figures.cached_tokens == 11.5 * 1024
    assert figures.cost_input == pytest.approx((15225 - 11776) / 1e6)
    assert figures.cost_cached == pytest.approx(11776 * 0.5 / 1e6)
    assert figures.cost_output == pytest.approx(1250 / 1e6)
    assert figures.cost == pytest.approx(0.010587)


def test_estimate_for_the_batch_api_is_half_price_without_a_cache() -> None:
    figures = estimate(sizes(), DraftStats(4, 5, 250), Prices(1.0, 2.0, 0.5, batch=True))
    assert figures.cached_tokens == 0
    assert figures.cost == pytest.approx((15225 * 1.0 + 625 * 2.0) / 2 / 1e6)


def test_estimate_without_drafts_uses_the_worked_examples_then_a_stated_default() -> None:
    assert estimate(sizes(), DraftStats(), Prices()).completion_per_call == 60
    lone = estimate(sizes(example=None), DraftStats(), Prices())
    assert lone.completion_per_call == 100 and lone.completion_source == "default: 100 tokens"
    assert lone.cost is None and lone.cached_tokens == 9 * 1024
    text = "\n".join(describe(estimate(sizes(prefix=840), DraftStats(), Prices()), "m", "p.v1"))
    assert "under the 1,024 tokens" in text and "pass --price-in and --price-out" in text


def test_every_builtin_prompt_keeps_its_fixed_part_first_and_whole() -> None:
    for version in RELEASED:
        prompt = load_prompt(version, "news_events")
        for include_schema in (False, True):
            a = prompt.messages(SCHEMA, "Rebels took Mora.", "Headline", ["Before."], include_schema=include_schema)
            b = prompt.messages(SCHEMA, "Police left.", None, [], include_schema=include_schema, after=["After."])
            assert a[:-1] == b[:-1] and a[-1] != b[-1], version  # only the last turn depends on the sentence


_PLACES = ["Mora", "Port Selva", "Valdora", "Kessa", "Doran"]
_FORMS = ["{g} attacked a checkpoint near {p} on Sunday, killing at least {n} people, officials said.",
          "Witnesses said {n} civilians were wounded when a drone struck a market in {p}.",
          "Hundreds of residents marched through {p} to protest the killing of {n} farmers."]


def corpus(path: Path, documents: int) -> Path:
    rng = random.Random(5)
    with path.open("w") as fh:
        for d in range(documents):
            body = " ".join(rng.choice(_FORMS).format(g=rng.choice(["Rebels", "The army"]), p=rng.choice(_PLACES),
                                                      n=rng.randint(2, 900)) for _ in range(9))
            fh.write(json.dumps({"id": f"d{d}", "title": f"Fighting near {rng.choice(_PLACES)}", "text": body}) + "\n")
    return path


def test_estimate_matches_a_real_run_on_the_stub_within_ten_percent(tmp_path) -> None:
    db = open_db(tmp_path / "e.db")
    ingest(db, read_inputs([str(corpus(tmp_path / "c.jsonl", 12))]))  # 120 sentences
    with StubLLM(responder=news_responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="k", model="stub", backoff=0.02)
        annotate(db, client, SCHEMA, PROMPT, concurrency=4, limit=30)  # drafts so far, for the completion side
        assert pick_counter(client).exact is False  # the stub has no tokenizer: the estimate says so
        calls = stub.calls
        figures = estimate_pending(db, client, SCHEMA, PROMPT, Prices(0.15, 0.6))
        assert stub.calls == calls  # no LLM call
        assert figures.sizes.sentences == 90 and figures.calls == 90
        report = annotate(db, client, SCHEMA, PROMPT, concurrency=4)
    assert report.by_status == {"ok": 90}
    assert figures.prompt_tokens == pytest.approx(report.prompt_tokens, rel=0.10)
    assert figures.completion_tokens == pytest.approx(report.completion_tokens, rel=0.10)
    real_cost = (report.prompt_tokens * 0.15 + report.completion_tokens * 0.6) / 1e6  # no cache at the stub
    assert figures.cost == pytest.approx(real_cost, rel=0.10)


def test_draft_stats_prefer_the_same_prompt_then_the_model(tmp_path) -> None:
    db = open_db(tmp_path / "s.db")
    ingest(db, read_inputs([str(corpus(tmp_path / "c.jsonl", 1))]))
    with StubLLM(responder=news_responder) as stub:
        annotate(db, LLMClient(base_url=stub.base_url, api_key="k", model="stub"), SCHEMA, PROMPT, limit=3)
    same = draft_stats(db, SCHEMA.hash, PROMPT.version, "stub")
    assert (same.drafts, same.attempts) == (3, 3) and same.scope == "this schema, prompt and model"
    assert draft_stats(db, SCHEMA.hash, "other.v9", "stub").scope == "this model, other prompts"
    assert draft_stats(db, SCHEMA.hash, PROMPT.version, "gpt-x") == DraftStats()


@pytest.mark.process
def test_cli_estimate_prints_figures_and_sends_nothing(tmp_path) -> None:
    with StubLLM(responder=news_responder) as stub:
        env = child_env(tmp_path, stub)
        result = run_child("annotate", "--estimate", "--price-in", "0.15", "--price-out", "0.6", env=env)
        assert result.returncode == 0, result.stderr
        assert stub.calls == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Estimate for 11 sentences to draft with stub")
    assert "estimated as characters / 4" in lines[1] and lines[-1].startswith("  cost:        $")
    half = run_child("annotate", "--estimate", "--price-in", "0.15", env=env)
    assert half.returncode == 2 and "--price-in and --price-out go together" in half.stderr


def test_heuristic_counter_is_characters_over_four() -> None:
    assert heuristic_counter().count("x" * 10) == 2.5 and not heuristic_counter().exact
    assert measure_prompts([conversation("abcdefgh")], heuristic_counter()).prompt_per_sentence == (4 + 2 + 3 + 8) / 4


@pytest.mark.llamacpp
def test_estimate_counts_smollm2s_own_tokens_like_the_server(llama_server, tmp_path) -> None:
    db = open_db(tmp_path / "smol.db")
    ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
    client = LLMClient(base_url=llama_server.url, api_key=None, model=llama_server.model, max_tokens=64)
    figures = estimate_pending(db, client, SCHEMA, PROMPT, Prices(), RunOptions(mode="json_object", limit=3))
    assert figures.sizes.exact and "own tokenizer" in figures.sizes.counter
    annotate(db, client, SCHEMA, PROMPT, mode="json_object", concurrency=1, limit=3, max_reasks=0)
    served = db.execute("SELECT sum(prompt_tokens), count(*) FROM drafts").fetchone()
    assert served[1] == 3 and figures.prompt_tokens == pytest.approx(served[0], rel=0.02)
