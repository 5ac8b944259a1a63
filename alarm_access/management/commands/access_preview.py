"""`manage.py access_preview`: show what an access type would push and drop for inputs read from files.

    python manage.py access_preview --access-type data --strategy-file S.json --points-file P.json \
        [--hosts-file H.json] [--now EPOCH] [--dedupe-state D.json]

S.json: strategies in the original cached format (one object or a list). P.json: a list of raw points as
the TSDB query returns them. H.json: hosts in the `load_hosts` format; without it the topology is empty,
as in a service with no CMDB data, so every point naming a host is dropped as `unknown_host`. D.json: the
dedupe state `{"<epoch time>": ["<record_id>", ...]}`. `--now` (default: the current time) is the clock of
the run and the records' `access_time`, so a run is reproducible.

Prints one JSON line per record and per dropped point (`alarm_access.preview.base`) and writes nothing: no
database, no Redis. Exit status: 0 previewed; 2 bad arguments, an access type without a previewer, or an
input file that is unreadable, not JSON or invalid (the one stderr line names the file, entry and field).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.config import AccessType
from alarm_access.errors import InvalidStrategy
from alarm_access.formats import parse_strategy_documents, parse_topology_document
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin, read_json_file
from alarm_access.model import Strategy, Topology
from alarm_access.preview import PREVIEWERS, PreviewError, PreviewInput, parse_dedupe_state


def _usage_error(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_USAGE)


def _first_error(path: str, errors: list[InvalidStrategy]) -> CommandError:
    more = f" (and {len(errors) - 1} more invalid entries)" if len(errors) > 1 else ""
    return _usage_error(f"{path}: {errors[0]}{more}")


def read_strategies(path: str) -> list[Strategy]:
    strategies, errors = parse_strategy_documents(read_json_file(path))
    if errors:
        raise _first_error(path, errors)
    return strategies


def read_topology(path: str) -> Topology:
    topology, errors = parse_topology_document(read_json_file(path))
    if errors:
        raise _first_error(path, errors)
    return topology


def read_points(path: str) -> list[Any]:
    points = read_json_file(path)
    if not isinstance(points, list):
        raise _usage_error(f"{path}: expected a list of points")
    return points


def read_dedupe_state(path: str) -> Mapping[int, frozenset[str]]:
    try:
        return parse_dedupe_state(read_json_file(path))
    except ValueError as error:
        raise _usage_error(f"{path}: {error}") from None


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Preview what an access type would push and drop for strategies and points read from files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--access-type", required=True, choices=[a.value for a in AccessType],
                            help=f"access type to preview (implemented: {', '.join(PREVIEWERS)})")
        parser.add_argument("--strategy-file", required=True,
                            help="JSON strategy object or list of them (original cached format)")
        parser.add_argument("--points-file", required=True, help="JSON list of raw points as the TSDB returns them")
        parser.add_argument("--hosts-file", help="JSON hosts in the load_hosts format (default: no host known)")
        parser.add_argument("--now", type=int, help="epoch seconds of the run and of access_time (default: now)")
        parser.add_argument("--dedupe-state", help='JSON {"<epoch time>": ["<record_id>", ...]} already pushed')

    def handle(self, *args: Any, **options: Any) -> None:
        access_type = options["access_type"]
        previewer = PREVIEWERS.get(access_type)
        if previewer is None:
            raise _usage_error(f"--access-type {access_type}: not implemented yet (available: {', '.join(PREVIEWERS)})")
        hosts_file, dedupe_file = options["hosts_file"], options["dedupe_state"]
        preview = PreviewInput(
            strategies=read_strategies(options["strategy_file"]),
            inputs=read_points(options["points_file"]),
            now=int(time.time()) if options["now"] is None else options["now"],
            topology=read_topology(hosts_file) if hosts_file else Topology(),
            seen_record_ids=read_dedupe_state(dedupe_file) if dedupe_file else {},
        )
        try:
            lines = previewer(preview)
        except PreviewError as error:
            raise _usage_error(f"{options['strategy_file']}: {error}") from None
        for line in lines:
            self.stdout.write(json.dumps(line, ensure_ascii=False))
        if not hosts_file and any(line.get("dropped") == "unknown_host" for line in lines):
            self.stderr.write("note: no --hosts-file given, so no host is known and points naming one are dropped")
