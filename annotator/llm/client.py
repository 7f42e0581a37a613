"""The client: chat requests to an OpenAI-compatible server, sent with transport retries, through the rate gate."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
)

from ..errors import LLMError
from ..hashing import content_hash
from ..settings import OPENAI_URL, redact_url
from .cachekeys import RequestKeys, cache_key
from .completions import Completion, completion_from_response, not_a_completion
from .errors import (
    FatalLLMError,
    NotACompletion,
    Stopped,
    asked_wait,
    final_error,
    is_retried,
    no_connection,
)
from .modes import request_params
from .ratelimit import RateInfo, RequestGate, rate_info

STOP_POLL = 0.1
"""Longest sleep of a backoff between checks that the run is not stopping."""

UNREACHABLE_AFTER = 5
"""Consecutive connection errors (no HTTP answer at all) after which a run stops."""


def read_reply(response: httpx.Response, started: float) -> tuple[Completion, RateInfo]:
    """The answer in a chat-completion reply, and what its headers said about rate limits."""
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


class _FirstAttempt:
    """A request whose first attempt was made and failed: tenacity's first attempt raises that failure again,
    its later ones send."""

    def __init__(self, failure: Exception, send_once: Callable[[dict[str, Any]], Any]) -> None:
        self.failure: Exception | None = failure
        self.send_once = send_once

    def send(self, params: dict[str, Any]) -> Completion:
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure
        return self.send_once(params)

    async def asend(self, params: dict[str, Any]) -> Completion:
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure
        return await self.send_once(params)


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
    logprobs: bool = True
    """Ask for the answer's token log-probabilities; False once the server refused them."""
    samples: int = 0
    """Extra answers asked per sentence at `sample_temperature` (self-consistency); part of the run settings."""
    sample_temperature: float = 0.7
    unreachable_after: int = UNREACHABLE_AFTER
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _unreachable: int = field(default=0, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set to stop retrying: requests already sent finish, nothing is sent again."""
    gate: RequestGate | None = field(default=None, repr=False)
    """When set, every HTTP request waits for it and tells it what the reply said about rate limits."""

    _async: tuple[asyncio.AbstractEventLoop, openai.AsyncOpenAI] | None = field(default=None, repr=False)

    @property
    def server(self) -> str:
        """The server's identity as stored with drafts and cache entries (no credentials)."""
        return (redact_url(self.base_url) if self.base_url else OPENAI_URL).rstrip("/")

    def run_settings(self) -> dict[str, Any]:
        """Everything besides model, prompt and schema that changes a draft: part of its key."""
        settings = {"server": self.server, "temperature": self.temperature, "max_tokens": self.max_tokens,
                    "seed": self.seed}
        if self.samples:  # absent when off, so the drafts of earlier runs keep their key
            settings.update(samples=self.samples, sample_temperature=self.sample_temperature)
        return settings

    @property
    def run_key(self) -> str:
        """A short hash of `run_settings()` (spaced, with ASCII escapes, as first written: `hashing`)."""
        return content_hash(self.run_settings(), length=16, ascii=True, spaced=True)

    @cached_property
    def sdk(self) -> openai.OpenAI:
        """The synchronous `openai` client (for `send`, the Batch API), made on first use.

        The SDK's own retries are off: tenacity is the only retry loop. Requests go through the client's
        generic post (documented for raw requests) rather than chat.completions.create: create() walks the
        request through its TypedDict transform and builds pydantic models of the reply, which doubled the
        client's CPU per request; auth, timeout and the error classes are the same, and the raw reply keeps
        the rate-limit headers.
        """
        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed", max_retries=0,
                             timeout=self.timeout)

    def cache_key(self, params: dict[str, Any]) -> str:
        """The cache key of a request to this server: two servers never share answers."""
        return cache_key({**params, "_server": self.server})

    def request_keys(self, mode: str, schema: dict) -> RequestKeys:
        """`cache_key` of this mode's requests by their messages alone (the rest is serialised once)."""
        return RequestKeys({**self.params(mode, [], schema), "_server": self.server})

    def params(self, mode: str, messages: list[dict], schema: dict, sample: int | None = None) -> dict[str, Any]:
        """Request parameters for this client's model and settings; `sample` i: the i-th sampled answer (at
        `sample_temperature`, another seed, no log-probabilities)."""
        if sample is None:
            return request_params(mode, self.model, messages, schema, temperature=self.temperature,
                                  max_tokens=self.max_tokens, seed=self.seed, logprobs=self.logprobs)
        seed = None if self.seed is None else self.seed + 1 + sample
        return request_params(mode, self.model, messages, schema, temperature=self.sample_temperature,
                              max_tokens=self.max_tokens, seed=seed)

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gives one, else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome else None
        asked = asked_wait(exc)
        if asked is not None:
            return min(asked, self.max_backoff) + random.uniform(0, 0.1 * max(asked, 0.01))
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (state.attempt_number - 1)))

    def _retry_policy(self, params: dict[str, Any]) -> dict[str, Any]:
        """Tenacity's settings for one logical request (the same for the threaded and the async path)."""
        return {"retry": retry_if_exception(lambda e: is_retried(e, params)),
                "wait": self._wait, "reraise": True,
                "stop": stop_after_attempt(self.max_retries + 1) | stop_when_event_set(self.stopping)}

    def send(self, params: dict[str, Any]) -> Completion:
        """One logical request, retried on transport faults only.

        The first attempt is made before tenacity is set up: most requests are answered at once, and
        tenacity's machinery costs about as much CPU as the tool's own work on a sentence. A failed
        first attempt is handed to tenacity as its own first attempt, so the retries, waits and stops
        are tenacity's, exactly as if it had made it.
        """
        try:
            try:
                return self._send_once(params)
            except Exception as exc:  # noqa: BLE001 - tenacity decides (it retries or re-raises it)
                first = _FirstAttempt(exc, self._send_once)
            retrying = Retrying(sleep=self.stopping.wait, **self._retry_policy(params))  # a backoff ends at a stop
            return retrying(first.send, params)
        except (openai.APIError, NotACompletion, Stopped) as exc:
            raise self._final_error(exc, params) from exc

    async def asend(self, params: dict[str, Any]) -> Completion:
        """`send` for a coroutine: the same retries and errors, awaiting instead of holding a thread."""
        try:
            try:
                return await self._asend_once(params)
            except Exception as exc:  # noqa: BLE001 - tenacity decides, as in `send`
                first = _FirstAttempt(exc, self._asend_once)
            retrying = AsyncRetrying(sleep=self._sleep_unless_stopping, **self._retry_policy(params))
            return await retrying(first.asend, params)
        except (openai.APIError, NotACompletion, Stopped) as exc:
            raise self._final_error(exc, params) from exc

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        """A backoff that ends early when the run stops."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, STOP_POLL))

    def _final_error(self, exc: BaseException, params: dict[str, Any]) -> LLMError:
        """What a request that failed for good raises (`errors.final_error`)."""
        return final_error(exc, params, model=self.model, server=self.server, attempts=self.max_retries + 1)

    def _count_call(self) -> None:
        """Before a request: count it, unless the run is stopping or the server is unreachable."""
        with self._lock:
            if self.stopping.is_set():
                raise Stopped("the run was interrupted before this request was sent")
            self.calls += 1
            if self._unreachable >= self.unreachable_after:
                raise self._unreachable_error()

    def _reply_seen(self, exc: BaseException | None) -> RateInfo | None:
        """After a request: track connection errors in a row; what an error reply said about rate limits."""
        with self._lock:
            if isinstance(exc, openai.APIConnectionError):
                if no_connection(exc):
                    self._unreachable += 1
                    if self._unreachable >= self.unreachable_after:
                        raise self._unreachable_error() from exc
                return None
            self._unreachable = 0
        return rate_info(exc.status_code, exc.response.headers) if isinstance(exc, openai.APIStatusError) else None

    def _send_once(self, params: dict[str, Any]) -> Completion:
        """A single HTTP request through the gate; too many connection errors in a row stop the run."""
        self._count_call()
        sent_at = self.gate.acquire(self.stopping) if self.gate is not None else None
        if self.gate is not None and sent_at is None:
            raise Stopped("the run was interrupted before this request was sent")
        info: RateInfo | None = None
        try:
            started = time.perf_counter()
            response = self.sdk.post("/chat/completions", body=params, cast_to=httpx.Response)
            completion, info = read_reply(response, started)
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            info = self._reply_seen(exc)
            raise
        finally:
            if self.gate is not None and sent_at is not None:
                self.gate.release(sent_at, info)
        self._reply_seen(None)
        return completion

    async def _asend_once(self, params: dict[str, Any]) -> Completion:
        """`_send_once` on the event loop, through the same gate."""
        self._count_call()
        sent_at = await self.gate.wait_turn(self.stopping) if self.gate is not None else None
        if self.gate is not None and sent_at is None:
            raise Stopped("the run was interrupted before this request was sent")
        info: RateInfo | None = None
        try:
            started = time.perf_counter()
            response = await self.async_sdk().post("/chat/completions", body=params, cast_to=httpx.Response)
            completion, info = read_reply(response, started)
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            info = self._reply_seen(exc)
            raise
        finally:
            if self.gate is not None and sent_at is not None:
                self.gate.release(sent_at, info)
        self._reply_seen(None)
        return completion

    def async_sdk(self) -> openai.AsyncOpenAI:
        """The async `openai` client of the running event loop (for `asend`), made on first use.

        Its HTTP transport is aiohttp (`openai[aiohttp]`): at 64 requests in flight it costs about a
        third less CPU per request than the default httpx one (BENCHMARKS.md).
        """
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            # aiohttp refuses credentials in the URL next to the API key's header: httpx takes those.
            aiohttp = "@" not in urlsplit(self.base_url or OPENAI_URL).netloc
            self._async = (loop, openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self.api_key or "not-needed", max_retries=0, timeout=self.timeout,
                http_client=openai.DefaultAioHttpClient(timeout=self.timeout) if aiohttp else None))
        return self._async[1]

    async def aclose(self) -> None:
        """Close the async client's connections (call on the loop that used it, before the loop ends)."""
        if self._async is not None and self._async[0] is asyncio.get_running_loop():
            await self._async[1].close()
        self._async = None

    def _unreachable_error(self) -> FatalLLMError:
        return FatalLLMError(
            f"cannot reach the LLM at {self.server} ({self._unreachable} connection errors in a row); start the "
            f"server or fix --base-url / OPENAI_BASE_URL")

    def list_models(self) -> list[str]:
        """Model ids the server offers."""
        try:
            return [m.id for m in self.sdk.models.list()]
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"cannot reach the LLM server at {self.server} ({exc}); start it or fix --base-url"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMError(f"the LLM server at {self.server} cannot list models (HTTP {exc.status_code}); "
                           "pass --model") from exc
