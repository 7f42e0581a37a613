"""A task imported by hand whose text serve cannot draft: the refusal suggests what serve and the CLI offer."""

from __future__ import annotations

from annotator.backend.tasks import TaskSentences
from annotator.ingest import MAX_SENTENCE_CHARS
from annotator.labelstudio.projects import Project
from annotator.store import open_db


def test_a_sentence_over_the_limit_is_refused_with_a_fix_serve_can_take(tmp_path) -> None:
    db = open_db(tmp_path / "s.db")
    project = Project("p1", 7, "http://ls.test", "News", "news_events", "h", None, None)
    text = "A " + "very " * 700 + "long sentence."  # one sentence of 2 + 3,500 + 14 characters
    assert len(text) == 3516 > MAX_SENTENCE_CHARS
    (found,) = TaskSentences(project).resolve(db, [{"id": 5, "data": {"text": text}}])
    assert found.sentence is None
    # serve has no --max-sentence-chars option (a task comes from Label Studio as it is): the fix is there.
    assert found.problem == ("task 5: its text is one sentence of 3,516 characters, over the 3,000 a sentence may "
                             "have to be drafted; split it into shorter tasks in Label Studio")
    assert db["documents"].count == 0 and db["tasks"].count == 0
