"""The command line: status on known rows, schema commands, help examples, errors, sync on a real Label Studio."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from annotator.cli import Group, cli
from annotator.errors import InputError
from annotator.resources import data_file
from annotator.store import open_db
from tests.support.cli import assert_one_error_line, run
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

ROOT = Path(__file__).resolve().parent.parent
def table_rows(text: str) -> list[list[str]]:
    """The cells of every row of the rich tables in `text`."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in text.splitlines()
            if line.strip().startswith("│")]


# ------------------------------------------------------------------ status


def draft(did: str, sentence: str, model: str, status: str, prompt_tokens: int, completion_tokens: int,
          dropped: int, cached: int = 0, error: str | None = None) -> dict:
    return {"id": did, "sentence_id": sentence, "schema_name": "news_events", "schema_hash": "h1",
            "prompt_version": "news_events.v1", "model": model, "mode": "json_schema", "status": status,
            "error": error, "n_dropped": dropped, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "cached": cached, "run_key": "", "created_at": "2025-01-01"}


def gold(gid: str, task_id: int, sentence: str, annotation_id: int, status: str) -> dict:
    return {"id": gid, "project_id": "p-batch", "task_id": task_id, "sentence_id": sentence,
            "annotation_id": annotation_id, "status": status}


@pytest.fixture
def known_db(tmp_path) -> Path:
    """Two documents, three sentences, four drafts, two projects with tasks and gold rows."""
    path = tmp_path / "known.db"
    db = open_db(path)
    db["documents"].insert_all([{"id": "d1", "text": "One. Two."}, {"id": "d2", "text": "Three."}])
    db["sentences"].insert_all([
        {"id": "s1", "document_id": "d1", "idx": 0, "start": 0, "end": 4, "text": "One."},
        {"id": "s2", "document_id": "d1", "idx": 1, "start": 5, "end": 9, "text": "Two."},
        {"id": "s3", "document_id": "d2", "idx": 0, "start": 0, "end": 6, "text": "Three."},
    ])
    db["drafts"].insert_all([
        draft("a", "s1", "m1", "ok", 10, 5, 1),
        draft("b", "s2", "m1", "ok", 100, 50, 2, cached=1),  # a cache hit: its tokens cost nothing
        draft("c", "s3", "m1", "failed", 7, 0, 0, error="timeout: no answer after 3 tries"),
        draft("d", "s1", "m2", "invalid", 20, 9, 0, error="validation: event_type is missing"),
    ])
    db["projects"].insert_all([
        {"id": "p-batch", "ls_id": 7, "name": "Batch 3", "url": "http://ls.example:8080"},
        {"id": "p-alpha", "ls_id": 2, "name": "Alpha", "url": "http://ls.example:8080"},
    ])
    db["tasks"].insert_all([{"project_id": "p-batch", "sentence_id": s, "task_id": t}
                            for s, t in (("s1", 101), ("s2", 102), ("s3", 103))])
    db["gold"].insert_all([
        gold("g1", 101, "s1", 1, "ok"),
        gold("g2", 101, "s1", 2, "invalid"),  # a second annotator on the same task
        gold("g3", 102, "s2", 3, "skipped"),
        gold("g4", 103, "s3", 4, "deleted"),  # deleted: the task is pending again
    ])
    return path


def test_status_json_counts_known_rows(known_db) -> None:
    result = run("status", "--json", "--db", str(known_db))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["documents"], data["sentences"]) == (2, 3)
    base = {"schema_name": "news_events", "prompt_version": "news_events.v1"}
    assert data["drafts"] == [
        {**base, "model": "m1", "status": "failed", "n": 1, "prompt_tokens": 7, "completion_tokens": 0,
         "dropped_spans": 0},
        {**base, "model": "m1", "status": "ok", "n": 2, "prompt_tokens": 10, "completion_tokens": 5,
         "dropped_spans": 3},
        {**base, "model": "m2", "status": "invalid", "n": 1, "prompt_tokens": 20, "completion_tokens": 9,
         "dropped_spans": 0},
    ]
    failures = sorted((f["status"], f["reason"], f["n"]) for f in data["failures"])
    assert failures == [("failed", "timeout", 1), ("invalid", "validation", 1)]
    assert [(p["name"], p["ls_id"], p["pushed"], p["annotated"], p["skipped"], p["pending"])
            for p in data["projects"]] == [("Alpha", 2, 0, 0, 0, 0), ("Batch 3", 7, 3, 1, 1, 1)]


