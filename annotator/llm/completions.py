"""Chat-completion replies as plain data: the answer, its token counts, and the JSON inside it (no I/O)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass
class Completion:
    """One answer from the server (or the cache)."""

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_ms: int = 0
    cached: bool = False
    logprobs: list[dict] | None = None
    """The answer's tokens: {"token", "logprob", "bytes"} each, when the server sent them."""

    def to_cache(self) -> str:
        """JSON stored in the cache table (with the log-probabilities, when there are some)."""
        blob: dict[str, Any] = {"content": self.content, "prompt_tokens": self.prompt_tokens,
                                "completion_tokens": self.completion_tokens, "finish_reason": self.finish_reason}
        if self.logprobs is not None:
            blob["logprobs"] = self.logprobs
        return json.dumps(blob)

    @classmethod
    def from_cache(cls, blob: str) -> Completion:
        """Rebuild a cached answer; it cost nothing this time."""
        return cls(**json.loads(blob), latency_ms=0, cached=True)


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
        logprobs=token_logprobs(choice.get("logprobs")),
    )


def token_logprobs(logprobs: Any) -> list[dict] | None:
    """`choices[0].logprobs.content` as {"token", "logprob", "bytes"} items (alternatives left out), or None."""
    items = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(items, list) or not items:
        return None
    tokens = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            return None
        logprob = item.get("logprob")
        token = {"token": item["token"], "logprob": float(logprob) if isinstance(logprob, int | float) else 0.0}
        if isinstance(item.get("bytes"), list):
            token["bytes"] = item["bytes"]
        tokens.append(token)
    return tokens


def parse_json(content: str) -> Any:
    """The JSON value in a reply, tolerating code fences and chatter around one object."""
    text = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL) if "```" in text else None
    if fence:
        text = fence.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            return json.loads(text[start:end + 1])
        raise
