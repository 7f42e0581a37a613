"""Calibration items from drafts against gold, and their figures, worked out by hand (no database)."""

from __future__ import annotations

import math

import pytest

from annotator.confidence.figures import assess_pool, draft_right
from annotator.confidence.items import ItemPool, choose_signal, draft_items
from annotator.evaluate.compare import Pair
from annotator.evaluate.confidence import Confidence
from annotator.schema import load_schema
from tests.support.claims import DRAFT, V2, drafted
from tests.support.gold_db import KINDS

NEWS = load_schema("news_events")
EVENT = next(spec for spec in NEWS.fields if spec.name == "event_type")


def span(start: int, end: int, label: str, field: str = "entities") -> dict:
    return {"field": field, "start": start, "end": end, "label": label, "text": "x" * (end - start)}


def event_signals(agreement: float | None, logprob: float | None = -0.1) -> dict:
    return {"version": 1, "samples": 4, "grounded": 1.0, "first_attempt_valid": True, "reasks": 0,
            "fields": {"event_type": {"logprob": logprob, "agreement": agreement}}, "spans": {}, "relations": {}}


# Eight drafts of event_type: agreement and whether the draft was right.
EIGHT = [(1.0, True), (0.75, True), (0.75, False), (0.5, True), (0.5, False), (0.25, False), (0.25, True),
         (0.0, False)]


def eight_pool() -> ItemPool:
    pool = ItemPool((EVENT,))
    for task, (agreement, right) in enumerate(EIGHT):
        gold = "battle" if right else "riot"
        pool.add(draft_items((EVENT,), {"event_type": "battle"}, [], event_signals(agreement), 0.5,
                             {"event_type": gold}, [], task))
    return pool


def test_a_choice_field_by_hand_below_the_minimum_keeps_its_raw_signal() -> None:
    figures = assess_pool(eight_pool())
    # 8 items in 10 equal-count bins: one item a bin. ECE = mean |p - right|:
    # (0 + .25 + .75 + .5 + .5 + .25 + .75 + 0) / 8 = 3/8; Brier = mean (p - right)^2:
    # (0 + .0625 + .5625 + .25 + .25 + .0625 + .5625 + 0) / 8 = 1.75/8.
    # AUROC: right 1, .75, .5, .25 against wrong .75, .5, .25, 0: 4 + 3.5 + 2.5 + 1.5 = 11.5 of 16.
    # Fewer than 30 items: no calibration, the figures after repeat those before.
    assert figures.fields["event_type"].calibration() == {
        "n": 8, "signal": "agreement", "auroc": pytest.approx(11.5 / 16), "ece_before": pytest.approx(3 / 8),
        "ece_after": pytest.approx(3 / 8), "brier_before": pytest.approx(1.75 / 8),
        "brier_after": pytest.approx(1.75 / 8)}
    assert figures.uncalibrated() == ["event_type"]
    # One field: the draft's product is the field's raw agreement, right when the field is.
    assert draft_right(figures) == {"auroc": pytest.approx(11.5 / 16), "ece_after": pytest.approx(3 / 8)}


def test_a_field_is_calibrated_on_the_first_signal_every_item_carries() -> None:
    pool = eight_pool()
    assert choose_signal(pool.fields["event_type"]) == "agreement"
    # One more draft whose server sent no agreement (K = 0): logprob is the signal all carry.
    pool.add(draft_items((EVENT,), {"event_type": "battle"}, [], event_signals(None, math.log(0.5)), 0.5,
                         {"event_type": "battle"}, [], 99))
    assert choose_signal(pool.fields["event_type"]) == "logprob"
    # A draft made before signals were stored: only the grounded share is common to all.
    pool.add(draft_items((EVENT,), {"event_type": "battle"}, [], None, 0.25, {"event_type": "riot"}, [], 100))
    assert choose_signal(pool.fields["event_type"]) == "grounded"
    a = assess_pool(pool).fields["event_type"]
    # grounded: 0.5 for the first nine, 0.25 for the last (wrong)
    assert a.signal == "grounded" and a.x == [0.5] * 9 + [0.25] and a.right[-1] is False


