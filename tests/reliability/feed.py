"""A trial's input, sent in the background while the service runs (and is broken), and the half of a pipeline
that every fed access type shares (`FedPipeline`).

`Feed` sends a batch in even chunks over `FEED_S` seconds and knows which ids the broker (or the receiver) has
acknowledged. Ids of malformed inputs start with `BAD` (`poison` makes one): those must be dead-lettered, the
others delivered.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: seconds a trial's feed lasts; a fault strikes within `STRIKE_WINDOW` of the first delivery, while it still runs
FEED_S = 2.5
STRIKE_WINDOW = 1.2
BAD = "bad:"


def poison(trial: int, index: int) -> tuple[str, bytes]:
    """A malformed (not JSON) message whose dead letter carries its id back in its value (`poison_id`)."""
    return f"{BAD}{trial}-{index}", f"{{not json {trial}-{index}".encode()


def poison_id(raw: bytes | None) -> str:
    return BAD + (raw or b"").decode(errors="replace").removeprefix("{not json ")


class Feed(Generic[T]):
    """Send `items` (id, payload) with `send(payloads)` in `chunks` chunks spread over `seconds`.

    `send` returns once its chunk is acknowledged (it retries on its own through an outage); `sent()` is the
    ids acknowledged so far. An error in `send` is raised again by `join`."""

    def __init__(self, items: Sequence[tuple[str, T]], send: Callable[[list[T]], object], seconds: float = FEED_S,
                 chunks: int = 20) -> None:
        self._items, self._send, self._seconds, self._chunks = items, send, seconds, max(chunks, 1)
        self._sent: list[str] = []
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="reliability-feed")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        size = -(-len(self._items) // self._chunks)
        started = time.monotonic()
        try:
            for number, first in enumerate(range(0, len(self._items), size)):
                time.sleep(max(0.0, started + number * self._seconds / self._chunks - time.monotonic()))
                chunk = self._items[first:first + size]
                self._send([payload for _, payload in chunk])
                with self._lock:
                    self._sent.extend(key for key, _ in chunk)
        except BaseException as exc:  # handed to join(): the test must see it
            self._error = exc

    def sent(self) -> set[str]:
        with self._lock:
            return set(self._sent)

    def join(self, timeout: float = 300) -> None:
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._thread.is_alive():
            raise AssertionError(f"the feed did not finish within {timeout}s")


class FedPipeline(ABC):
    """The `Pipeline` parts of an access type whose input is a `Feed`: a subclass builds each trial's items in
    `begin_trial` and hands them to `feed_trial`, calls `start_feed` once its service is ready, and reads its
    outputs (`delivered`, `dead_lettered`). An id is wanted once the feed's send of it was acknowledged."""

    def __init__(self) -> None:
        self._feed: Feed[bytes] | None = None
        self._started = False
        self._feed_ends = 0.0
        self._trial: set[str] = set()

    def feed_trial(self, items: Sequence[tuple[str, bytes]], send: Callable[[list[bytes]], object]) -> None:
        self._feed, self._started = Feed(items, send), False
        self._trial = {key for key, _ in items if not key.startswith(BAD)}

    def start_feed(self) -> None:
        """Start the trial's feed the first time the service is ready (not again after a restart)."""
        if self._feed is not None and not self._started:
            self._feed.start()
            self._started = True
            self._feed_ends = time.monotonic() + FEED_S

    @property
    def window(self) -> float:
        """At most `STRIKE_WINDOW`, and never past the feed's end: a fault after it would find the batch done."""
        return min(STRIKE_WINDOW, max(0.0, self._feed_ends - 0.3 - time.monotonic()))

    def sent(self) -> set[str]:
        return self._feed.sent() if self._feed is not None else set()

    def wanted(self) -> set[str]:
        return {key for key in self.sent() if not key.startswith(BAD)}

    def expected(self) -> set[str]:
        return set(self._trial)

    def bad(self) -> set[str]:
        return {key for key in self.sent() if key.startswith(BAD)}

    def busy(self) -> bool:
        return bool(self.expected() & set(self.delivered()))

    def finish_feed(self) -> None:
        if self._feed is not None:
            self._feed.join()

    @abstractmethod
    def delivered(self) -> Counter[str]:
        """Id -> how many times the service delivered it (read from its real output)."""
