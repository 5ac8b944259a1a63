"""The `alert` access type: third-party alerts (Alertmanager, Grafana, PagerDuty, the standard event JSON) received
over HTTP, normalized into BlueKing standard events, de-duplicated against group snapshots, produced to Kafka.

Pure core: `standard` (the event and its ids), `integrations`, `timefmt`, `sources` (one parser per format),
`diff` (group-snapshot transitions), `auth`, `ingest` (the request flow over the ports), `ports`, `preview`.
The shell: `service` (the HTTP receiver); adapters in `adapters.kafka.alerts` and `adapters.redis.alert_state`.
"""
