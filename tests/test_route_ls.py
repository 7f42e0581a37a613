"""Routing through a real Label Studio: gold from the API, calibrate, route, push --route, the blind audit.

The stub LLM answers each sentence by its first word, and its log-probabilities say how
sure it is: a token holding an "x" costs -6, one holding a "g" -2, any other -0.01 (no
key and no other value of the answer has either letter):

    Clash ...  battle                     (-0.01 a token)  people agree: always right
    March ...  strategic_development      (one "g": -2)    people agree on 4 of the 7 in the gold
    Blast ...  explosion_remote_violence  (one "x": -6)    people say battle: always wrong

No entity, no source. So calibrated, a Clash draft is right with probability 1, a
Blast draft 0, a March draft in between: the threshold (risk 0.1, delta 0.1: at least
22 accepted gold tasks without error, 0.9^22 = 0.098 <= 0.1) accepts the 26 Clash gold
tasks and no draft wrong in the gold.
"""

from __future__ import annotations

import json
import uuid

import pytest

from annotator.annotate import annotate
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.accept import is_audited
from annotator.labelstudio.api import open_client
from annotator.labelstudio.convert import draft_to_result
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.cli import run
from tests.support.stub_llm import StubLLM

pytestmark = pytest.mark.labelstudio
SCHEMA = load_schema("news_events")
EVENTS = {"Clash": "battle", "March": "strategic_development", "Blast": "explosion_remote_violence"}
GOLD = ["Clash"] * 26 + ["March"] * 7 + ["Blast"] * 7
NEW = ["March", "Clash", "Blast", "Clash", "March", "Blast", "Clash", "March", "Clash", "Blast", "Clash", "March",
       "Blast", "Clash"]  # interleaved: sentence order is not confidence order


def text_of(kind: str, k: int) -> str:
    return f"{kind} number {k} was reported near the river."


def responder(body: dict) -> dict:
    content = body["messages"][-1]["content"]
    sentence = content.split("Sentence:", 1)[-1].strip()
    return {"entities": [], "event_type": EVENTS[sentence.split()[0]], "attribution": "asserted", "sources": []}


def token_logprob(token: str) -> float:
    return -6.0 if "x" in token else -2.0 if "g" in token else -0.01


def person(kind: str, k: int) -> str:
    """The event type a person gives: the draft's for Clash and for March of even k (4 of the 7), else battle."""
    return EVENTS[kind] if kind == "Clash" or (kind == "March" and k % 2 == 0) else "battle"


def printed(env: dict, *args: str, stderr: bool = False) -> str:
    """`annotator ARGS` with `env`, which must exit 0: what it printed."""
    result = run(*args, env=env, ok=True)
    return result.stderr if stderr else result.stdout


@pytest.fixture
def client():
    """One stub server for the whole test: drafts of another server's address would be other drafts."""
    with StubLLM(responder=responder) as stub:
        stub.logprobs = "send"
        stub.token_logprob = token_logprob
        yield LLMClient(base_url=stub.base_url, api_key="t", model="stub-route", max_retries=0)


def draft_sentences(db, client, texts: list[str]) -> None:
    ingest(db, [DocInput(text=t, origin="test") for t in texts])
    assert annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name)).by_status == {"ok": len(texts)}


def answer(ls, db, sentence_id: str, event: str, user: int, parent: int | None) -> None:
    """A person submits the draft with this event type (no entity, no source)."""
    (draft,) = db.query("SELECT data, spans FROM drafts WHERE sentence_id = ?", [sentence_id])
    (task,) = db.query("SELECT task_id FROM tasks WHERE sentence_id = ?", [sentence_id])
    (sentence,) = db.query("SELECT text FROM sentences WHERE id = ?", [sentence_id])
    data = {**json.loads(draft["data"]), "event_type": event}
    extra = {"parent_prediction": parent} if parent is not None else {}
    ls.annotations.create(id=task["task_id"], result=draft_to_result(SCHEMA, sentence["text"], data, []),
                          completed_by=user, lead_time=3.0, **extra)


def audit_share(ids: list[str]) -> float:
    """A share that audits at least two of these sentences and not all of them."""
    for share in (0.5, 0.35, 0.65, 0.25, 0.75, 0.45, 0.55):
        if 2 <= sum(is_audited(i, share) for i in ids) < len(ids):
            return share
    raise AssertionError("no share audits two to all but one of these")


