"""What this worker learned about credentials in the last second, so that a client sending its token on
every request does not pay the token lookup and the role decision every time.

An answer lives one second (`LIFETIME`) at most: a token revoked, a user suspended or a role taken away
stops working on every worker and node within that second, with no message between them; in the process
that made the change, at once (`credential_writes`). Only positive
lookups are kept (a token created a moment ago works at once), and only within a request of an app: each
app (each worker, each test) has its own, and code outside a request always asks the database.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import current_app, has_request_context

from appliance.models.base import credential_writes

LIFETIME = 1.0
EXTENSION = "appliance.recent_answers"

T = TypeVar("T")
_MISSING = object()


class RecentAnswers:
    """Answers looked up at most `lifetime` seconds ago, the oldest dropped past `size`."""

    def __init__(self, lifetime: float = LIFETIME, size: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.lifetime = lifetime
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, int, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        """The answer kept for `key`, or `_MISSING` when there is none younger than the lifetime."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return _MISSING
            stamp, writes, value = entry
            if self.clock() - stamp >= self.lifetime or writes != credential_writes():
                del self._entries[key]
                return _MISSING
            return value

    def put(self, key: Hashable, value: object, writes: int, looked_up_at: float) -> None:
        """Keep `value`, looked up at `looked_up_at` (of `clock`) when `credential_writes` was `writes`."""
        with self._lock:
            self._entries[key] = (looked_up_at, writes, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def remembered(key: Hashable, look_up: Callable[[], T], *, keep: Callable[[T], bool] = bool) -> T:
    """`look_up()`, or its answer of the last second for `key` in this app; an answer is kept only when
    `keep` says so (by default when it is truthy: a refusal is looked up again next time)."""
    if not has_request_context():
        return look_up()
    answers = current_app.extensions.get(EXTENSION)
    if answers is None:
        answers = current_app.extensions.setdefault(EXTENSION, RecentAnswers())
    value = answers.get(key)
    if value is _MISSING:
        # Stamped with what held before the lookup: a change made meanwhile is not hidden behind it.
        writes, looked_up_at = credential_writes(), answers.clock()
        value = look_up()
        if keep(value):
            answers.put(key, value, writes, looked_up_at)
    return value
