"""Export of the gold: every format read back by its own library, figures worked out by hand.

The database (tests/support/gold_db.py) is built row by row: documents, sentences, a
project, tasks, drafts and gold, so every offset, tag and count below can be checked
with a pencil.
"""

from __future__ import annotations

import json
import sys
import uuid

import pytest

from annotator.errors import InputError
from annotator.export import FORMATS, GOLD_MODES, LEVELS, export
from annotator.store import open_db
from tests.support.cli import run
from tests.support.export_files import (
    by_sentence,
    char_spans,
    decoded_row,
    iob2_spans,
    read_conll,
    read_jsonl,
    spacy_docs,
    span,
    token_offsets,
)
from tests.support.gold_db import (
    DOC1,
    DOC2,
    HEADLINE,
    K1,
    K1_VALUES,
    K2,
    K2_VALUES,
    KDOC,
    KINDS,
    NEWS,
    S1,
    S2,
    S3,
    S4,
    build_kinds,
    build_news,
)


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "annotator.db")
    build_news(database)
    return database


@pytest.fixture
def kinds_db(tmp_path):
    database = open_db(tmp_path / "kinds.db")
    build_kinds(database)
    return database


# --------------------------------------------------------------------------- jsonl and the gold rules


def test_fixture_offsets_are_the_hand_figures() -> None:
    assert (S1[0:2], S1[3:19], S1[25:30], S1[45:52]) == ("🇺🇦", "Ukrainian forces", "👨‍👩‍👧", "Kharkiv")
    assert (S2[11:29], S2[24:29], S2[39:44]) == ("Officials in Odesa", "Odesa", "drone")
    assert (S3[0:9], S3[4:9], S3[15:23], S3[32:39], S4[0:6]) == ("The mayor", "mayor", "3 people", "Kherson",
                                                                "Police")
    assert (K1[0:10], K1[11:27], K1[19:27], K2[6:13]) == ("Aid trucks", "reached Mariupol", "Mariupol", "Kharkiv")


def test_jsonl_latest_one_record_per_sentence_with_drafts_and_counts(db, tmp_path) -> None:
    out = tmp_path / "gold.jsonl"
    report = export(db, NEWS, "jsonl", out, gold="latest")
    records = read_jsonl(out)
    assert [r["sentence_id"] for r in records] == ["d1-s1", "d1-s2", "d2-s0", "d2-s1"]
    s1, s2, s3, s4 = records
    assert s1["text"] == S1 and s1["task_id"] == 11 and s1["project"] == "Conflict news"
    assert s1["entities"] == [span(0, 2, "LOCATION", "🇺🇦"), span(3, 19, "ARMED_GROUP", "Ukrainian forces"),
                              span(45, 52, "LOCATION", "Kharkiv")]
    assert s1["sources"] == [span(3, 19, "SOURCE", "Ukrainian forces")]
    assert (s1["event_type"], s1["attribution"]) == ("violence_against_civilians", "claimed")
    # The skipped annotation by ben is newer but does not count.
    assert s1["annotators"] == ["ana@x"] and s1["annotation_ids"] == [101]
    assert s1["draft_ids"] == ["draft-s1"]  # by its prediction id
    assert s2["draft_ids"] == ["draft-s2-new"]  # newest of the set the project shows
    assert s3["annotators"] == ["cy@x"] and s3["draft_ids"] == [None]
    assert s4["annotation_ids"] == [109] and s4["attribution"] == "denied"
    assert s1["schema_hash"] == NEWS.hash and s1["ties"] == [] and "drafts" not in s1
    assert (report.sentences, report.documents, report.annotations, report.spans) == (4, 2, 4, 12)
    assert (report.other_schema, report.without_draft, report.ties) == (1, 2, 0)