def test_route_accepts_confident_drafts_serves_the_weakest_first_and_audits_blind(labelstudio, client, tmp_path):
    env = {"ANNOTATOR_DB": str(tmp_path / "route.db"), "LABEL_STUDIO_URL": labelstudio.url,
           "LABEL_STUDIO_API_KEY": labelstudio.token}
    db, name, ls = open_db(env["ANNOTATOR_DB"]), f"route {uuid.uuid4().hex[:8]}", open_client(labelstudio.url,
                                                                                                 labelstudio.token)
    gold_texts = [text_of(kind, k) for k, kind in enumerate(GOLD)]
    draft_sentences(db, client, gold_texts)
    printed(env, "push", "-p", name)
    me = ls.users.whoami()
    ids = {r["text"]: r["id"] for r in db.query("SELECT id, text FROM sentences")}
    predictions = {r["sentence_id"]: r["ls_prediction_id"] for r in db.query(
        "SELECT d.sentence_id, p.ls_prediction_id FROM predictions p JOIN drafts d ON d.id = p.draft_id")}
    for k, kind in enumerate(GOLD):
        sid = ids[text_of(kind, k)]
        answer(ls, db, sid, person(kind, k), me.id, predictions[sid])
    printed(env, "pull", "-p", name)
    assert json.loads(printed(env, "calibrate", "-p", name, "--json"))["gold"] == 40
    routed = json.loads(printed(env, "route", "-p", name, "--risk", "0.1", "--delta", "0.1", "--json"))
    assert (routed["n"], routed["gold_errors"], routed["accepted"], routed["errors"]) == (40, 10, 26, 0)
    assert routed["bound"] == pytest.approx(0.084753, abs=1e-6)  # 0 of 26: 1 - 0.1^(1/26) = 1 - exp(-0.088561)

    # New sentences: the six Clash drafts are accepted, the others go to people, the weakest first.
    new_texts = [text_of(kind, 100 + k) for k, kind in enumerate(NEW)]
    draft_sentences(db, client, new_texts)
    ids = {r["text"]: r["id"] for r in db.query("SELECT id, text FROM sentences")}
    clash = [ids[t] for t, kind in zip(new_texts, NEW, strict=True) if kind == "Clash"]
    share = audit_share(clash)
    audited = {s for s in clash if is_audited(s, share)}
    out = " ".join(printed(env, "push", "-p", name, "--route", "--audit", str(share)).split())
    assert f"6 drafts accepted from the model ({len(audited)} of them also sent blind for the audit), 8 sent to " \
           "people, least confident first" in out
    accepted = {r["sentence_id"]: r for r in db.query("SELECT * FROM gold WHERE status = 'accepted'")}
    assert set(accepted) == set(clash)
    version = db.execute("SELECT model_version FROM projects WHERE name = ?", [name]).fetchone()[0]
    assert {g["annotator"] for g in accepted.values()} == {f"model:{version}"}
    ls_id = db.execute("SELECT ls_id FROM projects WHERE name = ?", [name]).fetchone()[0]
    tasks = sorted((t.model_dump(mode="json") for t in ls.tasks.list(project=ls_id, fields="all", page_size=100)),
                   key=lambda t: t["id"])
    new_tasks = [t for t in tasks if t["data"]["sentence_id"] not in {ids[x] for x in gold_texts}]
    on_server = {t["data"]["sentence_id"] for t in new_tasks}
    assert on_server & set(clash) == audited  # an accepted draft is in Label Studio only as a blind audit task
    assert all(not t["predictions"] for t in new_tasks if t["data"]["sentence_id"] in audited)
    to_people = [t for t in new_tasks if t["data"]["sentence_id"] not in audited]
    assert len(to_people) == 8 and all(len(t["predictions"]) == 1 for t in to_people)
    confidence = {r["sentence_id"]: r["confidence"] for r in db.query("SELECT * FROM routed")}
    shown = [confidence[t["data"]["sentence_id"]] for t in to_people]
    assert shown == sorted(shown) and shown[0] < shown[-1]  # increasing by task id: Blast first, then March
    assert [t["data"]["text"].split()[0] for t in to_people] == ["Blast"] * 4 + ["March"] * 4

    # The audit: people find every audited accepted draft wrong (riot, not battle); a second person answers one.
    other = ls.users.create(username=f"b{uuid.uuid4().hex[:6]}", email=f"b{uuid.uuid4().hex[:6]}@example.org",
                            password=uuid.uuid4().hex)
    for sid in sorted(audited):
        answer(ls, db, sid, "riot", me.id, None)
    answer(ls, db, sorted(audited)[0], "riot", other.id, None)
    printed(env, "pull", "-p", name)
    (group,) = json.loads(printed(env, "eval", "-p", name, "--json"))["groups"]
    block = group["routing"]
    n = len(audited)
    assert {k: block[k] for k in ("risk", "delta", "accepted", "to_people", "audited", "audit_errors",
                                  "audit_error_rate")} == {
        "risk": 0.1, "delta": 0.1, "accepted": 6, "to_people": 8, "audited": n, "audit_errors": n,
        "audit_error_rate": 1.0}
    # n of n wrong: the lower end of the 95% interval solves p^n = 0.025, above the risk for n >= 2.
    assert block["audit_ci"] == pytest.approx([0.025 ** (1 / n), 1.0], abs=1e-6)
    # Accepted rows are no person's gold: agreement sees the two people on one task, calibrate 40 + n annotations.
    agreement = json.loads(printed(env, "agreement", "-p", name, "--json"))
    assert agreement["tasks"] == 1 and agreement["annotators"] == sorted([me.email, other.email])
    assert group["annotations"] == 40 + n
    assert f"Routing of project {name!r} is broken" in " ".join(printed(env, "status", stderr=True).split())

    # Broken: the next push --route accepts nothing, even a Clash draft.
    draft_sentences(db, client, [text_of("Clash", 200), text_of("Clash", 201)])
    out = " ".join(printed(env, "push", "-p", name, "--route").split())
    assert "0 drafts accepted from the model" in out and "2 sent to people" in out
    assert "is broken" in " ".join(printed(env, "push", "-p", name, "--route", stderr=True).split())  # nothing new
    assert db.execute("SELECT count(*) FROM gold WHERE status = 'accepted'").fetchone()[0] == 6
    assert json.loads(printed(env, "calibrate", "-p", name, "--json"))["gold"] == 40 + n
