"""`ports.AlertStates` on Redis: one JSON string per integration and fingerprint, with a TTL
(`RedisKeys.alert_state`). `load` is one MGET, `save` one pipelined SET EX per state."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

import redis

from alarm_access.access.alert.diff import AlertState
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.kernel.errors import SourceUnavailable


class RedisAlertStates:
    def __init__(self, client: redis.Redis, prefix: str, ttl: int) -> None:
        self._client = client
        self._keys = RedisKeys(prefix)
        self._ttl = ttl

    def load(self, integration: str, fingerprints: Collection[str]) -> dict[str, AlertState]:
        names = list(fingerprints)
        try:
            values = self._client.mget([self._keys.alert_state(integration, fp) for fp in names])
        except redis.RedisError as exc:
            raise SourceUnavailable(f"alert state load failed: {exc}") from exc
        states: dict[str, AlertState] = {}
        for fingerprint, value in zip(names, values, strict=True):
            if value:
                try:
                    states[fingerprint] = AlertState.from_json(json.loads(value))
                except (ValueError, KeyError, TypeError):
                    continue  # a corrupt state is a state never seen: the alert is emitted again
        return states

    def save(self, integration: str, states: Mapping[str, AlertState]) -> None:
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for fingerprint, state in states.items():
                    pipe.set(self._keys.alert_state(integration, fingerprint), json.dumps(state.to_json()),
                             ex=self._ttl)
                pipe.execute()
        except redis.RedisError as exc:
            raise SourceUnavailable(f"alert state save failed: {exc}") from exc
