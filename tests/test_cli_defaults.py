"""Defaults the tool already knows: a project's own schema without --schema, and flags a mode ignores refused.

The projects here are recorded in SQLite at an address where nothing listens: what
is checked is settled before any server is asked. The round trip of a project
pushed with `--schema news_events_v2` runs against a real Label Studio.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from annotator import store
from annotator.labelstudio.api import open_client
from annotator.resources import data_file, resource_dir
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.claims import SENTENCE
from tests.support.cli import assert_one_error_line, run
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

V1, V2 = load_schema("news_events"), load_schema("news_events_v2")
NOWHERE = "http://127.0.0.1:9"  # nothing listens here
LS_ENV = {"LABEL_STUDIO_URL": NOWHERE, "LABEL_STUDIO_API_KEY": "test-key"}
MOOD = '''
from typing import Literal
from pydantic import BaseModel, Field

class Mood(BaseModel):
    mood: Literal[{labels}] = Field(description="The sentence's mood.")

SCHEMA = Mood
'''


def record(db_file: Path, name: str = "Claims", url: str = NOWHERE, *, schema_name: str, schema_hash: str,
           schema_ref: str | None, ls_id: int = 3) -> None:
    """A project as push records it (nothing on any server)."""
    db = open_db(db_file)
    db["projects"].insert({"id": f"p-{ls_id}", "ls_id": ls_id, "name": name, "url": url, "schema_name": schema_name,
                           "schema_hash": schema_hash, "schema_ref": schema_ref})
    db.close()


def v2_project(tmp_path: Path) -> dict:
    """The environment of a database where project 'Claims' on NOWHERE was made with news_events_v2."""
    db_file = tmp_path / "a.db"
    record(db_file, schema_name=V2.name, schema_hash=V2.hash, schema_ref="news_events_v2")
    return {**LS_ENV, "ANNOTATOR_DB": str(db_file), "ANNOTATOR_HOME": str(tmp_path / "home")}


def mood_file(tmp_path: Path, labels: str = '"calm", "tense"') -> Path:
    path = tmp_path / "mood.py"
    path.write_text(MOOD.format(labels=labels))
    return path


def no_gold(schema) -> str:
    """export's refusal for a project with no gold: it names the schema export chose."""
    return f"no submitted gold for schema {schema.name} (hash {schema.hash}) in project 'Claims'"


def export(tmp_path: Path, env: dict, *args: str):
    return run("export", "-p", "Claims", "--format", "jsonl", "--out", str(tmp_path / "g.jsonl"), *args, env=env)


# ------------------------------------------------------------------ the project's schema


CONFLICT = (f"project 'Claims' on {NOWHERE} was made with schema news_events_v2 ({V2.hash}), not news_events "
            f"({V1.hash}); leave --schema out or pass --schema news_events_v2")


@pytest.mark.parametrize("args", [
    ("pull", "-p", "Claims"), ("push", "-p", "Claims"), ("sync", "-p", "Claims"), ("eval", "-p", "Claims"),
    ("agreement", "-p", "Claims"), ("serve", "-p", "Claims"), ("connect", "-p", "Claims"),
    ("export", "-p", "Claims", "--format", "jsonl", "--out", "-"),
    ("annotate", "--examples", "2", "--examples-from", "Claims"),
], ids=lambda args: args[0])
def test_a_schema_other_than_the_projects_is_one_line_naming_the_flag_to_pass(tmp_path, args) -> None:
    assert_one_error_line(run(*args, "--schema", "news_events", env=v2_project(tmp_path)), 2, CONFLICT)


