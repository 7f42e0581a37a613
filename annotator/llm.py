"""The LLM edge: an OpenAI-compatible client with structured-output modes, transport retries and a cache key."""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
)

from .cachekeys import RequestKeys, cache_key
from .errors import LLMError
from .modes import request_params
from .ratelimit import RateInfo, RequestGate, rate_info, retry_after
from .settings import OPENAI_URL, redact_url

# A 400 whose message says one of these means "this server does not do this mode".
_MODE_REJECTION = re.compile(
    r"response_format|json_schema|json_object|schema|tool|function|grammar|not supported|unsupported|"
    r"not implemented|unrecognized|unknown",
    re.IGNORECASE,
)


class ModeRejected(LLMError):
    """The server refused the structured-output mode of the request."""


class TransportFailed(LLMError):
    """Transport faults persisted after every retry."""


class FatalLLMError(LLMError):
    """A failure no retry can fix (bad key, unknown model): the whole run stops."""


class Stopped(LLMError):
    """The run is stopping: no new request is sent."""


class NotACompletion(Exception):
    """A 200 reply that is not an OpenAI chat completion (an HTML page, no choices): a transport fault."""


UNREACHABLE_AFTER = 5
"""Consecutive connection errors (no HTTP answer at all) after which a run stops."""

_UNKNOWN_MODEL = re.compile(
    r"model.{0,80}(not found|does not exist|unknown|not available|no such|invalid)|"
    r"(unknown|invalid|no such|unsupported) model|model_not_found", re.IGNORECASE)


@dataclass
class Completion:
    """One answer from the server (or the cache)."""

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_ms: int = 0
    cached: bool = False

    def to_cache(self) -> str:
        """JSON stored in the cache table."""
        return json.dumps({"content": self.content, "prompt_tokens": self.prompt_tokens,
                           "completion_tokens": self.completion_tokens, "finish_reason": self.finish_reason})

    @classmethod
    def from_cache(cls, blob: str) -> Completion:
        """Rebuild a cached answer; it cost nothing this time."""
        return cls(**json.loads(blob), latency_ms=0, cached=True)


# Some servers answer an unsupported mode with a 5xx (llama-cpp-python: HTTP 500 with a pydantic
# literal_error on response_format.type); only these words make a 5xx a mode refusal.
_MODE_REJECTION_5XX = re.compile(r"response_format|json_schema|json_object|tool_choice|'tools'", re.IGNORECASE)


def _is_mode_rejection(exc: BaseException, params: dict[str, Any]) -> bool:
    """Whether the server refused the request's structured-output mode (never worth a retry)."""
    if not isinstance(exc, openai.APIStatusError) or not ("tools" in params or "response_format" in params):
        return False
    if _is_unknown_model(exc):
        return False
    msg = _error_message(exc)
    if exc.status_code in (400, 422):
        return bool(_MODE_REJECTION.search(msg))
    return exc.status_code >= 500 and bool(_MODE_REJECTION_5XX.search(msg))


def _is_unknown_model(exc: BaseException) -> bool:
    """Whether a 400/404 says the server does not know the model (a fatal error, not a mode refusal)."""
    return (isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 404, 422)
            and bool(_UNKNOWN_MODEL.search(_error_message(exc))))


def _is_transient(exc: BaseException) -> bool:
    """Faults worth retrying: rate limits, server errors, timeouts, dropped connections, garbage replies."""
    if isinstance(exc, openai.APIConnectionError | NotACompletion):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 425, 429) or exc.status_code >= 500
    return False


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if any."""
    return retry_after(exc.response.headers) if isinstance(exc, openai.APIStatusError) else None


def _error_message(exc: openai.APIStatusError) -> str:
    """The server's own error text, on one line."""
    body = exc.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    text = body if isinstance(body, str) else json.dumps(body) if body else str(exc)
    return " ".join(str(text).split())[:300]


