"""The OpenAI Batch API through the `openai` client: upload a request file, create, poll, read results.

A pure part reads result lines into (custom_id, cached completion, error); the edge
turns the SDK's errors into one-line `LLMError`s that say what to do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from ..errors import LLMError
from ..llm import LLMClient
from ..llm.completions import completion_from_response, not_a_completion

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
METADATA_KEY = "annotator_batch"
"""Our id of a batch, sent as metadata: a batch created just before a crash is found by it."""
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
MAX_REQUESTS = 50_000
MAX_BYTES = 190 * 1024 * 1024
"""OpenAI's limits for one batch: 50,000 requests and 200 MB of input."""


class BatchRefused(LLMError):
    """The server answered a Batch API call with an error (so it did not do what was asked)."""


@dataclass(frozen=True)
class BatchState:
    """What the server says about a batch."""

    provider_id: str
    status: str
    done: int  # requests completed
    failed: int
    total: int
    output_file_id: str | None
    error_file_id: str | None
    error: str | None  # why the whole batch failed

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def request_line(custom_id: str, params: dict[str, Any]) -> str:
    """One line of a batch input file."""
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": params},
                      ensure_ascii=False, separators=(",", ":"))


def read_result_line(text: str) -> tuple[str, str | None, str | None] | None:
    """`read_result` of one line of text; None when the line cannot be read (not a JSON object, or it names
    no request: its custom_id is not a string)."""
    try:
        line = json.loads(text)
    except ValueError:
        return None
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        return None
    return read_result(line)  # type: ignore[return-value]


def read_result(line: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(custom_id, the answer as a cache blob, why it failed) from one line of an output or error file."""
    custom_id = line.get("custom_id")
    response = line.get("response") if isinstance(line.get("response"), dict) else None
    error = line.get("error") if isinstance(line.get("error"), dict) else None
    if error is not None:
        return custom_id, None, f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip()
    if response is None:
        return custom_id, None, "no response in the batch result"
    status, body = response.get("status_code"), response.get("body")
    if status != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) and isinstance(
            body.get("error"), dict) else body
        return custom_id, None, f"HTTP {status}: {' '.join(str(message).split())[:300]}"
    problem = not_a_completion(body)
    if problem:
        return custom_id, None, f"the reply is not a chat completion ({problem})"
    return custom_id, completion_from_response(body).to_cache(), None


def batch_state(batch: Any) -> BatchState:
    """A BatchState from the SDK's Batch object."""
    counts = batch.request_counts
    errors = getattr(batch.errors, "data", None) or []
    error = "; ".join(f"{e.code}: {e.message}" for e in errors[:3]) or None
    return BatchState(batch.id, batch.status, counts.completed if counts else 0, counts.failed if counts else 0,
                      counts.total if counts else 0, batch.output_file_id, batch.error_file_id, error)


class BatchAPI:
    """The Batch API of the client's server (OpenAI's, or a server that copies it)."""

    def __init__(self, client: LLMClient) -> None:
        self.server = client.server
        self.sdk = client.sdk

    def _error(self, what: str, exc: Exception) -> LLMError:
        """One line naming the server, what failed and the fix."""
        if isinstance(exc, openai.APIStatusError):
            hint = ("; the server may not offer the Batch API (OpenAI does; llama.cpp and vLLM do not): drop --batch"
                    if exc.status_code in (404, 405) else "")
            return BatchRefused(f"the Batch API at {self.server} refused to {what} (HTTP {exc.status_code}: "
                                f"{' '.join(str(exc.message).split())[:200]}){hint}")
        return LLMError(f"cannot reach the Batch API at {self.server} to {what} ({exc}); check the network and "
                        "run the same command again: running batches are picked up")

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        """Run one SDK call; its failure becomes one line."""
        try:
            return action()
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise self._error(what, exc) from exc

    def upload(self, path: Path) -> str:
        """Upload a request file; its file id."""
        with path.open("rb") as fh:
            return self._call("upload the requests", lambda: self.sdk.files.create(
                file=(path.name, fh, "application/jsonl"), purpose="batch")).id

    def create(self, input_file_id: str, local_id: str) -> BatchState:
        """Start a batch over an uploaded file, tagged with our id."""
        return batch_state(self._call("create a batch", lambda: self.sdk.batches.create(
            input_file_id=input_file_id, endpoint=ENDPOINT, completion_window=WINDOW,
            metadata={METADATA_KEY: local_id})))

    def state(self, provider_id: str) -> BatchState:
        """The batch's current state."""
        return batch_state(self._call(f"report on batch {provider_id}", lambda: self.sdk.batches.retrieve(provider_id)))

    def find(self, local_id: str, limit: int = 1000) -> BatchState | None:
        """The batch tagged with our id among the newest `limit`, if the server has it."""
        def search() -> Any:
            for n, batch in enumerate(self.sdk.batches.list(limit=100)):
                if (batch.metadata or {}).get(METADATA_KEY) == local_id:
                    return batch
                if n + 1 >= limit:
                    return None
            return None
        found = self._call("list batches", search)
        return batch_state(found) if found is not None else None

    def results(self, file_id: str) -> Iterator[str]:
        """The lines of an output or error file, as text, read as they stream in (blank lines skipped)."""
        try:
            with self.sdk.files.with_streaming_response.content(file_id) as response:
                for line in response.iter_lines():
                    if line.strip():
                        yield line
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise self._error(f"read the results in file {file_id}", exc) from exc

    def wait(self, provider_id: str, interval: float, on_state: Callable[[BatchState], None],
             sleep: Callable[[float], None] = time.sleep) -> BatchState:
        """Poll until the batch ends; a dropped connection is retried (the batch runs on at the server)."""
        failures = 0
        while True:
            try:
                state = self.state(provider_id)
                failures = 0
            except LLMError:
                failures += 1
                if failures > 10:
                    raise
                sleep(min(interval * failures, 300))
                continue
            on_state(state)
            if state.terminal:
                return state
            sleep(interval)
