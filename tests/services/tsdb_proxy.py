"""An HTTP proxy in front of a TSDB that tells the test the moment a query answer has been sent.

`kill -9` tests use it to kill a worker right after its pull returned and before its push finished; the
reliability suite (`tests/reliability/test_data.py`) to strike while a slow pull is in flight.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.services.victoria import free_port


class AnsweringProxy:
    """`answered` is set once a range query was answered; `queried` once one arrived. Each answer waits
    `delay` seconds first (a slow TSDB: a pull that lasts, for faults that must land inside it)."""

    def __init__(self, upstream: str, delay: float = 0.0) -> None:
        self.answered = threading.Event()
        self.queried = threading.Event()
        answered, queried = self.answered, self.queried

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if "query_range" in self.path:
                    queried.set()
                    time.sleep(delay)
                reply = httpx.post(upstream + self.path, content=body, timeout=30,
                                   headers={"Content-Type": self.headers.get("Content-Type", "")})
                self.send_response(reply.status_code)
                self.send_header("Content-Type", reply.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)
                self.wfile.flush()
                if "query_range" in self.path:
                    answered.set()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test log is for the service."""

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> AnsweringProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
