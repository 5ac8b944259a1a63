"""A stand-in for the incident manager's `bkmonitor_api` HTTP endpoints, for tests of the AIOps API client
and of incident access with the API configured: a real HTTP server (stdlib), answering with the BlueKing
envelope. `faults` makes the next requests fail (an int: answer that status; a float: sleep that long first).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from alarm_access.adapters.aiops.client import SNAPSHOT_PATH, WRITE_BACK_PATH


class FakeIncidentManager(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[int, dict[str, Any]]] = []
        self.faults: list[int | float] = []  # an int: answer that status; a float: sleep that long first
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeIncidentManager

    def _answer(self, status: int, envelope: dict[str, Any]) -> None:
        body = json.dumps(envelope).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fault(self) -> bool:
        self.server.requests.append((self.path, dict(self.headers)))
        if not self.server.faults:
            return False
        fault = self.server.faults.pop(0)
        if isinstance(fault, float):
            time.sleep(fault)
            return False
        self._answer(fault, {"result": False, "code": fault, "message": "injected"})
        return True

    def do_GET(self) -> None:
        if self._fault():
            return
        url = urlparse(self.path)
        snapshot_id = parse_qs(url.query).get("snapshot_id", [""])[0]
        content = self.server.snapshots.get(snapshot_id)
        if url.path != SNAPSHOT_PATH or content is None:
            self._answer(200, {"result": False, "code": 404, "message": "snapshot not found", "data": None})
            return
        self._answer(200, {"result": True, "code": 0, "message": "", "data": content})

    def do_POST(self) -> None:
        if self._fault():
            return
        if self.path != WRITE_BACK_PATH:
            self._answer(404, {"result": False, "code": 404, "message": "no such endpoint"})
            return
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.writes.append((doc.pop("incident_id"), doc))
        self._answer(200, {"result": True, "code": 0, "message": "", "data": None})

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def incident_manager() -> Iterator[FakeIncidentManager]:
    manager = FakeIncidentManager()
    thread = threading.Thread(target=manager.serve_forever, daemon=True)
    thread.start()
    try:
        yield manager
    finally:
        manager.shutdown()
        manager.server_close()