def test_include_drafts_adds_the_draft_the_annotation_started_from(db, tmp_path) -> None:
    out = tmp_path / "gold.jsonl"
    export(db, NEWS, "jsonl", out, include_drafts=True)
    s1, s2, s3, _ = read_jsonl(out)
    (draft,) = s1["drafts"]
    assert draft["id"] == "draft-s1" and draft["model"] == "m" and draft["prompt_version"] == "v1"
    assert draft["values"]["entities"] == [span(3, 19, "ARMED_GROUP", "Ukrainian forces"),
                                           span(45, 52, "LOCATION", "Kharkiv")]
    assert draft["values"]["event_type"] == "battle"
    assert [d["id"] for d in s2["drafts"]] == ["draft-s2-new"] and s3["drafts"] == []


def test_ground_truth_takes_the_marked_annotation_else_the_newest(db, tmp_path) -> None:
    out = tmp_path / "gt.jsonl"
    export(db, NEWS, "jsonl", out, gold="ground-truth")
    records = by_sentence(read_jsonl(out))
    assert records["d2-s0"]["annotators"] == ["ben@x"] and records["d2-s0"]["event_type"] == "battle"
    assert records["d2-s0"]["ground_truth"] is True
    assert records["d2-s1"]["annotation_ids"] == [109]  # nothing marked: the newest


def test_majority_of_three_annotators_and_ties_reported(db, tmp_path) -> None:
    out = tmp_path / "majority.jsonl"
    report = export(db, NEWS, "jsonl", out, gold="majority")
    records = by_sentence(read_jsonl(out))
    s3 = records["d2-s0"]
    assert s3["annotators"] == ["ana@x", "ben@x", "cy@x"] and s3["annotation_ids"] == [104, 105, 106]
    # 2 of 3 have mayor and 3 people, all 3 Kherson; only cy has "The mayor" as PERSON.
    assert s3["entities"] == [span(4, 9, "PERSON", "mayor"), span(15, 23, "QUANTITY", "3 people"),
                              span(32, 39, "LOCATION", "Kherson")]
    assert s3["sources"] == [span(0, 9, "SOURCE", "The mayor")]
    assert s3["event_type"] is None and s3["ties"] == ["event_type"]  # 1 battle, 1 explosion, 1 violence
    assert s3["attribution"] == "claimed"  # 2 claimed, 1 asserted
    s4 = records["d2-s1"]
    # ana's older annotation (asserted) does not vote: denied 1, asserted 1 is a tie.
    assert s4["annotation_ids"] == [108, 109] and s4["annotators"] == ["ben@x", "ana@x"]
    assert s4["attribution"] is None and s4["ties"] == ["attribution"]
    assert s4["event_type"] == "none"
    assert s4["entities"] == [] and s4["sources"] == []  # one vote of two is no strict majority
    assert (report.ties, dict(report.ties_by_field)) == (2, {"event_type": 1, "attribution": 1})
    assert (report.annotations, report.spans) == (7, 11)


def test_document_level_offsets_exact_after_emoji_rtl_and_crlf(db, tmp_path) -> None:
    out = tmp_path / "docs.jsonl"
    report = export(db, NEWS, "jsonl", out, level="document", gold="latest")
    d1, d2 = read_jsonl(out)
    assert d1["text"] == DOC1 and d2["text"] == DOC2
    # S1 starts at 21 (19 headline characters and CRLF), S2 at 21 + 53 + 2 = 76.
    assert [(s["sentence_id"], s["start"], s["end"]) for s in d1["sentences"]] == [("d1-s1", 21, 74),
                                                                                  ("d1-s2", 76, 122)]
    assert d1["entities"] == [span(21, 23, "LOCATION", "🇺🇦"), span(24, 40, "ARMED_GROUP", "Ukrainian forces"),
                              span(66, 73, "LOCATION", "Kharkiv"), span(100, 105, "LOCATION", "Odesa"),
                              span(115, 120, "WEAPON", "drone")]
    assert d2["sources"] == [span(41, 47, "SOURCE", "Police")]  # S4 starts after S3's 40 characters and a space
    for record in (d1, d2):
        for name in ("entities", "sources"):
            for s in record[name]:
                assert record["text"][s["start"]:s["end"]] == s["text"]
    assert d1["sentences"][0]["event_type"] == "violence_against_civilians" and "entities" not in d1["sentences"][0]
    assert (report.documents, report.partial_documents, report.sentences) == (2, 1, 4)  # d1's headline has no gold