def test_status_tables_show_the_same_counts(known_db) -> None:
    result = run("status", env={"ANNOTATOR_DB": str(known_db)})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "2 documents, 3 sentences"
    rows = table_rows(result.stdout)
    assert ["news_events", "news_events.v1", "m1", "ok", "2", "10", "5", "3"] in rows
    assert ["news_events", "news_events.v1", "m2", "invalid", "1", "20", "9", "0"] in rows
    assert ["failed", "timeout", "1"] in rows
    assert ["Batch 3", "7", "3", "1", "1", "1", "0", "raw signals (annotator calibrate)", "http://ls.example:8080"] in rows


def test_status_says_what_scores_each_project_s_predictions(known_db) -> None:
    db = open_db(known_db)
    for version, gold in ((1, 40), (2, 55)):
        db["calibrations"].insert({"id": f"c{version}", "project_id": "p-batch", "version": version,
                                   "schema_hash": "h", "gold_hash": f"g{version}", "gold": gold, "created_at": "now",
                                   "maps": "{}", "figures": "{}"})
    data = json.loads(run("status", "--json", "--db", str(known_db)).stdout)
    assert {p["name"]: p["confidence"] for p in data["projects"]} == {
        "Alpha": {"calibrated": False}, "Batch 3": {"calibrated": True, "version": 2, "gold": 55}}
    rows = table_rows(run("status", "--db", str(known_db)).stdout)
    assert any(r[0] == "Batch 3" and r[7] == "calibrated v2 (55 gold)" for r in rows)
    assert any(r[0] == "Alpha" and r[7] == "raw signals (annotator calibrate)" for r in rows)


