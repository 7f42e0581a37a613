"""A draft's signals from hand-made token log-probabilities and samples: every figure summed by hand."""

from __future__ import annotations

import json

from annotator.confidence.signals import TokenLogprobs, _byte_offsets, draft_signals, value_ranges
from annotator.schema import load_schema

NEWS = load_schema("news_events").fields
V2 = load_schema("news_events_v2").fields


def tokens_of(pieces: list[tuple[str, float]]) -> list[dict]:
    """Tokens as OpenAI and llama.cpp send them: text, log-probability, UTF-8 bytes."""
    return [{"token": text, "logprob": lp, "bytes": list(text.encode())} for text, lp in pieces]


def test_value_ranges_find_every_scalar_without_quotes():
    content = 'Sure: {"a": "x y", "b": [1, {"c": true}], "d": null}'
    ranges = value_ranges(content)
    assert {path: content[s:e] for path, (s, e) in ranges.items()} == {
        ("a",): "x y", ("b", 0): "1", ("b", 1, "c"): "true", ("d",): "null"}
    assert value_ranges("no json here") == {}
    assert value_ranges('{"a": "cut') == {}


def test_a_token_split_inside_an_emoji_counts_for_the_value_it_overlaps():
    content = '{"t": "🇺🇦 x"}'  # the flag is two code points of 4 bytes each
    flag = "🇺🇦".encode()
    tokens = [{"token": '{"t": "', "logprob": -1.0, "bytes": list(b'{"t": "')},
              {"token": "\ufffd", "logprob": -0.5, "bytes": list(flag[:5])},   # ends inside the second code point
              {"token": "\ufffd", "logprob": -0.25, "bytes": list(flag[5:])},
              {"token": ' x"}', "logprob": -2.0, "bytes": list(b' x"}')}]
    logprobs = TokenLogprobs(content, tokens)
    assert logprobs.valid
    start = content.index("🇺")
    assert logprobs.of_range(start, start + 1) == -0.5          # the first code point: the first flag token only
    assert logprobs.of_range(start + 1, start + 2) == -0.5 + -0.25  # the second: both flag tokens overlap it
    assert logprobs.of_range(start, start + 4) == -0.5 + -0.25 + -2.0  # "🇺🇦 x": ' x"}' overlaps too
    assert not TokenLogprobs(content, tokens[:-1]).valid  # tokens that do not spell the answer: no figure


def test_byte_offsets_of_ascii_and_of_other_text():
    assert list(_byte_offsets('{"a": 1}')) == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert list(_byte_offsets('é"🇺')) == [0, 2, 3, 7]  # 2 bytes, 1, then 4
    assert not TokenLogprobs("{}", []).valid  # no tokens: nothing to score


def test_span_and_choice_log_probabilities_from_a_real_shaped_answer():
    answer = {"entities": [{"text": "Kyiv", "label": "LOCATION"}, {"text": "Atlantis", "label": "LOCATION"}],
              "event_type": "battle", "attribution": "asserted", "sources": []}
    content = json.dumps(answer)
    pieces = []
    for chunk in ['{"entities": [{"text": "', "Ky", "iv", '", "label": "', "LOC", "ATION", '"}, {"text": "',
                  "Atl", "antis", '", "label": "', "LOCATION", '"}], "event_type": "', "bat", "tle",
                  '", "attribution": "', "asserted", '", "sources": []}']:
        pieces.append(chunk)
    assert "".join(pieces) == content
    lp = {"Ky": -0.1, "iv": -0.2, "LOC": -0.3, "ATION": -0.4, "bat": -1.5, "tle": -0.5, "asserted": -0.05}
    tokens = tokens_of([(p, lp.get(p, -9.0)) for p in pieces])
    kept = {**answer, "entities": [answer["entities"][0]]}  # Atlantis is not in the sentence: dropped
    spans = [{"field": "entities", "label": "LOCATION", "text": "Kyiv", "start": 10, "end": 14}]
    signals = draft_signals(NEWS, kept, spans, content, tokens, None, grounded=0.5, first_attempt_valid=True,
                            reasks=0)
    (kyiv,) = signals["spans"]["entities"]
    assert kyiv == {"start": 10, "end": 14, "label": "LOCATION", "logprob": -0.1 + -0.2 + -0.3 + -0.4,
                    "agreement": None}
    assert signals["fields"]["event_type"] == {"logprob": -1.5 + -0.5, "agreement": None}
    assert signals["fields"]["attribution"]["logprob"] == -0.05
    assert signals["spans"]["sources"] == []
    assert (signals["samples"], signals["grounded"], signals["reasks"]) == (0, 0.5, 0)


def test_no_log_probabilities_gives_none_and_samples_give_shares():
    kept = {"entities": [{"text": "Kyiv", "label": "LOCATION"}], "event_type": "battle",
            "attribution": "asserted", "sources": []}
    spans = [{"field": "entities", "label": "LOCATION", "text": "Kyiv", "start": 0, "end": 4}]
    samples = [
        {"entities": [{"text": "kyiv", "label": "LOCATION"}], "event_type": "battle", "attribution": "claimed"},
        {"entities": [{"text": "Kyiv", "label": "ORG"}], "event_type": "battle", "attribution": "asserted"},
        None,  # an invalid sample agrees with nothing
        {"entities": [], "event_type": "protest", "attribution": "asserted"},
    ]
    signals = draft_signals(NEWS, kept, spans, json.dumps(kept), None, samples, grounded=1.0,
                            first_attempt_valid=False, reasks=1)
    assert signals["samples"] == 4
    assert signals["spans"]["entities"][0]["agreement"] == 1 / 4   # only the first: same text (case aside), label
    assert signals["spans"]["entities"][0]["logprob"] is None
    assert signals["fields"]["event_type"] == {"logprob": None, "agreement": 2 / 4}
    assert signals["fields"]["attribution"]["agreement"] == 2 / 4
    assert signals["first_attempt_valid"] is False


def test_relation_items_sum_their_parts_and_agree_on_all_of_them():
    claim = {"source": "Moscow", "content": "it foiled a plot", "stance": "claims"}
    answer = {"entities": [], "event_type": "none", "claims": [claim]}
    content = json.dumps(answer)
    cut = [content.index("Moscow"), content.index('", "content'), content.index("it foiled"),
           content.index('", "stance'), content.index('claims"}'), content.index('"}]')]
    bounds = [0, *cut, len(content)]
    pieces = [content[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    values = {"Moscow": -0.25, "it foiled a plot": -0.5, "claims": -1.0}
    tokens = tokens_of([(p, values.get(p, -7.0)) for p in pieces])
    samples = [{"claims": [dict(claim)]}, {"claims": [{**claim, "stance": "denies"}]}]
    signals = draft_signals(V2, answer, [], content, tokens, samples, grounded=1.0, first_attempt_valid=True,
                            reasks=0)
    assert signals["relations"]["claims"] == [{"logprob": -0.25 + -0.5 + -1.0, "agreement": 1 / 2}]
