"""The Label Studio SDK edge: `open_client` (a client checked against the server), one-line errors, time stamps,
paging the Data Manager.

Every SDK call goes through `calling(...)`, which turns transport and API errors into
a LabelStudioError of one line naming what failed, why, and what to do. URLs are
printed through `redact_url`, and an HTML answer never reaches a message.
All SDK calls use keyword arguments; imports never retry (a retried import
duplicates tasks).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from ..errors import LabelStudioError
from ..settings import redact_url
from .auth import SDK_PLACEHOLDER, KeyAuth, key_problem, refusal

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each recorded chunk or page."""

IMPORT_OPTIONS = {"max_retries": 0, "timeout_in_seconds": 600}
"""Imports never retry: a retried import duplicates tasks."""

PAGE_SIZE = 1000
"""Tasks per Data Manager page."""

_START_FIX = "start it (annotator labelstudio start) or check LABEL_STUDIO_URL"
_DNS_FAILURES = ("Name or service not known", "nodename nor servname", "getaddrinfo",
                 "Temporary failure in name resolution")


# --------------------------------------------------------------------------- URLs


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a Label Studio server's address (one line), or None."""
    url = url.strip()
    if "://" not in url:
        shown = redact_url(f"http://{url}")
        return f"Label Studio URL {shown.removeprefix('http://')} has no scheme; write {shown}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"Label Studio URL {redact_url(url)} must start with http:// or https://"
    if not parts.hostname:
        return f"Label Studio URL {redact_url(url)} has no host name; write http://HOST:PORT"
    return None


def normalize_url(url: str) -> str:
    """The server URL as recorded in SQLite and printed: no credentials, no trailing slash."""
    return redact_url(url.strip()).rstrip("/")


def open_client(url: str, api_key: str, *, timeout: float = 60.0) -> LabelStudio:
    """A client for the server at `url`, after checking that it answers and accepts the key.

    The key is a legacy token or a personal access token: every request is authenticated by `KeyAuth`.
    """
    if not url:
        raise LabelStudioError("no Label Studio URL; pass --url or set LABEL_STUDIO_URL")
    if not api_key:
        raise LabelStudioError(
            "no Label Studio API key; set LABEL_STUDIO_API_KEY "
            "(Label Studio: Account & Settings > Personal Access Token)"
        )
    problem = url_problem(url)
    if problem:
        raise LabelStudioError(problem)
    shown = normalize_url(url)
    expired = key_problem(api_key)
    if expired:
        raise LabelStudioError(f"Label Studio at {shown}: {expired}")
    base = url.strip().rstrip("/")
    http = httpx.Client(auth=KeyAuth(base, api_key), timeout=timeout, follow_redirects=True)
    ls = LabelStudio(base_url=base, api_key=SDK_PLACEHOLDER, timeout=timeout, httpx_client=http)
    try:
        with calling(shown, "checking the API key"):
            ls.users.whoami(request_options={"max_retries": 0, "timeout_in_seconds": 15})
    except LabelStudioError:
        raise
    except Exception as exc:  # an answer that is not Label Studio's (a page of another server, wrong port)
        raise ls_error(shown, "checking the API key", exc) from exc
    return ls


# --------------------------------------------------------------------------- errors


def one_line(text: object, limit: int = 300) -> str:
    """`text` on one line, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _is_html(exc: ApiError) -> bool:
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    if "html" in str(headers.get("content-type", "")).lower():
        return True
    return isinstance(exc.body, str) and exc.body.lstrip()[:1] == "<"


def _not_the_api(url: str, why: str) -> tuple[str, str]:
    """(cause, fix) for a URL that answers but is not Label Studio's API root."""
    if urlsplit(url).path.rstrip("/").endswith("/api"):
        root = url.rstrip("/").removesuffix("/api")
        return why, f"{url} is not Label Studio's API root; drop /api (write {root})"
    return why, f"{url} is not Label Studio's API root; check LABEL_STUDIO_URL (write the address you open in the browser)"


def _api_cause(url: str, exc: ApiError, rerun: str) -> tuple[str, str]:
    code = exc.status_code
    if _is_html(exc):
        return _not_the_api(url, f"HTTP {code} with an HTML page instead of JSON")
    said = refusal(exc.body) if code == 401 else None
    if said:
        return said
    if code in (401, 403):
        return (f"the API key was refused (HTTP {code})",
                "check LABEL_STUDIO_API_KEY (Label Studio: Account & Settings > Personal Access Token)")
    if code is not None and code >= 500:
        return f"server error (HTTP {code})", f"read the Label Studio log{rerun}"
    if code == 404 and urlsplit(url).path.rstrip("/").endswith("/api"):
        return _not_the_api(url, "HTTP 404")
    body = exc.body.get("detail") or exc.body if isinstance(exc.body, dict) else exc.body
    cause = f"HTTP {code}: {one_line(body, 200)}" if body else f"HTTP {code}"
    return cause, f"check the URL and the project{rerun}"


