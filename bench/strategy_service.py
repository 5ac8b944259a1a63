"""The measured process of `bench.strategies`: a `-H process` `data` service's first cycle over a stored database.

Django is set up from the environment (`DATABASE_URL` names the filled database). The service's parts are
the real ones (`AdapterPorts`, `GroupCatalog` with topology and strategy documents, as `build_data_service`
makes them for `-H process`, and `DataAccess`); only the dispatcher is replaced by one that counts the jobs
of the first tick instead of pulling them, and thin subclasses time the port calls and the catalog refresh.
Redis and the TSDB are never contacted: their clients are made on the first pull.
"""

from __future__ import annotations

import gc
import os
import sys
import sysconfig
import time
import tracemalloc
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import django

MB = 1024 * 1024
#: frames kept per traced allocation: enough to reach the project frame under Django's and json's own
FRAMES = 12
ROOT = Path(__file__).resolve().parents[1]


def rss_mb(field: str = "VmRSS") -> float:
    """Current resident set size of this process (VmRSS), or another memory `field` of /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_rss_mb() -> float:
    """Peak resident set size of this process's own memory (VmHWM). Not `ru_maxrss`: started by vfork, the
    process inherits in it the peak of its parent (the bench, which held every document)."""
    return rss_mb("VmHWM")


def measure(top: int = 0) -> dict[str, Any]:
    """The figures of one service start (see bench/README.md); with `top`, also the `top` tracemalloc lines
    (by size) of what the service still holds after its first cycle."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alarm_access_project.settings")
    django.setup()
    from django.conf import settings

    from alarm_access.access.data.catalog import GroupCatalog
    from alarm_access.access.data.jobs import PullJob
    from alarm_access.access.data.service import DataAccess
    from alarm_access.adapters.orm.repository import OrmStrategyRepository
    from alarm_access.bootstrap import AdapterPorts
    from alarm_access.kernel.config import AccessConfig
    from alarm_access.kernel.model import Strategy, Topology

    seconds: dict[str, float] = dict.fromkeys(("load_strategies", "documents", "topology", "refresh"), 0.0)
    marks: dict[str, float] = {}

    class TimedRepository(OrmStrategyRepository):
        def load_strategies(self) -> list[Strategy]:
            started = time.perf_counter()
            strategies = super().load_strategies()
            seconds["load_strategies"] += time.perf_counter() - started
            marks["strategies"] = len(strategies)
            return strategies

        def load_topology(self, bk_biz_ids: Any) -> Topology:
            started = time.perf_counter()
            topology = super().load_topology(bk_biz_ids)
            seconds["topology"] += time.perf_counter() - started
            return topology

    class TimedPorts(AdapterPorts):
        @property
        def strategies(self) -> OrmStrategyRepository:
            return repository

        def strategy_documents(self, strategy_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
            started = time.perf_counter()
            documents = super().strategy_documents(strategy_ids)
            seconds["documents"] += time.perf_counter() - started
            return documents

    class TimedCatalog(GroupCatalog):
        def refresh(self) -> None:
            started = time.perf_counter()
            super().refresh()
            marks["refreshed"] = time.perf_counter()
            seconds["refresh"] += marks["refreshed"] - started

    class CountingDispatcher:
        jobs = 0

        def submit(self, job: PullJob) -> bool:
            if not self.jobs:
                marks["first_job"] = time.perf_counter()
            self.jobs += 1
            return True

        def close(self) -> None:
            """Nothing to release."""

    config = AccessConfig.build(settings.ALARM_ACCESS, {"access_type": "data", "handler_type": "process"})
    repository = TimedRepository(serves=config.cluster.serves)
    catalog = TimedCatalog(TimedPorts(config), topology=True, settings=config.data,
                           max_age=config.data.refresh_interval)
    dispatcher = CountingDispatcher()
    access = DataAccess(config, catalog, dispatcher)
    gc.collect()
    baseline = rss_mb()
    if top:  # from here: the allocations of the cycle, not those of the imports
        tracemalloc.start(FRAMES)
    started = time.perf_counter()
    access.cycle(time.time())
    tick_s = time.perf_counter() - started
    gc.collect()
    held = rss_mb()
    grouping = seconds["refresh"] - seconds["load_strategies"] - seconds["documents"] - seconds["topology"]
    schedule = marks.get("first_job", marks["refreshed"]) - marks["refreshed"]
    figures: dict[str, Any] = {
        "strategies_loaded": marks["strategies"],
        "groups": len(catalog.groups),
        "grouped_items": sum(len(group.items) for group in catalog.groups.values()),
        "initial_due": dispatcher.jobs,
        "load_strategies_s": round(seconds["load_strategies"], 3),
        "documents_s": round(seconds["documents"], 3),
        "topology_s": round(seconds["topology"], 3),
        "catalog_refresh_s": round(seconds["refresh"], 3),
        "grouping_s": round(grouping, 3),
        "schedule_s": round(schedule, 3),
        "group_sync_s": round(grouping + schedule, 3),
        "first_tick_s": round(tick_s, 3),
        "baseline_rss_mb": baseline,
        "rss_mb": held,
        "held_mb": round(held - baseline, 1),
        "peak_rss_mb": peak_rss_mb(),
        "documents_mb": round(sum(sys.getsizeof(text) for text in catalog.documents.values()) / MB, 1),
    }
    if top:
        figures.update(_held_by_site(tracemalloc.take_snapshot(), top))
    return figures


def _held_by_site(snapshot: tracemalloc.Snapshot, top: int) -> dict[str, Any]:
    """Traced memory still allocated, summed by site: the innermost project frame (what kept it) and the
    innermost frame (what allocated it: json decoding, the database driver, ...)."""
    sites: Counter[str] = Counter()
    for stat in snapshot.statistics("traceback"):
        frames = [f"{_short(frame.filename)}:{frame.lineno}" for frame in stat.traceback]
        own = [frame for frame in frames if frame.startswith("alarm_access/")]
        sites[f"{own[-1] if own else '-'} <- {frames[-1]}"] += stat.size
    return {
        "traced_mb": round(sum(sites.values()) / MB, 1),
        "top_allocations": [{"where": where, "mb": round(size / MB, 1)} for where, size in sites.most_common(top)],
    }


def _short(filename: str) -> str:
    for marker in ("/site-packages/", f"{sysconfig.get_paths()['stdlib']}/", f"{ROOT}/"):
        if marker in filename:
            return filename.rsplit(marker, 1)[-1]
    return filename
