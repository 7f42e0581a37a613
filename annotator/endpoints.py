"""Which LLM server and which Label Studio to use: flags, then environment, then the managed local servers.

The environment is read only through `annotator.settings`; this module adds the
last resort (the embedded llama.cpp server, the managed Label Studio) and the
model lookup. Messages name servers through `redact_url`, never with credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InputError, LabelStudioError, LLMError
from .settings import (
    OPENAI_DEFAULT_MODEL,
    LabelStudioSettings,
    labelstudio_settings,
    llm_settings,
    redact_url,
)

NO_LLM = ("no LLM configured; set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (any OpenAI-compatible "
          "server), or run `annotator llm start` for the embedded SmolLM2 server")
SMOLLM_WARNING = (
    "Using the embedded SmolLM2-135M model: it is tiny and its drafts are poor, a demonstration only. "
    "For real work set OPENAI_API_KEY (and ANNOTATOR_MODEL), or OPENAI_BASE_URL for a bigger local server."
)
NO_LABELSTUDIO = ("Label Studio is not running; run `annotator labelstudio start`, or set "
                  "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for your own server")


@dataclass(frozen=True)
class LLMTarget:
    """The LLM server to draft with. `base_url` None means OpenAI; `api_key` is never printed."""

    base_url: str | None
    api_key: str | None = field(repr=False)
    model: str
    embedded: bool  # the tiny embedded SmolLM2 model (its drafts are poor)

    @property
    def where(self) -> str:
        """The server for messages: its URL without credentials, or 'OpenAI'."""
        return redact_url(self.base_url) or "OpenAI"


def offered_models(base_url: str, api_key: str | None) -> list[str]:
    """The models an OpenAI-compatible server lists."""
    from .llm import LLMClient

    return LLMClient(base_url=base_url, api_key=api_key, model="", timeout=60).list_models()


def pick_model(base_url: str | None, api_key: str | None) -> str:
    """The model when none is named: OpenAI's default, or the one model the server offers."""
    if base_url is None:
        return OPENAI_DEFAULT_MODEL
    offered = offered_models(base_url, api_key)
    if len(offered) != 1:
        raise InputError(f"pick a model with --model or ANNOTATOR_MODEL; the server offers: "
                         f"{', '.join(offered) or 'none'}")
    return offered[0]


def resolve_llm(base_url: str | None = None, model: str | None = None) -> LLMTarget:
    """The LLM from flags, then OPENAI_BASE_URL / OPENAI_API_KEY / ANNOTATOR_MODEL, then the embedded server."""
    from .services.llamacpp import MODEL_ALIAS, LocalLLMServer

    chosen = llm_settings(base_url, model)
    url, key, name = chosen.base_url, chosen.api_key, chosen.model
    local = False
    if url is None and key is None:
        info = LocalLLMServer().status()
        if info is None:
            raise LLMError(NO_LLM)
        url, local = info.url, True
        name = name or info.model
    name = name or pick_model(url, key)
    return LLMTarget(base_url=url, api_key=key, model=name, embedded=local or name == MODEL_ALIAS)


def resolve_labelstudio(url: str | None = None) -> LabelStudioSettings:
    """Label Studio from the flag, then LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY, then the managed server.

    The result always has both a URL and a key.
    """
    chosen = labelstudio_settings(url)
    if chosen.url and chosen.api_key:
        return chosen
    if chosen.url:
        raise LabelStudioError(f"no API key for {redact_url(chosen.url)}; set LABEL_STUDIO_API_KEY "
                               "(Label Studio: Account & Settings > Personal Access Token)")
    from .services.labelstudio import LabelStudioServer

    info = LabelStudioServer().status()
    if info is None:
        raise LabelStudioError(NO_LABELSTUDIO)
    return LabelStudioSettings(url=info.url, api_key=info.token)
