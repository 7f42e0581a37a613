"""Span grounding and UTF-16 offset conversion."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from annotator.spans import ground, python_offset, utf16_offset


def grounded(sentence: str, items: list[dict]) -> tuple[list[tuple[str, int, int]], list[dict]]:
    """(text, start, end) of grounded spans and the dropped items, checking the invariant."""
    spans, kept, dropped = ground(sentence, "entities", items)
    for span, item in zip(spans, kept, strict=True):
        assert sentence[span.start:span.end] == span.text == item["text"]
    return [(s.text, s.start, s.end) for s in spans], dropped


def test_repeated_mentions_take_successive_occurrences() -> None:
    s = "Kyiv said Kyiv would defend Kyiv."
    items = [{"text": "Kyiv", "label": "LOCATION"}] * 3
    spans, dropped = grounded(s, items)
    assert spans == [("Kyiv", 0, 4), ("Kyiv", 10, 14), ("Kyiv", 28, 32)]
    assert dropped == []


def test_more_mentions_than_occurrences_are_dropped() -> None:
    spans, dropped = grounded("Police met police.", [{"text": "police", "label": "ORG"}] * 2)
    assert spans == [("police", 11, 17)]
    assert dropped == [{"text": "police", "label": "ORG"}]


def test_same_words_with_two_labels_are_both_kept() -> None:
    spans, _ = grounded("Reuters said so.", [{"text": "Reuters", "label": "ORG"}, {"text": "Reuters", "label": "PERSON"}])
    assert spans == [("Reuters", 0, 7), ("Reuters", 0, 7)]


def test_span_not_in_sentence_is_dropped_and_kept_aside() -> None:
    spans, dropped = grounded("Rebels took Mora.", [{"text": "Atlantis", "label": "LOCATION"},
                                                    {"text": "Mora", "label": "LOCATION"}])
    assert spans == [("Mora", 12, 16)]
    assert dropped == [{"text": "Atlantis", "label": "LOCATION"}]


def test_case_quotes_and_whitespace_are_tolerated() -> None:
    s = "The  Defence\r\nMinistry denied it, said \"Mora officials\"."
    spans, dropped = grounded(s, [{"text": "the defence ministry", "label": "ORG"},
                                  {"text": "\"Mora officials\".", "label": "PERSON"}])
    assert spans == [("The  Defence\r\nMinistry", 0, 22), ("Mora officials", 40, 54)]
    assert dropped == []


def test_emoji_and_astral_characters_before_a_span() -> None:
    s = "🇺🇦 Forces 𝔸 said 😀😀 Kharkiv was hit."
    spans, _ = grounded(s, [{"text": "Kharkiv", "label": "LOCATION"}])
    (text, start, end), = spans
    assert s[start:end] == "Kharkiv"
    u_start, u_end = utf16_offset(s, start), utf16_offset(s, end)
    assert u_start == start + 5  # two flag halves, 𝔸 and two emoji: one extra UTF-16 unit each
    assert s.encode("utf-16-le")[2 * u_start:2 * u_end].decode("utf-16-le") == "Kharkiv"
    assert python_offset(s, u_start) == start and python_offset(s, u_end) == end


def test_python_offset_rejects_a_split_surrogate_pair() -> None:
    import pytest

    with pytest.raises(ValueError):
        python_offset("a😀b", 2)
    with pytest.raises(ValueError):
        python_offset("ab", 5)


@given(st.text(min_size=1, max_size=60), st.lists(st.text(max_size=8), max_size=6))
def test_grounding_never_stores_a_wrong_offset(sentence: str, needles: list[str]) -> None:
    spans, dropped = grounded(sentence, [{"text": n, "label": "X"} for n in needles])
    assert len(spans) + len(dropped) == len(needles)  # each item grounded or kept aside, none lost


@given(st.text(max_size=40))
def test_utf16_round_trip(text: str) -> None:
    for i in range(len(text) + 1):
        assert python_offset(text, utf16_offset(text, i)) == i
