"""Drafting against the stub LLM: the default schema, its prompt, the sample article, a client, a drafted database."""

from __future__ import annotations

from pathlib import Path

from annotator.annotate import annotate
from annotator.ingest import DocInput, ingest
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.resources import data_file
from annotator.schema import Schema, load_schema
from annotator.store import open_db
from tests.support.stub_llm import Responder, StubLLM

SCHEMA = load_schema("news_events")
PROMPT = load_prompt(None, "news_events")
ARTICLE = str(data_file("sample_article.txt"))
"""The sample wire article: a headline and ten one-sentence paragraphs (11 sentences)."""


def client_for(stub: StubLLM, **kw) -> LLMClient:
    """A client aimed at the stub, with fast backoff for tests."""
    kw.setdefault("backoff", 0.02)
    kw.setdefault("timeout", 5)
    return LLMClient(base_url=stub.base_url, api_key="test-key", model="stub", **kw)


def drafted_texts(tmp_path: Path, schema: Schema, responder: Responder, texts: list[str]):
    """A database in `tmp_path` holding `texts` as one document, each sentence drafted once by `responder`."""
    db = open_db(tmp_path / f"{schema.name}.db")
    ingest(db, [DocInput(text=" ".join(texts), origin=f"test:{schema.name}")])
    with StubLLM(responder=responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="test", model="stub", max_retries=0)
        report = annotate(db, client, schema, load_prompt(None, schema.name), concurrency=1)
    assert report.by_status == {"ok": len(texts)}
    return db
