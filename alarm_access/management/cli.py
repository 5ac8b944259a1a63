"""Command-line conventions shared by this app's management commands.

- `OneLineErrorsMixin`: mix into a `BaseCommand` subclass (before `BaseCommand`) so that a bad argument on
  the command line prints exactly one line, `manage.py <command>: error: <message>`, to stderr and exits
  with status 2 — no usage block. Called through `call_command`, errors still raise `CommandError`.
- `read_json_file(path)`: the parsed JSON of a file, or `CommandError` (exit status 2) with a one-line
  reason when the file is unreadable or not JSON.
- `report_load(command, summary, errors)`: the loaders' ending: one stderr line per rejected entry, the
  summary on stdout, and exit status 1 when anything was rejected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

#: Exit status for usage errors and unreadable input, as argparse uses for bad arguments.
EXIT_USAGE = 2


class OneLineErrorParser(CommandParser):
    """A `CommandParser` whose command-line errors are one line (argparse prints usage first)."""

    def error(self, message: str) -> NoReturn:
        if not self.called_from_command_line:
            super().error(message)  # raises CommandError for call_command
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# The type checker sees the mixin as a BaseCommand, so `super().create_parser` is checked; at runtime it
# is a plain mixin and the real BaseCommand comes later in the MRO.
if TYPE_CHECKING:
    _CommandBase = BaseCommand
else:
    _CommandBase = object


class OneLineErrorsMixin(_CommandBase):
    """Makes `create_parser` return a `OneLineErrorParser`. Use as `class Command(OneLineErrorsMixin, BaseCommand)`."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django builds the parser itself; re-classing it keeps all of Django's setup (base options,
        # missing-args message) while replacing only `error`. The subclass adds no state, so this is safe.
        parser.__class__ = OneLineErrorParser
        return parser


def read_json_file(path: str | Path) -> Any:
    """Parsed JSON of the file at `path`; `CommandError` (status 2) naming the file and the reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CommandError(f"cannot read {path}: {reason}", returncode=EXIT_USAGE) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{path} is not valid JSON: {error}", returncode=EXIT_USAGE) from None


def report_load(command: BaseCommand, summary: str, errors: Sequence[Exception]) -> None:
    """Print each rejected entry (stderr) and the summary (stdout); `CommandError` (status 1) if any."""
    for error in errors:
        command.stderr.write(f"rejected {error}")
    command.stdout.write(summary)
    if errors:
        raise CommandError(f"{len(errors)} entries rejected", returncode=1)
