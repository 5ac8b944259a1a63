"""`manage.py load_strategies FILE`: validate and store the strategies of a JSON file.

FILE holds one strategy object or a list of them, in the original cached format. Valid strategies are
inserted or replaced by id; each invalid one is reported on its own stderr line naming the entry and the
field. Exit status: 0 all loaded, 1 some rejected, 2 the file is unreadable or not a strategy document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.adapters.orm import save_strategy_document
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin, read_json_file, report_load


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Load strategies (one JSON object or a list, original cached format) into the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON file with a strategy object or a list of them")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        doc = read_json_file(path)
        if not isinstance(doc, list | Mapping):
            raise CommandError(f"{path}: expected a strategy object or a list of them", returncode=EXIT_USAGE)
        entries = doc if isinstance(doc, list) else [doc]
        errors: list[InvalidStrategy] = []
        for index, entry in enumerate(entries):
            try:
                save_strategy_document(entry, index)
            except InvalidStrategy as error:
                errors.append(error)
        report_load(self, f"loaded {len(entries) - len(errors)} strategies, rejected {len(errors)}", errors)
