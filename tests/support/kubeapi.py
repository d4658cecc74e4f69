"""A local HTTP server that answers as a Kubernetes API server would, from recorded JSON.

No API server can run here. The real ``kubernetes`` client is pointed at
this one by a real kubeconfig (plain HTTP on 127.0.0.1, a bearer token that
the server checks), so the client's request building, authentication header,
response decoding and errors all run for real; only the answers are recorded
(``tests/data/k8s/``, written after the API's shapes). Every request is kept
(path and query) so a test can assert what the client asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"
TOKEN = "brt-test-token-0123456789abcdef"


@dataclass
class FakeApi:
    """Answers by request path: ``routes[path] = (HTTP status, JSON body)``."""

    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)  # path, query, auth
    port: int = 0

    def answer(self, path: str, recorded: str, status: int = 200,
               replace: dict[str, str] | None = None) -> None:
        text = (DATA / recorded).read_text(encoding="utf-8")
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        self.routes[path] = (status, text.encode())

    def kubeconfig(self, directory: Path) -> Path:
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "brt",
               "clusters": [{"name": "brt", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
               "users": [{"name": "brt", "user": {"token": TOKEN}}],
               "contexts": [{"name": "brt", "context": {"cluster": "brt", "user": "brt"}}]}
        path = directory / "kubeconfig"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        return path


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            url = urlsplit(self.path)
            auth = self.headers.get("Authorization", "")
            api.seen.append((url.path, parse_qs(url.query), auth))
            status, body = api.routes.get(url.path, (404, b'{"kind":"Status","code":404}'))
            if auth != f"Bearer {TOKEN}":
                status, body = 401, b'{"kind":"Status","status":"Failure","reason":"Unauthorized","code":401}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads `seen`
            return

    return Handler


@contextmanager
def fake_api() -> Iterator[FakeApi]:
    """A real HTTP server on a free 127.0.0.1 port, stopped on the way out."""
    api = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
