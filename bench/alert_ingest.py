"""Throughput and latency of the `alert` receiver (`run_access --access-type alert`, one process), next to a bare
HTTP handler that only produces the body to Kafka, in the same run.

    .venv/bin/python -m bench.alert_ingest [--requests 2000] [--clients 8] [--redis-url redis://127.0.0.1:6379/0]

On a private tansu broker (or `KAFKA_BOOTSTRAP`), a private database and a unique Redis prefix. `--clients`
threads each hold one keep-alive connection and POST Alertmanager v4 payloads of 10 firing alerts, every payload
new alerts (so every alert is a transition: 10 events per request, each acknowledged by the broker before the
202). The bare handler is a `ThreadingHTTPServer` in its own process that reads the body and produces it as one
message (idempotent, `acks=all`), answering 202 after the acknowledgement.

Prints one JSON line: `requests_per_s`, `events_per_s`, `latency_p50_ms`, `latency_p99_ms` for the receiver,
`bare_requests_per_s`, `bare_latency_p99_ms` and `ratio` = `requests_per_s / bare_requests_per_s`. Nothing is
asserted: the figures depend on the machine (the clients share this process's CPU).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.services.access_env import access_env, stop
from tests.services.kafka import create_topics, start_tansu
from tests.services.victoria import free_port

TOKEN = "bench-token"


def payload(request: int) -> bytes:
    alerts = [{
        "status": "firing",
        "labels": {"alertname": "BenchAlert", "instance": f"10.{request // 65536 % 256}.{request // 256 % 256}."
                                                          f"{request % 256}:9100", "job": "node", "n": str(i),
                   "severity": "warning"},
        "annotations": {"summary": "bench"},
        "startsAt": "2024-05-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph", "fingerprint": f"{request:012x}{i:04x}",
    } for i in range(10)]
    return json.dumps({"version": "4", "status": "firing", "receiver": "bk", "alerts": alerts,
                       "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://am:9093", "groupKey": f"{{}}:{request}"}).encode()


def drive(port: int, path: str, bodies: list[bytes], clients: int) -> tuple[float, list[float]]:
    """POST every body over `clients` keep-alive connections; (wall seconds, latencies in seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[int] = []

    def client(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        for body in share:
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                                 "Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 202:
                failures.append(response.status)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. HTTP {failures[0]}")
    return wall, latencies


def wait_listening(port: int, process: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not listen")


def bare_server(port: int, bootstrap: str, topic: str) -> None:
    """The floor: read the body, produce it as one message, answer 202 after the broker's acknowledgement."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 2})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            done = threading.Event()
            producer.produce(topic, body, on_delivery=lambda _e, _m: done.set())
            done.wait(30)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    def poll() -> None:  # one thread serves the delivery callbacks, as the receiver's producer does
        while True:
            producer.poll(0.05)

    threading.Thread(target=poll, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--bare-server", nargs=3, metavar=("PORT", "BOOTSTRAP", "TOPIC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(int(args.bare_server[0]), args.bare_server[1], args.bare_server[2])
        return
    with tempfile.TemporaryDirectory(prefix="alert-bench-") as directory, start_tansu(Path(directory)) as kafka:
        topic, dlq, bare_topic = "bench-alert-events", "bench-alert-dlq", "bench-bare"
        create_topics(kafka, [topic, dlq, bare_topic])
        port, bare_port = free_port(), free_port()
        integrations = json.dumps([{"name": "prom", "source": "alertmanager", "bk_biz_id": 2, "token": TOKEN}])
        with access_env(Path(directory), args.redis_url, KAFKA_BOOTSTRAP_SERVERS=kafka,
                        ALARM_ACCESS_ALERT_PORT=str(port), ALARM_ACCESS_ALERT_ADDR="127.0.0.1",
                        ALARM_ACCESS_ALERT_TOPIC=topic, ALARM_ACCESS_ALERT_DLQ_TOPIC=dlq,
                        ALARM_ACCESS_ALERT_INTEGRATIONS=integrations, LOG_LEVEL="WARNING") as env:
            receiver = env.spawn("run_access", "--access-type", "alert")
            bare = subprocess.Popen([sys.executable, "-m", "bench.alert_ingest", "--bare-server", str(bare_port),
                                     kafka, bare_topic])
            try:
                wait_listening(port, receiver)
                wait_listening(bare_port, bare)
                bodies = [payload(i) for i in range(args.requests)]
                drive(port, "/v1/alerts/alertmanager/prom", [payload(10**9 + i) for i in range(50)], args.clients)
                drive(bare_port, "/", bodies[:50], args.clients)
                wall, latencies = drive(port, "/v1/alerts/alertmanager/prom", bodies, args.clients)
                bare_wall, bare_latencies = drive(bare_port, "/", bodies, args.clients)
            finally:
                bare.terminate()
                bare.wait(10)
                stop(receiver)

    def p(values: list[float], q: int) -> float:
        return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 2)

    print(json.dumps({
        "requests": args.requests, "clients": args.clients, "alerts_per_request": 10,
        "requests_per_s": round(args.requests / wall, 1), "events_per_s": round(10 * args.requests / wall, 1),
        "latency_p50_ms": p(latencies, 50), "latency_p99_ms": p(latencies, 99),
        "bare_requests_per_s": round(args.requests / bare_wall, 1), "bare_latency_p99_ms": p(bare_latencies, 99),
        "ratio": round(bare_wall / wall, 3),
    }))


if __name__ == "__main__":
    main()
