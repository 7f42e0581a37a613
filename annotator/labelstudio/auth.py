"""The headers for a Label Studio API key: the one place that knows both kinds of key.

A legacy token (any key that is not a JWT) is sent as `Authorization: Token <key>`. A personal
access token (the default since Label Studio 1.2x, where legacy tokens must be switched on) is a
JWT refresh token: it is exchanged at `POST /api/token/refresh/ {"refresh": key}` for an access
token of a few minutes, sent as `Authorization: Bearer <access>`. `KeyAuth` (an httpx auth) asks
for a new access token shortly before the one it holds expires, and once more after a 401.

The label-studio-sdk 2.x makes the same exchange, but only on the access token's clock (never after
a 401), and it asks the refresh at the host's root (a server under a path prefix, such as
https://host/labelstudio, gets the wrong address). So every client here, the SDK's included
(`open_client`), authenticates through `KeyAuth`; the SDK's own key handling is bypassed.

A refused refresh is answered with the refresh's own 401 (`Token is expired`, `Token is
blacklisted`), which `refusal` turns into one line saying which and what to do. The key itself is
never put in a message.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx
import jwt

NEW_TOKEN = ("make a new one in Label Studio (Account & Settings > Personal Access Token) "
             "and set LABEL_STUDIO_API_KEY to it")
SDK_PLACEHOLDER = "annotator-KeyAuth"
"""What the SDK is given as its key: not a JWT, so the SDK refreshes nothing; KeyAuth replaces its header."""
EARLY = 30.0
"""Seconds before an access token expires when a new one is asked for."""


def claims(key: str) -> dict[str, Any] | None:
    """The claims of a JWT, unverified (as the SDK reads them), or None for any other key."""
    try:
        decoded = jwt.decode(key, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return decoded if isinstance(decoded, dict) else None


def key_kind(key: str) -> str:
    """"legacy" (sent as Token), "personal" (a refresh token, exchanged for access tokens) or "access"."""
    found = claims(key)
    if found is None:
        return "legacy"
    return "access" if found.get("token_type") == "access" else "personal"


def key_problem(key: str, now: float | None = None) -> str | None:
    """Why a personal access token cannot work before any server is asked (it has expired), or None."""
    found = claims(key)
    if found is None:
        return None
    expires = found.get("exp")
    if not isinstance(expires, int | float):
        return f"the personal access token in LABEL_STUDIO_API_KEY has no expiry, so it is not Label Studio's; {NEW_TOKEN}"
    if expires <= (time.time() if now is None else now):
        day = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"the personal access token in LABEL_STUDIO_API_KEY expired on {day}; {NEW_TOKEN}"
    return None


def refusal(body: object) -> tuple[str, str] | None:
    """(cause, fix) for a 401 whose answer says why the key was refused, or None when it does not say."""
    detail = body.get("detail") if isinstance(body, Mapping) else body
    text = str(detail or "").lower()
    if "legacy token authentication has been disabled" in text:
        return ("this server has legacy tokens switched off and LABEL_STUDIO_API_KEY holds one",
                "make a personal access token in Label Studio (Account & Settings > Personal Access Token) and "
                "set LABEL_STUDIO_API_KEY to it, or switch legacy tokens on (Organization > API Tokens Settings)")
    if "token is expired" in text:
        return "the personal access token in LABEL_STUDIO_API_KEY has expired", NEW_TOKEN
    if "blacklisted" in text:
        return "the personal access token in LABEL_STUDIO_API_KEY was revoked", NEW_TOKEN
    if "token is invalid" in text:
        return ("the personal access token in LABEL_STUDIO_API_KEY is not valid on this server (another "
                "server's, or cut short)", f"copy it again, or {NEW_TOKEN}")
    return None


class KeyAuth(httpx.Auth):
    """Authenticate every request of a (sync) httpx client with one Label Studio key, of either kind."""

    def __init__(self, base_url: str, key: str) -> None:
        self.refresh_url = f"{base_url.strip().rstrip('/')}/api/token/refresh/"
        self._key = key
        self.kind = key_kind(key)
        self._access: str | None = key if self.kind == "access" else None
        self._fresh_until = float("inf") if self.kind == "access" else 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyAuth({self.kind} key for {self.refresh_url.removesuffix('/api/token/refresh/')})"

    def _held(self) -> str | None:
        with self._lock:
            return self._access if time.monotonic() < self._fresh_until else None

    def _keep(self, answer: Mapping) -> str:
        access = str(answer["access"])
        found = claims(access) or {}
        lifetime = float(found.get("exp", 0) - found.get("iat", 0)) or 300.0
        with self._lock:  # the local clock from now on: a server whose clock differs changes nothing
            self._access, self._fresh_until = access, time.monotonic() + max(lifetime - EARLY, lifetime / 2)
        return access

    def _refresh(self) -> Generator[httpx.Request, httpx.Response, str | httpx.Response]:
        """A new access token, or the refresh's refusal (a response) when the server will not give one."""
        response = yield httpx.Request("POST", self.refresh_url, json={"refresh": self._key})
        response.read()
        if response.status_code != 200:
            return response
        try:
            return self._keep(response.json())
        except (ValueError, KeyError, TypeError):
            return response

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.kind == "legacy":
            request.headers["Authorization"] = f"Token {self._key}"
            yield request
            return
        access = self._held()
        if access is None:
            access = yield from self._refresh()
            if isinstance(access, httpx.Response):
                return  # the refusal is the answer
        request.headers["Authorization"] = f"Bearer {access}"
        response = yield request
        if response.status_code != 401 or self.kind == "access":
            return
        access = yield from self._refresh()
        if isinstance(access, str):
            request.headers["Authorization"] = f"Bearer {access}"
            yield request

