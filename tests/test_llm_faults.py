"""The LLM client against servers that misbehave: unreachable, unknown model, garbage 200 replies."""

from __future__ import annotations

import asyncio

import openai
import pytest

from annotator.llm import FatalLLMError, LLMClient, TransportFailed
from annotator.llm.completions import not_a_completion
from tests.support.stub_llm import StubLLM

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
MESSAGES = [{"role": "user", "content": "Sentence: x"}]


def client(base_url: str, **kw) -> LLMClient:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5)
    return LLMClient(base_url=base_url, api_key="sk-test", model="stub", **kw)


def test_unreachable_server_stops_after_five_connection_errors() -> None:
    llm = client("http://user:secret@127.0.0.1:1/v1", max_retries=50)
    with pytest.raises(FatalLLMError) as err:
        llm.send(llm.params("json_schema", MESSAGES, SCHEMA))
    assert llm.calls == 5  # the fifth refused attempt stops the run: no sixth, no backoff
    assert str(err.value) == ("cannot reach the LLM at http://127.0.0.1:1/v1 (5 connection errors in a row); "
                              "start the server or fix --base-url / OPENAI_BASE_URL")
    assert "secret" not in str(err.value)


# aiohttp takes a plain URL; credentials in the URL keep httpx (aiohttp refuses them next to the key's header).
TRANSPORTS = pytest.mark.parametrize("userinfo, aiohttp", [("", True), ("user:secret@", False)],
                                     ids=["aiohttp", "httpx"])


def _asend(llm: LLMClient) -> tuple[BaseException, bool]:
    """What `asend` raised, and whether the async client it used runs on aiohttp."""
    async def go() -> tuple[BaseException, bool]:
        try:
            await llm.asend(llm.params("prompt", MESSAGES, SCHEMA))
        except Exception as exc:  # noqa: BLE001 - the caller checks the type
            return exc, isinstance(llm.async_sdk()._client, openai.DefaultAioHttpClient)
        finally:
            await llm.aclose()
        raise AssertionError("the request did not fail")
    return asyncio.run(go())


@TRANSPORTS
def test_unreachable_server_stops_the_async_client_on_either_transport(userinfo: str, aiohttp: bool) -> None:
    # aiohttp reports a refused connection as APITimeoutError; it is still a connection error.
    llm = client(f"http://{userinfo}127.0.0.1:1/v1", max_retries=8)
    error, on_aiohttp = _asend(llm)
    assert on_aiohttp is aiohttp
    assert isinstance(error, FatalLLMError) and llm.calls == 5
    assert str(error).startswith("cannot reach the LLM at http://127.0.0.1:1/v1 (5 connection errors in a row)")


@pytest.mark.slow
@TRANSPORTS
def test_a_live_server_slower_than_the_timeout_is_a_timeout_not_unreachable(userinfo: str, aiohttp: bool) -> None:
    with StubLLM(latency=3) as stub:
        llm = client(stub.base_url.replace("http://", f"http://{userinfo}"), timeout=0.3, max_retries=5)
        error, on_aiohttp = _asend(llm)
    assert on_aiohttp is aiohttp
    assert isinstance(error, TransportFailed) and str(error).startswith("timeout after 6 attempts")
    assert llm.calls == 6 and llm._unreachable == 0


def test_a_reply_resets_the_count_of_connection_errors() -> None:
    with StubLLM(responder=lambda body: '{"a": "b"}') as stub:
        llm = client(stub.base_url)
        llm._unreachable = 4
        assert llm.send(llm.params("prompt", MESSAGES, SCHEMA)).content == '{"a": "b"}'
        assert llm._unreachable == 0


@pytest.mark.parametrize("fault", ["unknown_model", "404"])
def test_unknown_model_is_fatal_not_a_mode_refusal(fault: str) -> None:
    with StubLLM() as stub:
        stub.enqueue_fault(fault)
        llm = client(stub.base_url)
        with pytest.raises(FatalLLMError, match=r"^the LLM server has no model 'stub'"):
            llm.send(llm.params("json_schema", MESSAGES, SCHEMA))
        assert stub.calls == 1


@pytest.mark.parametrize("fault", ["html", "no_choices"])
def test_garbage_200_is_retried_as_a_transport_fault(fault: str) -> None:
    with StubLLM(responder=lambda body: '{"a": "ok"}') as stub:
        stub.enqueue_fault(fault)
        llm = client(stub.base_url)
        assert llm.send(llm.params("prompt", MESSAGES, SCHEMA)).content == '{"a": "ok"}'
        assert stub.counts[fault] == 1 and stub.counts["ok"] == 1


def test_garbage_200_every_time_fails_with_the_reason() -> None:
    with StubLLM() as stub:
        stub.enqueue_fault("html", "html", "html")
        llm = client(stub.base_url, max_retries=2)
        with pytest.raises(TransportFailed, match=r"the reply is not a chat completion \(got str '<!doctype html>"):
            llm.send(llm.params("prompt", MESSAGES, SCHEMA))
        assert stub.counts["html"] == 3


@pytest.mark.parametrize("path", ["send", "asend"])
def test_the_first_attempt_counts_among_the_retries_on_both_paths(path: str) -> None:
    # The first attempt is made before tenacity is set up: a failure of it is tenacity's first attempt.
    def ask(llm: LLMClient) -> str:
        params = llm.params("prompt", MESSAGES, SCHEMA)
        if path == "send":
            return llm.send(params).content

        async def go() -> str:
            try:
                return (await llm.asend(params)).content
            finally:
                await llm.aclose()
        return asyncio.run(go())

    with StubLLM(responder=lambda body: '{"a": "ok"}') as stub:
        stub.enqueue_fault("500", "500")
        llm = client(stub.base_url, max_retries=1)
        with pytest.raises(TransportFailed, match=r"after 2 attempts"):
            ask(llm)
        assert stub.counts["500"] == 2 and llm.calls == 2  # 1 + max_retries, no more
        stub.enqueue_fault("500")
        assert ask(llm) == '{"a": "ok"}' and llm.calls == 4  # failed once, answered on the retry
        assert ask(llm) == '{"a": "ok"}' and llm.calls == 5  # answered at once


def test_not_a_completion_shapes() -> None:
    assert not_a_completion({"choices": [{"message": {"content": "x"}}]}) is None
    assert not_a_completion({"choices": []}) == "no choices"
    assert not_a_completion({"object": "error"}) == "no choices"
    assert not_a_completion({"choices": [{"text": "legacy"}]}) == "no message in the first choice"
    assert not_a_completion("<html>") == "got str '<html>'"


def test_the_client_repr_holds_no_secret() -> None:
    text = repr(client("http://user:pw-secret@10.0.0.1:8000/v1"))
    assert "pw-secret" not in text and "sk-test" not in text
