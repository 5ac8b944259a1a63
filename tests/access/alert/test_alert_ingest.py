"""`AlertIngestor`: the request flow over fake ports (auth, rejection, diff, durable-before-ack)."""

from __future__ import annotations

import json
from pathlib import Path

from alarm_access.access.alert.auth import sign
from alarm_access.access.alert.ingest import AlertIngestor, AlertRequest
from alarm_access.access.alert.integrations import Integration
from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import Host
from tests.access.alert.fakes import FakeDeadLetters, FakeProducer, FakeStates

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alert"
NOW = 1714570000.0
INTEGRATIONS = {"am": Integration("am", "alertmanager", token="tok"),
                "gf": Integration("gf", "grafana", token="tok", secret="hush")}


def world() -> tuple[AlertIngestor, FakeProducer, FakeDeadLetters, FakeStates]:
    producer, dlq, states = FakeProducer(), FakeDeadLetters(), FakeStates()
    return AlertIngestor(INTEGRATIONS, producer, dlq, states), producer, dlq, states


def request(source: str, name: str, body: bytes, headers: dict[str, str] | None = None,
            token: str = "") -> AlertRequest:
    return AlertRequest(source, name, headers if headers is not None else {"authorization": "Bearer tok"},
                        token, body, NOW, "rid")


def test_accepts_produces_keyed_events_and_suppresses_the_repeat() -> None:
    ingestor, producer, _, states = world()
    body = (FIXTURES / "alertmanager_group.json").read_bytes()
    response = ingestor.handle(request("alertmanager", "am", body))
    assert response.status == 202 and response.body["events"] == 2 and response.body["request_id"] == "rid"
    assert [key for key, _ in producer.sent] == [json.loads(v)["dedupe_md5"] for _, v in producer.sent]
    assert len(states.states) == 2
    repeat = ingestor.handle(request("alertmanager", "am", body))
    assert repeat.status == 202 and repeat.body == {"request_id": "rid", "events": 0, "suppressed": 2}
    assert len(producer.sent) == 2


def test_auth() -> None:
    ingestor, producer, _, _ = world()
    body = (FIXTURES / "alertmanager_group.json").read_bytes()
    assert ingestor.handle(request("alertmanager", "am", body, {"authorization": "Bearer nope"})).status == 401
    assert ingestor.handle(request("alertmanager", "am", body, {})).status == 401
    assert ingestor.handle(request("alertmanager", "am", body, {}, token="tok")).status == 202
    assert ingestor.handle(request("grafana", "am", body)).status == 404
    assert ingestor.handle(request("alertmanager", "zz", body)).status == 404
    grafana = (FIXTURES / "grafana_v1.json").read_bytes()
    signed = {"authorization": "Bearer tok", "x-grafana-alerting-signature": sign("hush", grafana, str(int(NOW))),
              "x-grafana-alerting-signature-timestamp": str(int(NOW))}
    assert ingestor.handle(request("grafana", "gf", grafana, signed)).status == 202
    assert ingestor.handle(request("grafana", "gf", grafana)).status == 403
    bad = {**signed, "x-grafana-alerting-signature": sign("other", grafana, str(int(NOW)))}
    assert ingestor.handle(request("grafana", "gf", grafana, bad)).status == 403
    old = {**signed, "x-grafana-alerting-signature-timestamp": str(int(NOW) - 3600),
           "x-grafana-alerting-signature": sign("hush", grafana, str(int(NOW) - 3600))}
    assert ingestor.handle(request("grafana", "gf", grafana, old)).status == 403
    plain = {"authorization": "Bearer tok", "x-grafana-alerting-signature": sign("hush", grafana)}
    assert ingestor.handle(request("grafana", "gf", grafana, plain)).status == 202
    assert len(producer.sent) == 3  # the alertmanager group once (2 events; its second accept a repeat), grafana once


def test_malformed_body_is_dead_lettered() -> None:
    ingestor, producer, dlq, _ = world()
    response = ingestor.handle(request("alertmanager", "am", b"{oops"))
    assert response.status == 400 and response.reason == "invalid_json"
    assert dlq.sent == [(b"{oops", "am", "alertmanager", "invalid_json")] and producer.sent == []


def test_broker_down_answers_503_and_keeps_no_state() -> None:
    ingestor, producer, _, states = world()
    body = (FIXTURES / "alertmanager_group.json").read_bytes()
    producer.down = True
    assert ingestor.handle(request("alertmanager", "am", body)).status == 503
    assert states.states == {}
    producer.down = False
    assert ingestor.handle(request("alertmanager", "am", body)).body["events"] == 2


def test_events_are_enriched_from_the_host_at_their_ip() -> None:
    host = Host(bk_host_id=101, ip="10.0.0.1", cloud_id=0, bk_biz_id=7, topo_link={"module|5": ("set|2", "biz|7")})
    producer, dlq, states = FakeProducer(), FakeDeadLetters(), FakeStates()
    ingestor = AlertIngestor(INTEGRATIONS, producer, dlq, states, hosts=lambda: {"10.0.0.1|0": host})
    body = (FIXTURES / "alertmanager_group.json").read_bytes()
    assert ingestor.handle(request("alertmanager", "am", body)).status == 202
    known, unknown = (json.loads(value) for _, value in producer.sent)
    assert (known["bk_biz_id"], known["bk_host_id"], known["bk_cloud_id"]) == (7, 101, 0)
    assert known["bk_topo_node"] == list(host.topo_nodes) and known["bk_topo_node"]
    assert known["dedupe_md5"] == count_md5({"alert_name": "HighCPU", "target_type": "HOST",
                                             "target": "10.0.0.1:9100", "bk_biz_id": 7})
    assert producer.sent[0][0] == known["dedupe_md5"]
    assert unknown["bk_host_id"] is None and unknown["bk_biz_id"] == 0  # the integration's default business


def test_rate_limit_429_for_api_clients_503_for_snapshot_senders() -> None:
    limited = {"pd": Integration("pd", "pagerduty", token="tok", rate_limit=1),
               "am": Integration("am", "alertmanager", token="tok", rate_limit=1)}
    producer = FakeProducer()
    ingestor = AlertIngestor(limited, producer, FakeDeadLetters(), FakeStates())
    trigger = (FIXTURES / "pagerduty_trigger.json").read_bytes()
    assert ingestor.handle(request("pagerduty", "pd", trigger)).status == 202
    over = ingestor.handle(request("pagerduty", "pd", trigger))
    assert (over.status, over.reason, over.headers) == (429, "rate_limited", {"Retry-After": "1"})
    later = AlertRequest("pagerduty", "pd", {"authorization": "Bearer tok"}, "", trigger, NOW + 1.0, "r2")
    assert ingestor.handle(later).status == 202
    group = (FIXTURES / "alertmanager_group.json").read_bytes()
    assert ingestor.handle(request("alertmanager", "am", group)).status == 202
    assert ingestor.handle(request("alertmanager", "am", group)).status == 503