def ls_error(url: str, doing: str, exc: BaseException, after: str = "") -> LabelStudioError:
    """A LabelStudioError naming what failed, why, and what to do (`after`: what happens on a re-run)."""
    url = normalize_url(url)
    rerun = f"; {after}" if after else ""
    if isinstance(exc, httpx.TimeoutException):
        cause, fix = "timed out", f"check the server's load and log, then run again{rerun}"
    elif isinstance(exc, httpx.ConnectError) and any(s in str(exc) for s in _DNS_FAILURES):
        host = urlsplit(url).hostname or url
        cause, fix = f"cannot resolve host {host}", f"check the host name in LABEL_STUDIO_URL{rerun}"
    elif isinstance(exc, httpx.ConnectError):
        cause, fix = "connection refused", f"{_START_FIX}{rerun}"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        cause, fix = "not an http(s) URL", "write the URL as http://HOST:PORT"
    elif isinstance(exc, httpx.TransportError):
        cause, fix = f"connection lost ({type(exc).__name__})", f"check that the server is running{rerun}"
    elif isinstance(exc, ApiError):
        cause, fix = _api_cause(url, exc, rerun)
    else:  # an answer Label Studio would not give: not JSON, or JSON of another shape
        cause, fix = _not_the_api(url, f"an unexpected answer ({type(exc).__name__})")
    return LabelStudioError(f"Label Studio at {url}: {doing} failed ({cause}); {fix}")


@contextlib.contextmanager
def calling(url: str, doing: str, after: str = "") -> Iterator[None]:
    """Turn SDK and transport errors inside the block into a one-line LabelStudioError."""
    try:
        yield
    except LabelStudioError:
        raise
    except (httpx.HTTPError, ApiError) as exc:
        raise ls_error(url, doing, exc, after) from exc


# --------------------------------------------------------------------------- time stamps


def iso_time(value: Any) -> str | None:
    """A server time stamp (string or datetime) as UTC ISO with microseconds and Z."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def shift_time(stamp: str, delta: dt.timedelta) -> str:
    """`stamp` (as `iso_time` writes it) moved by `delta`."""
    return iso_time(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + delta)  # type: ignore[return-value]


def server_time(headers: Any) -> str | None:
    """The server's clock from a response's Date header (whole seconds, rounded down)."""
    try:
        date = headers.get("date") if headers is not None else None
        return iso_time(email.utils.parsedate_to_datetime(date)) if date else None
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- paging


def task_pages(ls: LabelStudio, *, url: str, ls_project_id: int, query: dict, include: str, doing: str,
               after: str = "", page_size: int = PAGE_SIZE,
               progress: Progress | None = None) -> Iterator[list[dict]]:
    """Pages of tasks (plain dicts, by id) matching a Data Manager query; the next page is fetched meanwhile.

    `include` names the task fields the server sends (annotations and predictions
    need `fields="all"`, which is always passed).
    """
    encoded = json.dumps({**query, "ordering": ["tasks:id"]})

    def fetch(page: int) -> tuple[list[dict], int]:
        with calling(url, doing, after):
            pager = ls.tasks.list(project=ls_project_id, fields="all", include=include, page=page,
                                  page_size=page_size, query=encoded)
        items = [t if isinstance(t, dict) else t.model_dump(mode="json") for t in (pager.items or [])]
        return items, getattr(pager.response, "total", 0) or 0

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ls-pages") as pool:
        future = pool.submit(fetch, 1)
        page, fetched = 1, 0
        while future is not None:
            items, total = future.result()
            fetched += len(items)
            more = bool(items) and len(items) == page_size and fetched < total
            page += 1
            future = pool.submit(fetch, page) if more else None
            if progress:
                progress(fetched, max(total, fetched))
            if items:
                yield items


def id_range_query(task_ids: list[int]) -> dict:
    """A Data Manager query for the tasks whose id lies between the smallest and largest of `task_ids`."""
    return {"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:id", "operator": "in", "type": "Number",
         "value": {"min": min(task_ids), "max": max(task_ids)}},
    ]}}
