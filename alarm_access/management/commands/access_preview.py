"""`manage.py access_preview`: show what an access type would push and drop for inputs read from files.

    python manage.py access_preview --access-type data --strategy-file S.json --points-file P.json \
        [--hosts-file H.json] [--now EPOCH] [--dedupe-state D.json]
    python manage.py access_preview --access-type event --message-file M.json [--data-id ID] \
        [--strategy-file S.json] [--hosts-file H.json] [--now EPOCH]

S.json: strategies in the original cached format (one object or a list). P.json: a list of raw points as
the TSDB query returns them. H.json: hosts in the `load_hosts` format; without it the topology is empty,
as in a service with no CMDB data, so every point naming a host is dropped as `unknown_host`. D.json: the
dedupe state `{"<epoch time>": ["<record_id>", ...]}`. M.json: one raw Kafka message value of the event
stream `--data-id` (default 1000, the GSE basic alarms; 1100000 custom strings, 1100008 process events) —
a JSON object, or a string holding the raw value text — or a list of them. `--now` (default: the current
time) is the clock of the run (the records' `access_time`, the events' expiry), so a run is reproducible.

Prints one JSON line per record and per dropped point (`alarm_access.formats.preview`; for events, per
anomaly and per rejection, `alarm_access.access.event.preview`) and writes nothing: no
database, no Redis. Exit status: 0 previewed; 2 bad arguments, an access type without a previewer, or an
input file that is unreadable, not JSON or invalid (the one stderr line names the file, entry and field).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.access.event.kinds import GSE_BASE_ALARM_DATA_ID
from alarm_access.access.registry import PREVIEWERS
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.formats import parse_strategy_documents, parse_topology_document
from alarm_access.formats.preview import PreviewError, PreviewInput, parse_dedupe_state
from alarm_access.kernel.config import AccessType
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import Strategy, Topology
from alarm_access.kernel.stream import StreamMessage
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin, read_json_file


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


def read_messages(path: str, data_id: int) -> list[StreamMessage]:
    """The messages of the file as consumed from the stream of `data_id`; `offset` is the position."""
    doc = read_json_file(path)
    if not isinstance(doc, dict | str | list):
        raise _usage_error(f"{path}: expected a message object, a raw message string, or a list of them")
    entries = doc if isinstance(doc, list) else [doc]
    return [StreamMessage("preview", 0, index, _value(entry), data_id) for index, entry in enumerate(entries)]


def _value(entry: Any) -> bytes:
    """A raw Kafka value: a string is the value's text as is, anything else its JSON encoding."""
    return entry.encode("utf-8") if isinstance(entry, str) else json.dumps(entry, ensure_ascii=False).encode("utf-8")


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
        parser.add_argument("--strategy-file",
                            help="JSON strategy object or list of them (original cached format; required for data)")
        parser.add_argument("--points-file", help="data: JSON list of raw points as the TSDB returns them")
        parser.add_argument("--message-file", help="event: one raw Kafka message value (JSON) or a list of them")
        parser.add_argument("--data-id", type=int, help=f"event: data id of the messages' stream "
                                                        f"(default {GSE_BASE_ALARM_DATA_ID})")
        parser.add_argument("--hosts-file", help="JSON hosts in the load_hosts format (default: no host known)")
        parser.add_argument("--now", type=int, help="epoch seconds of the run and of access_time (default: now)")
        parser.add_argument("--dedupe-state", help='data: JSON {"<epoch time>": ["<record_id>", ...]} already pushed')

    def handle(self, *args: Any, **options: Any) -> None:
        access_type = options["access_type"]
        previewer = PREVIEWERS.get(access_type)
        if previewer is None:
            raise _usage_error(f"--access-type {access_type}: not implemented yet (available: {', '.join(PREVIEWERS)})")
        hosts_file, strategy_file = options["hosts_file"], options["strategy_file"]
        inputs = self._event_inputs(options) if access_type == AccessType.EVENT else self._data_inputs(options)
        preview = PreviewInput(
            strategies=read_strategies(strategy_file) if strategy_file else [],
            inputs=inputs,
            now=int(time.time()) if options["now"] is None else options["now"],
            snapshot_key=RedisKeys().strategy_snapshot,
            topology=read_topology(hosts_file) if hosts_file else Topology(),
            seen_record_ids=read_dedupe_state(options["dedupe_state"]) if options["dedupe_state"] else {},
        )
        try:
            lines = previewer(preview)
        except PreviewError as error:
            raise _usage_error(f"{strategy_file}: {error}") from None
        for line in lines:
            self.stdout.write(json.dumps(line, ensure_ascii=False))
        reasons = {line.get("dropped") or line.get("rejected") for line in lines}
        if not hosts_file and "unknown_host" in reasons:
            self.stderr.write("note: no --hosts-file given, so no host is known and points naming one are dropped")
        if not strategy_file and "no_strategy" in reasons:
            self.stderr.write("note: no --strategy-file given, so no strategy takes any event")

    @staticmethod
    def _data_inputs(options: Mapping[str, Any]) -> list[Any]:
        for name in ("message_file", "data_id"):
            if options[name] is not None:
                raise _usage_error(f"--{name.replace('_', '-')} is for --access-type event")
        for name in ("strategy_file", "points_file"):
            if not options[name]:
                raise _usage_error(f"--access-type data needs --{name.replace('_', '-')}")
        return read_points(options["points_file"])

    @staticmethod
    def _event_inputs(options: Mapping[str, Any]) -> list[StreamMessage]:
        for name in ("points_file", "dedupe_state"):
            if options[name] is not None:
                raise _usage_error(f"--{name.replace('_', '-')} is for --access-type data")
        if not options["message_file"]:
            raise _usage_error("--access-type event needs --message-file")
        data_id = GSE_BASE_ALARM_DATA_ID if options["data_id"] is None else options["data_id"]
        if data_id <= 0:
            raise _usage_error(f"--data-id must be a positive integer, got {data_id}")
        return read_messages(options["message_file"], data_id)