def test_without_schema_eval_export_and_annotate_take_the_projects(tmp_path) -> None:
    env = v2_project(tmp_path)
    assert_one_error_line(export(tmp_path, env), 2, no_gold(V2))
    assert_one_error_line(run("eval", "-p", "Claims", "--annotator", "bob", env=env), 2,
                          "no gold from annotator 'bob' in project 'Claims'; nobody has gold of schema news_events_v2")
    estimated = run("annotate", "--examples", "2", "--examples-from", "Claims", "--estimate", "--model", "gpt-4o-mini",
                    env=env)
    assert estimated.exit_code == 0, estimated.stderr
    assert f"prompt news_events_v2.v1, schema news_events_v2 ({V2.hash})" in estimated.stderr
    # Without a project the default stays.
    assert_one_error_line(run("export", "--format", "jsonl", "--out", "-", env=env), 2,
                          f"no submitted gold for schema news_events (hash {V1.hash}) in any project")


def test_a_schema_file_is_loaded_from_where_the_project_recorded_it(tmp_path) -> None:
    path = mood_file(tmp_path)
    mood = load_schema(str(path))
    db_file = tmp_path / "a.db"
    record(db_file, schema_name="mood", schema_hash=mood.hash, schema_ref=str(path))
    env = {**LS_ENV, "ANNOTATOR_DB": str(db_file)}
    assert_one_error_line(export(tmp_path, env), 2, no_gold(mood))

    path.write_text(MOOD.format(labels='"calm", "tense", "grim"'))  # edited after the project was made
    edited = load_schema(str(path)).hash
    line = (f"project 'Claims' on {NOWHERE} was made with schema mood ({mood.hash}), but {path} now gives {edited} "
            f"(edited since); put the schema back as it was, or push to a new project name for the edited one")
    assert_one_error_line(export(tmp_path, env), 2, line)
    assert_one_error_line(export(tmp_path, env, "--schema", str(path)), 2, line)

    moved = tmp_path / "schemas" / "mood.py"
    moved.parent.mkdir()
    path.rename(moved)
    moved.write_text(MOOD.format(labels='"calm", "tense"'))
    assert_one_error_line(export(tmp_path, env), 2, (
        f"project 'Claims' on {NOWHERE} was made with schema mood from {path}, which no longer loads (schema file "
        f"{path} not found); put it back, or pass --schema with where it is now (the project keeps it)"))
    assert_one_error_line(export(tmp_path, env, "--schema", str(moved)), 2, no_gold(mood))
    assert open_db(db_file)["projects"].get("p-3")["schema_ref"] == str(moved)
    assert_one_error_line(export(tmp_path, env), 2, no_gold(mood))


def test_a_project_recorded_before_schema_refs_takes_the_built_in_of_its_name_or_asks_once(tmp_path,
                                                                                          monkeypatch) -> None:
    db_file = tmp_path / "old.db"
    with monkeypatch.context() as m:  # a database made before migration 008
        m.setattr(store, "MIGRATIONS", [s for s in store.MIGRATIONS if s[0] < "008"])
        db = open_db(db_file)
        assert "schema_ref" not in db["projects"].columns_dict
        mood = load_schema(str(mood_file(tmp_path)))
        db["projects"].insert_all([
            {"id": "p-3", "ls_id": 3, "name": "Claims", "url": NOWHERE, "schema_name": V2.name, "schema_hash": V2.hash},
            {"id": "p-4", "ls_id": 4, "name": "Moods", "url": NOWHERE, "schema_name": "mood",
             "schema_hash": mood.hash}])
        db.close()
    env = {**LS_ENV, "ANNOTATOR_DB": str(db_file)}
    assert_one_error_line(export(tmp_path, env), 2, no_gold(V2))  # upgraded; the built-in of that name and hash
    assert open_db(db_file)["projects"].get("p-3")["schema_ref"] is None

    moods = ("export", "-p", "Moods", "--format", "jsonl", "--out", "-")
    assert_one_error_line(run(*moods, env=env), 2, (
        f"project 'Moods' on {NOWHERE} was made with schema mood ({mood.hash}), which is not a built-in schema, and "
        f"this database does not record where it came from; pass --schema with its .py file or module:Model once "
        f"(the project keeps it)"))
    given = run(*moods, "--schema", str(tmp_path / "mood.py"), env=env)
    assert_one_error_line(given, 2, f"no submitted gold for schema mood (hash {mood.hash}) in project 'Moods'")
    assert_one_error_line(run(*moods, env=env), 2, f"no submitted gold for schema mood (hash {mood.hash})")


