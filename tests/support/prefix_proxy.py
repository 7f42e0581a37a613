"""A reverse proxy on loopback that serves a server under a path prefix (https://host/labelstudio), as a team's
Label Studio often is behind its web server: `/PREFIX/x` goes to the server's `/x`; anything else is 404.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}
"""Headers a proxy does not pass on as they are (the body is sent decoded, with its own length)."""


class PrefixProxy:
    """`with PrefixProxy(target, "/labelstudio") as proxy:` then `proxy.url` is the prefixed address."""

    def __init__(self, target: str, prefix: str) -> None:
        self.target, self.prefix = target.rstrip("/"), "/" + prefix.strip("/")
        self.outside: list[str] = []
        """Paths asked outside the prefix (answered 404)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}{self.prefix}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                if not self.path.startswith(proxy.prefix + "/"):
                    proxy.outside.append(self.path)
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                answer = httpx.request(self.command, proxy.target + self.path[len(proxy.prefix):], headers=headers,
                                       content=body, timeout=600)
                self.send_response(answer.status_code)
                for key, value in answer.headers.multi_items():
                    if key.lower() not in HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        return Handler

    def __enter__(self) -> PrefixProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
