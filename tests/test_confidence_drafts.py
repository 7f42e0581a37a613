"""Signals stored with each draft, from the stub LLM: log-probabilities when the server sends them, K samples."""

from __future__ import annotations

import json

from annotator.annotate import annotate
from annotator.ingest import ingest, read_inputs
from annotator.store import open_db
from tests.support.drafting import ARTICLE, PROMPT, SCHEMA, client_for
from tests.support.responders import news_answer, news_responder, target_sentence
from tests.support.stub_llm import StubLLM


def new_db(tmp_path, name="a.db"):
    database = open_db(tmp_path / name)
    ingest(database, read_inputs([ARTICLE]))
    return database


def ok_drafts(db) -> list[dict]:
    return list(db.query("SELECT * FROM drafts WHERE status = 'ok' ORDER BY sentence_id"))


def tokens_over(start: int, end: int, size: int = 3) -> int:
    """How many of the stub's 3-character tokens overlap characters [start, end)."""
    return (end - 1) // size - start // size + 1


def value_at(raw: str, key: str, value: str, after: int = 0) -> tuple[int, int]:
    """Where `"key": "value"` puts the value in the answer's text."""
    start = raw.index(f'"{key}": "{value}"', after) + len(f'"{key}": "')
    return start, start + len(value)


def test_every_field_and_span_gets_the_log_probability_of_its_tokens(tmp_path):
    db = new_db(tmp_path)
    with StubLLM(responder=news_responder) as stub:
        stub.logprobs = "send"
        stub.token_logprob = lambda token: -1.0  # a value's log-probability is minus its token count
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=2)
        assert report.by_status == {"ok": 11}
        assert all(body.get("logprobs") is True for body in stub.requests)
    for row in ok_drafts(db):
        signals, raw, data = json.loads(row["signals"]), row["raw"], json.loads(row["data"])
        start, end = value_at(raw, "event_type", data["event_type"])
        assert signals["fields"]["event_type"] == {"logprob": -tokens_over(start, end), "agreement": None}
        kept = signals["spans"]["entities"]
        assert len(kept) == len(data["entities"]) == len(json.loads(raw)["entities"]) - 1  # Atlantis dropped
        for span in kept:
            text = next(s["text"] for s in json.loads(row["spans"]) if s["start"] == span["start"])
            t_start, t_end = value_at(raw, "text", text)
            l_start, l_end = value_at(raw, "label", span["label"], t_end)
            assert span["logprob"] == -(tokens_over(t_start, t_end) + tokens_over(l_start, l_end))
        assert signals["samples"] == 0 and signals["first_attempt_valid"] is True
        n_returned = len(json.loads(raw)["entities"]) + len(json.loads(raw)["sources"])
        assert signals["grounded"] == (n_returned - 1) / n_returned


def test_cached_answers_keep_their_log_probabilities(tmp_path):
    db = new_db(tmp_path)
    with StubLLM(responder=news_responder) as stub:
        stub.logprobs = "send"
        annotate(db, client_for(stub), SCHEMA, PROMPT)
        first = {r["sentence_id"]: r["signals"] for r in ok_drafts(db)}
        db.execute("DELETE FROM drafts")
        db.conn.commit()
        calls = stub.calls
        again = annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert again.llm_calls == 0 and stub.calls == calls
    assert {r["sentence_id"]: r["signals"] for r in ok_drafts(db)} == first
    assert all(json.loads(s)["fields"]["event_type"]["logprob"] is not None for s in first.values())


def test_a_server_that_refuses_log_probabilities_drafts_as_before_and_is_not_asked_again(tmp_path):
    db = new_db(tmp_path)
    with StubLLM(responder=news_responder) as stub:
        stub.logprobs = "refuse"
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1)
        assert report.by_status == {"ok": 11}
        assert stub.counts["logprobs_refused"] == 1 and stub.calls == 12  # one refusal, then 11 answers
        rows = ok_drafts(db)
        assert all(json.loads(r["signals"])["fields"]["event_type"]["logprob"] is None for r in rows)
        assert db.execute("SELECT model FROM llm_logprobs_refused WHERE server = ?",
                          [client_for(stub).server]).fetchall() == [("stub",)]
        (tmp_path / "more.txt").write_text("Rebels shelled Port Selva on Monday, the army said.", encoding="utf-8")
        ingest(db, read_inputs([str(tmp_path / "more.txt")]))
        sent = len(stub.requests)
        annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert stub.requests[sent:] and all("logprobs" not in body for body in stub.requests[sent:])
        assert stub.counts["logprobs_refused"] == 1


def sampling_responder():
    """The first answer says event type "none"; sampled answers (temperature > 0) alternate "protest", "none"."""
    state = {"sampled": 0}

    def respond(body: dict) -> dict:
        answer = news_answer(target_sentence(body))
        if body.get("temperature", 0) > 0:
            state["sampled"] += 1
            answer["event_type"] = "protest" if state["sampled"] % 2 else "none"
        return answer

    return respond


def test_samples_are_k_more_calls_and_their_agreement_is_stored(tmp_path):
    db = new_db(tmp_path)
    with StubLLM(responder=sampling_responder()) as stub:
        plain = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1)
        assert plain.llm_calls == 11
        sampled = annotate(db, client_for(stub, samples=2, sample_temperature=0.9), SCHEMA, PROMPT, concurrency=1)
        assert sampled.by_status == {"ok": 11}  # K is part of the draft's settings: drafted again
        assert sampled.llm_calls == 11 * 2  # the first answers come from the plain run's cache: K = 2 more each
        temperatures = sorted({body["temperature"] for body in stub.requests})
        assert temperatures == [0.0, 0.9]
    rows = [r for r in ok_drafts(db) if r["signals"] and json.loads(r["signals"])["samples"] == 2]
    assert len(rows) == 11
    for row in rows:
        signals = json.loads(row["signals"])
        assert signals["fields"]["event_type"]["agreement"] == 0.5  # one "protest", one "none"
        assert signals["fields"]["attribution"]["agreement"] == 1.0
        assert all(span["agreement"] == 1.0 for span in signals["spans"]["entities"])
        assert signals["sample_completion_tokens"] > 0 and row["completion_tokens"] > signals["sample_completion_tokens"]


def test_the_estimate_counts_the_samples_calls_and_tokens():
    from annotator.annotate.estimate import DraftStats, Prices, PromptSizes, estimate

    # 10 sentences, a 100-token fixed part and 20 tokens each: a prompt is 120 tokens.
    sizes = PromptSizes(sentences=10, prefix_tokens=100, tail_tokens=200, counted=10, example_answer_tokens=None,
                        counter="test", exact=True)
    stats = DraftStats(drafts=4, attempts=5, completion_tokens=250)  # 1.25 calls a sentence, 50 tokens a call
    plain, sampled = estimate(sizes, stats, Prices()), estimate(sizes, stats, Prices(), samples=3)
    assert plain.calls == 12.5 and sampled.calls == 12.5 + 30          # 10 x 1.25, then 3 more a sentence
    assert sampled.completion_tokens == 42.5 * 50
    # Prompts: 10 first asks + 30 samples of 120 tokens; 2.5 re-asks of 120 + 50 + the re-ask's own words.
    assert sampled.prompt_tokens - plain.prompt_tokens == 30 * 120