def test_spans_are_judged_by_offsets_and_label_and_take_their_own_signals() -> None:
    gold = [span(0, 4, "LOCATION"), span(10, 15, "PERSON"), span(30, 35, "ORG", "sources")]
    draft = [span(0, 4, "LOCATION"), span(10, 15, "ORG"), span(20, 25, "LOCATION")]
    stored = {"spans": {"entities": [  # not in the draft's order: matched by offsets and label
        {"start": 20, "end": 25, "label": "LOCATION", "logprob": -2.0, "agreement": 0.1},
        {"start": 0, "end": 4, "label": "LOCATION", "logprob": -0.1, "agreement": 0.9},
        {"start": 10, "end": 15, "label": "ORG", "logprob": None, "agreement": 0.3}]}}
    items = draft_items(NEWS.fields, {"event_type": "battle", "attribution": "claimed"}, draft, stored, 0.8,
                        {"event_type": "battle", "attribution": "asserted"}, gold, "t1")
    assert [(i.signals, i.right) for i in items.fields["entities"]] == [
        ({"grounded": 0.8, "agreement": 0.9, "logprob": -0.1}, True),
        ({"grounded": 0.8, "agreement": 0.3}, False),  # right offsets, wrong label
        ({"grounded": 0.8, "agreement": 0.1, "logprob": -2.0}, False)]  # not in the gold
    assert {label: [i.right for i in its] for label, its in items.labels["entities"].items()} == {
        "LOCATION": [True, False], "ORG": [False]}
    assert items.fields["sources"] == [] and items.labels["sources"] == {}
    assert items.right == {"entities": False, "event_type": True, "attribution": False, "sources": False}
    assert items.all_right is False
    exact = draft_items(NEWS.fields, {"event_type": "battle"}, gold, None, 1.0, {"event_type": "battle"}, gold, "t2")
    assert exact.right["entities"] and exact.right["sources"] and exact.all_right


def test_relations_are_judged_by_both_ends_and_label_with_their_signals_by_index() -> None:
    draft, draft_spans = drafted(DRAFT)  # Kyiv's claim (item 0), then Moscow's (item 1)
    gold_claims = [{**DRAFT["claims"][0], "stance": "denies"}, DRAFT["claims"][1]]  # Moscow denies
    gold, gold_spans = drafted({**DRAFT, "claims": gold_claims})
    stored = {"relations": {"claims": [{"logprob": -0.2, "agreement": 0.75}, {"logprob": None, "agreement": 0.25}]}}
    items = draft_items(V2.fields, draft, draft_spans, stored, 1.0, gold, gold_spans, "t")
    assert [(i.signals.get("agreement"), i.right) for i in items.fields["claims"]] == [(0.75, True), (0.25, False)]
    assert items.right["claims"] is False and items.right["entities"] is True


def test_choices_text_numbers_and_bools_as_eval_compares_them() -> None:
    draft = {"mood": "calm", "topics": ["war", "aid"], "urgent": True, "note": "Convoy  seen", "casualties": 3,
             "confidence": 1.0, "level": None}
    gold = {"mood": "tense", "topics": ["aid", "war"], "urgent": 1, "note": "convoy seen", "casualties": 3,
            "confidence": 0.5, "level": None}
    items = draft_items(KINDS.fields, draft, [], None, 1.0, gold, [], "t")
    assert items.right == {"tags": True, "mood": False, "topics": True, "urgent": False, "note": True,
                           "casualties": True, "confidence": False, "level": True}


def test_eval_confidence_leaves_out_gold_the_model_accepted() -> None:
    def pair(annotator: str, gold_event: str) -> Pair:
        return Pair("m", "v1", "h", {"event_type": "battle"}, [], {"event_type": gold_event}, [],
                    annotator=annotator, sentence_id=annotator, signals=event_signals(0.5))

    confidence = Confidence((EVENT,))
    for p in (pair("ana@x", "battle"), pair("model:stub", "battle"), pair("ben@x", "riot")):
        confidence.add(p)
    report = {"groups": [{"model": "m", "prompt_version": "v1", "schema_hash": "h", "annotations": 3,
                          "fields": {"event_type": {"kind": "choice"}}}]}
    confidence.annotate(report)
    # ana right, ben wrong, both at 0.5: ECE |0.5 - 1| / 2 + |0.5 - 0| / 2 = 0.5, Brier 0.25
    calibration = report["groups"][0]["fields"]["event_type"]["calibration"]
    assert calibration == {"n": 2, "signal": "agreement", "auroc": 0.5, "ece_before": 0.5, "ece_after": 0.5,
                           "brier_before": 0.25, "brier_after": 0.25}
