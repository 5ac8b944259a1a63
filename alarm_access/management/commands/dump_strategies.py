"""`manage.py dump_strategies [--output FILE]`: every stored strategy as a JSON list, ordered by id.

The output is the original cached format, so `load_strategies` reads it back unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.adapters.orm import strategy_documents
from alarm_access.management.cli import OneLineErrorsMixin


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Write every stored strategy as a JSON list (original cached format) to stdout or a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(strategy_documents(), ensure_ascii=False, indent=2)
        output = options["output"]
        if not output:
            self.stdout.write(text)
            return
        try:
            Path(output).write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror or error}") from None
