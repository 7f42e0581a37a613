"""The HTTP edge of `serve`: Starlette routes for Label Studio's ML backend protocol and webhooks, run by uvicorn.

Routes: `GET /health`, `POST /setup`, `POST /predict`, `GET|POST /versions` (basic
auth), `POST /webhook` (the secret in `X-Annotator-Token`). Anything else, or a
wrong secret, gets 401. A webhook is answered at once (Label Studio waits 1 s for
it) and its work is queued for the syncer. Nothing here logs a header or a body:
the secret and the access token Label Studio sends to /setup stay out of logs.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..annotate.writes import is_busy
from ..errors import AnnotatorError, InputError
from .protocol import TOKEN_HEADER, ProtocolError, basic_auth_ok, parse_json, token_ok
from .service import Service

log = logging.getLogger("annotator.backend")

Handler = Callable[[Request], Awaitable[Response]]

UNAUTHORIZED = {"error": "authentication required"}


def _refused(request: Request, why: str) -> Response:
    log.warning("refused %s %s from %s: %s", request.method, request.url.path,
                request.client.host if request.client else "?", why)
    return JSONResponse(UNAUTHORIZED, status_code=401, headers={"WWW-Authenticate": 'Basic realm="annotator"'})


def _guarded(service: Service, handler: Handler, *, webhook: bool = False) -> Handler:
    """The handler behind authentication; ProtocolError -> 400, a database locked by another process -> 503,
    other failures -> 500, each as one line."""
    secret, user = service.credentials.secret, service.credentials.user

    async def guarded(request: Request) -> Response:
        if webhook and not token_ok(request.headers.get(TOKEN_HEADER), secret):
            return _refused(request, f"no valid {TOKEN_HEADER} header")
        if not webhook and not basic_auth_ok(request.headers.get("authorization"), user, secret):
            return _refused(request, "no valid basic auth")
        try:
            return await handler(request)
        except ProtocolError as exc:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        except AnnotatorError as exc:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
            return JSONResponse({"error": str(exc)}, status_code=500)
        except Exception as exc:
            if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
                log.warning("%s %s: the database is locked by another process (%s); answered 503",
                            request.method, request.url.path, exc)
                return JSONResponse({"error": "the database is locked by another process; try again"},
                                    status_code=503)
            log.exception("%s %s failed (%s)", request.method, request.url.path, type(exc).__name__)
            return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the serve log"},
                                status_code=500)

    return guarded


def build_app(service: Service) -> Starlette:
    """The Starlette application answering Label Studio."""
    predictor = service.predictor

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "UP", "model_class": "annotator", "model_version": service.model_version})

    async def setup(request: Request) -> Response:
        body = parse_json(await request.body())
        body = body if isinstance(body, dict) else {}
        predictor.check_project(body.get("project"))
        predictor.interface(body.get("schema"))
        return JSONResponse({"model_version": service.model_version})

    async def versions(request: Request) -> Response:
        return JSONResponse({"versions": [service.model_version]})

    async def predict(request: Request) -> Response:
        body = parse_json(await request.body())
        answer, report = await run_in_threadpool(predictor.predict, body)
        unanswered = f", {len(report.unanswered)} without a prediction (first: {report.unanswered[0]})" \
            if report.unanswered else ""
        late = f", {report.late} still drafting (answered next time)" if report.late else ""
        n = len(report.skipped)
        skipped = f", {n} malformed task{'' if n == 1 else 's'} skipped ({'; '.join(report.skipped[:10])}" \
            f"{'; ...' if n > 10 else ''})" if n else ""
        locked = f"; the database is locked by another process: {', '.join(report.locked)}" \
            if report.locked else ""
        log.log(logging.WARNING if locked or skipped else logging.INFO,
                "predict: %d tasks, %d from stored drafts, %d drafted now%s%s%s in %.2f s%s", report.tasks,
                report.stored, report.drafted, late, unanswered, skipped, report.seconds, locked)
        return JSONResponse(answer)

    async def webhook(request: Request) -> Response:
        payload = parse_json(await request.body())
        queued = service.webhook(payload)
        action = payload.get("action") if isinstance(payload, dict) else None
        log.debug("webhook %s: %s", action, "pull queued" if queued else "ignored")
        return JSONResponse({"status": "queued" if queued else "ignored"})

    async def refuse(request: Request) -> Response:
        return _refused(request, "unknown path")

    routes = [
        Route("/health", _guarded(service, health), methods=["GET"]),
        Route("/", _guarded(service, health), methods=["GET"]),
        Route("/setup", _guarded(service, setup), methods=["POST"]),
        Route("/versions", _guarded(service, versions), methods=["GET", "POST"]),
        Route("/predict", _guarded(service, predict), methods=["POST"]),
        Route("/webhook", _guarded(service, webhook, webhook=True), methods=["POST"]),
        Route("/{path:path}", refuse, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return Starlette(routes=routes)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; InputError (one line) when the address is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then (without it every
    # answer waited ~40 ms for the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(service: Service, sock: socket.socket, *, backend_url: str | None = None,
        on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM. With `backend_url`, register the project's backend and webhook once up.

    A failed registration stops the server and is raised (one line).
    """
    config = uvicorn.Config(build_app(service), log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    failures: list[AnnotatorError] = []

    def when_up() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.should_exit:
            return
        if backend_url:
            try:
                plan = service.register(backend_url)
            except AnnotatorError as exc:
                failures.append(exc)
                server.should_exit = True
                return
            for note in plan.notes:
                log.warning("%s", note)
            log.info("registered with Label Studio: %s", "; ".join(plan.changes) or "nothing to change")
        if on_ready:
            on_ready()

    threading.Thread(target=when_up, name="serve-ready", daemon=True).start()
    service.start()
    try:
        server.run(sockets=[sock])
    finally:
        service.close()
    if failures:
        raise failures[0]
