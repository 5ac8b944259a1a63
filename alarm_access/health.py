"""HTTP endpoint for Prometheus scraping, probes and people: `/metrics`, `/healthz` (alive), `/readyz`
(ready), and — when given a status source — `/status` (HTML, `?q=` filters by strategy id) and `/status.json`.

`/healthz` answers 200 while the service loop runs; `/readyz` answers 200 only when the last cycle
succeeded (sources and sinks answered), 503 otherwise — what a Kubernetes readiness probe wants.

The bind address is `ALARM_ACCESS_METRICS_ADDR` (default 0.0.0.0, every interface), read by `metrics_addr()`;
a Celery worker's `/metrics` (`tasks`) binds the same address.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alarm_access.metrics import REGISTRY
from alarm_access.status.model import StatusSnapshot, snapshot_to_dict
from alarm_access.status.render import status_page

Route = Callable[[dict[str, list[str]]], tuple[int, str, bytes]]

METRICS_ADDR_ENV = "ALARM_ACCESS_METRICS_ADDR"
DEFAULT_METRICS_ADDR = "0.0.0.0"


def metrics_addr() -> str:
    """The address `/metrics` binds: `ALARM_ACCESS_METRICS_ADDR`, else 0.0.0.0."""
    return os.environ.get(METRICS_ADDR_ENV, "").strip() or DEFAULT_METRICS_ADDR


class HealthServer:
    """Serves the endpoints on `host` (default `metrics_addr()`):`port` in a daemon thread until `stop()`;
    `/status` and `/status.json` only with `status` (each request takes a fresh snapshot)."""

    def __init__(self, port: int, is_alive: Callable[[], bool], is_ready: Callable[[], bool],
                 host: str | None = None, status: Callable[[], StatusSnapshot] | None = None) -> None:
        routes: dict[str, Route] = {
            "/metrics": lambda _: (200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)),
            "/healthz": lambda _: _probe(is_alive()),
            "/readyz": lambda _: _probe(is_ready()),
        }
        if status is not None:
            routes["/status"] = lambda query: (200, "text/html; charset=utf-8", status_page(
                status(), query.get("q", [""])[0]).encode())
            routes["/status.json"] = lambda _: (200, "application/json", json.dumps(
                snapshot_to_dict(status())).encode())

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                route = routes.get(url.path)
                code, content_type, body = (route(parse_qs(url.query)) if route
                                            else (404, "text/plain", b"not found\n"))
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Probes every few seconds would drown the service log."""

        self._server = ThreadingHTTPServer((host or metrics_addr(), port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _probe(ok: bool) -> tuple[int, str, bytes]:
    return (200, "text/plain", b"ok\n") if ok else (503, "text/plain", b"not ready\n")
