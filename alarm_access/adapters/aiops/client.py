"""`access.incident.ports.IncidentApi` over HTTP: the incident manager's `bkmonitor_api` endpoints.

    GET  {base}/incident/bkmonitor_api/get_incident_snapshot/?snapshot_id=S
    POST {base}/incident/bkmonitor_api/update_incident_detail/   {"incident_id": I, <fields>}

(the original's `api.bk_incident` resources). Answers use the BlueKing API envelope
`{"result": bool, "code": int, "message": str, "data": ...}`.

Every request has the configured timeout (connect and read) and at most `retries` retries after a transport
error or a 5xx, with a short doubling pause; then `SourceUnavailable`. A 4xx, or `result: false`, is the
API's answer: for a snapshot it means "none" (None), for a write-back it raises `SourceUnavailable` too
(the write-back is retried with its message). `authorization` is sent as `X-Bkapi-Authorization` and never
logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from alarm_access.kernel.errors import SourceUnavailable

logger = logging.getLogger("alarm_access.adapters.aiops")

SNAPSHOT_PATH = "/incident/bkmonitor_api/get_incident_snapshot/"
WRITE_BACK_PATH = "/incident/bkmonitor_api/update_incident_detail/"
_TRANSIENT = (httpx.TransportError,)


class HttpIncidentApi:
    def __init__(self, base_url: str, *, timeout: float, retries: int = 2, backoff: float = 0.2,
                 authorization: str = "", transport: httpx.BaseTransport | None = None) -> None:
        headers = {"X-Bkapi-Authorization": authorization} if authorization else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout),
                                    headers=headers, transport=transport)
        self._retries, self._backoff = retries, backoff

    def snapshot(self, snapshot_id: str) -> Mapping[str, Any] | None:
        status, answer = self._request("GET", SNAPSHOT_PATH, params={"snapshot_id": snapshot_id})
        if status >= 400 or not answer.get("result", False):
            return None
        data = answer.get("data")
        return data if isinstance(data, dict) else None

    def write_back(self, incident_id: int, fields: Mapping[str, Any]) -> None:
        status, answer = self._request("POST", WRITE_BACK_PATH, json={"incident_id": incident_id, **fields})
        if status >= 400 or not answer.get("result", False):
            raise SourceUnavailable(f"AIOps write-back of incident {incident_id} refused: HTTP {status} "
                                    f"{str(answer.get('message', ''))[:200]}")

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """(status, envelope) of the first answer below 500; `SourceUnavailable` once the retries are spent."""
        failure = ""
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = self._client.request(method, path, **kwargs)
            except _TRANSIENT as exc:
                failure = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500:
                failure = f"HTTP {response.status_code}"
                continue
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                if response.status_code < 400:
                    raise SourceUnavailable(f"AIOps API {path}: the answer is not a JSON object")
                answer = {}
            return response.status_code, answer
        logger.warning("AIOps API %s failed after %d attempts: %s", path, self._retries + 1, failure)
        raise SourceUnavailable(f"AIOps API {path}: {failure}")

    def close(self) -> None:
        self._client.close()
