"""The `alert` access service: the HTTP receiver `POST /v1/alerts/{source}/{integration}` (stdlib
`ThreadingHTTPServer`, one thread per connection, keep-alive), over `ingest.AlertIngestor`.

Answers: 202 `{request_id, events, suppressed}` once every event was acknowledged by the broker; 400
`{error: reason, detail}` for a malformed body (dead-lettered first); 401 wrong/missing token; 403 bad
signature; 404 unknown integration or path; 405 not POST; 411 no Content-Length; 413 a body over
`max_body_bytes` (not read); 503 when Kafka (or Redis, for the diff states) is down or more than `max_in_flight`
requests are being handled — never 429, which
Alertmanager and Grafana do not retry. Tokens, secrets and signatures are never logged (nor the query string).
`/healthz` on the same port answers 200. `stop()` stops accepting connections; requests in flight finish (up to
`DRAIN_SECONDS`) before the producers close.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import parse_qs, urlsplit

from alarm_access import metrics
from alarm_access.access.alert.ingest import AlertIngestor, AlertRequest, AlertResponse, refuse
from alarm_access.access.alert.integrations import Integration, integrations_from, parse_integrations
from alarm_access.access.alert.observe import record_response
from alarm_access.access.alert.ports import AlertPorts
from alarm_access.access.alert.stream import AlertStreamDelivery, stream_routes
from alarm_access.kernel.config import AccessConfig, HandlerType
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.kernel.model import Host
from alarm_access.kernel.ports import Ports
from alarm_access.logs import ctx
from alarm_access.runtime import LoopLimits, LoopService, Service, ServiceGroup
from alarm_access.stream_tasks import PublisherPorts, PublishingDelivery
from alarm_access.streaming import Delivery, Polling, StreamAccess

logger = logging.getLogger("alarm_access.access.alert")

PATH_PREFIX = "/v1/alerts/"
#: seconds `stop` waits for requests in flight (each waits at most the produce timeout)
DRAIN_SECONDS = 15.0


class AlertReceiver:
    """A `runtime.Service`: the receiver's server thread; `close` closes the ports after it stopped."""

    def __init__(self, ingestor: AlertIngestor, known: frozenset[str], *, addr: str, port: int, max_body: int,
                 close: Callable[[], None], max_in_flight: int = 64) -> None:
        self.name = "alert"
        self._ingestor = ingestor
        self._known = known
        self._max_body = max_body
        #: requests being handled at once; over it the receiver sheds load with 503 (never 429, see the docstring)
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        self._close = close
        self._done = threading.Event()
        self._failed = False
        self._server = ThreadingHTTPServer((addr, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, name="alert-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _serve(self) -> None:
        try:
            logger.info("alert receiver listening", extra=ctx(port=self.port))
            self._server.serve_forever(poll_interval=0.2)
        except Exception:
            logger.exception("alert receiver failed")
            self._failed = True
        finally:
            self._server.server_close()
            self._drain()
            try:
                self._close()
            except Exception:
                logger.exception("closing the alert ports failed")
                self._failed = True
            metrics.UP.labels(self.name).set(0)
            self._done.set()

    def _drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Wait for the requests in flight (they hold a slot each) before the ports close; later requests on
        kept-alive connections find no slot and answer 503."""
        deadline = time.monotonic() + timeout
        taken = 0
        while taken < self._max_in_flight and self._slots.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            taken += 1
        if taken < self._max_in_flight:
            logger.error("alert requests still in flight at close", extra=ctx(count=self._max_in_flight - taken))

    def release(self) -> None:
        """Close the listening socket of a receiver that will not be started (a start-up failure after it)."""
        self._server.server_close()

    def start(self) -> None:
        metrics.UP.labels(self.name).set(1)
        metrics.READY.labels(self.name).set(1)
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to return: never from the signal handler's thread itself
        threading.Thread(target=self._server.shutdown, name="alert-http-stop", daemon=True).start()

    def join(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)

    @property
    def exit_code(self) -> int:
        return 1 if self._failed else 0

    def is_ready(self) -> bool:
        return not self._done.is_set()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def handle(self, method: str, path: str, headers: dict[str, str],
               read_body: Callable[[int], bytes]) -> AlertResponse:
        rid = uuid.uuid4().hex
        parts = urlsplit(path)
        if parts.path in ("/healthz", "/readyz") and method == "GET":
            return AlertResponse(200, {"status": "ok"})
        segments = parts.path.removeprefix(PATH_PREFIX).strip("/").split("/")
        if not parts.path.startswith(PATH_PREFIX) or len(segments) != 2:
            return refuse(404, "not_found", "POST /v1/alerts/{source}/{integration}", rid)
        source, integration = segments
        label = integration if integration in self._known else "unknown"
        if method != "POST":
            response = refuse(405, "method_not_allowed", "use POST", rid)
        else:
            response = self._post(source, integration, parts.query, headers, read_body=read_body, rid=rid)
        record_response(label, response)
        return response

    def _post(self, source: str, integration: str, query: str, headers: dict[str, str], *,
              read_body: Callable[[int], bytes], rid: str) -> AlertResponse:
        length_text = headers.get("content-length", "")
        if not (length_text.isascii() and length_text.isdigit()):
            return refuse(411, "length_required", "a Content-Length header is required", rid)
        length = int(length_text)
        if length > self._max_body:
            return refuse(413, "too_large", f"the body is over {self._max_body} bytes", rid)
        body = read_body(length)
        token = (parse_qs(query).get("token") or [""])[0]
        if not self._slots.acquire(blocking=False):
            return refuse(503, "overloaded", "too many requests in flight, retry later", rid)
        try:
            return self._ingestor.handle(AlertRequest(source, integration, headers, token, body, time.time(), rid))
        except Exception:  # a bug, not a classified error: answer 500 (the senders retry 5xx), keep serving
            logger.exception("alert request failed", extra=ctx(request_id=rid))
            return refuse(500, "internal_error", "the request could not be handled", rid)
        finally:
            self._slots.release()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: Alertmanager and Grafana reuse connections
            #: headers and body are two writes: without TCP_NODELAY the body waits for the peer's delayed ACK (~40 ms)
            disable_nagle_algorithm = True

            #: seconds a connection may stay silent (a slow body, an idle keep-alive) before it is closed
            timeout = 30

            def _serve(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                read: list[int] = []

                def read_body(length: int) -> bytes:
                    read.append(length)
                    return self.rfile.read(length)

                response = receiver.handle(self.command, self.path, headers, read_body)
                payload = response.payload()
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if (not read and headers.get("content-length", "0") != "0") or response.status == 411:
                    self.send_header("Connection", "close")  # an unread body cannot be skipped safely
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def do_PUT(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: object) -> None:
                """The access log would carry `?token=`: requests are logged by `record_response`, without it."""

        return Handler


class HostCache:
    """The CMDB hosts by `"ip|cloud_id"`, reloaded by the first request after `refresh` seconds (the others
    use the previous view meanwhile); a failed reload keeps the previous view (events go out unenriched rather
    than not at all)."""

    def __init__(self, load: Callable[[], Sequence[Host]], refresh: float) -> None:
        self._load = load
        self._refresh = refresh
        self._index: dict[str, Host] = {}
        self._loaded_at = -math.inf
        self._lock = threading.Lock()

    def __call__(self) -> Mapping[str, Host]:
        now = time.monotonic()
        if now - self._loaded_at >= self._refresh and self._lock.acquire(blocking=False):
            try:
                self._index = {f"{host.ip}|{host.cloud_id}": host for host in self._load()}
            except SourceUnavailable as exc:
                logger.warning("alert host reload failed, keeping %d hosts: %s", len(self._index), exc)
            finally:
                self._loaded_at = now
                self._lock.release()
        return self._index


def build_alert_service(config: AccessConfig, ports: Ports) -> Service:
    """The supervised receiver; `ports` must implement `AlertPorts`. `ConfigError` without integrations, without
    KAFKA_BOOTSTRAP_SERVERS or when the port cannot be bound."""
    settings = config.alert
    alert_ports = cast("AlertPorts", ports)
    integrations = _integrations(config, alert_ports)
    if not config.kafka_bootstrap:
        raise ConfigError("--access-type alert needs KAFKA_BOOTSTRAP_SERVERS (the cluster of the alert topic)")
    routes = stream_routes(settings, integrations)
    ingestor = alert_ingestor(config, alert_ports, integrations)
    try:
        receiver = AlertReceiver(ingestor, frozenset(integrations), addr=settings.addr, port=settings.port,
                                 max_body=settings.max_body_bytes, close=alert_ports.close if not routes else _nothing,
                                 max_in_flight=settings.max_in_flight)
    except OSError as exc:
        alert_ports.close()
        raise ConfigError(f"ALARM_ACCESS_ALERT_PORT {settings.port}: {exc.strerror or exc}") from None
    if not routes:
        return receiver
    # -H celery: the consumer publishes each batch as a task; the HTTP receiver answers from this process (its
    # 202 means "acknowledged by the broker", which a task queue in between cannot promise)
    delivery: Delivery = (PublishingDelivery("alert", cast("PublisherPorts", ports).stream_publisher())
                          if config.handler_type == HandlerType.CELERY else AlertStreamDelivery(ingestor, routes))
    kafka = [source for _, source in settings.kafka_sources]
    try:
        streams = alert_ports.alert_streams(kafka, [source for _, source in settings.redis_sources])
    except BaseException:  # e.g. Redis down while the lists are recovered: release the bound port and the ports
        receiver.release()
        alert_ports.close()
        raise
    access = StreamAccess("alert", lambda: streams, delivery, Polling(settings.batch_size, settings.poll_timeout),
                          _nothing)
    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=0.0)
    consumer = LoopService("alert_streams", access.cycle, access.close, limits)
    return ServiceGroup("alert", (receiver, consumer), alert_ports.close)


def alert_stream_handler(config: AccessConfig, ports: Ports) -> AlertStreamDelivery:
    """What a Celery worker runs for a batch of raw payloads (`tasks.run_access_alert`): the same integrations
    and routes as the consumer that published it (the worker reads the same settings)."""
    alert_ports = cast("AlertPorts", ports)
    integrations = _integrations(config, alert_ports)
    return AlertStreamDelivery(alert_ingestor(config, alert_ports, integrations),
                               stream_routes(config.alert, integrations))


def _integrations(config: AccessConfig, ports: AlertPorts) -> dict[str, Integration]:
    integrations = integrations_from(ports.alert_integrations(), "AlertIntegration rows",
                                     parse_integrations(config.alert.integrations))
    if not integrations:
        raise ConfigError("no alert integration: add AlertIntegration rows (admin) or list them in "
                          "ALARM_ACCESS_ALERT_INTEGRATIONS (a JSON list of {name, source, token, ...})")
    return integrations


def alert_ingestor(config: AccessConfig, ports: AlertPorts, integrations: Mapping[str, Integration]
                   ) -> AlertIngestor:
    """The ingest over `ports` (the receiver's, the stream consumer's and a Celery worker's)."""
    settings = config.alert
    hosts = HostCache(ports.alert_hosts, settings.host_refresh) if settings.host_refresh else None
    return AlertIngestor(integrations, ports.alert_producer(), ports.alert_dead_letters(), ports.alert_states(),
                         signature_window=settings.signature_window, hosts=hosts)


def _nothing() -> None:
    """The members of a `ServiceGroup` leave the shared ports to the group."""
