"""What `eval` and `agreement` report and print, with figures worked out by hand."""

from __future__ import annotations

import json

from annotator.cli import evaluate as cli_evaluate
from annotator.evaluate.agreement import Annotation, agreement
from annotator.evaluate.compare import evaluate
from tests.support.claims import BROKEN, FOILED, KYIV, V2, claim, pair


def printed_rows(text: str) -> list[list[str]]:
    """The cells of each table row rich printed (split on its vertical bars)."""
    return [[cell.strip() for cell in line.strip("│┃ ").split("│") if cell.strip()]
            for line in text.splitlines() if "│" in line]


def test_eval_table_prints_relation_precision_recall_and_f1(capsys) -> None:
    pairs = [pair([claim(KYIV, BROKEN), claim("Moscow", FOILED)], [claim("Moscow", FOILED), claim(KYIV, BROKEN)]),
             pair([claim("Moscow", FOILED), claim("Moscow", BROKEN)],
                  [claim("Moscow", FOILED), claim("Moscow", BROKEN, "denies"), claim(KYIV, BROKEN)])]
    (group,) = evaluate(V2.fields, pairs)["groups"]
    cli_evaluate._print_group(group)
    text = capsys.readouterr().out
    assert "claims (relations)" in text
    rows = printed_rows(text)
    # exact: TP 3, FP 1, FN 2 -> P 3/4, R 3/5, F1 2/3; both ends whatever the label: TP 4, FP 0, FN 1 -> F1 8/9
    assert ["(all)", "3", "1", "2", "0.750", "0.600", "0.667"] in rows
    assert ["(both ends, any label)", "4", "0", "1", "1.000", "0.800", "0.889"] in rows
    assert ["claims", "3", "1", "1", "0.750", "0.750", "0.750"] in rows
    assert ["denies", "0", "0", "1", "0.000", "0.000", "0.000"] in rows


# --------------------------------------------------------------------------- agreement: figures that mean what they say


def answer(task: int, who: str, spans: list[dict], claims: list | None = None) -> Annotation:
    return Annotation(task, who, {"event_type": "battle", "attribution": "asserted", "claims": claims or []}, spans)


def test_agreement_with_no_span_on_either_side_is_full_agreement_not_zero(capsys) -> None:
    report = agreement(V2.fields, [answer(1, "a@x", []), answer(1, "b@x", []),
                                   answer(2, "a@x", []), answer(2, "b@x", [])])
    assert report["tasks"] == 2
    for name in ("entities", "claims"):
        field = report["fields"][name]
        assert field["f1_exact"] == 1.0 and field["nothing_marked"] is True
        assert field["pairs"]["a@x|b@x"]["f1_exact"] == 1.0
    assert report["fields"]["entities"]["f1_overlap"] == 1.0 and report["fields"]["claims"]["f1_unlabelled"] == 1.0
    assert report["disagreements"] == []
    cli_evaluate._print_agreement(report)
    text = " ".join(capsys.readouterr().out.split())
    assert "entities: no spans on either side (full agreement)" in text
    assert "claims: no relations on either side (full agreement)" in text
    assert "0.000" not in text


def test_agreement_without_a_task_of_two_annotators_has_no_figure(capsys) -> None:
    one_each = [answer(1, "a@x", [{"field": "entities", "start": 0, "end": 6, "label": "PERSON", "text": "Moscow"}]),
                answer(2, "b@x", [])]
    report = agreement(V2.fields, one_each)
    assert report["tasks"] == 0
    for name in ("entities", "claims"):
        assert report["fields"][name]["f1_exact"] is None and report["fields"][name]["pairs"] == {}
    assert report["fields"]["event_type"]["alpha"] is None
    cli_evaluate._print_agreement(report)
    text = " ".join(capsys.readouterr().out.split())
    assert "No task has answers from two or more annotators: there is no agreement figure (n/a)" in text
    assert "0.000" not in text and "1.000" not in text


def test_agreement_spans_marked_by_one_side_only_still_score_zero() -> None:
    moscow = {"field": "entities", "start": 93, "end": 99, "label": "LOCATION", "text": "Moscow"}
    report = agreement(V2.fields, [answer(1, "a@x", [moscow]), answer(1, "b@x", [])])
    entities = report["fields"]["entities"]
    assert entities["f1_exact"] == 0.0 and entities["nothing_marked"] is False  # tp 0, fp 1 (or fn 1): F1 0
    assert report["fields"]["claims"]["f1_exact"] == 1.0  # no claim on either side


# --------------------------------------------------------------------------- eval --annotator


def test_eval_for_an_annotator_without_gold_names_the_annotators_that_have_some(tmp_path) -> None:
    from annotator.store import open_db
    from tests.support.cli import run
    from tests.support.gold_db import build_news

    build_news(open_db(tmp_path / "a.db"))
    result = run("eval", "--db", str(tmp_path / "a.db"), "--annotator", "nobody@x")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "no gold from annotator 'nobody@x'" in text and "push, annotate, pull" not in text
    # dee@x annotated with another schema only; ben@x's skip is no gold, but his other two annotations are
    assert "annotators with gold of schema news_events: ana@x, ben@x, cy@x" in text
    result = run("eval", "--db", str(tmp_path / "a.db"), "--annotator", "ana@x", "--json")
    report = json.loads(result.output)  # ana's newest on tasks 11 and 12 have drafts; S3 and S4 have none
    assert result.exit_code == 0 and sum(g["annotations"] for g in report["groups"]) == 2
    assert report["annotations_without_draft"] == 2
