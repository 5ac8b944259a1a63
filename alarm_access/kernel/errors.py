"""The error vocabulary (ARCHITECTURE.md principle 5), classified at one boundary per access type.

- `SourceUnavailable`: a data source (TSDB, Kafka, Redis) failed or timed out. Retryable; checkpoints do
  not advance; counted as a failure, never as "no data". `StoreUnavailable`: the same for Redis (queues,
  locks, checkpoints) timing out or unreachable — every pull needs it, so a cycle stops trying after one.
- `InvalidRecord`: one input is malformed. Drop it, count it by reason, go on.
- `Backpressure`: a sink is full. Slow down; nothing was written for the batch that raised it.
- `ConfigError`: the configuration or a command-line value is wrong. Fail fast at start.
- `InvalidStrategy`: one strategy (or host) document is malformed; the others keep loading/running.
"""

from __future__ import annotations


class AccessError(Exception):
    """Base of every error this package raises on purpose."""


class SourceUnavailable(AccessError):
    """A source or sink could not be reached or answered with an error (retryable)."""


class StoreUnavailable(SourceUnavailable):
    """Redis timed out or could not be reached (a command's error reply is a plain `SourceUnavailable`)."""


class InvalidRecord(AccessError):
    """One input record or message is malformed. `reason` is a short, metric-safe label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Backpressure(AccessError):
    """A sink refuses more data for now (e.g. a detect queue is over its length limit)."""


class ConfigError(AccessError):
    """The configuration is invalid; the process should not start."""


class InvalidStrategy(AccessError):
    """A strategy/host document is invalid. The message names the entry and the field."""

    def __init__(self, entry: str, field: str, problem: str) -> None:
        super().__init__(f"{entry}: field {field!r} {problem}")
        self.entry = entry
        self.field = field
        self.problem = problem
