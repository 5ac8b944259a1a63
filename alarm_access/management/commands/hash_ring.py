"""`hash_ring`: the members of an access type's ring and what they own (`--hash-ring 1`).

    python manage.py hash_ring --access-type data            # members: state, lease age, weight, owned keys
    python manage.py hash_ring --access-type data --key 2    # who owns business 2
    python manage.py hash_ring --access-type data --simulate-join 1 --simulate-leave 1 [--json]

Keys are the business ids of this deployment cluster's enabled strategies (ownership is by business, as in
the original). Exit 0; 2 on bad arguments or configuration; 1 when Redis or the database cannot be read.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.kernel.config import AccessConfig, AccessType
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin
from alarm_access.ring.report import ring_report


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Show the members of an access type's hash ring and the keys they own."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--access-type", default="data", choices=[a.value for a in AccessType])
        parser.add_argument("--key", help="print the owner of this key (a business id)")
        parser.add_argument("--simulate-join", type=int, default=0, metavar="N",
                            help="how many keys would move if N members joined")
        parser.add_argument("--simulate-leave", type=int, default=0, metavar="M",
                            help="how many keys would move if the first M active members left")
        parser.add_argument("--json", action="store_true", help="one JSON object instead of text")

    def handle(self, *args: Any, **options: Any) -> None:
        from alarm_access.bootstrap import AdapterPorts  # the adapters load only when they are used

        if options["simulate_join"] < 0 or options["simulate_leave"] < 0:
            raise CommandError("--simulate-join and --simulate-leave must be >= 0", returncode=EXIT_USAGE)
        try:
            config = AccessConfig.build(settings.ALARM_ACCESS, {"access_type": options["access_type"],
                                                                "hash_ring": "1"})
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        ports = AdapterPorts(config)
        try:
            view = ports.ring_membership().view()
            keys = sorted({str(s.bk_biz_id) for s in ports.strategies.load_strategies()
                           if config.cluster.serves(s.bk_biz_id)}, key=int)
        except SourceUnavailable as exc:
            raise CommandError(" ".join(str(exc).split()), returncode=1) from None
        finally:
            ports.close()
        report = ring_report(view, keys, key=options["key"], join=options["simulate_join"],
                             leave=options["simulate_leave"])
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
            return
        self.stdout.write(f"ring {config.access_type.value}.{config.cluster.name}: epoch {report['epoch']}, "
                          f"{report['keys']} keys, {len(report['members'])} members")
        for member in report["members"]:
            self.stdout.write(f"  {member['id']}  {member['state']}  lease {member['lease_age_s']} s  "
                              f"weight {member['weight']}  owns {member['owned_keys']}")
        if "key" in report:
            self.stdout.write(f"key {report['key']['key']}: {report['key']['owner'] or 'no owner'}")
        for name in ("simulate_join", "simulate_leave"):
            if name in report:
                entry = report[name]
                self.stdout.write(f"{name.replace('_', ' ')} {entry['members']}: {entry['moved']} keys move "
                                  f"(ideal {entry['ideal']})")
