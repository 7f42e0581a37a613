"""Worked examples retrieved from gold: the K annotated sentences most like the one to draft.

`annotate --examples K --examples-from PROJECT` shows the model, before each
sentence, K gold annotations of the project as chat turns (the example sentence,
then its gold JSON) in place of the prompt's own examples. Gold is chosen as
evaluation chooses it (status ok, the draft's schema, one annotation per task by
`evaluate.load.choose`, then the newest per sentence). Similarity is BM25 over an
SQLite FTS5 index (porter stemming) built in memory for the run: no new service.

No leakage: an example is never the sentence itself, never a sentence of the same
document, and never a sentence with the same text. Order is stable: best match
first, ties broken by gold id, then shown best last (nearest the sentence).

Identity: a draft made with retrieved examples has the run key
`<settings key>+ex<K>.<family>.<chosen>`, where `family` hashes (K, projects, gold
policy) and `chosen` hashes the example gold ids with their `updated_at` (`none`
when nothing was retrieved and the prompt's own examples were used). So drafts
without examples keep their key, and new or edited gold that changes a sentence's
examples changes its draft's identity.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlite_utils

from .context import DocumentSentences, Window
from .context import window as window_setting
from .errors import InputError
from .evaluate.load import projects
from .gold import choose
from .prompts import WorkedExample
from .schema import Schema
from .store import GoldStatus, content_id

MAX_EXAMPLES = 16
"""The most examples one sentence is shown (each costs a user and an assistant turn)."""
MAX_QUERY_TERMS = 64
"""The most distinct words of a sentence its BM25 query uses."""
NO_EXAMPLES = "none"
"""The `chosen` part of the run key when nothing was retrieved (the prompt's own examples are used)."""

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class GoldExample:
    """One gold annotation usable as a worked example."""

    gold_id: str
    updated_at: str
    sentence_id: str
    document_id: str
    idx: int
    text: str
    answer: str
    """The gold annotation as the JSON the model should reply with."""


# --------------------------------------------------------------------------- pure core


def fts_query(text: str) -> str | None:
    """An FTS5 query matching any word of `text` (each quoted, so no word is read as syntax); None if no word."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{w}"' for w in words) or None


def pick_gold(rows: Iterable[dict], mode: str) -> list[dict]:
    """The gold rows that count, one per sentence: `choose` per task, then the newest of a sentence's tasks."""
    by_task: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        by_task.setdefault((row["project_id"], row["task_id"]), []).append(row)
    newest: dict[str, dict] = {}
    for task_rows in by_task.values():
        for row in choose(task_rows, mode):
            old = newest.get(row["sentence_id"])
            if old is None or _recency(row) > _recency(old):
                newest[row["sentence_id"]] = row
    return sorted(newest.values(), key=lambda r: r["id"])


def _recency(row: dict) -> tuple[str, int]:
    return (row["updated_at"] or "", row["annotation_id"] or 0)


def answer_json(data: str) -> str:
    """A gold row's `data` as the assistant's reply (the prompt's own examples use this spacing)."""
    return json.dumps(json.loads(data), ensure_ascii=False)


def family_of(k: int, project_ids: Sequence[str], gold: str) -> str:
    """A short hash of what decides which examples a run retrieves."""
    return content_id("examples", k, sorted(project_ids), gold)[:8]


def chosen_key(examples: Sequence[GoldExample]) -> str:
    """A short hash of the examples a sentence was drafted with (their gold ids and versions), or `none`."""
    if not examples:
        return NO_EXAMPLES
    return content_id("chosen", [(e.gold_id, e.updated_at) for e in examples])[:12]


# --------------------------------------------------------------------------- edge


class ExampleIndex:
    """The gold of some projects, indexed for BM25 retrieval (in memory, built once per run)."""

    def __init__(self, db: sqlite_utils.Database, schema: Schema, project_name: str, k: int,
                 gold: str = "latest", window: Window | None = None) -> None:
        if not 1 <= k <= MAX_EXAMPLES:
            raise InputError(f"--examples {k} is out of range; use 1-{MAX_EXAMPLES}")
        if gold not in ("latest", "ground-truth"):
            raise InputError(f"gold policy {gold!r} cannot pick examples; use latest or ground-truth")
        self.db, self.k, self.gold = db, k, gold
        self.window = window or window_setting()
        try:
            self.projects = projects(db, project_name)
        except InputError:
            raise InputError(f"no project {project_name!r} in this database to take examples from; check "
                             "--examples-from (see `annotator status`), or pull the project first") from None
        self.project_ids = [p.id for p in self.projects]
        self.family = family_of(k, self.project_ids, gold)
        self.examples = self._load(schema)
        self._by_id = {e.gold_id: e for e in self.examples}
        self._documents = DocumentSentences(db)
        self._turns: dict[str, WorkedExample] = {}
        self._fts = _build_fts(self.examples)

    def _load(self, schema: Schema) -> list[GoldExample]:
        marks = ",".join("?" * len(self.project_ids))
        rows = self.db.query(f"""
            SELECT g.id, g.project_id, g.task_id, g.sentence_id, g.annotation_id, g.updated_at, g.ground_truth,
                   g.data, s.document_id, s.idx, s.text
            FROM gold g JOIN sentences s ON s.id = g.sentence_id
            WHERE g.project_id IN ({marks}) AND g.status = ? AND g.schema_hash = ? AND g.data IS NOT NULL""",
                             [*self.project_ids, GoldStatus.OK.value, schema.hash])
        return [GoldExample(r["id"], r["updated_at"] or "", r["sentence_id"], r["document_id"], r["idx"], r["text"],
                            answer_json(r["data"])) for r in pick_gold(rows, self.gold)]

    def family_pattern(self, base_key: str) -> str:
        """SQL LIKE pattern of the run keys of this run's drafts, whatever examples each had."""
        return f"{base_key}+ex{self.k}.{self.family}.%"

    def run_key(self, base_key: str, chosen: Sequence[GoldExample]) -> str:
        """The run key of a draft made with `chosen` (see the module docstring)."""
        return f"{base_key}+ex{self.k}.{self.family}.{chosen_key(chosen)}"

    def nearest(self, sentence_id: str, document_id: str, text: str) -> list[GoldExample]:
        """The K gold examples most like `text`, best first; none from its own document or with its text."""
        query = fts_query(text)
        if query is None or not self.examples:
            return []
        rows = self._fts.execute(
            "SELECT gid FROM examples WHERE examples MATCH ? AND doc != ? AND sid != ? AND text != ? "
            "ORDER BY bm25(examples), gid LIMIT ?", [query, document_id, sentence_id, text, self.k]).fetchall()
        return [self._by_id[gid] for (gid,) in rows]

    def worked(self, chosen: Sequence[GoldExample]) -> tuple[WorkedExample, ...]:
        """The chosen examples as prompt turns, with their own context, best last (nearest the sentence)."""
        return tuple(self._turn(example) for example in reversed(chosen))

    def _turn(self, example: GoldExample) -> WorkedExample:
        """An example with its context, read once per run."""
        turn = self._turns.get(example.gold_id)
        if turn is None:
            context = self._documents.around(example.document_id, example.idx, self.window)
            turn = self._turns[example.gold_id] = WorkedExample(
                example.text, example.answer, context.headline, tuple(context.before), tuple(context.after))
        return turn

    def describe(self, chosen: Sequence[GoldExample]) -> dict:
        """What a draft records about its examples (kept in the draft's `settings`)."""
        return {"k": self.k, "from": self.project_ids, "gold": self.gold, "ids": [e.gold_id for e in chosen]}

    def close(self) -> None:
        self._fts.close()


def _build_fts(examples: Sequence[GoldExample]) -> sqlite3.Connection:
    """An in-memory FTS5 table of the example sentences (the run's only index; rebuilt by each run)."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        conn.execute("CREATE VIRTUAL TABLE examples USING fts5(text, gid UNINDEXED, sid UNINDEXED, doc UNINDEXED, "
                     "tokenize = 'porter unicode61 remove_diacritics 2')")
    except sqlite3.OperationalError as exc:
        raise InputError(f"this Python's SQLite has no FTS5 ({exc}); use a Python built with FTS5 to retrieve "
                         "examples") from None
    conn.executemany("INSERT INTO examples (text, gid, sid, doc) VALUES (?, ?, ?, ?)",
                     [(e.text, e.gold_id, e.sentence_id, e.document_id) for e in examples])
    return conn
