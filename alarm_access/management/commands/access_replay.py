"""`manage.py access_replay`: run the `data` pipeline over a past range against the TSDB (`access.data.replay`).

    python manage.py access_replay --from T1 --to T2 [--strategy-id N [N ...]] [--push | --output FILE]

T1, T2: epoch seconds or ISO 8601 (`2026-12-01T10:00:00+08:00`; UTC without an offset). Every strategy group of
the stored strategies (or only the groups holding `--strategy-id`) is replayed over `[T1, T2)`, with a progress
bar on stderr when it is a terminal. The default is a dry run: `--output FILE` (or stdout) gets one JSON line
per record and item, `{"strategy_id", "item_id", "record": <the record as detect reads it>}`, and nothing is
written anywhere. `--push` delivers the records to detect's queues with the normal dedupe (a range already
delivered pushes nothing new) and never moves a checkpoint; each chunk is pushed under the group's lock, so a
live pull delivering the same range at the same moment cannot make it twice (`access.data.replay`). Prints a
summary line (records, drops, groups) on stderr. Exit status: 0 done; 1 some group failed (named on stderr, the
others ran); 2 bad arguments.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.progress import Progress

from alarm_access.access.data.catalog import GroupCatalog
from alarm_access.access.data.replay import replay_group
from alarm_access.bootstrap import AdapterPorts
from alarm_access.kernel.config import AccessConfig
from alarm_access.kernel.errors import AccessError, ConfigError
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin
from alarm_access.records.standardize import to_wire


def _epoch(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is neither epoch seconds nor an ISO 8601 time", returncode=EXIT_USAGE) from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Replay the data pipeline over a past range: records to a file (dry run) or pushed with dedupe."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="range start (epoch seconds or ISO 8601)")
        parser.add_argument("--to", dest="end", required=True, help="range end, exclusive")
        parser.add_argument("--strategy-id", type=int, nargs="+", help="only the groups of these strategies")
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--push", action="store_true", help="deliver to detect's queues (normal dedupe)")
        target.add_argument("--output", help="the records as JSON lines (dry run; default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = _epoch(options["start"]), _epoch(options["end"])
        if end <= start:
            raise CommandError("--to must be after --from", returncode=EXIT_USAGE)
        try:
            config = AccessConfig.build(settings.ALARM_ACCESS, {"access_type": "data"})
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        ports = AdapterPorts(config)
        out: IO[str] = sys.stdout if options["push"] or not options["output"] else open(  # noqa: SIM115
            options["output"], "w", encoding="utf-8")
        try:
            failed = self._replay(ports, config, (start, end), options, out)
        finally:
            if out is not sys.stdout:
                out.close()
            ports.close()
        if failed:
            raise CommandError(f"{failed} groups failed", returncode=1)

    def _replay(self, ports: AdapterPorts, config: AccessConfig, span: tuple[int, int], options: dict[str, Any],
                out: IO[str]) -> int:
        start, end = span
        catalog = GroupCatalog(ports, max_age=float("inf"))
        try:
            catalog.refresh()
        except AccessError as exc:
            raise CommandError(f"strategies could not be loaded: {exc}", returncode=EXIT_USAGE) from None
        wanted = set(options["strategy_id"] or ())
        groups = [g for g in catalog.groups.values() if not wanted or wanted & set(g.strategy_ids)]
        if wanted and not groups:
            raise CommandError(f"no strategy group holds strategies {sorted(wanted)}", returncode=EXIT_USAGE)
        records = failed = 0
        drops: dict[str, int] = {}
        with Progress(disable=not sys.stderr.isatty(), transient=True) as progress:
            task = progress.add_task("replaying", total=len(groups))
            for group in groups:
                try:
                    for chunk in replay_group(group, start, end, source=ports.source_for(group.source),
                                              sink=ports.record_sink, topology=catalog.topology,
                                              settings=config.data,
                                              guards=ports.guards if options["push"] else None):
                        for (strategy_id, item_id), item_records in chunk.records.items():
                            records += len(item_records)
                            if not options["push"]:
                                for record in item_records:
                                    out.write(json.dumps({"strategy_id": strategy_id, "item_id": item_id,
                                                          "record": to_wire(record)}) + "\n")
                        for reason, count in chunk.drops.items():
                            drops[reason] = drops.get(reason, 0) + count
                except AccessError as exc:
                    failed += 1
                    self.stderr.write(f"group {group.key} (strategies {list(group.strategy_ids)}) failed: {exc}")
                progress.advance(task)
        verb = "pushed" if options["push"] else "replayed"
        self.stderr.write(f"{verb} {records} records of {len(groups)} groups over [{start}, {end}); drops: "
                          + (", ".join(f"{k}={v}" for k, v in sorted(drops.items())) or "none"))
        return failed