def test_one_name_on_two_servers_with_two_schemas_needs_url(tmp_path) -> None:
    env = v2_project(tmp_path)
    other = "http://127.0.0.2:9"
    record(Path(env["ANNOTATOR_DB"]), url=other, schema_name=V1.name, schema_hash=V1.hash, schema_ref="news_events",
           ls_id=4)
    assert_one_error_line(export(tmp_path, env), 2, (
        f"project 'Claims' is recorded on several servers with different schemas (news_events_v2 ({V2.hash}) on "
        f"{NOWHERE}, news_events ({V1.hash}) on {other}); pass --url to pick one"))
    assert_one_error_line(export(tmp_path, env, "--url", other), 2, no_gold(V1))
    assert_one_error_line(export(tmp_path, env, "--url", NOWHERE), 2, no_gold(V2))


def test_the_schema_option_says_what_it_defaults_to() -> None:
    for command in ("push", "pull", "sync", "eval", "agreement", "export", "serve", "connect"):
        text = " ".join(run(command, "--help").stdout.split())
        assert "[default: the schema of the project --project names, else news_events]" in text, command
    assert "[default: the schema of the project --examples-from names, else news_events]" in " ".join(
        run("annotate", "--help").stdout.split())


# ------------------------------------------------------------------ flags the mode ignores

ONLY_ESTIMATE = "applies only with --estimate (it prices the estimate's tokens); add --estimate or leave it out"
NOT_ESTIMATE = "does not apply with --estimate (it sends nothing to the LLM); leave it out"
NOT_BATCH = "does not apply with --batch (the Batch API runs the requests); leave it out"
ONLY_BATCH = "applies only with --batch (it steers the Batch API run); add --batch or leave it out"
ONLY_PROJECT = "applies only with --project (it picks which server's project of that name); add --project or leave it out"
NOT_TOKENS = "(only spacy and conll split the text into tokens); leave it out"
OUT = ("--out", "gold.out")
REFUSED = [
    (("annotate", "--price-in", "0.15"), f"--price-in {ONLY_ESTIMATE}"),
    (("annotate", "--price-out", "0.6", "--batch"), f"--price-out {ONLY_ESTIMATE}"),
    (("annotate", "--price-cached-in", "0.07"), f"--price-cached-in {ONLY_ESTIMATE}"),
    (("annotate", "--batch", "--concurrency", "8"), f"--concurrency {NOT_BATCH}"),
    (("annotate", "--batch", "-c", "4"), f"--concurrency {NOT_BATCH}"),  # the default's value, given
    (("annotate", "--batch", "--fixed-concurrency"), f"--fixed-concurrency {NOT_BATCH}"),
    (("annotate", "--reask-online"), f"--reask-online {ONLY_BATCH}"),
    (("annotate", "--poll-interval", "5"), f"--poll-interval {ONLY_BATCH}"),
    (("annotate", "--estimate", "-c", "8"), f"--concurrency {NOT_ESTIMATE}"),
    (("annotate", "--estimate", "--fixed-concurrency"), f"--fixed-concurrency {NOT_ESTIMATE}"),
    (("annotate", "--estimate", "--max-reasks", "1"), f"--max-reasks {NOT_ESTIMATE}"),
    (("annotate", "--estimate", "--retries", "1"), f"--retries {NOT_ESTIMATE}"),
    (("annotate", "--estimate", "--timeout", "60"), f"--timeout {NOT_ESTIMATE}"),
    (("annotate", "--estimate", "--batch", "--reask-online"), f"--reask-online {NOT_ESTIMATE}"),
    (("annotate", "--estimate", "--batch", "--poll-interval", "5"), f"--poll-interval {NOT_ESTIMATE}"),
    (("eval", "--url", NOWHERE), f"--url {ONLY_PROJECT}"),
    (("agreement", "--url", NOWHERE), f"--url {ONLY_PROJECT}"),
    (("export", "--format", "jsonl", *OUT, "--url", NOWHERE), f"--url {ONLY_PROJECT}"),
    (("export", "--format", "jsonl", *OUT, "--expand-misaligned"),
     f"--expand-misaligned does not apply with --format jsonl {NOT_TOKENS}"),
    (("export", "--format", "hf", *OUT, "--expand-misaligned"),
     f"--expand-misaligned does not apply with --format hf {NOT_TOKENS}"),
    (("export", "--format", "labelstudio", *OUT, "--expand-misaligned"),
     f"--expand-misaligned does not apply with --format labelstudio {NOT_TOKENS}"),
    (("export", "--format", "conll", *OUT, "--level", "sentence"),
     "--level does not apply with --format conll (CoNLL is written sentence by sentence); leave it out"),
    (("export", "--format", "conll", *OUT, "--include-drafts"),
     "--include-drafts does not apply with --format conll (CoNLL has no place for drafts); leave it out"),
    (("serve", "-p", "Claims", "--backend-url", "http://127.0.0.1:9090"),
     "--backend-url applies only with --register (it is the URL the project's ML backend and webhook are given); "
     "add --register or leave it out"),
]