def test_status_shows_the_live_state_serve_recorded(known_db) -> None:
    from annotator.backend.state import record_webhooks

    db = open_db(known_db)
    db["projects"].update("p-batch", {"pulled_at": "2026-01-02T03:04:09+00:00"})
    db["serve_links"].insert({"project_id": "p-batch", "backend_url": "http://127.0.0.1:9090", "ml_backend_id": 4,
                              "webhook_id": 5, "registered_at": "2026-01-01T00:00:00+00:00", "webhooks": 1,
                              "last_webhook_at": "2026-01-02T03:04:00+00:00", "last_webhook_action": "X",
                              "last_predict_at": "2026-01-02T02:00:00+00:00", "predicted_tasks": 50})
    record_webhooks(db, "p-batch", ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"), "2026-01-02T03:04:08+00:00")
    db.close()
    data = json.loads(run("status", "--json", "--db", str(known_db)).stdout)
    alpha, batch = data["projects"]
    assert (alpha["live"], alpha["last_pull_at"]) == (None, None)  # never served nor pulled
    assert batch["last_pull_at"] == "2026-01-02T03:04:09+00:00"
    assert batch["live"] == {"backend_url": "http://127.0.0.1:9090", "ml_backend_id": 4, "webhook_id": 5,
                             "registered_at": "2026-01-01T00:00:00+00:00", "webhooks": 3,
                             "last_webhook_at": "2026-01-02T03:04:08+00:00",
                             "last_webhook_action": "ANNOTATION_UPDATED",
                             "last_predict_at": "2026-01-02T02:00:00+00:00", "predicted_tasks": 50}
    rows = table_rows(run("status", "--db", str(known_db)).stdout)
    assert ["Batch 3", "http://127.0.0.1:9090", "2026-01-02 03:04:08 UTC (ANNOTATION_UPDATED)", "3",
            "2026-01-02 02:00:00 UTC", "50", "2026-01-02 03:04:09 UTC"] in rows
    assert not any(r[0] == "Alpha" and len(r) == 7 for r in rows)  # no live row for a project never served


def test_status_of_a_new_database_is_empty(tmp_path) -> None:
    result = run("status", "--json", "--db", str(tmp_path / "new.db"))
    data = json.loads(result.stdout)
    assert (data["documents"], data["sentences"], data["drafts"], data["failures"]) == (0, 0, [], [])
    assert run("status", "--db", str(tmp_path / "new.db")).stdout == "0 documents, 0 sentences\n"


# ------------------------------------------------------------------ schema


def test_schema_show_prints_the_json_schema_the_llm_gets() -> None:
    result = run("schema", "show")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert set(shown["properties"]) == {"entities", "event_type", "attribution", "sources"}
    assert shown["additionalProperties"] is False
    entity = shown["properties"]["entities"]["items"]
    assert "PERSON" in entity["properties"]["label"]["enum"]
    assert run("schema", "show", "news_events").stdout == result.stdout


def test_schema_config_prints_a_labeling_config() -> None:
    result = run("schema", "config", "news_events")
    assert result.exit_code == 0, result.stderr
    xml = result.stdout
    assert xml.startswith("<View>") and xml.rstrip().endswith("</View>")
    for control in ('<Labels name="entities" toName="text">', '<Labels name="sources" toName="text">',
                    '<Choices name="event_type" toName="text"', '<Text name="text" value="$text" showLabels="true" />'):
        assert control in xml


def test_schema_list_names_the_built_in_schemas() -> None:
    result = run("schema", "list")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == sorted(p.stem for p in (ROOT / "schemas").glob("*.py")
                                                if not p.stem.startswith("_"))


def test_unknown_schema_is_one_error_line() -> None:
    result = run("schema", "show", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown schema 'nope'") and len(result.stderr.splitlines()) == 1


# ------------------------------------------------------------------ help, version, errors


def command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group below `group`, as argument paths."""
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths


def test_there_are_the_documented_commands() -> None:
    top = {p[0] for p in command_paths()}
    assert top == {"ingest", "annotate", "push", "pull", "sync", "status", "schema", "demo", "labelstudio", "llm",
                   "eval", "agreement", "adjudicate", "calibrate", "route", "export", "serve", "connect"}


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_help_has_an_example_of_its_command(path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert re.search(rf"^\s+.*\bannotator {' '.join(path)}\b", result.stdout, re.MULTILINE), result.stdout


def test_top_level_help_shows_a_session() -> None:
    result = run("-h")
    assert "A typical session:" in result.stdout and "  annotator ingest news/*.txt" in result.stdout


@pytest.mark.process
def test_python_m_annotator_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    proc = subprocess.run([sys.executable, "-m", "annotator", "--version"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"annotator, version {version}\n"


def test_a_folder_as_database_is_one_error_line(tmp_path) -> None:
    assert_one_error_line(run("status", "--db", str(tmp_path)), 2, f"database path {tmp_path} is a directory")


def test_a_file_that_is_not_sqlite_is_one_error_line(tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("These are notes, not a database. " * 10)
    for args in (("status", "--db", str(text)), ("ingest", str(text), "--db", str(text))):
        assert_one_error_line(run(*args), 2, f"{text} is not a SQLite database")
    assert text.read_text() == "These are notes, not a database. " * 10


def test_a_missing_folder_for_the_database_is_one_error_line(tmp_path) -> None:
    missing = tmp_path / "nowhere" / "a.db"
    assert_one_error_line(run("status", env={"ANNOTATOR_DB": str(missing)}), 2,
                          f"folder {missing.parent} for the database does not exist")


def test_group_turns_errors_and_interrupts_into_one_line() -> None:
    @click.group(cls=Group)
    def app() -> None:
        """A group like annotator's."""

    @app.command()
    def refuse() -> None:
        raise InputError("no such thing; pass another")

    @app.command()
    def interrupt() -> None:
        raise KeyboardInterrupt

    refused = CliRunner().invoke(app, ["refuse"])
    assert (refused.exit_code, refused.stderr) == (2, "Error: no such thing; pass another\n")
    interrupted = CliRunner().invoke(app, ["interrupt"])
    assert (interrupted.exit_code, interrupted.stderr) == (130, "Interrupted.\n")


def test_an_error_with_brackets_is_printed_as_is() -> None:
    @click.group(cls=Group)
    def app() -> None:
        """A group like annotator's."""

    @app.command()
    def refuse() -> None:
        raise InputError("bad value [/] in [bold]--x[/bold]")

    result = CliRunner().invoke(app, ["refuse"])
    assert (result.exit_code, result.stderr) == (2, "Error: bad value [/] in [bold]--x[/bold]\n")


def test_labelstudio_url_without_key_names_the_fix(tmp_path) -> None:
    result = run("push", "-p", "x", "--db", str(tmp_path / "a.db"),
                 env={"LABEL_STUDIO_URL": "http://user:secret@127.0.0.1:9"})
    assert_one_error_line(result, 1, "no API key for http://127.0.0.1:9; set LABEL_STUDIO_API_KEY")
    assert "secret" not in result.stderr


# ------------------------------------------------------------------ sync on a real Label Studio


@pytest.mark.labelstudio
def test_sync_pushes_stub_drafts_then_pulls(labelstudio, tmp_path) -> None:
    env = {"ANNOTATOR_DB": str(tmp_path / "sync.db"), "LABEL_STUDIO_URL": labelstudio.url,
           "LABEL_STUDIO_API_KEY": labelstudio.token}
    project = f"cli sync {uuid.uuid4().hex[:8]}"
    assert run("ingest", str(data_file("sample_article.txt")), env=env).exit_code == 0
    with StubLLM(responder=news_responder) as stub:
        drafted = run("annotate", "--base-url", stub.base_url, "--model", "stub", env=env)
    assert drafted.exit_code == 0, drafted.stderr
    assert drafted.stdout.startswith("11 drafts (11 ok); 11 LLM calls")

    first = run("sync", "--project", project, env=env)
    assert first.exit_code == 0, first.stderr
    pushed, page, pulled = first.stdout.splitlines()
    assert page == "Annotator's page: instructions set; view 'Weakest drafts first' created."
    assert re.fullmatch(rf"Pushed to {re.escape(labelstudio.url)}/projects/\d+: 11 new tasks, 11 new predictions "
                        r"\(0 tasks already there\); model version stub · news_events\.v2 · [0-9a-f]{6}\.", pushed)
    assert pulled == "Pulled 0 annotations from 0 tasks (none): 0 new, 0 updated, 0 deleted, 0 unchanged."

    again = run("sync", "-p", project, env=env)
    assert again.exit_code == 0, again.stderr
    assert "11 tasks already there" in again.stdout and ": 0 new tasks, 0 new predictions" in again.stdout
    status = json.loads(run("status", "--json", env=env).stdout)
    (row,) = [p for p in status["projects"] if p["name"] == project]
    assert (row["pushed"], row["annotated"], row["pending"]) == (11, 0, 11)


@pytest.mark.labelstudio
def test_demo_on_configured_servers_prints_where_to_look(labelstudio, tmp_path) -> None:
    db_file = str(tmp_path / "demo.db")
    project = f"cli demo {uuid.uuid4().hex[:8]}"
    with StubLLM(responder=news_responder) as stub:
        env = {"ANNOTATOR_DB": db_file, "OPENAI_BASE_URL": stub.base_url, "LABEL_STUDIO_URL": labelstudio.url,
               "LABEL_STUDIO_API_KEY": labelstudio.token}
        first = run("demo", "--project", project, env=env)
        again = run("demo", "--project", project, env=env)
    assert first.exit_code == 0, first.stderr
    # The model is the one the server offers; the demo starts no service of its own.
    assert f"LLM: stub at {stub.base_url}   Label Studio: {labelstudio.url}\n" in first.stderr
    assert f"11 sentences in {db_file} (11 new)\n" in first.stderr
    assert "11 new drafts (11 ok), 11 LLM calls, mode json_schema\n" in first.stderr
    assert "SmolLM2" not in first.stderr + first.stdout
    lines = first.stdout.splitlines()
    assert lines[0].startswith(f"Pushed to {labelstudio.url}/projects/")
    assert ": 11 new tasks, 11 new predictions (0 tasks already there)" in lines[0]
    ls_id = int(re.search(r"/projects/(\d+):", lines[0]).group(1))
    tasks = open_db(db_file)["tasks"].rows
    first_task = min(t["task_id"] for t in tasks)
    assert lines[1:] == [
        "Annotator's page: instructions set; view 'Weakest drafts first' created.",
        f"Open {labelstudio.url}/projects/{ls_id}/data?task={first_task}",
        "Each sentence is a task, pre-filled with the LLM's draft: fix the spans and choices, then Submit.",
        f'Then: annotator pull --project "{project}"   (gold labels into {db_file})',
        "      annotator status",
    ]
    assert again.exit_code == 0, again.stderr
    assert "0 new drafts (all drafted already), 0 LLM calls" in again.stderr
    assert ": 0 new tasks, 0 new predictions (11 tasks already there)" in again.stdout
    assert again.stdout.splitlines()[1:] == lines[2:]  # the page is set up already: no line about it


def test_a_database_another_process_keeps_write_locked_stops_with_one_line(tmp_path) -> None:
    db_file = tmp_path / "locked.db"
    open_db(db_file).close()
    holder = sqlite3.connect(db_file)
    holder.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
    try:
        result = run("ingest", str(data_file("sample_article.txt")),
                     env={"ANNOTATOR_DB": str(db_file), "ANNOTATOR_BUSY_TIMEOUT": "0.5"})
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == ("Error: the database is locked by another process that kept writing "
                                              "for over 0.5 s; wait for it to finish, then run again (nothing was lost)")
    again = run("ingest", str(data_file("sample_article.txt")), env={"ANNOTATOR_DB": str(db_file)})
    assert again.exit_code == 0 and open_db(db_file)["documents"].count == 1


def test_ingest_max_sentence_chars_is_the_flag_its_refusal_names(tmp_path):
    source = tmp_path / "long.txt"
    source.write_text("A" * 40 + " long sentence without a stop", encoding="utf-8")  # 69 characters
    db = str(tmp_path / "a.db")
    refused = run("ingest", str(source), "--db", db, "--max-sentence-chars", "50")
    assert refused.exit_code == 1
    assert "sentence 1 has 69 characters, over the limit of 50" in refused.output
    assert "pass --max-sentence-chars 69 to take it whole" in refused.output
    taken = run("ingest", str(source), "--db", db, "--max-sentence-chars", "69")
    assert taken.exit_code == 0 and "1 new documents" in taken.output
