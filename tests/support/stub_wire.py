"""The stub LLM's wire: its HTTP server and request handler (routes to the stub's methods), and the
pure builders of what it answers: OpenAI-style error bodies, the canned faults' answers, and a chat
completion (content or a forced tool call, usage, log-probabilities) built from an answer's text."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.stub_llm import StubLLM

HTML_PAGE = "<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"


def approx_tokens(text: str) -> int:
    """Approximate a token count as len(text)//4, at least 1."""
    return max(1, len(text) // 4)


def prompt_text(body: dict[str, Any]) -> str:
    """Concatenate the text of all request messages (for the usage estimate)."""
    parts: list[str] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "".join(parts)


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    """Build an OpenAI-style error body."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def tool_name(body: dict[str, Any]) -> str | None:
    """Return the function name the request forces (tool_choice or a single tool), else None."""
    tools = body.get("tools")
    if not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return str(name)
    if choice == "none":
        return None
    functions = [t.get("function", {}).get("name") for t in tools if isinstance(t, dict)]
    functions = [f for f in functions if f]
    if len(functions) == 1 or (choice == "required" and functions):
        return str(functions[0])
    return None


def canned_fault(fault: str, model: Any) -> tuple[int, Any]:
    """(status, body) of a fault the stub answers without a completion: a web page, no choices, a refusal."""
    return {
        "html": (200, HTML_PAGE),
        "no_choices": (200, {"id": "x", "object": "chat.completion", "choices": []}),
        "unknown_model": (400, error_body(f"Unknown model: {model}", "invalid_request_error")),
        "401": (401, error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key")),
        "404": (404, error_body(f"The model `{model}` does not exist", "invalid_request_error", "model_not_found")),
    }[fault]


def completion(serial: int, body: dict[str, Any], text: str, finish: str, logprobs: dict | None) -> dict[str, Any]:
    """A chat completion answering `body` with `text`: a forced tool's call when the request forces one
    (finish `tool_calls` instead of `stop`), else content with its `logprobs`; usage ~ 4 characters a token."""
    tool = tool_name(body)
    if tool is not None:
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_stub_{serial}", "type": "function", "function": {"name": tool, "arguments": text}}]}
        finish = "tool_calls" if finish == "stop" else finish
        logprobs = None
    else:
        message = {"role": "assistant", "content": text}
    prompt_tokens, completion_tokens = approx_tokens(prompt_text(body)), approx_tokens(text)
    return {"id": f"chatcmpl-stub-{serial}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or "stub",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": logprobs}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


class StubHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server tuned for many concurrent loopback clients."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 512
    allow_reuse_address = True
    stub: StubLLM


class StubHandler(BaseHTTPRequestHandler):
    """Request handler that delegates to the owning StubLLM."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: StubHTTPServer
    server_version = "StubLLM/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        """Send a JSON response (or an HTML page for a str) with Content-Length; ignore clients that went away."""
        html = isinstance(obj, str)
        data = obj.encode() if html else json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if html else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _batch_api(self, method: str, raw: bytes = b"") -> bool:
        """Serve /v1/files and /v1/batches (the Batch API); False for any other path."""
        if not self.path.startswith(("/v1/files", "/v1/batches")):
            return False
        status, body, content_type = self.server.stub.batch.handle(method, self.path,
                                                                   self.headers.get("Content-Type", ""), raw)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        return True

    def _read_body(self) -> bytes:
        """Read the request body by Content-Length."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        """Serve /v1/models and /health."""
        path = self.path.split("?", 1)[0].rstrip("/")
        if self._batch_api("GET"):
            return
        if path in ("/v1/models", "/models"):
            model = {"id": "stub", "object": "model", "created": 0, "owned_by": "stub"}
            self._send_json(200, {"object": "list", "data": [model]})
        elif path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, error_body(f"not found: {self.path}", "not_found_error"))

    def do_POST(self) -> None:
        """Serve /v1/chat/completions."""
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if self._batch_api("POST", raw):
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, error_body(f"not found: {self.path}", "not_found_error"))
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            self.server.stub._count("bad_request")
            self._send_json(400, error_body(f"invalid JSON body: {exc}", "invalid_request_error"))
            return
        stub = self.server.stub
        with stub._lock:
            stub.in_flight += 1
            stub.most_in_flight = max(stub.most_in_flight, stub.in_flight)
        try:
            status, obj, headers = stub._handle_chat(body)
        finally:
            with stub._lock:
                stub.in_flight -= 1
        self._send_json(status, obj, headers)
