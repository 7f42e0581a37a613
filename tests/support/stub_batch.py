"""The OpenAI Batch API for the stub LLM: /v1/files and /v1/batches, run in a background thread.

Each request line goes through the stub's own chat handling (responder, scripted and
random faults), so a batch answers what the online endpoint would. Knobs, attributes of
`stub.batch`: `latency` (seconds per request), `expire_after` (the batch expires after that
many requests: the rest go to the error file as batch_expired), `fail` (the whole batch
fails validation), `create_delay` (the batch exists at once but the reply to POST
/v1/batches waits that long: a client killed meanwhile never hears its id), `refuse` (404
everywhere: a server without the Batch API), `bad_lines` ({n: text}: line n of the output
file, counted from 0, is that text instead; a callable is given the line and returns it).
"""

from __future__ import annotations

import email.parser
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

Answer = tuple[int, Any, str]  # status, body (bytes or JSON-able), content type


def _error(status: int, message: str) -> Answer:
    return status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}, \
        "application/json"


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """{field name: (file name, bytes)} of a multipart/form-data body."""
    message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields = {}
    for part in message.get_payload() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


class BatchAPI:
    """Files and batches of one stub server."""

    def __init__(self, stub: Any) -> None:
        self.stub = stub
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.created = 0  # POST /v1/batches that made a batch
        self.latency = 0.0
        self.expire_after: int | None = None
        self.fail = False
        self.create_delay = 0.0
        self.refuse = False  # answer 404 everywhere, like a server without the Batch API
        self.bad_lines: dict[int, str | Callable[[str], str]] = {}  # output lines replaced (garbled)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    def _new_file(self, data: bytes, purpose: str, name: str) -> dict[str, Any]:
        file = {"id": f"file-stub{next(self._ids)}", "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed"}
        with self._lock:
            self.files[file["id"]] = {**file, "data": data}
        return file

    def handle(self, method: str, path: str, content_type: str, raw: bytes) -> Answer:
        """Answer one request under /v1/files or /v1/batches."""
        parts = [p for p in path.split("?", 1)[0].split("/") if p][1:]  # drop "v1"
        if self.refuse:
            return _error(404, f"not found: {path}")
        if method == "POST" and parts == ["files"]:
            fields = parse_multipart(content_type, raw)
            name, data = fields.get("file", (None, b""))
            purpose = fields.get("purpose", (None, b"batch"))[1].decode()
            return 200, self._new_file(data, purpose, name or "upload.jsonl"), "application/json"
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            file = self.files.get(parts[1])
            return (200, file["data"], "application/octet-stream") if file else _error(404, f"no file {parts[1]}")
        if method == "POST" and parts == ["batches"]:
            return self._create(json.loads(raw or b"{}"))
        if method == "GET" and parts == ["batches"]:
            with self._lock:
                data = [self._public(b) for b in sorted(self.batches.values(), key=lambda b: -b["seq"])]
            return 200, {"object": "list", "data": data, "has_more": False,
                         "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}, \
                "application/json"
        if method == "GET" and len(parts) == 2 and parts[0] == "batches":
            batch = self.batches.get(parts[1])
            return (200, self._public(batch), "application/json") if batch else _error(404, f"no batch {parts[1]}")
        return _error(404, f"not found: {path}")

    def _create(self, body: dict[str, Any]) -> Answer:
        file = self.files.get(body.get("input_file_id", ""))
        if file is None:
            return _error(400, f"no input file {body.get('input_file_id')}")
        seq = next(self._ids)
        batch = {"id": f"batch_stub{seq}", "seq": seq, "object": "batch", "endpoint": body.get("endpoint"),
                 "input_file_id": file["id"], "completion_window": body.get("completion_window", "24h"),
                 "status": "validating", "created_at": int(time.time()), "metadata": body.get("metadata") or {},
                 "output_file_id": None, "error_file_id": None, "errors": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}}
        with self._lock:
            self.batches[batch["id"]] = batch
            self.created += 1
        threading.Thread(target=self._run, args=(batch, file["data"]), daemon=True).start()
        if self.create_delay:
            self.stub._stopping.wait(self.create_delay)
        return 200, self._public(batch), "application/json"

    def _public(self, batch: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {k: (dict(v) if isinstance(v, dict) else v) for k, v in batch.items() if k != "seq"}

    def _run(self, batch: dict[str, Any], data: bytes) -> None:
        """Validate, answer each line through the stub's chat handling, write the output and error files."""
        lines = [json.loads(x) for x in data.decode("utf-8").splitlines() if x.strip()]
        with self._lock:
            batch["request_counts"]["total"] = len(lines)
            if self.fail:
                batch.update(status="failed", errors={"object": "list", "data": [
                    {"code": "invalid_request", "message": "the stub was told to fail this batch", "line": 1}]})
                return
            batch["status"] = "in_progress"
        out, err = [], []
        expired = False
        for n, line in enumerate(lines):
            if self.stub._stopping.is_set():
                return
            if self.expire_after is not None and n >= self.expire_after:
                expired = True
                with self._lock:
                    batch["request_counts"]["failed"] += 1
                err.append({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "response": None,
                            "error": {"code": "batch_expired", "message": "This request could not be executed "
                                      "before the completion window expired."}})
                continue
            if self.latency:
                self.stub._stopping.wait(self.latency)
            status, body, _ = self.stub._handle_chat(line["body"])
            record = {"id": f"batch_req_{n}", "custom_id": line["custom_id"],
                      "response": {"status_code": status, "request_id": f"req_{n}", "body": body}, "error": None}
            (out if status == 200 else err).append(record)
            with self._lock:
                batch["request_counts"]["completed" if status == 200 else "failed"] += 1
        self._finish(batch, out, err, expired)

    def _finish(self, batch: dict[str, Any], out: list[dict], err: list[dict], expired: bool) -> None:
        def jsonl(records: list[dict], bad: dict[int, str | Callable[[str], str]]) -> bytes:
            lines = [json.dumps(r) for r in records]
            for n, text in bad.items():
                if n < len(lines):
                    lines[n] = text(lines[n]) if callable(text) else text
            return "".join(line + "\n" for line in lines).encode()
        output = self._new_file(jsonl(out, self.bad_lines), "batch_output", "output.jsonl")["id"] if out else None
        errors = self._new_file(jsonl(err, {}), "batch_output", "errors.jsonl")["id"] if err else None
        with self._lock:
            batch.update(output_file_id=output, error_file_id=errors,
                         status="expired" if expired else "completed")
