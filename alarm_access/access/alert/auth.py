"""Authentication of a webhook request: the integration's token and, when it has a secret, an HMAC signature.

* token: `Authorization: Bearer <token>`, or `?token=<token>` for senders that cannot set headers; compared in
  constant time (`hmac.compare_digest`). An integration without a token accepts any request (not recommended).
* signature (Grafana's scheme, for any source whose integration has a `secret`): header
  `X-Grafana-Alerting-Signature` (or `X-Signature`) = hex HMAC-SHA256 of `body`, or of `ts + ":" + body` when
  `X-Grafana-Alerting-Signature-Timestamp` (or `X-Signature-Timestamp`) carries a timestamp `ts` (epoch seconds),
  which must then be within `window` seconds of now.

Nothing here logs or returns the token, the secret or the signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from alarm_access.access.alert.integrations import Integration

SIGNATURE_HEADERS = ("x-grafana-alerting-signature", "x-signature")
TIMESTAMP_HEADERS = ("x-grafana-alerting-signature-timestamp", "x-signature-timestamp")


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((headers[name] for name in names if headers.get(name)), "")


def token_ok(integration: Integration, headers: Mapping[str, str], query_token: str) -> bool:
    """`headers` keys are lower-case."""
    if not integration.token:
        return True
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    offered = value.strip() if scheme.lower() == "bearer" else query_token
    return hmac.compare_digest(offered.encode(), integration.token.encode())


def sign(secret: str, body: bytes, timestamp: str = "") -> str:
    message = f"{timestamp}:".encode() + body if timestamp else body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_ok(integration: Integration, headers: Mapping[str, str], body: bytes, now: float,
                 window: float) -> bool:
    if not integration.secret:
        return True
    signature = _first(headers, SIGNATURE_HEADERS).strip().lower()
    timestamp = _first(headers, TIMESTAMP_HEADERS).strip()
    if not signature:
        return False
    if timestamp:
        try:
            if abs(now - float(timestamp)) > window:
                return False
        except ValueError:
            return False
    return hmac.compare_digest(signature.encode(), sign(integration.secret, body, timestamp).encode())
