"""Composition root: builds the adapters behind the ports from an `AccessConfig`. The only importer of adapters.

Adapters are created lazily, on first use, so an access type opens only what it needs; `close()` closes
them in reverse order of creation (clients first, the embedded Redis server last).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Collection, Mapping
from functools import cached_property
from typing import Any

import redis

from alarm_access.access.data.ports import TimeSeriesSource
from alarm_access.access.incident.ports import IncidentSource
from alarm_access.access.real_time_data.routing import TableTopic
from alarm_access.access.registry import REGISTRY
from alarm_access.adapters.aiops.client import HttpIncidentApi
from alarm_access.adapters.celery.app import make_celery_app
from alarm_access.adapters.celery.dispatch import CeleryDispatcher
from alarm_access.adapters.celery.streams import STREAM_TASKS, CeleryBatchPublisher
from alarm_access.adapters.etcd.membership import EtcdMembership
from alarm_access.adapters.kafka.alerts import KafkaAlertProducer, KafkaRawDeadLetters
from alarm_access.adapters.kafka.consumer import KafkaStream
from alarm_access.adapters.kafka.dlq import KafkaDeadLetters
from alarm_access.adapters.kafka.incidents import KafkaIncidentSource
from alarm_access.adapters.orm.alert_integrations import load_alert_integrations, load_hosts
from alarm_access.adapters.orm.incidents import OrmIncidentStore
from alarm_access.adapters.orm.repository import OrmStrategyRepository
from alarm_access.adapters.orm.tables import result_table_topics
from alarm_access.adapters.orm.topics import (
    TopicRoute,
    cluster_security,
    event_topic_routes,
    load_strategy_documents,
)
from alarm_access.adapters.rabbitmq.incidents import RabbitIncidentSource
from alarm_access.adapters.redis.alert_state import RedisAlertStates
from alarm_access.adapters.redis.client import EmbeddedRedis, connect
from alarm_access.adapters.redis.events import RedisAnomalySink
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.adapters.redis.list_stream import RedisListStream
from alarm_access.adapters.redis.locks import RedisGuards
from alarm_access.adapters.redis.membership import RedisMembership
from alarm_access.adapters.redis.sink import RedisSink
from alarm_access.adapters.tsdb.prometheus import PrometheusSource
from alarm_access.adapters.tsdb.sql import SqlSource
from alarm_access.kernel.config import AccessConfig, RingStore
from alarm_access.kernel.errors import ConfigError
from alarm_access.kernel.model import Host
from alarm_access.kernel.settings import ConsumerSettings
from alarm_access.kernel.stream import MessageStream
from alarm_access.ring.membership import Membership, RingMember
from alarm_access.runtime import Service

logger = logging.getLogger("alarm_access.bootstrap")


class AdapterPorts:
    """The real adapters behind the ports of every access type (`access.<type>.ports`)."""

    def __init__(self, config: AccessConfig) -> None:
        self._config = config
        self._closers: list[Callable[[], None]] = []
        self._source: TimeSeriesSource | None = None
        self._source_by_url: dict[str, TimeSeriesSource] = {}
        self._dead_letters_by_cluster: dict[str, KafkaDeadLetters] = {}
        self._keys = RedisKeys(config.key_prefix)
        self._source_urls = config.data.source_url_map

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
        repository = OrmStrategyRepository(serves=self._config.cluster.serves)
        self._closers.append(repository.close)
        return repository

    @cached_property
    def record_sink(self) -> RedisSink:
        return RedisSink(self.redis, self._config.key_prefix, max_queue_length=self._config.data.queue_max_len)

    def source_for(self, source: tuple[str, str]) -> TimeSeriesSource:
        """`TSDB_URL` set: its Prometheus-compatible API serves every source; else the embedded SQL table.
        A source named in `ALARM_ACCESS_DATA_SOURCE_URLS` ("dsl:dtl=url") is served by its own API."""
        url = self._source_urls.get(source)
        if url:
            if url not in self._source_by_url:
                timeout = self._config.network_timeout
                own = self._source_by_url[url] = PrometheusSource(url, connect_timeout=timeout, read_timeout=timeout)
                self._closers.append(own.close)
            return self._source_by_url[url]
        if self._source is None:
            if self._config.tsdb_url:
                timeout = self._config.network_timeout
                self._source = PrometheusSource(self._config.tsdb_url, connect_timeout=timeout, read_timeout=timeout)
            else:
                self._source = SqlSource()
            self._closers.append(self._source.close)
        return self._source

    # --- data access (DataPorts) ---------------------------------------------------------------------------
    @cached_property
    def guards(self) -> RedisGuards:
        return RedisGuards(self.redis, self._config.key_prefix)

    @cached_property
    def _celery_dispatcher(self) -> CeleryDispatcher:
        if not self._config.celery_broker_url:
            raise ConfigError("-H celery needs CELERY_BROKER_URL (a redis:// or amqp:// broker)")
        dispatcher = CeleryDispatcher(
            make_celery_app(self._config.celery_broker_url, self._config.data.celery_visibility_timeout,
                            self._config.cluster.queue_prefix))
        self._closers.append(dispatcher.close)
        return dispatcher

    def celery_dispatcher(self) -> CeleryDispatcher:
        return self._celery_dispatcher

    # --- event access (EventPorts) -------------------------------------------------------------------------
    def event_streams(self) -> list[MessageStream]:
        """One consumer per Kafka cluster of the event topics, in group `{prefix}.access.event.{cluster}`.

        The caller (the event service) owns and closes them: closing commits what it delivered."""
        by_cluster: dict[str, dict[str, int]] = {}
        for route in self._event_routes:
            by_cluster.setdefault(route.bootstrap, {})[route.topic] = route.data_id
        return [self._consumer("event", self._config.event, bootstrap, topics)
                for bootstrap, topics in by_cluster.items()]

    def _consumer(self, access_type: str, settings: ConsumerSettings, bootstrap: str,
                  topics: Mapping[str, int]) -> KafkaStream:
        group = f"{self._config.kafka_group_prefix}.access.{access_type}.{settings.cluster}"
        options: dict[str, Any] = {
            "client.id": f"{group}-{socket.gethostname()}",
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": settings.heartbeat_interval_ms,
            "auto.offset.reset": settings.offset_reset,
            "fetch.wait.max.ms": settings.fetch_wait_max_ms,
        }
        return KafkaStream(bootstrap=bootstrap, group_id=group, topics=topics, timeout=self._config.network_timeout,
                           options=options, commit_every_messages=settings.commit_every_messages,
                           commit_every_seconds=settings.commit_every_seconds, join_timeout=settings.join_timeout,
                           access_type=access_type, security=cluster_security(bootstrap))

    @cached_property
    def _event_routes(self) -> list[TopicRoute]:
        """Topic, data id and cluster of every active event data id, resolved once (`ConfigError` if none)."""
        event = self._config.event
        return event_topic_routes(event.active_data_ids, self._config.kafka_bootstrap, event.topics)

    @cached_property
    def _stream_publisher(self) -> CeleryBatchPublisher:
        if not self._config.celery_broker_url:
            raise ConfigError("-H celery needs CELERY_BROKER_URL (a redis:// or amqp:// broker)")
        task, queue = STREAM_TASKS[self._config.access_type.value]
        publisher = CeleryBatchPublisher(self._config.celery_broker_url, self._config.data.celery_visibility_timeout,
                                         self._config.network_timeout, task=task, queue=queue,
                                         queue_prefix=self._config.cluster.queue_prefix)
        self._closers.append(publisher.close)
        return publisher

    def stream_publisher(self) -> CeleryBatchPublisher:
        """The batch publisher of this process's Kafka-based access type (`stream_tasks.PublisherPorts`)."""
        return self._stream_publisher

    @cached_property
    def _dead_letters(self) -> KafkaDeadLetters:
        # the consumer and a Celery worker (which consumes no stream) agree: the cluster of the first event topic
        bootstrap = self._config.kafka_bootstrap or self._event_routes[0].bootstrap
        producer = KafkaDeadLetters(bootstrap, self._config.event.dlq_topic, self._config.network_timeout,
                                    security=cluster_security(bootstrap))
        self._closers.append(producer.close)
        return producer

    def dead_letters(self) -> KafkaDeadLetters:
        return self._dead_letters

    @cached_property
    def _anomaly_sink(self) -> RedisAnomalySink:
        event = self._config.event
        return RedisAnomalySink(self.redis, self._config.key_prefix, max_queue_length=event.queue_max_len,
                                qos_enabled=event.qos_enabled, qos_threshold=event.qos_threshold,
                                qos_window=event.qos_window)

    def anomaly_sink(self) -> RedisAnomalySink:
        return self._anomaly_sink

    # --- real-time data access (RealTimePorts) ---------------------------------------------------------------
    def result_tables(self, table_ids: Collection[str]) -> list[TableTopic]:
        return result_table_topics(table_ids)

    def real_time_stream(self, bootstrap: str, topics: Collection[str]) -> MessageStream:
        """A consumer in group `{prefix}.access.real_time_data.{cluster}`; the caller owns and closes it."""
        return self._consumer("real_time_data", self._config.real_time, bootstrap, dict.fromkeys(topics, 0))

    def point_sink(self) -> RedisSink:
        return self.record_sink

    def dead_letters_on(self, bootstrap: str) -> KafkaDeadLetters:
        """One producer per cluster, to the real-time dead-letter topic (KAFKA_BOOTSTRAP_SERVERS if unknown)."""
        bootstrap = bootstrap or self._config.kafka_bootstrap
        if bootstrap not in self._dead_letters_by_cluster:
            producer = KafkaDeadLetters(bootstrap, self._config.real_time.dlq_topic, self._config.network_timeout,
                                        security=cluster_security(bootstrap))
            self._closers.append(producer.close)
            self._dead_letters_by_cluster[bootstrap] = producer
        return self._dead_letters_by_cluster[bootstrap]

    def strategy_documents(self, strategy_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
        """The stored strategies of this cluster's businesses (only those of `strategy_ids` when given), in
        the original cached JSON format."""
        serves = self._config.cluster.serves
        return [doc for doc in load_strategy_documents(strategy_ids) if serves(int(doc.get("bk_biz_id") or 0))]

    def ring_membership(self) -> Membership:
        """The leases of ring `{access type}.{cluster}`: Redis, or etcd with ALARM_ACCESS_RING_STORE=etcd."""
        config = self._config
        ring = f"{config.access_type.value}.{config.cluster.name}"
        if config.ring_store == RingStore.ETCD:
            membership = EtcdMembership(config.etcd_url, config.key_prefix, ring, timeout=config.network_timeout)
            self._closers.append(membership.close)
            return membership
        return RedisMembership(self.redis, config.key_prefix, ring)

    # --- incident access (IncidentPorts) ----------------------------------------------------------------------
    def incident_source(self) -> IncidentSource:
        """The sync queue consumer (BK_DATA_AIOPS_INCIDENT_BROKER_URL / _SYNC_QUEUE), or the incident topic's
        with ALARM_ACCESS_INCIDENT_SOURCE=kafka; the caller closes it."""
        incident = self._config.incident
        if incident.source == "kafka":
            bootstrap = self._config.kafka_bootstrap
            settings = ConsumerSettings(cluster=self._config.cluster.name, dlq_topic=incident.kafka_dlq_topic,
                                        offset_reset=incident.kafka_offset_reset,
                                        commit_every_messages=incident.prefetch, commit_every_seconds=1.0)
            dead_letters = KafkaDeadLetters(bootstrap, incident.kafka_dlq_topic, self._config.network_timeout,
                                            security=cluster_security(bootstrap))
            return KafkaIncidentSource(self._consumer("incident", settings, bootstrap, {incident.kafka_topic: 0}),
                                       dead_letters, prefetch=incident.prefetch)
        return RabbitIncidentSource(incident.broker_url, incident.sync_queue,
                                    dead_letter_queue=incident.dead_letter_name, declare=incident.declare,
                                    delivery_limit=incident.delivery_limit, prefetch=incident.prefetch,
                                    heartbeat=incident.heartbeat, timeout=self._config.network_timeout)

    def incident_store(self) -> OrmIncidentStore:
        return OrmIncidentStore()

    def incident_census(self) -> OrmIncidentStore:
        return OrmIncidentStore()

    def incident_api(self) -> HttpIncidentApi | None:
        """The AIOps API client when ALARM_ACCESS_INCIDENT_API_URL is set; its user closes it."""
        incident = self._config.incident
        if not incident.api_url:
            return None
        return HttpIncidentApi(incident.api_url, timeout=self._config.network_timeout, retries=incident.api_retries,
                               authorization=incident.api_authorization)

    # --- alert access (AlertPorts) ----------------------------------------------------------------------------
    def alert_producer(self) -> KafkaAlertProducer:
        """Standard events to ALARM_ACCESS_ALERT_TOPIC on KAFKA_BOOTSTRAP_SERVERS; the receiver closes it."""
        alert, bootstrap = self._config.alert, self._config.kafka_bootstrap
        producer = KafkaAlertProducer(bootstrap, alert.topic, alert.produce_timeout, cluster_security(bootstrap))
        self._closers.append(producer.close)
        return producer

    def alert_dead_letters(self) -> KafkaRawDeadLetters:
        alert, bootstrap = self._config.alert, self._config.kafka_bootstrap
        producer = KafkaRawDeadLetters(bootstrap, alert.dlq_topic, alert.produce_timeout,
                                       cluster_security(bootstrap))
        self._closers.append(producer.close)
        return producer

    def alert_integrations(self) -> list[dict[str, Any]]:
        return load_alert_integrations()

    def alert_hosts(self) -> list[Host]:
        return load_hosts()

    def alert_states(self) -> RedisAlertStates:
        return RedisAlertStates(self.redis, self._config.key_prefix, self._config.alert.state_ttl)

    def alert_streams(self, kafka_topics: Collection[str], redis_lists: Collection[str]) -> list[MessageStream]:
        streams: list[MessageStream] = []
        if kafka_topics:
            streams.append(self._consumer("alert", self._config.alert, self._config.kafka_bootstrap,
                                          dict.fromkeys(kafka_topics, 0)))
        if redis_lists:
            streams.append(RedisListStream(self.redis, list(redis_lists)))
        return streams

    def ring_member(self) -> RingMember:
        """This process in its ring; member id `host/pid/random` (unique per start)."""
        member_id = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
        return RingMember(self.ring_membership(), member_id, ttl=self._config.session_ttl,
                          weight=self._config.ring_weight, access_type=self._config.access_type.value)

    def snapshot_key(self, strategy_id: int, update_time: int) -> str:
        return self._keys.strategy_snapshot(strategy_id, update_time)

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:
                logger.exception("closing an adapter failed")


def build_service(config: AccessConfig) -> Service:
    """The service for `config` (any access type, handler type and ring mode)."""
    return REGISTRY[config.access_type].build(config, AdapterPorts(config))
