"""`run_access`: run one access type under the supervisor (spec launcher-and-ring §1).

    python manage.py run_access -s access -H process|celery \
        --access-type data|real_time_data|event|alert|incident --hash-ring 0|1 [--once] ...

Exit codes: 0 clean stop (SIGTERM/SIGINT drained, limits reached, or --once with every unit of work
succeeding); 1 the last cycle failed; 2 bad arguments or configuration;
3 the drain deadline passed with work in flight.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.kernel.config import AccessConfig, AccessType, HandlerType
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin
from alarm_access.runtime import Supervisor

logger = logging.getLogger("alarm_access.run_access")


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Run an access service: bring monitoring data into anomaly detection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-s", "--service-type", default="access", choices=["access"],
                            help="service to run (only 'access'; kept for compatibility)")
        parser.add_argument("-H", "--handler-type", default=HandlerType.PROCESS.value,
                            choices=[h.value for h in HandlerType],
                            help="process: work in this process; celery: dispatch work to Celery workers")
        parser.add_argument("--access-type", choices=[a.value for a in AccessType],
                            help="which data to bring in (required)")
        parser.add_argument("--hash-ring", default="0", choices=["0", "1"],
                            help="1: share the work with every access process of this type (consistent hashing)")
        parser.add_argument("--once", action="store_true",
                            help="run one cycle (data: pull every owned group once, now) and exit; "
                                 "exit 1 if any unit of work failed")
        parser.add_argument("--max-cycles", type=int, help="exit 0 after this many cycles")
        parser.add_argument("--max-uptime", type=int, help="exit 0 after running this many seconds")
        parser.add_argument("--min-interval", type=float, default=1.0,
                            help="data: minimum seconds between the starts of two scheduler cycles (default 1); "
                                 "event: not used (the consumer polls without pause)")
        parser.add_argument("--metrics-port", type=int,
                            help="serve /metrics, /healthz, /readyz and the status page /status on this port "
                                 "(0: off; default from ALARM_ACCESS_METRICS_PORT)")
        parser.add_argument("--session-ttl", type=float, default=60.0,
                            help="--hash-ring 1: seconds a member's lease lives without a heartbeat (default 60; "
                                 "renewed every third of it; a dead member's work moves within about two)")

    def handle(self, *args: Any, **options: Any) -> None:
        # imported here, not at the top: `--help` and argument errors answer without loading every client library
        from alarm_access.bootstrap import build_service
        from alarm_access.health import HealthServer
        from alarm_access.status.collect import StatusSource

        try:
            config = AccessConfig.build(settings.ALARM_ACCESS, options)
            service = build_service(config)
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        except SourceUnavailable as exc:  # e.g. the database holding the topics cannot be reached
            raise CommandError(one_line(str(exc)), returncode=1) from None
        health = None
        if config.metrics_port:
            try:  # the port is bound here: in use or not allowed is a start-up error, not a traceback
                status = StatusSource(config.access_type.value, config.handler_type.value, service.is_ready)
                health = HealthServer(config.metrics_port, is_alive=service.is_alive, is_ready=service.is_ready,
                                      status=status.snapshot)
            except OSError as exc:
                raise CommandError(f"--metrics-port {config.metrics_port}: {exc.strerror or exc}",
                                   returncode=EXIT_USAGE) from None
            health.start()
        logger.info("starting access=%s handler=%s hash_ring=%d once=%s", config.access_type,
                    config.handler_type, config.hash_ring, config.once)
        try:
            code = Supervisor(service, config.drain_timeout).run()
        except SourceUnavailable as exc:
            raise CommandError(one_line(str(exc)), returncode=1) from None
        finally:
            if health is not None:
                health.stop()
        if code:
            raise SystemExit(code)


def one_line(text: str) -> str:
    """A driver's multi-line error message ("...refused\\n\\tIs the server running...") as one stderr line."""
    return " ".join(text.split())