@pytest.mark.parametrize("args, line", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_a_flag_the_mode_ignores_is_one_line_and_nothing_is_touched(tmp_path, args, line) -> None:
    db_file = tmp_path / "a.db"
    result = run(*args, env={**LS_ENV, "ANNOTATOR_DB": str(db_file), "ANNOTATOR_HOME": str(tmp_path / "home")})
    assert_one_error_line(result, 2, line)
    assert result.stderr == f"Error: {line}\n"
    assert not db_file.exists()


@pytest.fixture
def drafting(tmp_path):
    """The stub LLM and the environment of a database holding the sample article."""
    with StubLLM(responder=news_responder) as stub:
        env = {"ANNOTATOR_DB": str(tmp_path / "a.db"), "ANNOTATOR_HOME": str(tmp_path / "home"),
               "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "test-key", "ANNOTATOR_MODEL": "stub"}
        ingested = run("ingest", str(data_file("sample_article.txt")), env=env)
        assert ingested.exit_code == 0, ingested.stderr
        yield stub, env


def test_online_annotate_refuses_batch_and_price_flags_and_runs_on_their_defaults(drafting) -> None:
    stub, env = drafting
    assert_one_error_line(run("annotate", "--poll-interval", "30", env=env), 2, f"--poll-interval {ONLY_BATCH}")
    ran = run("annotate", env=env)
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.startswith("11 drafts (11 ok); 11 LLM calls")


def test_batch_refuses_concurrency_and_runs_on_its_default(drafting) -> None:
    stub, env = drafting
    assert_one_error_line(run("annotate", "--batch", "-c", "4", env=env), 2, f"--concurrency {NOT_BATCH}")
    assert stub.batch.created == 0
    ran = run("annotate", "--batch", "--poll-interval", "0.02", env=env)
    assert ran.exit_code == 0, ran.stderr
    assert stub.batch.created == 1 and "11 drafts (11 ok)" in ran.stdout


def test_estimate_refuses_sending_flags_and_runs_on_their_defaults(drafting) -> None:
    stub, env = drafting
    assert_one_error_line(run("annotate", "--estimate", "--timeout", "120", env=env), 2, f"--timeout {NOT_ESTIMATE}")
    ran = run("annotate", "--estimate", "--price-in", "0.15", "--price-out", "0.6", env=env)
    assert ran.exit_code == 0, ran.stderr
    assert "11 sentences to draft" in ran.stdout and stub.counts == {}


def test_eval_agreement_and_export_refuse_url_alone_and_run_without_it(tmp_path) -> None:
    env = v2_project(tmp_path)
    assert_one_error_line(run("eval", "--url", NOWHERE, env=env), 2, f"--url {ONLY_PROJECT}")
    evaluated = run("eval", env=env)
    assert evaluated.exit_code == 0 and evaluated.stdout.startswith("No submitted annotation has a draft")
    agreed = run("agreement", "--json", env=env)
    assert agreed.exit_code == 0 and json.loads(agreed.stdout)["tasks"] == 0
    assert_one_error_line(run("export", "--format", "conll", "--out", "-", env=env), 2,
                          f"no submitted gold for schema news_events (hash {V1.hash}) in any project")


def test_serve_refuses_backend_url_without_register_and_starts_without_it(tmp_path) -> None:
    env = v2_project(tmp_path)
    refused = run("serve", "-p", "Claims", "--backend-url", "http://127.0.0.1:9090", env=env)
    assert_one_error_line(refused, 2, "--backend-url applies only with --register")
    with StubLLM(responder=news_responder) as stub:
        started = run("serve", "-p", "Claims", "--port", "0",
                      env={**env, "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "k", "ANNOTATOR_MODEL": "stub"})
    # It goes as far as Label Studio, where nothing listens, with the project's schema and its prompt.
    assert started.exit_code == 1 and "--backend-url" not in started.stderr
    assert "127.0.0.1:9" in started.stderr


# ------------------------------------------------------------------ on a real Label Studio


@pytest.mark.labelstudio
def test_a_project_pushed_with_v2_is_pulled_synced_and_evaluated_without_schema(labelstudio, tmp_path) -> None:
    from tests.support.claims import OTHER, claims_responder

    env = {"ANNOTATOR_DB": str(tmp_path / "v2.db"), "LABEL_STUDIO_URL": labelstudio.url,
           "LABEL_STUDIO_API_KEY": labelstudio.token}
    project = f"cli v2 {uuid.uuid4().hex[:8]}"
    (tmp_path / "claims.txt").write_text(f"{SENTENCE} {OTHER}\n")
    assert run("ingest", str(tmp_path / "claims.txt"), env=env).exit_code == 0
    with StubLLM(responder=claims_responder) as stub:
        drafted = run("annotate", "--schema", "news_events_v2", "--base-url", stub.base_url, "--model", "stub",
                      env=env)
    assert drafted.stdout.startswith("2 drafts (2 ok)"), drafted.stderr
    pushed = run("push", "-p", project, "--schema", "news_events_v2", env=env)
    assert pushed.exit_code == 0 and ": 2 new tasks, 2 new predictions" in pushed.stdout, pushed.stderr
    db = open_db(env["ANNOTATOR_DB"])
    (row,) = db.query("SELECT schema_name, schema_hash, schema_ref FROM projects WHERE name = ?", [project])
    assert row == {"schema_name": "news_events_v2", "schema_hash": V2.hash, "schema_ref": "news_events_v2"}

    accept_every_prediction(labelstudio, db, project)
    pulled = run("pull", "-p", project, env=env)
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.stdout == "Pulled 2 annotations from 2 tasks (2 ok): 2 new, 0 updated, 0 deleted, 0 unchanged.\n"
    gold = list(db.query("SELECT g.schema_name, g.schema_hash, g.status, g.data, d.data AS draft FROM gold g "
                         "JOIN drafts d ON d.sentence_id = g.sentence_id"))
    assert [(g["schema_name"], g["schema_hash"], g["status"]) for g in gold] == [("news_events_v2", V2.hash, "ok")] * 2
    assert all(json.loads(g["data"]) == json.loads(g["draft"]) for g in gold)  # accepted as drafted
    assert sorted(len(json.loads(g["data"])["claims"]) for g in gold) == [0, 2]

    conflict = run("pull", "-p", project, "--schema", "news_events", env=env)
    assert_one_error_line(conflict, 2, f"project {project!r} on {labelstudio.url} was made with schema news_events_v2 "
                                       f"({V2.hash}), not news_events ({V1.hash}); leave --schema out or pass "
                                       f"--schema news_events_v2")
    synced = run("sync", "-p", project, env=env)
    assert synced.exit_code == 0, synced.stderr
    assert ": 0 new tasks, 0 new predictions (2 tasks already there)" in synced.stdout
    assert ": 0 new, 0 updated, 0 deleted" in synced.stdout
    report = json.loads(run("eval", "-p", project, "--json", env=env).stdout)
    assert [g["schema_hash"] for g in report["groups"]] == [V2.hash] and "claims" in report["groups"][0]["fields"]


@pytest.mark.labelstudio
def test_a_project_pushed_with_a_schema_file_is_pulled_from_that_file(labelstudio, tmp_path) -> None:
    env = {"ANNOTATOR_DB": str(tmp_path / "file.db"), "LABEL_STUDIO_URL": labelstudio.url,
           "LABEL_STUDIO_API_KEY": labelstudio.token}
    path = tmp_path / "my_claims.py"  # news_events_v2 under another name: the same model, the same hash
    shutil.copy(resource_dir("schemas") / "news_events_v2.py", path)
    project = f"cli file {uuid.uuid4().hex[:8]}"
    (tmp_path / "one.txt").write_text(SENTENCE + "\n")
    assert run("ingest", str(tmp_path / "one.txt"), env=env).exit_code == 0
    with StubLLM(responder=lambda body: {"entities": [], "event_type": "none", "claims": []}) as stub:
        drafted = run("annotate", "--schema", str(path), "--base-url", stub.base_url, "--model", "stub", env=env)
    assert drafted.exit_code == 0, drafted.stderr
    pushed = run("push", "-p", project, "--schema", str(path), env=env)
    assert pushed.exit_code == 0, pushed.stderr
    db = open_db(env["ANNOTATOR_DB"])
    assert db.execute("SELECT schema_name, schema_ref FROM projects").fetchall() == [("my_claims", str(path))]
    accept_every_prediction(labelstudio, db, project)
    pulled = run("pull", "-p", project, env=env)
    assert pulled.stdout.startswith("Pulled 1 annotations from 1 tasks (1 ok): 1 new"), pulled.stderr
    assert db.execute("SELECT schema_name, schema_hash FROM gold").fetchall() == [("my_claims", V2.hash)]
    moved = tmp_path / "kept" / "my_claims.py"
    moved.parent.mkdir()
    path.rename(moved)
    assert_one_error_line(run("pull", "-p", project, env=env), 2, (
        f"project {project!r} on {labelstudio.url} was made with schema my_claims from {path}, which no longer "
        f"loads (schema file {path} not found); put it back, or pass --schema with where it is now"))
    assert run("pull", "-p", project, "--schema", str(moved), env=env).exit_code == 0
    again = run("pull", "-p", project, env=env)
    assert again.exit_code == 0 and "0 new, 0 updated, 0 deleted" in again.stdout, again.stderr


def accept_every_prediction(labelstudio, db, project: str) -> None:
    """An annotator submits every task's prediction as it is."""
    ls = open_client(labelstudio.url, labelstudio.token)
    (ls_id,) = db.execute("SELECT ls_id FROM projects WHERE name = ?", [project]).fetchone()
    for task in ls.tasks.list(project=ls_id, fields="all"):
        prediction = task.predictions[0]
        prediction = prediction if isinstance(prediction, dict) else prediction.model_dump(mode="json")
        ls.annotations.create(id=task.id, result=prediction["result"], parent_prediction=prediction["id"])
