"""annotate --batch against the stub's Batch API: a fresh database, a run, its drafts' statuses."""

from __future__ import annotations

from pathlib import Path

from annotator.annotate.batch import annotate_batch
from annotator.ingest import ingest, read_inputs
from annotator.store import open_db
from tests.support.drafting import ARTICLE, PROMPT, SCHEMA, client_for
from tests.support.stub_llm import StubLLM


def fresh_db(path: Path):
    """A database at `path` holding the sample article."""
    db = open_db(path)
    ingest(db, read_inputs([ARTICLE]))
    return db


def statuses(db) -> dict[str, int]:
    """How many drafts have each status."""
    return {r["status"]: r["n"] for r in db.query("SELECT status, count(*) AS n FROM drafts GROUP BY 1")}


def batch(db, stub: StubLLM, **kw):
    """annotate --batch on `db` against the stub's Batch API, polling fast."""
    return annotate_batch(db, client_for(stub), SCHEMA, PROMPT, poll_interval=0.02, **kw)
