"""Checks for the OpenAI-compatible stub server, driven by the real openai client."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from tests.support.stub_llm import StubLLM

MESSAGES: list[Any] = [{"role": "user", "content": "Say something in JSON."}]


def make_client(stub: StubLLM, timeout: float = 5.0) -> openai.OpenAI:
    """Build a non-retrying openai client aimed at the stub."""
    return openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0, timeout=timeout)


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    """Send one chat completion with default messages and model."""
    kwargs.setdefault("model", "my-model")
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**kwargs)


def test_normal_reply_and_shape() -> None:
    """A dict reply is serialized as message content with usage and the echoed model."""
    with StubLLM(responder=lambda body: {"entities": []}, seed=0) as stub:
        assert stub.base_url == f"http://127.0.0.1:{stub.port}/v1"
        resp = chat(make_client(stub))
        assert resp.object == "chat.completion"
        assert resp.model == "my-model"
        choice = resp.choices[0]
        assert choice.message.role == "assistant"
        assert json.loads(choice.message.content or "") == {"entities": []}
        assert choice.finish_reason == "stop"
        assert resp.usage is not None and resp.usage.prompt_tokens >= 1
        assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
        assert stub.requests[0]["model"] == "my-model"
        assert stub.calls == 1


def test_models_and_health() -> None:
    """GET /v1/models lists "stub" and /health answers ok."""
    with StubLLM() as stub:
        assert [m.id for m in make_client(stub).models.list()] == ["stub"]
        root = stub.base_url.removesuffix("/v1")
        with urllib.request.urlopen(f"{root}/health", timeout=2) as r:
            assert json.loads(r.read()) == {"status": "ok"}
        assert stub.calls == 0


def test_default_and_enqueue_order() -> None:
    """Scripted replies come out FIFO, then the default responder answers "{}"."""
    with StubLLM() as stub:
        client = make_client(stub)
        stub.enqueue("first", {"n": 2})
        got = [chat(client).choices[0].message.content for _ in range(3)]
        assert got == ["first", '{"n": 2}', "{}"]


def test_429_carries_retry_after() -> None:
    """A scripted 429 raises RateLimitError with a parseable Retry-After header."""
    with StubLLM(retry_after=0.05) as stub:
        client = make_client(stub)
        stub.enqueue("kept")
        stub.enqueue_fault("429")
        with pytest.raises(openai.RateLimitError) as info:
            chat(client)
        assert float(info.value.response.headers["retry-after"]) == pytest.approx(0.05)
        # the fault did not consume the scripted reply
        assert chat(client).choices[0].message.content == "kept"
        assert stub.counts["429"] == 1 and stub.counts["ok"] == 1


def test_500_raises_internal_server_error() -> None:
    """A scripted 500 raises InternalServerError."""
    with StubLLM() as stub:
        stub.enqueue_fault("500")
        with pytest.raises(openai.InternalServerError):
            chat(make_client(stub))
        assert stub.counts["500"] == 1


def test_timeout_raises_api_timeout_error() -> None:
    """A timeout fault outlasts the client timeout; the connection pool still works after."""
    with StubLLM(timeout_sleep=60.0) as stub:  # answered after a minute: only the client's timeout raises
        client = make_client(stub, timeout=0.5)
        stub.enqueue_fault("timeout")
        with pytest.raises(openai.APITimeoutError):
            chat(client)
        assert chat(client).choices[0].message.content == "{}"
        assert stub.counts["timeout"] == 1


def test_truncated_and_invalid() -> None:
    """Truncated answers are the reply cut in half; invalid answers are off-schema JSON."""
    with StubLLM(responder=lambda body: {"entities": [{"text": "Paris"}]}) as stub:
        client = make_client(stub)
        stub.enqueue_fault("truncated", "invalid")
        full = json.dumps({"entities": [{"text": "Paris"}]})
        cut = chat(client).choices[0]
        assert cut.message.content == full[: len(full) // 2]
        assert cut.finish_reason == "length"
        assert json.loads(chat(client).choices[0].message.content or "") == {"unexpected": True}
        assert stub.counts["truncated"] == 1 and stub.counts["invalid"] == 1


def test_reject_json_schema_but_allow_json_object() -> None:
    """A rejected json_schema mode gives BadRequestError; json_object still passes."""
    with StubLLM(reject_modes={"json_schema"}) as stub:
        client = make_client(stub)
        schema = {"name": "x", "schema": {"type": "object"}}
        with pytest.raises(openai.BadRequestError) as info:
            chat(client, response_format={"type": "json_schema", "json_schema": schema})
        assert "json_schema is not supported" in str(info.value)
        resp = chat(client, response_format={"type": "json_object"})
        assert resp.choices[0].message.content == "{}"
        assert stub.counts["rejected"] == 1 and stub.counts["ok"] == 1


def test_tools_mode_returns_tool_calls() -> None:
    """A forced function tool is answered with tool_calls arguments, content null."""
    tool = {
        "type": "function",
        "function": {"name": "annotate", "parameters": {"type": "object", "properties": {}}},
    }
    with StubLLM(responder=lambda body: {"label": "EVENT"}) as stub:
        client = make_client(stub)
        resp = chat(
            client,
            tools=[tool],
            tool_choice={"type": "function", "function": {"name": "annotate"}},
        )
        choice = resp.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        calls = choice.message.tool_calls or []
        assert len(calls) == 1
        assert calls[0].function.name == "annotate"
        assert json.loads(calls[0].function.arguments) == {"label": "EVENT"}
        stub.enqueue_fault("invalid")
        resp = chat(client, tools=[tool])  # a single tool is enough to force it
        args = (resp.choices[0].message.tool_calls or [])[0].function.arguments
        assert json.loads(args) == {"unexpected": True}


def test_reject_tools_mode() -> None:
    """reject_modes={"tools"} turns any request with tools into HTTP 400."""
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with StubLLM(reject_modes={"tools"}) as stub, pytest.raises(openai.BadRequestError):
        chat(make_client(stub), tools=[tool])


def test_random_faults_are_seeded_and_counted() -> None:
    """Random faults follow the seed, every outcome is counted, and reset clears records."""

    def run(seed: int) -> list[str]:
        """Send 40 requests and return their outcome names."""
        outcomes = []
        with StubLLM(seed=seed, p429=0.2, p500=0.2, p_invalid=0.2) as stub:
            client = make_client(stub)
            for _ in range(40):
                try:
                    content = chat(client).choices[0].message.content
                    outcomes.append("invalid" if content != "{}" else "ok")
                except openai.RateLimitError:
                    outcomes.append("429")
                except openai.InternalServerError:
                    outcomes.append("500")
            assert stub.calls == 40
            assert sum(stub.counts.values()) == 40
            assert {k: v for k, v in stub.counts.items() if v} == {
                k: outcomes.count(k) for k in set(outcomes)
            }
            stub.reset()
            assert stub.calls == 0 and not stub.counts
        return outcomes

    first = run(1)
    assert first == run(1)
    assert {"ok", "429", "500", "invalid"} <= set(first)


def test_concurrent_requests_do_not_serialize() -> None:
    """20 concurrent requests with 0.5 s latency are answered side by side, not one after another."""
    with StubLLM(latency=0.5) as stub:
        client = make_client(stub)
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda _: chat(client), range(20)))
        assert len(results) == 20
        assert stub.most_in_flight >= 10  # a serialising server would never hold two at once
        assert stub.counts["ok"] == 20 and stub.in_flight == 0
