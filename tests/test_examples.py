"""Worked examples retrieved from gold (BM25 over FTS5): no leakage, stable, part of a draft's identity.

The corpus is written for these tests. Gold is in project "Gold news" for every
sentence of documents A and C; documents B and D have none. Expected neighbours,
worked out by hand with FTS5's BM25, whose weight for a word found in n of the N
indexed sentences is ln((N - n + 0.5) / (n + 0.5)), floored at almost 0 (so a word
in half the sentences or more weighs nothing), and where of two equal matches the
shorter sentence wins. With the 5 gold sentences, a word in 1 weighs 1.10, in 2 0.34:

- B0 "Another drone struck a fuel depot near Valdora on Friday, officials said.":
  A0 shares fuel (1.10) and drone, struck, depot, said, on (0.34 each): 2.78; C0 shares
  drone, struck, depot, said: 1.34; C1 shares only on: 0.34. K=2: A0, then C0.
- B1 "Protesters marched through Kessa on Sunday.": A1 shares kessa (1.10); A0 and C1
  share on (0.34), and C1 is shorter. K=2: A1, then C1.
- With E0 "A drone struck a fuel depot near Valdora, police said." added as gold
  (N = 6): near and valdora are E0's alone (1.30 each), fuel is in A0 and E0 (0.59),
  drone, struck, depot, said are in 3 of 6 (nothing). B0: E0 3.19, A0 1.18 (fuel, on).
  B1 keeps A1, C1 (E0 has neither kessa nor on).
- D1 has A1's exact text in another document: A1 is never its example.
"""

from __future__ import annotations

import json
import uuid

import pytest

from annotator.annotate import annotate
from annotator.annotate.jobs import Selection, count_pending, pending_jobs
from annotator.errors import InputError
from annotator.examples import ExampleIndex, fts_query, pick_gold
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.api import open_client
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import dumps, open_db
from tests.support.responders import news_answer, news_responder, target_sentence
from tests.support.stub_llm import StubLLM

SCHEMA = load_schema("news_events")
PROMPT = load_prompt(None, "news_events")

A0 = "A drone struck a fuel depot in Port Selva on Thursday, the governor said."
A1 = "Rebels shelled the market in Kessa, killing four civilians."
A2 = "The army denied that its troops had entered Mora."
B0 = "Another drone struck a fuel depot near Valdora on Friday, officials said."
B1 = "Protesters marched through Kessa on Sunday."
C0 = "A drone struck an ammunition depot in Mora, the army said."
C1 = "Talks on a ceasefire resumed in the capital."
E0 = "A drone struck a fuel depot near Valdora, police said."
DOCS = {"A": [A0, A1, A2], "B": [B0, B1], "C": [C0, C1], "D": ["Shelling went on all night.", A1]}
PROJECT = "Gold news"


def add_docs(db, docs: dict[str, list[str]]) -> dict[str, str]:
    """Ingest each document (one sentence a line); sentence text -> id (the first one, for A1)."""
    ingest(db, [DocInput(text="\n".join(lines), origin=f"test:{name}") for name, lines in docs.items()])
    ids: dict[str, str] = {}
    for row in db.query("SELECT id, text FROM sentences ORDER BY rowid"):
        ids.setdefault(row["text"], row["id"])
    return ids


def add_gold(db, project_id: str, sentence_id: str, text: str, annotation_id: int, updated: str = "2025-01-01",
             **values) -> str:
    """One ok gold row (and its task) for the sentence; its id."""
    task_id = 1000 + annotation_id
    db["tasks"].insert({"project_id": project_id, "sentence_id": sentence_id, "task_id": task_id, "pushed_at": "x"},
                       ignore=True)
    data = {**news_answer(text, None), **values}
    gold_id = f"g{annotation_id}"
    db["gold"].insert({"id": gold_id, "project_id": project_id, "task_id": task_id, "sentence_id": sentence_id,
                       "annotation_id": annotation_id, "annotator": "a@x", "status": "ok", "schema_name": SCHEMA.name,
                       "schema_hash": SCHEMA.hash, "data": dumps(SCHEMA.model.model_validate(data)
                                                                 .model_dump(mode="json")),
                       "spans": "[]", "ground_truth": 0, "created_at": updated, "updated_at": updated})
    return gold_id


