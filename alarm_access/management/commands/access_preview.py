"""`manage.py access_preview`: show what an access type would push and drop for inputs read from files.

    python manage.py access_preview --access-type data --strategy-file S.json --points-file P.json \
        [--hosts-file H.json] [--now EPOCH] [--dedupe-state D.json]
    python manage.py access_preview --access-type event --message-file M.json [--data-id ID] \
        [--strategy-file S.json] [--hosts-file H.json] [--now EPOCH]
    python manage.py access_preview --access-type real_time_data --strategy-file S.json --message-file M.json \
        [--topic TOPIC] [--tables-file T.json] [--hosts-file H.json] [--now EPOCH]
    python manage.py access_preview --access-type incident --message-file M.json

S.json: strategies in the original cached format (one object or a list). P.json: a list of raw points as
the TSDB query returns them. H.json: hosts in the `load_hosts` format; without it the topology is empty,
as in a service with no CMDB data, so every point naming a host is dropped as `unknown_host`. D.json: the
dedupe state `{"<epoch time>": ["<record_id>", ...]}`. M.json: one raw Kafka message value of the event
stream `--data-id` (default 1000, the GSE basic alarms; 1100000 custom strings, 1100008 process events) —
a JSON object, or a string holding the raw value text — or a list of them. For real_time_data, M.json holds
messages `{"time": s, "dimensions": {...}, "metrics": {...}}` of one topic, `--topic`, in the same forms.
T.json: `{"<table_id>": {"topic": "...", "dimensions": ["<field>", ...]}}`, the Kafka topic and dimension
fields of the strategies' result tables; without it each table is on a topic named as its id, with the
dimension keys of the messages. `--topic` may be left out when the tables have one topic. `--now` (default:
the current time) is the clock of the run (the records' `access_time`, the events' expiry), so a run is
reproducible.

Prints one JSON line per record and per dropped point (`alarm_access.formats.preview`; for events, per
anomaly and per rejection, `alarm_access.access.event.preview`; for real-time points, per record in
detect's reading order, per dropped point and per invalid or unrouted message,
`alarm_access.access.real_time_data.preview`) and writes nothing: no database, no Redis. Exit status: 0
previewed; 2 bad arguments, an access type without a previewer, or an input file that is unreadable, not
JSON or invalid (the one stderr line names the file, entry and field).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.access.alert.integrations import SOURCES as ALERT_SOURCES
from alarm_access.access.event.kinds import GSE_BASE_ALARM_DATA_ID
from alarm_access.access.real_time_data.preview import parse_tables
from alarm_access.access.real_time_data.routing import TableTopic, table_ids
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


def read_messages(path: str, data_id: int, topic: str = "preview") -> list[StreamMessage]:
    """The messages of the file as consumed from `topic`, the stream of `data_id`; `offset` is the position."""
    doc = read_json_file(path)
    if not isinstance(doc, dict | str | list):
        raise _usage_error(f"{path}: expected a message object, a raw message string, or a list of them")
    entries = doc if isinstance(doc, list) else [doc]
    return [StreamMessage(topic, 0, index, _value(entry), data_id) for index, entry in enumerate(entries)]


def _value(entry: Any) -> bytes:
    """A raw Kafka value: a string is the value's text as is, anything else its JSON encoding."""
    return entry.encode("utf-8") if isinstance(entry, str) else json.dumps(entry, ensure_ascii=False).encode("utf-8")


def read_body(path: str, source: str) -> StreamMessage:
    """alert: the file as one raw request body of `source` (not parsed here: a bad body previews as rejected)."""
    try:
        return StreamMessage(source, 0, 0, Path(path).read_bytes(), 0)
    except OSError as error:
        raise _usage_error(f"{path}: {error.strerror or error}") from None


def read_tables(path: str) -> list[TableTopic]:
    try:
        return parse_tables(read_json_file(path))
    except ValueError as error:
        raise _usage_error(f"{path}: {error}") from None


