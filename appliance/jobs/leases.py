"""Leases in the database: many scheduler processes, on one node or many, and each job runs in one of
them at a time. A holder that dies loses its lease when it expires."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator

from appliance.models.base import utcnow
from appliance.models.jobs import SchedulerLease


def holder_name() -> str:
    """Names this process in the lease table, for a site administrator reading it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(name: str, holder: str, ttl: dt.timedelta) -> bool:
    """Take or renew the lease `name` for `ttl`; False while another holder's lease is current."""
    now = utcnow()
    SchedulerLease.insert(name=name, holder=holder, expires_at=now + ttl).on_conflict_ignore().execute()
    taken = (SchedulerLease.update(holder=holder, expires_at=now + ttl)
             .where((SchedulerLease.name == name)
                    & ((SchedulerLease.holder == holder) | (SchedulerLease.expires_at < now)))
             .execute())
    return taken == 1


def release(name: str, holder: str) -> None:
    (SchedulerLease.update(expires_at=utcnow())
     .where((SchedulerLease.name == name) & (SchedulerLease.holder == holder)).execute())


@contextlib.contextmanager
def lease(name: str, holder: str, ttl: dt.timedelta) -> Iterator[bool]:
    """Hold the lease `name` for the block, yielding whether it was had at all."""
    held = acquire(name, holder, ttl)
    try:
        yield held
    finally:
        if held:
            release(name, holder)
