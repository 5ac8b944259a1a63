"""Metrics of a Celery worker: one plain registry, or prometheus_client's multiprocess mode under prefork.

`ALARM_ACCESS_WORKER_METRICS_PORT` (optional) serves a Celery worker's Prometheus `/metrics` on that port,
bound to `ALARM_ACCESS_METRICS_ADDR` (default 0.0.0.0, as `run_access`). Under the prefork pool the
tasks run in child processes, each with its own copy of every metric, so the main process's registry would
show none of their work. The worker therefore uses prometheus_client's multiprocess mode: every process
writes its values to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR`, and the main process serves them
merged (`MultiProcessCollector`) together with its own `process_*` / `python_*` series (those describe the
main process only). A child that exits (`--max-tasks-per-child`, shutdown) keeps its counts: its files stay;
`mark_process_dead` drops its live gauges.

prometheus_client picks its value class (plain or memory-mapped) once, when it is first imported, from
`PROMETHEUS_MULTIPROC_DIR`; a child forked later inherits that choice. A `celery.signals` handler runs too
late for that — `celery -A alarm_access` imports `alarm_access.tasks`, and so `alarm_access.metrics`, before any
worker signal is sent — and requiring operators to export the variable (and to wipe its directory on every
start) is easy to get wrong. So `alarm_access.tasks` decides at import, before prometheus_client is imported:
when the command line is `celery ... worker` with a forking pool (prefork, the default, unless `-P/--pool`
or `CELERY_WORKER_POOL` names solo, threads, gevent or eventlet), the variable is set to a fresh
`<ALARM_ACCESS_VAR_DIR>/metrics/worker-<pid>` (emptied; directories of workers no longer running removed)
before the children fork. A `PROMETHEUS_MULTIPROC_DIR` set by the operator is used as it is (not emptied).
`worker_init` checks the decision against the pool Celery really built and logs an error when a forking
pool runs without it. Solo and threads workers keep one plain registry, as `run_access` does.

Nothing here imports prometheus_client at module level: `enable_multiprocess` must run before it is imported.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: pools that run every task in the worker's own process (one registry is right for them)
SINGLE_PROCESS_POOLS = frozenset({"solo", "threads", "gevent", "eventlet"})


def worker_pool(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The pool named by the `celery ... worker` command line `argv` (`-P/--pool`, else `CELERY_WORKER_POOL`,
    else Celery's default "prefork"); None when `argv` is not a Celery worker."""
    program = Path(argv[0]) if argv else Path()
    if not (program.name == "celery" or program.parent.name == "celery") or "worker" not in argv[1:]:
        return None
    args = list(argv[argv.index("worker", 1) + 1:])
    for index, arg in enumerate(args):
        if arg in ("-P", "--pool") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--pool="):
            return arg.split("=", 1)[1]
        if arg.startswith("-P") and len(arg) > 2:
            return arg[2:]
    return environ.get("CELERY_WORKER_POOL") or "prefork"


def fresh_multiprocess_dir(base: Path, pid: int) -> Path:
    """An empty `base/worker-<pid>`; the directories of workers no longer running are removed."""
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob("worker-*"):
        other = old.name.removeprefix("worker-")
        if other.isdigit() and (int(other) == pid or not _running(int(other))):
            shutil.rmtree(old, ignore_errors=True)
    directory = base / f"worker-{pid}"
    directory.mkdir()
    return directory


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def enable_multiprocess(argv: Sequence[str], environ: MutableMapping[str, str], base: Path) -> Path | None:
    """Set `PROMETHEUS_MULTIPROC_DIR` (to a fresh `base/worker-<pid>`) for a worker whose pool forks, and
    return it; None for a single-process pool or when this is not a worker. Call before prometheus_client is
    imported; an operator's own `PROMETHEUS_MULTIPROC_DIR` is used as it is (not emptied)."""
    if environ.get(MULTIPROC_ENV):
        given = Path(environ[MULTIPROC_ENV])
        given.mkdir(parents=True, exist_ok=True)
        return given
    pool = worker_pool(argv, environ)
    if pool is None or pool in SINGLE_PROCESS_POOLS:
        return None
    if "alarm_access.metrics" in sys.modules:  # metrics already built with plain values: too late to switch
        logging.getLogger("alarm_access.tasks").error(
            "prometheus multiprocess mode not enabled: alarm_access.metrics was imported before alarm_access.tasks")
        return None
    directory = fresh_multiprocess_dir(base, os.getpid())
    environ[MULTIPROC_ENV] = str(directory)
    if "prometheus_client.values" in sys.modules:  # imported by something else first: none of our values exist yet
        from prometheus_client import values

        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return directory


def registry(directory: Path | None) -> CollectorRegistry:
    """What the worker's `/metrics` serves: with `directory`, the merged files of all its processes plus the
    main process's runtime collectors; else the one plain registry."""
    from prometheus_client import CollectorRegistry, multiprocess

    from alarm_access import metrics

    if directory is None:
        return metrics.REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=str(directory))  # type: ignore[no-untyped-call]
    metrics.add_runtime_collectors(merged)
    return merged


def mark_process_dead(directory: Path, pid: int) -> None:
    """A child exited: drop its live gauges (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path=str(directory))  # type: ignore[no-untyped-call]
