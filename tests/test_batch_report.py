"""What a batch run says about its result lines: an unknown custom_id is an ignored line, not a lost request."""

from __future__ import annotations

import json

from annotator.cli import costs
from tests.support.batch import batch, fresh_db, statuses
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM


def test_a_result_line_with_an_unknown_custom_id_is_reported_as_ignored(tmp_path, capsys) -> None:
    db = fresh_db(tmp_path / "b.db")
    stray = {"id": "batch_req_x", "custom_id": "not-one-of-ours", "response": None,
             "error": {"code": "batch_expired", "message": "expired"}}
    with StubLLM(responder=news_responder) as stub:
        new_file = stub.batch._new_file

        def with_a_stray_line(data: bytes, purpose: str, name: str) -> dict:
            if name == "output.jsonl":  # the batch's answers, plus one line naming no request of it
                data += (json.dumps(stray) + "\n").encode()
            return new_file(data, purpose, name)

        stub.batch._new_file = with_a_stray_line
        report = batch(db, stub)
    assert report.by_status == {"ok": 11} and statuses(db) == {"ok": 11}
    assert report.failed_requests == 0 and report.unknown_lines == ["not-one-of-ours"]
    costs.print_batch_report(report)
    printed = " ".join(capsys.readouterr().out.split())
    assert "not answered" not in printed
    assert "1 result line named no request of this run's batches (not-one-of-ours) and was ignored" in printed