@pytest.fixture
def corpus(tmp_path):
    db = open_db(tmp_path / "examples.db")
    ids = add_docs(db, DOCS)
    db["projects"].insert({"id": "p-gold", "ls_id": 1, "name": PROJECT, "url": "http://ls.test",
                           "schema_name": SCHEMA.name, "schema_hash": SCHEMA.hash, "created_at": "x"})
    gold = {text: add_gold(db, "p-gold", ids[text], text, n) for n, text in enumerate([A0, A1, A2, C0, C1], 1)}
    return db, ids, gold


def client_for(stub: StubLLM) -> LLMClient:
    return LLMClient(base_url=stub.base_url, api_key="test-key", model="stub", timeout=5, backoff=0.02)


def with_examples(db, k: int = 2, **kw) -> Selection:
    return Selection(examples=ExampleIndex(db, SCHEMA, PROJECT, k), **kw)


def jobs_by_text(db, selection: Selection, run_key: str = "k") -> dict:
    return {job.text: job for job in pending_jobs(db, SCHEMA, PROMPT, "stub", run_key, selection=selection)}


# --------------------------------------------------------------------------- pure core


def test_fts_query_quotes_every_word_once() -> None:
    assert fts_query('"All" the attacks -- OR NOT the "attacks"') == '"all" OR "the" OR "attacks" OR "or" OR "not"'
    assert fts_query(" -- ... ") is None


def test_pick_gold_uses_the_evaluation_policy_then_the_newest_per_sentence() -> None:
    def row(gid, task, sid, when, truth=0):
        return {"id": gid, "project_id": "p", "task_id": task, "sentence_id": sid, "annotation_id": int(gid[1:]),
                "updated_at": when, "ground_truth": truth}
    rows = [row("g1", 1, "s1", "2025-01-02", truth=1), row("g2", 1, "s1", "2025-01-03"),
            row("g3", 2, "s2", "2025-01-01"), row("g4", 3, "s2", "2025-01-05")]  # s2 has two tasks
    assert [r["id"] for r in pick_gold(rows, "latest")] == ["g2", "g4"]
    assert [r["id"] for r in pick_gold(rows, "ground-truth")] == ["g1", "g4"]


# --------------------------------------------------------------------------- retrieval


def test_examples_are_the_nearest_gold_never_from_the_same_document(corpus) -> None:
    db, ids, gold = corpus
    index = ExampleIndex(db, SCHEMA, PROJECT, 2)
    assert len(index.examples) == 5
    assert [e.text for e in index.nearest(ids[B0], "any", B0)] == [A0, C0]
    assert [e.text for e in index.nearest(ids[B1], "any", B1)] == [A1, C1]
    documents = {r["id"]: r["document_id"] for r in db.query("SELECT id, document_id FROM sentences")}
    jobs = jobs_by_text(db, Selection(examples=index))
    assert set(jobs) == {B0, B1, C0, C1, A0, A1, A2, "Shelling went on all night."}
    for row in db.query("SELECT id, document_id, text FROM sentences"):
        chosen = index.nearest(row["id"], row["document_id"], row["text"])
        assert all(e.document_id != row["document_id"] and e.sentence_id != row["id"] for e in chosen)
        assert all(e.text != row["text"] for e in chosen)  # D's copy of A1 never gets A1
    assert all(documents[e.sentence_id] != "B" for e in index.nearest(ids[B0], documents[ids[B0]], B0))
    # The job carries the examples as turns (best last, nearest the sentence) and their gold ids.
    job = jobs[B0]
    assert [e.sentence for e in job.examples] == [C0, A0]
    assert job.examples_info == {"k": 2, "from": ["p-gold"], "gold": "latest", "ids": [gold[A0], gold[C0]]}
    assert job.run_key.startswith("k+ex2.") and not job.run_key.endswith(".none")


def test_the_prompt_shows_the_examples_instead_of_its_own(corpus) -> None:
    db, ids, gold = corpus
    job = jobs_by_text(db, with_examples(db))[B0]
    messages = PROMPT.messages(SCHEMA, job.text, job.headline, job.before, after=job.after, examples=job.examples)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"].endswith(f"Sentence: {C0}") and messages[3]["content"].endswith(f"Sentence: {A0}")
    assert messages[3]["content"] == f"Headline: (none)\nContext: (none)\nNext sentence: {A1}\nSentence: {A0}"
    stored = db.execute("SELECT data FROM gold WHERE id = ?", [gold[A0]]).fetchone()[0]
    assert json.loads(messages[4]["content"]) == json.loads(stored)
    assert "Rebel fighters captured" not in json.dumps(messages)  # the prompt's own examples are gone
    assert messages[-1] == PROMPT.messages(SCHEMA, job.text, job.headline, job.before, after=job.after)[-1]


