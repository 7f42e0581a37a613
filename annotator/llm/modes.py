"""Structured-output modes and the request each one sends (pure: no HTTP client is imported here)."""

from __future__ import annotations

from typing import Any

MODES = ("json_schema", "json_object", "tools", "prompt")
"""Tried in this order when the mode is auto; the CLI's --mode choices."""
TOOL_NAME = "annotate"


def request_params(mode: str, model: str, messages: list[dict], schema: dict, *,
                   temperature: float, max_tokens: int, seed: int | None, logprobs: bool = False) -> dict[str, Any]:
    """Keyword arguments for chat.completions.create in the given structured-output mode.

    With `logprobs` the answer's tokens come back with their log-probabilities (the draft's signals).
    """
    params: dict[str, Any] = {"model": model, "messages": messages, "temperature": temperature,
                              "max_tokens": max_tokens}
    if seed is not None:
        params["seed"] = seed
    if logprobs:  # llama-cpp-python's server sends them only when top_logprobs is asked too
        params["logprobs"], params["top_logprobs"] = True, 1
    if mode == "json_schema":
        params["response_format"] = {"type": "json_schema",
                                     "json_schema": {"name": TOOL_NAME, "schema": schema, "strict": True}}
    elif mode == "json_object":
        # llama-cpp-python's server turns this schema into a grammar; others ignore it.
        params["response_format"] = {"type": "json_object", "schema": schema}
    elif mode == "tools":
        params["tools"] = [{"type": "function", "function": {
            "name": TOOL_NAME, "description": "Record the annotation of the sentence.", "parameters": schema}}]
        params["tool_choice"] = {"type": "function", "function": {"name": TOOL_NAME}}
    elif mode != "prompt":
        raise ValueError(f"unknown mode {mode!r}")
    return params
