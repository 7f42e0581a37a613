"""A stored calibration applied to a new draft: every figure worked out by hand."""

from __future__ import annotations

import math

from annotator.confidence.apply import draft_confidence
from annotator.schema import load_schema

FIELDS = load_schema("news_events").fields
DATA = {"entities": [{"text": "Kyiv", "label": "LOCATION"}, {"text": "NATO", "label": "ORG"}],
        "event_type": "battle", "attribution": "asserted", "sources": []}
SPANS = [{"field": "entities", "label": "LOCATION", "text": "Kyiv", "start": 0, "end": 4},
         {"field": "entities", "label": "ORG", "text": "NATO", "start": 9, "end": 13}]
SIGNALS = {"version": 1, "samples": 0, "grounded": 1.0, "first_attempt_valid": True, "reasks": 0,
           "fields": {"event_type": {"logprob": math.log(0.5), "agreement": None},
                      "attribution": {"logprob": math.log(0.9), "agreement": None}},
           "spans": {"entities": [{"start": 0, "end": 4, "label": "LOCATION", "logprob": math.log(0.7),
                                   "agreement": None},
                                  {"start": 9, "end": 13, "label": "ORG", "logprob": math.log(0.3),
                                   "agreement": None}],
                     "sources": []},
           "relations": {}}


def mapping(xs, ys, signal="logprob"):
    return {"signal": signal, "n": 40, "map": {"signal": signal, "xs": xs, "ys": ys, "n": 40}}


MAPS = {
    "fields": {"event_type": mapping([0.4, 0.6], [0.2, 0.6]),        # 0.5 -> 0.2 + 0.5 x 0.4 = 0.4
               "attribution": {"signal": "logprob", "n": 12, "map": None},  # too little gold: raw 0.9
               "entities": mapping([0.0, 1.0], [0.1, 0.5]),           # ORG has no map of its own: 0.3 -> 0.22
               "sources": mapping([0.0, 1.0], [0.0, 1.0])},
    "labels": {"entities": {"LOCATION": mapping([0.5, 0.9], [0.5, 0.9]),  # 0.7 -> 0.7
                            "ORG": {"signal": "logprob", "n": 3, "map": None}}},
    "draft": mapping([0.0, 0.1], [0.0, 0.5], signal="fields_product"),
}


def test_a_calibration_maps_every_field_span_and_the_whole_draft():
    c = draft_confidence(FIELDS, MAPS, DATA, SPANS, SIGNALS, grounded=1.0)
    assert math.isclose(c.fields["event_type"], 0.4)
    assert math.isclose(c.fields["attribution"], 0.9)
    assert [round(p, 6) for p in c.spans["entities"]] == [0.7, 0.22]
    assert math.isclose(c.fields["entities"], 0.7 * 0.22)
    assert c.fields["sources"] == 1.0 and c.spans["sources"] == []
    product = 0.4 * 0.9 * 0.7 * 0.22  # 0.05544: half way up the draft map's [0, 0.1] -> [0, 0.5]
    assert math.isclose(c.draft, product * 5)
    assert c.calibrated is False  # attribution kept its raw value


def test_without_a_calibration_the_figures_are_the_raw_signals():
    c = draft_confidence(FIELDS, None, DATA, SPANS, SIGNALS, grounded=1.0)
    assert math.isclose(c.fields["event_type"], 0.5) and math.isclose(c.fields["attribution"], 0.9)
    assert [round(p, 6) for p in c.spans["entities"]] == [0.7, 0.3]
    assert math.isclose(c.draft, 0.5 * 0.9 * 0.7 * 0.3) and c.calibrated is False


def test_a_draft_without_signals_falls_back_to_its_grounded_share():
    c = draft_confidence(FIELDS, MAPS, DATA, SPANS, None, grounded=0.5)
    # event_type was calibrated on logprob, which this draft lacks: its raw grounded share stands.
    assert c.fields["event_type"] == 0.5 and c.spans["entities"] == [0.5, 0.5]
    # The draft map was fitted on the product of the fields' probabilities: 0.25 x 0.5 x 0.5 x 1 = 0.0625 -> 0.3125.
    assert c.draft == 0.3125
    # Without a calibration the grounded share counts once, not once per field: the score push sent before.
    assert draft_confidence(FIELDS, None, DATA, SPANS, None, grounded=0.5).draft == 0.5
