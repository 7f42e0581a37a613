"""Evaluation and agreement cores, on annotations whose figures are worked out by hand."""

from __future__ import annotations

import pytest

from annotator.evaluate.agreement import Annotation, agreement, cohen_kappa, nominal_alpha
from annotator.evaluate.compare import Pair, evaluate
from annotator.evaluate.metrics import (
    ChoiceCounts,
    MultiChoiceCounts,
    NumberCounts,
    SpanCounts,
    TextCounts,
)
from annotator.schema import load_schema

NEWS = load_schema("news_events")


def span(start: int, end: int, label: str, field: str = "entities") -> dict:
    return {"field": field, "start": start, "end": end, "label": label, "text": "x" * (end - start)}


# gold: A(0,5 PER) B(10,15 LOC) C(20,25 ORG) D(30,35 LOC)
GOLD = [span(0, 5, "PERSON"), span(10, 15, "LOCATION"), span(20, 25, "ORG"), span(30, 35, "LOCATION")]
# draft: A kept, B relabelled ORG, C moved to 19, an invented PERSON at 40; D missed
DRAFT = [span(0, 5, "PERSON"), span(10, 15, "ORG"), span(19, 25, "ORG"), span(40, 45, "PERSON")]


def test_span_counts_exact_overlap_errors_and_per_label() -> None:
    counts = SpanCounts()
    counts.add(DRAFT, GOLD)
    r = counts.report()
    assert r["exact"] == {"tp": 1, "fp": 3, "fn": 3, "precision": 0.25, "recall": 0.25, "f1": 0.25}
    assert r["overlap"] == {"tp": 2, "fp": 2, "fn": 2, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert r["errors"] == {"wrong_label": 1, "wrong_boundary": 1, "missed": 1, "invented": 1}
    assert r["per_label"]["PERSON"] == {"tp": 1, "fp": 1, "fn": 0, "precision": 0.5, "recall": 1.0,
                                        "f1": pytest.approx(2 / 3)}
    assert r["per_label"]["LOCATION"] == {"tp": 0, "fp": 0, "fn": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert r["per_label"]["ORG"]["tp"] == 0 and r["per_label"]["ORG"]["fp"] == 2 and r["per_label"]["ORG"]["fn"] == 1
    # ORG overlap: C' (19-25) shares characters with C (20-25).
    assert r["per_label_overlap"]["ORG"]["tp"] == 1


def test_choice_confusion_accuracy_and_per_class() -> None:
    c = ChoiceCounts()
    for draft, gold in [("battle", "battle"), ("riot", "battle"), (None, "protest"), ("protest", "protest")]:
        c.add(draft, gold)
    r = c.report()
    assert r["n"] == 4 and r["accuracy"] == 0.5
    assert r["confusion"] == {"battle": {"battle": 1, "riot": 1}, "protest": {"(none)": 1, "protest": 1}}
    assert r["per_class"]["battle"]["precision"] == 1.0 and r["per_class"]["battle"]["recall"] == 0.5
    assert r["per_class"]["riot"] == {"tp": 0, "fp": 1, "fn": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_bool_text_number_and_multiple_choice() -> None:
    b = ChoiceCounts()
    b.add(True, True)
    b.add(False, True)
    assert b.report()["confusion"] == {"true": {"false": 1, "true": 1}}
    m = MultiChoiceCounts()
    m.add(["a", "b"], ["a"])
    m.add(["c"], ["c"])
    r = m.report()
    assert r["exact_set_rate"] == 0.5 and r["per_label"]["b"]["fp"] == 1 and r["per_label"]["a"]["f1"] == 1.0
    t = TextCounts()
    t.add("Hello  World", "hello world")
    t.add("abcd", "abce")  # ratio 2*3/8
    assert t.report() == {"kind": "text", "n": 2, "exact_rate": 0.5, "mean_similarity": (1.0 + 0.75) / 2}
    n = NumberCounts()
    n.add(3, 3)
    n.add(5, 2)
    n.add(None, 1)
    assert n.report() == {"kind": "number", "n": 3, "exact_rate": 1 / 3, "mae": 1.5}


def pair(draft_spans, gold_spans, draft_event="battle", gold_event="battle", blind=False, lead=None,
         model="m1") -> Pair:
    data = {"attribution": "asserted"}
    return Pair(model, "news_events.v1", "h", {**data, "event_type": draft_event}, draft_spans,
                {**data, "event_type": gold_event}, gold_spans, blind, lead)


def test_evaluate_groups_effort_and_blind_gap() -> None:
    pairs = [pair(DRAFT, GOLD, lead=30.0), pair(GOLD, GOLD, lead=10.0),
             pair(GOLD[:1], GOLD[:1], "riot", "battle", blind=True, lead=50.0),
             pair([], [], model="m2")]
    report = evaluate(NEWS.fields, pairs)
    m1, m2 = report["groups"]
    assert (m1["model"], m1["annotations"], m2["model"], m2["annotations"]) == ("m1", 3, "m2", 1)
    # entities over the three m1 pairs: tp 1+4+1, fp 3+0+0, fn 3+0+0
    assert m1["fields"]["entities"]["exact"]["tp"] == 6 and m1["fields"]["entities"]["exact"]["fp"] == 3
    assert m1["fields"]["event_type"]["accuracy"] == pytest.approx(2 / 3)
    effort = m1["effort"]
    assert effort["unchanged_share"] == pytest.approx(1 / 3)  # only the second pair is untouched
    assert (effort["kept"], effort["relabelled"], effort["moved"], effort["deleted"], effort["added"]) == (6, 1, 1, 1, 1)
    assert effort["median_lead_time_prefilled"] == 20.0 and effort["median_lead_time_blind"] == 50.0
    assert m1["blind"]["annotations"] == 1 and m1["prefilled"]["annotations"] == 2
    assert m1["blind"]["fields"]["event_type"]["accuracy"] == 0.0
    assert m1["gap"]["event_type"] == 1.0  # prefilled 2/2 right, blind 0/1
    assert "blind" not in m2


def test_kappa_and_alpha_by_hand() -> None:
    a, b = ["x", "x", "y", "y"], ["x", "y", "y", "y"]
    assert cohen_kappa(a, b) == pytest.approx(0.5)  # po 3/4, pe (2*1 + 2*3)/16 = 1/2
    table = {"A": dict(enumerate(a)), "B": dict(enumerate(b))}
    # coincidences: o_xx 2, o_yy 4, o_xy = o_yx = 1; n_x 3, n_y 5; alpha = 1 - 7*2/(2*3*5)
    assert nominal_alpha(table, [0, 1, 2, 3]) == pytest.approx(16 / 30)
    assert nominal_alpha({"A": {0: "x"}, "B": {0: "x"}}, [0]) is None
    assert cohen_kappa(["x", "x"], ["x", "x"]) is None


def test_agreement_over_two_annotators() -> None:
    def ann(task, who, event, spans):
        return Annotation(task, who, {"event_type": event, "attribution": "asserted"}, spans)
    anns = [ann(1, "a@x", "battle", GOLD), ann(1, "b@x", "battle", DRAFT),
            ann(2, "a@x", "riot", GOLD[:2]), ann(2, "b@x", "protest", GOLD[:2]),
            ann(3, "a@x", "riot", [])]  # task 3 has one annotator: left out
    r = agreement(NEWS.fields, anns)
    assert r["tasks"] == 2 and r["annotators"] == ["a@x", "b@x"]
    # event_type: po 1/2; pe = P(battle)^2 = 1/4 (riot and protest each by one rater only) -> (1/2-1/4)/(3/4)
    assert r["fields"]["event_type"]["kappa"] == {"a@x|b@x": pytest.approx(1 / 3)}
    # exact span F1 summed over both tasks: tp 1+2, fp 3+0, fn 3+0 -> 6/(6+6) = 0.5
    assert r["fields"]["entities"]["f1_exact"] == 0.5
    assert r["fields"]["entities"]["f1_overlap"] == pytest.approx(8 / 12)  # tp 2+2, fp 2, fn 2
    # task 1: entities F1 1/4 -> 3/4 over 4 fields = 0.1875; task 2: event_type differs -> 1/4 = 0.25
    assert r["disagreements"] == [{"task_id": 2, "disagreement": 0.25}, {"task_id": 1, "disagreement": 0.1875}]
