"""HTTP endpoint for Prometheus scraping and probes: `/metrics`, `/healthz` (alive), `/readyz` (ready).

`/healthz` answers 200 while the service loop runs; `/readyz` answers 200 only when the last cycle
succeeded (sources and sinks answered), 503 otherwise — what a Kubernetes readiness probe wants.

The bind address is `ALARM_ACCESS_METRICS_ADDR` (default 0.0.0.0, every interface), read by `metrics_addr()`;
a Celery worker's `/metrics` (`tasks`) binds the same address.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alarm_access.metrics import REGISTRY

METRICS_ADDR_ENV = "ALARM_ACCESS_METRICS_ADDR"
DEFAULT_METRICS_ADDR = "0.0.0.0"


def metrics_addr() -> str:
    """The address `/metrics` binds: `ALARM_ACCESS_METRICS_ADDR`, else 0.0.0.0."""
    return os.environ.get(METRICS_ADDR_ENV, "").strip() or DEFAULT_METRICS_ADDR


class HealthServer:
    """Serves the three endpoints on `host` (default `metrics_addr()`):`port` in a daemon thread until `stop()`."""

    def __init__(self, port: int, is_alive: Callable[[], bool], is_ready: Callable[[], bool],
                 host: str | None = None) -> None:
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)),
            "/healthz": lambda: _probe(is_alive()),
            "/readyz": lambda: _probe(is_ready()),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.split("?", 1)[0])
                status, content_type, body = route() if route else (404, "text/plain", b"not found\n")
                self.send_response(status)
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