@dataclass
class LLMClient:
    """Sends chat requests; transport retries live here, validation re-asks live in the caller."""

    base_url: str | None = field(repr=False)  # may hold credentials: `server` is the printable form
    api_key: str | None = field(repr=False)
    model: str
    timeout: float = 120.0
    max_retries: int = 8
    backoff: float = 1.0
    max_backoff: float = 30.0
    temperature: float = 0.0
    max_tokens: int = 1024
    seed: int | None = None
    unreachable_after: int = UNREACHABLE_AFTER
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _unreachable: int = field(default=0, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set to stop retrying: requests already sent finish, nothing is sent again."""
    gate: RequestGate | None = field(default=None, repr=False)
    """When set, every HTTP request waits for it and tells it what the reply said about rate limits."""

    def __post_init__(self) -> None:
        # The SDK's own retries are off: tenacity below is the only retry loop.
        self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed",
                                     max_retries=0, timeout=self.timeout)

    @property
    def server(self) -> str:
        """The server's identity as stored with drafts and cache entries (no credentials)."""
        return (redact_url(self.base_url) if self.base_url else OPENAI_URL).rstrip("/")

    def run_settings(self) -> dict[str, Any]:
        """Everything besides model, prompt and schema that changes a draft: part of its key."""
        return {"server": self.server, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "seed": self.seed}

    @property
    def run_key(self) -> str:
        """A short hash of `run_settings()`."""
        return hashlib.sha256(json.dumps(self.run_settings(), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def sdk(self) -> openai.OpenAI:
        """The underlying `openai` client, for the Batch API (its own retries are off)."""
        return self._client

    def cache_key(self, params: dict[str, Any]) -> str:
        """The cache key of a request to this server: two servers never share answers."""
        return cache_key({**params, "_server": self.server})

    def request_keys(self, mode: str, schema: dict) -> RequestKeys:
        """`cache_key` of this mode's requests by their messages alone (the rest is serialised once)."""
        return RequestKeys({**self.params(mode, [], schema), "_server": self.server})

    def params(self, mode: str, messages: list[dict], schema: dict) -> dict[str, Any]:
        """Request parameters for this client's model and settings."""
        return request_params(mode, self.model, messages, schema, temperature=self.temperature,
                              max_tokens=self.max_tokens, seed=self.seed)

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gives one, else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome else None
        asked = _retry_after(exc)
        if asked is not None:
            return min(asked, self.max_backoff) + random.uniform(0, 0.1 * max(asked, 0.01))
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (state.attempt_number - 1)))

    def send(self, params: dict[str, Any]) -> Completion:
        """One logical request, retried on transport faults only."""
        retrying = Retrying(retry=retry_if_exception(lambda e: _is_transient(e) and not _is_mode_rejection(e, params)),
                            wait=self._wait, sleep=self.stopping.wait,  # a backoff ends when the run stops
                            stop=stop_after_attempt(self.max_retries + 1) | stop_when_event_set(self.stopping),
                            reraise=True)
        try:
            return retrying(self._send_once, params)
        except openai.APIStatusError as exc:
            msg = _error_message(exc)
            if exc.status_code in (401, 403):
                raise FatalLLMError(
                    f"the LLM server refused the API key (HTTP {exc.status_code}: {msg}); set OPENAI_API_KEY"
                ) from exc
            if exc.status_code == 404 or _is_unknown_model(exc):
                raise FatalLLMError(
                    f"the LLM server has no model {self.model!r} or no chat endpoint at {self.server} "
                    f"(HTTP {exc.status_code}: {msg}); check --model and --base-url"
                ) from exc
            if _is_mode_rejection(exc, params):
                raise ModeRejected(msg) from exc
            if _is_transient(exc):
                raise TransportFailed(f"HTTP {exc.status_code} after {self.max_retries + 1} attempts: {msg}") from exc
            raise TransportFailed(f"HTTP {exc.status_code}: {msg}") from exc
        except openai.APIConnectionError as exc:
            kind = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection error"
            raise TransportFailed(f"{kind} after {self.max_retries + 1} attempts: {exc}") from exc
        except NotACompletion as exc:
            raise TransportFailed(f"{exc} after {self.max_retries + 1} attempts") from exc
        except Stopped as exc:
            raise TransportFailed(str(exc)) from exc

    def _send_once(self, params: dict[str, Any]) -> Completion:
        """A single HTTP request; too many connection errors in a row stop the run."""
        with self._lock:
            if self.stopping.is_set():
                raise Stopped("the run was interrupted before this request was sent")
            self.calls += 1
            if self._unreachable >= self.unreachable_after:
                raise self._unreachable_error()
        sent_at = self.gate.acquire(self.stopping) if self.gate is not None else None
        if self.gate is not None and sent_at is None:
            raise Stopped("the run was interrupted before this request was sent")
        info: RateInfo | None = None
        try:
            completion, info = self._post(params)
        except openai.APIConnectionError as exc:
            if not isinstance(exc, openai.APITimeoutError):
                with self._lock:
                    self._unreachable += 1
                    if self._unreachable >= self.unreachable_after:
                        raise self._unreachable_error() from exc
            raise
        except openai.APIStatusError as exc:
            info = rate_info(exc.status_code, exc.response.headers)
            with self._lock:
                self._unreachable = 0
            raise
        finally:
            if self.gate is not None and sent_at is not None:
                self.gate.release(sent_at, info)
        with self._lock:
            self._unreachable = 0
        return completion

    def _unreachable_error(self) -> FatalLLMError:
        return FatalLLMError(
            f"cannot reach the LLM at {self.server} ({self._unreachable} connection errors in a row); start the "
            f"server or fix --base-url / OPENAI_BASE_URL")

    def _post(self, params: dict[str, Any]) -> tuple[Completion, RateInfo]:
        """POST /chat/completions; the answer and what the reply's headers said about rate limits."""
        started = time.perf_counter()
        # The client's generic post (documented for raw requests) rather than chat.completions.create:
        # create() walks the whole request through its TypedDict transform and builds pydantic models
        # of the reply, which doubled the client's CPU per request. Auth, timeout and the error classes
        # (APIStatusError, APIConnectionError) are the same; the raw reply keeps the rate-limit headers.
        response = self._client.post("/chat/completions", body=params, cast_to=httpx.Response)
        latency = int((time.perf_counter() - started) * 1000)
        try:
            data: Any = response.json()
        except ValueError:
            data = response.text
        problem = not_a_completion(data)
        if problem:
            raise NotACompletion(f"the reply is not a chat completion ({problem})")
        completion = completion_from_response(data, latency)
        used = completion.prompt_tokens + completion.completion_tokens
        return completion, rate_info(response.status_code, response.headers, used or None)

    def list_models(self) -> list[str]:
        """Model ids the server offers."""
        try:
            return [m.id for m in self._client.models.list()]
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"cannot reach the LLM server at {self.server} ({exc}); start it or fix --base-url"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMError(f"the LLM server at {self.server} cannot list models (HTTP {exc.status_code}); "
                           "pass --model") from exc


def not_a_completion(data: Any) -> str | None:
    """Why a decoded 200 reply is not an OpenAI chat completion, or None."""
    if not isinstance(data, dict):
        text = " ".join(str(data).split())[:60]
        return f"got {type(data).__name__} {text!r}"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "no choices"
    if not isinstance(choices[0].get("message"), dict):
        return "no message in the first choice"
    return None


def completion_from_response(data: Any, latency_ms: int = 0) -> Completion:
    """A Completion from a chat-completion reply (decoded JSON); missing parts become empty."""
    body = data if isinstance(data, dict) else {}
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list) and tool_calls and isinstance(tool_calls[0], dict):
        function = tool_calls[0].get("function")
        content = function.get("arguments") if isinstance(function, dict) else None
    else:
        content = message.get("content")
    usage = body.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        content=content if isinstance(content, str) else "",
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        finish_reason=choice.get("finish_reason"),
        latency_ms=latency_ms,
    )


def parse_json(content: str) -> Any:
    """The JSON value in a reply, tolerating code fences and chatter around one object."""
    text = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            return json.loads(text[start:end + 1])
        raise
