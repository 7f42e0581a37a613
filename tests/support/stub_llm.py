"""A real OpenAI-compatible HTTP stub server on loopback, with fault injection, for tests and benchmarks."""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.support.stub_batch import BatchAPI
from tests.support.stub_limits import TokenBucket
from tests.support.stub_wire import (
    StubHandler,
    StubHTTPServer,
    canned_fault,
    completion,
    error_body,
)

Reply = str | dict[str, Any]
Responder = Callable[[dict[str, Any]], Reply]

FAULTS = ("429", "500", "timeout", "truncated", "invalid", "html", "no_choices", "unknown_model", "401", "404")
MODES = ("json_schema", "json_object", "tools")
INVALID_CONTENT = '{"unexpected": true}'


def default_responder(request_body: dict[str, Any]) -> Reply:
    """Answer every request with an empty JSON object."""
    return "{}"


class StubLLM:
    """OpenAI-compatible chat-completions server on 127.0.0.1 with scripted and random faults."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        seed: int | None = 0,
        latency: float = 0.0,
        p429: float = 0.0,
        p500: float = 0.0,
        p_timeout: float = 0.0,
        p_truncated: float = 0.0,
        p_invalid: float = 0.0,
        retry_after: float = 0.05,
        timeout_sleep: float = 5.0,
        reject_modes: set[str] | frozenset[str] | None = None,
        reject_status: int = 400,
        truncated_finish_reason: str = "length",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: float | None = None,
        burst: float | None = None,
        ratelimit_headers: bool = True,
        arrival_jitter: float = 0.0,
    ) -> None:
        """Configure the stub; call start() or use it as a context manager to serve."""
        unknown = set(reject_modes or ()) - set(MODES)
        if unknown:
            raise ValueError(f"unknown reject_modes {sorted(unknown)}; expected {MODES}")
        total = p429 + p500 + p_timeout + p_truncated + p_invalid
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total} > 1")
        self.responder: Responder = responder or default_responder
        self.latency = latency
        self.p429, self.p500, self.p_timeout = p429, p500, p_timeout
        self.p_truncated, self.p_invalid = p_truncated, p_invalid
        self.retry_after = retry_after
        self.timeout_sleep = timeout_sleep
        self.reject_modes: set[str] = set(reject_modes or ())
        # llama-cpp-python's server refuses json_schema with HTTP 500 and a pydantic literal_error.
        self.reject_status = reject_status
        self.truncated_finish_reason = truncated_finish_reason
        # A token bucket of `rate_limit` requests a minute (burst: one second's worth unless given): a refused
        # request gets 429 with Retry-After; with `ratelimit_headers` every reply says what remains, like OpenAI.
        self.bucket = TokenBucket(rate_limit, burst) if rate_limit else None
        self.ratelimit_headers = ratelimit_headers
        # Each request reaches the bucket after a random delay below this many seconds (a network path or a
        # proxy in front of the limiter): requests are counted in another order than they were sent.
        self.arrival_jitter = arrival_jitter
        self._jitter = random.Random(seed)
        self.batch = BatchAPI(self)  # /v1/files and /v1/batches; its knobs are attributes (see stub_batch)
        # Log-probabilities, asked with "logprobs": None ignores the ask (most servers without them); "send" splits
        # the answer into 3-character tokens scored by `token_logprob(token)`; "refuse" answers as llama-cpp-python
        # started without all logits does (HTTP 500).
        self.logprobs: str | None = None
        self.in_flight = self.most_in_flight = 0  # chat requests being answered now; the most at once so far
        self.token_logprob: Callable[[str], float] = lambda token: -0.1 * len(token)
        self.host, self._port = host, port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._replies: collections.deque[Reply] = collections.deque()
        self._faults: collections.deque[str] = collections.deque()
        self._serial = 0
        self.requests: list[dict[str, Any]] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self._stopping = threading.Event()
        self._server: StubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------

    def start(self) -> StubLLM:
        """Bind the server and serve it in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = StubHTTPServer((self.host, self._port), StubHandler)
        server.stub = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"StubLLM:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and wake any sleeping handlers."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StubLLM:
        """Start serving."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (0 before start)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{self.host}:{self._port}/v1"

    # scripting and records ----------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Queue scripted replies (str content or dict JSON), used FIFO by fault-free answers before the responder."""
        with self._lock:
            self._replies.extend(replies)

    def enqueue_fault(self, *faults: str) -> None:
        """Queue scripted faults ("429", "500", "timeout", "truncated", "invalid"), used FIFO before random ones."""
        bad = [f for f in faults if f not in FAULTS]
        if bad:
            raise ValueError(f"unknown faults {bad}; expected {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    @property
    def calls(self) -> int:
        """Total chat-completion requests received."""
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        """Clear records and scripted queues."""
        with self._lock:
            self.requests.clear()
            self.counts.clear()
            self._replies.clear()
            self._faults.clear()

    def _count(self, outcome: str) -> None:
        """Increment one outcome counter."""
        with self._lock:
            self.counts[outcome] += 1

    # request handling -------------------------------------------------------

    def _rejected_mode(self, body: dict[str, Any]) -> str | None:
        """Return the requested mode if it is in reject_modes, else None."""
        if not self.reject_modes:
            return None
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") in self.reject_modes:
            return str(fmt["type"])
        if body.get("tools") and "tools" in self.reject_modes:
            return "tools"
        return None

    def _next(self, body: dict[str, Any]) -> tuple[int, str | None, Reply | None]:
        """Record the request and decide (serial, fault, scripted reply) under the lock."""
        with self._lock:
            self.requests.append(body)
            self._serial += 1
            serial = self._serial
            if self._rejected_mode(body) is not None:
                return serial, "rejected", None
            if self._faults:
                fault: str | None = self._faults.popleft()
            else:
                fault = None
                x = self._rng.random()
                for name, p in (
                    ("429", self.p429),
                    ("500", self.p500),
                    ("timeout", self.p_timeout),
                    ("truncated", self.p_truncated),
                    ("invalid", self.p_invalid),
                ):
                    if x < p:
                        fault = name
                        break
                    x -= p
            # Only a fault-free answer consumes a scripted reply (so a retry gets it);
            # truncated/timeout answers are built from a peek at the queue head.
            reply = None
            if fault is None and self._replies:
                reply = self._replies.popleft()
            elif fault in ("truncated", "timeout") and self._replies:
                reply = self._replies[0]
            return serial, fault, reply

    def _over_limit(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]] | None:
        """The 429 of a request the token bucket refuses (recorded and counted), else None."""
        if self.bucket is not None and self.arrival_jitter > 0:
            with self._lock:
                delay = self._jitter.uniform(0, self.arrival_jitter)
            self._stopping.wait(delay)
        wait = self.bucket.take() if self.bucket is not None else None
        if wait is None:
            return None
        with self._lock:
            self.requests.append(body)
        self._count("429")
        headers = self._limit_headers(wait) or {"retry-after-ms": f"{wait * 1000:.0f}",
                                                "Retry-After": f"{max(1, round(wait))}"}
        return 429, error_body("rate limit reached (stub token bucket)", "requests", "rate_limit_exceeded"), headers

    def _logprobs(self, text: str) -> dict[str, Any] | None:
        """`choices[0].logprobs` of an answer: 3-character tokens with their bytes, when the stub sends them."""
        if self.logprobs != "send":
            return None
        tokens = [text[i:i + 3] for i in range(0, len(text), 3)]
        return {"content": [{"token": t, "logprob": self.token_logprob(t), "bytes": list(t.encode()),
                             "top_logprobs": []} for t in tokens]}

    def _limit_headers(self, retry_after: float | None = None) -> dict[str, str] | None:
        """The x-ratelimit-* headers of a reply when the bucket is on and sends them."""
        if self.bucket is None or not self.ratelimit_headers:
            return None
        return self.bucket.headers(retry_after)

    def _handle_chat(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str] | None]:
        """Produce (status, JSON body, extra headers) for one chat-completion request."""
        refused = self._over_limit(body)
        if refused is not None:
            return refused
        serial, fault, reply = self._next(body)
        if fault == "rejected":
            mode = self._rejected_mode(body)
            self._count("rejected")
            if self.reject_status >= 500:
                msg = (
                    "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                    f"'msg': \"Input should be 'text' or 'json_object'\", 'input': '{mode}'}}]"
                )
                return self.reject_status, error_body(msg, "internal_server_error"), None
            what = "tools are" if mode == "tools" else f"response_format type {mode} is"
            msg = f"{what} not supported by this server"
            return 400, error_body(msg, "invalid_request_error", "unsupported_mode"), None
        if fault == "429":
            self._count("429")
            ra = f"{self.retry_after:g}"
            headers = {"Retry-After": ra, "retry-after-ms": f"{self.retry_after * 1000:g}"}
            return (
                429,
                error_body("rate limited (stub)", "rate_limit_error", "rate_limit_exceeded"),
                headers,
            )
        if fault == "500":
            self._count("500")
            return 500, error_body("internal error (stub)", "server_error"), None
        if fault in ("html", "no_choices", "unknown_model", "401", "404"):
            self._count(fault)
            return (*canned_fault(fault, body.get("model")), None)

        if body.get("logprobs") and self.logprobs == "refuse":
            self._count("logprobs_refused")
            return 500, error_body("logprobs is not supported for models created with logits_all=False",
                                    "internal_server_error"), None
        if fault == "invalid":
            reply = INVALID_CONTENT
        elif reply is None:
            try:
                reply = self.responder(body)
            except Exception as exc:  # report responder bugs as 500s
                self._count("responder_error")
                return 500, error_body(f"stub responder failed: {exc!r}", "server_error"), None
        text = reply if isinstance(reply, str) else json.dumps(reply)
        finish = "stop"
        if fault == "truncated":
            text = text[: len(text) // 2]
            finish = self.truncated_finish_reason

        self._count(fault or "ok")  # counted when decided, before any sleep
        if fault == "timeout":
            self._stopping.wait(self.timeout_sleep)
        if self.latency > 0:
            self._stopping.wait(self.latency)

        logprobs = self._logprobs(text) if body.get("logprobs") else None
        return 200, completion(serial, body, text, finish, logprobs), self._limit_headers()


def main(argv: list[str] | None = None) -> None:
    """Serve a stub from the command line until Ctrl-C."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--reply", default="{}", help="message content returned for every request")
    ap.add_argument("--seed", type=int, default=0)
    for name in ("p429", "p500", "p_timeout", "p_truncated", "p_invalid"):
        ap.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, default=0.0)
    ap.add_argument("--retry-after", type=float, default=0.05)
    ap.add_argument("--timeout-sleep", type=float, default=5.0)
    ap.add_argument("--rate-limit", type=float, default=None, help="token bucket: requests a minute")
    ap.add_argument("--burst", type=float, default=None, help="token bucket size (default: one second's worth)")
    ap.add_argument("--no-ratelimit-headers", action="store_true", help="429s carry only Retry-After")
    ap.add_argument(
        "--reject",
        action="append",
        default=[],
        choices=MODES,
        help="reject this mode with HTTP 400 (repeatable)",
    )
    args = ap.parse_args(argv)
    reply: str = args.reply
    stub = StubLLM(
        lambda body: reply,
        seed=args.seed,
        latency=args.latency,
        p429=args.p429,
        p500=args.p500,
        p_timeout=args.p_timeout,
        p_truncated=args.p_truncated,
        p_invalid=args.p_invalid,
        retry_after=args.retry_after,
        timeout_sleep=args.timeout_sleep,
        reject_modes=set(args.reject),
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        burst=args.burst,
        ratelimit_headers=not args.no_ratelimit_headers,
    )

    def interrupt(signum: int, frame: object) -> None:
        """Turn SIGTERM/SIGINT into KeyboardInterrupt for a clean stop."""
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    stub.start()
    print(stub.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
        print(f"stopped; outcomes: {dict(stub.counts)}", flush=True)


if __name__ == "__main__":
    main()
