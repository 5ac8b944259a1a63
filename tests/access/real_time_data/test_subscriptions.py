"""`Subscriptions` follows the routes by diff and closes every client it opens: one real consumer per cluster
on tansu, reopened when its topic set changes, kept when it does not; open file descriptors return to where
they were after `REAL_TIME_SUBSCRIPTION_CHANGES` (default 100) subscription changes."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field

import pytest

from alarm_access.access.real_time_data.routing import Routes
from alarm_access.access.real_time_data.service import Subscriptions
from alarm_access.adapters.kafka.consumer import KafkaStream
from alarm_access.kernel.stream import MessageStream
from tests.services.kafka import FAST_GROUP, create_topics, kafka

pytestmark = pytest.mark.integration
__all__ = ["kafka"]

CHANGES = int(os.environ.get("REAL_TIME_SUBSCRIPTION_CHANGES", "100"))


@dataclass
class Routing:
    """Stands in for the handler: only its current routes matter to `Subscriptions`."""

    routes: Routes | None = None


@dataclass
class KafkaPorts:
    bootstrap: str
    opened: list[KafkaStream] = field(default_factory=list)
    closed: bool = False

    def real_time_stream(self, bootstrap: str, topics: Collection[str]) -> MessageStream:
        stream = KafkaStream(bootstrap=bootstrap, group_id=f"subs-{id(self)}", topics=dict.fromkeys(topics, 0),
                             timeout=2.0, options=FAST_GROUP, commit_every_messages=100, commit_every_seconds=1.0,
                             join_timeout=30.0, access_type="real_time_data")
        self.opened.append(stream)
        return stream

    def close(self) -> None:
        self.closed = True


def routes(subscriptions: dict[str, frozenset[str]]) -> Routes:
    return Routes(by_topic={}, subscriptions=subscriptions, groups=())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_subscriptions_follow_the_routes_by_diff_and_close_what_they_open(kafka: str) -> None:
    create_topics(kafka, ["subs-a", "subs-b"])
    ports, routing = KafkaPorts(kafka), Routing()
    subscriptions = Subscriptions(ports, routing)  # type: ignore[arg-type]
    assert subscriptions.streams() == []  # no routes yet: nothing opened
    routing.routes = routes({kafka: frozenset({"subs-a"})})
    first = subscriptions.streams()
    assert len(first) == 1 and subscriptions.streams() == first  # unchanged routes keep the consumer
    baseline = open_fds()
    for change in range(CHANGES):
        routing.routes = routes({kafka: frozenset({"subs-a", "subs-b"} if change % 2 == 0 else {"subs-a"})})
        [stream] = subscriptions.streams()
        assert stream is ports.opened[-1]  # a changed topic set reopened the cluster's consumer
    assert len(ports.opened) == CHANGES + 1
    routing.routes = routes({})
    assert subscriptions.streams() == []  # no strategy reads the cluster any more: closed
    assert open_fds() <= baseline, f"{open_fds() - baseline} file descriptors leaked over {CHANGES} changes"
    subscriptions.close()
    assert ports.closed
