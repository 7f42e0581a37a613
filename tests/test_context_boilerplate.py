"""Context on both sides of a sentence, and boilerplate kept but neither drafted nor pushed.

The wire article below is written for these tests: its quote is split over two
sentences and credited in the second ('..., it added.'), and it carries a byline
and a copyright footer. Sentence numbers (idx) are worked out by hand:

    0 headline                 Kyiv says attacks repelled in the east
    1 byline (boilerplate)     By Jane Doe
    2                          KYIV, March 3 (AFP) -- Russian forces launched ...
    3 the quote's first half   "All the Ukrainian attacks were repelled.
    4 its attribution          The enemy was hit by aircraft, rockets and artillery," it added.
    5                          Officials in Kharkiv said two people were wounded.
    6 copyright (boilerplate)  © Copyright AFP 2024.
    7 (boilerplate)            All rights reserved.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlite_utils

from annotator.annotate import annotate
from annotator.annotate.jobs import Selection, count_pending, pending_jobs
from annotator.boilerplate import BACKFILLS, BUILTIN_CLASSIFIER, Classifier, classifier
from annotator.context import Line, Window, context_of, window
from annotator.errors import InputError
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.api import open_client
from annotator.labelstudio.push import eligible_drafts, push, task_data
from annotator.llm import LLMClient
from annotator.prompts import RELEASED, load_prompt
from annotator.resources import resource_dir
from annotator.schema import load_schema
from annotator.status import summary
from annotator.store import MIGRATIONS, _apply, open_db
from tests.support.cli import run
from tests.support.responders import news_responder, target_sentence
from tests.support.stub_llm import StubLLM

SCHEMA = load_schema("news_events")
PROMPT = load_prompt(None, "news_events")

HEADLINE = "Kyiv says attacks repelled in the east"
BYLINE = "By Jane Doe"
LEAD = ("KYIV, March 3 (AFP) -- Russian forces launched a wave of assaults on the eastern front overnight, "
        "the defence ministry said on Sunday.")
QUOTE = '"All the Ukrainian attacks were repelled.'
ATTRIBUTION = 'The enemy was hit by aircraft, rockets and artillery," it added.'
LAST = "Officials in Kharkiv said two people were wounded."
COPYRIGHT, RIGHTS = "© Copyright AFP 2024.", "All rights reserved."
ARTICLE = f"{HEADLINE}\n\n{BYLINE}\n\n{LEAD}\n\n{QUOTE} {ATTRIBUTION}\n\n{LAST}\n\n{COPYRIGHT} {RIGHTS}\n"
SENTENCES = [HEADLINE, BYLINE, LEAD, QUOTE, ATTRIBUTION, LAST, COPYRIGHT, RIGHTS]
BOILERPLATE = {BYLINE, COPYRIGHT, RIGHTS}


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "wire.db")
    report = ingest(database, [DocInput(text=ARTICLE, origin="test:wire", headline=True)])
    assert (report.sentences_new, report.boilerplate_new) == (8, 3)
    return database


def stub_client(stub: StubLLM) -> LLMClient:
    return LLMClient(base_url=stub.base_url, api_key="test-key", model="stub", timeout=5, backoff=0.02)


def lines() -> list[Line]:
    return [Line(i, t, i == 0, t in BOILERPLATE) for i, t in enumerate(SENTENCES)]


# --------------------------------------------------------------------------- context


def test_the_quote_split_sentence_has_its_attribution_in_its_context() -> None:
    context = context_of(lines(), 3)  # defaults: 3 before, 1 after
    assert context.headline == HEADLINE
    assert context.before == [LEAD]  # the headline and the byline are not neighbours
    assert context.after == [ATTRIBUTION]
    assert context_of(lines(), 4).before == [LEAD, QUOTE] and context_of(lines(), 4).after == [LAST]
    # The last body sentence: the copyright footer is no neighbour.
    assert context_of(lines(), 5).after == [] and context_of(lines(), 5).before == [LEAD, QUOTE, ATTRIBUTION]
    assert context_of(lines(), 5, before=1, after=0).before == [ATTRIBUTION]
    assert context_of(lines(), 3, before=0, after=2).before == [] and \
        context_of(lines(), 3, before=0, after=2).after == [ATTRIBUTION, LAST]
    assert context_of(lines(), 0).headline is None and context_of(lines(), 0).after == [LEAD]


def test_window_sizes_come_from_flags_then_environment_then_defaults(monkeypatch) -> None:
    monkeypatch.delenv("ANNOTATOR_CONTEXT_BEFORE", raising=False)
    monkeypatch.delenv("ANNOTATOR_CONTEXT_AFTER", raising=False)
    assert window() == Window(3, 1)
    monkeypatch.setenv("ANNOTATOR_CONTEXT_AFTER", "2")
    assert window() == Window(3, 2) and window(after=0) == Window(3, 0) and window(5, None) == Window(5, 2)
    monkeypatch.setenv("ANNOTATOR_CONTEXT_BEFORE", "three")
    with pytest.raises(InputError, match="ANNOTATOR_CONTEXT_BEFORE='three' is not a number"):
        window()
    with pytest.raises(InputError, match="out of range"):
        window(1, 21)


def test_the_prompt_shows_the_next_sentence_with_the_source() -> None:
    assert PROMPT.version == "news_events.v2"  # the newest version is the default
    messages = PROMPT.messages(SCHEMA, QUOTE, HEADLINE, [LEAD], after=[ATTRIBUTION])
    assert messages[-1]["content"] == (f"Headline: {HEADLINE}\nContext: {LEAD}\nNext sentence: {ATTRIBUTION}\n"
                                       f"Sentence: {QUOTE}")
    assert "it added" in messages[0]["content"]  # the rule for quotes credited in the next sentence
    assert PROMPT.messages(SCHEMA, QUOTE)[-1]["content"].endswith("Next sentence: (none)\nSentence: " + QUOTE)


def test_every_built_in_prompt_matches_its_released_hash() -> None:
    files = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in resource_dir("prompts").glob("*.j2")}
    assert set(files) == set(RELEASED)
    assert files == RELEASED


def test_annotate_sends_the_attribution_and_drafts_no_boilerplate(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        report = annotate(db, stub_client(stub), SCHEMA, PROMPT, concurrency=1)
        assert report.by_status == {"ok": 5} and stub.calls == 5  # 8 sentences, 3 of them boilerplate
        sent = {target_sentence(r): r["messages"][-1]["content"] for r in stub.requests}
    assert set(sent) == set(SENTENCES) - BOILERPLATE
    assert f"Next sentence: {ATTRIBUTION}\n" in sent[QUOTE]
    drafted = {r["text"] for r in db.query("SELECT s.text FROM drafts d JOIN sentences s ON s.id = d.sentence_id")}
    assert drafted == set(SENTENCES) - BOILERPLATE
    assert summary(db)["boilerplate"] == 3


def test_include_boilerplate_drafts_it_too(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        annotate(db, stub_client(stub), SCHEMA, PROMPT)
        calls = stub.calls
        everything = Selection(include_boilerplate=True)
        assert count_pending(db, SCHEMA, PROMPT, "stub", stub_client(stub).run_key, selection=everything) == 3
        report = annotate(db, stub_client(stub), SCHEMA, PROMPT, selection=everything)
        assert report.done == 3 and stub.calls == calls + 3
    # Push leaves them out unless asked.
    pushable = {d["sentence_id"] for d in eligible_drafts(db, SCHEMA, None, None)}
    marked = {r["id"] for r in db.query("SELECT id FROM sentences WHERE boilerplate = 1")}
    assert len(pushable) == 5 and not pushable & marked
    assert len({d["sentence_id"] for d in eligible_drafts(db, SCHEMA, None, None, include_boilerplate=True)}) == 8


def test_the_window_setting_reaches_the_jobs(db) -> None:
    (job,) = [j for j in pending_jobs(db, SCHEMA, PROMPT, "m", "k", selection=Selection(window=Window(1, 2)))
              if j.text == QUOTE]
    assert (job.before, job.after) == ([LEAD], [ATTRIBUTION, LAST])


# --------------------------------------------------------------------------- boilerplate


WIRE_FORMS = [BYLINE, COPYRIGHT, RIGHTS, "Copyright 2024 The Associated Press.", "(c) 2024 Reuters",
              "This material may not be published, broadcast, rewritten or redistributed.",
              "By Jane Doe and Max Roe, Reuters", "BY JANE DOE Associated Press", "By Jane Doe in Kyiv",
              "Reporting by Jane Doe; Editing by Max Roe", "(Additional reporting by Tom Lee in Moscow)",
              "KYIV, Ukraine (AP) —", "MOSCOW, March 3 (Reuters) -", "Kyiv (AFP) -", "AFP", "-- Reuters",
              "bur-jd/fg", "Photo: John Smith/AFP"]
NEWS = [LEAD, QUOTE, ATTRIBUTION, LAST, "By Sunday, rebels had seized three towns.",
        "(c) Both parties shall withdraw their forces within 30 days.", "AFP reported that five people died.",
        "Reuters could not verify the claim.", "By the end of the day, 12 people had died, police said.",
        "Copyright infringement is not the issue here, he said."]


@pytest.mark.parametrize("text", WIRE_FORMS)
def test_wire_boilerplate_is_recognised(text: str) -> None:
    assert BUILTIN_CLASSIFIER(text)


@pytest.mark.parametrize("text", NEWS)
def test_news_is_not_boilerplate(text: str) -> None:
    assert not BUILTIN_CLASSIFIER(text)


def test_user_patterns_from_a_file_and_their_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ANNOTATOR_BOILERPLATE_PATTERNS", raising=False)
    assert classifier() is BUILTIN_CLASSIFIER and not classifier().custom
    path = tmp_path / "patterns.txt"
    path.write_text("# my feed's footer\n\nread more at .*\n")
    mine = classifier(str(path))
    assert mine.custom and mine("Read more at wire.example.com.") and mine(COPYRIGHT) and not mine(LEAD)
    monkeypatch.setenv("ANNOTATOR_BOILERPLATE_PATTERNS", str(path))
    assert classifier().custom
    path.write_text("fine\n(unclosed\n")
    with pytest.raises(InputError, match=r"patterns.txt: pattern 2: '\(unclosed' is not a regular expression"):
        classifier(str(path))
    with pytest.raises(InputError, match="not found"):
        classifier(str(tmp_path / "missing.txt"))
    assert not Classifier.with_patterns(["x"])("   ")


def test_ingest_with_user_patterns_marks_stored_sentences_again(db, tmp_path) -> None:
    path = tmp_path / "patterns.txt"
    path.write_text("officials in kharkiv said .*\n")
    report = ingest(db, [DocInput(text=ARTICLE, origin="again", headline=True)], boilerplate=classifier(str(path)))
    assert (report.documents_new, report.boilerplate_remarked) == (0, 1)
    assert {r["text"] for r in db.query("SELECT text FROM sentences WHERE boilerplate = 1")} == BOILERPLATE | {LAST}
    # The same file without the line gives the sentence its mark back: marks follow the patterns both ways.
    path.write_text("# nothing\n")
    assert ingest(db, [], boilerplate=classifier(str(path))).boilerplate_remarked == 1
    assert summary(db)["boilerplate"] == 3


def database_before_the_mark(path: Path) -> None:
    """A database as migrations 001-005 left it, holding the article's sentences (no boilerplate column yet)."""
    old = sqlite_utils.Database(path)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    before = [name for name, _ in MIGRATIONS].index("006_boilerplate")
    for name, step in MIGRATIONS[:before]:
        _apply(old, name, step)
    old["documents"].insert({"id": "d", "text": ARTICLE, "origin": "old"})
    old["sentences"].insert_all([{"id": f"s{i}", "document_id": "d", "idx": i, "start": 0, "end": 0, "text": t,
                                  "is_headline": int(i == 0)} for i, t in enumerate(SENTENCES)])
    old.close()


