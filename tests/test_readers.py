"""Hostile input: bad bytes, lone surrogates, broken CSV quoting, other encodings, huge lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from annotator.ingest import ingest
from annotator.readers import DocInput, Problem, read_inputs
from annotator.store import open_db


def split(items) -> tuple[list[DocInput], list[str]]:
    items = list(items)
    return [i for i in items if isinstance(i, DocInput)], [str(i) for i in items if isinstance(i, Problem)]


@pytest.mark.process
def test_bad_byte_on_stdin_costs_only_stdin(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("First file. Fine.", encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,text\n1,Last file.\n", encoding="utf-8")
    db = tmp_path / "x.db"
    run = subprocess.run([sys.executable, "-m", "annotator", "ingest", "--db", str(db), str(tmp_path / "a.txt"), "-",
                          str(tmp_path / "b.csv")], input=b"Caf\xe9 au lait.\n", capture_output=True, timeout=120)
    err = run.stderr.decode()
    assert run.returncode == 1 and "Traceback" not in err
    assert "<stdin>: line 1: not valid UTF-8 (byte 3)" in err
    assert "2 new documents" in run.stdout.decode()
    texts = {r["text"] for r in open_db(db).query("SELECT text FROM documents")}
    assert texts == {"First file. Fine.", "Last file."}


def test_lone_surrogate_in_jsonl_rejects_that_line_only(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "Before."}\n{"text": "Bad \\ud800 here."}\n{"text": "After."}\n', encoding="utf-8")
    docs, problems = split(read_inputs([str(path)]))
    assert [d.text for d in docs] == ["Before.", "After."]
    assert problems == [f"{path}:2: text holds a lone surrogate (\\ud800) at character 4, which is not text; "
                        "remove the escape or the byte"]
    report = ingest(open_db(tmp_path / "x.db"), read_inputs([str(path)]))
    assert report.documents_new == 2 and len(report.problems) == 1


def test_lone_surrogate_in_text_stdin_is_a_problem() -> None:
    docs, problems = split(read_inputs(["-"], stdin=io.StringIO("Caf\udce9 au lait.")))
    assert docs == [] and problems[0].startswith("<stdin>: the text holds a lone surrogate (\\udce9) at character 3")


def test_one_bad_byte_in_jsonl_rejects_only_its_line(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "One."}\n{"text": "Tw\xff."}\n{"text": "Three."}\n')
    docs, problems = split(read_inputs([str(path)]))
    assert [d.text for d in docs] == ["One.", "Three."]
    # `{"text": "Tw` is 12 bytes: the bad byte is byte 12 of line 2.
    assert problems == [f"{path}:2: not valid UTF-8 (byte 12 of the line); re-save the line as UTF-8"]


def test_oversized_csv_field_is_kept_and_so_are_the_rows_after_it(tmp_path) -> None:
    big = "word " * 28_000  # 140,000 characters, over csv's default limit of 131,072
    path = tmp_path / "a.csv"
    path.write_text(f"id,text\n1,{big.strip()}.\n2,After the big one.\n3,Last.\n", encoding="utf-8")
    docs, problems = split(read_inputs([str(path)]))
    assert problems == []
    assert [d.external_id for d in docs] == ["1", "2", "3"] and [d.where for d in docs][1:] == [
        f"{path}:3", f"{path}:4"]


def test_unterminated_quote_is_reported_at_its_line_and_rows_after_it_kept(tmp_path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,text\n1,Fine.\n2,"Never closed.\n3,Kept.\n4,"Quoted, fine."\n', encoding="utf-8")
    docs, problems = split(read_inputs([str(path)]))
    assert [(d.external_id, d.text) for d in docs] == [("1", "Fine."), ("3", "Kept."), ("4", "Quoted, fine.")]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:3: bad CSV (")


def test_multiline_quoted_field_is_one_record_with_the_right_line_numbers(tmp_path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,text\n1,"Two\nlines, one field."\n2,Next.\n', encoding="utf-8")
    docs, problems = split(read_inputs([str(path)]))
    assert problems == [] and [d.text for d in docs] == ["Two\nlines, one field.", "Next."]
    assert [d.where for d in docs] == [f"{path}:2", f"{path}:4"]


def test_utf16_with_bom_is_text_in_every_format(tmp_path) -> None:
    (tmp_path / "a.txt").write_bytes("Kyiv 🇺🇦 said so. Moscow denied it.".encode("utf-16"))
    (tmp_path / "b.jsonl").write_bytes(json.dumps({"text": "Halab حلب today."}, ensure_ascii=False).encode("utf-16"))
    (tmp_path / "c.csv").write_bytes("id,text\n7,Über alles.\n".encode("utf-16-be").join([b"\xfe\xff", b""]))
    (tmp_path / "d.txt").write_bytes("UTF-32 works too.".encode("utf-32"))
    paths = [str(tmp_path / n) for n in ("a.txt", "b.jsonl", "c.csv", "d.txt")]
    docs, problems = split(read_inputs(paths))
    assert problems == []
    assert [d.text for d in docs] == ["Kyiv 🇺🇦 said so. Moscow denied it.", "Halab حلب today.", "Über alles.",
                                      "UTF-32 works too."]


def test_a_huge_single_line_is_refused_with_the_limit(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    huge = "x" * 4_400_000
    path.write_text(json.dumps({"text": huge}) + "\n" + json.dumps({"text": "Small one."}) + "\n", encoding="utf-8")
    db = open_db(tmp_path / "x.db")
    report = ingest(db, read_inputs([str(path)]))
    assert report.documents_new == 1 and db["sentences"].count == 1
    (problem,) = report.problems
    assert str(problem) == (f"{path}:1: sentence 1 has 4,400,000 characters, over the limit of 3,000; split the "
                            "text into sentences, or pass --max-sentence-chars 4400000 to take it whole")
    more = ingest(db, read_inputs([str(path)]), max_sentence_chars=5_000_000)
    assert more.documents_new == 1 and more.problems == []
