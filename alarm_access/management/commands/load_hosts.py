"""`manage.py load_hosts FILE`: validate and upsert CMDB hosts, service instances and dynamic groups.

FILE holds a list of hosts or `{"hosts": [...], "service_instances": [...], "dynamic_groups": [...]}`.
Valid entries are inserted or updated by CMDB id; each invalid one is reported on its own stderr line
naming the entry and the field. Exit status: 0 all loaded, 1 some rejected, 2 the file is unreadable or
not a topology document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.adapters.orm import save_topology
from alarm_access.formats import parse_topology_document
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin, read_json_file, report_load


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Load CMDB hosts (a list, or an object with hosts/service_instances/dynamic_groups)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON file with a list of hosts or a topology object")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        doc = read_json_file(path)
        if not isinstance(doc, list | Mapping):
            raise CommandError(f"{path}: expected a list of hosts or a topology object", returncode=EXIT_USAGE)
        topology, errors = parse_topology_document(doc)
        save_topology(topology)
        summary = (
            f"loaded {len(topology.hosts)} hosts, {len(topology.service_instances)} service instances, "
            f"{len(topology.dynamic_groups)} dynamic groups, rejected {len(errors)}"
        )
        report_load(self, summary, errors)