def marked(db: sqlite_utils.Database) -> set[str]:
    return {r["text"] for r in db.query("SELECT text FROM sentences WHERE boilerplate = 1")}


def test_a_database_from_before_the_migration_is_marked_when_a_command_opens_it(tmp_path) -> None:
    path = tmp_path / "old.db"
    database_before_the_mark(path)
    status = run("status", "--db", str(path))
    assert status.exit_code == 0 and "8 sentences (3 boilerplate, neither drafted nor pushed)" in status.output
    db = open_db(path)
    assert marked(db) == BOILERPLATE and db.execute("SELECT * FROM _pending").fetchall() == []


def test_storage_alone_leaves_the_marks_pending_for_the_boilerplate_stage_which_marks_once(tmp_path) -> None:
    path = tmp_path / "old.db"
    database_before_the_mark(path)
    db = open_db(path)  # storage knows no stage: the column, and the marks pending
    assert marked(db) == set() and [r[0] for r in db.execute("SELECT name FROM _pending")] == ["006_boilerplate"]
    db.close()
    db = open_db(path, BACKFILLS)
    assert marked(db) == BOILERPLATE and db.execute("SELECT * FROM _pending").fetchall() == []
    # A mark set later (as the user's own patterns do) stays: the backfill ran once.
    db.execute("UPDATE sentences SET boilerplate = 1 WHERE text = ?", [LAST])
    db.conn.commit()
    db.close()
    assert marked(open_db(path, BACKFILLS)) == BOILERPLATE | {LAST}