def test_same_gold_same_examples_and_a_second_run_makes_no_call(corpus) -> None:
    db, ids, gold = corpus
    first = {t: (j.run_key, j.examples_info["ids"]) for t, j in jobs_by_text(db, with_examples(db)).items()}
    assert first == {t: (j.run_key, j.examples_info["ids"]) for t, j in jobs_by_text(db, with_examples(db)).items()}
    with StubLLM(responder=news_responder) as stub:
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, selection=with_examples(db))
        assert report.by_status == {"ok": 9} and stub.calls == 9  # 9 sentences (A1's text twice)
        assert all(len([m for m in r["messages"] if m["role"] == "assistant"]) == 2 for r in stub.requests)
        again = annotate(db, client_for(stub), SCHEMA, PROMPT, selection=with_examples(db))
        assert (again.done, again.llm_calls, stub.calls) == (0, 0, 9)
        # Drafts gone, the cache answers every request: the examples and their order did not move.
        db.execute("DELETE FROM drafts")
        db.conn.commit()
        replay = annotate(db, client_for(stub), SCHEMA, PROMPT, selection=with_examples(db))
        assert (replay.done, replay.llm_calls, stub.calls) == (9, 0, 9)
    row = next(db.query("SELECT * FROM drafts WHERE sentence_id = ?", [ids[B0]]))
    assert json.loads(row["settings"])["examples"]["ids"] == [gold[A0], gold[C0]]
    assert row["run_key"] == first[B0][0].replace("k+", f"{client_for(stub).run_key}+", 1)


def test_new_gold_changes_the_examples_the_identity_and_redraft_drafts_only_those(corpus) -> None:
    db, ids, gold = corpus
    with StubLLM(responder=news_responder) as stub:
        annotate(db, client_for(stub), SCHEMA, PROMPT, selection=with_examples(db))
        before = {r["sentence_id"]: r for r in db.query("SELECT * FROM drafts")}
        ids.update(add_docs(db, {"E": [E0]}))
        new = add_gold(db, "p-gold", ids[E0], E0, 9)
        index, base = ExampleIndex(db, SCHEMA, PROJECT, 2), client_for(stub).run_key
        documents = {r["id"]: r["document_id"] for r in db.query("SELECT id, document_id FROM sentences")}
        b0, b1 = (index.nearest(ids[t], documents[ids[t]], t) for t in (B0, B1))
        assert [e.gold_id for e in b0] == [new, gold[A0]]  # E0 is now B0's nearest
        assert index.run_key(base, b0) != before[ids[B0]]["run_key"]
        assert index.run_key(base, b1) == before[ids[B1]]["run_key"]  # B1's neighbours did not move
        calls = stub.calls
        # A plain re-run drafts only the new sentence (E0): drafted sentences keep their drafts.
        assert annotate(db, client_for(stub), SCHEMA, PROMPT, selection=with_examples(db)).done == 1
        # --redraft: sentences without a submitted annotation whose draft would change: B0 only
        # (B1's examples are the same; A, C and E have gold; D's examples did not move).
        redraft = with_examples(db, redraft=True)
        assert count_pending(db, SCHEMA, PROMPT, "stub", client_for(stub).run_key, selection=redraft) == 1
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, selection=redraft)
        assert (report.done, stub.calls) == (1, calls + 2)
        assert annotate(db, client_for(stub), SCHEMA, PROMPT, selection=redraft).done == 0
    b0 = list(db.query("SELECT id, run_key, settings FROM drafts WHERE sentence_id = ? ORDER BY rowid", [ids[B0]]))
    assert len(b0) == 2 and b0[0]["id"] != b0[1]["id"]
    assert json.loads(b0[1]["settings"])["examples"]["ids"] == [new, gold[A0]]


