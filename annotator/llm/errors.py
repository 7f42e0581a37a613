"""What can go wrong talking to an LLM server: the error classes, and which class a failed request is.

The classification is pure (it reads an `openai` exception, sends nothing): a fault worth
a retry (`is_transient`), a refused structured-output mode (`is_mode_rejection`), refused
log-probabilities (`is_logprobs_refusal`), an unknown model, no connection at all
(`no_connection`); `final_error` is what a request that failed for good raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

import openai

from ..errors import LLMError
from .ratelimit import retry_after


class ModeRejected(LLMError):
    """The server refused the structured-output mode of the request."""


class LogprobsRefused(LLMError):
    """The server refused to send log-probabilities (the request is sent again without asking)."""


class TransportFailed(LLMError):
    """Transport faults persisted after every retry."""


class FatalLLMError(LLMError):
    """A failure no retry can fix (bad key, unknown model): the whole run stops."""


class Stopped(TransportFailed):
    """The run is stopping: no new request is sent (a draft that sent nothing is not stored)."""


class NotACompletion(Exception):
    """A 200 reply that is not an OpenAI chat completion (an HTML page, no choices): a transport fault."""


# A 400 whose message says one of these means "this server does not do this mode".
_MODE_REJECTION = re.compile(
    r"response_format|json_schema|json_object|schema|tool|function|grammar|not supported|unsupported|"
    r"not implemented|unrecognized|unknown",
    re.IGNORECASE,
)

_UNKNOWN_MODEL = re.compile(
    r"model.{0,80}(not found|does not exist|unknown|not available|no such|invalid)|"
    r"(unknown|invalid|no such|unsupported) model|model_not_found", re.IGNORECASE)


# Some servers answer an unsupported mode with a 5xx (llama-cpp-python: HTTP 500 with a pydantic
# literal_error on response_format.type); only these words make a 5xx a mode refusal.
_MODE_REJECTION_5XX = re.compile(r"response_format|json_schema|json_object|tool_choice|'tools'", re.IGNORECASE)


def is_mode_rejection(exc: BaseException, params: dict[str, Any]) -> bool:
    """Whether the server refused the request's structured-output mode (never worth a retry)."""
    if not isinstance(exc, openai.APIStatusError) or not ("tools" in params or "response_format" in params):
        return False
    if is_unknown_model(exc):
        return False
    msg = error_message(exc)
    if exc.status_code in (400, 422):
        return bool(_MODE_REJECTION.search(msg))
    return exc.status_code >= 500 and bool(_MODE_REJECTION_5XX.search(msg))


def is_logprobs_refusal(exc: BaseException, params: dict[str, Any]) -> bool:
    """Whether the server refused the request because it asked for log-probabilities (llama-cpp-python started
    without all logits answers HTTP 500 "logprobs is not supported ..."); never worth a retry."""
    if not isinstance(exc, openai.APIStatusError) or not params.get("logprobs"):
        return False
    return (exc.status_code in (400, 422) or exc.status_code >= 500) and "logprob" in error_message(exc).lower()


def is_unknown_model(exc: BaseException) -> bool:
    """Whether a 400/404 says the server does not know the model (a fatal error, not a mode refusal)."""
    return (isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 404, 422)
            and bool(_UNKNOWN_MODEL.search(error_message(exc))))


def is_transient(exc: BaseException) -> bool:
    """Faults worth retrying: rate limits, server errors, timeouts, dropped connections, garbage replies."""
    if isinstance(exc, openai.APIConnectionError | NotACompletion):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 425, 429) or exc.status_code >= 500
    return False


def is_retried(exc: BaseException, params: dict[str, Any]) -> bool:
    """Whether a failed attempt of this request is tried again: a transient fault that refuses nothing."""
    return is_transient(exc) and not is_mode_rejection(exc, params) and not is_logprobs_refusal(exc, params)


def no_connection(exc: openai.APIConnectionError) -> bool:
    """Whether no connection to the server was made (refused, reset, unknown host), not a slow answer.

    httpx reports a refused connection as APIConnectionError; aiohttp's transport reports it as
    APITimeoutError, whose cause is the refusal (aiohttp.ClientConnectorError, an OSError). A genuine
    timeout, on either transport, is a TimeoutError (an OSError too) or no OSError at all.
    """
    if not isinstance(exc, openai.APITimeoutError):
        return True
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, OSError) and not isinstance(link, TimeoutError):
            return True
        link = link.__cause__ or link.__context__
    return False


def asked_wait(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if any."""
    return retry_after(exc.response.headers) if isinstance(exc, openai.APIStatusError) else None


def error_message(exc: openai.APIStatusError) -> str:
    """The server's own error text, on one line."""
    body = exc.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    text = body if isinstance(body, str) else json.dumps(body) if body else str(exc)
    return " ".join(str(text).split())[:300]


def final_error(exc: BaseException, params: dict[str, Any], *, model: str, server: str, attempts: int) -> LLMError:
    """What a request that failed for good raises: fatal for the run, a mode refusal, or a failed draft."""
    if isinstance(exc, openai.APIStatusError):
        msg = error_message(exc)
        if exc.status_code in (401, 403):
            return FatalLLMError(
                f"the LLM server refused the API key (HTTP {exc.status_code}: {msg}); set OPENAI_API_KEY")
        if exc.status_code == 404 or is_unknown_model(exc):
            return FatalLLMError(
                f"the LLM server has no model {model!r} or no chat endpoint at {server} "
                f"(HTTP {exc.status_code}: {msg}); check --model and --base-url")
        if is_logprobs_refusal(exc, params):
            return LogprobsRefused(msg)
        if is_mode_rejection(exc, params):
            return ModeRejected(msg)
        if is_transient(exc):
            return TransportFailed(f"HTTP {exc.status_code} after {attempts} attempts: {msg}")
        return TransportFailed(f"HTTP {exc.status_code}: {msg}")
    if isinstance(exc, openai.APIConnectionError):
        kind = "connection error" if no_connection(exc) else "timeout"
        return TransportFailed(f"{kind} after {attempts} attempts: {exc}")
    if isinstance(exc, NotACompletion):
        return TransportFailed(f"{exc} after {attempts} attempts")
    if isinstance(exc, Stopped):
        return Stopped(str(exc))
    return TransportFailed(str(exc))