# --------------------------------------------------------------------------- spaCy


def test_spacy_docbin_ents_spans_and_cats_read_back(db, tmp_path) -> None:
    out = tmp_path / "train.spacy"
    report = export(db, NEWS, "spacy", out, gold="latest")
    docs = spacy_docs(out)
    assert [d.user_data["sentence_id"] for d in docs] == ["d1-s1", "d1-s2", "d2-s0", "d2-s1"]
    s1, s2, s3, _ = docs
    # Entities never overlap one another; sources overlap entities, so they go to doc.spans.
    assert (report.ents_fields, report.spans_fields) == (["entities"], ["sources"])
    assert char_spans(s1.ents) == [(0, 2, "LOCATION"), (3, 19, "ARMED_GROUP"), (45, 52, "LOCATION")]
    assert char_spans(s1.spans["sources"]) == [(3, 19, "SOURCE")]
    assert char_spans(s3.ents) == [(0, 9, "PERSON"), (15, 23, "QUANTITY"), (32, 39, "LOCATION")]
    # "drone" ends inside the token "drones": counted and left out.
    assert char_spans(s2.ents) == [(24, 29, "LOCATION")]
    assert (report.misaligned, report.expanded, report.dropped) == (1, 0, 1)
    for doc in docs:
        for s in [*doc.ents, *doc.spans.get("sources", [])]:
            assert doc.text[s.start_char:s.end_char] == s.text
    assert s1.cats["event_type:violence_against_civilians"] == 1.0
    assert sum(v for k, v in s1.cats.items() if k.startswith("event_type:")) == 1.0
    assert len([k for k in s1.cats if k.startswith("event_type:")]) == 7
    assert s1.cats["attribution:claimed"] == 1.0 and s1.cats["attribution:denied"] == 0.0
    # DocBin keeps user data with msgpack, which gives lists back as tuples.
    assert s1.user_data["annotators"] == ("ana@x",) and s1.user_data["draft_ids"] == ("draft-s1",)


def test_spacy_expand_widens_the_misaligned_span_to_its_token(db, tmp_path) -> None:
    out = tmp_path / "train.spacy"
    report = export(db, NEWS, "spacy", out, expand=True)
    s2 = spacy_docs(out)[1]
    assert char_spans(s2.ents) == [(24, 29, "LOCATION"), (39, 45, "WEAPON")]  # "drones"
    assert (report.misaligned, report.expanded, report.dropped) == (1, 1, 0)


def test_spacy_majority_tie_leaves_the_field_out_of_cats(db, tmp_path) -> None:
    out = tmp_path / "majority.spacy"
    export(db, NEWS, "spacy", out, gold="majority")
    s3 = spacy_docs(out)[2]
    assert not any(k.startswith("event_type:") for k in s3.cats) and s3.cats["attribution:claimed"] == 1.0
    assert s3.user_data["ties"] == ("event_type",)


def test_spacy_document_level_spans_are_document_offsets(db, tmp_path) -> None:
    out = tmp_path / "docs.spacy"
    export(db, NEWS, "spacy", out, level="document", gold="latest")
    d1, d2 = spacy_docs(out)
    assert d1.text == DOC1
    assert char_spans(d1.ents) == [(21, 23, "LOCATION"), (24, 40, "ARMED_GROUP"), (66, 73, "LOCATION"),
                                   (100, 105, "LOCATION")]
    assert d1.user_data["sentences"][1]["cats"]["event_type:explosion_remote_violence"] == 1.0
    assert char_spans(d2.spans["sources"]) == [(41, 47, "SOURCE")]


