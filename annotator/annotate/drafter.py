"""Drafting one sentence: the cache, the LLM, a bounded re-ask with the validation error, span grounding."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from ..confidence.signals import draft_signals
from ..errors import InputError
from ..kinds.relations import ground_relation_fields
from ..llm.cachekeys import RequestKeys
from ..llm.completions import Completion, parse_json
from ..llm.errors import FatalLLMError, LogprobsRefused, ModeRejected, Stopped, TransportFailed
from ..llm.modes import MODES
from ..prompts import Prompt
from ..schema import Schema
from ..spans import ground
from ..store import DraftStatus, content_id, dumps, now
from .jobs import Job


@dataclass
class Outcome:
    """A finished draft row, and the fresh answers to keep in the cache with it."""

    row: dict[str, Any]
    cache_entries: list[dict[str, Any]]


class DraftClient(Protocol):
    """What the drafter needs of a client: `LLMClient`, or a stand-in that answers from elsewhere (a batch)."""

    logprobs: bool
    """Ask for log-probabilities; the drafter sets it False when the server refuses them."""

    @property
    def model(self) -> str: ...

    @property
    def samples(self) -> int: ...

    @property
    def sample_temperature(self) -> float: ...

    @property
    def run_key(self) -> str: ...

    def run_settings(self) -> dict[str, Any]: ...

    def request_keys(self, mode: str, schema: dict) -> RequestKeys: ...

    def params(self, mode: str, messages: list[dict], schema: dict, sample: int | None = None) -> dict[str, Any]: ...

    def send(self, params: dict[str, Any]) -> Completion: ...

    async def asend(self, params: dict[str, Any]) -> Completion: ...


class ModeResolver:
    """The structured-output mode in use; in auto mode it falls back when the server refuses one."""

    def __init__(self, requested: str, remembered: str | None) -> None:
        if requested != "auto" and requested not in MODES:
            raise InputError(f"unknown mode {requested!r}; use auto, {', '.join(MODES)}")
        self.auto = requested == "auto"
        self.mode = remembered if (self.auto and remembered in MODES) else (MODES[0] if self.auto else requested)
        self._lock = threading.Lock()

    def fallback(self, failed: str, reason: str) -> str:
        """Move past a refused mode (once, however many threads saw the refusal)."""
        with self._lock:
            if self.mode == failed:
                if not self.auto:
                    raise FatalLLMError(f"the LLM server refused --mode {failed} ({reason}); use --mode auto")
                index = MODES.index(failed)
                if index + 1 >= len(MODES):
                    raise FatalLLMError(f"the LLM server refused every structured-output mode ({reason})")
                self.mode = MODES[index + 1]
            return self.mode


def draft_id(sentence_id: str, schema_hash: str, prompt_version: str, model: str, run_key: str) -> str:
    """A draft's content id: its key, nothing else (a schema's name is not part of its identity)."""
    return content_id("draft", sentence_id, schema_hash, prompt_version, model, run_key)


def validate_reply(content: str, finish_reason: str | None, schema: Schema) -> tuple[dict | None, str | None]:
    """(the validated answer as JSON data, None) or (None, what is wrong with it, in words for a re-ask)."""
    try:
        instance = schema.model.model_validate(parse_json(content))
    except json.JSONDecodeError as exc:
        cut = " (the reply was cut off: keep it shorter)" if finish_reason == "length" else ""
        return None, f"the reply is not valid JSON: {exc.msg} at position {exc.pos}{cut}"
    except ValidationError as exc:
        return None, "the JSON does not match the schema: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:10])
    return instance.model_dump(mode="json"), None


def reask(messages: list[dict], content: str, problem: str) -> list[dict]:
    """The conversation with the rejected reply and the reason it was rejected appended."""
    return [*messages, {"role": "assistant", "content": content},
            {"role": "user", "content": f"Your reply was rejected: {problem}. "
                                        "Reply again with only the corrected JSON object."}]


class Drafter:
    """Drafts one sentence: `steps` is the exchange as plain data, `draft` and `adraft` send its requests."""

    def __init__(self, client: DraftClient, schema: Schema, prompt: Prompt, resolver: ModeResolver,
                 cache_lookup: Callable[[str], str | None], max_reasks: int = 2) -> None:
        self.client, self.schema, self.prompt, self.resolver = client, schema, prompt, resolver
        self.cache_lookup = cache_lookup
        self.max_reasks = max_reasks
        self.llm_schema = schema.llm_json_schema()
        self.settings = dumps(client.run_settings())
        self.run_key = client.run_key
        self._request_keys: dict[str, RequestKeys] = {}

    def _keys(self, mode: str) -> RequestKeys:
        """The cache keys of this mode's requests (`LLMClient.cache_key`, the constant part made once)."""
        keys = self._request_keys.get(mode)
        if keys is None:
            keys = self._request_keys[mode] = self.client.request_keys(mode, self.llm_schema)
        return keys

    def new_row(self, sentence_id: str, job: Job | None = None) -> dict[str, Any]:
        """A draft row that failed until told otherwise (with its retrieved examples' key and ids, if any)."""
        key = {"sentence_id": sentence_id, "schema_hash": self.schema.hash, "prompt_version": self.prompt.version,
               "model": self.client.model, "run_key": (job and job.run_key) or self.run_key}
        settings = self.settings if job is None or job.examples_info is None else dumps(
            {**self.client.run_settings(), "examples": job.examples_info})
        return {"id": draft_id(**key), **key, "schema_name": self.schema.name, "settings": settings,
                "mode": None, "status": DraftStatus.FAILED.value, "error": None, "data": None, "spans": None,
                "dropped_spans": None, "n_dropped": 0, "raw": None, "signals": None, "attempts": 0, "prompt_tokens": 0,
                "completion_tokens": 0, "latency_ms": 0, "cached": 1, "created_at": now()}

    def draft(self, job: Job) -> Outcome | None:
        """Draft one sentence, sending with the client's `send` (safe from several threads at once)."""
        steps = self.steps(job)
        try:
            request = next(steps)
            while True:
                try:
                    reply = self.client.send(request)
                except (TransportFailed, ModeRejected, LogprobsRefused) as exc:  # the exchange decides what follows
                    request = steps.throw(exc)
                else:
                    request = steps.send(reply)
        except StopIteration as finished:
            return finished.value

    async def adraft(self, job: Job) -> Outcome | None:
        """`draft` for a coroutine: the same exchange, awaiting the client's `asend`."""
        steps = self.steps(job)
        try:
            request = next(steps)
            while True:
                try:
                    reply = await self.client.asend(request)
                except (TransportFailed, ModeRejected, LogprobsRefused) as exc:
                    request = steps.throw(exc)
                else:
                    request = steps.send(reply)
        except StopIteration as finished:
            return finished.value

    def steps(self, job: Job) -> Generator[dict[str, Any], Completion, Outcome | None]:
        """The exchange for one sentence, without I/O but the cache lookup: yields each request to send and
        is sent its Completion (or thrown its TransportFailed / ModeRejected); returns the Outcome.

        Returns None when the run stopped before anything was sent for the sentence: nothing to store.
        Raises only what stops the run (FatalLLMError).
        """
        row, entries = self.new_row(job.sentence_id, job), []
        mode = self.resolver.mode
        example_ids = job.examples_info["ids"] if job.examples_info else None
        while True:
            messages = self.prompt.messages(self.schema, job.text, job.headline, job.before,
                                            include_schema=mode == "prompt", after=job.after, examples=job.examples)
            try:
                yield from self._exchange(mode, messages, job.text, row, entries, not job.retry, example_ids)
                break
            except LogprobsRefused:  # asked again without them; the run remembers it
                self.client.logprobs = False
                self._request_keys.clear()
            except ModeRejected as exc:
                mode = self.resolver.fallback(mode, str(exc))
            except TransportFailed as exc:
                if isinstance(exc, Stopped) and row["attempts"] == 0:
                    return None
                row.update(status=DraftStatus.FAILED.value, error=f"transport: {exc}")
                break
        row["mode"] = mode
        return Outcome(row, entries)

    def _complete(self, mode: str, messages: list[dict], entries: list[dict], use_cache: bool = True,
                  examples: list[str] | None = None) -> Generator[dict[str, Any], Completion, Completion]:
        """The cached answer to this exact request, or a fresh one (yielded for, and queued for the cache).

        Retrieved examples' gold ids are part of the key (their text already is, in the messages).
        """
        key = self._keys(mode).key(messages, {"_examples": examples} if examples else None)
        hit = self.cache_lookup(key) if use_cache else None
        if hit is not None:
            return Completion.from_cache(hit)
        completion = yield self.client.params(mode, messages, self.llm_schema)
        entries.append({"key": key, "model": self.client.model, "mode": mode,
                        "response": completion.to_cache(), "created_at": now()})
        return completion

    def _exchange(self, mode: str, messages: list[dict], sentence: str, row: dict, entries: list[dict],
                  use_cache: bool = True, examples: list[str] | None = None
                  ) -> Generator[dict[str, Any], Completion, None]:
        """Ask, validate, re-ask with the error (bounded), ground the spans, then ask the samples."""
        first_messages = messages
        for _ in range(self.max_reasks + 1):
            completion = yield from self._complete(mode, messages, entries, use_cache, examples)
            row["attempts"] += 1
            row["prompt_tokens"] += completion.prompt_tokens
            row["completion_tokens"] += completion.completion_tokens
            row["latency_ms"] += completion.latency_ms
            row["cached"] = int(row["cached"] and completion.cached)
            row["raw"] = completion.content
            data, problem = validate_reply(completion.content, completion.finish_reason, self.schema)
            if data is not None:
                grounded, spans = self._ground(data, sentence, row)
                tokens_before = row["prompt_tokens"], row["completion_tokens"]
                samples = yield from self._samples(mode, first_messages, entries, row, use_cache, examples)
                signals = draft_signals(
                    self.schema.fields, data, spans, completion.content, completion.logprobs,
                    samples if self.client.samples else None, grounded=grounded,
                    first_attempt_valid=row["attempts"] == 1, reasks=row["attempts"] - 1)
                if self.client.samples:  # what the samples cost, inside the draft's tokens
                    signals["sample_prompt_tokens"] = row["prompt_tokens"] - tokens_before[0]
                    signals["sample_completion_tokens"] = row["completion_tokens"] - tokens_before[1]
                row["signals"] = dumps(signals)
                return
            row.update(status=DraftStatus.INVALID.value, error=problem)
            messages = reask(messages, completion.content, problem or "")

    def _samples(self, mode: str, messages: list[dict], entries: list[dict], row: dict, use_cache: bool,
                 examples: list[str] | None) -> Generator[dict[str, Any], Completion, list[dict | None]]:
        """The K sampled answers to the first request (validated data, None where invalid); their tokens count
        in the draft's. A transport failure or a stop ends the sampling with the answers so far."""
        found: list[dict | None] = []
        for i in range(self.client.samples):
            extra = {"_examples": examples, "_sample": i, "_sample_temperature": self.client.sample_temperature}
            key = self._keys(mode).key(messages, extra)
            hit = self.cache_lookup(key) if use_cache else None
            if hit is not None:
                completion = Completion.from_cache(hit)
            else:
                try:
                    completion = yield self.client.params(mode, messages, self.llm_schema, sample=i)
                except TransportFailed:
                    break
                entries.append({"key": key, "model": self.client.model, "mode": mode,
                                "response": completion.to_cache(), "created_at": now()})
            row["prompt_tokens"] += completion.prompt_tokens
            row["completion_tokens"] += completion.completion_tokens
            found.append(validate_reply(completion.content, completion.finish_reason, self.schema)[0])
        return found

    def _ground(self, data: dict, sentence: str, row: dict) -> tuple[float, list[dict]]:
        """Keep only spans (and relations with both ends) found in the sentence; count and keep the rest aside.

        Returns the share of the spans and relations the answer gave that were found (1.0 when it gave none),
        and the grounded spans (as stored in the row's `spans`).
        """
        returned = sum(len(data.get(spec.name) or []) for spec in self.schema.fields
                       if spec.kind in ("spans", "relations"))
        spans, dropped = [], []
        for spec in self.schema.span_fields():
            found, kept, lost = ground(sentence, spec.name, data.get(spec.name) or [])
            # Canonical order (by offset, then label) so drafts and gold compare item by item.
            pairs = sorted(zip(found, kept, strict=True), key=lambda p: (p[0].start, p[0].end, p[0].label))
            data[spec.name] = [item for _, item in pairs]
            spans.extend(span.as_dict() for span, _ in pairs)
            dropped.extend({"field": spec.name, **item} for item in lost)
        ends, lost_relations = ground_relation_fields(self.schema.fields, data, sentence)  # both ends, or dropped
        spans, dropped = spans + ends, dropped + lost_relations
        row.update(status=DraftStatus.OK.value, error=None, data=dumps(data), spans=dumps(spans),
                   dropped_spans=dumps(dropped), n_dropped=len(dropped))
        return (1.0 if not returned else (returned - len(dropped)) / returned), spans