def read_dedupe_state(path: str) -> Mapping[int, frozenset[str]]:
    try:
        return parse_dedupe_state(read_json_file(path))
    except ValueError as error:
        raise _usage_error(f"{path}: {error}") from None


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Preview what an access type would push and drop for strategies and points read from files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--access-type", required=True, choices=[a.value for a in AccessType],
                            help="access type to preview")
        parser.add_argument("--strategy-file",
                            help="JSON strategy object or list of them (original cached format; required for data "
                                 "and real_time_data)")
        parser.add_argument("--points-file", help="data: JSON list of raw points as the TSDB returns them")
        parser.add_argument("--message-file", help="event, real_time_data: one raw Kafka message value (JSON, or a "
                                                   "string holding the raw text) or a list of them; incident: sync "
                                                   "messages; alert: one raw webhook body (see --source)")
        parser.add_argument("--data-id", type=int, help=f"event: data id of the messages' stream "
                                                        f"(default {GSE_BASE_ALARM_DATA_ID})")
        parser.add_argument("--topic", help="real_time_data: the topic the messages were consumed from "
                                            "(default: the tables' topic, when they have only one)")
        parser.add_argument("--tables-file", help='real_time_data: JSON {"<table_id>": {"topic": "...", '
                                                  '"dimensions": ["<field>", ...]}} (default: each table on a '
                                                  "topic named as its id, dimensions from the messages)")
        parser.add_argument("--source", choices=list(ALERT_SOURCES),
                            help="alert: the format of the --message-file body (default alertmanager)")
        parser.add_argument("--hosts-file", help="JSON hosts in the load_hosts format (default: no host known)")
        parser.add_argument("--now", type=int, help="epoch seconds of the run and of access_time (default: now)")
        parser.add_argument("--dedupe-state", help='data: JSON {"<epoch time>": ["<record_id>", ...]} already pushed')

    def handle(self, *args: Any, **options: Any) -> None:
        access_type = options["access_type"]
        previewer = PREVIEWERS[access_type]
        _check_options(access_type, options)
        hosts_file, strategy_file = options["hosts_file"], options["strategy_file"]
        strategies = read_strategies(strategy_file) if strategy_file else []
        inputs: list[Any]
        if access_type == AccessType.EVENT:
            inputs = self._event_inputs(options)
        elif access_type == AccessType.REAL_TIME_DATA:
            inputs = self._real_time_inputs(options, strategies)
        elif access_type == AccessType.INCIDENT:
            inputs = read_messages(options["message_file"], 0, "incident")
        elif access_type == AccessType.ALERT:
            inputs = [read_body(options["message_file"], options["source"] or "alertmanager")]
        else:
            inputs = self._data_inputs(options)
        preview = PreviewInput(
            strategies=strategies,
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
        if access_type == AccessType.REAL_TIME_DATA and not options["tables_file"]:
            self.stderr.write("note: no --tables-file given, so each result table is taken as published on a topic "
                              "named as its id, with the dimension keys of the messages")

    @staticmethod
    def _data_inputs(options: Mapping[str, Any]) -> list[Any]:
        return read_points(options["points_file"])

    @staticmethod
    def _event_inputs(options: Mapping[str, Any]) -> list[StreamMessage]:
        data_id = GSE_BASE_ALARM_DATA_ID if options["data_id"] is None else options["data_id"]
        if data_id <= 0:
            raise _usage_error(f"--data-id must be a positive integer, got {data_id}")
        return read_messages(options["message_file"], data_id)

    @staticmethod
    def _real_time_inputs(options: Mapping[str, Any], strategies: list[Strategy]) -> list[Any]:
        """The tables (`TableTopic`, none without `--tables-file`) and the messages, on their topic."""
        tables = read_tables(options["tables_file"]) if options["tables_file"] else []
        topic = options["topic"]
        if topic is None:
            topics = sorted({t.topic for t in tables} if tables else table_ids(strategies))
            if len(topics) != 1:
                raise _usage_error(f"--topic is needed: the tables are published on {len(topics)} topics"
                                   f" ({', '.join(topics) or 'none'})")
            topic = topics[0]
        elif not topic:
            raise _usage_error("--topic must not be empty")
        return [*tables, *read_messages(options["message_file"], 0, topic)]


#: the options an access type cannot do without
_NEEDS: dict[AccessType, tuple[str, ...]] = {
    AccessType.DATA: ("strategy_file", "points_file"),
    AccessType.EVENT: ("message_file",),
    AccessType.REAL_TIME_DATA: ("strategy_file", "message_file"),
    AccessType.INCIDENT: ("message_file",),
    AccessType.ALERT: ("message_file",),
}

#: the options only some access types take, and which
_ONLY_FOR: dict[str, tuple[AccessType, ...]] = {
    "points_file": (AccessType.DATA,),
    "dedupe_state": (AccessType.DATA,),
    "message_file": (AccessType.EVENT, AccessType.REAL_TIME_DATA, AccessType.INCIDENT, AccessType.ALERT),
    "source": (AccessType.ALERT,),
    "data_id": (AccessType.EVENT,),
    "topic": (AccessType.REAL_TIME_DATA,),
    "tables_file": (AccessType.REAL_TIME_DATA,),
}


def _check_options(access_type: str, options: Mapping[str, Any]) -> None:
    """`CommandError` (exit 2) for the first option given that `access_type` does not take, then for the
    first one it needs and was not given."""
    for name, kinds in _ONLY_FOR.items():
        if options[name] is not None and access_type not in kinds:
            raise _usage_error(f"--{name.replace('_', '-')} is for --access-type {' or '.join(k.value for k in kinds)}")
    for name in _NEEDS.get(AccessType(access_type), ()):
        if not options[name]:
            raise _usage_error(f"--access-type {access_type} needs --{name.replace('_', '-')}")