# --------------------------------------------------------------------------- CoNLL


def test_conll_iob2_tags_by_hand_and_spans_parsed_back(db, tmp_path) -> None:
    out = tmp_path / "gold.conll"
    report = export(db, NEWS, "conll", out)
    docstarts, sentences = read_conll(out)
    assert docstarts == 2 and len(sentences) == 4
    tokens, (entities, sources) = sentences[0]
    assert tokens == ["🇺", "🇦", "Ukrainian", "forces", "said", "👨", "\u200d", "👩", "\u200d", "👧", "families",
                      "fled", "Kharkiv", "."]
    assert entities == ["B-LOCATION", "I-LOCATION", "B-ARMED_GROUP", "I-ARMED_GROUP", *["O"] * 8, "B-LOCATION",
                        "O"]
    assert sources == ["O", "O", "B-SOURCE", "I-SOURCE", *["O"] * 10]
    tokens, (entities, sources) = sentences[1]
    assert tokens == ["مرحبا", "שלום", "Officials", "in", "Odesa", "reported", "drones", "."]
    assert entities == ["O", "O", "O", "O", "B-LOCATION", "O", "O", "O"]  # "drone" is not a token: left out
    assert sources == ["O", "O", "B-SOURCE", "I-SOURCE", "I-SOURCE", "O", "O", "O"]
    assert out.read_text(encoding="utf-8").startswith("-DOCSTART- -X- -X- O O\n\n🇺 -X- _ B-LOCATION O\n")
    # Every gold span on token boundaries comes back exactly.
    jsonl = tmp_path / "gold.jsonl"
    export(db, NEWS, "jsonl", jsonl)
    for record, (tokens, columns) in zip(read_jsonl(jsonl), sentences, strict=True):
        offsets = token_offsets(record["text"], tokens)
        for name, tags in zip(("entities", "sources"), columns, strict=True):
            expected = [(s["start"], s["end"], s["label"]) for s in record[name] if s["text"] != "drone"]
            assert iob2_spans(tags, offsets) == expected
    assert (report.misaligned, report.dropped, report.overlapping) == (1, 1, 0)


def test_conll_counts_overlapping_spans_of_one_field(kinds_db, tmp_path) -> None:
    out = tmp_path / "kinds.conll"
    report = export(kinds_db, KINDS, "conll", out)
    _, sentences = read_conll(out)
    tokens, (tags,) = sentences[0]
    assert tokens == ["Aid", "trucks", "reached", "Mariupol", "🚚", "at", "dawn", "."]
    # "reached Mariupol" starts first and is longer than "Mariupol", which it contains: Mariupol is left out.
    assert tags == ["B-THING", "I-THING", "B-PLACE", "I-PLACE", "O", "O", "O", "O"]
    assert (report.overlapping, report.dropped, report.misaligned) == (1, 1, 0)


# --------------------------------------------------------------------------- Hugging Face datasets


@pytest.mark.parametrize("gold", ["latest", "majority"])
def test_hf_load_from_disk_gives_back_the_jsonl_records(db, tmp_path, gold) -> None:
    import datasets

    export(db, NEWS, "hf", tmp_path / "ds", gold=gold, include_drafts=True)
    export(db, NEWS, "jsonl", tmp_path / "gold.jsonl", gold=gold, include_drafts=True)
    dataset = datasets.load_from_disk(str(tmp_path / "ds"))
    assert isinstance(dataset.features["event_type"], datasets.ClassLabel)
    assert dataset.features["event_type"].names[0] == "battle"
    rows = [decoded_row(NEWS, dataset.features, r) for r in dataset]
    assert rows == read_jsonl(tmp_path / "gold.jsonl")


