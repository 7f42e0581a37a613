"""The managed Label Studio's API tokens, through a logged-in session of its admin.

Checked on a live Label Studio 1.23.2: a personal access token is made by a logged-in session
(`POST /api/token/` with the session cookie and the CSRF header); a user has one live token at a
time (409 otherwise); the organization's legacy-token switch is `POST /api/jwt/settings`
(`legacy_api_tokens_enabled`), and takes effect at once, also on a data dir made with the other
setting. The admin is annotator's own user, so a live token it has but annotator does not know
(its credentials file was lost) is revoked (`POST /api/token/blacklist/` with the token's
unsigned part, as the server lists it) before a new one is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from ..errors import ServiceError
from ..labelstudio.auth import key_kind, key_problem


@contextlib.contextmanager
def login(url: str, email: str, password: str) -> Iterator[httpx.Client]:
    """A client logged in to Label Studio at `url` as `email` (session cookie, CSRF header set), closed after."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        _log_in(client, url, email, password)
        yield client


def _log_in(client: httpx.Client, url: str, email: str, password: str) -> None:
    try:
        client.get("/user/login/").raise_for_status()
        csrf = client.cookies.get("csrftoken") or ""
        answer = client.post("/user/login/", data={"email": email, "password": password,
                                                   "csrfmiddlewaretoken": csrf},
                             headers={"Referer": f"{url}/user/login/"})
    except httpx.HTTPError as exc:
        raise ServiceError(f"Label Studio at {url}: logging in as {email} failed ({type(exc).__name__}); "
                           "check that it runs (annotator labelstudio status)") from exc
    if answer.status_code != 302 or "/user/login" in answer.headers.get("location", "/user/login"):
        raise ServiceError(f"Label Studio at {url} refused the login of {email} (HTTP {answer.status_code}); its "
                           "password changed outside annotator: stop it, move its data dir aside and start again")
    client.headers.update({"X-CSRFToken": client.cookies.get("csrftoken") or "", "Referer": f"{url}/"})


def _ok(answer: httpx.Response, doing: str) -> httpx.Response:
    if answer.status_code >= 400:
        raise ServiceError(f"Label Studio at {answer.request.url.scheme}://{answer.request.url.netloc.decode()}: "
                           f"{doing} failed (HTTP {answer.status_code}); read its log")
    return answer


def set_legacy_tokens(session: httpx.Client, enabled: bool) -> None:
    """Switch the organization's legacy tokens on or off (personal access tokens stay on)."""
    _ok(session.post("/api/jwt/settings", json={"api_tokens_enabled": True, "legacy_api_tokens_enabled": enabled}),
        "setting its API tokens")


def token_works(session: httpx.Client, token: str | None) -> bool:
    """Whether `token` is a personal access token this server still exchanges for access tokens."""
    if not token or key_kind(token) != "personal" or key_problem(token):
        return False
    return session.post("/api/token/refresh/", json={"refresh": token}).status_code == 200


def personal_token(session: httpx.Client, known: str | None) -> str:
    """The logged-in user's personal access token: `known` while it works, else a new one (revoking a live
    one that is not `known`)."""
    if token_works(session, known):
        return known  # type: ignore[return-value]
    answer = session.post("/api/token/")
    if answer.status_code == 409:
        for listed in _ok(session.get("/api/token/"), "listing its tokens").json():
            session.post("/api/token/blacklist/", json={"refresh": listed["token"]})
        answer = session.post("/api/token/")
    return str(_ok(answer, "making a personal access token").json()["token"])
