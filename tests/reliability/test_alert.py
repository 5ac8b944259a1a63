"""Reliability of `run_access --access-type alert`: a sender (like Alertmanager, which resends a group until
it gets a 2xx) posts one new firing alert per request to the e2e receiver (`test_alert_e2e`) while the
receiver is broken; each alert's event must be on the alert topic exactly once (by fingerprint, copies of one
event `id` counted once: `AlertPipeline.delivered`), each malformed body on the dead-letter topic exactly once.

The diff states live in Redis (so Redis outages answer 503 and the sender resends) and the events go to the
broker (an outage answers 503 too)."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.test_alert_e2e import FIXTURES, SECRET, TOKEN, Receiver, receiver
from tests.reliability.driver import run_scenario
from tests.reliability.faults import Faults
from tests.reliability.feed import BAD, FedPipeline
from tests.reliability.harness import SCENARIOS
from tests.reliability.streams import topic_counts
from tests.services.kafka import create_topics
from tests.services.redis_server import RedisServer
from tests.services.tcp_proxy import OutageProxy

pytestmark = pytest.mark.integration

PER_TRIAL = 200
PATH = "/v1/alerts/alertmanager/prom"


def group(fingerprint: str, at: float) -> bytes:
    body = json.loads((FIXTURES / "alertmanager_group.json").read_text())
    starts = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["alerts"] = [{"status": "firing", "labels": {"alertname": "Reliability", "instance": fingerprint},
                       "annotations": {}, "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z",
                       "fingerprint": fingerprint}]
    return json.dumps(body).encode()


class AlertPipeline(FedPipeline):
    access_type = "alert"

    def __init__(self, rx: Receiver) -> None:
        super().__init__()
        self.rx = rx
        self.bootstrap = rx.env.env["KAFKA_BOOTSTRAP_SERVERS"]

    def begin_trial(self, trial: int, malformed: bool) -> None:
        at = time.time() - 60
        items = []
        for index in range(PER_TRIAL):
            if malformed and index % 100 == 99:
                items.append((f"{BAD}{trial}-{index}", json.dumps({"version": "4", "alerts": f"{trial}-{index}"})
                              .encode()))
            else:
                items.append((f"rel{trial}x{index}", group(f"rel{trial}x{index}", at)))
        self.feed_trial(items, self._send)

    def _send(self, bodies: list[bytes]) -> None:
        """Post each body until the receiver takes it (202, or 400 for a malformed one): a sender's resends."""
        for body in bodies:
            deadline = time.monotonic() + 300
            while True:
                try:
                    status = self.rx.post(PATH, body)[0]
                except (OSError, ValueError, http.client.HTTPException):  # refused, reset, cut off by a kill
                    status = 0
                if status in (202, 400):
                    break
                assert status in (0, 503) and time.monotonic() < deadline, f"answer {status}"
                time.sleep(0.1)

    def start(self, log: str) -> subprocess.Popen[str]:
        process = self.rx.env.spawn("run_access", "--access-type", "alert", log=log)
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None and time.monotonic() < deadline, self.rx.env.log(log)[-3000:]
            try:
                if self.rx.get("/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        self.start_feed()
        return process

    def delivered(self) -> Counter[str]:
        """Events per alert, counted by distinct `id`: the standard event's delivery idempotency key
        (docs/alert_access.md). A copy with the same `id` — the sender resent a request whose acknowledgement
        a kill or a broker reset lost, after the event was stored — is one delivery, as for the alert builder
        downstream; a second event of one alert under another `id` is a double."""
        copies = topic_counts(self.bootstrap, self.rx.topic, lambda message: "|".join(
            (str((event := json.loads(message.value() or b""))["event_id"]).split(".")[0], str(event["id"]))))
        return Counter(key.split("|")[0] for key in copies)

    def dead_lettered(self) -> Counter[str]:
        return topic_counts(self.bootstrap, self.rx.dlq,
                            lambda letter: f"{BAD}{json.loads(letter.value() or b'')['alerts']}")


@pytest.fixture
def rx(tmp_path: Path, redis_url: str, kafka: str) -> Iterator[Receiver]:
    (tmp_path / "process.log").touch()  # `receiver` checks its log for secrets: these runs log elsewhere
    with receiver(tmp_path, redis_url, kafka) as created:
        create_topics(kafka, [created.topic, created.dlq])
        yield created
        for log in tmp_path.glob("*.log"):
            assert TOKEN not in log.read_text() and SECRET not in log.read_text(), log


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_alert(scenario: str, rx: Receiver, private_redis: RedisServer, kafka_broker: OutageProxy) -> None:
    run_scenario(AlertPipeline(rx), Faults(private_redis, kafka_broker), scenario)