def test_no_gold_falls_back_to_the_prompts_own_examples(tmp_path) -> None:
    db = open_db(tmp_path / "empty.db")
    add_docs(db, {"B": [B0, B1]})
    db["projects"].insert({"id": "p-new", "ls_id": 2, "name": "New project", "url": "http://ls.test",
                           "schema_name": SCHEMA.name, "schema_hash": SCHEMA.hash, "created_at": "x"})
    selection = Selection(examples=ExampleIndex(db, SCHEMA, "New project", 4))
    with StubLLM(responder=news_responder) as stub:
        annotate(db, client_for(stub), SCHEMA, PROMPT)
        plain = [r["messages"] for r in stub.requests]
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, selection=selection)
        # The same messages as the plain run: answered from the cache, stored as drafts of their own.
        assert (report.done, report.llm_calls, stub.calls) == (2, 0, 2)
    assert "Rebel fighters captured" in json.dumps(plain[0])
    keys = {r["run_key"] for r in db.query("SELECT run_key FROM drafts")}
    assert len(keys) == 2 and sum(k.endswith(".none") for k in keys) == 1


def test_an_unknown_project_or_k_is_a_one_line_error(corpus) -> None:
    db, _, _ = corpus
    with pytest.raises(InputError, match="no project 'Nope' in this database to take examples from"):
        ExampleIndex(db, SCHEMA, "Nope", 2)
    with pytest.raises(InputError, match="out of range"):
        ExampleIndex(db, SCHEMA, PROJECT, 0)


# --------------------------------------------------------------------------- Label Studio


@pytest.mark.labelstudio
def test_redraft_after_gold_grows_adds_predictions_only_to_tasks_not_annotated(tmp_path, labelstudio) -> None:
    db = open_db(tmp_path / "ls.db")
    ids = add_docs(db, {"A": [A0, A1, A2], "B": [B0, B1], "C": [C0, C1]})
    ls = open_client(labelstudio.url, labelstudio.token)
    name = f"test {uuid.uuid4().hex[:10]}"
    with StubLLM(responder=news_responder) as stub:
        annotate(db, client_for(stub), SCHEMA, PROMPT)
        first = push(db, ls, SCHEMA, name, url=labelstudio.url)
        assert (first.tasks_created, first.predictions_created) == (7, 7)
        tasks = {t["sentence_id"]: t["task_id"] for t in db.query("SELECT * FROM tasks")}
        for text in (A0, C0):  # an annotator accepts two drafts
            task = ls.tasks.get(id=tasks[ids[text]])
            ls.annotations.create(id=task.id, result=task.predictions[0].result if task.predictions else [])
        assert pull(db, ls, SCHEMA, name, url=labelstudio.url).by_status == {"ok": 2}
        # Gold grew: every sentence without an annotation gets new examples, so a new draft.
        redraft = Selection(examples=ExampleIndex(db, SCHEMA, name, 2), redraft=True)
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, selection=redraft)
        assert report.done == 5
        assert all(target_sentence(r) not in (A0, C0) for r in stub.requests[-5:])
    second = push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert (second.tasks_created, second.predictions_created) == (0, 5)
    for sid, task_id in tasks.items():
        task = ls.tasks.get(id=task_id)
        expected = 1 if sid in (ids[A0], ids[C0]) else 2
        assert len(task.predictions) == expected, db.execute("SELECT text FROM sentences WHERE id = ?", [sid])


# --------------------------------------------------------------------------- the real llama.cpp server


@pytest.mark.llamacpp
def test_drafting_with_retrieved_examples_on_smollm2(corpus, llama_server) -> None:
    db, ids, gold = corpus
    client = LLMClient(base_url=llama_server.url, api_key=None, model=llama_server.model, max_tokens=512)
    selection = with_examples(db)
    report = annotate(db, client, SCHEMA, PROMPT, concurrency=1, limit=2, selection=selection)
    assert report.done == 2 and report.mode == "json_object"
    rows = list(db.query("SELECT d.*, s.text AS sentence FROM drafts d JOIN sentences s ON s.id = d.sentence_id"))
    assert {r["sentence"] for r in rows} == {A0, A1}  # the first two sentences, in ingest order
    for row in rows:
        assert row["status"] in ("ok", "invalid") and row["run_key"].startswith(f"{client.run_key}+ex2.")
        examples = json.loads(row["settings"])["examples"]["ids"]
        assert len(examples) == 2 and not set(examples) & {gold[A0], gold[A1], gold[A2]}  # never document A
        for span in json.loads(row["spans"] or "[]"):
            assert row["sentence"][span["start"]:span["end"]] == span["text"]
    calls = client.calls
    db.execute("DELETE FROM drafts")
    db.conn.commit()
    again = annotate(db, client, SCHEMA, PROMPT, concurrency=1, limit=2, selection=with_examples(db))
    assert again.done == 2 and again.llm_calls == 0 and client.calls == calls