def test_hf_every_field_kind_and_document_level(kinds_db, tmp_path) -> None:
    import datasets

    export(kinds_db, KINDS, "hf", tmp_path / "ds")
    dataset = datasets.load_from_disk(str(tmp_path / "ds"))
    f = dataset.features
    assert isinstance(f["mood"], datasets.ClassLabel) and f["level"].names == ["1", "2", "3"]
    assert f["urgent"].dtype == "bool" and f["casualties"].dtype == "int64" and f["confidence"].dtype == "float64"
    k1, k2 = (decoded_row(KINDS, f, r) for r in dataset)
    assert {k: k1[k] for k in K1_VALUES} == K1_VALUES and {k: k2[k] for k in K2_VALUES} == K2_VALUES
    assert k1["tags"] == [span(0, 10, "THING", "Aid trucks"), span(11, 27, "PLACE", "reached Mariupol"),
                          span(19, 27, "PLACE", "Mariupol")]
    export(kinds_db, KINDS, "hf", tmp_path / "docs", level="document")
    (doc,) = datasets.load_from_disk(str(tmp_path / "docs"))
    assert doc["text"] == KDOC and doc["tags"]["start"] == [0, 11, 19, 46]  # K2 starts at 38 + 2 (CRLF) = 40
    assert [KDOC[s:e] for s, e in zip(doc["tags"]["start"], doc["tags"]["end"], strict=True)] == doc["tags"]["text"]
    assert [s["casualties"] for s in doc["sentences"]] == [0, 3]


def test_every_field_kind_in_jsonl_and_spacy(kinds_db, tmp_path) -> None:
    export(kinds_db, KINDS, "jsonl", tmp_path / "k.jsonl")
    k1, k2 = read_jsonl(tmp_path / "k.jsonl")
    assert {k: k1[k] for k in K1_VALUES} == K1_VALUES and k2["level"] is None and k2["note"] == ""
    report = export(kinds_db, KINDS, "spacy", tmp_path / "k.spacy")
    d1, d2 = spacy_docs(tmp_path / "k.spacy")
    assert (report.ents_fields, report.spans_fields) == ([], ["tags"])  # tags overlap in K1
    assert d1.ents == () and char_spans(d1.spans["tags"]) == [(0, 10, "THING"), (11, 27, "PLACE"), (19, 27, "PLACE")]
    assert d1.cats == {"mood:calm": 0.0, "mood:tense": 1.0, "topics:war": 1.0, "topics:aid": 1.0,
                       "topics:trade": 0.0, "urgent:true": 1.0, "urgent:false": 0.0, "level:1": 0.0,
                       "level:2": 1.0, "level:3": 0.0}
    assert "level:1" not in d2.cats and d2.cats["urgent:false"] == 1.0
    assert (d1.user_data["note"], d1.user_data["casualties"], d1.user_data["confidence"]) == ("convoy\nseen", 0, 0.75)


# --------------------------------------------------------------------------- errors and the command line


def test_missing_library_names_the_extra(db, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)
    monkeypatch.setitem(sys.modules, "datasets", None)
    for fmt in ("spacy", "conll", "hf"):
        with pytest.raises(InputError, match=r"pip install 'annotator\[export\]'"):
            export(db, NEWS, fmt, tmp_path / f"out.{fmt}")
    assert not list(tmp_path.glob("out.*"))


def test_user_errors_are_one_line(db, tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        export(db, NEWS, "jsonl", tmp_path / "missing" / "gold.jsonl")
    with pytest.raises(InputError, match="is a folder"):
        export(db, NEWS, "jsonl", tmp_path)
    with pytest.raises(InputError, match="drop --level document"):
        export(db, NEWS, "labelstudio", tmp_path / "t.json", level="document")
    with pytest.raises(InputError, match="no project 'Nope'"):
        export(db, NEWS, "jsonl", tmp_path / "g.jsonl", project="Nope")
    with pytest.raises(InputError, match="no submitted gold for schema all_kinds"):
        export(db, KINDS, "jsonl", tmp_path / "g.jsonl")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="did not write"):
        export(db, NEWS, "hf", tmp_path / "busy")