def test_a_database_marked_by_the_earlier_migration_keeps_its_marks(db, tmp_path) -> None:
    # Migration 006 ran on an empty database (or marked the sentences itself, as it once did): nothing is pending.
    db.execute("UPDATE sentences SET boilerplate = 1 WHERE text = ?", [LAST])
    db.conn.commit()
    path = db.execute("PRAGMA database_list").fetchone()[2]
    db.close()
    assert marked(open_db(path, BACKFILLS)) == BOILERPLATE | {LAST}


@pytest.mark.process
def test_storage_imports_no_stage() -> None:
    code = "import sys, annotator.store; print(' '.join(sorted(m for m in sys.modules if m.startswith('annotator.'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(done.stdout.split()) <= {"annotator.errors", "annotator.hashing", "annotator.settings",
                                          "annotator.store"}, done.stdout


def test_cli_status_counts_boilerplate_and_examples_flags_go_together(db, tmp_path) -> None:
    path = db.execute("PRAGMA database_list").fetchone()[2]
    status = run("status", "--db", path)
    assert status.exit_code == 0 and "8 sentences (3 boilerplate, neither drafted nor pushed)" in status.output
    result = run("annotate", "--examples", "2", "--db", path)
    assert result.exit_code == 2
    assert "--examples K and --examples-from PROJECT go together" in result.output
    assert len(result.output.strip().splitlines()) == 1


