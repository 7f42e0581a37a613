"""annotate against the real llama.cpp server running SmolLM2-135M-Instruct (json_object mode), and its sampling."""

from __future__ import annotations

import json

import openai
import pytest

from annotator.annotate import annotate
from annotator.ingest import ingest, read_inputs
from annotator.llm import LLMClient
from annotator.llm.modes import request_params
from annotator.prompts import load_prompt
from annotator.resources import data_file
from annotator.schema import load_schema
from annotator.services.llamacpp import LAUNCHER, LocalLLMServer
from annotator.store import open_db

pytestmark = pytest.mark.llamacpp


def test_smollm2_drafts_are_valid_and_grounded(llama_server, tmp_path) -> None:
    db = open_db(tmp_path / "smol.db")
    ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
    schema, prompt = load_schema("news_events"), load_prompt(None, "news_events")
    client = LLMClient(base_url=llama_server.url, api_key=None, model=llama_server.model, max_tokens=512)
    # auto: the server refuses json_schema (HTTP 500), so the run settles on json_object with the schema.
    report = annotate(db, client, schema, prompt, concurrency=1, limit=3)
    assert report.mode == "json_object" and report.done == 3
    rows = list(db.query("SELECT d.*, s.text AS sentence FROM drafts d JOIN sentences s ON s.id = d.sentence_id"))
    assert len(rows) == 3
    for row in rows:
        assert row["mode"] == "json_object" and row["prompt_tokens"] > 500
        assert row["status"] in ("ok", "invalid")
        if row["status"] == "ok":
            data = schema.model.model_validate_json(row["data"])
            assert data.event_type.value in schema.field("event_type").labels
            for span in json.loads(row["spans"]):
                assert row["sentence"][span["start"]:span["end"]] == span["text"]
    # The grammar-constrained json_object mode should give schema-valid JSON on the first try.
    assert sum(r["status"] == "ok" for r in rows) >= 2
    calls = client.calls
    db.execute("DELETE FROM drafts")
    db.conn.commit()
    again = annotate(db, client, schema, prompt, concurrency=1, limit=3)
    assert again.llm_calls == 0 and client.calls == calls and again.done == 3  # all from the cache


class PlainSampling(LocalLLMServer):
    """The embedded server as llama-cpp-python samples: the grammar applied to every candidate token."""

    def _command(self, port: int) -> list[str]:
        command = super()._command(port)
        code = ("import importlib.util as u, runpy, llama_cpp.llama_cpp as C\n"
                f"spec = u.spec_from_file_location('launch', {str(LAUNCHER)!r})\n"
                "launch = u.module_from_spec(spec)\nspec.loader.exec_module(launch)\n"
                "launch._no_extra_buffers(C)\n"
                "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n")
        return [command[0], "-c", code, *command[command.index("--model"):]]


def test_grammar_checked_greedy_picks_the_tokens_full_grammar_sampling_picks(llama_server, tmp_path) -> None:
    schema = load_schema("news_events")
    messages = [{"role": "system", "content": "Annotate the sentence as JSON: entities, event_type, attribution, "
                 "sources."},
                {"role": "user", "content": "Rebels shelled the market in Kessa on Monday, killing four civilians, "
                 "the governor said."}]
    params = request_params("json_object", llama_server.model, messages, schema.llm_json_schema(), temperature=0.0,
                            max_tokens=96, seed=None)
    plain = PlainSampling(base_dir=tmp_path / "plain")
    reference = plain.start()
    try:
        answers = [openai.OpenAI(base_url=info.url, api_key="x").chat.completions.create(**params)
                   for info in (llama_server, reference)]
    finally:
        plain.stop()
    checked, full = (a.choices[0].message.content for a in answers)
    assert checked == full and answers[0].usage.completion_tokens == answers[1].usage.completion_tokens
    assert checked.lstrip().startswith("{")
