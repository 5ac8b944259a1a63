"""Composition root: builds the adapters behind the ports from an `AccessConfig`. The only importer of adapters.

Adapters are created lazily, on first use, so an access type opens only what it needs; `close()` closes
them in reverse order of creation (clients first, the embedded Redis server last).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property

import redis

from alarm_access.adapters.orm.repository import OrmStrategyRepository
from alarm_access.adapters.prometheus_source import PrometheusSource
from alarm_access.adapters.redis_client import EmbeddedRedis, connect
from alarm_access.adapters.redis_sink import RedisSink
from alarm_access.adapters.sql_source import SqlSource
from alarm_access.config import AccessConfig
from alarm_access.handlers import spec_for
from alarm_access.ports import TimeSeriesSource
from alarm_access.runtime import Service

logger = logging.getLogger("alarm_access.bootstrap")


class AdapterPorts:
    """The real adapters behind `alarm_access.ports.Ports`."""

    def __init__(self, config: AccessConfig) -> None:
        self._config = config
        self._closers: list[Callable[[], None]] = []
        self._source: TimeSeriesSource | None = None

    @cached_property
    def redis(self) -> redis.Redis:
        url = self._config.redis_url
        if not url:
            server = EmbeddedRedis(self._config.var_dir / "valkey")
            url = server.start()
            self._closers.append(server.stop)
        client = connect(url, timeout=self._config.network_timeout)
        self._closers.append(client.close)
        return client

    @cached_property
    def strategies(self) -> OrmStrategyRepository:
        repository = OrmStrategyRepository()
        self._closers.append(repository.close)
        return repository

    @cached_property
    def record_sink(self) -> RedisSink:
        return RedisSink(self.redis, self._config.key_prefix, max_queue_length=self._config.data.queue_max_len)

    def source_for(self, source: tuple[str, str]) -> TimeSeriesSource:
        """`TSDB_URL` set: its Prometheus-compatible API serves every source; else the embedded SQL table."""
        if self._source is None:
            if self._config.tsdb_url:
                timeout = self._config.network_timeout
                self._source = PrometheusSource(self._config.tsdb_url, connect_timeout=timeout, read_timeout=timeout)
            else:
                self._source = SqlSource()
            self._closers.append(self._source.close)
        return self._source

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:
                logger.exception("closing an adapter failed")


def build_service(config: AccessConfig) -> Service:
    """The service for `config`; `ConfigError` when its access type/dispatcher/ring is not available."""
    spec = spec_for(config)
    assert spec.build is not None  # spec_for refuses specs without a builder
    return spec.build(config, AdapterPorts(config))