# --------------------------------------------------------------------------- Label Studio


def test_task_data_carries_the_next_sentence() -> None:
    sentence = {"id": "s3", "document_id": "d", "text": QUOTE}
    data = task_data(sentence, context_of(lines(), 3))
    assert {k: data[k] for k in ("text", "sentence_id", "headline", "context", "context_after")} == {
        "text": QUOTE, "sentence_id": "s3", "headline": HEADLINE, "context": LEAD, "context_after": ATTRIBUTION}


@pytest.mark.labelstudio
def test_label_studio_shows_the_source_and_gets_no_boilerplate(db, labelstudio) -> None:
    ls = open_client(labelstudio.url, labelstudio.token)
    with StubLLM(responder=news_responder) as stub:
        annotate(db, stub_client(stub), SCHEMA, PROMPT, selection=Selection(include_boilerplate=True))
    assert db["drafts"].count == 8  # every sentence has a draft: push alone keeps boilerplate out
    name = f"test {uuid.uuid4().hex[:10]}"
    report = push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert (report.tasks_created, report.predictions_created) == (5, 5)
    tasks = {t.data["text"]: t.data for t in ls.tasks.list(project=report.ls_project_id, fields="all")}
    assert set(tasks) == set(SENTENCES) - BOILERPLATE
    assert tasks[QUOTE]["context_after"] == ATTRIBUTION and tasks[QUOTE]["context"] == LEAD
    assert tasks[LAST]["context_after"] == ""
    again = push(db, ls, SCHEMA, name, url=labelstudio.url, include_boilerplate=True)
    assert (again.tasks_created, again.predictions_created) == (3, 3)
