"""Reading inputs, sentence segmentation with offsets, and idempotent storage."""

from __future__ import annotations

import io

import pytest

from annotator.ingest import Problem, ingest, read_inputs, split_sentences
from annotator.readers import from_text as _from_text
from annotator.resources import data_file
from annotator.store import open_db


def sentences(text: str, headline: bool = False) -> list[str]:
    """Sentence texts, checking that every offset pair slices the same text."""
    out = []
    for start, end in split_sentences(text, headline):
        piece = text[start:end]
        assert piece == piece.strip() and piece
        out.append(piece)
    return out


def test_wire_news_segmentation() -> None:
    text = (
        "KHARKIV, Ukraine (Reuters) -- Russian drones struck a power plant at about 3 am (0000 GMT) on "
        "Tuesday, the regional governor said. \"We will rebuild,\" Gov. Oleh Syniehubov told reporters. "
        "At least 12 people were hurt, according to the U.N. mission -- which called the strikes "
        "\"unacceptable.\" Mr. Smith of the U.S. Embassy left at 3 a.m. on Jan. 5. He returned."
    )
    assert sentences(text) == [
        "KHARKIV, Ukraine (Reuters) -- Russian drones struck a power plant at about 3 am (0000 GMT) on "
        "Tuesday, the regional governor said.",
        "\"We will rebuild,\" Gov. Oleh Syniehubov told reporters.",
        "At least 12 people were hurt, according to the U.N. mission -- which called the strikes \"unacceptable.\"",
        "Mr. Smith of the U.S. Embassy left at 3 a.m. on Jan. 5.",
        "He returned.",
    ]


def test_paragraphs_and_hard_wrapped_lines() -> None:
    text = "First paragraph ends here.\nSecond paragraph has a line\nwrapped in the middle.\n\nThird one."
    assert sentences(text) == [
        "First paragraph ends here.",
        "Second paragraph has a line\nwrapped in the middle.",
        "Third one.",
    ]


def test_headline_is_its_own_sentence() -> None:
    doc = _from_text("Rebels seize town\nRebels seized the town on Sunday. The army denied it.", "x", None)
    assert doc.headline and doc.title == "Rebels seize town"
    assert sentences(doc.text, doc.headline) == ["Rebels seize town", "Rebels seized the town on Sunday.",
                                                 "The army denied it."]
    plain = _from_text("Rebels seized the town on Sunday.\nThe army denied it.", "x", None)
    assert not plain.headline


def test_sample_article_offsets_are_exact() -> None:
    doc = _from_text(data_file("sample_article.txt").read_text(), "sample", None)
    spans = split_sentences(doc.text, doc.headline)
    assert len(spans) == 11
    assert all(doc.text[s:e].strip() == doc.text[s:e] for s, e in spans)
    assert spans == sorted(spans)


def test_reingest_adds_nothing_and_crlf_is_same_document(tmp_path) -> None:
    db = open_db(tmp_path / "a.db")
    lf = tmp_path / "lf.txt"
    crlf = tmp_path / "crlf.txt"
    lf.write_text("Headline here\nOne sentence. Two sentences.\n", encoding="utf-8")
    crlf.write_bytes(b"Headline here\r\nOne sentence. Two sentences.\r\n")
    first = ingest(db, read_inputs([str(lf)]))
    assert (first.documents_new, first.sentences_new) == (1, 3)
    again = ingest(db, read_inputs([str(lf), str(crlf)]))
    assert (again.documents_new, again.sentences_new, again.documents_seen) == (0, 0, 2)
    assert db["documents"].count == 1 and db["sentences"].count == 3


def test_jsonl_csv_and_stdin(tmp_path) -> None:
    jl = tmp_path / "a.jsonl"
    jl.write_text('{"id": "d1", "title": "Clashes in Mora", "text": "Fighting resumed. Two died.", "source": "AFP"}\n'
                  '\n{"text": "Another document."}\n', encoding="utf-8")
    cs = tmp_path / "b.csv"
    cs.write_text("id,text\nc1,\"Police said, on Monday, that 3 were held.\"\n", encoding="utf-8")
    db = open_db(tmp_path / "a.db")
    report = ingest(db, read_inputs([str(jl), str(cs), "-"], stdin=io.StringIO("From stdin. Two.")))
    assert report.problems == []
    assert report.documents_new == 4
    doc = db["documents"].get(next(iter(db.query("SELECT id FROM documents WHERE external_id='d1'")))["id"])
    assert doc["title"] == "Clashes in Mora" and doc["source"] == "AFP"
    heads = list(db.query("SELECT text FROM sentences WHERE is_headline = 1"))
    assert heads == [{"text": "Clashes in Mora"}]


def test_bad_inputs_are_named_and_the_rest_goes_in(tmp_path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("A fine sentence. Another one.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin.txt").write_bytes("line one\ncaf\xe9 here".encode("latin-1"))
    (tmp_path / "bad.jsonl").write_text('{"text": "ok one."}\nnot json\n{"title": "no text"}\n', encoding="utf-8")
    (tmp_path / "bad.csv").write_text("id,body\n1,hello\n", encoding="utf-8")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF")
    paths = [str(tmp_path / n) for n in ("good.txt", "missing.txt", "empty.txt", "bin.txt", "latin.txt",
                                         "bad.jsonl", "bad.csv", "doc.pdf")]
    db = open_db(tmp_path / "a.db")
    report = ingest(db, read_inputs(paths))
    where = {str(p).replace(str(tmp_path) + "/", "") for p in report.problems}
    assert all(isinstance(p, Problem) for p in report.problems)
    text = "\n".join(where)
    assert "missing.txt: file not found" in text
    assert "empty.txt: empty file" in text
    assert "bin.txt: looks binary" in text
    assert "latin.txt: line 2: not valid UTF-8" in text
    assert "bad.jsonl:2: not JSON" in text
    assert "bad.jsonl:3: no text" in text
    assert "bad.csv: no 'text' column" in text
    assert "doc.pdf: unsupported file type .pdf" in text
    assert report.documents_new == 2  # good.txt and the first line of bad.jsonl


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_stdin_is_a_problem(text: str) -> None:
    (item,) = list(read_inputs(["-"], stdin=io.StringIO(text)))
    assert isinstance(item, Problem)
