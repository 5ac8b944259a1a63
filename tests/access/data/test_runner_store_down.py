"""`PullRunner` once Redis timed out (`StoreUnavailable`), on the memory fakes of `test_runner_inprocess`.

A hung Redis costs one bound (`adapters.redis.client`), not one per call or per group: the failed job's
clean-up calls are not made (the lock and the source slot are left to their TTLs), and inline the cycle's
remaining jobs fail at once; the next cycle tries Redis again.
"""

from __future__ import annotations

from typing import Any

from alarm_access.adapters.memory.data import MemorySource
from alarm_access.kernel.errors import SourceUnavailable, StoreUnavailable
from alarm_access.kernel.model import QueryConfig
from tests.access.data.test_runner_inprocess import NOW, POINTS, SLOT, World, counted


def hang_redis_during_the_pull(w: World) -> None:
    """The query returns while Redis hangs: the next Redis call (here the read after it) times out."""

    def query(qc: QueryConfig) -> list[dict[str, Any]]:
        w.guards.fail_with = StoreUnavailable("redis SMEMBERS failed: Timeout reading from socket")
        raise w.guards.fail_with

    w.source = MemorySource(query)


def failed(error: str) -> float:
    return counted("alarm_access_data_pulls", status="failed", exception=error)


def test_a_store_timeout_leaves_the_clean_up_to_the_ttls_and_fails_the_rest_of_the_cycle_at_once() -> None:
    w = World(inline=True)
    hang_redis_during_the_pull(w)
    before = failed("StoreUnavailable")
    assert not w.runner.run(w.job())
    assert w.guards.lock_token(w.group.key) is not None  # not unlocked: that call would wait out the bound too
    assert len(w.guards.slot_holders(w.group.source)) == 1

    w.guards.fail_with = None
    w.source = MemorySource(POINTS)
    assert not w.runner.run(w.job())  # the same cycle: no pull, no Redis call
    assert w.source.queries == 0 and w.sink.deliveries == 0
    assert failed("StoreUnavailable") == before + 2

    assert w.runner.run(w.job(slot=SLOT + 60, now=NOW + 60))  # the next cycle tries again (and takes over)
    assert w.source.queries == 1 and w.sink.deliveries == 1


def test_other_failures_and_celery_workers_do_not_short_circuit() -> None:
    for w, error in ((World(inline=True), SourceUnavailable("tsdb down")),
                     (World(), StoreUnavailable("redis GET failed: Timeout reading from socket"))):
        w.guards.fail_with = error
        assert not w.runner.run(w.job())
        w.guards.fail_with = None
        assert w.runner.run(w.job())  # a worker's next job may come long after: it tries Redis itself
        assert w.sink.deliveries == 1