def test_cli_options_match_the_library() -> None:
    from annotator.cli import export as cli_export

    assert (cli_export.FORMATS, cli_export.GOLD_MODES, cli_export.LEVELS) == (FORMATS, GOLD_MODES, LEVELS)


@pytest.mark.process
def test_cli_export_summary_warnings_and_one_line_errors(db, tmp_path) -> None:
    db_file = str(tmp_path / "annotator.db")
    result = run("export", "--format", "conll", "--out", str(tmp_path / "g.conll"), "--gold", "majority", "--db", db_file)
    assert result.exit_code == 0, result.output
    assert "Wrote 4 sentences (2 documents, 11 spans) from 7 annotations" in result.output
    assert "2 ties left empty" in result.output and "attribution 1, event_type 1" in result.output
    assert "1 span not on token boundaries" in result.output and "--expand-misaligned" in result.output
    result = run("export", "--format", "jsonl", "--out", str(tmp_path / "g.jsonl"), "--db", db_file, "--json")
    assert json.loads(result.stdout)["sentences"] == 4
    result = run("export", "--format", "jsonl", "--out", str(tmp_path / "no" / "g.jsonl"), "--db", db_file)
    assert result.exit_code == 2 and "Error:" in result.output and "Traceback" not in result.output
    help_text = run("export", "--help", ok=True).output
    assert "annotator export --format spacy --out train.spacy" in help_text and "--expand-misaligned" in help_text


# --------------------------------------------------------------------------- Label Studio round trip


@pytest.mark.labelstudio
@pytest.mark.parametrize("which", ["news", "kinds"])
def test_labelstudio_json_imports_into_a_fresh_project_with_identical_annotations(which, labelstudio, tmp_path):
    from label_studio_sdk import LabelStudio

    from annotator.labelstudio.config import label_config
    from annotator.labelstudio.convert import result_to_gold

    schema = NEWS if which == "news" else KINDS
    db = open_db(tmp_path / "a.db")
    (build_news if which == "news" else build_kinds)(db)
    out = tmp_path / "tasks.json"
    export(db, schema, "labelstudio", out, include_drafts=True)
    export(db, schema, "jsonl", tmp_path / "gold.jsonl")
    expected = by_sentence(read_jsonl(tmp_path / "gold.jsonl"))
    tasks = json.loads(out.read_text(encoding="utf-8"))
    ls = LabelStudio(base_url=labelstudio.url, api_key=labelstudio.token)
    project = ls.projects.create(title=f"export {uuid.uuid4().hex[:8]}", label_config=label_config(schema))
    ls.projects.import_tasks(id=project.id, request=tasks, return_task_ids=True,
                             request_options={"max_retries": 0, "timeout_in_seconds": 600})
    back = [t.model_dump(mode="json") for t in ls.tasks.list(project=project.id, fields="all", page_size=100)]
    assert len(back) == len(expected)
    for task in back:
        record = expected[task["data"]["sentence_id"]]
        (annotation,) = task["annotations"]
        data, spans, errors = result_to_gold(schema, task["data"]["text"], annotation["result"])
        assert errors == []
        for spec in schema.fields:
            if spec.kind == "spans":
                got = [span(s["start"], s["end"], s["label"], s["text"]) for s in spans if s["field"] == spec.name]
                assert got == record[spec.name]
            else:
                assert data[spec.name] == record[spec.name], spec.name
        assert annotation["ground_truth"] == record["ground_truth"]
        assert len(task["predictions"]) == len([d for d in record["draft_ids"] if d])
    if which == "news":
        s1 = next(t for t in back if t["data"]["sentence_id"] == "d1-s1")
        assert s1["data"]["headline"] == HEADLINE and s1["data"]["document_id"] == "d1"
