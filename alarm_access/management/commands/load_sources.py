"""`manage.py load_sources FILE`: upsert Kafka topics and result tables (the data-source model).

FILE holds `{"kafka_topics": [{"data_id", "bootstrap_servers", "topic", "cluster_name"?}, ...],
"result_tables": [{"table_id", "data_id", "dimensions": [...]}, ...]}`. Topics are keyed by data id,
tables by table id. Each invalid entry is reported on its own stderr line. Exit status: 0 all loaded,
1 some rejected, 2 the file is unreadable or not such an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.adapters.orm.tables import save_sources
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin, read_json_file, report_load


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Load Kafka topics and result tables (an object with kafka_topics and result_tables lists)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON file with kafka_topics and result_tables")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        doc = read_json_file(path)
        if not isinstance(doc, Mapping):
            raise CommandError(f"{path}: expected an object with kafka_topics and result_tables",
                               returncode=EXIT_USAGE)
        topics, tables, errors = save_sources(doc)
        report_load(self, f"loaded {topics} kafka topics, {tables} result tables, rejected {len(errors)}", errors)
