"""A `data` service over a deployment-sized strategy cache: load time, group sync, first tick and memory.

    .venv/bin/python -m bench.strategies [--strategies 100000] [--command-sample 2000] [--top 0]

`--strategies` documents in the original's cached JSON format (`bench.strategy_docs`) are written to a file
and stored in a private database (SQLite in the temporary directory, or a fresh PostgreSQL database when
`DATABASE_URL` is PostgreSQL). Then, each in a fresh subprocess:

* store: every document validated (`parse_strategy`) and written with the ORM adapter's own row mapping, in
  bulk (`store_s`); `manage.py load_strategies` itself, one transaction per strategy, is timed on the first
  `--command-sample` documents against a second, empty database (`command_s`);
* the service (`bench.strategy_service`): one cycle of a `-H process` `data` service — catalog refresh
  (strategies, topology, strategy documents, groups), schedule sync, the first tick's due slots handed to a
  dispatcher that only counts them — and the RSS of the process holding it all afterwards.

`--top N` runs the service a second time under tracemalloc and adds its N biggest allocation sites still
held after the cycle (`top_allocations`). Prints one JSON line. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.strategy_docs import documents
from tests.services.access_env import private_database

ROOT = Path(__file__).resolve().parents[1]
#: strategies per bulk transaction of the store step
STORE_CHUNK = 1000


def store(path: Path) -> dict[str, Any]:
    """Validate and store every document of `path` in bulk (this process's `DATABASE_URL`), as the
    `load_strategies` command stores each one, without its per-strategy transaction and round trips."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alarm_access_project.settings")
    django.setup()
    from django.db import transaction

    from alarm_access import models as db
    from alarm_access.adapters.orm.strategies import _item_row, _qc_row, _strategy_row
    from alarm_access.formats import parse_strategy

    docs = json.loads(path.read_bytes())
    gc.freeze()  # the documents live to the end: no collection needs to traverse them again and again
    started = time.perf_counter()
    for first in range(0, len(docs), STORE_CHUNK):
        rows, items, query_configs = [], [], []
        for index, doc in enumerate(docs[first : first + STORE_CHUNK], start=first):
            strategy = parse_strategy(doc, index)
            rows.append(row := _strategy_row(doc, strategy))
            for position, item_doc in enumerate(doc["items"]):
                items.append(item := _item_row(row, position, item_doc, strategy.items[position].update_time))
                query_configs += [_qc_row(item, i, qc) for i, qc in enumerate(item_doc["query_configs"])]
        with transaction.atomic():
            db.Strategy.objects.bulk_create(rows)
            db.StrategyItem.objects.bulk_create(items)  # sets the item ids the query config rows point at
            db.QueryConfig.objects.bulk_create(query_configs)
    return {"store_s": round(time.perf_counter() - started, 3)}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, text=True, capture_output=True, check=True)


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run this module with `args` in a fresh process and return the JSON line it printed."""
    done = _run(env, "-m", "bench.strategies", *args)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _env(database_url: str, directory: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "ALARM_ACCESS_VAR_DIR": str(directory / "var"),
            "DJANGO_SETTINGS_MODULE": "alarm_access_project.settings"}


def run(count: int, sample: int, top: int) -> dict[str, Any]:
    """The whole bench in a temporary directory; returns the figures of the JSON line."""
    figures: dict[str, Any] = {"strategies": count}
    with tempfile.TemporaryDirectory(prefix="bench-strategies-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        docs = documents(count)
        cache, head = directory / "strategies.json", directory / "sample.json"
        cache.write_text(json.dumps(docs))
        head.write_text(json.dumps(docs[:sample]))
        figures["file_mb"] = round(cache.stat().st_size / 1024 / 1024, 1)
        figures["generate_s"] = round(time.perf_counter() - started, 3)
        del docs
        with private_database(directory) as url:
            env = _env(url, directory)
            figures["database"] = url.split(":", 1)[0]
            _run(env, "manage.py", "migrate", "-v0")
            figures.update(_child(env, "--store", str(cache)))
            figures.update(_child(env, "--measure"))
            if top:
                profiled = _child(env, "--measure", "--top", str(top))
                figures.update(traced_mb=profiled["traced_mb"], top_allocations=profiled["top_allocations"])
        if sample:
            (directory / "sample").mkdir()
            with private_database(directory / "sample") as url:
                env = _env(url, directory)
                _run(env, "manage.py", "migrate", "-v0")
                started = time.perf_counter()
                _run(env, "manage.py", "load_strategies", str(head))
                figures.update(command_strategies=min(sample, count), command_s=round(time.perf_counter() - started, 3))
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=int, default=100_000)
    parser.add_argument("--command-sample", type=int, default=2000, help="documents `load_strategies` is timed on")
    parser.add_argument("--top", type=int, default=0, help="also profile the service: its N biggest allocations")
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.store:
        print(json.dumps(store(args.store)), flush=True)
    elif args.measure:
        from bench.strategy_service import measure

        print(json.dumps(measure(args.top)), flush=True)
    else:
        print(json.dumps(run(args.strategies, args.command_sample, args.top)), flush=True)


if __name__ == "__main__":
    main()
