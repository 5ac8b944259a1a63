"""`kernel.stream.MessageStream` over Redis lists: the raw-payload source of `alert` for small setups.

Producers `LPUSH` payloads onto a list `K`; the stream takes the oldest ones (`RPOP` end) by moving them
atomically onto `K.processing` (one Lua script per poll, at most `max_messages`), and `done` removes them from
there. So a payload is in exactly one of the two lists until its effect is durable: a process killed mid-batch
leaves its batch in `K.processing`, which the next `RedisListStream` for `K` moves back to the consuming end
of `K`, oldest first, before its first poll. One consumer per list: two would recover each other's batches.

A message's `topic` is the list key, `partition` 0 and `offset` a counter of this stream (for log lines and
dead letters only: Redis lists have no offsets). Every call goes through `redis_op` (a timeout, bounded retries;
`SourceUnavailable` when Redis is unreachable).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence

import redis

from alarm_access.adapters.redis.client import redis_op
from alarm_access.kernel.stream import StreamMessage

#: moves up to ARGV[1] payloads from the tail of KEYS[1] to the head of KEYS[2]; returns them, oldest first
_TAKE = """
local taken = {}
for _ = 1, tonumber(ARGV[1]) do
    local payload = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
    if not payload then break end
    taken[#taken + 1] = payload
end
return taken
"""

#: moves every payload of KEYS[2] back to the consuming end of KEYS[1], the oldest ending up first in line
_RECOVER = """
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[1], 'LEFT', 'RIGHT') do moved = moved + 1 end
return moved
"""

#: seconds between two polls of empty lists while `poll` waits
_IDLE_PAUSE = 0.05


def processing_key(key: str) -> str:
    return f"{key}.processing"


class RedisListStream:
    """A `MessageStream` over the lists `keys`; recovers their processing lists when built."""

    def __init__(self, client: redis.Redis, keys: Sequence[str]) -> None:
        self._client = client
        self._keys = tuple(keys)
        self._take = client.register_script(_TAKE)
        self._offsets = itertools.count()
        self._paused = False
        self.recovered = 0
        with redis_op("recover alert lists"):
            recover = client.register_script(_RECOVER)
            for key in self._keys:
                self.recovered += int(recover(keys=[key, processing_key(key)]))

    def poll(self, max_messages: int, timeout: float) -> list[StreamMessage]:
        deadline = time.monotonic() + timeout
        while True:
            messages = [] if self._paused else self._poll_once(max_messages)
            if messages or time.monotonic() + _IDLE_PAUSE > deadline:
                return messages
            time.sleep(_IDLE_PAUSE)

    def _poll_once(self, max_messages: int) -> list[StreamMessage]:
        messages: list[StreamMessage] = []
        for key in self._keys:
            room = max_messages - len(messages)
            if room <= 0:
                break
            with redis_op(f"take from {key}"):
                payloads = self._take(keys=[key, processing_key(key)], args=[room])
            messages += [StreamMessage(key, 0, next(self._offsets), bytes(p), 0) for p in payloads]
        return messages

    def done(self, messages: Iterable[StreamMessage]) -> None:
        """Remove the messages from their processing lists (one round trip; the oldest copy of each value)."""
        pipe = self._client.pipeline(transaction=False)
        count = 0
        for message in messages:
            pipe.lrem(processing_key(message.topic), -1, message.value or b"")  # type: ignore[arg-type]  # bytes work; the stubs say str
            count += 1
        if count:
            with redis_op("remove done alert payloads"):
                pipe.execute()

    def maybe_commit(self, now: float) -> None:
        """Nothing to commit: `done` already removed the payloads."""

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def close(self) -> None:
        """Nothing to release: the client belongs to the ports; undone payloads stay in the processing lists."""
