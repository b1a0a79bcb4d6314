"""Scheduler leases: one holder at a time per job, taken over once it expires, released after a run."""
from __future__ import annotations

import datetime as dt

from appliance.jobs.leases import acquire, lease, release
from appliance.models.base import utcnow
from appliance.models.jobs import SchedulerLease

MINUTE = dt.timedelta(minutes=1)


def test_one_holder_at_a_time(app):
    assert acquire("cleanup", "node-a", MINUTE)
    assert not acquire("cleanup", "node-b", MINUTE)
    assert acquire("cleanup", "node-a", MINUTE)  # renewing its own
    assert acquire("other-job", "node-b", MINUTE)  # each job has its own lease


def test_an_expired_lease_is_taken_over(app):
    assert acquire("cleanup", "node-a", MINUTE)
    SchedulerLease.update(expires_at=utcnow() - MINUTE).execute()
    assert acquire("cleanup", "node-b", MINUTE)
    assert SchedulerLease.get_by_id("cleanup").holder == "node-b"
    assert not acquire("cleanup", "node-a", MINUTE)


def test_release_lets_the_next_holder_in_and_only_the_holder_releases(app):
    assert acquire("cleanup", "node-a", MINUTE)
    release("cleanup", "node-b")
    assert not acquire("cleanup", "node-b", MINUTE)
    release("cleanup", "node-a")
    assert acquire("cleanup", "node-b", MINUTE)


def test_the_lease_block_holds_it_for_its_duration(app):
    with lease("cleanup", "node-a", MINUTE) as held:
        assert held
        with lease("cleanup", "node-b", MINUTE) as other:
            assert not other
    assert acquire("cleanup", "node-b", MINUTE)
